// What the generated options header of every radio scenario shares; hand-written.
#pragma once

#include "ran/helper/ran-helper.h"
#include "ran/model/ran-carrier.h"
#include "ran/model/ran-propagation.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace ns6g::ran
{

/** The carrier's and the scenario name's problems, as RanHelper would refuse them (empty: valid). */
inline std::vector<std::string>
RadioProblems(const RanRadioSettings& radio)
{
    try
    {
        ParseScenario(radio.scenario);
        const std::string carrier = ValidateCarrier(radio.frequencyHz,
                                                    radio.bandwidthHz,
                                                    static_cast<int>(radio.numerology),
                                                    static_cast<int>(radio.rbgSize));
        if (!carrier.empty())
        {
            return {carrier};
        }
    }
    catch (const std::exception& e)
    {
        return {e.what()};
    }
    return {};
}

/**
 * Base of a radio scenario's generated options struct (CRTP): the RanRadioSettings its radio options
 * make. A member of RanRadioSettings is copied when the struct has an option of the same name; the
 * others keep `base`'s value, so one template serves scenarios with different radio options.
 */
template <typename Options>
struct RadioOptions
{
    RanRadioSettings radio; //!< Radio() of the options, set by Derive() once they are in range

    /** `base` with the radio options set (the rest of RanRadioSettings as given). */
    RanRadioSettings Radio(RanRadioSettings base = {}) const
    {
        const auto& o = static_cast<const Options&>(*this);
#define NS6G_RADIO_COPY(member)                                                                    \
    if constexpr (requires { o.member; })                                                         \
    {                                                                                              \
        base.member = static_cast<decltype(base.member)>(o.member);                                \
    }
        NS6G_RADIO_COPY(scenario)
        NS6G_RADIO_COPY(frequencyHz)
        NS6G_RADIO_COPY(bandwidthHz)
        NS6G_RADIO_COPY(numerology)
        NS6G_RADIO_COPY(rbgSize)
        NS6G_RADIO_COPY(mcsTable)
        NS6G_RADIO_COPY(gnbTxPowerDbm)
        NS6G_RADIO_COPY(fastFading)
        NS6G_RADIO_COPY(shadowing)
        NS6G_RADIO_COPY(gnbArrayRows)
        NS6G_RADIO_COPY(gnbArrayColumns)
        NS6G_RADIO_COPY(ueArrayRows)
        NS6G_RADIO_COPY(ueArrayColumns)
        NS6G_RADIO_COPY(scattererSpeedMps)
#undef NS6G_RADIO_COPY
        return base;
    }

    /** Sets `radio` (ns6g::ParseOptions calls it once every option is in range). */
    void Derive()
    {
        radio = Radio();
    }

    /** The carrier's and scenario's problems, as RanHelper would refuse them (after Derive()). */
    std::vector<std::string> RadioProblems() const
    {
        return ns6g::ran::RadioProblems(radio);
    }
};

} // namespace ns6g::ran

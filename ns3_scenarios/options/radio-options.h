// The check the generated options header of every radio scenario shares; hand-written.
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

} // namespace ns6g::ran

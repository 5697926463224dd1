// Large-scale loss above 100 GHz, where TR 38.901 is not specified: SubThzPropagationLossModel. Part of
// the RAN channel (ran-channel.h); see docs/ran-channel.md for the model and its sources.
#pragma once

#include "ran/model/ran-propagation.h"

#include "ns3/channel-condition-model.h"
#include "ns3/mobility-model.h"
#include "ns3/propagation-loss-model.h"
#include "ns3/three-gpp-propagation-loss-model.h"

#include <cstdint>
#include <string>

namespace ns6g::ran
{

/**
 * Large-scale loss above 100 GHz, where TR 38.901 is not specified: free-space path loss plus gaseous
 * absorption (GaseousAbsorptionDbPerKm times the 3D distance). LoS links get exactly that. NLoS links add
 * the scenario's 38.901 NLoS excess over free space evaluated at 100 GHz (PL_NLOS(100 GHz, d) - FSPL(100
 * GHz, d), computed by ns-3's model for the scenario), i.e. the NLoS excess is frozen at its 100 GHz
 * value. Shadowing, when enabled, is ns-3's 38.901 shadowing of the scenario at 100 GHz (same sigma and
 * correlation distance). The link's LoS/NLoS state comes from the ChannelConditionModel attribute.
 *
 * Usable anywhere in 0.5-300 GHz (the reference frequency for the NLoS excess is min(f, 100 GHz)); RMa is
 * refused above 30 GHz. CalcRxPower(txPowerDbm, a, b) returns txPowerDbm minus the loss; pass the UT as
 * `a` and the BS as `b`, as for ns-3's UMi model.
 */
class SubThzPropagationLossModel : public ns3::PropagationLossModel
{
  public:
    /** The TypeId ("ns6g::ran::SubThzPropagationLossModel"). */
    static ns3::TypeId GetTypeId();
    SubThzPropagationLossModel();
    ~SubThzPropagationLossModel() override;

    SubThzPropagationLossModel(const SubThzPropagationLossModel&) = delete;
    SubThzPropagationLossModel& operator=(const SubThzPropagationLossModel&) = delete;

    /** Sets the carrier frequency (Hz); throws std::invalid_argument outside 0.5-300 GHz. */
    void SetFrequencyHz(double frequencyHz);
    /** The carrier frequency (Hz). */
    double GetFrequencyHz() const;
    /** Sets the scenario by name (ParseScenario); throws std::invalid_argument. */
    void SetScenarioName(const std::string& name);
    /** The scenario's name. */
    std::string GetScenarioName() const;
    /** Sets the scenario. */
    void SetScenario(Scenario scenario);
    /** The scenario. */
    Scenario GetScenario() const;
    /** Sets the model deciding LoS/NLoS per link. */
    void SetChannelConditionModel(ns3::Ptr<ns3::ChannelConditionModel> model);
    /** The model deciding LoS/NLoS per link. */
    ns3::Ptr<ns3::ChannelConditionModel> GetChannelConditionModel() const;

    /** The loss (dB) between `a` (UT) and `b` (BS) now: free space + absorption [+ NLoS excess + shadowing]. */
    double GetLossDb(ns3::Ptr<ns3::MobilityModel> a, ns3::Ptr<ns3::MobilityModel> b) const;

  protected:
    void DoDispose() override;

  private:
    double DoCalcRxPower(double txPowerDbm,
                         ns3::Ptr<ns3::MobilityModel> a,
                         ns3::Ptr<ns3::MobilityModel> b) const override;
    int64_t DoAssignStreams(int64_t stream) override;

    /** Builds the 38.901 reference models if the scenario or condition model changed. */
    void EnsureReferences() const;

    double m_frequencyHz{140e9};       //!< carrier frequency (Hz)
    Scenario m_scenario{Scenario::UMi}; //!< scenario of the NLoS excess and the shadowing
    bool m_shadowingEnabled{true};     //!< whether shadowing is added
    ns3::Ptr<ns3::ChannelConditionModel> m_condition; //!< LoS/NLoS per link
    /** 38.901 model at the reference frequency without shadowing (NLoS excess). */
    mutable ns3::Ptr<ns3::ThreeGppPropagationLossModel> m_reference;
    /** 38.901 model at the reference frequency with shadowing (shadowing = its loss minus m_reference's). */
    mutable ns3::Ptr<ns3::ThreeGppPropagationLossModel> m_referenceShadowed;
    mutable bool m_referencesValid{false}; //!< whether the reference models match the settings
    int64_t m_stream{-1}; //!< first stream assigned (-1: none), re-applied when references are rebuilt
};

} // namespace ns6g::ran

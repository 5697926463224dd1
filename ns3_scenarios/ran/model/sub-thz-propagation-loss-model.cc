// Large-scale loss above 100 GHz (see sub-thz-propagation-loss-model.h and docs/ran-channel.md).
#include "ran/model/sub-thz-propagation-loss-model.h"

#include "ns3/boolean.h"
#include "ns3/double.h"
#include "ns3/pointer.h"
#include "ns3/string.h"

#include <cmath>
#include <stdexcept>

using namespace ns3;

namespace ns6g::ran
{

// ---------------------------------------------------------------------------------------------------
// SubThzPropagationLossModel

NS_OBJECT_ENSURE_REGISTERED(SubThzPropagationLossModel);

TypeId
SubThzPropagationLossModel::GetTypeId()
{
    static TypeId tid =
        TypeId("ns6g::ran::SubThzPropagationLossModel")
            .SetParent<PropagationLossModel>()
            .SetGroupName("Propagation")
            .AddConstructor<SubThzPropagationLossModel>()
            .AddAttribute("FrequencyHz",
                          "Carrier frequency (Hz), 0.5-300 GHz.",
                          DoubleValue(140e9),
                          MakeDoubleAccessor(&SubThzPropagationLossModel::SetFrequencyHz,
                                             &SubThzPropagationLossModel::GetFrequencyHz),
                          MakeDoubleChecker<double>(kMinFrequencyHz, kMaxFrequencyHz))
            .AddAttribute("Scenario",
                          "TR 38.901 scenario whose NLoS excess and shadowing are used: "
                          "UMi-StreetCanyon, UMa, RMa (<= 30 GHz) or InH-OfficeMixed.",
                          StringValue("UMi-StreetCanyon"),
                          MakeStringAccessor(&SubThzPropagationLossModel::SetScenarioName,
                                             &SubThzPropagationLossModel::GetScenarioName),
                          MakeStringChecker())
            .AddAttribute("ShadowingEnabled",
                          "Add the scenario's 38.901 log-normal shadowing (dB).",
                          BooleanValue(true),
                          MakeBooleanAccessor(&SubThzPropagationLossModel::m_shadowingEnabled),
                          MakeBooleanChecker())
            .AddAttribute("ChannelConditionModel",
                          "The model deciding the LoS/NLoS state of each link.",
                          PointerValue(),
                          MakePointerAccessor(&SubThzPropagationLossModel::SetChannelConditionModel,
                                              &SubThzPropagationLossModel::GetChannelConditionModel),
                          MakePointerChecker<ChannelConditionModel>());
    return tid;
}

SubThzPropagationLossModel::SubThzPropagationLossModel() = default;

SubThzPropagationLossModel::~SubThzPropagationLossModel() = default;

void
SubThzPropagationLossModel::DoDispose()
{
    m_condition = nullptr;
    m_reference = nullptr;
    m_referenceShadowed = nullptr;
    PropagationLossModel::DoDispose();
}

void
SubThzPropagationLossModel::SetFrequencyHz(double frequencyHz)
{
    if (!std::isfinite(frequencyHz) || frequencyHz < kMinFrequencyHz || frequencyHz > kMaxFrequencyHz)
    {
        throw std::invalid_argument("SubThzPropagationLossModel: frequency_hz = " +
                                    FormatFrequencyGHz(frequencyHz) + " is outside 0.5-300 GHz");
    }
    const double oldReference = std::min(m_frequencyHz, kMax3gppFrequencyHz);
    m_frequencyHz = frequencyHz;
    if (std::min(frequencyHz, kMax3gppFrequencyHz) != oldReference)
    {
        m_referencesValid = false;
    }
}

double
SubThzPropagationLossModel::GetFrequencyHz() const
{
    return m_frequencyHz;
}

void
SubThzPropagationLossModel::SetScenarioName(const std::string& name)
{
    SetScenario(ParseScenario(name));
}

std::string
SubThzPropagationLossModel::GetScenarioName() const
{
    return ScenarioName(m_scenario);
}

void
SubThzPropagationLossModel::SetScenario(Scenario scenario)
{
    m_scenario = scenario;
    m_referencesValid = false;
}

Scenario
SubThzPropagationLossModel::GetScenario() const
{
    return m_scenario;
}

void
SubThzPropagationLossModel::SetChannelConditionModel(Ptr<ChannelConditionModel> model)
{
    m_condition = model;
    m_referencesValid = false;
}

Ptr<ChannelConditionModel>
SubThzPropagationLossModel::GetChannelConditionModel() const
{
    return m_condition;
}

void
SubThzPropagationLossModel::EnsureReferences() const
{
    if (m_referencesValid)
    {
        return;
    }
    if (!m_condition)
    {
        throw std::logic_error("SubThzPropagationLossModel: set the ChannelConditionModel attribute "
                               "before computing a loss");
    }
    CheckFrequency(m_scenario, m_frequencyHz);
    const double reference = std::min(m_frequencyHz, kMax3gppFrequencyHz);
    m_reference = Create3gppLossModel(m_scenario, reference, false, m_condition);
    m_referenceShadowed = Create3gppLossModel(m_scenario, reference, true, m_condition);
    if (m_stream >= 0)
    {
        m_reference->AssignStreams(m_stream);
        m_referenceShadowed->AssignStreams(m_stream + 8);
    }
    m_referencesValid = true;
}

double
SubThzPropagationLossModel::GetLossDb(Ptr<MobilityModel> a, Ptr<MobilityModel> b) const
{
    EnsureReferences();
    const double reference = std::min(m_frequencyHz, kMax3gppFrequencyHz);
    const double d3 = CalculateDistance(a->GetPosition(), b->GetPosition());
    double loss =
        FreeSpacePathLossDb(m_frequencyHz, d3) + GaseousAbsorptionDbPerKm(m_frequencyHz) * d3 / 1000.0;
    const bool los = m_condition->GetChannelCondition(a, b)->IsLos();
    const double referenceLoss = -m_reference->CalcRxPower(0.0, a, b);
    if (!los)
    {
        loss += std::max(0.0, referenceLoss - FreeSpacePathLossDb(reference, d3));
    }
    if (m_shadowingEnabled)
    {
        loss += -m_referenceShadowed->CalcRxPower(0.0, a, b) - referenceLoss;
    }
    return loss;
}

double
SubThzPropagationLossModel::DoCalcRxPower(double txPowerDbm,
                                          Ptr<MobilityModel> a,
                                          Ptr<MobilityModel> b) const
{
    return txPowerDbm - GetLossDb(a, b);
}

int64_t
SubThzPropagationLossModel::DoAssignStreams(int64_t stream)
{
    m_stream = stream;
    if (m_referencesValid)
    {
        m_reference->AssignStreams(stream);
        m_referenceShadowed->AssignStreams(stream + 8);
    }
    return 16;
}

} // namespace ns6g::ran

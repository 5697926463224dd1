// TR 38.901 large-scale propagation as pure functions: the deployment scenarios and their ranges, free-space
// loss, gaseous absorption (ITU-R P.676), path loss and LoS probability as ns-3's models compute them, and
// factories of ns-3's condition and loss models. Part of the RAN channel (ran-channel.h); see
// docs/ran-channel.md for the formulas and sources.
#pragma once

#include "ns3/channel-condition-model.h"
#include "ns3/propagation-loss-model.h"
#include "ns3/three-gpp-propagation-loss-model.h"

#include <cstdint>
#include <string>

namespace ns6g::ran
{

// ---------------------------------------------------------------------------------------------------
// Scenarios and ranges

/**
 * A TR 38.901 deployment scenario. The numeric value is the scenario's code in the query records
 * (ns6g.radio.channel sends it as a u4).
 */
enum class Scenario : uint32_t
{
    UMi = 0, //!< Urban micro, street canyon ("UMi-StreetCanyon"); BS height 10 m
    UMa = 1, //!< Urban macro ("UMa"); BS height 25 m
    RMa = 2, //!< Rural macro ("RMa"); 0.5-30 GHz only; default building height 5 m, street width 20 m
    InH = 3, //!< Indoor hotspot, mixed office ("InH-OfficeMixed"); BS (ceiling) height 3 m
};

/** Number of scenarios (codes are 0 .. kNumScenarios - 1). */
constexpr uint32_t kNumScenarios = 4;

/**
 * Parses a scenario name: "UMi-StreetCanyon" (or "UMi"), "UMa", "RMa", "InH-OfficeMixed" (or "InH").
 * Throws std::invalid_argument naming the value and listing the valid names.
 */
Scenario ParseScenario(const std::string& name);

/** The default BS height (m) of a scenario (TR 38.901 Table 7.2-1 / 7.4.1-1): UMi 10, UMa 25, RMa 35, InH 3. */
double DefaultBsHeightM(Scenario scenario);

/** The 38.901 name ns-3 uses for the scenario ("UMi-StreetCanyon", "UMa", "RMa", "InH-OfficeMixed"). */
std::string ScenarioName(Scenario scenario);

/** The scenario with query code `code`; throws std::invalid_argument listing the codes. */
Scenario ScenarioFromCode(uint32_t code);

/** The valid names, for error messages: "UMi-StreetCanyon (or UMi), UMa, RMa, InH-OfficeMixed (or InH)". */
std::string ValidScenarioNames();

/** Lowest supported carrier frequency (Hz): TR 38.901's lower bound. */
constexpr double kMinFrequencyHz = 0.5e9;
/** Highest frequency (Hz) of TR 38.901 and of ns-3's 3GPP models; above it the sub-THz model applies. */
constexpr double kMax3gppFrequencyHz = 100e9;
/** Highest supported carrier frequency (Hz): the top of the sub-THz band. */
constexpr double kMaxFrequencyHz = 300e9;
/** Highest frequency (Hz) at which TR 38.901 specifies RMa path loss (Table 7.4.1-1, note). */
constexpr double kRmaMaxFrequencyHz = 30e9;
/** Speed of light in vacuum (m/s), used by the free-space loss (38.901 itself uses 3e8 in breakpoints). */
constexpr double kSpeedOfLightMPerS = 299792458.0;

/**
 * Throws std::invalid_argument if `frequencyHz` is not finite or is outside [0.5 GHz, 300 GHz], or
 * outside [0.5 GHz, 30 GHz] for RMa. The message names the field "frequency_hz" and the value.
 */
void CheckFrequency(Scenario scenario, double frequencyHz);

/**
 * Throws std::invalid_argument, naming the field (d2d_m, h_bs_m, h_ut_m) and its value, for link geometry
 * the path-loss formulas cannot take: non-finite values, a negative 2D distance, non-positive heights,
 * a 3D distance below 1 m, UT heights outside TR 38.901 Table 7.4.1-1 (UMi/UMa 1.5-22.5 m, RMa 1-10 m),
 * RMa BS heights outside 10-150 m, a UT above the BS (UMa, RMa, InH: ns-3 takes the higher end as the
 * BS), and UMi with a 10 m UT but a BS that is not 10 m (ns-3 identifies the UMi BS by its 10 m height).
 */
void CheckLinkGeometry(Scenario scenario, double distance2dM, double hBsM, double hUtM);

// ---------------------------------------------------------------------------------------------------
// Deterministic numbers (what the queries return)

/**
 * Free-space path loss (dB) 20 log10(4 pi d f / c) at `frequencyHz` (Hz) over `distance3dM` (m > 0),
 * c = 299792458 m/s.
 */
double FreeSpacePathLossDb(double frequencyHz, double distance3dM);

/**
 * Specific gaseous attenuation (dB/km) of oxygen plus water vapour at sea level in ITU-R P.676-12's
 * reference atmosphere (total pressure 1013.25 hPa, 15 degC, water-vapour density 7.5 g/m^3), from a
 * table of the P.676-12 Annex 1 line-by-line model (0.5, 0.75, 1, 2, ... 300 GHz plus the line centres
 * 22.235, 118.75 and 183.31 GHz), interpolated linearly in log(attenuation). Within 5 % of the
 * line-by-line model everywhere in 0.5-300 GHz. Throws std::invalid_argument outside that range.
 */
double GaseousAbsorptionDbPerKm(double frequencyHz);

/**
 * Path loss (dB) of a BS-UT link, without shadowing, as the compiled model computes it: for
 * frequencies up to 100 GHz ns-3's ThreeGpp{UmiStreetCanyon,Uma,Rma,IndoorOffice}PropagationLossModel
 * itself (two ConstantPositionMobilityModel ends, the condition forced by an AlwaysLos/NeverLos
 * condition model, shadowing and building penetration off); above 100 GHz SubThzPropagationLossModel.
 * Validity checks: CheckFrequency, CheckLinkGeometry (std::invalid_argument). For UMa with a UT at 13 m or
 * higher, TR 38.901 draws the effective environment height h_E at random (Table 7.4.1-1 note 1), and so
 * does ns-3: the LoS loss beyond the breakpoint is then one draw.
 *
 * @param scenario the 38.901 scenario
 * @param frequencyHz carrier frequency (Hz), 0.5-300 GHz (RMa: 0.5-30 GHz)
 * @param distance2dM horizontal BS-UT distance (m)
 * @param hBsM BS antenna height (m)
 * @param hUtM UT antenna height (m)
 * @param los true for line of sight, false for NLoS (NLoS = max(LoS, NLoS') as 38.901 specifies)
 * @return the path loss (dB, positive)
 */
double PathLossDb(Scenario scenario,
                  double frequencyHz,
                  double distance2dM,
                  double hBsM,
                  double hUtM,
                  bool los);

/**
 * LoS probability (0..1) of TR 38.901 Table 7.4.2-1 as ns-3's ThreeGpp*ChannelConditionModel computes
 * it (its ComputePlos(); InH: the mixed-office model). Depends on the UT height only for UMa.
 *
 * @param scenario the 38.901 scenario
 * @param distance2dM horizontal BS-UT distance (m, >= 0)
 * @param hUtM UT height (m, > 0; UMa: <= 23 m)
 */
double LosProbability(Scenario scenario, double distance2dM, double hUtM);

// ---------------------------------------------------------------------------------------------------
// Model objects

/** A new ns-3 channel-condition model of the scenario (ThreeGpp*ChannelConditionModel; InH: mixed office). */
ns3::Ptr<ns3::ThreeGppChannelConditionModel> CreateChannelConditionModel(Scenario scenario);

/**
 * A new large-scale loss model for the scenario at `frequencyHz`: ns-3's ThreeGpp*PropagationLossModel up
 * to 100 GHz, SubThzPropagationLossModel above. Building penetration losses are off (outdoor UTs; the
 * 38.901 condition models give O2O unless configured otherwise).
 *
 * @param scenario the 38.901 scenario
 * @param frequencyHz carrier frequency (Hz), checked with CheckFrequency
 * @param shadowingEnabled whether log-normal shadowing (38.901 Table 7.4.1-1 sigma_SF) is added
 * @param condition the channel-condition model deciding LoS/NLoS per link
 */
ns3::Ptr<ns3::PropagationLossModel> CreatePathLossModel(
    Scenario scenario,
    double frequencyHz,
    bool shadowingEnabled,
    ns3::Ptr<ns3::ChannelConditionModel> condition);

/** A new ns-3 38.901 loss model (ThreeGpp*PropagationLossModel) of the scenario at `frequencyHz` (Hz,
 *  at most 100 GHz, unchecked), building penetration losses off. */
ns3::Ptr<ns3::ThreeGppPropagationLossModel> Create3gppLossModel(
    Scenario scenario,
    double frequencyHz,
    bool shadowingEnabled,
    ns3::Ptr<ns3::ChannelConditionModel> condition);

/** A number for the channel's error messages, as std::ostream prints it (6 significant digits). */
std::string FormatShortNumber(double v);

/** A frequency for the channel's error messages: "4e+11 Hz (400 GHz)". */
std::string FormatFrequencyGHz(double hz);

} // namespace ns6g::ran

// What the MEC task scenarios (mec-split, mec-offload) set up alike around MecTaskEngine: their options
// (the generated ns3_scenarios/options/<scenario>-options.h, from envs/mec_task.py's MecTaskConfig and its
// subclasses, plus --catalogue) and main() (ServeMecScenario), the engine settings, the catalogue devices
// they name, the RAN radio and system settings they share, and the uplink estimate of the observation.
// Each scenario keeps its own spaces, decision, topology and handover handling.
#pragma once

#include "bridge/ns6g-serve.h"
#include "mec/model/device-catalogue.h"
#include "mec/model/mec-task-engine.h"
#include "ran/helper/ran-helper.h"
#include "ran/model/ran-carrier.h"
#include "ran/model/ran-link.h"

#include "ns3/command-line.h"

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

namespace ns6g::mec
{

/** MTU of the RAN, backhaul, inter-edge and WAN devices of MEC scenarios (bytes). */
constexpr uint16_t kMecMtuBytes = 65'535;

/** Transmit power of the gNBs of MEC scenarios (dBm; not an option). */
constexpr double kMecGnbTxPowerDbm = 46.0;

/**
 * A MEC scenario's generated options (ns6g::MecOffloadOptions, ns6g::MecSplitOptions: the config's fields)
 * with the device catalogue the Python side adds (--catalogue, a data file, not a config field).
 */
template <class Options>
struct MecOptions : Options
{
    std::string catalogue; //!< device catalogue CSV (path)

    /** The generated options and --catalogue. */
    void Register(ns3::CommandLine& cmd)
    {
        Options::Register(cmd);
        cmd.AddValue("catalogue", "device catalogue CSV", catalogue);
    }
};

/** The engine's settings from a MEC scenario's options. */
template <class Options>
MecTaskSettings
TaskSettings(const Options& o)
{
    MecTaskSettings s;
    s.taskRateHz = o.taskRateHz;
    s.taskTimeoutS = o.taskTimeoutS;
    s.batteryJ = o.batteryJ;
    s.deadlineMs = o.deadlineMs;
    s.energyWeight = o.energyWeight;
    s.deadlinePenalty = o.deadlinePenalty;
    s.failurePenalty = o.failurePenalty;
    s.episodeSteps = static_cast<uint32_t>(o.episodeSteps);
    return s;
}

/**
 * The radio options of `o` on kMecGnbTxPowerDbm gNBs, with uplink CQI over the whole carrier of
 * `carrier`: it assumes a device spreads its power over the whole carrier, as it does when it is the only
 * one sending (the default, 4 RBGs, overestimates the SINR of a device that gets every RBG).
 */
template <class Options>
ns6g::ran::RanRadioSettings
MecRadio(const Options& o, const ns6g::ran::Carrier& carrier)
{
    ns6g::ran::RanRadioSettings out = o.Radio({.gnbTxPowerDbm = kMecGnbTxPowerDbm});
    out.ulCqiRbgs = carrier.nRbg;
    return out;
}

/** The carrier the radio options of `o` name (default RBG size). */
template <class Options>
ns6g::ran::Carrier
MecCarrier(const Options& o)
{
    return ns6g::ran::MakeCarrier(o.frequencyHz, o.bandwidthHz, static_cast<int>(o.numerology), 0);
}

/** RanHelper settings: every RBG of `carrier` in both directions, kMecMtuBytes, its slot period. */
ns6g::ran::RanHelperSettings MecRanSettings(const ns6g::ran::Carrier& carrier,
                                            const std::string& ulScheduler,
                                            uint32_t maxQueueBytes);

/** The catalogue devices the options name: the device (must have a radio), edge and cloud servers. */
struct MecDevices
{
    std::vector<Device> catalogue;
    Device device;
    Device edge;
    Device cloud;

    /** Loads the catalogue; throws std::invalid_argument naming an unknown device or a device without radio. */
    MecDevices(const std::string& cataloguePath,
               const std::string& deviceName,
               const std::string& edgeName,
               const std::string& cloudName);

    template <class Options>
    explicit MecDevices(const MecOptions<Options>& o)
        : MecDevices(o.catalogue, o.device, o.edgeDevice, o.cloudDevice)
    {
    }
};

/**
 * main() of a MEC scenario: ns6g::ServeScenario with --catalogue required and the scenario's own
 * `check` (data files it needs); constructing Env may still refuse the options (an unknown device).
 */
template <class Env, class Options>
int
ServeMecScenario(int argc,
                 char* argv[],
                 Options options,
                 std::type_identity_t<std::function<std::vector<std::string>(const Options&)>> check = {})
{
    return ns6g::ServeScenario<Env>(argc, argv, std::move(options), {.check = [check](const Options& o) {
                                        std::vector<std::string> problems;
                                        if (o.catalogue.empty())
                                        {
                                            problems.emplace_back("--catalogue is needed");
                                        }
                                        if (check)
                                        {
                                            for (auto& what : check(o))
                                            {
                                                problems.push_back(std::move(what));
                                            }
                                        }
                                        return problems;
                                    }});
}

/** What a device's observation says of its uplink on `cell`. */
struct UplinkEstimate
{
    double cqi{0.0};  //!< wideband uplink CQI: the mean over RBGs of RanLink::RbgCqi
    double mbps{0.0}; //!< bits of all RBGs per slot at that CQI, per second, / (1 + others), capped (Mbit/s)
};

/**
 * The uplink of device `ue` on `cell`, shared with `others` other devices; capped at 12 bit/s/Hz of
 * `carrier` (the observation's bound, MaxUplinkMbps).
 */
UplinkEstimate EstimateUplink(const ns3::Ptr<ns6g::ran::RanLink>& link,
                              const ns6g::ran::Carrier& carrier,
                              uint32_t ue,
                              uint32_t cell,
                              uint32_t others);

/** The upper bound of the uplink_mbps observation: 12 bit/s/Hz over the carrier (Mbit/s). */
double MaxUplinkMbps(double bandwidthHz);

} // namespace ns6g::mec

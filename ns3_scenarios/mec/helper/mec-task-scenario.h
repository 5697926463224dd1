// What the MEC task scenarios (mec-split, mec-offload) set up alike around MecTaskEngine: the options
// every one takes (MecTaskParams, the C++ side of envs/mec_task.py's MecTaskConfig) with their command
// line and checks, the catalogue devices they name, the RAN radio and system settings they share, and the
// uplink estimate of the observation. Each scenario derives its Params from MecTaskParams and keeps its
// own spaces, decision, topology and handover handling.
#pragma once

#include "mec/model/device-catalogue.h"
#include "mec/model/mec-task-engine.h"
#include "ran/helper/ran-helper.h"
#include "ran/model/ran-carrier.h"
#include "ran/model/ran-link.h"

#include "ns3/command-line.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ns6g::mec
{

/** MTU of the RAN, backhaul, inter-edge and WAN devices of MEC scenarios (bytes). */
constexpr uint16_t kMecMtuBytes = 65'535;

/** The options of every MEC task scenario (units in the names; defaults as MecTaskConfig's). */
struct MecTaskParams
{
    uint32_t ues{4};                          //!< devices (UEs)
    //! carrier and channel (--scenario, --frequency-hz, ...): 46 dBm gNBs (no option), the rest as RanRadioSettings
    ns6g::ran::RanRadioSettings radio{.gnbTxPowerDbm = 46.0};
    double isdM{200.0};                       //!< inter-site distance (m)
    std::string device{"raspberry-pi-4"};     //!< catalogue name of the devices
    std::string edgeDevice{"edge-gpu-server"}; //!< catalogue name of the edge server(s)
    std::string cloudDevice{"cloud-gpu"};     //!< catalogue name of the cloud server
    std::string catalogue;                    //!< device catalogue CSV (path)
    double taskRateHz{2.0};                   //!< task arrival rate per device (1/s)
    double deadlineMs{100.0};                 //!< task deadline (ms)
    double energyWeight{1.0};                 //!< reward weight of device energy (s/J)
    double deadlinePenalty{1.0};              //!< reward penalty per task over the deadline
    double failurePenalty{5.0};               //!< reward penalty per failed task
    double taskTimeoutS{2.0};                 //!< a task not complete after this long fails (s)
    double batteryJ{1000.0};                  //!< battery of each device (J)
    double wanRateMbps{1000.0};               //!< WAN link rate to the cloud (Mbit/s)
    double wanDelayMs{20.0};                  //!< WAN link one-way delay to the cloud (ms)
    uint32_t episodeSteps{100};               //!< decisions per episode

    /** Registers the options (--ues, --task-rate-hz, ...) on `cmd`. */
    void AddCommandLine(ns3::CommandLine& cmd);

    /** "" if the options are valid, else a sentence naming the bad option(s). */
    std::string Problem() const;

    /** The engine's settings from these options. */
    MecTaskSettings TaskSettings() const;

    /** `radio` with uplink CQI over the whole carrier of `carrier`. */
    ns6g::ran::RanRadioSettings Radio(const ns6g::ran::Carrier& carrier) const;

    /** RanHelper settings: every RBG of `carrier` in both directions, kMecMtuBytes, its slot period. */
    static ns6g::ran::RanHelperSettings RanSettings(const ns6g::ran::Carrier& carrier,
                                                    const std::string& ulScheduler,
                                                    uint32_t maxQueueBytes);
};

/** The catalogue devices the options name: the device (must have a radio), edge and cloud servers. */
struct MecDevices
{
    std::vector<Device> catalogue;
    Device device;
    Device edge;
    Device cloud;

    /** Loads the catalogue; throws std::invalid_argument naming an unknown device or a device without radio. */
    explicit MecDevices(const MecTaskParams& p);
};

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

#include "mec/helper/mec-task-scenario.h"

#include "ran/model/ran-propagation.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ns6g::mec
{

void
MecTaskParams::AddCommandLine(ns3::CommandLine& cmd)
{
    cmd.AddValue("ues", "number of devices (UEs)", ues);
    ns6g::ran::AddRadioOptions(cmd, radio);
    cmd.AddValue("isd-m", "inter-site distance (m): devices lie within isd-m / sqrt(3) of a gNB", isdM);
    cmd.AddValue("device", "catalogue name of the devices", device);
    cmd.AddValue("edge-device", "catalogue name of the edge server(s)", edgeDevice);
    cmd.AddValue("cloud-device", "catalogue name of the cloud server", cloudDevice);
    cmd.AddValue("catalogue", "device catalogue CSV", catalogue);
    cmd.AddValue("task-rate-hz", "task arrival rate per device (1/s)", taskRateHz);
    cmd.AddValue("deadline-ms", "task deadline (ms)", deadlineMs);
    cmd.AddValue("energy-weight", "reward weight of device energy (s/J)", energyWeight);
    cmd.AddValue("deadline-penalty", "reward penalty per task over the deadline", deadlinePenalty);
    cmd.AddValue("failure-penalty", "reward penalty per failed task", failurePenalty);
    cmd.AddValue("task-timeout-s", "a task not complete after this long fails (s)", taskTimeoutS);
    cmd.AddValue("battery-j", "battery of each device (J)", batteryJ);
    cmd.AddValue("wan-rate-mbps", "WAN link rate to the cloud (Mbit/s)", wanRateMbps);
    cmd.AddValue("wan-delay-ms", "WAN link one-way delay to the cloud (ms)", wanDelayMs);
    cmd.AddValue("episode-steps", "decisions per episode", episodeSteps);
}

std::string
MecTaskParams::Problem() const
{
    if (ues == 0)
    {
        return "--ues must be at least 1";
    }
    if (catalogue.empty())
    {
        return "--catalogue is needed";
    }
    if (!(taskRateHz > 0) || !(taskTimeoutS > 0) || !(batteryJ > 0) || !(deadlineMs > 0) || !(wanRateMbps > 0) ||
        !(isdM > 0) || episodeSteps == 0)
    {
        return "--task-rate-hz, --task-timeout-s, --battery-j, --deadline-ms, --wan-rate-mbps, --isd-m and "
               "--episode-steps must be > 0";
    }
    if (!(wanDelayMs >= 0))
    {
        return "--wan-delay-ms must be >= 0";
    }
    try
    {
        ns6g::ran::ParseScenario(radio.scenario);
    }
    catch (const std::exception& e)
    {
        return e.what();
    }
    return ns6g::ran::ValidateCarrier(radio.frequencyHz, radio.bandwidthHz, static_cast<int>(radio.numerology), 0);
}

MecTaskSettings
MecTaskParams::TaskSettings() const
{
    MecTaskSettings s;
    s.taskRateHz = taskRateHz;
    s.taskTimeoutS = taskTimeoutS;
    s.batteryJ = batteryJ;
    s.deadlineMs = deadlineMs;
    s.energyWeight = energyWeight;
    s.deadlinePenalty = deadlinePenalty;
    s.failurePenalty = failurePenalty;
    s.episodeSteps = episodeSteps;
    return s;
}

ns6g::ran::RanRadioSettings
MecTaskParams::Radio(const ns6g::ran::Carrier& carrier) const
{
    ns6g::ran::RanRadioSettings out = radio;
    // Uplink CQI (and so the uplink rate estimate) assumes a device spreads its power over the whole
    // carrier, as it does when it is the only one sending: the default (4 RBGs) overestimates the SINR
    // of a device that gets every RBG.
    out.ulCqiRbgs = carrier.nRbg;
    return out;
}

ns6g::ran::RanHelperSettings
MecTaskParams::RanSettings(const ns6g::ran::Carrier& carrier, const std::string& ulScheduler, uint32_t maxQueueBytes)
{
    ns6g::ran::RanHelperSettings settings;
    settings.dlScheduler = "pf";
    settings.ulScheduler = ulScheduler;
    settings.dlRbgs = carrier.nRbg;
    settings.ulRbgs = carrier.nRbg;
    settings.mtuBytes = kMecMtuBytes;
    settings.slotPeriod = ns3::Seconds(carrier.numerology.SlotDurationS());
    settings.maxQueueBytes = maxQueueBytes;
    return settings;
}

MecDevices::MecDevices(const MecTaskParams& p)
    : catalogue(LoadDeviceCatalogue(p.catalogue)),
      device(FindDevice(catalogue, p.device)),
      edge(FindDevice(catalogue, p.edgeDevice)),
      cloud(FindDevice(catalogue, p.cloudDevice))
{
    if (!std::isfinite(device.txPowerDbm))
    {
        throw std::invalid_argument("device " + device.name + " has no radio (tx_power_dbm empty)");
    }
}

double
MaxUplinkMbps(double bandwidthHz)
{
    return 12.0 * bandwidthHz / 1e6;
}

UplinkEstimate
EstimateUplink(const ns3::Ptr<ns6g::ran::RanLink>& link,
               const ns6g::ran::Carrier& carrier,
               uint32_t ue,
               uint32_t cell,
               uint32_t others)
{
    using ns6g::ran::Direction;
    double cqiSum = 0.0;
    double bits = 0.0;
    for (uint32_t rbg = 0; rbg < carrier.nRbg; ++rbg)
    {
        cqiSum += link->RbgCqi(ue, cell, rbg, Direction::Uplink);
        bits += link->RbgBits(ue, cell, rbg, Direction::Uplink);
    }
    UplinkEstimate out;
    out.cqi = cqiSum / carrier.nRbg;
    const double mbps = bits / carrier.numerology.SlotDurationS() / (1.0 + others) / 1e6;
    out.mbps = std::min(mbps, MaxUplinkMbps(carrier.bandwidthHz));
    return out;
}

} // namespace ns6g::mec

#include "mec/helper/mec-task-scenario.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ns6g::mec
{

ns6g::ran::RanHelperSettings
MecRanSettings(const ns6g::ran::Carrier& carrier, const std::string& ulScheduler, uint32_t maxQueueBytes)
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

MecDevices::MecDevices(const std::string& cataloguePath,
                       const std::string& deviceName,
                       const std::string& edgeName,
                       const std::string& cloudName)
    : catalogue(LoadDeviceCatalogue(cataloguePath)),
      device(FindDevice(catalogue, deviceName)),
      edge(FindDevice(catalogue, edgeName)),
      cloud(FindDevice(catalogue, cloudName))
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

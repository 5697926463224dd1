// Adds a D2D sidelink to the UEs of a RAN deployment in one call: a RanSidelink on its own carrier, a
// SidelinkNetDevice per UE with an address in 8.0.0.0/8, and the routes for UE-to-UE packets; and
// turns a UE into the UE-to-network relay of another (remote UE -> relay UE over the sidelink -> gNB over
// the relay's RAN uplink -> server, and back the same way).
#pragma once

#include "ran/helper/ran-helper.h"
#include "ran/model/ran-sidelink-net-device.h"
#include "ran/model/ran-sidelink.h"

#include "ns3/ipv4-address.h"
#include "ns3/node-container.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ns6g::ran
{

/** The sidelink's carrier, channel and resource allocation (units in the names). */
struct SidelinkSettings
{
    std::string scenario{"V2V-Urban"}; //!< TR 37.885 scenario: V2V-Urban or V2V-Highway
    double frequencyHz{5.9e9};         //!< sidelink carrier frequency (Hz), its own band
    double bandwidthHz{20e6};          //!< sidelink carrier bandwidth (Hz)
    uint32_t numerology{1};            //!< NR numerology mu of the sidelink
    uint32_t subchannelRbs{10};        //!< RBs per sub-channel
    double txPowerDbm{23.0};           //!< UE sidelink transmit power (dBm)
    double noiseFigureDb{9.0};         //!< UE receiver noise figure (dB)
    std::string mcsTable{"256QAM"};    //!< "256QAM" or "1024QAM"
    std::string mode{"scheduled"};     //!< "scheduled" (mode 1) or "autonomous" (mode 2)
    std::string scheduler{"rr"};       //!< mode 1: "rr" or "external"
    bool shadowing{true};              //!< TR 37.885 shadowing
    std::string condition{"3gpp"};     //!< LOS state: "3gpp" (LOS/NLOSv draws) or "los" (always LOS)
    uint32_t autonomousSubchannels{1}; //!< mode 2: sub-channels per reservation
    uint16_t mtuBytes{1500};           //!< MTU of the sidelink devices (bytes)
    uint32_t maxQueueBytes{1'000'000}; //!< queue per sidelink (bytes)
};

/**
 * The settings of a scenario whose options carry the six sidelink_* fields declared once in
 * ns6g/radio/sidelink.py (sidelinkFrequencyHz ... sidelinkTxPowerDbm in the generated options header),
 * with the scenario's own MTU and queue; the rest keep their defaults.
 */
template <class Options>
SidelinkSettings
SidelinkSettingsOf(const Options& o, uint16_t mtuBytes, uint32_t maxQueueBytes)
{
    SidelinkSettings s;
    s.frequencyHz = o.sidelinkFrequencyHz;
    s.bandwidthHz = o.sidelinkBandwidthHz;
    s.numerology = static_cast<uint32_t>(o.sidelinkNumerology);
    s.subchannelRbs = static_cast<uint32_t>(o.sidelinkSubchannelRbs);
    s.mode = o.sidelinkMode;
    s.txPowerDbm = o.sidelinkTxPowerDbm;
    s.mtuBytes = mtuBytes;
    s.maxQueueBytes = maxQueueBytes;
    return s;
}

/** Everything SidelinkHelper::Install created. */
struct SidelinkDeployment
{
    ns3::Ptr<RanSidelink> sidelink;
    std::vector<ns3::Ptr<SidelinkNetDevice>> devices; //!< per UE
    std::vector<ns3::Ipv4Address> addresses;          //!< per UE, the sidelink address
};

class SidelinkHelper
{
  public:
    /**
     * Install a sidelink on `ues` (UE i of `ran`, with the internet stack and mobility RanHelper gave
     * them) and start it. UE j reaches UE k's sidelink address over the sidelink; gNBs route 8.0.0.0/8
     * over the radio. Random streams from `stream` on. Throws std::invalid_argument for bad settings.
     */
    static SidelinkDeployment Install(const RanDeployment& ran,
                                      const ns3::NodeContainer& ues,
                                      const SidelinkSettings& settings,
                                      int64_t stream);

    /**
     * Route `remote`'s traffic to the server through `relay` (nullopt: directly over its own RAN
     * uplink): the remote's default route, its sidelink device's default peer, the server's route to the
     * remote's sidelink address and the RAN's downlink mapping of that address. Callable at any time.
     */
    static void SetRelay(const SidelinkDeployment& sidelink,
                         const RanDeployment& ran,
                         uint32_t remote,
                         std::optional<uint32_t> relay);
};

} // namespace ns6g::ran

// Builds a RAN deployment: gNB and UE devices on a RanSystem, the internet stack, addresses and routes,
// and a server behind the gNBs on point-to-point backhaul links, so that ordinary ns-3 applications
// on the server and the UEs exchange real packets across the radio link.
#pragma once

#include "ran/model/ran-link-model.h"
#include "ran/model/ran-link.h"
#include "ran/model/ran-net-device.h"
#include "ran/model/ran-system.h"

#include "ns3/command-line.h"
#include "ns3/ipv4-address.h"
#include "ns3/node-container.h"
#include "ns3/nstime.h"
#include "ns3/random-variable-stream.h"
#include "ns3/vector.h"

#include <string>
#include <vector>

namespace ns6g::ran
{

/** Everything RanHelper::Install created. */
struct RanDeployment
{
    ns3::Ptr<RanSystem> system;
    ns3::Ptr<ns3::Node> server;                        //!< behind every gNB on its backhaul link
    ns3::Ipv4Address serverAddress;                    //!< the server's address as UEs reach it
    std::vector<ns3::Ipv4Address> ueAddresses;         //!< per UE
    std::vector<ns3::Ptr<RanNetDevice>> gnbDevices;    //!< per cell
    std::vector<ns3::Ptr<RanNetDevice>> ueDevices;     //!< per UE
};

/** The radio of a RAN scenario: carrier, channel and antennas (units in the names). */
struct RanRadioSettings
{
    std::string scenario{"UMi-StreetCanyon"}; //!< TR 38.901 scenario
    double frequencyHz{7e9};                  //!< carrier frequency (Hz)
    double bandwidthHz{20e6};                 //!< carrier bandwidth (Hz)
    uint32_t numerology{1};                   //!< NR numerology mu
    uint32_t rbgSize{0};                      //!< RBG size in RBs (0: TS 38.214 configuration 1)
    std::string mcsTable{"256QAM"};           //!< "256QAM" or "1024QAM"
    double gnbTxPowerDbm{41.0};               //!< gNB transmit power (dBm)
    bool fastFading{true};                    //!< 3GPP fast fading on serving links
    bool shadowing{true};                     //!< 38.901 shadowing
    uint32_t gnbArrayRows{4};                 //!< gNB antenna array rows
    uint32_t gnbArrayColumns{4};              //!< gNB antenna array columns
    uint32_t ueArrayRows{1};                  //!< UE antenna array rows
    uint32_t ueArrayColumns{2};               //!< UE antenna array columns
    uint32_t ulCqiRbgs{0};                    //!< RanLink UlCqiRbgs (0: its default)
    double scattererSpeedMps{0.0};            //!< RanChannel ScattererSpeedMps (m/s)
};

/** Backhaul and system settings of RanHelper::Install (units in the names). */
struct RanHelperSettings
{
    std::string dlScheduler{"pf"};      //!< MakeScheduler name, downlink
    std::string ulScheduler{"pf"};      //!< MakeScheduler name, uplink
    uint16_t mtuBytes{1500};            //!< MTU of the radio and backhaul devices (bytes)
    ns3::Time slotPeriod{ns3::MicroSeconds(500)}; //!< RanSystem SlotPeriod: 1 ms / 2^mu of the carrier (s)
    uint32_t maxQueueBytes{1'000'000};  //!< RanSystem MaxQueueBytes: each UE's queue per direction (bytes)
    ns3::Time handoverInterruption{ns3::Seconds(0)}; //!< RanSystem HandoverInterruptionTime (s)
    uint32_t dlRbgs{1};                 //!< RBGs per cell, downlink
    uint32_t ulRbgs{1};                 //!< RBGs per cell, uplink
    double backhaulRateBps{10e9};       //!< gNB <-> server link rate (bit/s)
    ns3::Time backhaulDelay{ns3::MilliSeconds(1)}; //!< gNB <-> server one-way delay (s)
};

class RanHelper
{
  public:
    /** Hexagonal sites: the centre, then the first ring at `isdM` (m); `cells` <= 7. z = 0. */
    static std::vector<ns3::Vector> HexagonalSites(uint32_t cells, double isdM);

    /** Fixed positions for `gnbs`: site i at height `heightM` (m). */
    static void PlaceGnbs(const ns3::NodeContainer& gnbs, const std::vector<ns3::Vector>& sites, double heightM);

    /**
     * A point uniform in the disk of radius `radiusM` around `centre`, at least `minM` from it, at height
     * `heightM` (all m). Draws two values from `uniform` (radius, then angle).
     */
    static ns3::Vector UniformInDisk(ns3::Ptr<ns3::UniformRandomVariable> uniform,
                                     const ns3::Vector& centre,
                                     double radiusM,
                                     double minM,
                                     double heightM);

    /**
     * The PHY, channel and link of `radio` for `gnbs` (cell i = gNB i) and `ues`, which must already have
     * mobility models; random streams from `stream` on.
     */
    static ns3::Ptr<RanLink> CreateLink(const RanRadioSettings& radio,
                                        const ns3::NodeContainer& gnbs,
                                        const ns3::NodeContainer& ues,
                                        int64_t stream);

    /**
     * Install a RAN on `gnbs` (one per cell, index = cell) and `ues` (index = UE), both already with a
     * mobility model, driven by `link`. Creates the server node. UEs get addresses 7.0.0.0/8, the
     * backhaul links 10.x.y.0/30; the server reaches UE u through the gNB of its initial cell (after a
     * handover the RanSystem forwards, as gNBs do over Xn).
     */
    static RanDeployment Install(const ns3::NodeContainer& gnbs,
                                 const ns3::NodeContainer& ues,
                                 ns3::Ptr<RanLinkModel> link,
                                 const RanHelperSettings& settings);
};

} // namespace ns6g::ran

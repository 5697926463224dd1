// Wired links of MEC topologies (edge servers behind gNBs, inter-edge links, the WAN to a cloud): a
// point-to-point link between two nodes that already have the internet stack, with addresses and without
// queue discs, and static host routes that can be moved when a UE hands over.
#pragma once

#include "ns3/internet-module.h"
#include "ns3/network-module.h"
#include "ns3/nstime.h"

#include <cstdint>

namespace ns6g::mec
{

/** A wired link MecNetworkHelper::Connect built: the devices and interfaces, a's first. */
struct WiredLink
{
    ns3::NetDeviceContainer devices;     //!< (a's device, b's device)
    ns3::Ipv4InterfaceContainer ifaces;  //!< (a's address, b's address)
    uint32_t aInterface{0};              //!< a's Ipv4 interface index of the link
    uint32_t bInterface{0};              //!< b's Ipv4 interface index of the link
};

class MecNetworkHelper
{
  public:
    /**
     * Connects `a` and `b` (both with the internet stack) by a point-to-point link of `rateBps` (bit/s,
     * > 0), one-way `delay` and `mtuBytes` MTU, addressed from `addresses` (which then moves to its next
     * network). The link's device queues are the only queues: the default queue discs are removed, as
     * RanHelper does on the backhaul. Throws std::invalid_argument on a rate that is not finite and > 0.
     */
    static WiredLink Connect(ns3::Ptr<ns3::Node> a,
                             ns3::Ptr<ns3::Node> b,
                             double rateBps,
                             ns3::Time delay,
                             uint16_t mtuBytes,
                             ns3::Ipv4AddressHelper& addresses);

    /**
     * A cloud node (internet stack installed here) behind `gateway` on a WAN point-to-point link of
     * `rateBps` (bit/s) and one-way `delay`, addressed 20.0.0.0/30 (the gateway .1, the cloud .2); the
     * cloud's default route is the gateway, which reaches the cloud on the connected /30. Returns the
     * link (the cloud is devices.Get(1)->GetNode(), its address ifaces.GetAddress(1)).
     */
    static WiredLink AddCloud(ns3::Ptr<ns3::Node> gateway, double rateBps, ns3::Time delay, uint16_t mtuBytes);

    /**
     * Makes `node` reach `destination` (a host) through `nextHop` on `interface`, replacing the node's
     * static host route to `destination` if it has one.
     */
    static void SetHostRoute(ns3::Ptr<ns3::Node> node,
                             ns3::Ipv4Address destination,
                             ns3::Ipv4Address nextHop,
                             uint32_t interface);
};

} // namespace ns6g::mec

// Host routes looked up in a hash table, ahead of a node's static routing (HostRouteTable), for nodes
// that hold one host route per UE: RanHelper gives its server node (a RAN scenario's remote host, the
// core router of fl-network) one static host route per UE, and Ipv4StaticRouting scans all of its routes
// for every packet it forwards or sends: O(UEs) per packet.
#pragma once

#include "ns3/ipv4-address.h"
#include "ns3/ipv4-routing-protocol.h"
#include "ns3/node.h"

#include <cstdint>
#include <unordered_map>

namespace ns6g::ran
{

/**
 * MoveHostRoutes moves a node's static host routes here (the same destination, gateway and interface:
 * the same forwarding, and the same Ipv4Route as Ipv4StaticRouting builds for them); other destinations
 * fall through to the static routing (and local delivery is Ipv4ListRouting's, before any protocol).
 * Host routes added to the static routing afterwards are not moved, and this table is asked first: move
 * only once a node's host routes are final.
 */
class HostRouteTable : public ns3::Ipv4RoutingProtocol
{
  public:
    static ns3::TypeId GetTypeId();

    /** Moves every host route of ``node``'s static routing into a new table, ahead of it. */
    static void MoveHostRoutes(ns3::Ptr<ns3::Node> node);

    ns3::Ptr<ns3::Ipv4Route> RouteOutput(ns3::Ptr<ns3::Packet> p,
                                         const ns3::Ipv4Header& header,
                                         ns3::Ptr<ns3::NetDevice> oif,
                                         ns3::Socket::SocketErrno& sockerr) override;
    bool RouteInput(ns3::Ptr<const ns3::Packet> p,
                    const ns3::Ipv4Header& header,
                    ns3::Ptr<const ns3::NetDevice> idev,
                    const UnicastForwardCallback& ucb,
                    const MulticastForwardCallback& mcb,
                    const LocalDeliverCallback& lcb,
                    const ErrorCallback& ecb) override;
    void NotifyInterfaceUp(uint32_t interface) override;
    void NotifyInterfaceDown(uint32_t interface) override;
    void NotifyAddAddress(uint32_t interface, ns3::Ipv4InterfaceAddress address) override;
    void NotifyRemoveAddress(uint32_t interface, ns3::Ipv4InterfaceAddress address) override;
    void SetIpv4(ns3::Ptr<ns3::Ipv4> ipv4) override;
    void PrintRoutingTable(ns3::Ptr<ns3::OutputStreamWrapper> stream, ns3::Time::Unit unit) const override;

    /** Host routes held. */
    size_t GetNRoutes() const;

  protected:
    void DoDispose() override;

  private:
    struct Entry
    {
        ns3::Ipv4Address gateway;
        uint32_t interface;
    };

    /** The route to ``dst`` as Ipv4StaticRouting builds it for a host route; null when there is none. */
    ns3::Ptr<ns3::Ipv4Route> Lookup(ns3::Ipv4Address dst) const;

    ns3::Ptr<ns3::Ipv4> m_ipv4;
    std::unordered_map<uint32_t, Entry> m_routes;
};

} // namespace ns6g::ran

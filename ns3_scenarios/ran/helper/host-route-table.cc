#include "ran/helper/host-route-table.h"

#include "ns3/abort.h"
#include "ns3/ipv4-list-routing.h"
#include "ns3/ipv4-route.h"
#include "ns3/ipv4-routing-table-entry.h"
#include "ns3/ipv4-static-routing-helper.h"
#include "ns3/ipv4-static-routing.h"
#include "ns3/ipv4.h"
#include "ns3/output-stream-wrapper.h"

namespace ns6g::ran
{

ns3::TypeId
HostRouteTable::GetTypeId()
{
    static ns3::TypeId tid =
        ns3::TypeId("ns6g::ran::HostRouteTable").SetParent<ns3::Ipv4RoutingProtocol>().SetGroupName("Ns6gRan");
    return tid;
}

void
HostRouteTable::MoveHostRoutes(ns3::Ptr<ns3::Node> node)
{
    using namespace ns3;
    Ptr<Ipv4> ipv4 = node->GetObject<Ipv4>();
    Ptr<Ipv4ListRouting> list = DynamicCast<Ipv4ListRouting>(ipv4->GetRoutingProtocol());
    Ptr<Ipv4StaticRouting> routing = Ipv4StaticRoutingHelper().GetStaticRouting(ipv4);
    NS_ABORT_MSG_IF(!list || !routing, "HostRouteTable: the node has no list and static routing");
    Ptr<HostRouteTable> table = CreateObject<HostRouteTable>();
    // One route per destination: with two, Ipv4StaticRouting would choose by metric and order, which
    // this table does not model.
    for (uint32_t i = routing->GetNRoutes(); i-- > 0;)
    {
        const Ipv4RoutingTableEntry entry = routing->GetRoute(i);
        if (entry.IsHost())
        {
            const bool added =
                table->m_routes.emplace(entry.GetDest().Get(), Entry{entry.GetGateway(), entry.GetInterface()}).second;
            NS_ABORT_MSG_IF(!added, "HostRouteTable: two host routes to " << entry.GetDest());
            routing->RemoveRoute(i);
        }
    }
    list->AddRoutingProtocol(table, 10); // static routing has priority 0: this table is asked first
}

ns3::Ptr<ns3::Ipv4Route>
HostRouteTable::RouteOutput(ns3::Ptr<ns3::Packet>,
                            const ns3::Ipv4Header& header,
                            ns3::Ptr<ns3::NetDevice>,
                            ns3::Socket::SocketErrno& sockerr)
{
    ns3::Ptr<ns3::Ipv4Route> route = Lookup(header.GetDestination());
    sockerr = route ? ns3::Socket::ERROR_NOTERROR : ns3::Socket::ERROR_NOROUTETOHOST;
    return route;
}

bool
HostRouteTable::RouteInput(ns3::Ptr<const ns3::Packet> p,
                           const ns3::Ipv4Header& header,
                           ns3::Ptr<const ns3::NetDevice>,
                           const UnicastForwardCallback& ucb,
                           const MulticastForwardCallback&,
                           const LocalDeliverCallback&,
                           const ErrorCallback&)
{
    ns3::Ptr<ns3::Ipv4Route> route = Lookup(header.GetDestination());
    if (!route)
    {
        return false;
    }
    ucb(route, p, header);
    return true;
}

void
HostRouteTable::NotifyInterfaceUp(uint32_t)
{
}

void
HostRouteTable::NotifyInterfaceDown(uint32_t)
{
}

void
HostRouteTable::NotifyAddAddress(uint32_t, ns3::Ipv4InterfaceAddress)
{
}

void
HostRouteTable::NotifyRemoveAddress(uint32_t, ns3::Ipv4InterfaceAddress)
{
}

void
HostRouteTable::SetIpv4(ns3::Ptr<ns3::Ipv4> ipv4)
{
    m_ipv4 = ipv4;
}

void
HostRouteTable::PrintRoutingTable(ns3::Ptr<ns3::OutputStreamWrapper> stream, ns3::Time::Unit) const
{
    *stream->GetStream() << "HostRouteTable: " << m_routes.size() << " host routes\n";
}

size_t
HostRouteTable::GetNRoutes() const
{
    return m_routes.size();
}

void
HostRouteTable::DoDispose()
{
    m_ipv4 = nullptr;
    m_routes.clear();
    Ipv4RoutingProtocol::DoDispose();
}

ns3::Ptr<ns3::Ipv4Route>
HostRouteTable::Lookup(ns3::Ipv4Address dst) const
{
    const auto it = m_routes.find(dst.Get());
    if (it == m_routes.end())
    {
        return nullptr;
    }
    ns3::Ptr<ns3::Ipv4Route> route = ns3::Create<ns3::Ipv4Route>();
    route->SetDestination(dst);
    route->SetGateway(it->second.gateway);
    route->SetSource(m_ipv4->GetAddress(it->second.interface, 0).GetLocal());
    route->SetOutputDevice(m_ipv4->GetNetDevice(it->second.interface));
    return route;
}

} // namespace ns6g::ran

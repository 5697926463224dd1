#include "mec/helper/mec-network-helper.h"

#include "ns3/point-to-point-module.h"
#include "ns3/traffic-control-module.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace ns6g::mec
{

WiredLink
MecNetworkHelper::Connect(ns3::Ptr<ns3::Node> a,
                          ns3::Ptr<ns3::Node> b,
                          double rateBps,
                          ns3::Time delay,
                          uint16_t mtuBytes,
                          ns3::Ipv4AddressHelper& addresses)
{
    using namespace ns3;
    if (!std::isfinite(rateBps) || !(rateBps > 0))
    {
        throw std::invalid_argument("MecNetworkHelper: link rate (bit/s) must be finite and > 0, got " +
                                    std::to_string(rateBps));
    }
    PointToPointHelper p2p;
    p2p.SetDeviceAttribute("DataRate", DataRateValue(DataRate(static_cast<uint64_t>(std::llround(rateBps)))));
    p2p.SetChannelAttribute("Delay", TimeValue(delay));
    p2p.SetDeviceAttribute("Mtu", UintegerValue(mtuBytes));
    WiredLink link;
    link.devices = p2p.Install(a, b);
    link.ifaces = addresses.Assign(link.devices);
    addresses.NewNetwork();
    TrafficControlHelper tc;
    for (uint32_t i = 0; i < link.devices.GetN(); ++i)
    {
        Ptr<NetDevice> device = link.devices.Get(i);
        Ptr<TrafficControlLayer> layer = device->GetNode()->GetObject<TrafficControlLayer>();
        if (layer && layer->GetRootQueueDiscOnDevice(device))
        {
            tc.Uninstall(device);
        }
    }
    link.aInterface = a->GetObject<Ipv4>()->GetInterfaceForDevice(link.devices.Get(0));
    link.bInterface = b->GetObject<Ipv4>()->GetInterfaceForDevice(link.devices.Get(1));
    return link;
}

WiredLink
MecNetworkHelper::AddCloud(ns3::Ptr<ns3::Node> gateway, double rateBps, ns3::Time delay, uint16_t mtuBytes)
{
    using namespace ns3;
    Ptr<Node> cloud = CreateObject<Node>();
    InternetStackHelper().Install(cloud);
    Ipv4AddressHelper addresses("20.0.0.0", "255.255.255.252");
    WiredLink wan = Connect(gateway, cloud, rateBps, delay, mtuBytes, addresses);
    Ipv4StaticRoutingHelper routing;
    routing.GetStaticRouting(cloud->GetObject<Ipv4>())->SetDefaultRoute(wan.ifaces.GetAddress(0), wan.bInterface);
    return wan;
}

void
MecNetworkHelper::SetHostRoute(ns3::Ptr<ns3::Node> node,
                               ns3::Ipv4Address destination,
                               ns3::Ipv4Address nextHop,
                               uint32_t interface)
{
    using namespace ns3;
    Ipv4StaticRoutingHelper helper;
    Ptr<Ipv4StaticRouting> routing = helper.GetStaticRouting(node->GetObject<Ipv4>());
    for (uint32_t i = routing->GetNRoutes(); i-- > 0;)
    {
        Ipv4RoutingTableEntry route = routing->GetRoute(i);
        if (route.IsHost() && route.GetDest() == destination)
        {
            routing->RemoveRoute(i);
        }
    }
    routing->AddHostRouteTo(destination, nextHop, interface);
}

} // namespace ns6g::mec

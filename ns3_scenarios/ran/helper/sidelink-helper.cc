#include "ran/helper/sidelink-helper.h"

#include "ns3/boolean.h"
#include "ns3/double.h"
#include "ns3/ipv4-address-helper.h"
#include "ns3/ipv4-routing-table-entry.h"
#include "ns3/ipv4-static-routing-helper.h"
#include "ns3/ipv4-static-routing.h"
#include "ns3/ipv4.h"
#include "ns3/string.h"
#include "ns3/traffic-control-helper.h"
#include "ns3/traffic-control-layer.h"
#include "ns3/uinteger.h"

#include <stdexcept>
#include <string>

namespace ns6g::ran
{

namespace
{

const ns3::Ipv4Address kSidelinkNetwork("8.0.0.0");
const ns3::Ipv4Mask kSidelinkMask("255.0.0.0");
const ns3::Ipv4Address kRanGateway("7.0.0.1");

ns3::Ptr<ns3::Ipv4StaticRouting>
StaticRouting(ns3::Ptr<ns3::Node> node)
{
    ns3::Ipv4StaticRoutingHelper helper;
    return helper.GetStaticRouting(node->GetObject<ns3::Ipv4>());
}

/** Remove the routes of `routing` that `match` selects. */
template <typename Match>
void
RemoveRoutes(ns3::Ptr<ns3::Ipv4StaticRouting> routing, Match match)
{
    for (uint32_t i = routing->GetNRoutes(); i-- > 0;)
    {
        if (match(routing->GetRoute(i)))
        {
            routing->RemoveRoute(i);
        }
    }
}

} // namespace

SidelinkDeployment
SidelinkHelper::Install(const RanDeployment& ran,
                        const ns3::NodeContainer& ues,
                        const SidelinkSettings& settings,
                        int64_t stream)
{
    using namespace ns3;
    if (ues.GetN() != ran.ueDevices.size())
    {
        throw std::invalid_argument("SidelinkHelper: " + std::to_string(ues.GetN()) + " UEs given, the RAN has " +
                                    std::to_string(ran.ueDevices.size()));
    }
    auto phy = CreateObject<RanPhy>();
    phy->SetAttribute("CenterFrequency", DoubleValue(settings.frequencyHz));
    phy->SetAttribute("Bandwidth", DoubleValue(settings.bandwidthHz));
    phy->SetAttribute("Numerology", UintegerValue(settings.numerology));
    phy->SetAttribute("McsTable", StringValue(settings.mcsTable));
    phy->SetAttribute("UlTxPower", DoubleValue(settings.txPowerDbm));      // a UE transmits
    phy->SetAttribute("UeNoiseFigure", DoubleValue(settings.noiseFigureDb)); // a UE receives
    phy->GetCarrier(); // throws InvalidPhyConfig naming the problem

    SidelinkDeployment out;
    out.sidelink = CreateObject<RanSidelink>();
    out.sidelink->SetAttribute("Scenario", StringValue(settings.scenario));
    out.sidelink->SetAttribute("SubchannelRbs", UintegerValue(settings.subchannelRbs));
    out.sidelink->SetAttribute("Mode", StringValue(settings.mode));
    out.sidelink->SetAttribute("Scheduler", StringValue(settings.scheduler));
    out.sidelink->SetAttribute("ShadowingEnabled", BooleanValue(settings.shadowing));
    out.sidelink->SetAttribute("Condition", StringValue(settings.condition));
    out.sidelink->SetAttribute("AutonomousSubchannels", UintegerValue(settings.autonomousSubchannels));
    out.sidelink->SetAttribute("MaxQueueBytes", UintegerValue(settings.maxQueueBytes));
    out.sidelink->AssignStreams(stream);
    out.sidelink->Setup(phy, ues);

    Ipv4AddressHelper addresses(kSidelinkNetwork, kSidelinkMask);
    TrafficControlHelper tc;
    for (uint32_t u = 0; u < ues.GetN(); ++u)
    {
        auto dev = CreateObject<SidelinkNetDevice>();
        dev->SetMtu(settings.mtuBytes);
        dev->AttachSidelink(out.sidelink, u);
        ues.Get(u)->AddDevice(dev);
        out.sidelink->SetUeDevice(u, dev);
        Ipv4Address address = addresses.Assign(NetDeviceContainer(dev)).GetAddress(0);
        out.sidelink->MapAddress(address, u);
        out.devices.push_back(dev);
        out.addresses.push_back(address);
        // The sidelink queues are the only sidelink queues (as on the RAN devices).
        Ptr<TrafficControlLayer> layer = ues.Get(u)->GetObject<TrafficControlLayer>();
        if (layer && layer->GetRootQueueDiscOnDevice(dev))
        {
            tc.Uninstall(dev);
        }
    }
    // gNBs reach sidelink addresses over the radio (the RanSystem maps each to a UE: SetRelay).
    for (const auto& gnbDevice : ran.gnbDevices)
    {
        Ptr<Node> gnb = gnbDevice->GetNode();
        StaticRouting(gnb)->AddNetworkRouteTo(kSidelinkNetwork, kSidelinkMask,
                                              gnb->GetObject<Ipv4>()->GetInterfaceForDevice(gnbDevice));
    }
    for (uint32_t u = 0; u < ues.GetN(); ++u)
    {
        SetRelay(out, ran, u, std::nullopt);
    }
    out.sidelink->Start();
    return out;
}

void
SidelinkHelper::SetRelay(const SidelinkDeployment& sidelink,
                         const RanDeployment& ran,
                         uint32_t remote,
                         std::optional<uint32_t> relay)
{
    using namespace ns3;
    const uint32_t n = static_cast<uint32_t>(sidelink.devices.size());
    if (remote >= n || (relay && *relay >= n))
    {
        throw std::invalid_argument("SidelinkHelper::SetRelay: remote " + std::to_string(remote) + " or relay " +
                                    (relay ? std::to_string(*relay) : std::string("none")) + " is not a UE (0.." +
                                    std::to_string(n - 1) + ")");
    }
    if (relay && *relay == remote)
    {
        throw std::invalid_argument("SidelinkHelper::SetRelay: UE " + std::to_string(remote) + " cannot relay itself");
    }
    Ptr<SidelinkNetDevice> slDevice = sidelink.devices[remote];
    Ptr<Node> node = slDevice->GetNode();
    Ptr<Ipv4> ipv4 = node->GetObject<Ipv4>();
    Ptr<Ipv4StaticRouting> routing = StaticRouting(node);
    RemoveRoutes(routing, [](const Ipv4RoutingTableEntry& e) { return e.IsDefault(); });
    slDevice->SetDefaultPeer(relay);
    if (relay)
    {
        routing->SetDefaultRoute(sidelink.addresses[*relay], ipv4->GetInterfaceForDevice(slDevice));
    }
    else
    {
        routing->SetDefaultRoute(kRanGateway, ipv4->GetInterfaceForDevice(ran.ueDevices[remote]));
    }
    // The way back: the server sends the remote's sidelink address where it sends the relay's (or the
    // remote's own) RAN address, and that UE's downlink queue takes it.
    const uint32_t carrier = relay.value_or(remote);
    const Ipv4Address target = sidelink.addresses[remote];
    Ptr<Ipv4StaticRouting> server = StaticRouting(ran.server);
    RemoveRoutes(server, [&target](const Ipv4RoutingTableEntry& e) { return e.IsHost() && e.GetDest() == target; });
    for (uint32_t i = 0; i < server->GetNRoutes(); ++i)
    {
        Ipv4RoutingTableEntry e = server->GetRoute(i);
        if (e.IsHost() && e.GetDest() == ran.ueAddresses[carrier])
        {
            server->AddHostRouteTo(target, e.GetGateway(), e.GetInterface());
            break;
        }
    }
    ran.system->MapAddress(target, carrier);
}

} // namespace ns6g::ran

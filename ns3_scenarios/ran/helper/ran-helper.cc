#include "ran/helper/ran-helper.h"

#include "ns3/boolean.h"
#include "ns3/data-rate.h"
#include "ns3/double.h"
#include "ns3/string.h"
#include "ns3/internet-stack-helper.h"
#include "ns3/ipv4-address-helper.h"
#include "ns3/ipv4-static-routing-helper.h"
#include "ns3/ipv4-static-routing.h"
#include "ns3/ipv4.h"
#include "ns3/mobility-helper.h"
#include "ns3/point-to-point-helper.h"
#include "ns3/position-allocator.h"
#include "ns3/traffic-control-helper.h"
#include "ns3/traffic-control-layer.h"
#include "ns3/uinteger.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace ns6g::ran
{

std::vector<ns3::Vector>
RanHelper::HexagonalSites(uint32_t cells, double isdM)
{
    if (cells == 0 || cells > 7)
    {
        throw std::invalid_argument("RanHelper::HexagonalSites: 1 to 7 cells, got " + std::to_string(cells));
    }
    std::vector<ns3::Vector> sites{{0, 0, 0}};
    for (int k = 0; sites.size() < cells; ++k)
    {
        double angle = M_PI / 6 + k * M_PI / 3;
        sites.emplace_back(isdM * std::cos(angle), isdM * std::sin(angle), 0);
    }
    return sites;
}

void
RanHelper::PlaceGnbs(const ns3::NodeContainer& gnbs, const std::vector<ns3::Vector>& sites, double heightM)
{
    using namespace ns3;
    auto positions = CreateObject<ListPositionAllocator>();
    for (uint32_t c = 0; c < gnbs.GetN(); ++c)
    {
        positions->Add(Vector(sites.at(c).x, sites.at(c).y, heightM));
    }
    MobilityHelper mobility;
    mobility.SetPositionAllocator(positions);
    mobility.SetMobilityModel("ns3::ConstantPositionMobilityModel");
    mobility.Install(gnbs);
}

ns3::Vector
RanHelper::UniformInDisk(ns3::Ptr<ns3::UniformRandomVariable> uniform,
                         const ns3::Vector& centre,
                         double radiusM,
                         double minM,
                         double heightM)
{
    double d = std::sqrt(uniform->GetValue(minM * minM / (radiusM * radiusM), 1.0)) * radiusM;
    double phi = uniform->GetValue(0, 2 * M_PI);
    return {centre.x + d * std::cos(phi), centre.y + d * std::sin(phi), heightM};
}

ns3::Ptr<RanLink>
RanHelper::CreateLink(const RanRadioSettings& radio,
                      const ns3::NodeContainer& gnbs,
                      const ns3::NodeContainer& ues,
                      int64_t stream)
{
    using namespace ns3;
    const Carrier carrier = MakeCarrier(radio.frequencyHz, radio.bandwidthHz, static_cast<int>(radio.numerology),
                                        static_cast<int>(radio.rbgSize));
    auto phy = CreateObject<RanPhy>();
    phy->SetAttribute("CenterFrequency", DoubleValue(radio.frequencyHz));
    phy->SetAttribute("Bandwidth", DoubleValue(radio.bandwidthHz));
    phy->SetAttribute("Numerology", UintegerValue(radio.numerology));
    phy->SetAttribute("RbgSize", UintegerValue(radio.rbgSize));
    phy->SetAttribute("McsTable", StringValue(radio.mcsTable));
    phy->SetAttribute("DlTxPower", DoubleValue(radio.gnbTxPowerDbm));

    auto channel = CreateObject<RanChannel>();
    channel->SetAttribute("Scenario", StringValue(radio.scenario));
    channel->SetAttribute("CarrierFrequencyHz", DoubleValue(radio.frequencyHz));
    channel->SetAttribute("NumRbs", UintegerValue(carrier.nRb));
    channel->SetAttribute("RbBandwidthHz", DoubleValue(carrier.numerology.RbBandwidthHz()));
    channel->SetAttribute("BandwidthHz", DoubleValue(carrier.TransmissionBandwidthHz()));
    channel->SetAttribute("RbGroupSize", UintegerValue(carrier.rbgSize));
    channel->SetAttribute("FastFadingEnabled", BooleanValue(radio.fastFading));
    channel->SetAttribute("ShadowingEnabled", BooleanValue(radio.shadowing));
    channel->SetAttribute("GnbArrayRows", UintegerValue(radio.gnbArrayRows));
    channel->SetAttribute("GnbArrayColumns", UintegerValue(radio.gnbArrayColumns));
    channel->SetAttribute("UeArrayRows", UintegerValue(radio.ueArrayRows));
    channel->SetAttribute("UeArrayColumns", UintegerValue(radio.ueArrayColumns));
    channel->SetAttribute("ScattererSpeedMps", DoubleValue(radio.scattererSpeedMps));
    for (uint32_t c = 0; c < gnbs.GetN(); ++c)
    {
        channel->AddGnb(gnbs.Get(c));
    }
    for (uint32_t u = 0; u < ues.GetN(); ++u)
    {
        channel->AddUe(ues.Get(u));
    }

    auto link = CreateObject<RanLink>();
    if (radio.ulCqiRbgs > 0)
    {
        link->SetAttribute("UlCqiRbgs", UintegerValue(radio.ulCqiRbgs));
    }
    link->Setup(channel, phy, gnbs, ues);
    link->AssignStreams(stream);
    return link;
}

RanDeployment
RanHelper::Install(const ns3::NodeContainer& gnbs,
                   const ns3::NodeContainer& ues,
                   ns3::Ptr<RanLinkModel> link,
                   const RanHelperSettings& settings)
{
    using namespace ns3;
    if (gnbs.GetN() == 0 || ues.GetN() == 0)
    {
        throw std::invalid_argument("RanHelper: need at least one gNB and one UE");
    }
    RanDeployment out;
    out.system = CreateObject<RanSystem>();
    out.system->SetAttribute("SlotPeriod", TimeValue(settings.slotPeriod));
    out.system->SetAttribute("MaxQueueBytes", UintegerValue(settings.maxQueueBytes));
    out.system->SetAttribute("HandoverInterruptionTime", TimeValue(settings.handoverInterruption));
    out.system->Configure(gnbs.GetN(), ues.GetN(), settings.dlRbgs, settings.ulRbgs, link,
                          settings.dlScheduler, settings.ulScheduler);
    out.server = CreateObject<Node>();

    InternetStackHelper internet;
    internet.Install(gnbs);
    internet.Install(ues);
    internet.Install(out.server);
    Ipv4StaticRoutingHelper routing;

    // Backhaul: server <-> each gNB.
    PointToPointHelper backhaul;
    backhaul.SetDeviceAttribute("DataRate", DataRateValue(DataRate(static_cast<uint64_t>(settings.backhaulRateBps))));
    backhaul.SetChannelAttribute("Delay", TimeValue(settings.backhaulDelay));
    backhaul.SetDeviceAttribute("Mtu", UintegerValue(settings.mtuBytes));
    Ipv4AddressHelper backhaulAddresses("10.0.0.0", "255.255.255.252");
    std::vector<Ipv4Address> gnbBackhaulAddress;
    std::vector<Ipv4Address> serverBackhaulAddress;
    std::vector<uint32_t> serverInterfaceOf;
    for (uint32_t c = 0; c < gnbs.GetN(); ++c)
    {
        NetDeviceContainer pair = backhaul.Install(out.server, gnbs.Get(c));
        Ipv4InterfaceContainer ifaces = backhaulAddresses.Assign(pair);
        backhaulAddresses.NewNetwork();
        if (c == 0)
        {
            out.serverAddress = ifaces.GetAddress(0);
        }
        serverBackhaulAddress.push_back(ifaces.GetAddress(0));
        gnbBackhaulAddress.push_back(ifaces.GetAddress(1));
        serverInterfaceOf.push_back(out.server->GetObject<Ipv4>()->GetInterfaceForDevice(pair.Get(0)));
    }

    // Radio devices: one per gNB, one per UE, all on the RanSystem, addresses 7.0.0.0/8.
    Ipv4AddressHelper radioAddresses("7.0.0.0", "255.0.0.0");
    for (uint32_t c = 0; c < gnbs.GetN(); ++c)
    {
        auto dev = CreateObject<RanNetDevice>();
        dev->SetMtu(settings.mtuBytes);
        dev->Attach(out.system, RanNetDevice::Role::Gnb, c);
        gnbs.Get(c)->AddDevice(dev);
        out.system->SetGnbDevice(c, dev);
        out.gnbDevices.push_back(dev);
        radioAddresses.Assign(NetDeviceContainer(dev));
    }
    for (uint32_t u = 0; u < ues.GetN(); ++u)
    {
        auto dev = CreateObject<RanNetDevice>();
        dev->SetMtu(settings.mtuBytes);
        dev->Attach(out.system, RanNetDevice::Role::Ue, u);
        ues.Get(u)->AddDevice(dev);
        out.system->SetUeDevice(u, dev);
        out.ueDevices.push_back(dev);
        Ipv4Address address = radioAddresses.Assign(NetDeviceContainer(dev)).GetAddress(0);
        out.ueAddresses.push_back(address);
        out.system->MapAddress(address, u);
        // Everything from a UE goes over the radio.
        Ptr<Ipv4> ipv4 = ues.Get(u)->GetObject<Ipv4>();
        routing.GetStaticRouting(ipv4)->SetDefaultRoute(Ipv4Address("7.0.0.1"), ipv4->GetInterfaceForDevice(dev));
    }
    // No queue discs: the RanSystem's per-UE queues are the only radio queues, and the backhaul is
    // provisioned not to queue (ns-3's default FqCoDel costs time per packet for nothing here).
    TrafficControlHelper tc;
    auto uninstall = [&tc](Ptr<Node> node) {
        Ptr<TrafficControlLayer> layer = node->GetObject<TrafficControlLayer>();
        for (uint32_t i = 0; i < node->GetNDevices(); ++i)
        {
            if (layer && layer->GetRootQueueDiscOnDevice(node->GetDevice(i)))
            {
                tc.Uninstall(node->GetDevice(i));
            }
        }
    };
    uninstall(out.server);
    for (uint32_t c = 0; c < gnbs.GetN(); ++c)
    {
        uninstall(gnbs.Get(c));
    }
    for (uint32_t u = 0; u < ues.GetN(); ++u)
    {
        uninstall(ues.Get(u));
    }
    out.system->Start();

    // Server: UE u through the gNB of its initial serving cell. gNBs: UEs over the radio, the rest
    // to the server.
    Ptr<Ipv4StaticRouting> serverRouting = routing.GetStaticRouting(out.server->GetObject<Ipv4>());
    for (uint32_t u = 0; u < ues.GetN(); ++u)
    {
        uint32_t c = out.system->ServingCell(u);
        serverRouting->AddHostRouteTo(out.ueAddresses[u], gnbBackhaulAddress[c], serverInterfaceOf[c]);
    }
    for (uint32_t c = 0; c < gnbs.GetN(); ++c)
    {
        Ptr<Ipv4> ipv4 = gnbs.Get(c)->GetObject<Ipv4>();
        Ptr<Ipv4StaticRouting> gnbRouting = routing.GetStaticRouting(ipv4);
        gnbRouting->AddNetworkRouteTo(Ipv4Address("7.0.0.0"),
                                      Ipv4Mask("255.0.0.0"),
                                      ipv4->GetInterfaceForDevice(out.gnbDevices[c]));
        gnbRouting->SetDefaultRoute(serverBackhaulAddress[c], 1); // interface 1: the backhaul link
    }
    return out;
}

} // namespace ns6g::ran

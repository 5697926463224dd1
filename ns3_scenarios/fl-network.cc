// fl-network: the co-simulation clock of learner jobs (ns6g.learners.cosim.CoSimNetwork). A learner
// submits operations over the bridge's message channel - transfers of a true byte size between two
// nodes and computations of a FLOP count on one node, with dependencies - and asks the scenario to run
// the simulation until all or any of a set of them completed; the reply gives, per operation, when it
// started and ended in simulated time, the energy it cost its device and whether it succeeded. ns-3 owns
// the clock. See docs/cosim.md.
//
// This file builds the topology and answers the bridge's messages; the operations themselves run in
// fl/model/fl-operation-engine.h (FlOperationEngine) and the uplink shares in fl/model/fl-uplink-scheduler.h;
// the message records are fl/model/fl-records.h.
//
// Topology (built at every reset):
//   clients --RAN (uplink: FlUplinkScheduler's shares; downlink: PF)-- gNBs --backhaul
//   (RanHelper: 10 Gbit/s, 1 ms)-- core router (RanHelper's server node) --edge links-- edge/0..edges-1
//                                                                        |--WAN link-- cloud
//                                                                        \--regional link-- regional
//   `cells` gNBs (1, 3 or 7) on RanHelper's hexagonal layout with inter-site distance sqrt(3) *
//   cell-radius-m; `clients` UEs dropped uniformly in a disk of radius cell-radius-m (at least 10 m from
//   the gNB) around a uniformly chosen gNB (RNG stream 10), static; association by strongest RSRP.
//   Every node has a Processor from the device catalogue: client i runs client-devices[i mod n], edge
//   servers edge-device, the cloud cloud-device, the regional data centre regional-device (one FIFO core at
//   the device's peak FLOP/s). Node indices: clients 0..clients-1, edges next, then the cloud, then the
//   regional data centre (a tier between edge and cloud: multi-hop split learning's middle hop).
//
// Operations (ids 1, 2, 3, ... in submission order; an op starts when all its dependencies completed):
//   * transfer(src, dst, bytes): a real UDP flow in task-transfer format (60 000-byte datagrams, 24-byte
//     header: op id, burst bytes, kind 0, src node) from src's socket to dst's, routed over RAN,
//     backhaul, edge links and WAN (client -> client goes up to the gNB and down again). Sent in bursts
//     of about 1 MB, at most 4 of them unreceived at once (window released by the receiver's progress).
//     Done when dst has received every payload byte. src == dst completes at once with no packets.
//     Energy: radio senders (clients) pay the transmit energy of the uplink slots they transmitted in
//     while the transfer was in flight, each slot at the power actually sent (TS 38.213 power control,
//     at most ue-tx-power-dbm), shared between the client's uplink transfers in flight in proportion to
//     the bytes each delivered meanwhile; wired senders pay 0.
//   * compute(node, flops): the node's Processor runs the FLOPs (queueing FIFO behind its other work);
//     energy flops x the device's J/FLOP. Its completion's queue_s is the time it waited for the
//     processor (start to first service), so end - start - queue_s is its service time flops / FLOP/s.
// Queues: the RAN's per-UE queues (4 GB) and the point-to-point device queues (10^8 packets) are sized
//   so that nothing is dropped; a drop anyway ends the run with an error rather than a transfer that
//   never completes.
// Uplink scheduling: every cell's uplink runs the "external" scheduler; each slot this scenario gives the
//   cell's RBGs to its clients with an uplink transfer in flight, in proportion to their shares (weighted
//   round robin with credits: each slot a client earns share x RBGs and every RBG it gets costs 1).
//   A client's share is set through the `uplink_share` record (0 < share <= 1: that fraction of the
//   cell's RBGs while it uploads) or automatic (share < 0, the default): automatic clients split what
//   the explicit ones leave equally; if a cell's shares add up to more than 1 they are scaled to sum 1.
// Cell edge: a client is given at most the RBGs its power supports (power headroom); at CQI 0 it still
//   sends at the lowest MCS; if none of its transport blocks decodes for radio-link-failure-s it suffers a
//   radio link failure: it is disconnected then, as below, with cause 2 in its ops' completions.
// Disconnect (`disconnect` record: client, at_s): at at_s the client's operations in flight and
//   waiting fail (end = at_s), so do their dependants and every later operation that involves it; it
//   gets no more uplink RBGs and its transfers send no more bursts. Data already queued at the gNB for
//   it (at most one window per transfer) is still sent (air time used): the RanSystem cannot empty a
//   UE's queue.
//
// Reconnect (`reconnect` record: client, at_s): a client gone by a disconnect takes part again at at_s;
//   operations submitted from then on that involve it run.
// Sidelink (--sidelink): every client also carries a D2D sidelink (SidelinkHelper, the sidelink-* options);
//   a client -> client transfer goes to the receiver's sidelink address over it, not through the gNB, and
//   is no RAN uplink (no RBGs, 0 J from the engine). `sidelink_query` reports per link the rate estimate
//   and the bytes and transmissions ns-3 counted on it.
// Message channel (record layouts below; docs/cosim.md):
//   dependency[] -> completion[0]: edges (op, after) of operations about to be submitted
//   op[]         -> completion[0]: submit operations (ids must continue the sequence)
//   run[]        -> completion[]:  run until all (any_of = 0) / any (any_of = 1) of the listed ops
//                                  completed; the reply lists every op that completed or failed since
//                                  the last run reply, in completion order
//   uplink_share[] -> completion[0], disconnect[] -> completion[0], reconnect[] -> completion[0]
//   sidelink_query[] -> sidelink_state[]: per (tx, rx) client pair the sidelink's rate estimate (bit/s),
//                                  delivered bytes, transmissions, failed transmissions, dropped bytes
//   link_failures[0] -> link_failure[]: every radio link failure of the episode (client, at_s), in order
//   channel[]    -> channel_state[]: per listed client its serving cell, RSRP (dBm), uplink CQI (mean over
//                                  the cell's RBGs), the uplink rate (bit/s) it would get alone in its
//                                  cell (expected goodput with HARQ on the RBGs its power supports) and
//                                  whether its radio link failed
// The observation (1,) float64 is the simulated time; the action is unused (Discrete(1), refused).
#include "bridge/ns6g-bridge.h"
#include "bridge/ns6g-serve.h"
#include "options/fl-network-options.h"
#include "fl/model/fl-operation-engine.h"
#include "mec/helper/mec-network-helper.h"
#include "mec/model/device-catalogue.h"
#include "ran/helper/host-route-table.h"
#include "ran/helper/ran-helper.h"
#include "ran/helper/sidelink-helper.h"
#include "ran/model/ran-channel.h"
#include "ran/model/ran-link.h"
#include "ran/model/ran-phy.h"
#include "ran/model/ran-sidelink.h"
#include "ran/model/ran-system.h"

#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/mobility-module.h"
#include "ns3/network-module.h"
#include "ns3/point-to-point-module.h"
#include "ns3/traffic-control-module.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iostream>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

using namespace ns3;
using namespace ns6g::ran;
using namespace ns6g::mec;
using namespace ns6g::fl;

namespace
{

constexpr uint16_t kMtuBytes = 65'535;
constexpr uint32_t kRanQueueBytes = 4'000'000'000U;         //!< per UE and direction: never the limit
constexpr const char* kP2pQueuePackets = "100000000p";      //!< per point-to-point device

// The options (defaults, CommandLine, range checks) are generated from FlNetworkConfig, their one
// declaration (ns3_scenarios/options/fl-network-options.h).
struct Params : ns6g::FlNetworkOptions
{
    std::string catalogue;  //!< device catalogue CSV (path), which the Python side adds

    void Register(ns3::CommandLine& cmd)
    {
        FlNetworkOptions::Register(cmd);
        cmd.AddValue("catalogue", "device catalogue CSV", catalogue);
    }
};

// The message records are fl/model/fl-records.h (ns6g::fl).

std::vector<std::string>
SplitNames(const std::string& list)
{
    std::vector<std::string> out;
    std::stringstream in(list);
    std::string item;
    while (std::getline(in, item, ','))
    {
        out.push_back(item);
    }
    return out;
}

/** A message service: learner transfers and computations on the simulated network (docs/cosim.md). */
class FlNetworkEnv : public ns6g::MessageService
{
  public:
    explicit FlNetworkEnv(Params p)
        : m_p(std::move(p))
    {
        m_carrier =
            MakeCarrier(m_p.radio.frequencyHz, m_p.radio.bandwidthHz, static_cast<int>(m_p.radio.numerology), 0);
        const auto catalogue = LoadDeviceCatalogue(m_p.catalogue);
        for (const auto& name : SplitNames(m_p.clientDevices))
        {
            m_clientDevices.push_back(FindDevice(catalogue, name));
        }
        if (m_clientDevices.empty())
        {
            throw std::invalid_argument("--client-devices names no device");
        }
        m_edgeDevice = FindDevice(catalogue, m_p.edgeDevice);
        m_cloudDevice = FindDevice(catalogue, m_p.cloudDevice);
        m_regionalDevice = FindDevice(catalogue, m_p.regionalDevice);
    }

    std::vector<ns6g::RecordType> GetRecordTypes() override
    {
        return {
            {"dependency", sizeof(DependencyRecord),
             {NS6G_FIELD(DependencyRecord, op, "op"),
              NS6G_FIELD(DependencyRecord, after, "after")}},
            {"op", sizeof(OpRecord),
             {NS6G_FIELD(OpRecord, id, "id"), NS6G_FIELD(OpRecord, kind, "kind"),
              NS6G_FIELD(OpRecord, node, "node"), NS6G_FIELD(OpRecord, dst, "dst"),
              NS6G_FIELD(OpRecord, bytes, "bytes"),
              NS6G_FIELD(OpRecord, flops, "flops")}},
            {"run", sizeof(RunRecord),
             {NS6G_FIELD(RunRecord, op, "op"), NS6G_FIELD(RunRecord, anyOf, "any_of")}},
            {"uplink_share", sizeof(UplinkShareRecord),
             {NS6G_FIELD(UplinkShareRecord, client, "client"),
              NS6G_FIELD(UplinkShareRecord, share, "share")}},
            {"disconnect", sizeof(DisconnectRecord),
             {NS6G_FIELD(DisconnectRecord, client, "client"),
              NS6G_FIELD(DisconnectRecord, atS, "at_s")}},
            {"completion", sizeof(CompletionRecord),
             {NS6G_FIELD(CompletionRecord, op, "op"),
              NS6G_FIELD(CompletionRecord, startS, "start_s"),
              NS6G_FIELD(CompletionRecord, endS, "end_s"),
              NS6G_FIELD(CompletionRecord, energyJ, "energy_j"),
              NS6G_FIELD(CompletionRecord, queueS, "queue_s"),
              NS6G_FIELD(CompletionRecord, ok, "ok"),
              NS6G_FIELD(CompletionRecord, cause, "cause")}},
            {"reconnect", sizeof(DisconnectRecord),
             {NS6G_FIELD(DisconnectRecord, client, "client"),
              NS6G_FIELD(DisconnectRecord, atS, "at_s")}},
            {"sidelink_query", sizeof(SidelinkQueryRecord),
             {NS6G_FIELD(SidelinkQueryRecord, tx, "tx"), NS6G_FIELD(SidelinkQueryRecord, rx, "rx")}},
            {"sidelink_state", sizeof(SidelinkStateRecord),
             {NS6G_FIELD(SidelinkStateRecord, tx, "tx"), NS6G_FIELD(SidelinkStateRecord, rx, "rx"),
              NS6G_FIELD(SidelinkStateRecord, rateBps, "rate_bps"),
              NS6G_FIELD(SidelinkStateRecord, deliveredBytes, "delivered_bytes"),
              NS6G_FIELD(SidelinkStateRecord, transmissions, "transmissions"),
              NS6G_FIELD(SidelinkStateRecord, failedTransmissions, "failed_transmissions"),
              NS6G_FIELD(SidelinkStateRecord, droppedBytes, "dropped_bytes")}},
            {"link_failures", sizeof(LinkFailureQueryRecord),
             {NS6G_FIELD(LinkFailureQueryRecord, pad, "pad")}},
            {"link_failure", sizeof(LinkFailureRecord),
             {NS6G_FIELD(LinkFailureRecord, client, "client"),
              NS6G_FIELD(LinkFailureRecord, atS, "at_s")}},
            {"channel", sizeof(ChannelQueryRecord),
             {NS6G_FIELD(ChannelQueryRecord, client, "client")}},
            {"channel_state", sizeof(ChannelStateRecord),
             {NS6G_FIELD(ChannelStateRecord, client, "client"),
              NS6G_FIELD(ChannelStateRecord, cell, "cell"),
              NS6G_FIELD(ChannelStateRecord, rsrpDbm, "rsrp_dbm"),
              NS6G_FIELD(ChannelStateRecord, uplinkRateBps, "uplink_rate_bps"),
              NS6G_FIELD(ChannelStateRecord, cqi, "cqi"),
              NS6G_FIELD(ChannelStateRecord, linkFailed, "link_failed"),
              NS6G_FIELD(ChannelStateRecord, ulRbgs, "ul_rbgs")}},
        };
    }

    void SetupEpisode() override
    {
        BuildNetwork();
        Simulator::Schedule(Seconds(0), [] { Simulator::Stop(); }); // the reset returns at t = 0
    }

    ns6g::Message HandleMessage(const ns6g::Message& request) override
    {
        try
        {
            return Answer(request);
        }
        catch (const FlRequestError& e)
        {
            throw ns6g::InvalidRequest(e.what());
        }
    }

  private:
    ns6g::Message Answer(const ns6g::Message& request)
    {
        if (request.type == "dependency")
        {
            m_engine.AddDependencies(request.Records<DependencyRecord>(), request.count);
        }
        else if (request.type == "op")
        {
            m_engine.Submit(request.Records<OpRecord>(), request.count);
        }
        else if (request.type == "run")
        {
            m_engine.Run(request.Records<RunRecord>(), request.count);
            return ns6g::Message::From("completion", m_engine.TakeCompletions());
        }
        else if (request.type == "uplink_share")
        {
            m_engine.SetShares(request.Records<UplinkShareRecord>(), request.count);
        }
        else if (request.type == "disconnect")
        {
            m_engine.ScheduleDisconnects(request.Records<DisconnectRecord>(), request.count);
        }
        else if (request.type == "reconnect")
        {
            m_engine.ScheduleReconnects(request.Records<DisconnectRecord>(), request.count);
        }
        else if (request.type == "sidelink_query")
        {
            return ns6g::Message::From("sidelink_state", SidelinkStates(request.Records<SidelinkQueryRecord>(),
                                                                        request.count));
        }
        else if (request.type == "link_failures")
        {
            return ns6g::Message::From("link_failure", m_engine.LinkFailures());
        }
        else if (request.type == "channel")
        {
            return ns6g::Message::From("channel_state", ChannelStates(request.Records<ChannelQueryRecord>(),
                                                                      request.count));
        }
        else
        {
            throw ns6g::InvalidRequest("fl-network: unexpected record type '" + request.type + "'");
        }
        return ns6g::Message::From("completion", std::vector<CompletionRecord>{});
    }

    uint32_t NodeCount() const
    {
        return m_p.clients + m_p.edges + 2;
    }

    Ptr<Node> NodeOf(uint32_t index) const
    {
        if (index < m_p.clients)
        {
            return m_ues.Get(index);
        }
        if (index < m_p.clients + m_p.edges)
        {
            return m_edgeNodes.Get(index - m_p.clients);
        }
        return index == m_p.clients + m_p.edges ? m_cloud : m_regional;
    }

    // ---- topology ------------------------------------------------------------------------------

    void BuildNetwork()
    {
        const Scenario scenario = ParseScenario(m_p.radio.scenario);
        m_gnbs = NodeContainer();
        m_ues = NodeContainer();
        m_edgeNodes = NodeContainer();
        m_gnbs.Create(m_p.cells);
        m_ues.Create(m_p.clients);
        PlaceNodes(scenario);

        m_link = RanHelper::CreateLink(m_p.radio, m_gnbs, m_ues, 1000);
        Ptr<RanPhy> phy = m_link->GetPhy();
        phy->SetAttribute("UlTxPower", DoubleValue(m_p.ueTxPowerDbm));
        phy->SetAttribute("UlPowerControl", BooleanValue(m_p.ulPowerControl));
        phy->SetAttribute("UlP0", DoubleValue(m_p.ulP0Dbm));
        phy->SetAttribute("UlAlpha", DoubleValue(m_p.ulAlpha));
        // A channel_state query evaluates links the simulation has not asked for yet: with a fading
        // stream per link it reads what the simulation will see and draws nothing the others use.
        m_link->GetChannel()->SetAttribute("LinkFadingStreams", BooleanValue(true));

        RanHelperSettings settings;
        settings.dlScheduler = "pf";
        settings.ulScheduler = "external";
        settings.dlRbgs = m_carrier.nRbg;
        settings.ulRbgs = m_carrier.nRbg;
        settings.mtuBytes = kMtuBytes;
        settings.slotPeriod = Seconds(m_carrier.numerology.SlotDurationS());
        settings.maxQueueBytes = kRanQueueBytes;
        settings.backhaulRateBps = m_p.backhaulRateMbps * 1e6;
        settings.backhaulDelay = Seconds(m_p.backhaulDelayMs / 1e3);
        m_ran = RanHelper::Install(m_gnbs, m_ues, m_link, settings);
        m_ran.system->SetAttribute("RadioLinkFailureTime", TimeValue(Seconds(m_p.radioLinkFailureS)));

        // Edge servers and the cloud hang off the core router (RanHelper's server node).
        Ptr<Node> router = m_ran.server;
        HostRouteTable::MoveHostRoutes(router);
        m_edgeNodes.Create(m_p.edges);
        m_cloud = CreateObject<Node>();
        m_regional = CreateObject<Node>();
        InternetStackHelper internet;
        internet.Install(m_edgeNodes);
        internet.Install(m_cloud);
        internet.Install(m_regional);
        m_address.assign(NodeCount(), Ipv4Address());
        for (uint32_t u = 0; u < m_p.clients; ++u)
        {
            m_address[u] = m_ran.ueAddresses[u];
        }
        for (uint32_t j = 0; j < m_p.edges; ++j)
        {
            m_address[m_p.clients + j] =
                ConnectToRouter(router, m_edgeNodes.Get(j), m_p.edgeLinkRateMbps, m_p.edgeLinkDelayMs, 11, j);
        }
        m_address[m_p.clients + m_p.edges] = ConnectToRouter(router, m_cloud, m_p.wanRateMbps, m_p.wanDelayMs, 12, 0);
        m_address[m_p.clients + m_p.edges + 1] =
            ConnectToRouter(router, m_regional, m_p.regionalLinkRateMbps, m_p.regionalLinkDelayMs, 13, 0);
        // Every point-to-point device (RanHelper's backhaul too) gets the large queue.
        for (uint32_t c = 0; c < m_p.cells; ++c)
        {
            EnlargeQueues(m_gnbs.Get(c));
        }
        for (uint32_t j = 0; j < m_p.edges; ++j)
        {
            EnlargeQueues(m_edgeNodes.Get(j));
        }
        EnlargeQueues(m_cloud);
        EnlargeQueues(m_regional);
        EnlargeQueues(router);

        FlTopology topology{.clients = m_p.clients, .cells = m_p.cells, .link = m_link, .system = m_ran.system,
                            .uplinkContext = m_gnbs.Get(0), .carrier = m_carrier, .runLimitS = m_p.runLimitS};
        for (uint32_t i = 0; i < NodeCount(); ++i)
        {
            topology.nodes.push_back(NodeOf(i));
            topology.devices.push_back(DeviceOf(i));
        }
        topology.addresses = m_address;
        if (m_p.sidelink)
        {
            // Every client carries a D2D sidelink on its own carrier; client -> client transfers use it.
            // The queue is never the limit (the engine's window holds ~4 MB per transfer).
            const auto sl = ns6g::ran::SidelinkSettingsOf(m_p, kMtuBytes, kRanQueueBytes);
            m_sidelink = SidelinkHelper::Install(m_ran, m_ues, sl, 2000);
            topology.sidelinkAddresses = m_sidelink.addresses;
        }
        else
        {
            m_sidelink = SidelinkDeployment{};
        }
        m_engine.Setup(std::move(topology));
    }

    const Device& DeviceOf(uint32_t index) const
    {
        if (index < m_p.clients)
        {
            return m_clientDevices[index % m_clientDevices.size()];
        }
        if (index < m_p.clients + m_p.edges)
        {
            return m_edgeDevice;
        }
        return index == m_p.clients + m_p.edges ? m_cloudDevice : m_regionalDevice;
    }

    /**
     * A point-to-point link router <-> node (network first.index.0.0/30, no queue discs: MecNetworkHelper,
     * as the MEC scenarios build theirs); the node's default route is the router. Returns its address.
     */
    Ipv4Address ConnectToRouter(Ptr<Node> router, Ptr<Node> node, double rateMbps, double delayMs, uint32_t first,
                                uint32_t index)
    {
        std::ostringstream network;
        network << first << "." << (index >> 8) << "." << (index & 0xff) << ".0";
        Ipv4AddressHelper addresses(network.str().c_str(), "255.255.255.252");
        const ns6g::mec::WiredLink link =
            ns6g::mec::MecNetworkHelper::Connect(router, node, rateMbps * 1e6, Seconds(delayMs / 1e3), kMtuBytes,
                                                 addresses);
        Ipv4StaticRoutingHelper routing;
        routing.GetStaticRouting(node->GetObject<Ipv4>())->SetDefaultRoute(link.ifaces.GetAddress(0),
                                                                          link.bInterface);
        return link.ifaces.GetAddress(1);
    }

    /** Point-to-point device queues that never drop (their default holds 100 packets). */
    void EnlargeQueues(Ptr<Node> node)
    {
        for (uint32_t i = 0; i < node->GetNDevices(); ++i)
        {
            Ptr<PointToPointNetDevice> dev = DynamicCast<PointToPointNetDevice>(node->GetDevice(i));
            if (dev)
            {
                dev->GetQueue()->SetMaxSize(QueueSize(kP2pQueuePackets));
                dev->TraceConnectWithoutContext("MacTxDrop", MakeCallback(&FlOperationEngine::NotifyDrop, &m_engine));
            }
        }
    }

    void PlaceNodes(Scenario scenario)
    {
        const double isd = m_p.cellRadiusM * std::sqrt(3.0);
        const std::vector<Vector> sites = RanHelper::HexagonalSites(m_p.cells, isd);
        RanHelper::PlaceGnbs(m_gnbs, sites, DefaultBsHeightM(scenario));
        auto uniform = CreateObject<UniformRandomVariable>();
        uniform->SetStream(10);
        const double rMin = std::min(10.0, m_p.cellRadiusM);
        auto positions = CreateObject<ListPositionAllocator>();
        for (uint32_t u = 0; u < m_p.clients; ++u)
        {
            const Vector& centre = sites[uniform->GetInteger(0, m_p.cells - 1)];
            positions->Add(RanHelper::UniformInDisk(uniform, centre, m_p.cellRadiusM, rMin, 1.5));
        }
        MobilityHelper mobility;
        mobility.SetPositionAllocator(positions);
        mobility.SetMobilityModel("ns3::ConstantPositionMobilityModel");
        mobility.Install(m_ues);
    }




























    // ---- channel state ---------------------------------------------------------------------------

    /** The channel state of the asked clients now: serving cell, RSRP, the uplink CQI (mean over the
     *  cell's RBGs, rounded), the uplink goodput the client would get alone in its cell (the block the
     *  link model would send on the RBGs its power supports, at its expected HARQ transmissions) and
     *  whether its radio link failed (then the rate is 0). */
    std::vector<ChannelStateRecord> ChannelStates(const ChannelQueryRecord* records, size_t count)
    {
        std::vector<ChannelStateRecord> out;
        out.reserve(count);
        std::vector<uint32_t> all(m_carrier.nRbg);
        std::iota(all.begin(), all.end(), 0U);
        const double slotS = m_ran.system->GetSlotPeriod().GetSeconds();
        for (size_t i = 0; i < count; ++i)
        {
            const uint32_t u = records[i].client;
            if (u >= m_p.clients)
            {
                throw ns6g::InvalidRequest("channel: client " + std::to_string(u) + " out of range (clients: " +
                                           std::to_string(m_p.clients) + ")");
            }
            const uint32_t cell = m_ran.system->ServingCell(u);
            int cqiSum = 0;
            for (uint32_t rbg = 0; rbg < m_carrier.nRbg; ++rbg)
            {
                cqiSum += m_link->RbgCqi(u, cell, rbg, Direction::Uplink);
            }
            const auto cqi = static_cast<uint32_t>(std::lround(static_cast<double>(cqiSum) / m_carrier.nRbg));
            const bool failed = m_ran.system->LinkFailed(u);
            const std::vector<uint32_t> usable = m_link->UsableRbgs(u, cell, Direction::Uplink, all);
            const TransportBlock tb = m_link->NewTransportBlock(u, cell, usable, Direction::Uplink);
            const double rate = failed ? 0.0 : m_link->ExpectedBitsPerTransmission(tb) / slotS;
            out.push_back(ChannelStateRecord{u, cell, m_link->RsrpDbm(u, cell), rate, cqi, failed ? 1U : 0U,
                                             static_cast<uint32_t>(usable.size()), 0});
        }
        return out;
    }



    /** State of the asked client -> client sidelinks (needs --sidelink). */
    std::vector<SidelinkStateRecord> SidelinkStates(const SidelinkQueryRecord* records, size_t count)
    {
        if (!m_sidelink.sidelink)
        {
            throw ns6g::InvalidRequest("sidelink_query: this network has no sidelink (start it with sidelink=True)");
        }
        std::vector<SidelinkStateRecord> out;
        for (size_t i = 0; i < count; ++i)
        {
            const uint32_t tx = records[i].tx;
            const uint32_t rx = records[i].rx;
            if (tx >= m_p.clients || rx >= m_p.clients || tx == rx)
            {
                throw ns6g::InvalidRequest("sidelink_query: (" + std::to_string(tx) + ", " + std::to_string(rx) +
                                           ") is not a pair of two clients in 0.." +
                                           std::to_string(m_p.clients - 1));
            }
            const SidelinkCounters c = m_sidelink.sidelink->Counters(tx, rx);
            const double rate = m_sidelink.sidelink->EstimateRateBps(tx, rx, m_sidelink.sidelink->GetNSubchannels());
            out.push_back(SidelinkStateRecord{tx, rx, rate, c.deliveredBytes, c.transmissions, c.failedTransmissions,
                                              c.droppedBytes});
        }
        return out;
    }

    Params m_p;
    Carrier m_carrier;
    std::vector<Device> m_clientDevices;
    Device m_edgeDevice;
    Device m_cloudDevice;
    Device m_regionalDevice;

    NodeContainer m_gnbs;
    NodeContainer m_ues;
    NodeContainer m_edgeNodes;
    Ptr<Node> m_cloud;
    Ptr<Node> m_regional;
    Ptr<RanLink> m_link;
    RanDeployment m_ran;
    SidelinkDeployment m_sidelink;               //!< with --sidelink: the clients' D2D sidelink
    std::vector<Ipv4Address> m_address;          //!< per node index

    FlOperationEngine m_engine; //!< the operations, over the topology above
};

} // namespace

int
main(int argc, char* argv[])
{
    // The carrier is checked with the radio options; unknown devices are refused by FlNetworkEnv's constructor.
    return ns6g::ServeScenario<FlNetworkEnv>(argc, argv, Params{}, {.check = [](const Params& p) {
                                                 return p.catalogue.empty() ? std::vector<std::string>{"--catalogue is needed"}
                                                                            : std::vector<std::string>{};
                                             }});
}

// fl-network: the co-simulation clock of learner jobs (ns6g.learners.cosim.CoSimNetwork). A learner
// submits operations over the bridge's message channel - transfers of a true byte size between two
// nodes and computations of a FLOP count on one node, with dependencies - and asks the scenario to run
// the simulation until all or any of a set of them completed; the reply gives, per operation, when it
// started and ended in simulated time, the energy it cost its device and whether it succeeded. ns-3 owns
// the clock. See docs/cosim.md.
//
// Topology (built at every reset):
//   clients --RAN (uplink: weighted external scheduler below; downlink: PF)-- gNBs --backhaul
//   (RanHelper: 10 Gbit/s, 1 ms)-- core router (RanHelper's server node) --edge links-- edge/0..edges-1
//                                                                        \--WAN link-- cloud
//   `cells` gNBs (1, 3 or 7) on RanHelper's hexagonal layout with inter-site distance sqrt(3) *
//   cell-radius-m; `clients` UEs dropped uniformly in a disk of radius cell-radius-m (at least 10 m from
//   the gNB) around a uniformly chosen gNB (RNG stream 10), static; association by strongest RSRP.
//   Every node has a Processor from the device catalogue: client i runs client-devices[i mod n], edge
//   servers edge-device, the cloud cloud-device (one FIFO core at the device's peak FLOP/s).
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
// Message channel (record layouts below; docs/cosim.md):
//   dependency[] -> completion[0]: edges (op, after) of operations about to be submitted
//   op[]         -> completion[0]: submit operations (ids must continue the sequence)
//   run[]        -> completion[]:  run until all (any_of = 0) / any (any_of = 1) of the listed ops
//                                  completed; the reply lists every op that completed or failed since
//                                  the last run reply, in completion order
//   uplink_share[] -> completion[0], disconnect[] -> completion[0]
//   link_failures[0] -> link_failure[]: every radio link failure of the episode (client, at_s), in order
//   channel[]    -> channel_state[]: per listed client its serving cell, RSRP (dBm), uplink CQI (mean over
//                                  the cell's RBGs), the uplink rate (bit/s) it would get alone in its
//                                  cell (expected goodput with HARQ on the RBGs its power supports) and
//                                  whether its radio link failed
// The observation (1,) float64 is the simulated time; the action is unused (Discrete(1), refused).
#include "bridge/ns6g-bridge.h"
#include "mec/model/device-catalogue.h"
#include "mec/model/processor.h"
#include "mec/model/task-transfer.h"
#include "ran/helper/ran-helper.h"
#include "ran/model/ran-channel.h"
#include "ran/model/ran-link.h"
#include "ran/model/ran-phy.h"
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
#include <cstring>
#include <iostream>
#include <map>
#include <numeric>
#include <optional>
#include <queue>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

using namespace ns3;
using namespace ns6g::ran;
using namespace ns6g::mec;

namespace
{

constexpr uint16_t kPort = 9000;
constexpr uint16_t kMtuBytes = 65'535;
constexpr uint32_t kRanQueueBytes = 4'000'000'000U;         //!< per UE and direction: never the limit
constexpr const char* kP2pQueuePackets = "100000000p";      //!< per point-to-point device
constexpr uint32_t kTransferKind = 0;                       //!< TaskWireHeader::kind of co-sim data
// A transfer goes out in bursts of 17 full datagrams (1 019 592 payload bytes), at most kWindowBursts
// of them unreceived at once: the bytes held in queues stay bounded however large the transfer.
constexpr uint64_t kBurstBytes = 17 * (kMaxTaskDatagramBytes - sizeof(TaskWireHeader));
constexpr uint64_t kWindowBursts = 4;

struct Params
{
    uint32_t clients{10};
    uint32_t cells{1};
    uint32_t edges{1};
    double cellRadiusM{100.0};
    //! carrier and channel: 3.5 GHz, scatterers at 3 km/h (the pedestrian speed of 3GPP evaluations), the rest
    //! as RanRadioSettings
    RanRadioSettings radio{.frequencyHz = 3.5e9, .scattererSpeedMps = 3.0 / 3.6};
    double ueTxPowerDbm{23.0};
    bool ulPowerControl{true};
    double ulP0Dbm{-80.0};
    double ulAlpha{1.0};
    double radioLinkFailureS{2.0};
    std::string clientDevices{"smartphone"}; //!< comma-separated catalogue names, client i: [i mod n]
    std::string edgeDevice{"edge-gpu-server"};
    std::string cloudDevice{"cloud-gpu"};
    std::string catalogue;
    double backhaulRateMbps{10'000.0};
    double backhaulDelayMs{1.0};
    double edgeLinkRateMbps{10'000.0};
    double edgeLinkDelayMs{0.1};
    double wanRateMbps{1'000.0};
    double wanDelayMs{20.0};
    double runLimitS{1e6};
};

// ---- wire records (keep in step with learners/cosim.py) -------------------------------------------

struct DependencyRecord
{
    uint64_t op;
    uint64_t after;
};

enum OpKind : uint32_t
{
    kTransfer = 0,
    kCompute = 1,
};

struct OpRecord
{
    uint64_t id;
    uint32_t kind;  //!< OpKind
    uint32_t node;  //!< transfer: source node; compute: the node
    uint32_t dst;   //!< transfer: destination node; compute: unused
    uint32_t pad;
    uint64_t bytes; //!< transfer payload bytes
    double flops;   //!< compute FLOPs
};

struct RunRecord
{
    uint64_t op;
    uint32_t anyOf; //!< 0: all of the listed ops, 1: any of them (the same in every record)
    uint32_t pad;
};

struct UplinkShareRecord
{
    uint32_t client;
    uint32_t pad;
    double share; //!< (0, 1]; < 0: automatic
};

struct DisconnectRecord
{
    uint32_t client;
    uint32_t pad;
    double atS;
};

struct ChannelQueryRecord
{
    uint32_t client; //!< client index whose channel state is asked for
    uint32_t pad;
};

struct ChannelStateRecord
{
    uint32_t client;
    uint32_t cell;         //!< serving cell index
    double rsrpDbm;        //!< reference signal received power from the serving cell (dBm)
    double uplinkRateBps;  //!< uplink goodput (bit/s) alone in the cell, on the RBGs its power supports
    uint32_t cqi;          //!< wideband uplink CQI: the mean over the cell's RBGs, rounded
    uint32_t linkFailed;   //!< 1 after a radio link failure
    uint32_t ulRbgs;       //!< RBGs the client's power supports (power headroom): its most alone
    uint32_t pad;
};

struct LinkFailureQueryRecord
{
    uint32_t pad;
};

struct LinkFailureRecord
{
    uint32_t client;
    uint32_t pad;
    double atS; //!< simulated time of the radio link failure (s)
};

/** Why an op failed (CompletionRecord::cause). */
enum FailureCause : uint32_t
{
    kNoFailure = 0,
    kDisconnected = 1,      //!< its node was disconnected (`disconnect` record)
    kRadioLinkFailure = 2,  //!< its node's radio link failed
    kDependencyFailed = 3,  //!< an op it waited for failed
};

struct CompletionRecord
{
    uint64_t op;
    double startS;
    double endS;
    double energyJ;
    double queueS; //!< computations: time waiting for the processor (start to first service); else 0
    uint32_t ok;
    uint32_t cause; //!< FailureCause
};

#define NS6G_RECORD_FIELD(Type, name, dtype, member) {name, dtype, offsetof(Type, member)}

enum class OpState : uint8_t
{
    kUnknown = 0, //!< id not submitted yet
    kWaiting,     //!< dependencies not complete
    kRunning,
    kDone,
    kFailed,
};

struct Op
{
    uint64_t id{0};
    OpKind kind{kTransfer};
    uint32_t node{0};
    uint32_t dst{0};
    uint64_t bytes{0};
    double flops{0.0};
    uint32_t waitingFor{0};            //!< dependencies not yet complete
    std::vector<uint64_t> dependants;  //!< ops that wait for this one
    Time start;
    std::optional<Time> serviceStart;  //!< computations: when the processor began serving it
    uint64_t sent{0};                  //!< payload bytes handed to the socket
    uint64_t received{0};
    bool sendScheduled{false};         //!< a SendBursts event is pending
    double txEnergyJ{0.0};             //!< uplink transmit energy charged to this transfer (J)
    uint64_t chargedBytes{0};          //!< `received` when transmit energy was last shared out
};

/** Per client: its uplink transfers in flight and the transmit energy already charged. */
struct ClientRadio
{
    std::vector<uint64_t> uplinks;
    double chargedEnergyJ{0.0};
    double share{-1.0};
    double credit{0.0};
    bool connected{true};
    FailureCause leftFor{kNoFailure}; //!< why it left, once disconnected
};

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

class FlNetworkEnv : public ns6g::GymEnv
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
    }

    ns6g::Space GetObservationSpace() override
    {
        return ns6g::Box({1}, 0.0, std::numeric_limits<double>::infinity(), ns6g::Dtype::kFloat64);
    }

    ns6g::Space GetActionSpace() override
    {
        return ns6g::Discrete(1);
    }

    std::vector<ns6g::RecordType> GetRecordTypes() override
    {
        return {
            {"dependency", sizeof(DependencyRecord),
             {NS6G_RECORD_FIELD(DependencyRecord, "op", "<u8", op),
              NS6G_RECORD_FIELD(DependencyRecord, "after", "<u8", after)}},
            {"op", sizeof(OpRecord),
             {NS6G_RECORD_FIELD(OpRecord, "id", "<u8", id), NS6G_RECORD_FIELD(OpRecord, "kind", "<u4", kind),
              NS6G_RECORD_FIELD(OpRecord, "node", "<u4", node), NS6G_RECORD_FIELD(OpRecord, "dst", "<u4", dst),
              NS6G_RECORD_FIELD(OpRecord, "bytes", "<u8", bytes),
              NS6G_RECORD_FIELD(OpRecord, "flops", "<f8", flops)}},
            {"run", sizeof(RunRecord),
             {NS6G_RECORD_FIELD(RunRecord, "op", "<u8", op), NS6G_RECORD_FIELD(RunRecord, "any_of", "<u4", anyOf)}},
            {"uplink_share", sizeof(UplinkShareRecord),
             {NS6G_RECORD_FIELD(UplinkShareRecord, "client", "<u4", client),
              NS6G_RECORD_FIELD(UplinkShareRecord, "share", "<f8", share)}},
            {"disconnect", sizeof(DisconnectRecord),
             {NS6G_RECORD_FIELD(DisconnectRecord, "client", "<u4", client),
              NS6G_RECORD_FIELD(DisconnectRecord, "at_s", "<f8", atS)}},
            {"completion", sizeof(CompletionRecord),
             {NS6G_RECORD_FIELD(CompletionRecord, "op", "<u8", op),
              NS6G_RECORD_FIELD(CompletionRecord, "start_s", "<f8", startS),
              NS6G_RECORD_FIELD(CompletionRecord, "end_s", "<f8", endS),
              NS6G_RECORD_FIELD(CompletionRecord, "energy_j", "<f8", energyJ),
              NS6G_RECORD_FIELD(CompletionRecord, "queue_s", "<f8", queueS),
              NS6G_RECORD_FIELD(CompletionRecord, "ok", "<u4", ok),
              NS6G_RECORD_FIELD(CompletionRecord, "cause", "<u4", cause)}},
            {"link_failures", sizeof(LinkFailureQueryRecord),
             {NS6G_RECORD_FIELD(LinkFailureQueryRecord, "pad", "<u4", pad)}},
            {"link_failure", sizeof(LinkFailureRecord),
             {NS6G_RECORD_FIELD(LinkFailureRecord, "client", "<u4", client),
              NS6G_RECORD_FIELD(LinkFailureRecord, "at_s", "<f8", atS)}},
            {"channel", sizeof(ChannelQueryRecord),
             {NS6G_RECORD_FIELD(ChannelQueryRecord, "client", "<u4", client)}},
            {"channel_state", sizeof(ChannelStateRecord),
             {NS6G_RECORD_FIELD(ChannelStateRecord, "client", "<u4", client),
              NS6G_RECORD_FIELD(ChannelStateRecord, "cell", "<u4", cell),
              NS6G_RECORD_FIELD(ChannelStateRecord, "rsrp_dbm", "<f8", rsrpDbm),
              NS6G_RECORD_FIELD(ChannelStateRecord, "uplink_rate_bps", "<f8", uplinkRateBps),
              NS6G_RECORD_FIELD(ChannelStateRecord, "cqi", "<u4", cqi),
              NS6G_RECORD_FIELD(ChannelStateRecord, "link_failed", "<u4", linkFailed),
              NS6G_RECORD_FIELD(ChannelStateRecord, "ul_rbgs", "<u4", ulRbgs)}},
        };
    }

    void SetupEpisode() override
    {
        BuildNetwork();
        m_ops.clear();
        m_state.assign(1, OpState::kUnknown); // index 0: no op has id 0
        m_pendingDeps.clear();
        m_done.clear();
        m_radio.assign(m_p.clients, ClientRadio{});
        m_waitFor.clear();
        m_waitAny = false;
        m_waitLeft = 0;
        m_dropped = 0;
        m_disconnected = 0;
        m_linkFailures.clear();
        m_uplinkTicking = false;
        m_ulAllocation.assign(m_p.cells, Allocation(m_carrier.nRbg, -1));
        Simulator::Schedule(Seconds(0), [] { Simulator::Stop(); }); // the reset returns at t = 0
    }

    Time GetStepTime() override
    {
        return Time::Max();
    }

    void GetObservation(const ns6g::DataView& obs) override
    {
        obs.Data<double>()[0] = Simulator::Now().GetSeconds();
    }

    double GetReward() override
    {
        return 0.0;
    }

    bool GetGameOver() override
    {
        return false;
    }

    bool ExecuteActions(const ns6g::DataView&) override
    {
        throw ns6g::InvalidRequest("fl-network takes no actions: use the message channel (docs/cosim.md)");
    }

    ns6g::Message HandleMessage(const ns6g::Message& request) override
    {
        if (request.type == "dependency")
        {
            AddDependencies(request.Records<DependencyRecord>(), request.count);
        }
        else if (request.type == "op")
        {
            Submit(request.Records<OpRecord>(), request.count);
        }
        else if (request.type == "run")
        {
            Run(request.Records<RunRecord>(), request.count);
            auto reply = ns6g::Message::From("completion", m_done);
            m_done.clear();
            return reply;
        }
        else if (request.type == "uplink_share")
        {
            SetShares(request.Records<UplinkShareRecord>(), request.count);
        }
        else if (request.type == "disconnect")
        {
            ScheduleDisconnects(request.Records<DisconnectRecord>(), request.count);
        }
        else if (request.type == "link_failures")
        {
            return ns6g::Message::From("link_failure", m_linkFailures);
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

  private:
    uint32_t NodeCount() const
    {
        return m_p.clients + m_p.edges + 1;
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
        return m_cloud;
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
        m_ran.system->TraceConnectWithoutContext("Drop", MakeCallback(&FlNetworkEnv::OnDrop, this));
        m_ran.system->SetAttribute("RadioLinkFailureTime", TimeValue(Seconds(m_p.radioLinkFailureS)));
        m_ran.system->TraceConnectWithoutContext("RadioLinkFailure",
                                                 MakeCallback(&FlNetworkEnv::OnRadioLinkFailure, this));

        // Edge servers and the cloud hang off the core router (RanHelper's server node).
        Ptr<Node> router = m_ran.server;
        m_edgeNodes.Create(m_p.edges);
        m_cloud = CreateObject<Node>();
        InternetStackHelper internet;
        internet.Install(m_edgeNodes);
        internet.Install(m_cloud);
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
        m_address[NodeCount() - 1] = ConnectToRouter(router, m_cloud, m_p.wanRateMbps, m_p.wanDelayMs, 12, 0);
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
        EnlargeQueues(router);

        m_processors.clear();
        for (uint32_t i = 0; i < NodeCount(); ++i)
        {
            m_processors.push_back(CreateDeviceProcessor(DeviceOf(i)));
            m_processors.back()->TraceConnectWithoutContext(
                "TaskStart",
                Callback<void, uint64_t, Time>([this, i](uint64_t task, Time) { OnServiceStart(i, task); }));
        }
        m_taskOps.assign(NodeCount(), {});
        m_tasksSubmitted.assign(NodeCount(), 0);
        m_sockets.clear();
        for (uint32_t i = 0; i < NodeCount(); ++i)
        {
            Ptr<Socket> socket = Socket::CreateSocket(NodeOf(i), UdpSocketFactory::GetTypeId());
            if (socket->Bind(InetSocketAddress(Ipv4Address::GetAny(), kPort)) != 0)
            {
                throw std::runtime_error("fl-network: cannot bind the transfer socket of node " + std::to_string(i));
            }
            socket->SetAttribute("RcvBufSize", UintegerValue(std::numeric_limits<uint32_t>::max()));
            socket->SetRecvCallback(MakeCallback(&FlNetworkEnv::OnReceive, this));
            m_sockets.push_back(socket);
        }
        for (uint32_t c = 0; c < m_p.cells; ++c)
        {
            m_ran.system->SetExternalAllocation(c, Direction::Uplink, Allocation(m_carrier.nRbg, -1));
        }
    }

    const Device& DeviceOf(uint32_t index) const
    {
        if (index < m_p.clients)
        {
            return m_clientDevices[index % m_clientDevices.size()];
        }
        return index < m_p.clients + m_p.edges ? m_edgeDevice : m_cloudDevice;
    }

    /** A point-to-point link router <-> node (network first.index.0.0/30); returns the node's address. */
    Ipv4Address ConnectToRouter(Ptr<Node> router, Ptr<Node> node, double rateMbps, double delayMs, uint32_t first,
                                uint32_t index)
    {
        PointToPointHelper p2p;
        p2p.SetDeviceAttribute("DataRate", DataRateValue(DataRate(static_cast<uint64_t>(rateMbps * 1e6))));
        p2p.SetDeviceAttribute("Mtu", UintegerValue(kMtuBytes));
        p2p.SetChannelAttribute("Delay", TimeValue(Seconds(delayMs / 1e3)));
        NetDeviceContainer pair = p2p.Install(router, node);
        std::ostringstream network;
        network << first << "." << (index >> 8) << "." << (index & 0xff) << ".0";
        Ipv4AddressHelper addresses(network.str().c_str(), "255.255.255.252");
        Ipv4InterfaceContainer ifaces = addresses.Assign(pair);
        Ipv4StaticRoutingHelper routing;
        Ptr<Ipv4> ipv4 = node->GetObject<Ipv4>();
        routing.GetStaticRouting(ipv4)->SetDefaultRoute(ifaces.GetAddress(0), ipv4->GetInterfaceForDevice(pair.Get(1)));
        UninstallQueueDisc(router, pair.Get(0));
        UninstallQueueDisc(node, pair.Get(1));
        return ifaces.GetAddress(1);
    }

    static void UninstallQueueDisc(Ptr<Node> node, Ptr<NetDevice> device)
    {
        Ptr<TrafficControlLayer> layer = node->GetObject<TrafficControlLayer>();
        if (layer && layer->GetRootQueueDiscOnDevice(device))
        {
            TrafficControlHelper().Uninstall(device);
        }
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
                dev->TraceConnectWithoutContext("MacTxDrop", MakeCallback(&FlNetworkEnv::OnDrop, this));
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

    void OnDrop(Ptr<const Packet>)
    {
        ++m_dropped;
        Simulator::Stop();
    }

    /** The RAN declared the client's radio link failed: it leaves the job as a disconnect does. */
    void OnRadioLinkFailure(uint32_t ue, uint32_t /* cell */, uint32_t /* direction */)
    {
        m_linkFailures.push_back(LinkFailureRecord{ue, 0, Simulator::Now().GetSeconds()});
        Disconnect(ue, kRadioLinkFailure);
    }

    // ---- submission ----------------------------------------------------------------------------

    OpState StateOf(uint64_t id) const
    {
        return id < m_state.size() ? m_state[id] : OpState::kUnknown;
    }

    void AddDependencies(const DependencyRecord* records, size_t count)
    {
        const uint64_t next = m_state.size();
        for (size_t i = 0; i < count; ++i)
        {
            if (records[i].op < next)
            {
                throw ns6g::InvalidRequest("dependency: op " + std::to_string(records[i].op) +
                                           " is already submitted (dependencies come before their op)");
            }
            if (records[i].after == 0 || records[i].after >= records[i].op)
            {
                throw ns6g::InvalidRequest("dependency: op " + std::to_string(records[i].op) + " cannot wait for op " +
                                           std::to_string(records[i].after) + " (only for an earlier op)");
            }
        }
        for (size_t i = 0; i < count; ++i)
        {
            m_pendingDeps[records[i].op].push_back(records[i].after);
        }
    }

    void CheckOp(const OpRecord& r, uint64_t expectedId) const
    {
        const std::string what = "op " + std::to_string(r.id) + ": ";
        if (r.id != expectedId)
        {
            throw ns6g::InvalidRequest(what + "ids must continue the sequence (expected " + std::to_string(expectedId) +
                                       ")");
        }
        if (r.kind != kTransfer && r.kind != kCompute)
        {
            throw ns6g::InvalidRequest(what + "kind must be 0 (transfer) or 1 (compute), got " + std::to_string(r.kind));
        }
        if (r.node >= NodeCount() || (r.kind == kTransfer && r.dst >= NodeCount()))
        {
            throw ns6g::InvalidRequest(what + "node index out of range (there are " + std::to_string(NodeCount()) +
                                       " nodes)");
        }
        if (r.kind == kCompute && !(std::isfinite(r.flops) && r.flops >= 0))
        {
            throw ns6g::InvalidRequest(what + "flops must be finite and >= 0, got " + std::to_string(r.flops));
        }
        if (r.kind == kTransfer && r.bytes > (uint64_t{1} << 50))
        {
            throw ns6g::InvalidRequest(what + "bytes must be at most 2^50, got " + std::to_string(r.bytes));
        }
    }

    void Submit(const OpRecord* records, size_t count)
    {
        for (size_t i = 0; i < count; ++i)
        {
            CheckOp(records[i], m_state.size() + i);
        }
        for (size_t i = 0; i < count; ++i)
        {
            const OpRecord& r = records[i];
            Op op;
            op.id = r.id;
            op.kind = static_cast<OpKind>(r.kind);
            op.node = r.node;
            op.dst = r.dst;
            op.bytes = r.bytes;
            op.flops = r.flops;
            m_state.push_back(OpState::kWaiting);
            bool depFailed = false;
            auto deps = m_pendingDeps.find(r.id);
            if (deps != m_pendingDeps.end())
            {
                for (uint64_t after : deps->second)
                {
                    const OpState s = StateOf(after);
                    if (s == OpState::kFailed)
                    {
                        depFailed = true;
                    }
                    else if (s == OpState::kWaiting || s == OpState::kRunning)
                    {
                        m_ops.at(after).dependants.push_back(r.id);
                        ++op.waitingFor;
                    }
                }
                m_pendingDeps.erase(deps);
            }
            m_ops.emplace(r.id, std::move(op));
            if (depFailed)
            {
                Fail(r.id, kDependencyFailed);
            }
            else if (m_disconnected > 0 && Involves(m_ops.at(r.id), Disconnected()))
            {
                Fail(r.id, CauseOf(m_ops.at(r.id)));
            }
            else if (m_ops.at(r.id).waitingFor == 0)
            {
                ScheduleStart(r.id);
            }
        }
    }

    std::vector<uint32_t> Disconnected() const
    {
        std::vector<uint32_t> out;
        for (uint32_t u = 0; u < m_p.clients; ++u)
        {
            if (!m_radio[u].connected)
            {
                out.push_back(u);
            }
        }
        return out;
    }

    /** Why an op involving a disconnected client fails: the cause its (first) disconnected client left for. */
    FailureCause CauseOf(const Op& op) const
    {
        for (uint32_t u : {op.node, op.kind == kTransfer ? op.dst : op.node})
        {
            if (u < m_p.clients && !m_radio[u].connected)
            {
                return m_radio[u].leftFor;
            }
        }
        return kDisconnected;
    }

    bool Involves(const Op& op, const std::vector<uint32_t>& clients) const
    {
        for (uint32_t u : clients)
        {
            if (op.node == u || (op.kind == kTransfer && op.dst == u))
            {
                return true;
            }
        }
        return false;
    }

    void ScheduleStart(uint64_t id)
    {
        const Op& op = m_ops.at(id);
        Simulator::ScheduleWithContext(NodeOf(op.node)->GetId(), Seconds(0), &FlNetworkEnv::Start, this, id);
    }

    // ---- operation life cycle ------------------------------------------------------------------

    void Start(uint64_t id)
    {
        if (StateOf(id) != OpState::kWaiting)
        {
            return; // failed meanwhile (disconnect)
        }
        m_state[id] = OpState::kRunning;
        Op& op = m_ops.at(id);
        op.start = Simulator::Now();
        if (op.kind == kCompute)
        {
            // The processor numbers tasks 0, 1, 2, ... and may start this one inside Submit.
            m_taskOps[op.node][m_tasksSubmitted[op.node]++] = id;
            m_processors[op.node]->Submit(op.flops, Processor::DoneCallback([this, id](uint64_t, Time) { Complete(id); }));
            return;
        }
        if (op.node == op.dst)
        {
            Complete(id); // nothing to send
            return;
        }
        if (op.node < m_p.clients)
        {
            ChargeAirTime(op.node);
            m_radio[op.node].uplinks.push_back(id);
            StartUplinkTicks();
        }
        if (op.bytes == 0)
        {
            SendTaskTransfer(m_sockets[op.node], InetSocketAddress(m_address[op.dst], kPort),
                             TaskWireHeader{id, 0, kTransferKind, op.node}); // one header-only datagram
            return;
        }
        SendBursts(id);
    }

    /**
     * Sends the transfer's next bursts while fewer than kWindowBursts bursts are unreceived. Each burst
     * is one task transfer (its header's totalBytes: the burst's payload). The receiver's progress
     * releases the next burst at once (an idealised window: no acknowledgement packets).
     */
    void SendBursts(uint64_t id)
    {
        if (StateOf(id) != OpState::kRunning)
        {
            return;
        }
        Op& op = m_ops.at(id);
        op.sendScheduled = false;
        while (op.sent < op.bytes && op.sent - op.received + kBurstBytes <= kWindowBursts * kBurstBytes)
        {
            const uint64_t burst = std::min(kBurstBytes, op.bytes - op.sent);
            SendTaskTransfer(m_sockets[op.node], InetSocketAddress(m_address[op.dst], kPort),
                             TaskWireHeader{id, burst, kTransferKind, op.node});
            op.sent += burst;
        }
    }

    void OnReceive(Ptr<Socket> socket)
    {
        Address from;
        while (Ptr<Packet> packet = socket->RecvFrom(from))
        {
            TaskWireHeader header;
            if (!ReadTaskHeader(packet, header) || header.kind != kTransferKind ||
                StateOf(header.taskId) != OpState::kRunning)
            {
                continue; // a failed transfer's late data
            }
            Op& op = m_ops.at(header.taskId);
            op.received += packet->GetSize() - sizeof(TaskWireHeader);
            if (op.received >= op.bytes)
            {
                Complete(op.id);
            }
            else if (op.sent < op.bytes && !op.sendScheduled &&
                     op.sent - op.received + kBurstBytes <= kWindowBursts * kBurstBytes)
            {
                op.sendScheduled = true;
                Simulator::ScheduleWithContext(NodeOf(op.node)->GetId(), Seconds(0), &FlNetworkEnv::SendBursts, this,
                                               op.id);
            }
        }
    }

    /** The processor of node `node` began serving its task `task`. */
    void OnServiceStart(uint32_t node, uint64_t task)
    {
        auto it = m_taskOps[node].find(task);
        if (it == m_taskOps[node].end())
        {
            return;
        }
        auto op = m_ops.find(it->second);
        if (op != m_ops.end())
        {
            op->second.serviceStart = Simulator::Now();
        }
        m_taskOps[node].erase(it);
    }

    /**
     * Shares the uplink transmit energy the client spent since the last charge among its uplinks in
     * flight, in proportion to the payload bytes each delivered meanwhile (the radio queue is FIFO, so
     * the slots carried those bytes). Energy whose bytes have not arrived yet waits for the next charge,
     * unless `final` (an uplink leaves): then, with nothing delivered, it is split evenly.
     */
    void ChargeAirTime(uint32_t client, bool final = false)
    {
        ClientRadio& radio = m_radio[client];
        const double spent = m_ran.system->Counters(client).txEnergyJ[1];
        if (radio.uplinks.empty())
        {
            radio.chargedEnergyJ = spent;
            return;
        }
        uint64_t delivered = 0;
        for (uint64_t id : radio.uplinks)
        {
            const Op& op = m_ops.at(id);
            delivered += op.received - op.chargedBytes;
        }
        if (delivered == 0 && !final)
        {
            return;
        }
        const double joules = spent - radio.chargedEnergyJ;
        for (uint64_t id : radio.uplinks)
        {
            Op& op = m_ops.at(id);
            op.txEnergyJ += delivered == 0 ? joules / radio.uplinks.size()
                                           : joules * static_cast<double>(op.received - op.chargedBytes) / delivered;
            op.chargedBytes = op.received;
        }
        radio.chargedEnergyJ = spent;
    }

    /** Energy of a finished or failed op, and its removal from the client's uplinks in flight. */
    double Settle(Op& op)
    {
        if (op.kind == kCompute)
        {
            return op.flops * m_processors[op.node]->GetEnergyPerFlopInForceJ();
        }
        if (op.node >= m_p.clients || op.node == op.dst)
        {
            return 0.0;
        }
        ChargeAirTime(op.node, true);
        auto& uplinks = m_radio[op.node].uplinks;
        uplinks.erase(std::remove(uplinks.begin(), uplinks.end(), op.id), uplinks.end());
        return op.txEnergyJ;
    }

    void Complete(uint64_t id)
    {
        if (StateOf(id) != OpState::kRunning)
        {
            return;
        }
        m_state[id] = OpState::kDone;
        const double energy = Settle(m_ops.at(id)); // while the op is still in m_ops (air time split)
        Op op = std::move(m_ops.at(id));
        m_ops.erase(id);
        Record(op, op.start, energy, kNoFailure);
        for (uint64_t next : op.dependants)
        {
            if (StateOf(next) == OpState::kWaiting && --m_ops.at(next).waitingFor == 0)
            {
                ScheduleStart(next);
            }
        }
    }

    /** Fails op `id` now (if it is not over yet) and, recursively, everything that waits for it. */
    void Fail(uint64_t id, FailureCause cause)
    {
        const OpState s = StateOf(id);
        if (s != OpState::kWaiting && s != OpState::kRunning)
        {
            return;
        }
        m_state[id] = OpState::kFailed;
        double energy = 0.0;
        Time start = Simulator::Now();
        if (s == OpState::kRunning)
        {
            start = m_ops.at(id).start;
            // A computation cut short: its device stops counting it (the Processor cannot cancel; its
            // queue matters no more for a node that left). Energy of a cut transfer: the air time so far.
            energy = m_ops.at(id).kind == kCompute ? 0.0 : Settle(m_ops.at(id));
        }
        Op op = std::move(m_ops.at(id));
        m_ops.erase(id);
        Record(op, start, energy, cause);
        for (uint64_t next : op.dependants)
        {
            Fail(next, kDependencyFailed);
        }
    }

    void Record(const Op& op, Time start, double energyJ, FailureCause cause)
    {
        const uint64_t id = op.id;
        // A computation queued from its start until its first service (all along if it never got one).
        const Time queued = op.kind == kCompute ? op.serviceStart.value_or(Simulator::Now()) - start : Time(0);
        m_done.push_back(CompletionRecord{id, start.GetSeconds(), Simulator::Now().GetSeconds(), energyJ,
                                          queued.GetSeconds(), cause == kNoFailure ? 1U : 0U, cause});
        auto it = m_waitFor.find(id);
        if (it != m_waitFor.end())
        {
            m_waitFor.erase(it);
            if (m_waitAny || m_waitFor.empty())
            {
                m_waitLeft = 0;
                Simulator::Stop();
            }
        }
    }

    // ---- running -------------------------------------------------------------------------------

    void Run(const RunRecord* records, size_t count)
    {
        m_waitFor.clear();
        m_waitAny = count > 0 && records[0].anyOf != 0;
        bool anyDone = false;
        for (size_t i = 0; i < count; ++i)
        {
            if ((records[i].anyOf != 0) != m_waitAny)
            {
                throw ns6g::InvalidRequest("run: any_of must be the same in every record");
            }
            const OpState s = StateOf(records[i].op);
            if (s == OpState::kUnknown)
            {
                throw ns6g::InvalidRequest("run: op " + std::to_string(records[i].op) + " was never submitted");
            }
            if (s == OpState::kWaiting || s == OpState::kRunning)
            {
                m_waitFor.insert(records[i].op);
            }
            else
            {
                anyDone = true;
            }
        }
        if (m_waitFor.empty() || (m_waitAny && anyDone))
        {
            m_waitFor.clear(); // satisfied already: simulated time does not move
            return;
        }
        const Time limit = Simulator::Now() + Seconds(m_p.runLimitS);
        EventId guard = Simulator::Schedule(Seconds(m_p.runLimitS), [] { Simulator::Stop(); });
        m_waitLeft = 1;
        while (m_waitLeft != 0 && m_dropped == 0 && Simulator::Now() < limit)
        {
            Simulator::Run();
        }
        guard.Cancel();
        const bool satisfied = m_waitLeft == 0;
        m_waitFor.clear();
        m_waitLeft = 0;
        if (m_dropped != 0)
        {
            throw ns6g::InvalidRequest("fl-network: a queue dropped " + std::to_string(m_dropped) +
                                       " packet(s); transfers cannot complete (queues are meant never to drop)");
        }
        if (!satisfied)
        {
            throw ns6g::InvalidRequest("run: the awaited ops did not complete within run-limit-s = " +
                                       std::to_string(m_p.runLimitS) + " simulated seconds");
        }
    }

    // ---- uplink shares -------------------------------------------------------------------------

    void SetShares(const UplinkShareRecord* records, size_t count)
    {
        for (size_t i = 0; i < count; ++i)
        {
            if (records[i].client >= m_p.clients)
            {
                throw ns6g::InvalidRequest("uplink_share: client " + std::to_string(records[i].client) +
                                           " out of range (" + std::to_string(m_p.clients) + " clients)");
            }
            const double s = records[i].share;
            if (!(s < 0 || (s > 0 && s <= 1)))
            {
                throw ns6g::InvalidRequest("uplink_share: share of client " + std::to_string(records[i].client) +
                                           " must be in (0, 1] or negative (automatic), got " + std::to_string(s));
            }
        }
        for (size_t i = 0; i < count; ++i)
        {
            m_radio[records[i].client].share = records[i].share < 0 ? -1.0 : records[i].share;
        }
    }

    void StartUplinkTicks()
    {
        if (!m_uplinkTicking)
        {
            m_uplinkTicking = true;
            Simulator::ScheduleWithContext(m_gnbs.Get(0)->GetId(), Seconds(0), &FlNetworkEnv::UplinkTick, this);
        }
    }

    /** Each slot: every cell's RBGs to its uploading clients by weighted round robin over their shares. */
    void UplinkTick()
    {
        const uint32_t nRbg = m_carrier.nRbg;
        std::vector<std::vector<uint32_t>> active(m_p.cells);
        bool any = false;
        for (uint32_t u = 0; u < m_p.clients; ++u)
        {
            if (m_radio[u].connected && !m_radio[u].uplinks.empty())
            {
                active[m_ran.system->ServingCell(u)].push_back(u);
                any = true;
            }
            else
            {
                m_radio[u].credit = 0.0;
            }
        }
        for (uint32_t c = 0; c < m_p.cells; ++c)
        {
            Allocation alloc(nRbg, -1);
            const auto& members = active[c];
            if (!members.empty())
            {
                double explicitSum = 0.0;
                uint32_t automatic = 0;
                for (uint32_t u : members)
                {
                    if (m_radio[u].share > 0)
                    {
                        explicitSum += m_radio[u].share;
                    }
                    else
                    {
                        ++automatic;
                    }
                }
                const double autoShare = automatic ? std::max(0.0, 1.0 - explicitSum) / automatic : 0.0;
                const double total = explicitSum + autoShare * automatic;
                const double scale = total > 1.0 ? 1.0 / total : 1.0;
                std::priority_queue<std::pair<double, int64_t>> best; // (credit, -client): ties to the lower index
                for (uint32_t u : members)
                {
                    ClientRadio& r = m_radio[u];
                    r.credit += (r.share > 0 ? r.share : autoShare) * scale * nRbg;
                    best.emplace(r.credit, -static_cast<int64_t>(u));
                }
                // A client gets at most the RBGs its power supports (power headroom); what it cannot
                // use goes to the others, and its unused credit does not pile up.
                std::map<uint32_t, uint32_t> room;
                for (uint32_t u : members)
                {
                    room[u] = m_link->MaxRbgs(u, c, Direction::Uplink);
                }
                for (uint32_t rbg = 0; rbg < nRbg && !best.empty(); ++rbg)
                {
                    auto [credit, negU] = best.top();
                    if (credit <= 1e-9)
                    {
                        break; // shares below 1 in total leave RBGs unused
                    }
                    best.pop();
                    const auto u = static_cast<uint32_t>(-negU);
                    alloc[rbg] = static_cast<int32_t>(u);
                    m_radio[u].credit -= 1.0;
                    if (--room[u] > 0)
                    {
                        best.emplace(m_radio[u].credit, negU);
                    }
                }
                for (auto& [u, left] : room)
                {
                    if (left == 0)
                    {
                        m_radio[u].credit = std::min(m_radio[u].credit, 1.0);
                    }
                }
            }
            if (alloc != m_ulAllocation[c])
            {
                m_ulAllocation[c] = alloc;
                m_ran.system->SetExternalAllocation(c, Direction::Uplink, alloc);
            }
        }
        if (any)
        {
            Simulator::Schedule(Seconds(m_carrier.numerology.SlotDurationS()), &FlNetworkEnv::UplinkTick, this);
        }
        else
        {
            m_uplinkTicking = false;
        }
    }

    // ---- disconnects ---------------------------------------------------------------------------

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

    void ScheduleDisconnects(const DisconnectRecord* records, size_t count)
    {
        const double now = Simulator::Now().GetSeconds();
        for (size_t i = 0; i < count; ++i)
        {
            if (records[i].client >= m_p.clients)
            {
                throw ns6g::InvalidRequest("disconnect: client " + std::to_string(records[i].client) +
                                           " out of range (" + std::to_string(m_p.clients) + " clients)");
            }
            if (!std::isfinite(records[i].atS) || records[i].atS < now)
            {
                throw ns6g::InvalidRequest("disconnect: at_s must be finite and not before now (" + std::to_string(now) +
                                           " s), got " + std::to_string(records[i].atS));
            }
        }
        for (size_t i = 0; i < count; ++i)
        {
            const uint32_t u = records[i].client;
            Simulator::ScheduleWithContext(m_ues.Get(u)->GetId(), Seconds(records[i].atS - now),
                                           &FlNetworkEnv::Disconnect, this, u, kDisconnected);
        }
    }

    void Disconnect(uint32_t client, FailureCause cause)
    {
        if (!m_radio[client].connected)
        {
            return;
        }
        m_radio[client].connected = false;
        m_radio[client].leftFor = cause;
        ++m_disconnected;
        std::vector<uint64_t> involved;
        for (const auto& [id, op] : m_ops)
        {
            if (Involves(op, {client}))
            {
                involved.push_back(id);
            }
        }
        std::sort(involved.begin(), involved.end());
        for (uint64_t id : involved)
        {
            Fail(id, cause);
        }
    }

    Params m_p;
    Carrier m_carrier;
    std::vector<Device> m_clientDevices;
    Device m_edgeDevice;
    Device m_cloudDevice;

    NodeContainer m_gnbs;
    NodeContainer m_ues;
    NodeContainer m_edgeNodes;
    Ptr<Node> m_cloud;
    Ptr<RanLink> m_link;
    RanDeployment m_ran;
    std::vector<Ipv4Address> m_address;          //!< per node index
    std::vector<Ptr<Processor>> m_processors;    //!< per node index
    std::vector<std::unordered_map<uint64_t, uint64_t>> m_taskOps; //!< per node: task id -> op, until served
    std::vector<uint64_t> m_tasksSubmitted;      //!< per node: tasks submitted to its processor
    std::vector<Ptr<Socket>> m_sockets;          //!< per node index
    std::vector<Allocation> m_ulAllocation;      //!< per cell, as last set
    bool m_uplinkTicking{false};

    std::unordered_map<uint64_t, Op> m_ops;      //!< waiting and running ops
    std::vector<OpState> m_state;                //!< per id (index 0 unused)
    std::unordered_map<uint64_t, std::vector<uint64_t>> m_pendingDeps; //!< op not yet submitted -> its deps
    std::vector<CompletionRecord> m_done;        //!< since the last run reply, in completion order
    std::vector<ClientRadio> m_radio;            //!< per client
    std::set<uint64_t> m_waitFor;
    bool m_waitAny{false};
    int m_waitLeft{0};
    uint64_t m_dropped{0};
    uint32_t m_disconnected{0}; //!< clients that left
    std::vector<LinkFailureRecord> m_linkFailures; //!< this episode's radio link failures, in order
};

} // namespace

int
main(int argc, char* argv[])
{
    Params p;
    ns6g::Bridge bridge;
    CommandLine cmd(__FILE__);
    cmd.AddValue("clients", "number of client devices (UEs)", p.clients);
    cmd.AddValue("cells", "number of sites (1, 3 or 7)", p.cells);
    cmd.AddValue("edges", "number of edge servers behind the core router", p.edges);
    cmd.AddValue("cell-radius-m", "radius of the disk clients are dropped in around their gNB (m)", p.cellRadiusM);
    AddRadioOptions(cmd, p.radio, {.gnbTxPower = true});
    cmd.AddValue("ue-tx-power-dbm", "client (UE) maximum transmit power P_max (dBm)", p.ueTxPowerDbm);
    cmd.AddValue("ul-power-control", "TS 38.213 open-loop uplink power control (false: always P_max)", p.ulPowerControl);
    cmd.AddValue("ul-p0-dbm", "uplink power control P0: target received power per RB at 15 kHz (dBm)", p.ulP0Dbm);
    cmd.AddValue("ul-alpha", "uplink power control path loss compensation factor (0..1)", p.ulAlpha);
    cmd.AddValue("scatterer-speed-mps", "speed of moving scatterers around the static clients (m/s)",
                 p.radio.scattererSpeedMps);
    cmd.AddValue("radio-link-failure-s",
                 "a client none of whose uplink or downlink blocks decodes for this long is disconnected (s; 0: never)",
                 p.radioLinkFailureS);
    cmd.AddValue("client-devices", "comma-separated catalogue names; client i runs name [i mod n]", p.clientDevices);
    cmd.AddValue("edge-device", "catalogue name of the edge servers", p.edgeDevice);
    cmd.AddValue("cloud-device", "catalogue name of the cloud", p.cloudDevice);
    cmd.AddValue("catalogue", "device catalogue CSV", p.catalogue);
    cmd.AddValue("backhaul-rate-mbps", "gNB <-> core router link rate (Mbit/s)", p.backhaulRateMbps);
    cmd.AddValue("backhaul-delay-ms", "gNB <-> core router one-way delay (ms)", p.backhaulDelayMs);
    cmd.AddValue("edge-link-rate-mbps", "core router <-> edge server link rate (Mbit/s)", p.edgeLinkRateMbps);
    cmd.AddValue("edge-link-delay-ms", "core router <-> edge server one-way delay (ms)", p.edgeLinkDelayMs);
    cmd.AddValue("wan-rate-mbps", "core router <-> cloud link rate (Mbit/s)", p.wanRateMbps);
    cmd.AddValue("wan-delay-ms", "core router <-> cloud one-way delay (ms)", p.wanDelayMs);
    cmd.AddValue("run-limit-s", "a run whose ops have not completed after this long fails (simulated s)", p.runLimitS);
    bridge.AddCommandLine(cmd);
    cmd.Parse(argc, argv);

    std::string problem;
    if (p.cells != 1 && p.cells != 3 && p.cells != 7)
    {
        problem = "--cells must be 1, 3 or 7, got " + std::to_string(p.cells);
    }
    else if (p.clients == 0 || p.clients > 100'000)
    {
        problem = "--clients must be in 1..100000, got " + std::to_string(p.clients);
    }
    else if (p.edges == 0 || p.edges > 1024)
    {
        problem = "--edges must be in 1..1024, got " + std::to_string(p.edges);
    }
    else if (p.catalogue.empty())
    {
        problem = "--catalogue is needed";
    }
    // The ranges of FlNetworkConfig (learners/cosim.py); NaN fails every comparison.
    else if (!(p.cellRadiusM >= 10 && p.cellRadiusM <= 50'000))
    {
        problem = "--cell-radius-m must be in [10, 50000] (m)";
    }
    else if (!(p.backhaulRateMbps >= 1e-3 && p.backhaulRateMbps <= 1e7) ||
             !(p.edgeLinkRateMbps >= 1e-3 && p.edgeLinkRateMbps <= 1e7) ||
             !(p.wanRateMbps >= 1e-3 && p.wanRateMbps <= 1e7))
    {
        problem = "--backhaul-rate-mbps, --edge-link-rate-mbps and --wan-rate-mbps must be in [1e-3, 1e7] (Mbit/s)";
    }
    else if (!(p.ulP0Dbm >= -202 && p.ulP0Dbm <= 24))
    {
        problem = "--ul-p0-dbm must be in [-202, 24] (dBm, TS 38.213's range)";
    }
    else if (!(p.ulAlpha >= 0 && p.ulAlpha <= 1))
    {
        problem = "--ul-alpha must be in [0, 1]";
    }
    else if (!(p.radio.scattererSpeedMps >= 0 && p.radio.scattererSpeedMps <= 100))
    {
        problem = "--scatterer-speed-mps must be in [0, 100] (m/s)";
    }
    else if (!(p.radioLinkFailureS >= 0 && p.radioLinkFailureS <= 1e6))
    {
        problem = "--radio-link-failure-s must be in [0, 1e6] (s)";
    }
    else if (!(p.runLimitS >= 1e-3 && p.runLimitS <= 1e9))
    {
        problem = "--run-limit-s must be in [1e-3, 1e9] (s)";
    }
    else if (!(p.backhaulDelayMs >= 0 && p.backhaulDelayMs <= 1e4) ||
             !(p.edgeLinkDelayMs >= 0 && p.edgeLinkDelayMs <= 1e4) || !(p.wanDelayMs >= 0 && p.wanDelayMs <= 1e4))
    {
        problem = "--backhaul-delay-ms, --edge-link-delay-ms and --wan-delay-ms must be in [0, 1e4] (ms)";
    }
    std::unique_ptr<FlNetworkEnv> env;
    if (problem.empty())
    {
        try
        {
            ParseScenario(p.radio.scenario);
            problem =
                ValidateCarrier(p.radio.frequencyHz, p.radio.bandwidthHz, static_cast<int>(p.radio.numerology), 0);
            if (problem.empty())
            {
                env = std::make_unique<FlNetworkEnv>(p);
            }
        }
        catch (const std::exception& e)
        {
            problem = e.what();
        }
    }
    if (!problem.empty())
    {
        std::cerr << "fl-network: " << problem << std::endl;
        return 2;
    }
    return bridge.Serve(*env);
}

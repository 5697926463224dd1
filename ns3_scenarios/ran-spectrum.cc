// ran-spectrum: the SpectrumAllocation environment. An RL agent allocates the downlink resource-block
// groups (RBGs) of every cell of a multi-cell 6G RAN (ns6g's RAN model: 38.901 channel, PHY abstraction,
// per-slot scheduler, net devices carrying real UDP packets from a server behind the gNBs).
//
// Topology (rebuilt every episode): `cells` gNBs on a hexagonal layout (1: one site; 3: a centre and two
// neighbours; 7: a centre and its ring) with inter-site distance isd-m, or where gnb-positions puts them,
// one sector each; `ues` UEs dropped uniformly in a disk of radius isd-m / sqrt(3) (at least 10 m from
// the gNB) around a uniformly chosen gNB, or in `clusters` disks of cluster-radius-m whose centres are
// dropped that way; a server behind every gNB on 10 Gbit/s, 1 ms backhaul links. Mobility: static,
// random_walk, random_waypoint, gauss_markov (ns-3's models, within +-2 isd-m) or constant_velocity
// (random headings), at speed-mps; or trace: ns-3's Ns2MobilityHelper plays the ns-2 movement file
// mobility-trace (node i moves UE i; see docs/mobility.md).
//
// Traffic: each UE receives one UDP flow from the server (OnOffApplication, always on): "full_buffer"
// sends at ue-rate-mbps (default above what one UE can get, so queues stay backlogged) in 60 000-byte
// datagrams (the RAN and backhaul MTU is 65 535 bytes: saturating sources cost few simulator events;
// the RAN segments them into transport blocks); "cbr" sends ue-rate-mbps in packet-bytes packets;
// "poisson" sends packet-bytes packets with exponential gaps averaging ue-rate-mbps; "ftp" is 3GPP FTP
// model 1: files of ftp-file-bytes with exponential gaps averaging ue-rate-mbps, each sent at once;
// "tcp_bulk" is one greedy TCP flow per UE (BulkSendApplication, segments of packet-bytes); its packets
// carry no send time, so the deadline_violations reward is refused with it (by the Python config).
//
// Decisions: every decision-slots slots. With scheduler "agent", the action is the downlink allocation
// held for the next decision-slots slots; with "rr", "pf" or "mr", ns6g's built-in scheduler decides
// every slot and the action is checked but not applied (the baselines, on the same environment).
// The uplink is scheduled by proportional fair (no uplink traffic in this environment).
//
// Action: "rbg": MultiDiscrete of cells * rbgs entries (cell-major), each in 0..ues: the UE (global
//   index) that gets the RBG, or ues for none. An RBG naming a UE that the cell does not serve stays unused.
//   "share": Box (cells, ues) in [0, 1]: each cell's RBGs are shared among its own UEs in proportion
//   (largest remainder, contiguous runs in UE order; all zero: RBGs unused).
// Observation (Dict): cqi (ues, rbgs) float32 in [0, 15], each UE's subband CQI on its serving cell with
//   the interference of the last slot; buffer_kbytes (ues) float32, queued downlink kilobytes;
//   throughput_mbps (ues) float32, delivered over the last decision interval; serving_cell
//   MultiDiscrete(cells) per UE.
// Reward (reward), over the decision interval, throughput = UDP/TCP payload bits delivered to a UE's
//   application in the interval / interval length:
//   "sum_rate": sum of the UEs' throughputs, Mbit/s (carrying the most bits wins, fair or not);
//   "pf_utility": sum over UEs of ln(throughput in bit/s + 1) (a starved UE adds 0, a served one ~16);
//   "jain": Jain index of the UEs' throughputs, 1/ues .. 1, and 0 when nothing was delivered (fairness
//     only: it does not reward rate beyond that);
//   "deadline_violations": minus the fraction of the packets due in the interval that missed their
//     deadline. A packet is due when its deadline (send time at the server + deadline-ms) passes, so it
//     counts exactly once, in the interval its deadline falls in, whatever became of it: delivered in
//     time (a success), delivered late, still queued, or dropped (a violation). The packets due depend
//     on the traffic sources only, so serving less cannot shrink the denominator: a policy that starves
//     UEs or leaves RBGs unused scores about -1. 0 while no packet is due (the first deadline-ms).
// Info: sum_throughput_mbps, jain_index, pf_utility,
//   deadline_violation_fraction (as the reward, without the sign), packets_due, mean_sinr_db,
//   mean_cqi (wideband CQI, mean over RBGs and UEs), rbg_utilization (fraction of downlink RBG-slots used), handovers (in the interval),
//   dropped_kbytes (refused by full queues, in the interval), sim_time_s.
// Messages: "radio_poll" -> "radio_sample" (one per UE, the interval's radio numbers: SINR and MCS of
//   the last transport block, wideband CQI, RBG-slots (rbgs) and RB-slots (rbs) allocated, throughput,
//   queued bytes, position), and
//   "event_poll" -> "handover_event" (handovers since the last poll).
#include "bridge/ns6g-bridge.h"
#include "bridge/ns6g-serve.h"
#include "options/ran-spectrum-options.h"
#include "ran/helper/host-route-table.h"
#include "ran/helper/ran-helper.h"
#include "ran/model/ran-channel.h"
#include "ran/model/ran-link.h"
#include "ran/model/ran-phy.h"
#include "ran/model/ran-scheduler.h"
#include "ran/model/ran-system.h"
#include "ran/model/ran-traffic.h"

#include "ns3/applications-module.h"
#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/mobility-module.h"
#include "ns3/network-module.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ns3;
using namespace ns6g::ran;

namespace
{

constexpr uint16_t kPort = 9000;
constexpr uint32_t kFullBufferDatagramBytes = 60'000;
constexpr uint16_t kMtuBytes = 65'535;

// The options (defaults, CommandLine, range checks) are generated from SpectrumAllocationConfig, their one
// declaration (ns3_scenarios/options/ran-spectrum-options.h).
// radio: carrier, channel and antennas, as RanHelper::CreateLink takes them.
using Params = ns6g::RanSpectrumOptions;

constexpr double kMaxCoordinateM = 100'000.0; // as SpectrumAllocationConfig's MAX_COORDINATE_M

/** Parses "x,y;x,y;..." into positions (m); throws std::invalid_argument naming the bad entry. */
std::vector<Vector>
ParsePositions(const std::string& text)
{
    std::vector<Vector> out;
    size_t start = 0;
    while (start <= text.size())
    {
        size_t end = text.find(';', start);
        std::string item = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        double x = 0;
        double y = 0;
        char comma = 0;
        std::istringstream in(item);
        if (!(in >> x >> comma >> y) || comma != ',' || !std::isfinite(x) || !std::isfinite(y))
        {
            throw std::invalid_argument("--gnb-positions: cannot read '" + item + "' as x,y (m)");
        }
        if (std::abs(x) > kMaxCoordinateM || std::abs(y) > kMaxCoordinateM)
        {
            throw std::invalid_argument("--gnb-positions: '" + item + "' is not within +-100000 m");
        }
        out.emplace_back(x, y, 0.0);
        if (end == std::string::npos)
        {
            break;
        }
        start = end + 1;
    }
    return out;
}


struct RadioSample
{
    uint32_t ue;
    uint32_t cell;
    double sinrDb;
    uint32_t cqi;
    uint32_t mcs;
    double rbgSlots;
    double rbSlots;
    double throughputBps;
    double bufferBytes;
    double xM;
    double yM;
};

struct HandoverEvent
{
    double timeS;
    uint32_t ue;
    uint32_t fromCell;
    uint32_t toCell;
    uint32_t pad;
};

struct PollRequest
{
    uint64_t unused;
};

/**
 * A UE's UDP receiver: reports each datagram's SeqTsSizeHeader, as ns-3's PacketSink with
 * EnableSeqTsSizeHeader does, without its stream reassembly. PacketSink appends every datagram to a
 * per-sender buffer (Packet::AddAtEnd, which writes the datagram's zero-filled payload out into memory),
 * cuts the message back out and removes its header: for a stream protocol a message may span reads. Every
 * datagram of this scenario's UDP sources (OnOffApplication, BurstSource) is one whole message, a
 * SeqTsSizeHeader whose size is the datagram's, so reading the header in place reports the same headers
 * at the same times (and a datagram that is not one message ends the run).
 */
class DatagramSink : public Application
{
  public:
    static TypeId GetTypeId()
    {
        static TypeId tid = TypeId("ns6g::ran::DatagramSink").SetParent<Application>().SetGroupName("Ns6gRan");
        return tid;
    }

    void SetPort(uint16_t port)
    {
        m_port = port;
    }

    void SetReceiver(std::function<void(const SeqTsSizeHeader&)> receiver)
    {
        m_receiver = std::move(receiver);
    }

  protected:
    void DoDispose() override
    {
        m_socket = nullptr;
        m_receiver = nullptr;
        Application::DoDispose();
    }

  private:
    void StartApplication() override
    {
        m_socket = Socket::CreateSocket(GetNode(), UdpSocketFactory::GetTypeId());
        NS_ABORT_MSG_IF(m_socket->Bind(InetSocketAddress(Ipv4Address::GetAny(), m_port)) == -1,
                        "DatagramSink: cannot bind port " << m_port);
        m_socket->ShutdownSend();
        m_socket->SetRecvCallback(MakeCallback(&DatagramSink::HandleRead, this));
    }

    void StopApplication() override
    {
        if (m_socket)
        {
            m_socket->Close();
            m_socket->SetRecvCallback(MakeNullCallback<void, Ptr<Socket>>());
        }
    }

    void HandleRead(Ptr<Socket> socket)
    {
        Ptr<Packet> packet;
        while ((packet = socket->Recv()))
        {
            if (packet->GetSize() == 0)
            {
                break;
            }
            SeqTsSizeHeader header;
            NS_ABORT_MSG_IF(packet->GetSize() < header.GetSerializedSize(),
                            "DatagramSink: a " << packet->GetSize() << "-byte datagram carries no SeqTsSizeHeader");
            packet->PeekHeader(header);
            NS_ABORT_MSG_IF(header.GetSize() != packet->GetSize(),
                            "DatagramSink: a " << packet->GetSize() << "-byte datagram whose header says "
                                               << header.GetSize() << " bytes");
            m_receiver(header);
        }
    }

    uint16_t m_port{0};
    Ptr<Socket> m_socket;
    std::function<void(const SeqTsSizeHeader&)> m_receiver;
};

class RanSpectrumEnv : public ns6g::GymEnv
{
  public:
    explicit RanSpectrumEnv(Params p)
        : m_p(std::move(p))
    {
        // The carrier decides the number of RBGs; build it once to declare the spaces.
        m_carrier = MakeCarrier(m_p.radio.frequencyHz, m_p.radio.bandwidthHz,
                                static_cast<int>(m_p.radio.numerology), static_cast<int>(m_p.radio.rbgSize));
        m_rewardKind = ParseRewardKind(m_p.reward);
    }

    ns6g::Space GetObservationSpace() override
    {
        const auto ues = static_cast<int64_t>(m_p.ues);
        const auto rbgs = static_cast<int64_t>(m_carrier.nRbg);
        // Throughput cannot exceed the whole carrier at the densest MCS: 1024-QAM at rate ~0.93 is
        // < 10 bit/s/Hz; the bound is generous.
        const double maxMbps = 12.0 * m_p.radio.bandwidthHz / 1e6;
        return ns6g::Dict({
            {"cqi", ns6g::Box({ues, rbgs}, 0.0, 15.0)},
            {"buffer_kbytes", ns6g::Box({ues}, 0.0, kMaxQueueBytes / 1000.0 + 1.0)},
            {"throughput_mbps", ns6g::Box({ues}, 0.0, maxMbps)},
            {"serving_cell", ns6g::MultiDiscrete(std::vector<int64_t>(m_p.ues, m_p.cells))},
        });
    }

    ns6g::Space GetActionSpace() override
    {
        const auto cells = static_cast<int64_t>(m_p.cells);
        if (m_p.actionMode == "share")
        {
            return ns6g::Box({cells, static_cast<int64_t>(m_p.ues)}, 0.0, 1.0);
        }
        // One dimension (cell-major: cell c's RBGs at c * rbgs ...): what Stable-Baselines3 supports.
        return ns6g::MultiDiscrete(std::vector<int64_t>(m_p.cells * m_carrier.nRbg, m_p.ues + 1));
    }

    std::vector<ns6g::RecordType> GetRecordTypes() override
    {
        return {
            {"radio_poll", sizeof(PollRequest), {NS6G_FIELD(PollRequest, unused, "unused")}},
            {"radio_sample",
             sizeof(RadioSample),
             {NS6G_FIELD(RadioSample, ue, "ue"),
              NS6G_FIELD(RadioSample, cell, "cell"),
              NS6G_FIELD(RadioSample, sinrDb, "sinr_db"),
              NS6G_FIELD(RadioSample, cqi, "cqi"),
              NS6G_FIELD(RadioSample, mcs, "mcs"),
              NS6G_FIELD(RadioSample, rbgSlots, "rbgs"),
              NS6G_FIELD(RadioSample, rbSlots, "rbs"),
              NS6G_FIELD(RadioSample, throughputBps, "throughput_bps"),
              NS6G_FIELD(RadioSample, bufferBytes, "buffer_bytes"),
              NS6G_FIELD(RadioSample, xM, "x_m"),
              NS6G_FIELD(RadioSample, yM, "y_m")}},
            {"event_poll", sizeof(PollRequest), {NS6G_FIELD(PollRequest, unused, "unused")}},
            {"handover_event",
             sizeof(HandoverEvent),
             {NS6G_FIELD(HandoverEvent, timeS, "time_s"),
              NS6G_FIELD(HandoverEvent, ue, "ue"),
              NS6G_FIELD(HandoverEvent, fromCell, "from_cell"),
              NS6G_FIELD(HandoverEvent, toCell, "to_cell")}},
        };
    }

    ns6g::Message HandleMessage(const ns6g::Message& request) override
    {
        if (request.type == "radio_poll")
        {
            return ns6g::Message::From("radio_sample", m_lastSamples);
        }
        if (request.type == "event_poll")
        {
            std::vector<HandoverEvent> events;
            events.swap(m_handoverEvents);
            return ns6g::Message::From("handover_event", events);
        }
        throw ns6g::InvalidRequest("ran-spectrum takes 'radio_poll' and 'event_poll', got '" + request.type + "'");
    }

    void SetupEpisode() override
    {
        const Scenario scenario = ParseScenario(m_p.radio.scenario);
        m_gnbs = NodeContainer();
        m_ues = NodeContainer();
        m_gnbs.Create(m_p.cells);
        m_ues.Create(m_p.ues);
        PlaceNodes(scenario);

        m_link = RanHelper::CreateLink(m_p.radio, m_gnbs, m_ues, 1000);

        RanHelperSettings settings;
        settings.dlScheduler = m_p.scheduler == "agent" ? "external" : m_p.scheduler;
        settings.ulScheduler = "pf";
        settings.dlRbgs = m_carrier.nRbg;
        settings.ulRbgs = m_carrier.nRbg;
        settings.mtuBytes = kMtuBytes;
        settings.slotPeriod = Seconds(m_carrier.numerology.SlotDurationS());
        settings.maxQueueBytes = kMaxQueueBytes;
        settings.handoverInterruption = Seconds(m_p.handoverInterruptionMs / 1e3);
        m_ran = RanHelper::Install(m_gnbs, m_ues, m_link, settings);
        // The server sends to every UE through its host route: a hash lookup rather than a scan of all.
        HostRouteTable::MoveHostRoutes(m_ran.server);
        m_ran.system->TraceConnectWithoutContext("Handover", MakeCallback(&RanSpectrumEnv::OnHandover, this));
        InstallTraffic();

        m_handoverEvents.clear();
        m_lastSamples.clear();
        m_ledger = std::make_unique<DeadlineLedger>(m_p.ues, m_p.deadlineMs / 1e3);
        m_delays.clear();
        m_prevCounters.assign(m_p.ues, UeCounters{});
        m_intervalBits.assign(m_p.ues, 0.0);
        m_intervalRbgSlots.assign(m_p.ues, 0.0);
        m_rbSlots.assign(m_p.ues, 0.0);
        m_prevHandovers = 0;
        m_intervalHandovers = 0;
        m_prevDropped = 0;
        m_intervalDroppedBytes = 0;
        m_steps = 0;
        m_slotsUsed = 0;
        m_slotsTotal = 0;
        m_sampleEvent = Simulator::Schedule(SlotPeriod(), &RanSpectrumEnv::SampleUtilization, this);
    }

    Time GetStepTime() override
    {
        return SlotPeriod() * m_p.decisionSlots;
    }

    bool ExecuteActions(const ns6g::DataView& action) override
    {
        std::vector<Allocation> perCell(m_p.cells);
        if (m_p.actionMode == "share")
        {
            const float* share = action.Data<float>();
            for (uint32_t c = 0; c < m_p.cells; ++c)
            {
                perCell[c] = ShareToAllocation(c, share + static_cast<size_t>(c) * m_p.ues);
            }
        }
        else
        {
            const int64_t* a = action.Data<int64_t>();
            for (uint32_t c = 0; c < m_p.cells; ++c)
            {
                try
                {
                    perCell[c] = DecodeAction(a + static_cast<size_t>(c) * m_carrier.nRbg, m_carrier.nRbg,
                                              m_p.ues, m_carrier.nRbg);
                }
                catch (const std::exception& e)
                {
                    throw ns6g::InvalidRequest("cell " + std::to_string(c) + ": " + e.what());
                }
            }
        }
        if (m_p.scheduler == "agent")
        {
            for (uint32_t c = 0; c < m_p.cells; ++c)
            {
                m_ran.system->SetExternalAllocation(c, Direction::Downlink, perCell[c]);
            }
        }
        ++m_steps;
        return true;
    }

    void GetObservation(const ns6g::DataView& obs) override
    {
        CloseInterval();
        float* cqi = obs["cqi"].Data<float>();
        float* buffer = obs["buffer_kbytes"].Data<float>();
        float* thr = obs["throughput_mbps"].Data<float>();
        int64_t* cell = obs["serving_cell"].Data<int64_t>();
        const double maxMbps = 12.0 * m_p.radio.bandwidthHz / 1e6;
        const double intervalS = IntervalS(); // once: it builds an ns-3 Time each call
        m_cqiRow.resize(m_carrier.nRbg);
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            uint32_t c = m_ran.system->ServingCell(u);
            double cqiSum = 0.0;
            m_link->RbgCqiRow(u, c, Direction::Downlink, m_cqiRow.data(), m_carrier.nRbg);
            for (uint32_t rbg = 0; rbg < m_carrier.nRbg; ++rbg)
            {
                const int value = m_cqiRow[rbg];
                cqi[static_cast<size_t>(u) * m_carrier.nRbg + rbg] = static_cast<float>(value);
                cqiSum += value;
            }
            m_lastSamples[u].cqi = static_cast<uint32_t>(std::lround(cqiSum / m_carrier.nRbg)); // wideband
            buffer[u] = static_cast<float>(
                std::min(m_ran.system->QueuedBytes(u, Direction::Downlink) / 1000.0, kMaxQueueBytes / 1000.0 + 1.0));
            thr[u] = static_cast<float>(std::min(m_intervalBits[u] / intervalS / 1e6, maxMbps));
            cell[u] = c;
        }
    }

    double GetReward() override
    {
        if (m_steps == 0)
        {
            return 0.0;
        }
        double value = ComputeReward(m_rewardKind, Throughputs(), m_delays, m_p.deadlineMs / 1e3);
        return m_rewardKind == RewardKind::kSumRate ? value / 1e6 : value;
    }

    bool GetGameOver() override
    {
        return false;
    }

    bool GetTruncated() override
    {
        return m_steps >= m_p.episodeSteps;
    }

    void GetExtraInfo(ns6g::Info& info) override
    {
        auto thr = Throughputs();
        double sum = std::accumulate(thr.begin(), thr.end(), 0.0);
        info.Set("sum_throughput_mbps", sum / 1e6);
        info.Set("jain_index", JainIndex(thr));
        info.Set("pf_utility", ProportionalFairUtility(thr));
        info.Set("deadline_violation_fraction", DeadlineViolationFraction(m_delays, m_p.deadlineMs / 1e3));
        info.Set("packets_due", static_cast<double>(m_delays.size()));
        double sinrSum = 0.0;
        double cqiSum = 0.0;
        uint32_t measured = 0;
        for (const auto& s : m_lastSamples)
        {
            cqiSum += s.cqi;
            if (std::isfinite(s.sinrDb))
            {
                sinrSum += s.sinrDb;
                ++measured;
            }
        }
        info.Set("mean_sinr_db", measured ? sinrSum / measured : std::nan(""));
        info.Set("mean_cqi", m_lastSamples.empty() ? 0.0 : cqiSum / m_lastSamples.size());
        info.Set("rbg_utilization", m_slotsTotal ? static_cast<double>(m_slotsUsed) / m_slotsTotal : 0.0);
        info.Set("handovers", static_cast<double>(m_intervalHandovers));
        info.Set("dropped_kbytes", m_intervalDroppedBytes / 1000.0);
    }

  private:
    static constexpr uint32_t kMaxQueueBytes = 2'000'000;

    Time SlotPeriod() const
    {
        return Seconds(m_carrier.numerology.SlotDurationS());
    }

    double IntervalS() const
    {
        return SlotPeriod().GetSeconds() * m_p.decisionSlots;
    }

    void PlaceNodes(Scenario scenario)
    {
        // User-placed sites, or hexagonal ones: the centre, then the first ring at the inter-site distance.
        const std::vector<Vector> sites = m_p.gnbPositions.empty() ? RanHelper::HexagonalSites(m_p.cells, m_p.isdM)
                                                                   : ParsePositions(m_p.gnbPositions);
        RanHelper::PlaceGnbs(m_gnbs, sites, DefaultBsHeightM(scenario));

        auto uniform = CreateObject<UniformRandomVariable>();
        uniform->SetStream(10);
        const double radius = m_p.isdM / std::sqrt(3.0);
        auto inDisk = [&uniform](const Vector& centre, double r, double rMin) {
            return RanHelper::UniformInDisk(uniform, centre, r, rMin, 1.5);
        };
        std::vector<Vector> clusterCentres;
        for (uint32_t k = 0; m_p.ueDistribution == "clusters" && k < m_p.clusters; ++k)
        {
            clusterCentres.push_back(inDisk(sites[uniform->GetInteger(0, m_p.cells - 1)], radius, 10.0));
        }
        auto uePositions = CreateObject<ListPositionAllocator>();
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            if (clusterCentres.empty())
            {
                uePositions->Add(inDisk(sites[uniform->GetInteger(0, m_p.cells - 1)], radius, 10.0));
            }
            else
            {
                const Vector& centre = clusterCentres[u % clusterCentres.size()];
                uePositions->Add(inDisk(centre, m_p.clusterRadiusM, 0.0));
            }
        }
        if (m_p.mobility == "trace")
        {
            // Node i of the trace is UE i (Python checked the trace has at least `ues` nodes).
            Ns2MobilityHelper(m_p.mobilityTrace).Install(m_ues.Begin(), m_ues.End());
            for (uint32_t u = 0; u < m_p.ues; ++u)
            {
                if (!m_ues.Get(u)->GetObject<MobilityModel>())
                {
                    NS_FATAL_ERROR("--mobility-trace " << m_p.mobilityTrace << " does not move UE " << u);
                }
            }
            return;
        }
        MobilityHelper ueMobility;
        ueMobility.SetPositionAllocator(uePositions);
        const double bound = m_p.isdM * 2.0;
        if (m_p.mobility == "random_walk")
        {
            ueMobility.SetMobilityModel("ns3::RandomWalk2dMobilityModel",
                                        "Bounds", RectangleValue(Rectangle(-bound, bound, -bound, bound)),
                                        "Speed", StringValue("ns3::ConstantRandomVariable[Constant=" +
                                                             std::to_string(m_p.speedMps) + "]"),
                                        "Distance", DoubleValue(20.0),
                                        "Mode", StringValue("Distance"));
        }
        else if (m_p.mobility == "constant_velocity")
        {
            ueMobility.SetMobilityModel("ns3::ConstantVelocityMobilityModel");
        }
        else if (m_p.mobility == "random_waypoint")
        {
            auto waypoints = CreateObject<RandomRectanglePositionAllocator>();
            waypoints->SetAttribute("X", StringValue("ns3::UniformRandomVariable[Min=" + std::to_string(-bound) +
                                                     "|Max=" + std::to_string(bound) + "]"));
            waypoints->SetAttribute("Y", StringValue("ns3::UniformRandomVariable[Min=" + std::to_string(-bound) +
                                                     "|Max=" + std::to_string(bound) + "]"));
            waypoints->AssignStreams(30);
            ueMobility.SetMobilityModel("ns3::RandomWaypointMobilityModel",
                                        "Speed", StringValue("ns3::ConstantRandomVariable[Constant=" +
                                                             std::to_string(m_p.speedMps) + "]"),
                                        "Pause", StringValue("ns3::ConstantRandomVariable[Constant=0]"),
                                        "PositionAllocator", PointerValue(waypoints));
        }
        else if (m_p.mobility == "gauss_markov")
        {
            ueMobility.SetMobilityModel("ns3::GaussMarkovMobilityModel",
                                        "Bounds", BoxValue(Box(-bound, bound, -bound, bound, 0, 10)),
                                        "TimeStep", TimeValue(Seconds(0.5)),
                                        "Alpha", DoubleValue(0.85),
                                        "MeanVelocity", StringValue("ns3::ConstantRandomVariable[Constant=" +
                                                                    std::to_string(m_p.speedMps) + "]"),
                                        "MeanDirection", StringValue("ns3::UniformRandomVariable[Min=0|Max=6.283185307]"),
                                        "MeanPitch", StringValue("ns3::ConstantRandomVariable[Constant=0]"),
                                        "NormalVelocity", StringValue("ns3::NormalRandomVariable[Mean=0|Variance=0.1|Bound=1]"),
                                        "NormalDirection", StringValue("ns3::NormalRandomVariable[Mean=0|Variance=0.2|Bound=0.4]"));
        }
        else
        {
            ueMobility.SetMobilityModel("ns3::ConstantPositionMobilityModel");
        }
        ueMobility.Install(m_ues);
        if (m_p.mobility == "constant_velocity")
        {
            for (uint32_t u = 0; u < m_p.ues; ++u)
            {
                double heading = uniform->GetValue(0, 2 * M_PI);
                m_ues.Get(u)->GetObject<ConstantVelocityMobilityModel>()->SetVelocity(
                    Vector(m_p.speedMps * std::cos(heading), m_p.speedMps * std::sin(heading), 0));
            }
        }
        else if (m_p.mobility != "static")
        {
            ueMobility.AssignStreams(m_ues, 20);
        }
    }

    void InstallTraffic()
    {
        const double rateBps = m_p.ueRateMbps * 1e6;
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            auto sink = CreateObject<DatagramSink>();
            sink->SetPort(kPort);
            sink->SetReceiver([this, u](const SeqTsSizeHeader& header) { OnReceive(u, header); });
            m_ues.Get(u)->AddApplication(sink);
            sink->SetStartTime(Seconds(0));
            const InetSocketAddress peer(m_ran.ueAddresses[u], kPort);
            if (m_p.traffic == "tcp_bulk")
            {
                // A greedy TCP flow (ns-3's default TCP, NewReno): full buffer with congestion control.
                PacketSinkHelper tcpSink("ns3::TcpSocketFactory",
                                         InetSocketAddress(Ipv4Address::GetAny(), kPort + 1));
                tcpSink.Install(m_ues.Get(u)).Start(Seconds(0));
                BulkSendHelper bulk("ns3::TcpSocketFactory", InetSocketAddress(m_ran.ueAddresses[u], kPort + 1));
                bulk.SetAttribute("MaxBytes", UintegerValue(0));
                bulk.SetAttribute("SendSize", UintegerValue(m_p.packetBytes));
                bulk.Install(m_ran.server).Start(SlotPeriod() * (static_cast<double>(u) / m_p.ues));
                continue;
            }
            if (m_p.traffic == "poisson" || m_p.traffic == "ftp")
            {
                // Poisson: one packet per arrival; FTP model 1: one file per arrival, sent at once.
                const uint32_t burst = m_p.traffic == "ftp" ? m_p.ftpFileBytes : m_p.packetBytes;
                auto app = CreateObject<BurstSource>();
                app->SetPeer(peer);
                app->SetAttribute("BurstBytes", UintegerValue(burst));
                app->SetAttribute("DatagramBytes", UintegerValue(m_p.traffic == "ftp" ? kFullBufferDatagramBytes
                                                                                      : m_p.packetBytes));
                app->SetAttribute("MeanIntervalS", DoubleValue(burst * 8.0 / rateBps));
                app->AssignStreams(200 + u);
                app->TraceConnectWithoutContext("TxWithSeqTsSize", MakeCallback(&RanSpectrumEnv::OnSend, this, u));
                m_ran.server->AddApplication(app);
                app->SetStartTime(Seconds(0));
                continue;
            }
            const bool fullBuffer = m_p.traffic == "full_buffer";
            OnOffHelper source("ns3::UdpSocketFactory", peer);
            source.SetAttribute("OnTime", StringValue("ns3::ConstantRandomVariable[Constant=1e9]"));
            source.SetAttribute("OffTime", StringValue("ns3::ConstantRandomVariable[Constant=0]"));
            source.SetAttribute("DataRate", DataRateValue(DataRate(static_cast<uint64_t>(rateBps))));
            source.SetAttribute("PacketSize", UintegerValue(fullBuffer ? kFullBufferDatagramBytes : m_p.packetBytes));
            source.SetAttribute("EnableSeqTsSizeHeader", BooleanValue(true));
            ApplicationContainer app = source.Install(m_ran.server);
            app.Get(0)->TraceConnectWithoutContext("TxWithSeqTsSize", MakeCallback(&RanSpectrumEnv::OnSend, this, u));
            // Staggered starts within the first slot, so sources do not fire in lockstep.
            app.Start(SlotPeriod() * (static_cast<double>(u) / m_p.ues));
        }
    }

    void OnSend(uint32_t ue,
                Ptr<const Packet> /* packet */,
                const Address& /* from */,
                const Address& /* to */,
                const SeqTsSizeHeader& header)
    {
        m_ledger->Sent(ue, header.GetSeq(), header.GetTs().GetSeconds());
    }

    void OnReceive(uint32_t ue, const SeqTsSizeHeader& header)
    {
        m_ledger->Received(ue, header.GetSeq(), Simulator::Now().GetSeconds());
    }

    void OnHandover(uint32_t ue, uint32_t from, uint32_t to)
    {
        m_handoverEvents.push_back({Simulator::Now().GetSeconds(), ue, from, to, 0});
    }

    void SampleUtilization()
    {
        for (uint32_t c = 0; c < m_p.cells; ++c)
        {
            const Allocation& a = m_ran.system->LastAllocation(c, Direction::Downlink);
            m_slotsUsed += std::count_if(a.begin(), a.end(), [](int32_t x) { return x >= 0; });
            m_slotsTotal += a.size();
            for (uint32_t rbg = 0; rbg < a.size(); ++rbg)
            {
                if (a[rbg] >= 0)
                {
                    m_rbSlots[static_cast<size_t>(a[rbg])] += m_carrier.RbgRbCount(rbg);
                }
            }
        }
        m_sampleEvent = Simulator::Schedule(SlotPeriod(), &RanSpectrumEnv::SampleUtilization, this);
    }

    /** Turn the counters since the last decision into this interval's numbers. */
    void CloseInterval()
    {
        m_lastSamples.clear();
        const double intervalS = IntervalS();
        uint64_t dropped = 0;
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            const UeCounters& now = m_ran.system->Counters(u);
            const UeCounters& before = m_prevCounters[u];
            m_intervalBits[u] = static_cast<double>(now.deliveredBits[0] - before.deliveredBits[0]);
            m_intervalRbgSlots[u] = static_cast<double>(now.allocatedRbgSlots[0] - before.allocatedRbgSlots[0]);
            dropped += now.droppedBytes[0];
            m_prevCounters[u] = now;
            LinkMeasurement m = m_link->Measure(u);
            Vector pos = m_ues.Get(u)->GetObject<MobilityModel>()->GetPosition();
            m_lastSamples.push_back({u,
                                     m_ran.system->ServingCell(u),
                                     m.sinrDb,
                                     m.cqi,
                                     m.mcs,
                                     m_intervalRbgSlots[u],
                                     m_rbSlots[u],
                                     m_intervalBits[u] / intervalS,
                                     static_cast<double>(m_ran.system->QueuedBytes(u, Direction::Downlink)),
                                     pos.x,
                                     pos.y});
        }
        std::fill(m_rbSlots.begin(), m_rbSlots.end(), 0.0);
        m_intervalDroppedBytes = static_cast<double>(dropped - m_prevDropped);
        m_delays = m_ledger->Due(Simulator::Now().GetSeconds());
        m_prevDropped = dropped;
        uint64_t handovers = m_ran.system->GetHandovers();
        m_intervalHandovers = handovers - m_prevHandovers;
        m_prevHandovers = handovers;
    }

    std::vector<double> Throughputs() const
    {
        std::vector<double> out(m_p.ues);
        const double intervalS = IntervalS();
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            out[u] = m_intervalBits[u] / intervalS;
        }
        return out;
    }

    Allocation ShareToAllocation(uint32_t cell, const float* share) const
    {
        Allocation out(m_carrier.nRbg, kUnusedRbg);
        std::vector<uint32_t> own;
        double total = 0.0;
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            if (m_ran.system->ServingCell(u) == cell && share[u] > 0)
            {
                own.push_back(u);
                total += share[u];
            }
        }
        if (own.empty() || total <= 0)
        {
            return out;
        }
        // Largest remainder: floor shares first, then the biggest remainders get one more RBG each.
        std::vector<uint32_t> count(own.size());
        std::vector<std::pair<double, size_t>> remainder;
        uint32_t given = 0;
        for (size_t i = 0; i < own.size(); ++i)
        {
            double exact = share[own[i]] / total * m_carrier.nRbg;
            count[i] = static_cast<uint32_t>(std::floor(exact));
            given += count[i];
            remainder.emplace_back(exact - count[i], i);
        }
        std::stable_sort(remainder.begin(), remainder.end(), [](auto& a, auto& b) { return a.first > b.first; });
        for (size_t k = 0; given < m_carrier.nRbg && k < remainder.size(); ++k, ++given)
        {
            count[remainder[k].second] += 1;
        }
        uint32_t rbg = 0;
        for (size_t i = 0; i < own.size(); ++i)
        {
            for (uint32_t k = 0; k < count[i] && rbg < m_carrier.nRbg; ++k)
            {
                out[rbg++] = static_cast<int32_t>(own[i]);
            }
        }
        return out;
    }

    Params m_p;
    Carrier m_carrier;
    RewardKind m_rewardKind;
    NodeContainer m_gnbs;
    NodeContainer m_ues;
    Ptr<RanLink> m_link;
    RanDeployment m_ran;
    EventId m_sampleEvent;
    std::vector<RadioSample> m_lastSamples;
    std::vector<int> m_cqiRow; //!< one UE's per-RBG CQI, reused by GetObservation
    std::vector<HandoverEvent> m_handoverEvents;
    std::unique_ptr<DeadlineLedger> m_ledger; //!< every UDP packet from its send to its deadline
    std::vector<double> m_delays;             //!< latencies (s) of the packets due in the interval (+inf: missed)
    std::vector<UeCounters> m_prevCounters;
    std::vector<double> m_intervalBits;
    std::vector<double> m_intervalRbgSlots;
    std::vector<double> m_rbSlots; //!< RBs x slots allocated per UE since the last decision
    uint64_t m_prevHandovers{0};
    uint64_t m_intervalHandovers{0};
    uint64_t m_prevDropped{0};
    double m_intervalDroppedBytes{0};
    uint32_t m_steps{0};
    uint64_t m_slotsUsed{0};
    uint64_t m_slotsTotal{0};
};

} // namespace

/** The rules across options this scenario needs (SpectrumAllocationConfig's validators hold them too);
 * every option is in its range and the carrier valid here. */
std::vector<std::string>
CrossFieldProblems(const Params& p)
{
    if (p.gnbPositions.empty() && p.cells != 1 && p.cells != 3 && p.cells != 7)
    {
        return {"--cells must be 1, 3 or 7 on the hexagonal layout (or give --gnb-positions)"};
    }
    if (p.mobility == "highway" || p.mobility == "urban_grid")
    {
        return {"--mobility=" + p.mobility + " is a trace the Python environment writes: pass --mobility=trace"};
    }
    if ((p.mobility == "trace") != !p.mobilityTrace.empty())
    {
        return {"--mobility-trace is needed with --mobility=trace and only then"};
    }
    if (p.mobility == "trace" && !std::ifstream(p.mobilityTrace).good())
    {
        return {"--mobility-trace: cannot read " + p.mobilityTrace};
    }
    try
    {
        if (!p.gnbPositions.empty() && ParsePositions(p.gnbPositions).size() != static_cast<size_t>(p.cells))
        {
            return {"--gnb-positions must list one x,y per cell (" + std::to_string(p.cells) + ")"};
        }
        ParseRewardKind(p.reward);
    }
    catch (const std::exception& e)
    {
        return {e.what()};
    }
    return {};
}

int
main(int argc, char* argv[])
{
    return ns6g::ServeScenario<RanSpectrumEnv>(argc, argv, Params{}, {.check = CrossFieldProblems});
}

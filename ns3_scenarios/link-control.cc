// link-control: the agent sets the sending rate of one UDP flow over a real ns-3 bottleneck link.
//
// Topology (a dumbbell, rebuilt from scratch every episode):
//
//   controlled sender --\                                          /-- PacketSink, port 9000 (controlled)
//   cross sender 1 -----+-- router ==== bottleneck point-to-point ==== receiver
//   ...                 |            (link-rate-mbps, link-delay-ms,   \-- PacketSink, port 9001 (cross)
//   cross sender n -----/             drop-tail queue of queue-packets)
//
//   * every sender has its own access point-to-point link into the router, at 10x the fastest of the
//     bottleneck rate, the cross rate and the highest controlled rate, with 1 ms delay, so that the only
//     queue that builds up is the router's bottleneck queue;
//   * the bottleneck queue is the router's PointToPointNetDevice TxQueue, a DropTailQueue of
//     queue-packets packets. Ipv4AddressHelper::Assign installs ns-3's default queue disc (FqCoDel) on
//     every device it configures, which would take the backlog over and hide the device queue; we
//     remove it with TrafficControlHelper::Uninstall (rather than installing a pfifo of the same size:
//     one queue, one place to read its occupancy), so packets go straight to the device queue and are
//     dropped at its tail once it is full (its occupancy is the queue observation below). The access
//     links lose their queue disc too: they never build a queue, and FqCoDel costs time per packet;
//   * every device's MTU is raised to fit one packet, so a packet never fragments and the queue counts
//     whole packets;
//   * IPv4 only (no IPv6: its autoconfiguration would put router solicitations on the links), global
//     routing.
//
// Traffic:
//   * controlled flow: RateControlledSource (below) sends UDP packets of packet-bytes bytes of UDP payload,
//     each starting with a SeqTsSizeHeader (sequence number, send time, size), at the rate the agent set;
//     a new rate takes effect at once (the pending send is rescheduled). The first step of an episode
//     (the one the bridge runs before the first observation) uses the lowest rate level.
//   * cross traffic: n-cross OnOffApplication UDP sources, cross-rate-mbps each while on, exponential on
//     and off periods with means cross-on-s and cross-off-s (each source starts in an off period). They
//     draw from fixed RNG streams, so the capacity left to the controlled flow depends on RngRun only.
//   Rates are UDP payload rates; each packet also carries 28 bytes of UDP/IPv4 and 2 bytes of PPP header
//   on the wire, so the payload capacity of the bottleneck is link-rate * packet-bytes / (packet-bytes+30).
//
// Measurements, over each step (from the previous decision instant to this one), at the receiver:
//   * throughput: UDP payload bytes of the controlled flow received (PacketSink trace RxWithSeqTsSize);
//   * delay: mean one-way delay (reception time - send timestamp) of the controlled packets received.
//     When none was received in the step, the previous step's value is kept (0 before any reception);
//   * loss: controlled packets found missing (gaps in the sequence numbers, over a FIFO path) divided by
//     missing + received in the step. A loss is counted when the next packet after the gap arrives, so it
//     can show up one step after the drop;
//   * cross throughput: UDP payload bytes of cross traffic received (PacketSink trace Rx);
//   * queue: packets waiting in the bottleneck queue at the decision instant (the packet being
//     transmitted is not counted).
//
// Action, Discrete(rate-levels): level i sets the controlled rate to
//   link-rate-mbps * max-rate-fraction * (i + 1) / rate-levels   Mbit/s.
//
// Observation, Box(shape {6}, float32), all >= 0:
//   [0] controlled throughput / link rate     high 1 + 2 T / step + 0.01, T the bottleneck transmission
//                                             time of one packet (a step sees at most step/T + 1 packets
//                                             of either kind, so the fraction stays below 1 + T / step)
//   [1] mean one-way delay (ms) / 100         high 2 D / 100, D (ms) the largest one-way delay a packet
//                                             can see: D = T_access + 1 ms + (queue-packets + 2) T +
//                                             link-delay-ms, T_access the access transmission time of
//                                             one packet (the sender's access link never queues since
//                                             it is at least 4x faster than the controlled flow; at the
//                                             router a packet waits for at most queue-packets queued
//                                             packets and one in transmission, then takes its own T).
//                                             Finite, as gymnasium's checker warns on infinite bounds
//   [2] loss fraction of the step             high 1
//   [3] bottleneck queue packets / queue-packets   high 1
//   [4] current controlled rate / link rate   high max-rate-fraction
//   [5] cross-traffic throughput / link rate  high as [0]
//   Every value is also clamped to its bound in float32 (a safety net against rounding; the bounds above
//   already hold).
//
// Reward (rewards measured throughput, penalises delay and loss), dimensionless, per step:
//   reward = throughput / link rate - delay-weight * delay_ms / 100 - loss-weight * loss_fraction
//   with the same (unclamped) values as the observation: throughput the controlled flow's UDP payload
//   bit/s received in the step, delay_ms its packets' mean one-way delay (carried over as described
//   above), loss_fraction its packets missing / (missing + received). Every rate level sends (the lowest
//   is link-rate * max-rate-fraction / rate-levels), so idling is not an action; sending too little
//   forgoes throughput, sending too much fills the queue (delay) and drops (loss): test_rewards checks
//   that neither the lowest nor the highest level beats a rate that fits the capacity left.
//
// Info: throughput_mbps, delay_ms, loss_fraction, queue_packets, rate_mbps, cross_throughput_mbps,
//   sim_time_s.
// Episodes never terminate (GetGameOver() is false); they are truncated after episode-steps decisions of
// step-ms milliseconds of simulated time each.
#include "bridge/ns6g-serve.h"
#include "options/link-control-options.h"

#include "ns3/application.h"
#include "ns3/data-rate.h"
#include "ns3/drop-tail-queue.h"
#include "ns3/inet-socket-address.h"
#include "ns3/internet-stack-helper.h"
#include "ns3/ipv4-address-generator.h"
#include "ns3/ipv4-address-helper.h"
#include "ns3/ipv4-global-routing-helper.h"
#include "ns3/on-off-helper.h"
#include "ns3/onoff-application.h"
#include "ns3/packet-sink-helper.h"
#include "ns3/packet-sink.h"
#include "ns3/point-to-point-helper.h"
#include "ns3/point-to-point-net-device.h"
#include "ns3/queue.h"
#include "ns3/seq-ts-size-header.h"
#include "ns3/socket.h"
#include "ns3/traffic-control-helper.h"
#include "ns3/udp-socket-factory.h"

#include <algorithm>

using namespace ns3;

namespace
{

constexpr uint16_t kControlledPort = 9000;
constexpr uint16_t kCrossPort = 9001;
// Fixed RNG streams of the cross-traffic sources (two each: on and off times). Automatic stream indices
// start at 2^63, so these never collide with them.
constexpr int64_t kCrossStreamBase = 100;
// UDP/IPv4 headers (28 bytes) and the point-to-point (PPP) header (2 bytes) on the wire.
constexpr uint32_t kUdpIpBytes = 28;
constexpr uint32_t kPppBytes = 2;

/**
 * Sends UDP packets of a fixed size at a rate that can change at any time. Every packet starts with a
 * SeqTsSizeHeader (sequence number, send time, packet size) for the receiver's PacketSink.
 */
class RateControlledSource : public Application
{
  public:
    static TypeId GetTypeId()
    {
        static TypeId tid = TypeId("ns6g::RateControlledSource")
                                .SetParent<Application>()
                                .SetGroupName("Applications")
                                .AddConstructor<RateControlledSource>();
        return tid;
    }

    /** Destination and UDP payload size (bytes, header included). */
    void Configure(const Address& peer, uint32_t packetBytes)
    {
        m_peer = peer;
        m_packetBytes = packetBytes;
    }

    /** New sending rate (bit/s of UDP payload), effective at once. */
    void SetRate(double bps)
    {
        m_rateBps = bps;
        if (!m_running)
        {
            return;
        }
        m_sendEvent.Cancel();
        Time next = Simulator::Now();
        if (m_sentAny)
        {
            next = std::max(next, m_lastSend + Interval());
        }
        m_sendEvent = Simulator::Schedule(next - Simulator::Now(), &RateControlledSource::Send, this);
    }

    double GetRate() const
    {
        return m_rateBps;
    }

  private:
    Time Interval() const
    {
        return Seconds(m_packetBytes * 8.0 / m_rateBps);
    }

    void StartApplication() override
    {
        m_socket = Socket::CreateSocket(GetNode(), UdpSocketFactory::GetTypeId());
        m_socket->Bind();
        m_socket->Connect(m_peer);
        m_running = true;
        m_sendEvent = Simulator::ScheduleNow(&RateControlledSource::Send, this);
    }

    void StopApplication() override
    {
        m_running = false;
        m_sendEvent.Cancel();
        if (m_socket)
        {
            m_socket->Close();
        }
    }

    void DoDispose() override
    {
        m_running = false;
        m_sendEvent.Cancel();
        m_socket = nullptr;
        Application::DoDispose();
    }

    void Send()
    {
        SeqTsSizeHeader header; // the send timestamp is Simulator::Now() at construction
        header.SetSeq(m_seq++);
        header.SetSize(m_packetBytes);
        Ptr<Packet> packet = Create<Packet>(m_packetBytes - header.GetSerializedSize());
        packet->AddHeader(header);
        m_socket->Send(packet);
        m_lastSend = Simulator::Now();
        m_sentAny = true;
        m_sendEvent = Simulator::Schedule(Interval(), &RateControlledSource::Send, this);
    }

    Ptr<Socket> m_socket;
    Address m_peer;
    uint32_t m_packetBytes{1000};
    double m_rateBps{1e6};
    uint32_t m_seq{0};
    bool m_running{false};
    bool m_sentAny{false};
    Time m_lastSend;
    EventId m_sendEvent;
};

NS_OBJECT_ENSURE_REGISTERED(RateControlledSource);

// The options (defaults, CommandLine, range checks) are generated from LinkControlConfig, their one
// declaration (ns3_scenarios/options/link-control-options.h).
using Params = ns6g::LinkControlOptions;

class LinkControlEnv : public ns6g::GymEnv
{
  public:
    explicit LinkControlEnv(const Params& p)
        : m_p(p)
    {
        m_linkBps = p.linkRateMbps * 1e6;
        m_stepTime = Time::FromDouble(p.stepMs, Time::MS);
        // Bottleneck transmission time of one packet (every packet, controlled or cross, has this size).
        double txS = (p.packetBytes + kUdpIpBytes + kPppBytes) * 8.0 / m_linkBps;
        m_thrHigh = 1.0 + 2.0 * txS / (p.stepMs / 1000.0) + 0.01;
        // Largest one-way delay (see the top of the file), with a factor 2 of margin.
        double accessTxS = (p.packetBytes + kUdpIpBytes + kPppBytes) * 8.0 / AccessRateBps();
        double maxDelayMs = 1000.0 * (accessTxS + 1e-3 + (p.queuePackets + 2) * txS) + p.linkDelayMs;
        m_delayHigh = 2.0 * maxDelayMs / 100.0;
        m_high = {static_cast<float>(m_thrHigh),
                  static_cast<float>(m_delayHigh),
                  1.0F,
                  1.0F,
                  static_cast<float>(p.maxRateFraction),
                  static_cast<float>(m_thrHigh)};
    }

    ns6g::Space GetObservationSpace() override
    {
        return ns6g::Box({6},
                         std::vector<double>{0.0},
                         {m_thrHigh,
                          m_delayHigh,
                          1.0,
                          1.0,
                          m_p.maxRateFraction,
                          m_thrHigh});
    }

    ns6g::Space GetActionSpace() override
    {
        return ns6g::Discrete(m_p.rateLevels);
    }

    void SetupEpisode() override
    {
        // Drop the previous episode's objects (disposed by Simulator::Destroy, kept alive by these Ptrs).
        m_source = nullptr;
        m_queue = nullptr;
        m_steps = 0;
        m_level = 0;
        m_rxBytes = m_rxPackets = m_lost = m_crossBytes = 0;
        m_delaySum = Time();
        m_nextSeq = 0;
        m_lastDecision = Time();
        m_stats = Stats{};
        m_statsValid = false;

        // Process-wide ns-3 state that outlives Simulator::Destroy (NodeList, ChannelList and the
        // SimulationSingletons are emptied by it):
        //  * Ipv4AddressGenerator: in ns-3 3.44 it lives in a SimulationSingleton, which Simulator::Destroy
        //    already deletes; the Reset() is kept so the address plan never depends on that detail (a
        //    collision with a previous episode's addresses would be a fatal error);
        //  * Mac48Address's allocation index: reset by Simulator::Destroy itself;
        //  * GlobalRouteManager's router-id counter and Packet's uid counter: plain statics, never reset,
        //    so they keep growing across episodes. Neither changes what is simulated (the dumbbell has a
        //    single shortest path per destination; uids only label packets), which is why a reset and a
        //    fresh process with the same RngRun produce identical observations.
        Ipv4AddressGenerator::Reset();

        const uint32_t nSenders = 1 + static_cast<uint32_t>(m_p.nCross);
        NodeContainer senders;
        senders.Create(nSenders);
        Ptr<Node> router = CreateObject<Node>();
        Ptr<Node> receiver = CreateObject<Node>();

        InternetStackHelper stack;
        stack.SetIpv6StackInstall(false);
        stack.Install(senders);
        stack.Install(router);
        stack.Install(receiver);

        const uint32_t mtu = std::max<uint32_t>(1500, m_p.packetBytes + kUdpIpBytes);
        PointToPointHelper access;
        access.SetDeviceAttribute("DataRate", DataRateValue(DataRate(std::llround(AccessRateBps()))));
        access.SetDeviceAttribute("Mtu", UintegerValue(mtu));
        access.SetChannelAttribute("Delay", TimeValue(MilliSeconds(1)));

        Ipv4AddressHelper addresses;
        addresses.SetBase("10.1.0.0", "255.255.255.0");
        NetDeviceContainer accessDevices;
        for (uint32_t i = 0; i < nSenders; ++i)
        {
            NetDeviceContainer link = access.Install(senders.Get(i), router);
            addresses.Assign(link);
            addresses.NewNetwork();
            accessDevices.Add(link);
        }
        // No queue disc on the access links either: they never queue (10x faster), and the default
        // FqCoDel would only cost time per packet.
        TrafficControlHelper().Uninstall(accessDevices);

        PointToPointHelper bottleneck;
        bottleneck.SetDeviceAttribute("DataRate", DataRateValue(DataRate(std::llround(m_linkBps))));
        bottleneck.SetDeviceAttribute("Mtu", UintegerValue(mtu));
        bottleneck.SetChannelAttribute("Delay", TimeValue(Time::FromDouble(m_p.linkDelayMs, Time::MS)));
        bottleneck.SetQueue("ns3::DropTailQueue<Packet>",
                            "MaxSize",
                            QueueSizeValue(QueueSize(QueueSizeUnit::PACKETS, m_p.queuePackets)));
        NetDeviceContainer bnDevices = bottleneck.Install(router, receiver);
        addresses.SetBase("10.2.0.0", "255.255.255.0");
        Ipv4InterfaceContainer bnInterfaces = addresses.Assign(bnDevices);
        // Assign() installed the default queue disc on both ends; remove it on the router's side so the
        // device's drop-tail queue is the bottleneck queue (see the top of the file).
        TrafficControlHelper().Uninstall(bnDevices.Get(0));
        m_queue = DynamicCast<PointToPointNetDevice>(bnDevices.Get(0))->GetQueue();

        Ipv4GlobalRoutingHelper::PopulateRoutingTables();
        const Ipv4Address receiverAddress = bnInterfaces.GetAddress(1);

        // Receivers.
        PacketSinkHelper controlledSink("ns3::UdpSocketFactory",
                                        InetSocketAddress(Ipv4Address::GetAny(), kControlledPort));
        controlledSink.SetAttribute("EnableSeqTsSizeHeader", BooleanValue(true));
        Ptr<Application> sink = controlledSink.Install(receiver).Get(0);
        sink->TraceConnectWithoutContext("RxWithSeqTsSize",
                                         MakeCallback(&LinkControlEnv::OnControlledRx, this));
        PacketSinkHelper crossSink("ns3::UdpSocketFactory", InetSocketAddress(Ipv4Address::GetAny(), kCrossPort));
        Ptr<Application> xsink = crossSink.Install(receiver).Get(0);
        xsink->TraceConnectWithoutContext("Rx", MakeCallback(&LinkControlEnv::OnCrossRx, this));

        // Controlled sender.
        m_source = CreateObject<RateControlledSource>();
        m_source->Configure(InetSocketAddress(receiverAddress, kControlledPort),
                            static_cast<uint32_t>(m_p.packetBytes));
        m_source->SetRate(LevelRateBps(m_level));
        senders.Get(0)->AddApplication(m_source);
        m_source->SetStartTime(Seconds(0));

        // Cross traffic (none when its rate is 0: an OnOffApplication cannot send at 0 bit/s).
        if (m_p.crossRateMbps > 0)
        {
            for (uint32_t i = 1; i < nSenders; ++i)
            {
                OnOffHelper onoff("ns3::UdpSocketFactory", InetSocketAddress(receiverAddress, kCrossPort));
                onoff.SetAttribute("DataRate",
                                   DataRateValue(DataRate(std::llround(m_p.crossRateMbps * 1e6))));
                onoff.SetAttribute("PacketSize", UintegerValue(m_p.packetBytes));
                // One random variable object per source (a helper attribute would share one object).
                Ptr<ExponentialRandomVariable> on = CreateObject<ExponentialRandomVariable>();
                on->SetAttribute("Mean", DoubleValue(m_p.crossOnS));
                Ptr<ExponentialRandomVariable> off = CreateObject<ExponentialRandomVariable>();
                off->SetAttribute("Mean", DoubleValue(m_p.crossOffS));
                onoff.SetAttribute("OnTime", PointerValue(on));
                onoff.SetAttribute("OffTime", PointerValue(off));
                ApplicationContainer app = onoff.Install(senders.Get(i));
                app.Get(0)->AssignStreams(kCrossStreamBase + 2 * static_cast<int64_t>(i - 1));
                app.Start(Seconds(0));
            }
        }
    }

    Time GetStepTime() override
    {
        return m_stepTime;
    }

    bool ExecuteActions(const ns6g::DataView& action) override
    {
        int64_t level = action.GetDiscrete();
        if (level < 0 || level >= m_p.rateLevels)
        {
            throw ns6g::InvalidRequest("link-control: action " + std::to_string(level) +
                                       " outside Discrete(" + std::to_string(m_p.rateLevels) + ")");
        }
        m_level = level;
        m_source->SetRate(LevelRateBps(level));
        ++m_steps;
        return true;
    }

    void GetObservation(const ns6g::DataView& obs) override
    {
        const Stats& s = Measure();
        const float values[6] = {static_cast<float>(s.throughputFraction),
                                 static_cast<float>(s.delayMs / 100.0),
                                 static_cast<float>(s.lossFraction),
                                 static_cast<float>(s.queuePackets / static_cast<double>(m_p.queuePackets)),
                                 static_cast<float>(s.rateBps / m_linkBps),
                                 static_cast<float>(s.crossFraction)};
        float* out = obs.Data<float>();
        for (size_t i = 0; i < 6; ++i)
        {
            out[i] = std::clamp(values[i], 0.0F, m_high[i]);
        }
    }

    double GetReward() override
    {
        const Stats& s = Measure();
        return s.throughputFraction - m_p.delayWeight * s.delayMs / 100.0 - m_p.lossWeight * s.lossFraction;
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
        const Stats& s = Measure();
        info.Set("throughput_mbps", s.throughputFraction * m_p.linkRateMbps);
        info.Set("delay_ms", s.delayMs);
        info.Set("loss_fraction", s.lossFraction);
        info.Set("queue_packets", static_cast<double>(s.queuePackets));
        info.Set("rate_mbps", s.rateBps / 1e6);
        info.Set("cross_throughput_mbps", s.crossFraction * m_p.linkRateMbps);
        info.Set("sim_time_s", Simulator::Now().GetSeconds());
    }

  private:
    struct Stats
    {
        double throughputFraction{0};
        double delayMs{0};
        double lossFraction{0};
        uint32_t queuePackets{0};
        double rateBps{0};
        double crossFraction{0};
    };

    /** Access links: 10x the fastest of the bottleneck, one cross source and the controlled flow. */
    double AccessRateBps() const
    {
        return 10.0 * std::max({m_linkBps, m_p.crossRateMbps * 1e6, m_linkBps * m_p.maxRateFraction});
    }

    double LevelRateBps(int64_t level) const
    {
        return m_linkBps * m_p.maxRateFraction * static_cast<double>(level + 1) /
               static_cast<double>(m_p.rateLevels);
    }

    /**
     * The step's measurements: computed once per decision instant (whichever of GetObservation,
     * GetReward, GetExtraInfo comes first; on reset the bridge calls no GetReward), then the interval
     * counters restart.
     */
    const Stats& Measure()
    {
        Time now = Simulator::Now();
        if (m_statsValid && now == m_lastDecision)
        {
            return m_stats;
        }
        double dt = (now - m_lastDecision).GetSeconds();
        Stats s;
        s.throughputFraction = dt > 0 ? m_rxBytes * 8.0 / dt / m_linkBps : 0.0;
        s.crossFraction = dt > 0 ? m_crossBytes * 8.0 / dt / m_linkBps : 0.0;
        s.delayMs = m_rxPackets > 0 ? m_delaySum.GetSeconds() * 1000.0 / static_cast<double>(m_rxPackets)
                                    : m_stats.delayMs; // nothing received: keep the previous value
        s.lossFraction = (m_lost + m_rxPackets) > 0
                             ? static_cast<double>(m_lost) / static_cast<double>(m_lost + m_rxPackets)
                             : 0.0;
        s.queuePackets = m_queue->GetNPackets();
        s.rateBps = m_source->GetRate();
        m_stats = s;
        m_statsValid = true;
        m_lastDecision = now;
        m_rxBytes = m_rxPackets = m_lost = m_crossBytes = 0;
        m_delaySum = Time();
        return m_stats;
    }

    void OnControlledRx(Ptr<const Packet> /*packet*/,
                        const Address& /*from*/,
                        const Address& /*to*/,
                        const SeqTsSizeHeader& header)
    {
        m_rxBytes += header.GetSize();
        ++m_rxPackets;
        m_delaySum += Simulator::Now() - header.GetTs();
        uint32_t seq = header.GetSeq();
        if (seq >= m_nextSeq)
        {
            m_lost += seq - m_nextSeq; // the path is FIFO: a gap means drops
            m_nextSeq = seq + 1;
        }
    }

    void OnCrossRx(Ptr<const Packet> packet, const Address& /*from*/)
    {
        m_crossBytes += packet->GetSize();
    }

    Params m_p;
    double m_linkBps;
    double m_thrHigh;
    double m_delayHigh;
    std::array<float, 6> m_high;
    Time m_stepTime;

    // The current episode's objects.
    Ptr<RateControlledSource> m_source;
    Ptr<Queue<Packet>> m_queue;

    int64_t m_steps{0};
    int64_t m_level{0};
    // Counters of the current interval.
    uint64_t m_rxBytes{0};
    uint64_t m_rxPackets{0};
    uint64_t m_lost{0};
    uint64_t m_crossBytes{0};
    Time m_delaySum;
    uint32_t m_nextSeq{0};
    // The last decision instant and its measurements.
    Time m_lastDecision;
    Stats m_stats;
    bool m_statsValid{false};
};

/** The rules beyond each option's range that this scenario's safety needs (LinkControlConfig's
 * validators hold them too): whole-bit/s cross rates, and room for the SeqTsSizeHeader. */
std::vector<std::string>
CrossFieldProblems(const Params& p)
{
    std::vector<std::string> problems;
    const int64_t minPacket = SeqTsSizeHeader().GetSerializedSize();
    if (p.packetBytes < minPacket)
    {
        problems.push_back("--packet-bytes must hold the " + std::to_string(minPacket) + "-byte SeqTsSizeHeader");
    }
    // ns3::DataRate rounds to whole bit/s: a positive rate below 1 kbit/s is refused, not rounded to 0.
    if (p.crossRateMbps > 0 && p.crossRateMbps < 1e-3)
    {
        problems.push_back("--cross-rate-mbps must be 0 or at least 1e-3");
    }
    return problems;
}

} // namespace

int
main(int argc, char* argv[])
{
    return ns6g::ServeScenario<LinkControlEnv>(argc, argv, Params{}, {.check = CrossFieldProblems});
}

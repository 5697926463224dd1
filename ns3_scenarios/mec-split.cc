// mec-split: the SplitInference environment. Inference tasks arrive at devices (UEs of one 6G RAN cell);
// for each task the agent picks the split layer of the model and where the rest runs (the edge server
// behind the gNB, or a cloud node behind the edge server). See docs/split-inference.md.
//
// Topology (rebuilt every episode): one gNB (UMi street canyon by default, 7 GHz, 20 MHz, numerology 1,
// proportional fair in both directions), `ues` devices dropped uniformly in a disk of radius
// isd-m / sqrt(3) (at least 10 m from the gNB), static. The RanHelper's server node behind the gNB
// (10 Gbit/s, 1 ms backhaul) is the EDGE server; a CLOUD node hangs off the edge server on a
// point-to-point WAN link (wan-rate-mbps, wan-delay-ms). Routes: UEs -> gNB -> edge (-> cloud), and back.
//
// Compute: one Processor per device (catalogue row `device`), one at the edge (`edge-device`), one in the
// cloud (`cloud-device`), each a single FIFO core at the device's peak FLOP/s (CreateDeviceProcessor); the
// edge and the cloud are MecTaskEngine's sites 0 and 1, and the task life cycle below is the engine's.
//
// D2D peers: device u has a neighbour of its own, peer u (catalogue row `peer-device`), dropped
// `peer-distance-m` from it in a uniformly drawn direction (RNG stream 11). Devices and peers are all UEs
// of the cell (peers send nothing on the RAN) and all carry a D2D sidelink (SidelinkHelper, its own
// carrier: sidelink-frequency-hz, sidelink-bandwidth-hz, sidelink-numerology, sidelink-subchannel-rbs,
// sidelink-mode, sidelink-tx-power-dbm; TR 37.885 V2V-Urban loss). Peer u is the engine's site 2 + u,
// reached at its sidelink address: the cut activations go device -> peer over the sidelink, the result
// comes back over it (the peer routes its device's RAN address to the sidelink).
// The catalogue CSV and the profiles folder come on the command line (--catalogue, --profiles); `model`
// and `dtype` pick the layer profile (cuts k = 0..N).
//
// Tasks: every device generates tasks as a Poisson process of task-rate-hz (exponential gaps, RNG stream
// 500 + device). A task is one inference (batch 1). At each arrival the simulation stops and the agent
// decides for that task: action MultiDiscrete([N + 1, 3]) = (cut k, target 0 = edge, 1 = cloud,
// 2 = the device's D2D peer).
//  * k whose device part does not fit the device memory (SplitInfeasibility), or, for the peer, whose
//    peer part (PeerMemoryBytes) does not fit the peer's memory: the task fails at once (infeasible);
//    it spends no energy and costs as any failed task (below).
//  * The device processor runs device_flops(k) (skipped when 0, i.e. k = 0). k = N: done.
//  * k < N: the device sends transfer_bytes(k) over UDP to the target in datagrams of at most 60 000
//    bytes, each a 24-byte header (task id, total bytes, kind, device) + payload; the target reassembles,
//    its processor runs server_flops(k), and it sends the result (transfer_bytes(N)) back the same way;
//    the task completes when the device has all result bytes.
//  * A task not complete task-timeout-s after its arrival fails (timeout); later packets are ignored.
// Device energy per task: device_flops(k) * energy_per_flop_j of the device + tx power (W, the device's
// maximum) * (time from the first uplink send to the last uplink byte received at the target): an upper
// bound on the radio's on-time (it includes the backhaul, and the WAN for the cloud). Idle power and
// receiving are not counted. Each device's battery (battery-j) loses the energy as it is spent; the
// episode terminates when a battery is empty.
//
// Step: apply the action to the pending task, run to the next arrival.
// Reward (reward units: latency in s, energy in J, energy-weight in s/J): over the tasks that completed
// or failed in the step, -(latency_s + energy-weight * energy_j) - deadline-penalty * [late]
// - failure-penalty * [failed]; a completed task is late when its latency (arrival to result at the
// device) exceeds deadline-ms; a failed task (timeout, or an infeasible split) counts with the latency task-timeout-s
// and as late. After the last decision the step runs until every decided task is done (no arrivals);
// an episode a battery ends early is also charged task-timeout-s + deadline-penalty + failure-penalty per
// task decided and not finished and per decision not reached (info unserved). See MecTaskEngine.
// Truncated after episode-steps decisions.
// Observation (Dict): cqi (1,) wideband uplink CQI of the deciding device on its serving cell (mean over
//   RBGs of RanLink::RbgCqi, uplink); uplink_mbps (1,): sum over RBGs of the uplink bits one slot's RBG
//   carries at that CQI, per second, divided by 1 + the number of other devices with uplink bytes queued
//   (what PF would roughly give it); device_queue, edge_queue, cloud_queue (1,): tasks in each processor
//   (waiting or in service); battery_fraction (1,); device Discrete(ues): the deciding device;
//   sidelink_mbps (1,): noise-limited rate estimate of the device -> peer sidelink (RanSidelink::
//   EstimateRateBps on the sub-channels it would get: mode 1 all of them shared with the other device ->
//   peer links that have data, mode 2 its reservation's sub-channels once per reservation period), Mbit/s;
//   peer_queue (1,): tasks at the deciding device's peer.
// Info: latency_ms (mean over tasks completed in the step; NaN if none), energy_j (sum over tasks
//   finished in the step), completed, failed, deadline_violations (late or failed), infeasible, timeouts,
//   unserved; and the parts of
//   the last completed task (over the episode): last_latency_ms, device_compute_ms (arrival to device
//   compute done, queueing included), uplink_ms (first uplink send to all bytes at the target),
//   server_compute_ms (all bytes at the target to server compute done, queueing included), downlink_ms
//   (result send to all result bytes at the device), last_cut, last_target, last_energy_j;
//   infeasible_peer (tasks of the step refused because the peer part did not fit the peer's memory);
//   sidelink_up_bytes, sidelink_down_bytes: packet bytes decoded on the device -> peer and peer -> device
//   sidelinks since the episode started (all devices). For a peer task uplink_ms and downlink_ms are the
//   sidelink transfers and server_compute_ms the peer's part.
#include "mec/helper/mec-network-helper.h"
#include "mec/helper/mec-task-env.h"
#include "mec/helper/mec-task-scenario.h"
#include "mec/model/device-catalogue.h"
#include "mec/model/layer-profile.h"
#include "mec/model/mec-task-engine.h"
#include "options/mec-split-options.h"
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

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ns3;
using namespace ns6g::ran;
using namespace ns6g::mec;

namespace
{

constexpr uint32_t kEdge = 0;
constexpr uint32_t kCloud = 1;
constexpr uint32_t kPeer = 2;       //!< the action's target of the device's D2D peer
constexpr uint32_t kFirstPeerSite = 2; //!< peer u is site kFirstPeerSite + u

/** Memory the peer part of a cut needs: its weights plus the largest tensor it holds (its input or the
 * output of one of its blocks), as the device part's estimate (bytes). */
double
PeerMemoryBytes(const LayerProfile& profile, uint32_t cut)
{
    double largest = 0.0;
    for (size_t j = cut; j < profile.cuts.size(); ++j)
    {
        largest = std::max(largest, profile.cuts[j].transferBytes);
    }
    return profile.cuts[cut].serverParamBytes + largest;
}


// The options (defaults, CommandLine, range checks) are generated from SplitInferenceConfig, their one
// declaration; the catalogue and the layer profiles are the data files the Python side adds.
struct Params : MecOptions<ns6g::MecSplitOptions>
{
    std::string profiles; //!< folder of layer profiles

    void Register(CommandLine& cmd)
    {
        MecOptions::Register(cmd);
        cmd.AddValue("profiles", "folder of layer profiles", profiles);
    }

    ns6g::ran::SidelinkSettings Sidelink() const
    {
        return ns6g::ran::SidelinkSettingsOf(*this, kMecMtuBytes, 8'000'000);
    }
};

class MecSplitEnv : public MecTaskGymEnv
{
  public:
    explicit MecSplitEnv(const Params& p)
        : MecTaskGymEnv(static_cast<uint32_t>(p.episodeSteps)),
          m_p(p),
          m_devices(m_p),
          m_peerDevice(FindDevice(m_devices.catalogue, m_p.peerDevice)),
          m_carrier(MecCarrier(m_p))
    {
        m_profile = LoadLayerProfile(ProfilePath(m_p.profiles, m_p.model, m_p.dtype));
        if (m_profile.cuts.empty())
        {
            throw std::invalid_argument("profile of " + m_p.model + " has no cuts");
        }
        m_lastCut = static_cast<uint32_t>(m_profile.cuts.size() - 1);
    }

    ns6g::Space GetObservationSpace() override
    {
        const double maxMbps = MaxUplinkMbps(m_p.bandwidthHz);
        return ns6g::Dict({
            {"cqi", ns6g::Box({1}, 0.0, 15.0)},
            {"uplink_mbps", ns6g::Box({1}, 0.0, maxMbps)},
            {"device_queue", ns6g::Box({1}, 0.0, kMaxQueue)},
            {"edge_queue", ns6g::Box({1}, 0.0, kMaxQueue)},
            {"cloud_queue", ns6g::Box({1}, 0.0, kMaxQueue)},
            {"battery_fraction", ns6g::Box({1}, 0.0, 1.0)},
            {"device", ns6g::Discrete(m_p.ues)},
            {"sidelink_mbps", ns6g::Box({1}, 0.0, MaxUplinkMbps(m_p.sidelinkBandwidthHz))},
            {"peer_queue", ns6g::Box({1}, 0.0, kMaxQueue)},
        });
    }

    ns6g::Space GetActionSpace() override
    {
        return ns6g::MultiDiscrete({static_cast<int64_t>(m_lastCut + 1), 3});
    }

    void SetupEpisode() override
    {
        const Scenario scenario = ParseScenario(m_p.scenario);
        m_gnbs = NodeContainer();
        m_ues = NodeContainer();
        m_peers = NodeContainer();
        m_gnbs.Create(1);
        m_ues.Create(m_p.ues);
        m_peers.Create(m_p.ues);
        PlaceNodes(scenario);

        // UEs 0..ues-1 are the devices, ues..2 ues-1 their peers (RAN UEs too: the sidelink needs them).
        const NodeContainer allUes(m_ues, m_peers);
        m_link = RanHelper::CreateLink(MecRadio(m_p, m_carrier), m_gnbs, allUes, 1000);
        const RanHelperSettings settings = MecRanSettings(m_carrier, "pf", kMaxRanQueueBytes);
        m_ran = RanHelper::Install(m_gnbs, allUes, m_link, settings);
        m_sidelink = SidelinkHelper::Install(m_ran, allUes, m_p.Sidelink(), 2000);

        // The cloud node behind the edge server on the WAN link; the gNB's default route is the edge.
        const WiredLink wan =
            MecNetworkHelper::AddCloud(m_ran.server, m_p.wanRateMbps * 1e6, Seconds(m_p.wanDelayMs / 1e3), kMecMtuBytes);
        m_cloud = wan.devices.Get(1)->GetNode();

        m_engine = std::make_unique<MecTaskEngine>(TaskSettings(m_p));
        const std::vector<Ipv4Address> deviceAddresses(m_ran.ueAddresses.begin(),
                                                       m_ran.ueAddresses.begin() + m_p.ues);
        m_engine->AddDevices(m_ues, deviceAddresses, m_devices.device);
        m_engine->AddSite(m_ran.server, m_ran.serverAddress, m_devices.edge); // kEdge
        m_engine->AddSite(m_cloud, wan.ifaces.GetAddress(1), m_devices.cloud); // kCloud
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            m_engine->AddSite(m_peers.Get(u), m_sidelink.addresses[PeerUe(u)], m_peerDevice); // kFirstPeerSite + u
            RouteResultsOverSidelink(u, deviceAddresses[u]);
        }
        m_stepInfeasible = 0;
        m_engine->Start();
    }

    Time GetStepTime() override
    {
        return Time::Max(); // every arrival stops the simulation
    }

    bool ExecuteActions(const ns6g::DataView& action) override
    {
        if (!m_engine->HasPending())
        {
            throw ns6g::InvalidRequest("no task is waiting for a decision");
        }
        const int64_t* a = action.Data<int64_t>();
        if (a[0] < 0 || a[0] > static_cast<int64_t>(m_lastCut) || a[1] < 0 || a[1] > kPeer)
        {
            throw ns6g::InvalidRequest("action must be (cut in 0.." + std::to_string(m_lastCut) +
                                       ", target 0 edge, 1 cloud or 2 peer), got (" + std::to_string(a[0]) +
                                       ", " + std::to_string(a[1]) + ")");
        }
        const uint64_t id = m_engine->BeginStep();
        m_stepInfeasible = 0;
        m_stepInfeasiblePeer = 0;
        const auto cutIndex = static_cast<uint32_t>(a[0]);
        const CutProfile& cut = m_profile.cuts[cutIndex];
        const bool toPeer = cutIndex != m_lastCut && a[1] == kPeer;
        const bool peerDoesNotFit =
            toPeer && !SplitInfeasibility(m_peerDevice, PeerMemoryBytes(m_profile, cutIndex)).empty();
        if (!SplitInfeasibility(m_devices.device, cut.deviceMemoryBytes).empty() || peerDoesNotFit)
        {
            ++m_stepInfeasible;
            m_stepInfeasiblePeer += peerDoesNotFit ? 1 : 0;
            m_engine->FailNow(id, {a[0], a[1]});
            return true;
        }
        TaskPlan plan;
        plan.deviceFlops = cut.deviceFlops;
        if (cutIndex != m_lastCut)
        {
            const uint32_t u = m_engine->Tasks().at(id).device;
            // site index = target for the edge and the cloud; the peer of device u is its own site
            plan.site = static_cast<int32_t>(toPeer ? kFirstPeerSite + u : static_cast<uint32_t>(a[1]));
            plan.inputBytes = static_cast<uint64_t>(cut.transferBytes);
            plan.siteFlops = cut.serverFlops;
            plan.resultBytes = static_cast<uint64_t>(m_profile.cuts[m_lastCut].transferBytes);
        }
        m_engine->Run(id, {a[0], a[1]}, plan);
        return true;
    }

    void GetObservation(const ns6g::DataView& obs) override
    {
        const uint32_t u = m_engine->DecidingDevice();
        uint32_t others = 0;
        for (uint32_t v = 0; v < m_p.ues; ++v)
        {
            others += v != u && m_ran.system->QueuedBytes(v, Direction::Uplink) > 0 ? 1 : 0;
        }
        const UplinkEstimate uplink = EstimateUplink(m_link, m_carrier, u, m_ran.system->ServingCell(u), others);
        obs["cqi"].Data<float>()[0] = static_cast<float>(uplink.cqi);
        obs["uplink_mbps"].Data<float>()[0] = static_cast<float>(uplink.mbps);
        obs["device_queue"].Data<float>()[0] = Queue(m_engine->DeviceTasksInSystem(u));
        obs["edge_queue"].Data<float>()[0] = Queue(m_engine->SiteTasksInSystem(kEdge));
        obs["cloud_queue"].Data<float>()[0] = Queue(m_engine->SiteTasksInSystem(kCloud));
        obs["battery_fraction"].Data<float>()[0] = static_cast<float>(m_engine->BatteryFraction(u));
        obs["device"].SetDiscrete(u);
        obs["sidelink_mbps"].Data<float>()[0] = static_cast<float>(
            std::clamp(SidelinkMbps(u), 0.0, MaxUplinkMbps(m_p.sidelinkBandwidthHz)));
        obs["peer_queue"].Data<float>()[0] = Queue(m_engine->SiteTasksInSystem(kFirstPeerSite + u));
    }

    void GetExtraInfo(ns6g::Info& info) override
    {
        SetStepInfo(info, *m_engine);
        info.Set("infeasible", static_cast<double>(m_stepInfeasible));
        const CompletedTask& last = m_engine->LastCompleted();
        const bool any = !last.action.empty();
        info.Set("last_latency_ms", last.latencyMs);
        info.Set("device_compute_ms", last.deviceMs);
        info.Set("uplink_ms", last.uplinkMs);
        info.Set("server_compute_ms", last.siteMs);
        info.Set("downlink_ms", last.downlinkMs);
        info.Set("last_cut", any ? static_cast<double>(last.action[0]) : std::nan(""));
        info.Set("last_target", any && last.offloaded ? static_cast<double>(last.action[1]) : std::nan(""));
        info.Set("last_energy_j", last.energyJ);
        info.Set("infeasible_peer", static_cast<double>(m_stepInfeasiblePeer));
        uint64_t up = 0;
        uint64_t down = 0;
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            up += m_sidelink.sidelink->Counters(u, PeerUe(u)).deliveredBytes;
            down += m_sidelink.sidelink->Counters(PeerUe(u), u).deliveredBytes;
        }
        info.Set("sidelink_up_bytes", static_cast<double>(up));
        info.Set("sidelink_down_bytes", static_cast<double>(down));
    }

  private:
    static constexpr uint32_t kMaxRanQueueBytes = 8'000'000;

    /** The UE index (RAN and sidelink) of device u's peer. */
    uint32_t PeerUe(uint32_t u) const
    {
        return m_p.ues + u;
    }

    /**
     * The peer of device u sends the results to u's RAN address (the engine's device address): a host route
     * to it over the peer's sidelink device, whose default peer is u (a sidelink device sends a packet for a
     * non-sidelink address to its default peer).
     */
    void RouteResultsOverSidelink(uint32_t u, Ipv4Address deviceAddress)
    {
        Ptr<SidelinkNetDevice> peerSidelink = m_sidelink.devices[PeerUe(u)];
        peerSidelink->SetDefaultPeer(u);
        Ptr<Node> peer = m_peers.Get(u);
        Ptr<Ipv4> ipv4 = peer->GetObject<Ipv4>();
        Ipv4StaticRoutingHelper routing;
        routing.GetStaticRouting(ipv4)->AddHostRouteTo(deviceAddress, m_sidelink.addresses[u],
                                                       ipv4->GetInterfaceForDevice(peerSidelink));
    }

    /** Noise-limited rate estimate of device u -> its peer on the sub-channels it would get (Mbit/s). */
    double SidelinkMbps(uint32_t u) const
    {
        const Ptr<RanSidelink>& sl = m_sidelink.sidelink;
        if (sl->IsAutonomous())
        {
            // One reservation of AutonomousSubchannels sub-channels per period of ReservationPeriodSlots slots.
            UintegerValue subchannels;
            UintegerValue periodSlots;
            sl->GetAttribute("AutonomousSubchannels", subchannels);
            sl->GetAttribute("ReservationPeriodSlots", periodSlots);
            return sl->EstimateRateBps(u, PeerUe(u), subchannels.Get()) / std::max<uint64_t>(1, periodSlots.Get()) /
                   1e6;
        }
        uint32_t busy = 1; // this device's link, and the others with data (round robin shares the pool)
        for (uint32_t v = 0; v < m_p.ues; ++v)
        {
            busy += v != u && sl->QueuedBytes(v, PeerUe(v)) + sl->QueuedBytes(PeerUe(v), v) > 0 ? 1 : 0;
        }
        const uint32_t share = std::max(1U, sl->GetNSubchannels() / busy);
        return sl->EstimateRateBps(u, PeerUe(u), share) / 1e6;
    }

    void PlaceNodes(Scenario scenario)
    {
        RanHelper::PlaceGnbs(m_gnbs, RanHelper::HexagonalSites(1, m_p.isdM), DefaultBsHeightM(scenario));

        auto uniform = CreateObject<UniformRandomVariable>();
        uniform->SetStream(10);
        const double radius = m_p.isdM / std::sqrt(3.0);
        const double rMin = std::min(10.0, radius);
        auto uePositions = CreateObject<ListPositionAllocator>();
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            uePositions->Add(RanHelper::UniformInDisk(uniform, Vector(0, 0, 0), radius, rMin, 1.5));
        }
        MobilityHelper ueMobility;
        ueMobility.SetPositionAllocator(uePositions);
        ueMobility.SetMobilityModel("ns3::ConstantPositionMobilityModel");
        ueMobility.Install(m_ues);

        // Each peer peer-distance-m from its device, in a direction of its own.
        auto angle = CreateObject<UniformRandomVariable>();
        angle->SetStream(11);
        auto peerPositions = CreateObject<ListPositionAllocator>();
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            const Vector at = m_ues.Get(u)->GetObject<MobilityModel>()->GetPosition();
            const double phi = angle->GetValue(0.0, 2.0 * M_PI);
            peerPositions->Add(Vector(at.x + m_p.peerDistanceM * std::cos(phi),
                                      at.y + m_p.peerDistanceM * std::sin(phi), at.z));
        }
        MobilityHelper peerMobility;
        peerMobility.SetPositionAllocator(peerPositions);
        peerMobility.SetMobilityModel("ns3::ConstantPositionMobilityModel");
        peerMobility.Install(m_peers);
    }

    Params m_p;
    MecDevices m_devices;
    Device m_peerDevice;
    Carrier m_carrier;
    LayerProfile m_profile;
    uint32_t m_lastCut{0};

    NodeContainer m_gnbs;
    NodeContainer m_ues;
    NodeContainer m_peers; //!< peer u: device u's D2D neighbour
    Ptr<Node> m_cloud;
    Ptr<RanLink> m_link;
    RanDeployment m_ran;
    SidelinkDeployment m_sidelink;
    uint32_t m_stepInfeasible{0};
    uint32_t m_stepInfeasiblePeer{0};
};

} // namespace

int
main(int argc, char* argv[])
{
    // Unknown catalogue devices and missing profiles are refused by MecSplitEnv's constructor.
    return ServeMecScenario<MecSplitEnv>(argc, argv, Params{}, [](const Params& p) {
        return p.profiles.empty() ? std::vector<std::string>{"--profiles is needed"} : std::vector<std::string>{};
    });
}

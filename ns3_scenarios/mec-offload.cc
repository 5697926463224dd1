// mec-offload: the MecOffload environment. Several devices (UEs of a multi-cell 6G RAN), one edge
// server behind every gNB and a cloud; for every task the agent picks where the whole task runs (the
// device, one of the edge servers or the cloud) and the share of its serving cell's uplink the device gets
// while it uploads. When a device hands over while its task is at an edge server other than its new cell's,
// the task either finishes at the old server (its result is relayed over the inter-edge link) or migrates
// (its state crosses the inter-edge link). The task life cycle is MecTaskEngine's. See docs/mec-offload.md.
//
// Topology (rebuilt every episode): `cells` gNBs (1, 3 or 7) on a hexagonal layout with inter-site distance
// isd-m (as ran-spectrum: the centre, then the first ring), `ues` devices dropped uniformly in a disk of
// radius isd-m / sqrt(3) (at least 10 m from the gNB) around a uniformly chosen gNB; static or
// random_walk at speed-mps (within +-2 isd-m). Association by strongest RSRP, A3 handover.
// Wired network (all point-to-point, no queue discs, MTU 65 535):
//   * RanHelper's server node is the CORE: every gNB reaches it on a 10 Gbit/s, 1 ms backhaul link.
//   * EDGE node c behind gNB c on its own 10 Gbit/s, 1 ms link; its Processor (edge-device) is edge
//     server c. gNB c reaches every edge server through edge node c.
//   * INTER-EDGE links: a full mesh between the edge nodes (inter-edge-rate-mbps, inter-edge-delay-ms), so
//     any two edge sites are one link apart. Edge node e reaches device u through gNB e when u is served
//     by cell e, else through edge node ServingCell(u); these host routes move on every handover.
//   * CLOUD node behind the core on the WAN link (wan-rate-mbps, wan-delay-ms), Processor cloud-device.
// Paths: device -> gNB(serving) -> edge(serving) [-> inter-edge -> edge i] for edge server i; device ->
// gNB -> core -> WAN -> cloud; results back the reverse way (from the core through the device's first
// gNB; the RanSystem forwards after a handover).
//
// Tasks: Poisson arrivals per device (task-rate-hz, RNG stream 500 + device); each task is task-flops
// FLOPs with task-input-bytes up and task-output-bytes down. Action MultiDiscrete([cells + 2, share-levels])
// = (target, share level s): target 0 = local (the device's Processor runs task-flops), i = 1..cells: edge
// server i - 1, cells + 1: the cloud; offloaded, the device sends the input over UDP (60 000-byte
// datagrams, 24-byte header) to the server, which runs task-flops and sends the result back.
// Uplink shares: every cell's uplink scheduler is "external". Whenever an upload starts or ends, or a
// device hands over, the scenario recomputes every cell's uplink allocation: each device of the cell
// with an upload in flight (from its first send to the last byte at the server) wants the fraction
// (s + 1) / share-levels of the cell's RBGs (the largest over its uploads in flight); if the wants of a
// cell add up to more than 1 they are scaled to sum 1. RBG counts: floor(fraction * RBGs), at least 1,
// the leftover RBGs of a normalised cell go by largest remainder; contiguous blocks in device order. RBGs
// left over belong to nobody (unused). The downlink is proportional fair.
// Handover (handover-policy): on a Handover of a device, for each of its tasks that is queued or computing
// at an edge server other than its new cell's:
//   * finish_at_old: nothing moves; its result later crosses the inter-edge link (relay_ms, relay bytes).
//   * migrate: MecTaskEngine::Migrate: the task leaves the old server (queued: removed; in service: its
//     done FLOPs kept, the old Processor replaced by a fresh idle one) and migration-bytes travel from the
//     old edge node to the new cell's over the inter-edge link; it queues there when the last byte
//     arrives (migrations, migration_ms: first state datagram sent -> last byte in).
// A task not complete task-timeout-s after its arrival fails.
// Device energy per task: local: task-flops * energy_per_flop_j; offloaded: tx power (W, the device's
// maximum) * (first uplink send to the last uplink byte at the server). Battery battery-j per device;
// the episode terminates when one is empty.
// Reward (reward units: latency in s, energy in J, energy-weight in s/J): over the tasks that completed
// or failed in the step, -(latency_s + energy-weight * energy_j) - deadline-penalty * [late]
// - failure-penalty * [failed]; a completed task is late when its latency (arrival to result at the
// device) exceeds deadline-ms; a failed task (timeout) counts with the latency task-timeout-s
// and as late. After the last decision the step runs until every decided task is done (no arrivals);
// an episode a battery ends early is also charged task-timeout-s + deadline-penalty + failure-penalty per
// task decided and not finished and per decision not reached (info unserved). See MecTaskEngine.
// Truncated after episode-steps.
// Observation (Dict) of the deciding device: cqi (1,) wideband uplink CQI on its serving cell;
//   uplink_mbps (1,) full-carrier uplink rate at that CQI divided by 1 + the other devices of its cell
//   with an upload in flight; serving_cell Discrete(cells); edge_queues (cells,) tasks assigned to each
//   edge server and not yet computed (uploading, migrating, queued or in service); cloud_queue (1,) the
//   same for the cloud; device_queue (1,); battery_fraction (1,); device Discrete(ues).
// Info (per step): latency_ms (mean over completed, NaN if none), energy_j, completed, failed,
//   deadline_violations (late or failed), timeouts, unserved, migrations, migration_ms, relay_ms (inter-edge crossing time, first
//   datagram on the link to the last one off it, of the inputs and results completed in the step),
//   relay_bytes (input and result payload received from inter-edge links in the step), result_relay_bytes
//   (of which results), handovers; last completed task: last_latency_ms, uplink_ms, server_ms (last uplink
//   byte to compute done: migration, queueing and compute), downlink_ms, last_target, last_share,
//   last_energy_j.
#include "mec/helper/mec-network-helper.h"
#include "mec/helper/mec-task-env.h"
#include "mec/helper/mec-task-scenario.h"
#include "mec/model/device-catalogue.h"
#include "mec/model/mec-task-engine.h"
#include "options/mec-offload-options.h"
#include "ran/helper/ran-helper.h"
#include "ran/model/ran-channel.h"
#include "ran/model/ran-link.h"
#include "ran/model/ran-phy.h"
#include "ran/model/ran-system.h"

#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/mobility-module.h"
#include "ns3/network-module.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ns3;
using namespace ns6g::ran;
using namespace ns6g::mec;

namespace
{



// The options (defaults, CommandLine, range checks) are generated from MecOffloadConfig, their one
// declaration; the catalogue is the data file the Python side adds.
using Params = MecOptions<ns6g::MecOffloadOptions>;

class MecOffloadEnv : public MecTaskGymEnv
{
  public:
    explicit MecOffloadEnv(const Params& p)
        : MecTaskGymEnv(static_cast<uint32_t>(p.episodeSteps)),
          m_p(p),
          m_devices(m_p),
          m_carrier(MecCarrier(m_p))
    {
    }

    ns6g::Space GetObservationSpace() override
    {
        const double maxMbps = MaxUplinkMbps(m_p.bandwidthHz);
        return ns6g::Dict({
            {"cqi", ns6g::Box({1}, 0.0, 15.0)},
            {"uplink_mbps", ns6g::Box({1}, 0.0, maxMbps)},
            {"serving_cell", ns6g::Discrete(m_p.cells)},
            {"edge_queues", ns6g::Box({static_cast<int64_t>(m_p.cells)}, 0.0, kMaxQueue)},
            {"cloud_queue", ns6g::Box({1}, 0.0, kMaxQueue)},
            {"device_queue", ns6g::Box({1}, 0.0, kMaxQueue)},
            {"battery_fraction", ns6g::Box({1}, 0.0, 1.0)},
            {"device", ns6g::Discrete(m_p.ues)},
        });
    }

    ns6g::Space GetActionSpace() override
    {
        return ns6g::MultiDiscrete({static_cast<int64_t>(m_p.cells + 2), static_cast<int64_t>(m_p.shareLevels)});
    }

    void SetupEpisode() override
    {
        const Scenario scenario = ParseScenario(m_p.scenario);
        m_gnbs = NodeContainer();
        m_ues = NodeContainer();
        m_gnbs.Create(m_p.cells);
        m_ues.Create(m_p.ues);
        PlaceNodes(scenario);

        m_link = RanHelper::CreateLink(MecRadio(m_p, m_carrier), m_gnbs, m_ues, 1000);
        const RanHelperSettings settings = MecRanSettings(m_carrier, "external", kMaxRanQueueBytes);
        m_ran = RanHelper::Install(m_gnbs, m_ues, m_link, settings);
        m_ran.system->SetAttribute("HandoverHysteresisDb", DoubleValue(m_p.handoverHysteresisDb));
        m_ran.system->SetAttribute("TimeToTrigger", TimeValue(Seconds(m_p.timeToTriggerMs / 1e3)));
        m_ran.system->TraceConnectWithoutContext("Handover", MakeCallback(&MecOffloadEnv::OnHandover, this));

        m_engine = std::make_unique<MecTaskEngine>(TaskSettings(m_p));
        m_engine->AddDevices(m_ues, m_ran.ueAddresses, m_devices.device);
        InstallEdges(settings);
        // The cloud behind the RAN's server node (the core every gNB's backhaul reaches): site `cells`.
        const WiredLink wan =
            MecNetworkHelper::AddCloud(m_ran.server, m_p.wanRateMbps * 1e6, Seconds(m_p.wanDelayMs / 1e3), kMecMtuBytes);
        m_engine->AddSite(wan.devices.Get(1)->GetNode(), wan.ifaces.GetAddress(1), m_devices.cloud);
        m_engine->SetUploadHook([this]() { RecomputeUplink(); });

        m_stepHandovers = 0;
        m_ulAllocation.assign(m_p.cells, Allocation(m_carrier.nRbg, -1));
        for (uint32_t c = 0; c < m_p.cells; ++c)
        {
            m_ran.system->SetExternalAllocation(c, Direction::Uplink, m_ulAllocation[c]);
        }
        m_engine->Start();
    }

    Time GetStepTime() override
    {
        return Time::Max();
    }

    bool ExecuteActions(const ns6g::DataView& action) override
    {
        if (!m_engine->HasPending())
        {
            throw ns6g::InvalidRequest("no task is waiting for a decision");
        }
        const int64_t* a = action.Data<int64_t>();
        if (a[0] < 0 || a[0] > static_cast<int64_t>(m_p.cells + 1) || a[1] < 0 ||
            a[1] >= static_cast<int64_t>(m_p.shareLevels))
        {
            throw ns6g::InvalidRequest("action must be (target in 0.." + std::to_string(m_p.cells + 1) +
                                       ", share level in 0.." + std::to_string(m_p.shareLevels - 1) + ")");
        }
        const uint64_t id = m_engine->BeginStep();
        m_stepHandovers = 0;
        TaskPlan plan;
        if (a[0] == 0)
        {
            plan.deviceFlops = m_p.taskFlops;
        }
        else
        {
            plan.site = static_cast<int32_t>(a[0] - 1); // site i - 1: edge server i - 1, or the cloud (cells)
            plan.inputBytes = m_p.taskInputBytes;
            plan.siteFlops = m_p.taskFlops;
            plan.resultBytes = m_p.taskOutputBytes;
        }
        m_engine->Run(id, {a[0], a[1]}, plan);
        return true;
    }

    void GetObservation(const ns6g::DataView& obs) override
    {
        const uint32_t u = m_engine->DecidingDevice();
        const uint32_t cell = m_ran.system->ServingCell(u);
        uint32_t others = 0;
        for (const auto& [d, share] : UploadShares())
        {
            others += d != u && m_ran.system->ServingCell(d) == cell ? 1 : 0;
        }
        const UplinkEstimate uplink = EstimateUplink(m_link, m_carrier, u, cell, others);
        obs["cqi"].Data<float>()[0] = static_cast<float>(uplink.cqi);
        obs["uplink_mbps"].Data<float>()[0] = static_cast<float>(uplink.mbps);
        obs["serving_cell"].SetDiscrete(cell);
        float* queues = obs["edge_queues"].Data<float>();
        for (uint32_t c = 0; c < m_p.cells; ++c)
        {
            queues[c] = Queue(m_engine->SiteAssigned(c));
        }
        obs["cloud_queue"].Data<float>()[0] = Queue(m_engine->SiteAssigned(m_p.cells));
        obs["device_queue"].Data<float>()[0] = Queue(m_engine->DeviceTasksInSystem(u));
        obs["battery_fraction"].Data<float>()[0] = static_cast<float>(m_engine->BatteryFraction(u));
        obs["device"].SetDiscrete(u);
    }

    void GetExtraInfo(ns6g::Info& info) override
    {
        const MecStepTotals& step = m_engine->StepTotals();
        SetStepInfo(info, *m_engine);
        info.Set("migrations", static_cast<double>(step.migrations));
        info.Set("migration_ms", step.migrationMs);
        info.Set("relay_ms", step.relayMs);
        info.Set("relay_bytes", static_cast<double>(step.relayBytes));
        info.Set("result_relay_bytes", static_cast<double>(step.resultRelayBytes));
        info.Set("handovers", static_cast<double>(m_stepHandovers));
        const CompletedTask& last = m_engine->LastCompleted();
        const bool any = !last.action.empty();
        info.Set("last_latency_ms", last.latencyMs);
        info.Set("uplink_ms", last.uplinkMs);
        info.Set("server_ms", last.siteMs);
        info.Set("downlink_ms", last.downlinkMs);
        info.Set("last_target", any ? static_cast<double>(last.action[0]) : std::nan(""));
        info.Set("last_share", any ? static_cast<double>(last.action[1]) : std::nan(""));
        info.Set("last_energy_j", last.energyJ);
    }

  private:
    static constexpr uint32_t kMaxRanQueueBytes = 16'000'000;

    /** How edge node e reaches edge node f (f != e) over their inter-edge link. */
    struct Hop
    {
        Ipv4Address nextHop;
        uint32_t interface{0};
    };

    void PlaceNodes(Scenario scenario)
    {
        const std::vector<Vector> sites = RanHelper::HexagonalSites(m_p.cells, m_p.isdM);
        RanHelper::PlaceGnbs(m_gnbs, sites, DefaultBsHeightM(scenario));

        auto uniform = CreateObject<UniformRandomVariable>();
        uniform->SetStream(10);
        const double radius = m_p.isdM / std::sqrt(3.0);
        const double rMin = std::min(10.0, radius);
        auto uePositions = CreateObject<ListPositionAllocator>();
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            const Vector& centre = sites[uniform->GetInteger(0, m_p.cells - 1)];
            uePositions->Add(RanHelper::UniformInDisk(uniform, centre, radius, rMin, 1.5));
        }
        MobilityHelper ueMobility;
        ueMobility.SetPositionAllocator(uePositions);
        if (m_p.mobility == "random_walk")
        {
            const double bound = m_p.isdM * 2.0;
            ueMobility.SetMobilityModel("ns3::RandomWalk2dMobilityModel",
                                        "Bounds", RectangleValue(Rectangle(-bound, bound, -bound, bound)),
                                        "Speed", StringValue("ns3::ConstantRandomVariable[Constant=" +
                                                             std::to_string(m_p.speedMps) + "]"),
                                        "Distance", DoubleValue(20.0),
                                        "Mode", StringValue("Distance"));
        }
        else
        {
            ueMobility.SetMobilityModel("ns3::ConstantPositionMobilityModel");
        }
        ueMobility.Install(m_ues);
        if (m_p.mobility != "static")
        {
            ueMobility.AssignStreams(m_ues, 20);
        }
    }

    /**
     * One edge node per gNB on its own link (the backhaul's rate and delay), a full mesh of inter-edge
     * links between the edge nodes, the routes, and the edge servers as the engine's sites 0..cells-1.
     * gNB c reaches every edge server through edge node c; edge node e reaches edge f on their direct
     * link and device u through gNB e if u is served by cell e, else through edge node ServingCell(u)
     * (RouteDevice, redone on every handover).
     */
    void InstallEdges(const RanHelperSettings& settings)
    {
        m_edges = NodeContainer();
        m_edges.Create(m_p.cells);
        InternetStackHelper().Install(m_edges);
        Ipv4AddressHelper edgeAddresses("11.0.0.0", "255.255.255.252");
        std::vector<WiredLink> local;
        m_edgeAddresses.clear();
        for (uint32_t c = 0; c < m_p.cells; ++c)
        {
            local.push_back(MecNetworkHelper::Connect(m_gnbs.Get(c), m_edges.Get(c), settings.backhaulRateBps,
                                                      settings.backhaulDelay, kMecMtuBytes, edgeAddresses));
            m_edgeAddresses.push_back(local.back().ifaces.GetAddress(1));
        }
        m_toGnb.clear();
        for (uint32_t c = 0; c < m_p.cells; ++c)
        {
            m_toGnb.push_back(Hop{local[c].ifaces.GetAddress(0), local[c].bInterface});
            for (uint32_t e = 0; e < m_p.cells; ++e)
            {
                if (e != c)
                {
                    MecNetworkHelper::SetHostRoute(m_gnbs.Get(c), m_edgeAddresses[e], m_edgeAddresses[c],
                                                   local[c].aInterface);
                }
            }
        }
        Ipv4AddressHelper meshAddresses("12.0.0.0", "255.255.255.252");
        m_hops.assign(m_p.cells, std::vector<Hop>(m_p.cells));
        for (uint32_t e = 0; e < m_p.cells; ++e)
        {
            for (uint32_t f = e + 1; f < m_p.cells; ++f)
            {
                const WiredLink mesh =
                    MecNetworkHelper::Connect(m_edges.Get(e), m_edges.Get(f), m_p.interEdgeRateMbps * 1e6,
                                              Seconds(m_p.interEdgeDelayMs / 1e3), kMecMtuBytes, meshAddresses);
                m_hops[e][f] = Hop{mesh.ifaces.GetAddress(1), mesh.aInterface};
                m_hops[f][e] = Hop{mesh.ifaces.GetAddress(0), mesh.bInterface};
                MecNetworkHelper::SetHostRoute(m_edges.Get(e), m_edgeAddresses[f], m_hops[e][f].nextHop,
                                               m_hops[e][f].interface);
                MecNetworkHelper::SetHostRoute(m_edges.Get(f), m_edgeAddresses[e], m_hops[f][e].nextHop,
                                               m_hops[f][e].interface);
                m_engine->WatchLink(mesh.devices);
            }
        }
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            RouteDevice(u);
        }
        for (uint32_t c = 0; c < m_p.cells; ++c)
        {
            m_engine->AddSite(m_edges.Get(c), m_edgeAddresses[c], m_devices.edge); // site c: edge server c
        }
    }

    /** Every edge node's host route to device u, for u's serving cell now. */
    void RouteDevice(uint32_t u)
    {
        const uint32_t serving = m_ran.system->ServingCell(u);
        for (uint32_t e = 0; e < m_p.cells; ++e)
        {
            const Hop& hop = e == serving ? m_toGnb[e] : m_hops[e][serving];
            MecNetworkHelper::SetHostRoute(m_edges.Get(e), m_ran.ueAddresses[u], hop.nextHop, hop.interface);
        }
    }

    // ---- uplink shares --------------------------------------------------------------------------

    /** Devices with an upload in flight and the fraction of RBGs each wants (largest over its uploads). */
    std::map<uint32_t, double> UploadShares() const
    {
        std::map<uint32_t, double> out;
        for (const auto& [id, t] : m_engine->Tasks())
        {
            if (t.stage == TaskStage::kUpload)
            {
                const double f = (t.action[1] + 1.0) / m_p.shareLevels;
                out[t.device] = std::max(out[t.device], f);
            }
        }
        return out;
    }

    void RecomputeUplink()
    {
        const uint32_t n = m_carrier.nRbg;
        std::vector<std::vector<std::pair<uint32_t, double>>> perCell(m_p.cells);
        for (const auto& [d, f] : UploadShares())
        {
            perCell[m_ran.system->ServingCell(d)].emplace_back(d, f);
        }
        for (uint32_t c = 0; c < m_p.cells; ++c)
        {
            Allocation alloc(n, -1);
            auto& wants = perCell[c];
            double total = 0.0;
            for (const auto& w : wants)
            {
                total += w.second;
            }
            if (!wants.empty())
            {
                const bool normalised = total > 1.0;
                std::vector<uint32_t> counts(wants.size());
                std::vector<double> rest(wants.size());
                uint32_t used = 0;
                for (size_t i = 0; i < wants.size(); ++i)
                {
                    const double exact = (normalised ? wants[i].second / total : wants[i].second) * n;
                    counts[i] = static_cast<uint32_t>(std::floor(exact + 1e-9));
                    rest[i] = exact - counts[i];
                    used += counts[i];
                }
                if (normalised)
                {
                    std::vector<size_t> order(wants.size());
                    std::iota(order.begin(), order.end(), 0);
                    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rest[a] > rest[b]; });
                    for (size_t k = 0; used < n && k < order.size(); ++k)
                    {
                        ++counts[order[k]];
                        ++used;
                    }
                }
                // At least one RBG each (taken from the largest holders) while there are RBGs enough.
                for (size_t i = 0; i < wants.size(); ++i)
                {
                    if (counts[i] > 0)
                    {
                        continue;
                    }
                    if (used < n)
                    {
                        counts[i] = 1;
                        ++used;
                        continue;
                    }
                    auto big = std::max_element(counts.begin(), counts.end());
                    if (*big > 1)
                    {
                        --*big;
                        counts[i] = 1;
                    }
                }
                uint32_t rbg = 0;
                for (size_t i = 0; i < wants.size(); ++i)
                {
                    for (uint32_t k = 0; k < counts[i] && rbg < n; ++k)
                    {
                        alloc[rbg++] = static_cast<int32_t>(wants[i].first);
                    }
                }
            }
            if (alloc != m_ulAllocation[c])
            {
                m_ulAllocation[c] = alloc;
                m_ran.system->SetExternalAllocation(c, Direction::Uplink, alloc);
            }
        }
    }

    // ---- handovers and bookkeeping -----------------------------------------------------------------

    void OnHandover(uint32_t ue, uint32_t from, uint32_t to)
    {
        ++m_stepHandovers;
        RouteDevice(ue);
        RecomputeUplink();
        if (m_p.handoverPolicy != "migrate")
        {
            return;
        }
        std::vector<uint64_t> moving;
        for (const auto& [id, task] : m_engine->Tasks())
        {
            if (task.device == ue && task.site >= 0 && task.site < static_cast<int32_t>(m_p.cells) &&
                task.site != static_cast<int32_t>(to))
            {
                moving.push_back(id);
            }
        }
        for (uint64_t id : moving)
        {
            m_engine->Migrate(id, to, m_p.migrationBytes); // queued or in service only
        }
    }

    Params m_p;
    MecDevices m_devices;
    Carrier m_carrier;

    NodeContainer m_gnbs;
    NodeContainer m_ues;
    NodeContainer m_edges;
    std::vector<Ipv4Address> m_edgeAddresses; //!< edge server c's address (on its gNB link)
    std::vector<Hop> m_toGnb;                 //!< edge node c -> gNB c
    std::vector<std::vector<Hop>> m_hops;     //!< [e][f]: edge node e -> edge node f
    Ptr<RanLink> m_link;
    RanDeployment m_ran;
    std::vector<Allocation> m_ulAllocation;
    uint32_t m_stepHandovers{0};
};

} // namespace

int
main(int argc, char* argv[])
{
    // Unknown catalogue devices are refused by MecOffloadEnv's constructor.
    return ServeMecScenario<MecOffloadEnv>(argc, argv, Params{});
}

// mec-offload: the MecOffload environment. Several devices (UEs of a multi-cell 6G RAN) and one edge
// server per gNB; for every task the agent picks where the whole task runs (on the device or on one of
// the edge servers) and the share of its serving cell's uplink the device gets while it uploads. When a
// device hands over while its task is at an edge server other than its new cell's, the task either
// finishes at the old server (its result is relayed over the inter-edge link) or migrates. See
// docs/mec-offload.md.
//
// Topology (rebuilt every episode): `cells` gNBs (1, 3 or 7) on a hexagonal layout with inter-site distance
// isd-m (as ran-spectrum: the centre, then the first ring), `ues` devices dropped uniformly in a disk of
// radius isd-m / sqrt(3) (at least 10 m from the gNB) around a uniformly chosen gNB; static or
// random_walk at speed-mps (within +-2 isd-m). Association by strongest RSRP, A3 handover.
//
// Edge servers: RanHelper's server node (behind every gNB on 10 Gbit/s, 1 ms backhaul links) hosts
// `cells` LOGICAL edge servers, server i co-located with gNB i, each with its own Processor
// (edge-device of the catalogue: one FIFO core at its peak FLOP/s). Packets really travel device -> gNB
// of the serving cell -> server node and back. The inter-edge network is analytic: an uplink whose
// device is served by cell c != i when its last byte arrives pays inter-edge-delay-ms before server i
// queues it, and a result of server i for a device now served by c != i leaves inter-edge-delay-ms
// later (the relay through the old server / between edge sites).
//
// Tasks: Poisson arrivals per device (task-rate-hz, RNG stream 500 + device); each task is task-flops
// FLOPs with task-input-bytes up and task-output-bytes down. Action MultiDiscrete([cells + 1, share-levels])
// = (target, share level s): target 0 = local (the device's Processor runs task-flops), i = edge server
// i - 1: the device sends the input over UDP (60 000-byte datagrams, 24-byte header) to the server node,
// the server's processor runs task-flops, the result comes back over the downlink (PF).
// Uplink shares: every cell's uplink scheduler is "external". Whenever an upload starts or ends, or a
// device hands over, the scenario recomputes every cell's uplink allocation: each device of the cell
// with an upload in flight (from its first send to the last byte at the server node) wants the fraction
// (s + 1) / share-levels of the cell's RBGs (the largest over its uploads in flight); if the wants of a
// cell add up to more than 1 they are scaled to sum 1. RBG counts: floor(fraction * RBGs), at least 1,
// the leftover RBGs of a normalised cell go by largest remainder; contiguous blocks in device order. RBGs
// left over belong to nobody (unused). The downlink is proportional fair.
// Handover (handover-policy): on a Handover of a device, for each of its tasks that is at an edge server
// (forwarded, queued or computing) other than its new cell's:
//   * finish_at_old: nothing moves; the result later pays the inter-edge relay (relay_ms in info).
//   * migrate: the task leaves the old server (a queued task is removed; a task in service stops: the old
//     server's Processor, which cannot cancel, is replaced by a fresh idle one) and its remaining FLOPs are
//     queued at the new cell's server after inter-edge-delay-ms + migration-bytes * 8 / inter-edge-rate-mbps
//     (migrations, migration_ms in info).
// A task not complete task-timeout-s after its arrival fails.
// Device energy per task: local: task-flops * energy_per_flop_j; offloaded: tx power (W, the device's
// maximum) * (first uplink send to the last uplink byte at the server node). Battery battery-j per device;
// the episode terminates when one is empty.
// Reward: over tasks finished in the step, -(latency_s + energy-weight * energy_j)
// - deadline-penalty * [latency > deadline-ms] - failure-penalty * [failed]. Truncated after episode-steps.
// Observation (Dict) of the deciding device: cqi (1,) wideband uplink CQI on its serving cell;
//   uplink_mbps (1,) full-carrier uplink rate at that CQI divided by 1 + the other devices of its cell
//   with an upload in flight; serving_cell Discrete(cells); edge_queues (cells,) tasks assigned to each
//   edge server and not yet computed (uploading, forwarded, queued or in service); device_queue (1,);
//   battery_fraction (1,); device Discrete(ues).
// Info (per step): latency_ms (mean over completed, NaN if none), energy_j, completed, failed,
//   deadline_violations, timeouts, migrations, migration_ms, relay_ms (inter-edge relay delay added in the
//   step, uplink forwards and result relays), handovers; last completed task:
//   last_latency_ms, uplink_ms, server_ms (last uplink byte to compute done: relay, migration, queueing
//   and compute), downlink_ms, last_target, last_share, last_energy_j.
#include "bridge/ns6g-bridge.h"
#include "mec/model/device-catalogue.h"
#include "mec/helper/mec-network-helper.h"
#include "mec/model/mec-task-engine.h"
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

constexpr uint16_t kMtuBytes = 65'535;


struct Params
{
    uint32_t cells{3};
    uint32_t ues{4};
    std::string scenario{"UMi-StreetCanyon"};
    double frequencyHz{7e9};
    double bandwidthHz{20e6};
    uint32_t numerology{1};
    double isdM{200.0};
    bool fastFading{true};
    std::string mobility{"static"};
    double speedMps{1.5};
    double handoverHysteresisDb{3.0};
    double timeToTriggerMs{40.0};
    std::string device{"raspberry-pi-4"};
    std::string edgeDevice{"edge-gpu-server"};
    std::string cloudDevice{"cloud-gpu"};
    double wanRateMbps{1000.0};
    double wanDelayMs{20.0};
    std::string catalogue;
    double taskFlops{2e9};
    uint64_t taskInputBytes{100'000};
    uint64_t taskOutputBytes{1'000};
    double taskRateHz{2.0};
    uint32_t shareLevels{4};
    std::string handoverPolicy{"finish_at_old"};
    double interEdgeDelayMs{5.0};
    double interEdgeRateMbps{1000.0};
    uint64_t migrationBytes{1'000'000};
    double deadlineMs{200.0};
    double energyWeight{1.0};
    double deadlinePenalty{1.0};
    double failurePenalty{5.0};
    double taskTimeoutS{2.0};
    double batteryJ{1000.0};
    uint32_t episodeSteps{100};
};

class MecOffloadEnv : public ns6g::GymEnv
{
  public:
    explicit MecOffloadEnv(Params p)
        : m_p(std::move(p))
    {
        m_carrier = MakeCarrier(m_p.frequencyHz, m_p.bandwidthHz, static_cast<int>(m_p.numerology), 0);
        m_catalogue = LoadDeviceCatalogue(m_p.catalogue);
        m_device = FindDevice(m_catalogue, m_p.device);
        m_edgeDevice = FindDevice(m_catalogue, m_p.edgeDevice);
        m_cloudDevice = FindDevice(m_catalogue, m_p.cloudDevice);
        if (!std::isfinite(m_device.txPowerDbm))
        {
            throw std::invalid_argument("device " + m_device.name + " has no radio (tx_power_dbm empty)");
        }
    }

    ns6g::Space GetObservationSpace() override
    {
        const double maxMbps = 12.0 * m_p.bandwidthHz / 1e6;
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

        RanRadioSettings radio;
        radio.scenario = m_p.scenario;
        radio.frequencyHz = m_p.frequencyHz;
        radio.bandwidthHz = m_p.bandwidthHz;
        radio.numerology = m_p.numerology;
        radio.gnbTxPowerDbm = 46.0;
        radio.fastFading = m_p.fastFading;
        radio.ulCqiRbgs = m_carrier.nRbg; // as in mec-split: a device's power over the whole carrier
        m_link = RanHelper::CreateLink(radio, m_gnbs, m_ues, 1000);

        RanHelperSettings settings;
        settings.dlScheduler = "pf";
        settings.ulScheduler = "external";
        settings.dlRbgs = m_carrier.nRbg;
        settings.ulRbgs = m_carrier.nRbg;
        settings.mtuBytes = kMtuBytes;
        settings.slotPeriod = Seconds(m_carrier.numerology.SlotDurationS());
        settings.maxQueueBytes = kMaxRanQueueBytes;
        m_ran = RanHelper::Install(m_gnbs, m_ues, m_link, settings);
        m_ran.system->SetAttribute("HandoverHysteresisDb", DoubleValue(m_p.handoverHysteresisDb));
        m_ran.system->SetAttribute("TimeToTrigger", TimeValue(Seconds(m_p.timeToTriggerMs / 1e3)));
        m_ran.system->TraceConnectWithoutContext("Handover", MakeCallback(&MecOffloadEnv::OnHandover, this));

        MecTaskSettings tasks;
        tasks.taskRateHz = m_p.taskRateHz;
        tasks.taskTimeoutS = m_p.taskTimeoutS;
        tasks.batteryJ = m_p.batteryJ;
        tasks.deadlineMs = m_p.deadlineMs;
        tasks.energyWeight = m_p.energyWeight;
        tasks.deadlinePenalty = m_p.deadlinePenalty;
        tasks.failurePenalty = m_p.failurePenalty;
        m_engine = std::make_unique<MecTaskEngine>(tasks);
        m_engine->AddDevices(m_ues, m_ran.ueAddresses, m_device);
        InstallEdges(settings);
        // The cloud behind the RAN's server node (the core every gNB's backhaul reaches): site `cells`.
        const WiredLink wan =
            MecNetworkHelper::AddCloud(m_ran.server, m_p.wanRateMbps * 1e6, Seconds(m_p.wanDelayMs / 1e3), kMtuBytes);
        m_engine->AddSite(wan.devices.Get(1)->GetNode(), wan.ifaces.GetAddress(1), m_cloudDevice);
        m_engine->SetUploadHook([this]() { RecomputeUplink(); });
        m_engine->SetFinishHook([this](const MecTask& task, bool failed) { OnFinished(task, failed); });

        m_last = LastTask{};
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
        double cqiSum = 0.0;
        double bits = 0.0;
        for (uint32_t rbg = 0; rbg < m_carrier.nRbg; ++rbg)
        {
            cqiSum += m_link->RbgCqi(u, cell, rbg, Direction::Uplink);
            bits += m_link->RbgBits(u, cell, rbg, Direction::Uplink);
        }
        uint32_t others = 0;
        for (const auto& [d, share] : UploadShares())
        {
            if (d != u && m_ran.system->ServingCell(d) == cell)
            {
                ++others;
            }
        }
        const double maxMbps = 12.0 * m_p.bandwidthHz / 1e6;
        const double mbps = bits / m_carrier.numerology.SlotDurationS() / (1.0 + others) / 1e6;
        obs["cqi"].Data<float>()[0] = static_cast<float>(cqiSum / m_carrier.nRbg);
        obs["uplink_mbps"].Data<float>()[0] = static_cast<float>(std::min(mbps, maxMbps));
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

    double GetReward() override
    {
        return m_engine->StepTotals().reward;
    }

    bool GetGameOver() override
    {
        return m_engine->AnyBatteryEmpty();
    }

    bool GetTruncated() override
    {
        return m_engine->Steps() >= m_p.episodeSteps;
    }

    void GetExtraInfo(ns6g::Info& info) override
    {
        const MecStepTotals& step = m_engine->StepTotals();
        SetStepInfo(info, step);
        info.Set("migrations", static_cast<double>(step.migrations));
        info.Set("migration_ms", step.migrationMs);
        info.Set("relay_ms", step.relayMs);
        info.Set("relay_bytes", static_cast<double>(step.relayBytes));
        info.Set("result_relay_bytes", static_cast<double>(step.resultRelayBytes));
        info.Set("handovers", static_cast<double>(m_stepHandovers));
        info.Set("last_latency_ms", m_last.latencyMs);
        info.Set("uplink_ms", m_last.uplinkMs);
        info.Set("server_ms", m_last.serverMs);
        info.Set("downlink_ms", m_last.downlinkMs);
        info.Set("last_target", m_last.target);
        info.Set("last_share", m_last.share);
        info.Set("last_energy_j", m_last.energyJ);
    }

  private:
    static constexpr double kMaxQueue = 1e6;
    static constexpr uint32_t kMaxRanQueueBytes = 16'000'000;

    struct LastTask
    {
        double latencyMs{std::nan("")};
        double uplinkMs{std::nan("")};
        double serverMs{std::nan("")};
        double downlinkMs{std::nan("")};
        double target{std::nan("")};
        double share{std::nan("")};
        double energyJ{std::nan("")};
    };

    /** How edge node e reaches edge node f (f != e) over their inter-edge link. */
    struct Hop
    {
        Ipv4Address nextHop;
        uint32_t interface{0};
    };

    static float Queue(uint32_t tasks)
    {
        return static_cast<float>(std::min<double>(tasks, kMaxQueue));
    }

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
                                                      settings.backhaulDelay, kMtuBytes, edgeAddresses));
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
                                              Seconds(m_p.interEdgeDelayMs / 1e3), kMtuBytes, meshAddresses);
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
            m_engine->AddSite(m_edges.Get(c), m_edgeAddresses[c], m_edgeDevice); // site c: edge server c
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

    /** The parts of the last completed task, for the info. */
    void OnFinished(const MecTask& task, bool failed)
    {
        if (failed)
        {
            return;
        }
        auto ms = [](Time a, Time b) { return (b - a).GetSeconds() * 1e3; };
        const bool offloaded = task.plan.site >= 0;
        m_last.latencyMs = ms(task.arrival, Simulator::Now());
        m_last.uplinkMs = offloaded ? ms(task.upStart, task.upDone) : 0.0;
        m_last.serverMs = offloaded ? ms(task.upDone, task.siteDone) : 0.0;
        m_last.downlinkMs = offloaded ? ms(task.siteDone, task.resultDone) : 0.0;
        m_last.target = static_cast<double>(task.action[0]);
        m_last.share = static_cast<double>(task.action[1]);
        m_last.energyJ = task.energyJ;
    }

    Params m_p;
    Carrier m_carrier;
    std::vector<Device> m_catalogue;
    Device m_device;
    Device m_edgeDevice;
    Device m_cloudDevice;

    NodeContainer m_gnbs;
    NodeContainer m_ues;
    NodeContainer m_edges;
    std::vector<Ipv4Address> m_edgeAddresses; //!< edge server c's address (on its gNB link)
    std::vector<Hop> m_toGnb;                 //!< edge node c -> gNB c
    std::vector<std::vector<Hop>> m_hops;     //!< [e][f]: edge node e -> edge node f
    Ptr<RanLink> m_link;
    RanDeployment m_ran;
    std::unique_ptr<MecTaskEngine> m_engine;
    std::vector<Allocation> m_ulAllocation;
    LastTask m_last;
    uint32_t m_stepHandovers{0};
};

} // namespace

int
main(int argc, char* argv[])
{
    Params p;
    ns6g::Bridge bridge;
    CommandLine cmd(__FILE__);
    cmd.AddValue("cells", "number of sites (1, 3 or 7), one edge server each", p.cells);
    cmd.AddValue("ues", "number of devices (UEs)", p.ues);
    cmd.AddValue("scenario", "TR 38.901 scenario (UMi-StreetCanyon, UMa, RMa, InH-OfficeMixed)", p.scenario);
    cmd.AddValue("frequency-hz", "carrier frequency (Hz)", p.frequencyHz);
    cmd.AddValue("bandwidth-hz", "carrier bandwidth (Hz)", p.bandwidthHz);
    cmd.AddValue("numerology", "numerology mu", p.numerology);
    cmd.AddValue("isd-m", "inter-site distance (m)", p.isdM);
    cmd.AddValue("fast-fading", "3GPP fast fading on serving links", p.fastFading);
    cmd.AddValue("mobility", "static or random_walk", p.mobility);
    cmd.AddValue("speed-mps", "device speed for random_walk (m/s)", p.speedMps);
    cmd.AddValue("handover-hysteresis-db", "A3 hysteresis (dB)", p.handoverHysteresisDb);
    cmd.AddValue("time-to-trigger-ms", "A3 time to trigger (ms)", p.timeToTriggerMs);
    cmd.AddValue("device", "catalogue name of the devices", p.device);
    cmd.AddValue("edge-device", "catalogue name of the edge servers", p.edgeDevice);
    cmd.AddValue("cloud-device", "catalogue name of the cloud server", p.cloudDevice);
    cmd.AddValue("wan-rate-mbps", "core <-> cloud link rate (Mbit/s)", p.wanRateMbps);
    cmd.AddValue("wan-delay-ms", "core <-> cloud one-way delay (ms)", p.wanDelayMs);
    cmd.AddValue("catalogue", "device catalogue CSV", p.catalogue);
    cmd.AddValue("task-flops", "work of one task (FLOPs)", p.taskFlops);
    cmd.AddValue("task-input-bytes", "bytes uploaded per offloaded task", p.taskInputBytes);
    cmd.AddValue("task-output-bytes", "result bytes per offloaded task", p.taskOutputBytes);
    cmd.AddValue("task-rate-hz", "task arrival rate per device (1/s)", p.taskRateHz);
    cmd.AddValue("share-levels", "uplink share levels: level s reserves (s+1)/levels of the RBGs", p.shareLevels);
    cmd.AddValue("handover-policy", "finish_at_old or migrate", p.handoverPolicy);
    cmd.AddValue("inter-edge-delay-ms", "one-way delay between edge sites (ms)", p.interEdgeDelayMs);
    cmd.AddValue("inter-edge-rate-mbps", "inter-edge link rate for migrations (Mbit/s)", p.interEdgeRateMbps);
    cmd.AddValue("migration-bytes", "state moved per migration (bytes)", p.migrationBytes);
    cmd.AddValue("deadline-ms", "task deadline (ms)", p.deadlineMs);
    cmd.AddValue("energy-weight", "reward weight of device energy (s/J)", p.energyWeight);
    cmd.AddValue("deadline-penalty", "reward penalty per task over the deadline", p.deadlinePenalty);
    cmd.AddValue("failure-penalty", "reward penalty per failed task", p.failurePenalty);
    cmd.AddValue("task-timeout-s", "a task not complete after this long fails (s)", p.taskTimeoutS);
    cmd.AddValue("battery-j", "battery of each device (J)", p.batteryJ);
    cmd.AddValue("episode-steps", "decisions per episode", p.episodeSteps);
    bridge.AddCommandLine(cmd);
    cmd.Parse(argc, argv);

    std::string problem;
    if (p.cells != 1 && p.cells != 3 && p.cells != 7)
    {
        problem = "--cells must be 1, 3 or 7";
    }
    else if (p.ues == 0)
    {
        problem = "--ues must be at least 1";
    }
    else if (p.catalogue.empty())
    {
        problem = "--catalogue is needed";
    }
    else if (p.mobility != "static" && p.mobility != "random_walk")
    {
        problem = "--mobility must be static or random_walk";
    }
    else if (p.handoverPolicy != "finish_at_old" && p.handoverPolicy != "migrate")
    {
        problem = "--handover-policy must be finish_at_old or migrate";
    }
    else if (!(p.taskRateHz > 0) || !(p.taskTimeoutS > 0) || !(p.batteryJ > 0) || !(p.taskFlops > 0) ||
             p.taskInputBytes == 0 || p.taskOutputBytes == 0 || p.shareLevels == 0 || p.episodeSteps == 0 ||
             !(p.interEdgeRateMbps > 0) || !(p.interEdgeDelayMs >= 0) || !(p.speedMps > 0) || !(p.isdM > 0) ||
             !(p.wanRateMbps > 0) || !(p.wanDelayMs >= 0))
    {
        problem = "--task-rate-hz, --task-timeout-s, --battery-j, --task-flops, --task-input-bytes, "
                  "--task-output-bytes, --share-levels, --episode-steps, --inter-edge-rate-mbps, --speed-mps, "
                  "--isd-m and --wan-rate-mbps must be > 0 (--inter-edge-delay-ms, --wan-delay-ms >= 0)";
    }
    std::unique_ptr<MecOffloadEnv> env;
    if (problem.empty())
    {
        try
        {
            ParseScenario(p.scenario);
            problem = ValidateCarrier(p.frequencyHz, p.bandwidthHz, static_cast<int>(p.numerology), 0);
            if (problem.empty())
            {
                env = std::make_unique<MecOffloadEnv>(p);
            }
        }
        catch (const std::exception& e)
        {
            problem = e.what();
        }
    }
    if (!problem.empty())
    {
        std::cerr << "mec-offload: " << problem << std::endl;
        return 2;
    }
    return bridge.Serve(*env);
}

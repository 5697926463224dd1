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
// The catalogue CSV and the profiles folder come on the command line (--catalogue, --profiles); `model`
// and `dtype` pick the layer profile (cuts k = 0..N).
//
// Tasks: every device generates tasks as a Poisson process of task-rate-hz (exponential gaps, RNG stream
// 500 + device). A task is one inference (batch 1). At each arrival the simulation stops and the agent
// decides for that task: action MultiDiscrete([N + 1, 2]) = (cut k, target 0 = edge, 1 = cloud).
//  * k whose device part does not fit the device memory (SplitInfeasibility): the task fails at once
//    (infeasible); its latency and energy count as 0, the failure penalty applies.
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
// Step: apply the action to the pending task, run to the next arrival. Reward: sum over tasks that
// completed or failed during the step of -(latency_s + energy-weight * energy_j)
// - deadline-penalty * [latency > deadline-ms] - failure-penalty * [failed]. Truncated after
// episode-steps decisions.
// Observation (Dict): cqi (1,) wideband uplink CQI of the deciding device on its serving cell (mean over
//   RBGs of RanLink::RbgCqi, uplink); uplink_mbps (1,): sum over RBGs of the uplink bits one slot's RBG
//   carries at that CQI, per second, divided by 1 + the number of other devices with uplink bytes queued
//   (what PF would roughly give it); device_queue, edge_queue, cloud_queue (1,): tasks in each processor
//   (waiting or in service); battery_fraction (1,); device Discrete(ues): the deciding device.
// Info: latency_ms (mean over tasks completed in the step; NaN if none), energy_j (sum over tasks
//   finished in the step), completed, failed, deadline_violations, infeasible, timeouts; and the parts of
//   the last completed task (over the episode): last_latency_ms, device_compute_ms (arrival to device
//   compute done, queueing included), uplink_ms (first uplink send to all bytes at the target),
//   server_compute_ms (all bytes at the target to server compute done, queueing included), downlink_ms
//   (result send to all result bytes at the device), last_cut, last_target, last_energy_j.
#include "mec/helper/mec-network-helper.h"
#include "mec/helper/mec-task-env.h"
#include "mec/helper/mec-task-scenario.h"
#include "mec/model/device-catalogue.h"
#include "mec/model/layer-profile.h"
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


/** MecTaskParams with SplitInference's defaults (one device, 100 ms deadline) and its own options. */
struct Params : MecTaskParams
{
    Params()
    {
        ues = 1;
        deadlineMs = 100.0;
    }

    std::string model{"resnet18_style"};
    std::string dtype{"fp32"};
    std::string profiles;
};

class MecSplitEnv : public MecTaskGymEnv
{
  public:
    explicit MecSplitEnv(Params p)
        : MecTaskGymEnv(p.episodeSteps),
          m_p(std::move(p)),
          m_devices(m_p)
    {
        m_carrier = MakeCarrier(m_p.frequencyHz, m_p.bandwidthHz, static_cast<int>(m_p.numerology), 0);
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
        });
    }

    ns6g::Space GetActionSpace() override
    {
        return ns6g::MultiDiscrete({static_cast<int64_t>(m_lastCut + 1), 2});
    }

    void SetupEpisode() override
    {
        const Scenario scenario = ParseScenario(m_p.scenario);
        m_gnbs = NodeContainer();
        m_ues = NodeContainer();
        m_gnbs.Create(1);
        m_ues.Create(m_p.ues);
        PlaceNodes(scenario);

        m_link = RanHelper::CreateLink(m_p.Radio(m_carrier), m_gnbs, m_ues, 1000);
        const RanHelperSettings settings = MecTaskParams::RanSettings(m_carrier, "pf", kMaxRanQueueBytes);
        m_ran = RanHelper::Install(m_gnbs, m_ues, m_link, settings);

        // The cloud node behind the edge server on the WAN link; the gNB's default route is the edge.
        const WiredLink wan =
            MecNetworkHelper::AddCloud(m_ran.server, m_p.wanRateMbps * 1e6, Seconds(m_p.wanDelayMs / 1e3), kMecMtuBytes);
        m_cloud = wan.devices.Get(1)->GetNode();

        m_engine = std::make_unique<MecTaskEngine>(m_p.TaskSettings());
        m_engine->AddDevices(m_ues, m_ran.ueAddresses, m_devices.device);
        m_engine->AddSite(m_ran.server, m_ran.serverAddress, m_devices.edge); // kEdge
        m_engine->AddSite(m_cloud, wan.ifaces.GetAddress(1), m_devices.cloud); // kCloud
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
        if (a[0] < 0 || a[0] > static_cast<int64_t>(m_lastCut) || a[1] < 0 || a[1] > 1)
        {
            throw ns6g::InvalidRequest("action must be (cut in 0.." + std::to_string(m_lastCut) +
                                       ", target 0 or 1)");
        }
        const uint64_t id = m_engine->BeginStep();
        m_stepInfeasible = 0;
        const auto cutIndex = static_cast<uint32_t>(a[0]);
        const CutProfile& cut = m_profile.cuts[cutIndex];
        if (!SplitInfeasibility(m_devices.device, cut.deviceMemoryBytes).empty())
        {
            ++m_stepInfeasible;
            m_engine->FailNow(id, {a[0], a[1]});
            return true;
        }
        TaskPlan plan;
        plan.deviceFlops = cut.deviceFlops;
        if (cutIndex != m_lastCut)
        {
            plan.site = static_cast<int32_t>(a[1]); // site index = target (kEdge, kCloud)
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
    }

    void GetExtraInfo(ns6g::Info& info) override
    {
        SetStepInfo(info, m_engine->StepTotals());
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
    }

  private:
    static constexpr uint32_t kMaxRanQueueBytes = 8'000'000;

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
    }

    Params m_p;
    MecDevices m_devices;
    Carrier m_carrier;
    LayerProfile m_profile;
    uint32_t m_lastCut{0};

    NodeContainer m_gnbs;
    NodeContainer m_ues;
    Ptr<Node> m_cloud;
    Ptr<RanLink> m_link;
    RanDeployment m_ran;
    uint32_t m_stepInfeasible{0};
};

} // namespace

int
main(int argc, char* argv[])
{
    Params p;
    ns6g::Bridge bridge;
    CommandLine cmd(__FILE__);
    p.AddCommandLine(cmd);
    cmd.AddValue("model", "layer profile model name", p.model);
    cmd.AddValue("dtype", "fp32 or int8", p.dtype);
    cmd.AddValue("profiles", "folder of layer profiles", p.profiles);
    bridge.AddCommandLine(cmd);
    cmd.Parse(argc, argv);

    std::string problem = p.Problem();
    if (problem.empty() && p.profiles.empty())
    {
        problem = "--profiles is needed";
    }
    return ServeMecScenario<MecSplitEnv>("mec-split", bridge, p, problem);
}

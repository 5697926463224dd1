// multi-access: the MultiAccessInference environment (paper 003 Section IV, multi-access collaborative
// inference). A vehicle's inference tasks go, each over the path the agent picks, to its own computer,
// to the roadside unit (RSU) over the cellular link, or to a nearby vehicle over the V2V sidelink; when
// the RSU fails, nearby vehicles keep serving. See docs/multi-access.md and envs/multi_access.py.
//
// Topology (rebuilt every episode): a straight two-way highway along x; vehicles move as the ns-2 trace
// --mobility-trace says (the Python environment writes it with ns6g.radio.mobility.highway_trace: node 0
// is the task vehicle, nodes 1..helpers its neighbours). The RSU is one gNB of ns6g's RAN model at
// (0, rsu-offset-m) (TR 38.901 BS height of `scenario`), proportional fair both ways, the RanHelper's
// server behind it (10 Gbit/s, 1 ms backhaul) its edge server (`edge-device`). Every vehicle is a UE of
// the RSU's cell (the helpers send nothing on it) and carries a D2D sidelink (SidelinkHelper, TR 37.885
// V2V-Highway, its own carrier: the sidelink-* options).
//
// Compute (MecTaskEngine): the task vehicle is the engine's device (catalogue row `device`); site 0 is
// the edge server, site k (k = 1..helpers) vehicle k's computer (`helper-device`), reached at its
// sidelink address; vehicle k sends results to the task vehicle's RAN address over its sidelink (a host
// route).
//
// Tasks: a Poisson process of task-rate-hz at the task vehicle (RNG stream 500). A task is one inference
// of `model` (batch 1) from --profiles. At each arrival the simulation stops and the agent picks the path:
// Discrete(2 + helpers): 0 local (the whole model on the device), 1 the RSU, 1 + k vehicle k. An offloaded
// task sends frame-bytes (0: the profile's input tensor) as UDP datagrams to the site, which runs the
// whole model (the profile's cut-0 server FLOPs) and sends back the output (its last cut's transfer
// bytes). A vehicle farther than v2v-range-m from the task vehicle at the decision is refused: the task
// fails at once (info rejected). A task not complete task-timeout-s after its arrival fails (timeout).
//
// RSU failure: at rsu-fail-at-s (0: none) and, with rsu-mtbf-s > 0, at exponential gaps of that mean
// (RNG stream 700) after each repair; a failure lasts rsu-down-s (0: for good). While failed, the RSU's
// backhaul devices drop every packet they receive (an ns-3 RateErrorModel at rate 1 on both ends): the
// task vehicle's uplink still goes out over the air but never reaches the edge server, and no result
// comes back; tasks in flight at the RSU time out.
//
// Reward and episode end: MecTaskGymEnv's (the engine's per-task reward; truncated after episode-steps
// decisions, the last step running until every decided task has finished).
// Observation (Dict): rsu_mbps (1,) the task vehicle's uplink rate estimate (EstimateUplink, whole
//   carrier, no other sender): the channel's, blind to a failure; v2v_mbps (helpers,) noise-limited
//   sidelink rate estimates to each vehicle (mode 1: all sub-channels; mode 2: a reservation's per
//   period); distance_m (1 + helpers,) to the RSU (3D) and to each vehicle; in_range (helpers,) 1 within
//   v2v-range-m; recent_latency_ms (2 + helpers,) per path the latency of its last finished task (a
//   failed one: task-timeout-s; 0 before any); oldest_in_flight_ms (2 + helpers,) per path the age of its
//   oldest unfinished task (0: none); in_flight (2 + helpers,) unfinished tasks per path; rsu_ack_age_ms
//   (1,) time since the last result came back from the RSU (or since the episode began).
// Info: the engine's step keys (SetStepInfo), completed_local / _rsu / _v2v and failed_local / _rsu /
//   _v2v (tasks finished in the step per path kind), rejected, rsu_failed (ground truth), last_path (NaN
//   before any; the Python environment gives -1 and 0 for a NaN latency_ms). The bridge adds sim_time_s.
#include "mec/helper/mec-task-env.h"
#include "mec/helper/mec-task-scenario.h"
#include "mec/model/device-catalogue.h"
#include "mec/model/layer-profile.h"
#include "mec/model/mec-task-engine.h"
#include "options/multi-access-options.h"
#include "ran/helper/ran-helper.h"
#include "ran/helper/sidelink-helper.h"
#include "ran/model/ran-channel.h"
#include "ran/model/ran-link.h"
#include "ran/model/ran-sidelink.h"
#include "ran/model/ran-system.h"

#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/mobility-module.h"
#include "ns3/network-module.h"
#include "ns3/point-to-point-module.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace ns3;
using namespace ns6g::ran;
using namespace ns6g::mec;

namespace
{

constexpr int64_t kLocal = 0;
constexpr int64_t kRsu = 1;
constexpr uint32_t kEdgeSite = 0;
constexpr uint32_t kTaskVehicle = 0;
constexpr double kMaxMs = 1e7;
constexpr double kMaxDistanceM = 1e6;

struct Params : MecOptions<ns6g::MultiAccessOptions>
{
    std::string profiles;      //!< folder of layer profiles
    std::string mobilityTrace; //!< ns-2 trace of the vehicles (node 0: the task vehicle)

    void Register(CommandLine& cmd)
    {
        MecOptions::Register(cmd);
        cmd.AddValue("profiles", "folder of layer profiles", profiles);
        cmd.AddValue("mobility-trace", "ns-2 movement trace of the vehicles (node 0: the task vehicle)", mobilityTrace);
    }
};

class MultiAccessEnv : public MecTaskGymEnv
{
  public:
    explicit MultiAccessEnv(const Params& p)
        : MecTaskGymEnv(static_cast<uint32_t>(p.episodeSteps)),
          m_p(p),
          m_devices(m_p.catalogue, m_p.device, m_p.edgeDevice, m_p.edgeDevice),
          m_helperDevice(FindDevice(m_devices.catalogue, m_p.helperDevice)),
          m_carrier(MecCarrier(m_p)),
          m_paths(2 + static_cast<uint32_t>(m_p.helpers))
    {
        const LayerProfile profile = LoadLayerProfile(ProfilePath(m_p.profiles, m_p.model, m_p.dtype));
        if (profile.cuts.empty())
        {
            throw std::invalid_argument("profile of " + m_p.model + " has no cuts");
        }
        m_modelFlops = profile.cuts.front().serverFlops;
        m_inputBytes = m_p.frameBytes > 0 ? static_cast<uint64_t>(m_p.frameBytes)
                                          : static_cast<uint64_t>(profile.cuts.front().transferBytes);
        m_resultBytes = std::max<uint64_t>(1, static_cast<uint64_t>(profile.cuts.back().transferBytes));
        if (!SplitInfeasibility(m_devices.device, profile.cuts.back().deviceMemoryBytes).empty())
        {
            throw std::invalid_argument("--device " + m_p.device + " cannot hold " + m_p.model);
        }
    }

    ns6g::Space GetObservationSpace() override
    {
        const auto h = static_cast<int64_t>(m_p.helpers);
        const auto n = static_cast<int64_t>(m_paths);
        return ns6g::Dict({
            {"rsu_mbps", ns6g::Box({1}, 0.0, MaxUplinkMbps(m_p.bandwidthHz))},
            {"v2v_mbps", ns6g::Box({h}, 0.0, MaxUplinkMbps(m_p.sidelinkBandwidthHz))},
            {"distance_m", ns6g::Box({h + 1}, 0.0, kMaxDistanceM)},
            {"in_range", ns6g::Box({h}, 0.0, 1.0)},
            {"recent_latency_ms", ns6g::Box({n}, 0.0, kMaxMs)},
            {"oldest_in_flight_ms", ns6g::Box({n}, 0.0, kMaxMs)},
            {"in_flight", ns6g::Box({n}, 0.0, kMaxQueue)},
            {"rsu_ack_age_ms", ns6g::Box({1}, 0.0, kMaxMs)},
        });
    }

    ns6g::Space GetActionSpace() override
    {
        return ns6g::Discrete(m_paths);
    }

    void SetupEpisode() override
    {
        const Scenario scenario = ParseScenario(m_p.scenario);
        m_gnbs = NodeContainer();
        m_vehicles = NodeContainer();
        m_gnbs.Create(1);
        m_vehicles.Create(1 + m_p.helpers);
        RanHelper::PlaceGnbs(m_gnbs, {Vector(0, m_p.rsuOffsetM, 0)}, DefaultBsHeightM(scenario));
        Ns2MobilityHelper(m_p.mobilityTrace).Install(m_vehicles.Begin(), m_vehicles.End());
        for (uint32_t v = 0; v < m_vehicles.GetN(); ++v)
        {
            if (!m_vehicles.Get(v)->GetObject<MobilityModel>())
            {
                NS_FATAL_ERROR("--mobility-trace " << m_p.mobilityTrace << " does not move vehicle " << v);
            }
        }

        m_link = RanHelper::CreateLink(MecRadio(m_p, m_carrier), m_gnbs, m_vehicles, 1000);
        m_ran = RanHelper::Install(m_gnbs, m_vehicles, m_link, MecRanSettings(m_carrier, "pf", kMaxRanQueueBytes));
        SidelinkSettings sl = SidelinkSettingsOf(m_p, kMecMtuBytes, kMaxRanQueueBytes);
        sl.scenario = "V2V-Highway";
        m_sidelink = SidelinkHelper::Install(m_ran, m_vehicles, sl, 2000);

        m_engine = std::make_unique<MecTaskEngine>(TaskSettings(m_p));
        m_engine->AddDevices(NodeContainer(m_vehicles.Get(kTaskVehicle)), {m_ran.ueAddresses[kTaskVehicle]},
                             m_devices.device);
        m_engine->AddSite(m_ran.server, m_ran.serverAddress, m_devices.edge); // kEdgeSite
        for (uint32_t k = 1; k <= m_p.helpers; ++k)
        {
            m_engine->AddSite(m_vehicles.Get(k), m_sidelink.addresses[k], m_helperDevice); // site k
            RouteResultsOverSidelink(k);
        }
        m_engine->SetFinishHook([this](const MecTask& task, bool failed, double latencyS) {
            OnFinish(task, failed, latencyS);
        });

        m_recentMs.assign(m_paths, 0.0);
        m_open.clear();
        m_completed.assign(m_paths, 0);
        m_failed.assign(m_paths, 0);
        m_rejected = 0;
        m_lastPath = -1;
        m_lastRsuAck = Seconds(0);
        m_rsuFailed = false;
        InstallFailures();
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
        const int64_t path = action.GetDiscrete();
        if (path < 0 || path >= static_cast<int64_t>(m_paths))
        {
            throw ns6g::InvalidRequest("action must be a path in 0.." + std::to_string(m_paths - 1) +
                                       " (0 local, 1 RSU, 1 + k vehicle k), got " + std::to_string(path));
        }
        const uint64_t id = m_engine->BeginStep();
        m_completed.assign(m_paths, 0);
        m_failed.assign(m_paths, 0);
        m_rejected = 0;
        if (path > kRsu && !InRange(static_cast<uint32_t>(path - 1)))
        {
            ++m_rejected;
            m_open[id] = static_cast<uint32_t>(path);
            m_engine->FailNow(id, {path});
            return true;
        }
        TaskPlan plan;
        if (path == kLocal)
        {
            plan.deviceFlops = m_modelFlops;
        }
        else
        {
            plan.site = static_cast<int32_t>(path == kRsu ? kEdgeSite : static_cast<uint32_t>(path - 1));
            plan.inputBytes = m_inputBytes;
            plan.siteFlops = m_modelFlops;
            plan.resultBytes = m_resultBytes;
        }
        m_open[id] = static_cast<uint32_t>(path);
        m_engine->Run(id, {path}, plan);
        return true;
    }

    void GetObservation(const ns6g::DataView& obs) override
    {
        const UplinkEstimate uplink =
            EstimateUplink(m_link, m_carrier, kTaskVehicle, m_ran.system->ServingCell(kTaskVehicle), 0);
        obs["rsu_mbps"].Data<float>()[0] = static_cast<float>(uplink.mbps);
        float* v2v = obs["v2v_mbps"].Data<float>();
        float* distance = obs["distance_m"].Data<float>();
        float* inRange = obs["in_range"].Data<float>();
        distance[0] = static_cast<float>(std::min(kMaxDistanceM, CalculateDistance(Position(m_vehicles.Get(0)),
                                                                                   Position(m_gnbs.Get(0)))));
        for (uint32_t k = 1; k <= m_p.helpers; ++k)
        {
            v2v[k - 1] = static_cast<float>(std::clamp(SidelinkMbps(k), 0.0, MaxUplinkMbps(m_p.sidelinkBandwidthHz)));
            distance[k] = static_cast<float>(std::min(kMaxDistanceM, VehicleDistance(k)));
            inRange[k - 1] = InRange(k) ? 1.0F : 0.0F;
        }
        std::vector<double> oldest(m_paths, 0.0);
        std::vector<uint32_t> count(m_paths, 0);
        const auto& tasks = m_engine->Tasks();
        for (const auto& [id, path] : m_open)
        {
            auto it = tasks.find(id);
            if (it == tasks.end())
            {
                continue;
            }
            ++count[path];
            oldest[path] = std::max(oldest[path], (Simulator::Now() - it->second.arrival).GetSeconds() * 1e3);
        }
        float* recent = obs["recent_latency_ms"].Data<float>();
        float* old = obs["oldest_in_flight_ms"].Data<float>();
        float* inFlight = obs["in_flight"].Data<float>();
        for (uint32_t p = 0; p < m_paths; ++p)
        {
            recent[p] = static_cast<float>(std::min(m_recentMs[p], kMaxMs));
            old[p] = static_cast<float>(std::min(oldest[p], kMaxMs));
            inFlight[p] = Queue(count[p]);
        }
        obs["rsu_ack_age_ms"].Data<float>()[0] =
            static_cast<float>(std::min((Simulator::Now() - m_lastRsuAck).GetSeconds() * 1e3, kMaxMs));
    }

    void GetExtraInfo(ns6g::Info& info) override
    {
        SetStepInfo(info, *m_engine);
        auto v2v = [](const std::vector<uint32_t>& per) {
            double sum = 0.0;
            for (size_t p = kRsu + 1; p < per.size(); ++p)
            {
                sum += per[p];
            }
            return sum;
        };
        info.Set("completed_local", static_cast<double>(m_completed[kLocal]));
        info.Set("completed_rsu", static_cast<double>(m_completed[kRsu]));
        info.Set("completed_v2v", v2v(m_completed));
        info.Set("failed_local", static_cast<double>(m_failed[kLocal]));
        info.Set("failed_rsu", static_cast<double>(m_failed[kRsu]));
        info.Set("failed_v2v", v2v(m_failed));
        info.Set("rejected", static_cast<double>(m_rejected));
        info.Set("rsu_failed", m_rsuFailed ? 1.0 : 0.0);
        info.Set("last_path", m_lastPath >= 0 ? static_cast<double>(m_lastPath) : std::nan(""));
    }

  private:
    static constexpr uint32_t kMaxRanQueueBytes = 8'000'000;

    static Vector Position(Ptr<Node> node)
    {
        return node->GetObject<MobilityModel>()->GetPosition();
    }

    double VehicleDistance(uint32_t k) const
    {
        return CalculateDistance(Position(m_vehicles.Get(kTaskVehicle)), Position(m_vehicles.Get(k)));
    }

    /** Whether vehicle k is within v2v-range-m (compared in float, as the observation carries it). */
    bool InRange(uint32_t k) const
    {
        return static_cast<float>(VehicleDistance(k)) <= static_cast<float>(m_p.v2vRangeM);
    }

    void OnFinish(const MecTask& task, bool failed, double latencyS)
    {
        auto it = m_open.find(task.id);
        if (it == m_open.end())
        {
            return;
        }
        const uint32_t path = it->second;
        m_open.erase(it);
        m_recentMs[path] = (failed ? std::max(latencyS, m_p.taskTimeoutS) : latencyS) * 1e3;
        if (failed)
        {
            ++m_failed[path];
            return;
        }
        ++m_completed[path];
        m_lastPath = path;
        if (path == kRsu)
        {
            m_lastRsuAck = Simulator::Now();
        }
    }

    /** Vehicle k sends results to the task vehicle's RAN address over its sidelink (default peer: vehicle 0). */
    void RouteResultsOverSidelink(uint32_t k)
    {
        Ptr<SidelinkNetDevice> device = m_sidelink.devices[k];
        device->SetDefaultPeer(kTaskVehicle);
        Ptr<Ipv4> ipv4 = m_vehicles.Get(k)->GetObject<Ipv4>();
        Ipv4StaticRoutingHelper routing;
        routing.GetStaticRouting(ipv4)->AddHostRouteTo(m_ran.ueAddresses[kTaskVehicle],
                                                       m_sidelink.addresses[kTaskVehicle],
                                                       ipv4->GetInterfaceForDevice(device));
    }

    /** Noise-limited rate estimate of the task vehicle -> vehicle k sidelink (Mbit/s). */
    double SidelinkMbps(uint32_t k) const
    {
        const Ptr<RanSidelink>& sl = m_sidelink.sidelink;
        if (sl->IsAutonomous())
        {
            UintegerValue subchannels;
            UintegerValue periodSlots;
            sl->GetAttribute("AutonomousSubchannels", subchannels);
            sl->GetAttribute("ReservationPeriodSlots", periodSlots);
            return sl->EstimateRateBps(kTaskVehicle, k, subchannels.Get()) /
                   std::max<uint64_t>(1, periodSlots.Get()) / 1e6;
        }
        return sl->EstimateRateBps(kTaskVehicle, k, sl->GetNSubchannels()) / 1e6;
    }

    /** Error models on both ends of the RSU's backhaul, off until a failure; the failure schedule. */
    void InstallFailures()
    {
        m_backhaulErrors.clear();
        for (Ptr<Node> node : {m_ran.server, m_gnbs.Get(0)})
        {
            for (uint32_t d = 0; d < node->GetNDevices(); ++d)
            {
                Ptr<PointToPointNetDevice> device = DynamicCast<PointToPointNetDevice>(node->GetDevice(d));
                if (!device)
                {
                    continue;
                }
                auto errors = CreateObject<RateErrorModel>();
                errors->SetUnit(RateErrorModel::ERROR_UNIT_PACKET);
                errors->SetRate(1.0);
                errors->Disable();
                device->SetReceiveErrorModel(errors);
                m_backhaulErrors.push_back(errors);
            }
        }
        m_gaps = CreateObject<ExponentialRandomVariable>();
        m_gaps->SetStream(700);
        m_gaps->SetAttribute("Mean", DoubleValue(std::max(m_p.rsuMtbfS, 1e-9)));
        if (m_p.rsuFailAtS > 0)
        {
            Simulator::Schedule(Seconds(m_p.rsuFailAtS), &MultiAccessEnv::FailRsu, this);
        }
        if (m_p.rsuMtbfS > 0)
        {
            Simulator::Schedule(Seconds(m_gaps->GetValue()), &MultiAccessEnv::FailRsu, this);
        }
    }

    void FailRsu()
    {
        if (m_rsuFailed)
        {
            return; // already down (a scripted and a random failure met)
        }
        m_rsuFailed = true;
        for (auto& errors : m_backhaulErrors)
        {
            errors->Enable();
        }
        if (m_p.rsuDownS > 0)
        {
            Simulator::Schedule(Seconds(m_p.rsuDownS), &MultiAccessEnv::RepairRsu, this);
        }
    }

    void RepairRsu()
    {
        m_rsuFailed = false;
        for (auto& errors : m_backhaulErrors)
        {
            errors->Disable();
        }
        if (m_p.rsuMtbfS > 0)
        {
            Simulator::Schedule(Seconds(m_gaps->GetValue()), &MultiAccessEnv::FailRsu, this);
        }
    }

    Params m_p;
    MecDevices m_devices;
    Device m_helperDevice;
    Carrier m_carrier;
    uint32_t m_paths;
    double m_modelFlops{0.0};
    uint64_t m_inputBytes{0};
    uint64_t m_resultBytes{0};

    NodeContainer m_gnbs;
    NodeContainer m_vehicles; //!< 0: the task vehicle, 1..helpers its neighbours
    Ptr<RanLink> m_link;
    RanDeployment m_ran;
    SidelinkDeployment m_sidelink;
    std::vector<Ptr<RateErrorModel>> m_backhaulErrors;
    Ptr<ExponentialRandomVariable> m_gaps;
    bool m_rsuFailed{false};

    std::map<uint64_t, uint32_t> m_open; //!< decided, unfinished tasks and their paths
    std::vector<double> m_recentMs;      //!< per path, the latency of its last finished task (ms)
    std::vector<uint32_t> m_completed;   //!< per path, tasks completed in the step
    std::vector<uint32_t> m_failed;      //!< per path, tasks failed in the step
    uint32_t m_rejected{0};
    int64_t m_lastPath{-1};
    Time m_lastRsuAck;
};

} // namespace

int
main(int argc, char* argv[])
{
    // Unknown catalogue devices and missing profiles are refused by MultiAccessEnv's constructor.
    return ServeMecScenario<MultiAccessEnv>(argc, argv, Params{}, [](const Params& p) {
        std::vector<std::string> problems;
        if (p.profiles.empty())
        {
            problems.emplace_back("--profiles is needed");
        }
        if (p.mobilityTrace.empty() || !std::ifstream(p.mobilityTrace).good())
        {
            problems.emplace_back("--mobility-trace: a readable ns-2 trace is needed");
        }
        return problems;
    });
}

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
// cloud (`cloud-device`), each a single FIFO core at the device's peak FLOP/s (CreateDeviceProcessor).
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
#include "bridge/ns6g-bridge.h"
#include "mec/model/device-catalogue.h"
#include "mec/model/layer-profile.h"
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
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ns3;
using namespace ns6g::ran;
using namespace ns6g::mec;

namespace
{

constexpr uint16_t kPort = 9000;
constexpr uint16_t kMtuBytes = 65'535;
constexpr uint32_t kEdge = 0;
constexpr uint32_t kCloud = 1;


struct Params
{
    uint32_t ues{1};
    std::string scenario{"UMi-StreetCanyon"};
    double frequencyHz{7e9};
    double bandwidthHz{20e6};
    uint32_t numerology{1};
    double isdM{200.0};
    bool fastFading{true};
    std::string model{"resnet18_style"};
    std::string dtype{"fp32"};
    std::string device{"raspberry-pi-4"};
    std::string edgeDevice{"edge-gpu-server"};
    std::string cloudDevice{"cloud-gpu"};
    std::string catalogue;
    std::string profiles;
    double taskRateHz{2.0};
    double deadlineMs{100.0};
    double energyWeight{1.0};
    double deadlinePenalty{1.0};
    double failurePenalty{5.0};
    double taskTimeoutS{2.0};
    double batteryJ{1000.0};
    double wanRateMbps{1000.0};
    double wanDelayMs{20.0};
    uint32_t episodeSteps{100};
};

enum class TaskState
{
    kPending,
    kRunning,
    kDone,
    kFailed,
};

struct Task
{
    uint64_t id{0};
    uint32_t device{0};
    uint32_t cut{0};
    uint32_t target{kEdge};
    TaskState state{TaskState::kPending};
    Time arrival;
    Time deviceDone;
    Time upStart;
    Time upDone;
    Time serverDone;
    Time resultDone;
    double energyJ{0.0};
    uint64_t upReceived{0};
    uint64_t resultReceived{0};
    EventId timeout;
};

class MecSplitEnv : public ns6g::GymEnv
{
  public:
    explicit MecSplitEnv(Params p)
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
        m_txPowerW = std::pow(10.0, (m_device.txPowerDbm - 30.0) / 10.0);
        m_profile = LoadLayerProfile(ProfilePath(m_p.profiles, m_p.model, m_p.dtype));
        if (m_profile.cuts.empty())
        {
            throw std::invalid_argument("profile of " + m_p.model + " has no cuts");
        }
        m_lastCut = static_cast<uint32_t>(m_profile.cuts.size() - 1);
    }

    ns6g::Space GetObservationSpace() override
    {
        const double maxMbps = 12.0 * m_p.bandwidthHz / 1e6;
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

        RanRadioSettings radio;
        radio.scenario = m_p.scenario;
        radio.frequencyHz = m_p.frequencyHz;
        radio.bandwidthHz = m_p.bandwidthHz;
        radio.numerology = m_p.numerology;
        radio.gnbTxPowerDbm = 46.0;
        radio.fastFading = m_p.fastFading;
        // Uplink CQI (and so the uplink rate estimate) assumes a device spreads its power over the whole
        // carrier, as it does when it is the only one sending: the default (4 RBGs) overestimates the
        // SINR of a device that gets every RBG.
        radio.ulCqiRbgs = m_carrier.nRbg;
        m_link = RanHelper::CreateLink(radio, m_gnbs, m_ues, 1000);

        RanHelperSettings settings;
        settings.dlScheduler = "pf";
        settings.ulScheduler = "pf";
        settings.dlRbgs = m_carrier.nRbg;
        settings.ulRbgs = m_carrier.nRbg;
        settings.mtuBytes = kMtuBytes;
        settings.slotPeriod = Seconds(m_carrier.numerology.SlotDurationS());
        settings.maxQueueBytes = kMaxRanQueueBytes;
        m_ran = RanHelper::Install(m_gnbs, m_ues, m_link, settings);

        InstallCloud();
        InstallProcessors();
        InstallSockets();

        m_tasks.clear();
        m_pending.clear();
        m_nextTaskId = 0;
        m_battery.assign(m_p.ues, m_p.batteryJ);
        m_steps = 0;
        m_last = LastTask{};
        ResetStepCounters();

        m_arrivalRng.clear();
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            auto rng = CreateObject<ExponentialRandomVariable>();
            rng->SetAttribute("Mean", DoubleValue(1.0 / m_p.taskRateHz));
            rng->SetStream(500 + u);
            m_arrivalRng.push_back(rng);
            Simulator::ScheduleWithContext(m_ues.Get(u)->GetId(), Seconds(rng->GetValue()),
                                           &MecSplitEnv::OnArrival, this, u);
        }
    }

    Time GetStepTime() override
    {
        return Time::Max(); // every arrival stops the simulation
    }

    bool ExecuteActions(const ns6g::DataView& action) override
    {
        if (m_pending.empty())
        {
            throw ns6g::InvalidRequest("no task is waiting for a decision");
        }
        const int64_t* a = action.Data<int64_t>();
        if (a[0] < 0 || a[0] > static_cast<int64_t>(m_lastCut) || a[1] < 0 || a[1] > 1)
        {
            throw ns6g::InvalidRequest("action must be (cut in 0.." + std::to_string(m_lastCut) +
                                       ", target 0 or 1)");
        }
        ResetStepCounters();
        ++m_steps;
        const uint64_t id = m_pending.front();
        m_pending.pop_front();
        Task& task = m_tasks.at(id);
        task.cut = static_cast<uint32_t>(a[0]);
        task.target = static_cast<uint32_t>(a[1]);
        task.state = TaskState::kRunning;
        const CutProfile& cut = m_profile.cuts[task.cut];
        if (!SplitInfeasibility(m_device, cut.deviceMemoryBytes).empty())
        {
            ++m_stepInfeasible;
            Finish(task, true);
            return true;
        }
        const uint32_t node = m_ues.Get(task.device)->GetId();
        Simulator::ScheduleWithContext(node, Seconds(0), &MecSplitEnv::StartTask, this, id);
        return true;
    }

    void GetObservation(const ns6g::DataView& obs) override
    {
        const uint32_t u = m_pending.empty() ? 0 : m_tasks.at(m_pending.front()).device;
        const uint32_t cell = m_ran.system->ServingCell(u);
        double cqiSum = 0.0;
        double bits = 0.0;
        for (uint32_t rbg = 0; rbg < m_carrier.nRbg; ++rbg)
        {
            cqiSum += m_link->RbgCqi(u, cell, rbg, Direction::Uplink);
            bits += m_link->RbgBits(u, cell, rbg, Direction::Uplink);
        }
        uint32_t others = 0;
        for (uint32_t v = 0; v < m_p.ues; ++v)
        {
            if (v != u && m_ran.system->QueuedBytes(v, Direction::Uplink) > 0)
            {
                ++others;
            }
        }
        const double maxMbps = 12.0 * m_p.bandwidthHz / 1e6;
        const double mbps = bits / m_carrier.numerology.SlotDurationS() / (1.0 + others) / 1e6;
        obs["cqi"].Data<float>()[0] = static_cast<float>(cqiSum / m_carrier.nRbg);
        obs["uplink_mbps"].Data<float>()[0] = static_cast<float>(std::min(mbps, maxMbps));
        obs["device_queue"].Data<float>()[0] = Queue(m_deviceProcs[u]);
        obs["edge_queue"].Data<float>()[0] = Queue(m_serverProcs[kEdge]);
        obs["cloud_queue"].Data<float>()[0] = Queue(m_serverProcs[kCloud]);
        obs["battery_fraction"].Data<float>()[0] =
            static_cast<float>(std::clamp(m_battery[u] / m_p.batteryJ, 0.0, 1.0));
        obs["device"].SetDiscrete(u);
    }

    double GetReward() override
    {
        return m_stepReward;
    }

    bool GetGameOver() override
    {
        return std::any_of(m_battery.begin(), m_battery.end(), [](double b) { return b <= 0.0; });
    }

    bool GetTruncated() override
    {
        return m_steps >= m_p.episodeSteps;
    }

    void GetExtraInfo(ns6g::Info& info) override
    {
        double sum = 0.0;
        for (double l : m_stepLatencies)
        {
            sum += l;
        }
        info.Set("latency_ms", m_stepLatencies.empty() ? std::nan("") : sum / m_stepLatencies.size() * 1e3);
        info.Set("energy_j", m_stepEnergyJ);
        info.Set("completed", static_cast<double>(m_stepLatencies.size()));
        info.Set("failed", static_cast<double>(m_stepFailed));
        info.Set("deadline_violations", static_cast<double>(m_stepViolations));
        info.Set("infeasible", static_cast<double>(m_stepInfeasible));
        info.Set("timeouts", static_cast<double>(m_stepTimeouts));
        info.Set("last_latency_ms", m_last.latencyMs);
        info.Set("device_compute_ms", m_last.deviceComputeMs);
        info.Set("uplink_ms", m_last.uplinkMs);
        info.Set("server_compute_ms", m_last.serverComputeMs);
        info.Set("downlink_ms", m_last.downlinkMs);
        info.Set("last_cut", m_last.cut);
        info.Set("last_target", m_last.target);
        info.Set("last_energy_j", m_last.energyJ);
    }

  private:
    static constexpr double kMaxQueue = 1e6;
    static constexpr uint32_t kMaxRanQueueBytes = 8'000'000;

    struct LastTask
    {
        double latencyMs{std::nan("")};
        double deviceComputeMs{std::nan("")};
        double uplinkMs{std::nan("")};
        double serverComputeMs{std::nan("")};
        double downlinkMs{std::nan("")};
        double cut{std::nan("")};
        double target{std::nan("")};
        double energyJ{std::nan("")};
    };

    static float Queue(const Ptr<Processor>& p)
    {
        return static_cast<float>(std::min<double>(p->GetTasksInSystem(), kMaxQueue));
    }

    void ResetStepCounters()
    {
        m_stepReward = 0.0;
        m_stepLatencies.clear();
        m_stepEnergyJ = 0.0;
        m_stepFailed = 0;
        m_stepViolations = 0;
        m_stepInfeasible = 0;
        m_stepTimeouts = 0;
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
    }

    /** The cloud node behind the edge server on the WAN link, with routes both ways. */
    void InstallCloud()
    {
        m_cloud = CreateObject<Node>();
        InternetStackHelper internet;
        internet.Install(m_cloud);
        PointToPointHelper wan;
        wan.SetDeviceAttribute("DataRate", DataRateValue(DataRate(static_cast<uint64_t>(m_p.wanRateMbps * 1e6))));
        wan.SetChannelAttribute("Delay", TimeValue(Seconds(m_p.wanDelayMs / 1e3)));
        wan.SetDeviceAttribute("Mtu", UintegerValue(kMtuBytes));
        NetDeviceContainer pair = wan.Install(m_ran.server, m_cloud);
        Ipv4AddressHelper addresses("20.0.0.0", "255.255.255.252");
        Ipv4InterfaceContainer ifaces = addresses.Assign(pair);
        m_cloudAddress = ifaces.GetAddress(1);
        // No queue discs, as on the backhaul (RanHelper): the WAN device queue is the only one.
        TrafficControlHelper tc;
        for (uint32_t i = 0; i < pair.GetN(); ++i)
        {
            Ptr<Node> node = pair.Get(i)->GetNode();
            Ptr<TrafficControlLayer> layer = node->GetObject<TrafficControlLayer>();
            if (layer && layer->GetRootQueueDiscOnDevice(pair.Get(i)))
            {
                tc.Uninstall(pair.Get(i));
            }
        }
        Ipv4StaticRoutingHelper routing;
        Ptr<Ipv4> ipv4 = m_cloud->GetObject<Ipv4>();
        routing.GetStaticRouting(ipv4)->SetDefaultRoute(ifaces.GetAddress(0), ipv4->GetInterfaceForDevice(pair.Get(1)));
        // The edge server reaches the cloud on the connected /30; the gNB's default route is the edge.
    }

    void InstallProcessors()
    {
        m_deviceProcs.clear();
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            m_deviceProcs.push_back(CreateDeviceProcessor(m_device));
        }
        m_serverProcs = {CreateDeviceProcessor(m_edgeDevice), CreateDeviceProcessor(m_cloudDevice)};
    }

    Ptr<Socket> BoundSocket(Ptr<Node> node)
    {
        Ptr<Socket> socket = Socket::CreateSocket(node, UdpSocketFactory::GetTypeId());
        if (socket->Bind(InetSocketAddress(Ipv4Address::GetAny(), kPort)) != 0)
        {
            throw std::runtime_error("cannot bind the task socket");
        }
        socket->SetAttribute("RcvBufSize", UintegerValue(64'000'000));
        return socket;
    }

    void InstallSockets()
    {
        m_ueSockets.clear();
        for (uint32_t u = 0; u < m_p.ues; ++u)
        {
            Ptr<Socket> s = BoundSocket(m_ues.Get(u));
            s->SetRecvCallback(MakeCallback(&MecSplitEnv::OnDeviceReceive, this));
            m_ueSockets.push_back(s);
        }
        m_serverSockets = {BoundSocket(m_ran.server), BoundSocket(m_cloud)};
        m_serverSockets[kEdge]->SetRecvCallback(
            Callback<void, Ptr<Socket>>([this](Ptr<Socket> s) { OnServerReceive(kEdge, s); }));
        m_serverSockets[kCloud]->SetRecvCallback(
            Callback<void, Ptr<Socket>>([this](Ptr<Socket> s) { OnServerReceive(kCloud, s); }));
        m_serverAddresses = {m_ran.serverAddress, m_cloudAddress};
    }

    void OnArrival(uint32_t u)
    {
        Task task;
        task.id = m_nextTaskId++;
        task.device = u;
        task.arrival = Simulator::Now();
        m_tasks.emplace(task.id, task);
        m_pending.push_back(task.id);
        Simulator::Schedule(Seconds(m_arrivalRng[u]->GetValue()), &MecSplitEnv::OnArrival, this, u);
        Simulator::Stop(); // the agent decides for this task
    }

    Task* Running(uint64_t id)
    {
        auto it = m_tasks.find(id);
        return it == m_tasks.end() || it->second.state != TaskState::kRunning ? nullptr : &it->second;
    }

    void Spend(Task& task, double joules)
    {
        task.energyJ += joules;
        m_battery[task.device] -= joules;
    }

    void StartTask(uint64_t id)
    {
        Task* task = Running(id);
        if (!task)
        {
            return;
        }
        // The timeout counts from the arrival, which is now (the decision takes no simulated time).
        task->timeout = Simulator::Schedule(Seconds(m_p.taskTimeoutS), &MecSplitEnv::OnTimeout, this, id);
        const double flops = m_profile.cuts[task->cut].deviceFlops;
        if (flops <= 0)
        {
            OnDeviceDone(id);
            return;
        }
        m_deviceProcs[task->device]->Submit(
            flops, Processor::DoneCallback([this, id](uint64_t, Time) { OnDeviceDone(id); }));
    }

    void OnDeviceDone(uint64_t id)
    {
        Task* task = Running(id);
        if (!task)
        {
            return;
        }
        task->deviceDone = Simulator::Now();
        Spend(*task, m_profile.cuts[task->cut].deviceFlops * m_device.energyPerFlopJ);
        if (task->cut == m_lastCut)
        {
            Finish(*task, false);
            return;
        }
        task->upStart = Simulator::Now();
        const auto bytes = static_cast<uint64_t>(m_profile.cuts[task->cut].transferBytes);
        SendTaskTransfer(m_ueSockets[task->device], InetSocketAddress(m_serverAddresses[task->target], kPort),
                         TaskWireHeader{id, bytes, 0, task->device});
    }

    void OnServerReceive(uint32_t server, Ptr<Socket> socket)
    {
        Address from;
        while (Ptr<Packet> packet = socket->RecvFrom(from))
        {
            TaskWireHeader header;
            if (!ReadTaskHeader(packet, header) || header.kind != 0)
            {
                continue;
            }
            Task* task = Running(header.taskId);
            if (!task)
            {
                continue; // timed out: its bytes are dropped
            }
            task->upReceived += packet->GetSize() - sizeof(TaskWireHeader);
            if (task->upReceived < header.totalBytes || task->upDone != Time())
            {
                continue;
            }
            task->upDone = Simulator::Now();
            Spend(*task, m_txPowerW * (task->upDone - task->upStart).GetSeconds());
            const uint64_t id = task->id;
            const Address replyTo = from;
            const double flops = m_profile.cuts[task->cut].serverFlops;
            if (flops <= 0)
            {
                OnServerDone(server, id, replyTo);
                continue;
            }
            m_serverProcs[server]->Submit(flops, Processor::DoneCallback([this, server, id, replyTo](uint64_t, Time) {
                                              OnServerDone(server, id, replyTo);
                                          }));
        }
    }

    void OnServerDone(uint32_t server, uint64_t id, Address replyTo)
    {
        Task* task = Running(id);
        if (!task)
        {
            return;
        }
        task->serverDone = Simulator::Now();
        const auto bytes = static_cast<uint64_t>(m_profile.cuts[m_lastCut].transferBytes);
        SendTaskTransfer(m_serverSockets[server], replyTo, TaskWireHeader{id, bytes, 1, task->device});
    }

    void OnDeviceReceive(Ptr<Socket> socket)
    {
        Address from;
        while (Ptr<Packet> packet = socket->RecvFrom(from))
        {
            TaskWireHeader header;
            if (!ReadTaskHeader(packet, header) || header.kind != 1)
            {
                continue;
            }
            Task* task = Running(header.taskId);
            if (!task)
            {
                continue;
            }
            task->resultReceived += packet->GetSize() - sizeof(TaskWireHeader);
            if (task->resultReceived >= header.totalBytes)
            {
                task->resultDone = Simulator::Now();
                Finish(*task, false);
            }
        }
    }

    void OnTimeout(uint64_t id)
    {
        Task* task = Running(id);
        if (!task)
        {
            return;
        }
        if (task->upStart != Time() && task->upDone == Time())
        {
            Spend(*task, m_txPowerW * (Simulator::Now() - task->upStart).GetSeconds()); // radio still on
        }
        ++m_stepTimeouts;
        Finish(*task, true);
    }

    /** Books a task that completed or failed now into the step's reward and info. */
    void Finish(Task& task, bool failed)
    {
        task.state = failed ? TaskState::kFailed : TaskState::kDone;
        task.timeout.Cancel();
        const double latencyS = (Simulator::Now() - task.arrival).GetSeconds();
        const bool late = latencyS > m_p.deadlineMs / 1e3;
        m_stepReward -= latencyS + m_p.energyWeight * task.energyJ;
        m_stepReward -= late ? m_p.deadlinePenalty : 0.0;
        m_stepReward -= failed ? m_p.failurePenalty : 0.0;
        m_stepEnergyJ += task.energyJ;
        m_stepViolations += late ? 1 : 0;
        if (failed)
        {
            ++m_stepFailed;
        }
        else
        {
            m_stepLatencies.push_back(latencyS);
            auto ms = [](Time a, Time b) { return (b - a).GetSeconds() * 1e3; };
            const bool offloaded = task.cut != m_lastCut;
            m_last.latencyMs = latencyS * 1e3;
            m_last.deviceComputeMs = ms(task.arrival, task.deviceDone);
            m_last.uplinkMs = offloaded ? ms(task.upStart, task.upDone) : 0.0;
            m_last.serverComputeMs = offloaded ? ms(task.upDone, task.serverDone) : 0.0;
            m_last.downlinkMs = offloaded ? ms(task.serverDone, task.resultDone) : 0.0;
            m_last.cut = task.cut;
            m_last.target = offloaded ? task.target : std::nan("");
            m_last.energyJ = task.energyJ;
        }
        m_tasks.erase(task.id); // `task` dangles from here
    }

    Params m_p;
    Carrier m_carrier;
    std::vector<Device> m_catalogue;
    Device m_device;
    Device m_edgeDevice;
    Device m_cloudDevice;
    double m_txPowerW{0.0};
    LayerProfile m_profile;
    uint32_t m_lastCut{0};

    NodeContainer m_gnbs;
    NodeContainer m_ues;
    Ptr<Node> m_cloud;
    Ipv4Address m_cloudAddress;
    Ptr<RanLink> m_link;
    RanDeployment m_ran;
    std::vector<Ptr<Processor>> m_deviceProcs;
    std::vector<Ptr<Processor>> m_serverProcs;
    std::vector<Ptr<Socket>> m_ueSockets;
    std::vector<Ptr<Socket>> m_serverSockets;
    std::vector<Ipv4Address> m_serverAddresses;
    std::vector<Ptr<ExponentialRandomVariable>> m_arrivalRng;

    std::map<uint64_t, Task> m_tasks;
    std::deque<uint64_t> m_pending;
    uint64_t m_nextTaskId{0};
    std::vector<double> m_battery;
    uint32_t m_steps{0};
    LastTask m_last;

    double m_stepReward{0.0};
    std::vector<double> m_stepLatencies;
    double m_stepEnergyJ{0.0};
    uint32_t m_stepFailed{0};
    uint32_t m_stepViolations{0};
    uint32_t m_stepInfeasible{0};
    uint32_t m_stepTimeouts{0};
};

} // namespace

int
main(int argc, char* argv[])
{
    Params p;
    ns6g::Bridge bridge;
    CommandLine cmd(__FILE__);
    cmd.AddValue("ues", "number of devices (UEs)", p.ues);
    cmd.AddValue("scenario", "TR 38.901 scenario (UMi-StreetCanyon, UMa, RMa, InH-OfficeMixed)", p.scenario);
    cmd.AddValue("frequency-hz", "carrier frequency (Hz)", p.frequencyHz);
    cmd.AddValue("bandwidth-hz", "carrier bandwidth (Hz)", p.bandwidthHz);
    cmd.AddValue("numerology", "numerology mu", p.numerology);
    cmd.AddValue("isd-m", "inter-site distance (m): devices lie within isd-m / sqrt(3) of the gNB", p.isdM);
    cmd.AddValue("fast-fading", "3GPP fast fading on serving links", p.fastFading);
    cmd.AddValue("model", "layer profile model name", p.model);
    cmd.AddValue("dtype", "fp32 or int8", p.dtype);
    cmd.AddValue("device", "catalogue name of the devices", p.device);
    cmd.AddValue("edge-device", "catalogue name of the edge server", p.edgeDevice);
    cmd.AddValue("cloud-device", "catalogue name of the cloud server", p.cloudDevice);
    cmd.AddValue("catalogue", "device catalogue CSV", p.catalogue);
    cmd.AddValue("profiles", "folder of layer profiles", p.profiles);
    cmd.AddValue("task-rate-hz", "task arrival rate per device (1/s)", p.taskRateHz);
    cmd.AddValue("deadline-ms", "task deadline (ms)", p.deadlineMs);
    cmd.AddValue("energy-weight", "reward weight of device energy (s/J)", p.energyWeight);
    cmd.AddValue("deadline-penalty", "reward penalty per task over the deadline", p.deadlinePenalty);
    cmd.AddValue("failure-penalty", "reward penalty per failed task", p.failurePenalty);
    cmd.AddValue("task-timeout-s", "a task not complete after this long fails (s)", p.taskTimeoutS);
    cmd.AddValue("battery-j", "battery of each device (J)", p.batteryJ);
    cmd.AddValue("wan-rate-mbps", "edge <-> cloud link rate (Mbit/s)", p.wanRateMbps);
    cmd.AddValue("wan-delay-ms", "edge <-> cloud one-way delay (ms)", p.wanDelayMs);
    cmd.AddValue("episode-steps", "decisions per episode", p.episodeSteps);
    bridge.AddCommandLine(cmd);
    cmd.Parse(argc, argv);

    std::string problem;
    if (p.ues == 0)
    {
        problem = "--ues must be at least 1";
    }
    else if (p.catalogue.empty() || p.profiles.empty())
    {
        problem = "--catalogue and --profiles are needed";
    }
    else if (!(p.taskRateHz > 0) || !(p.taskTimeoutS > 0) || !(p.batteryJ > 0) || !(p.wanRateMbps > 0) ||
             !(p.wanDelayMs >= 0) || p.episodeSteps == 0)
    {
        problem = "--task-rate-hz, --task-timeout-s, --battery-j, --wan-rate-mbps and --episode-steps must be > 0";
    }
    std::unique_ptr<MecSplitEnv> env;
    if (problem.empty())
    {
        try
        {
            ParseScenario(p.scenario);
            problem = ValidateCarrier(p.frequencyHz, p.bandwidthHz, static_cast<int>(p.numerology), 0);
            if (problem.empty())
            {
                env = std::make_unique<MecSplitEnv>(p);
            }
        }
        catch (const std::exception& e)
        {
            problem = e.what();
        }
    }
    if (!problem.empty())
    {
        std::cerr << "mec-split: " << problem << std::endl;
        return 2;
    }
    return bridge.Serve(*env);
}

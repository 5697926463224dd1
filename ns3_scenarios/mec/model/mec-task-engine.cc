// MecTaskEngine (see mec-task-engine.h and docs/mec-compute.md). A little over ~700 lines on purpose: one
// class, the task life cycle from arrival to result, whose stages share one task table.
#include "mec/model/mec-task-engine.h"

#include "mec/model/task-transfer.h"

#include "ns3/point-to-point-module.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace ns6g::mec
{

using namespace ns3;

namespace
{

/** What a task datagram carries (TaskWireHeader::kind). */
enum TransferKind : uint32_t
{
    kInput = 0,  //!< device -> site
    kResult = 1, //!< site -> device
    kState = 2,  //!< site -> site (migration)
};

constexpr uint8_t kIpv4VersionAndIhl = 0x45; //!< first byte of an IPv4 header without options

/**
 * The task header and payload bytes (after the task header) of a datagram seen on a point-to-point
 * device (with or without its PPP header, in front of the IPv4 and UDP headers); false if it is no task
 * datagram.
 */
bool
ReadTaskHeaderOnLink(Ptr<const Packet> packet, TaskWireHeader& header, uint64_t& payloadBytes)
{
    Ptr<Packet> copy = packet->Copy();
    uint8_t first = 0;
    if (copy->CopyData(&first, 1) != 1)
    {
        return false;
    }
    if (first != kIpv4VersionAndIhl)
    {
        PppHeader ppp;
        copy->RemoveHeader(ppp);
    }
    Ipv4Header ip;
    if (copy->GetSize() < 20 || copy->RemoveHeader(ip) == 0 || ip.GetProtocol() != UdpL4Protocol::PROT_NUMBER)
    {
        return false;
    }
    UdpHeader udp;
    copy->RemoveHeader(udp);
    if (!ReadTaskHeader(copy, header))
    {
        return false;
    }
    payloadBytes = copy->GetSize() - sizeof(TaskWireHeader);
    return true;
}

uint64_t
Payload(Ptr<const Packet> packet)
{
    return packet->GetSize() - sizeof(TaskWireHeader);
}

double
Ms(Time from, Time to)
{
    return (to - from).GetSeconds() * 1e3;
}

} // namespace

double
MecStepTotals::MeanLatencyMs() const
{
    if (latenciesS.empty())
    {
        return std::nan("");
    }
    return std::accumulate(latenciesS.begin(), latenciesS.end(), 0.0) / latenciesS.size() * 1e3;
}

MecTaskEngine::MecTaskEngine(const MecTaskSettings& settings)
    : m_settings(settings)
{
    auto positive = [](const char* name, double v) {
        if (!std::isfinite(v) || !(v > 0))
        {
            throw std::invalid_argument(std::string("MecTaskEngine: ") + name + " must be finite and > 0, got " +
                                        std::to_string(v));
        }
    };
    positive("taskRateHz (1/s)", settings.taskRateHz);
    positive("taskTimeoutS (s)", settings.taskTimeoutS);
    positive("batteryJ (J)", settings.batteryJ);
    positive("deadlineMs (ms)", settings.deadlineMs);
}

Ptr<Socket>
MecTaskEngine::BoundSocket(Ptr<Node> node, uint16_t port)
{
    Ptr<Socket> socket = Socket::CreateSocket(node, UdpSocketFactory::GetTypeId());
    if (socket->Bind(InetSocketAddress(Ipv4Address::GetAny(), port)) != 0)
    {
        throw std::invalid_argument("MecTaskEngine: cannot bind the task socket (port " +
                                    std::to_string(port) + ") on node " + std::to_string(node->GetId()) +
                                    ": is it a site or a device twice?");
    }
    // Room for a whole transfer: UDP sockets drop what does not fit.
    socket->SetAttribute("RcvBufSize", UintegerValue(64'000'000));
    return socket;
}

void
MecTaskEngine::AddDevices(const NodeContainer& ues, const std::vector<Ipv4Address>& addresses, const Device& device)
{
    if (!std::isfinite(device.txPowerDbm))
    {
        throw std::invalid_argument("device " + device.name + " has no radio (tx_power_dbm empty)");
    }
    if (addresses.size() != ues.GetN())
    {
        throw std::invalid_argument("MecTaskEngine::AddDevices: one address per device needed");
    }
    m_device = device;
    m_txPowerW = std::pow(10.0, (device.txPowerDbm - 30.0) / 10.0);
    for (uint32_t u = 0; u < ues.GetN(); ++u)
    {
        m_ueNodes.push_back(ues.Get(u));
        m_ueAddresses.push_back(addresses[u]);
        m_deviceProcs.push_back(CreateDeviceProcessor(device));
        Ptr<Socket> socket = BoundSocket(ues.Get(u), m_settings.devicePort);
        socket->SetRecvCallback(MakeCallback(&MecTaskEngine::OnDeviceReceive, this));
        m_deviceSockets.push_back(socket);
        m_battery.push_back(m_settings.batteryJ);
    }
}

uint32_t
MecTaskEngine::AddSite(Ptr<Node> node, Ipv4Address address, const Device& device)
{
    const auto index = static_cast<uint32_t>(m_sites.size());
    Site site;
    site.node = node;
    site.address = address;
    site.device = device;
    site.processor = CreateDeviceProcessor(device);
    site.socket = BoundSocket(node, m_settings.sitePort);
    site.socket->SetRecvCallback(
        Callback<void, Ptr<Socket>>([this, index](Ptr<Socket> s) { OnSiteReceive(index, s); }));
    m_sites.push_back(site);
    return index;
}

void
MecTaskEngine::WatchLink(const NetDeviceContainer& pointToPointPair)
{
    for (uint32_t i = 0; i < pointToPointPair.GetN(); ++i)
    {
        Ptr<NetDevice> device = pointToPointPair.Get(i);
        device->TraceConnectWithoutContext("MacTx", MakeCallback(&MecTaskEngine::OnLinkTx, this));
        device->TraceConnectWithoutContext("MacRx", MakeCallback(&MecTaskEngine::OnLinkRx, this));
    }
}

void
MecTaskEngine::SetUploadHook(std::function<void()> hook)
{
    m_uploadHook = std::move(hook);
}

void
MecTaskEngine::SetFinishHook(std::function<void(const MecTask&, bool, double)> hook)
{
    m_finishHook = std::move(hook);
}

void
MecTaskEngine::Start()
{
    for (uint32_t u = 0; u < m_ueNodes.size(); ++u)
    {
        auto rng = CreateObject<ExponentialRandomVariable>();
        rng->SetAttribute("Mean", DoubleValue(1.0 / m_settings.taskRateHz));
        rng->SetStream(m_settings.arrivalStream + u);
        m_arrivalRng.push_back(rng);
        Simulator::ScheduleWithContext(m_ueNodes[u]->GetId(), Seconds(rng->GetValue()), &MecTaskEngine::OnArrival,
                                       this, u);
    }
}

// ---- decisions -------------------------------------------------------------------------------------

bool
MecTaskEngine::HasPending() const
{
    return !m_pending.empty();
}

uint32_t
MecTaskEngine::DecidingDevice() const
{
    return m_pending.empty() ? 0 : m_tasks.at(m_pending.front()).device;
}

uint64_t
MecTaskEngine::BeginStep()
{
    if (m_pending.empty())
    {
        throw std::logic_error("MecTaskEngine: no task is waiting for a decision");
    }
    m_step = MecStepTotals{};
    ++m_steps;
    const uint64_t id = m_pending.front();
    m_pending.pop_front();
    return id;
}

void
MecTaskEngine::Run(uint64_t id, std::vector<int64_t> action, const TaskPlan& plan)
{
    if (plan.site >= static_cast<int32_t>(m_sites.size()))
    {
        throw std::invalid_argument("MecTaskEngine::Run: site " + std::to_string(plan.site) + " does not exist");
    }
    Processor::CheckFlops(plan.deviceFlops);
    Processor::CheckFlops(plan.siteFlops);
    MecTask& task = m_tasks.at(id);
    task.action = std::move(action);
    task.plan = plan;
    task.stage = TaskStage::kDevice;
    Simulator::ScheduleWithContext(m_ueNodes[task.device]->GetId(), Seconds(0), &MecTaskEngine::StartTask, this, id);
    Settle();
}

void
MecTaskEngine::FailNow(uint64_t id, std::vector<int64_t> action)
{
    MecTask& task = m_tasks.at(id);
    task.action = std::move(action);
    task.stage = TaskStage::kDevice;
    Finish(task, true);
    Settle();
}

bool
MecTaskEngine::Migrate(uint64_t id, uint32_t to, uint64_t stateBytes)
{
    MecTask* task = Active(id);
    if (!task || to >= m_sites.size() || static_cast<int32_t>(to) == task->site ||
        !(task->stage == TaskStage::kQueued || task->stage == TaskStage::kInService))
    {
        return false;
    }
    const auto from = static_cast<uint32_t>(task->site);
    Site& old = m_sites[from];
    if (task->stage == TaskStage::kQueued)
    {
        old.queue.erase(std::remove(old.queue.begin(), old.queue.end(), id), old.queue.end());
    }
    else
    {
        const double done = (Simulator::Now() - task->siteStart).GetSeconds() * old.processor->GetCapacityFlops();
        task->remainingFlops = std::max(0.0, task->remainingFlops - done);
        // Processor cannot cancel: retire it (its pending completion is ignored) for a fresh idle one.
        m_retired.push_back(old.processor);
        old.processor = CreateDeviceProcessor(old.device);
        ++old.generation;
        old.inService = -1;
        Simulator::ScheduleWithContext(old.node->GetId(), Seconds(0), &MecTaskEngine::TryStart, this, from);
    }
    task->stage = TaskStage::kMigrating;
    task->site = static_cast<int32_t>(to);
    task->stateReceived = 0;
    task->migrationStart = Simulator::Now();
    const TaskWireHeader header{id, stateBytes, kState, task->device};
    const Address destination = InetSocketAddress(m_sites[to].address, m_settings.sitePort);
    Ptr<Socket> socket = old.socket;
    Simulator::ScheduleWithContext(old.node->GetId(), Seconds(0), [socket, destination, header]() {
        SendTaskTransfer(socket, destination, header);
    });
    return true;
}

// ---- state -----------------------------------------------------------------------------------------

const std::map<uint64_t, MecTask>&
MecTaskEngine::Tasks() const
{
    return m_tasks;
}

uint32_t
MecTaskEngine::SiteTasksInSystem(uint32_t site) const
{
    const Site& s = m_sites.at(site);
    return static_cast<uint32_t>(s.queue.size()) + (s.inService >= 0 ? 1 : 0);
}

uint32_t
MecTaskEngine::SiteAssigned(uint32_t site) const
{
    uint32_t n = 0;
    for (const auto& [id, t] : m_tasks)
    {
        const bool open = t.stage == TaskStage::kUpload || t.stage == TaskStage::kMigrating ||
                          t.stage == TaskStage::kQueued || t.stage == TaskStage::kInService;
        n += open && t.site == static_cast<int32_t>(site) ? 1 : 0;
    }
    return n;
}

uint32_t
MecTaskEngine::DeviceTasksInSystem(uint32_t u) const
{
    return m_deviceProcs.at(u)->GetTasksInSystem();
}

Ptr<Node>
MecTaskEngine::SiteNode(uint32_t site) const
{
    return m_sites.at(site).node;
}

uint32_t
MecTaskEngine::SiteCount() const
{
    return static_cast<uint32_t>(m_sites.size());
}

double
MecTaskEngine::BatteryFraction(uint32_t u) const
{
    return std::clamp(m_battery.at(u) / m_settings.batteryJ, 0.0, 1.0);
}

bool
MecTaskEngine::AnyBatteryEmpty() const
{
    return std::any_of(m_battery.begin(), m_battery.end(), [](double b) { return b <= 0.0; });
}

uint32_t
MecTaskEngine::Steps() const
{
    return m_steps;
}

const MecStepTotals&
MecTaskEngine::StepTotals() const
{
    return m_step;
}

const CompletedTask&
MecTaskEngine::LastCompleted() const
{
    return m_last;
}

uint32_t
MecTaskEngine::OpenTasks() const
{
    return static_cast<uint32_t>(
        std::count_if(m_tasks.begin(), m_tasks.end(), [](const auto& t) { return t.second.stage != TaskStage::kPending; }));
}

double
MecTaskEngine::FailedTaskCost() const
{
    return m_settings.taskTimeoutS + m_settings.deadlinePenalty + m_settings.failurePenalty;
}

uint32_t
MecTaskEngine::UnservedTasks() const
{
    if (!AnyBatteryEmpty())
    {
        return 0;
    }
    const uint32_t toCome = m_settings.episodeSteps > m_steps ? m_settings.episodeSteps - m_steps : 0;
    return OpenTasks() + toCome;
}

double
MecTaskEngine::UnservedCost() const
{
    return UnservedTasks() * FailedTaskCost();
}

void
MecTaskEngine::Settle()
{
    if (m_settings.episodeSteps == 0 || m_steps < m_settings.episodeSteps)
    {
        return;
    }
    m_settling = true;
    if (OpenTasks() == 0)
    {
        Simulator::ScheduleNow([] { Simulator::Stop(); });
    }
}

// ---- life cycle ------------------------------------------------------------------------------------

MecTask*
MecTaskEngine::Active(uint64_t id)
{
    auto it = m_tasks.find(id);
    return it == m_tasks.end() || it->second.stage == TaskStage::kPending ? nullptr : &it->second;
}

void
MecTaskEngine::Spend(MecTask& task, double joules)
{
    task.energyJ += joules;
    m_battery[task.device] -= joules;
}

void
MecTaskEngine::NotifyUpload()
{
    if (m_uploadHook)
    {
        m_uploadHook();
    }
}

void
MecTaskEngine::OnArrival(uint32_t u)
{
    if (m_settling)
    {
        return; // the episode has had its decisions
    }
    MecTask task;
    task.id = m_nextTaskId++;
    task.device = u;
    task.arrival = Simulator::Now();
    m_tasks.emplace(task.id, task);
    m_pending.push_back(task.id);
    Simulator::Schedule(Seconds(m_arrivalRng[u]->GetValue()), &MecTaskEngine::OnArrival, this, u);
    Simulator::Stop(); // the agent decides for this task
}

void
MecTaskEngine::StartTask(uint64_t id)
{
    MecTask* task = Active(id);
    if (!task)
    {
        return;
    }
    // The timeout counts from the arrival, which is now (the decision takes no simulated time).
    task->timeout = Simulator::Schedule(Seconds(m_settings.taskTimeoutS), &MecTaskEngine::OnTimeout, this, id);
    if (task->plan.deviceFlops <= 0)
    {
        OnDeviceDone(id);
        return;
    }
    m_deviceProcs[task->device]->Submit(task->plan.deviceFlops,
                                        Processor::DoneCallback([this, id](uint64_t, Time) { OnDeviceDone(id); }));
}

void
MecTaskEngine::OnDeviceDone(uint64_t id)
{
    MecTask* task = Active(id);
    if (!task)
    {
        return;
    }
    task->deviceDone = Simulator::Now();
    Spend(*task, task->plan.deviceFlops * m_device.energyPerFlopJ);
    if (task->plan.site < 0)
    {
        Finish(*task, false);
        return;
    }
    task->stage = TaskStage::kUpload;
    task->site = task->plan.site;
    task->remainingFlops = task->plan.siteFlops;
    task->upStart = Simulator::Now();
    const uint32_t device = task->device;
    const Ipv4Address to = m_sites[task->plan.site].address;
    const uint64_t bytes = task->plan.inputBytes;
    NotifyUpload();
    SendTaskTransfer(m_deviceSockets[device], InetSocketAddress(to, m_settings.sitePort),
                     TaskWireHeader{id, bytes, kInput, device});
}

void
MecTaskEngine::OnSiteReceive(uint32_t site, Ptr<Socket> socket)
{
    Address from;
    while (Ptr<Packet> packet = socket->RecvFrom(from))
    {
        TaskWireHeader header;
        if (!ReadTaskHeader(packet, header))
        {
            continue;
        }
        MecTask* task = Active(header.taskId);
        if (!task || task->site != static_cast<int32_t>(site))
        {
            continue; // finished (timed out) or moved on: its bytes are dropped
        }
        if (header.kind == kInput && task->stage == TaskStage::kUpload)
        {
            task->upReceived += Payload(packet);
            if (task->upReceived < header.totalBytes)
            {
                continue;
            }
            task->upDone = Simulator::Now();
            Spend(*task, m_txPowerW * (task->upDone - task->upStart).GetSeconds());
            BookCrossing(task->upCrossing);
            Enqueue(*task, site); // no longer uploading: the upload hook must not count it
            NotifyUpload();
        }
        else if (header.kind == kState && task->stage == TaskStage::kMigrating)
        {
            task->stateReceived += Payload(packet);
            if (task->stateReceived < header.totalBytes)
            {
                continue;
            }
            ++task->migrations;
            ++m_step.migrations;
            m_step.migrationMs += Ms(task->migrationStart, Simulator::Now());
            Enqueue(*task, site);
        }
    }
}

void
MecTaskEngine::Enqueue(MecTask& task, uint32_t site)
{
    task.stage = TaskStage::kQueued;
    task.site = static_cast<int32_t>(site);
    m_sites[site].queue.push_back(task.id);
    TryStart(site);
}

void
MecTaskEngine::TryStart(uint32_t s)
{
    Site& site = m_sites[s];
    while (site.inService < 0 && !site.queue.empty())
    {
        const uint64_t id = site.queue.front();
        site.queue.pop_front();
        MecTask* task = Active(id);
        if (!task || task->stage != TaskStage::kQueued)
        {
            continue;
        }
        task->stage = TaskStage::kInService;
        task->siteStart = Simulator::Now();
        site.inService = static_cast<int64_t>(id);
        const uint64_t generation = site.generation;
        if (task->remainingFlops <= 0)
        {
            Simulator::ScheduleNow(&MecTaskEngine::OnSiteDone, this, s, generation, id);
            continue;
        }
        site.processor->Submit(task->remainingFlops, Processor::DoneCallback([this, s, generation, id](uint64_t, Time) {
                                   OnSiteDone(s, generation, id);
                               }));
    }
}

void
MecTaskEngine::OnSiteDone(uint32_t s, uint64_t generation, uint64_t id)
{
    Site& site = m_sites[s];
    if (generation != site.generation || site.inService != static_cast<int64_t>(id))
    {
        return; // a migrated task's work on a retired processor
    }
    site.inService = -1;
    MecTask* task = Active(id);
    if (task && task->stage == TaskStage::kInService)
    {
        task->siteDone = Simulator::Now();
        task->remainingFlops = 0.0;
        task->stage = TaskStage::kResult;
        SendTaskTransfer(site.socket, InetSocketAddress(m_ueAddresses[task->device], m_settings.devicePort),
                         TaskWireHeader{id, task->plan.resultBytes, kResult, task->device});
    }
    // A task that timed out in service kept the site busy until now; its result is not sent.
    TryStart(s);
}

void
MecTaskEngine::OnDeviceReceive(Ptr<Socket> socket)
{
    Address from;
    while (Ptr<Packet> packet = socket->RecvFrom(from))
    {
        TaskWireHeader header;
        if (!ReadTaskHeader(packet, header) || header.kind != kResult)
        {
            continue;
        }
        MecTask* task = Active(header.taskId);
        if (!task || task->stage != TaskStage::kResult)
        {
            continue;
        }
        task->resultReceived += Payload(packet);
        if (task->resultReceived >= header.totalBytes)
        {
            task->resultDone = Simulator::Now();
            BookCrossing(task->resultCrossing);
            Finish(*task, false);
        }
    }
}

void
MecTaskEngine::OnTimeout(uint64_t id)
{
    MecTask* task = Active(id);
    if (!task)
    {
        return;
    }
    const bool uploading = task->stage == TaskStage::kUpload;
    if (uploading)
    {
        Spend(*task, m_txPowerW * (Simulator::Now() - task->upStart).GetSeconds()); // radio still on
    }
    if (task->stage == TaskStage::kQueued)
    {
        auto& queue = m_sites[task->site].queue;
        queue.erase(std::remove(queue.begin(), queue.end(), id), queue.end());
    }
    ++m_step.timeouts;
    Finish(*task, true);
    if (uploading)
    {
        NotifyUpload();
    }
}

void
MecTaskEngine::OnLinkTx(Ptr<const Packet> packet)
{
    TaskWireHeader header;
    uint64_t payload = 0;
    if (!ReadTaskHeaderOnLink(packet, header, payload) || header.kind == kState)
    {
        return;
    }
    auto it = m_tasks.find(header.taskId);
    if (it != m_tasks.end())
    {
        LinkCrossing& c = header.kind == kInput ? it->second.upCrossing : it->second.resultCrossing;
        c.first = std::min(c.first, Simulator::Now());
    }
}

void
MecTaskEngine::OnLinkRx(Ptr<const Packet> packet)
{
    TaskWireHeader header;
    uint64_t payload = 0;
    if (!ReadTaskHeaderOnLink(packet, header, payload) || header.kind == kState)
    {
        return;
    }
    m_step.relayBytes += payload;
    m_step.resultRelayBytes += header.kind == kResult ? payload : 0;
    auto it = m_tasks.find(header.taskId);
    if (it != m_tasks.end())
    {
        LinkCrossing& c = header.kind == kInput ? it->second.upCrossing : it->second.resultCrossing;
        c.last = Simulator::Now();
        c.bytes += payload;
    }
}

void
MecTaskEngine::BookCrossing(const LinkCrossing& crossing)
{
    if (crossing.Crossed())
    {
        m_step.relayMs += Ms(crossing.first, crossing.last);
    }
}

void
MecTaskEngine::Finish(MecTask& task, bool failed)
{
    task.timeout.Cancel();
    const double latencyS = (Simulator::Now() - task.arrival).GetSeconds();
    const bool late = failed || latencyS > m_settings.deadlineMs / 1e3;
    // A failed task is charged the whole time it was given, so that refusing one never pays.
    const double chargedS = failed ? std::max(latencyS, m_settings.taskTimeoutS) : latencyS;
    m_step.reward -= chargedS + m_settings.energyWeight * task.energyJ;
    m_step.reward -= late ? m_settings.deadlinePenalty : 0.0;
    m_step.reward -= failed ? m_settings.failurePenalty : 0.0;
    m_step.energyJ += task.energyJ;
    m_step.deadlineViolations += late ? 1 : 0;
    if (failed)
    {
        ++m_step.failed;
    }
    else
    {
        m_step.latenciesS.push_back(latencyS);
        const bool offloaded = task.plan.site >= 0;
        m_last.latencyMs = latencyS * 1e3;
        m_last.deviceMs = Ms(task.arrival, task.deviceDone);
        m_last.uplinkMs = offloaded ? Ms(task.upStart, task.upDone) : 0.0;
        m_last.siteMs = offloaded ? Ms(task.upDone, task.siteDone) : 0.0;
        m_last.downlinkMs = offloaded ? Ms(task.siteDone, task.resultDone) : 0.0;
        m_last.energyJ = task.energyJ;
        m_last.offloaded = offloaded;
        m_last.action = task.action;
    }
    if (m_finishHook)
    {
        m_finishHook(task, failed, latencyS);
    }
    m_tasks.erase(task.id); // `task` dangles from here
    if (m_settling && OpenTasks() == 0)
    {
        Simulator::Stop(); // the last decided task is done: the episode's last step ends here
    }
}

} // namespace ns6g::mec

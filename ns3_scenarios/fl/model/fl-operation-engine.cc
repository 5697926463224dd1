// FlOperationEngine: the operations of fl-network's co-simulated learner jobs (see fl-operation-engine.h
// and docs/cosim.md).
#include "fl/model/fl-operation-engine.h"

#include "mec/model/task-transfer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

namespace ns6g::fl
{

using namespace ns3;
using namespace ns6g::mec;
using namespace ns6g::ran;

namespace
{

constexpr uint16_t kPort = 9000;
constexpr uint32_t kTransferKind = 0;                       //!< TaskWireHeader::kind of co-sim data
// A transfer goes out in bursts of 17 full datagrams (1 019 592 payload bytes), at most kWindowBursts
// of them unreceived at once: the bytes held in queues stay bounded however large the transfer.
constexpr uint64_t kBurstBytes = 17 * (kMaxTaskDatagramBytes - sizeof(TaskWireHeader));
constexpr uint64_t kWindowBursts = 4;

} // namespace

void
FlOperationEngine::Setup(FlTopology topology)
{
    m_topology = std::move(topology);
    m_topology.system->TraceConnectWithoutContext("Drop", MakeCallback(&FlOperationEngine::NotifyDrop, this));
    m_topology.system->TraceConnectWithoutContext("RadioLinkFailure",
                                                  MakeCallback(&FlOperationEngine::OnRadioLinkFailure, this));
    m_processors.clear();
    for (uint32_t i = 0; i < NodeCount(); ++i)
    {
        m_processors.push_back(CreateDeviceProcessor(m_topology.devices[i]));
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
        socket->SetRecvCallback(MakeCallback(&FlOperationEngine::OnReceive, this));
        m_sockets.push_back(socket);
    }
    m_uplink.Setup(m_topology, [this](uint32_t u) { return m_radio[u].connected && !m_radio[u].uplinks.empty(); });
    m_ops.clear();
    m_state.assign(1, OpState::kUnknown); // index 0: no op has id 0
    m_pendingDeps.clear();
    m_done.clear();
    m_radio.assign(m_topology.clients, ClientRadio{});
    m_waitFor.clear();
    m_waitAny = false;
    m_waitLeft = 0;
    m_dropped = 0;
    m_disconnected = 0;
    m_linkFailures.clear();
}

std::vector<CompletionRecord>
FlOperationEngine::TakeCompletions()
{
    return std::exchange(m_done, {});
}

const std::vector<LinkFailureRecord>&
FlOperationEngine::LinkFailures() const
{
    return m_linkFailures;
}

uint32_t
FlOperationEngine::NodeCount() const
{
    return static_cast<uint32_t>(m_topology.nodes.size());
}

Ptr<Node>
FlOperationEngine::NodeOf(uint32_t index) const
{
    return m_topology.nodes[index];
}

void
FlOperationEngine::NotifyDrop(Ptr<const Packet>)
{
    ++m_dropped;
    Simulator::Stop();
}

/** The RAN declared the client's radio link failed: it leaves the job as a disconnect does. */
void
FlOperationEngine::OnRadioLinkFailure(uint32_t ue, uint32_t /* cell */, uint32_t /* direction */)
{
    m_linkFailures.push_back(LinkFailureRecord{ue, 0, Simulator::Now().GetSeconds()});
    Disconnect(ue, kRadioLinkFailure);
}

OpState
FlOperationEngine::StateOf(uint64_t id) const
{
    return id < m_state.size() ? m_state[id] : OpState::kUnknown;
}

void
FlOperationEngine::AddDependencies(const DependencyRecord* records, size_t count)
{
    const uint64_t next = m_state.size();
    for (size_t i = 0; i < count; ++i)
    {
        if (records[i].op < next)
        {
            throw FlRequestError("dependency: op " + std::to_string(records[i].op) +
                                       " is already submitted (dependencies come before their op)");
        }
        if (records[i].after == 0 || records[i].after >= records[i].op)
        {
            throw FlRequestError("dependency: op " + std::to_string(records[i].op) + " cannot wait for op " +
                                       std::to_string(records[i].after) + " (only for an earlier op)");
        }
    }
    for (size_t i = 0; i < count; ++i)
    {
        m_pendingDeps[records[i].op].push_back(records[i].after);
    }
}

void
FlOperationEngine::CheckOp(const OpRecord& r, uint64_t expectedId) const
{
    const std::string what = "op " + std::to_string(r.id) + ": ";
    if (r.id != expectedId)
    {
        throw FlRequestError(what + "ids must continue the sequence (expected " + std::to_string(expectedId) +
                                   ")");
    }
    if (r.kind != kTransfer && r.kind != kCompute)
    {
        throw FlRequestError(what + "kind must be 0 (transfer) or 1 (compute), got " + std::to_string(r.kind));
    }
    if (r.node >= NodeCount() || (r.kind == kTransfer && r.dst >= NodeCount()))
    {
        throw FlRequestError(what + "node index out of range (there are " + std::to_string(NodeCount()) +
                                   " nodes)");
    }
    if (r.kind == kCompute && !(std::isfinite(r.flops) && r.flops >= 0))
    {
        throw FlRequestError(what + "flops must be finite and >= 0, got " + std::to_string(r.flops));
    }
    if (r.kind == kTransfer && r.bytes > (uint64_t{1} << 50))
    {
        throw FlRequestError(what + "bytes must be at most 2^50, got " + std::to_string(r.bytes));
    }
}

void
FlOperationEngine::Submit(const OpRecord* records, size_t count)
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

std::vector<uint32_t>
FlOperationEngine::Disconnected() const
{
    std::vector<uint32_t> out;
    for (uint32_t u = 0; u < m_topology.clients; ++u)
    {
        if (!m_radio[u].connected)
        {
            out.push_back(u);
        }
    }
    return out;
}

/** Why an op involving a disconnected client fails: the cause its (first) disconnected client left for. */
FailureCause
FlOperationEngine::CauseOf(const Op& op) const
{
    for (uint32_t u : {op.node, op.kind == kTransfer ? op.dst : op.node})
    {
        if (u < m_topology.clients && !m_radio[u].connected)
        {
            return m_radio[u].leftFor;
        }
    }
    return kDisconnected;
}

bool
FlOperationEngine::Involves(const Op& op, const std::vector<uint32_t>& clients) const
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

void
FlOperationEngine::ScheduleStart(uint64_t id)
{
    const Op& op = m_ops.at(id);
    Simulator::ScheduleWithContext(NodeOf(op.node)->GetId(), Seconds(0), &FlOperationEngine::Start, this, id);
}

void
FlOperationEngine::Start(uint64_t id)
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
    if (op.node < m_topology.clients && !OverSidelink(op))
    {
        ChargeAirTime(op.node);
        m_radio[op.node].uplinks.push_back(id);
        m_uplink.Wake();
    }
    if (op.bytes == 0)
    {
        SendTaskTransfer(m_sockets[op.node], InetSocketAddress(DestinationOf(op), kPort),
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
void
FlOperationEngine::SendBursts(uint64_t id)
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
        SendTaskTransfer(m_sockets[op.node], InetSocketAddress(DestinationOf(op), kPort),
                         TaskWireHeader{id, burst, kTransferKind, op.node});
        op.sent += burst;
    }
}

void
FlOperationEngine::OnReceive(Ptr<Socket> socket)
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
            Simulator::ScheduleWithContext(NodeOf(op.node)->GetId(), Seconds(0), &FlOperationEngine::SendBursts, this,
                                           op.id);
        }
    }
}

/** The processor of node `node` began serving its task `task`. */
void
FlOperationEngine::OnServiceStart(uint32_t node, uint64_t task)
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
void
FlOperationEngine::ChargeAirTime(uint32_t client, bool final)
{
    ClientRadio& radio = m_radio[client];
    const double spent = m_topology.system->Counters(client).txEnergyJ[1];
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
double
FlOperationEngine::Settle(Op& op)
{
    if (op.kind == kCompute)
    {
        return op.flops * m_processors[op.node]->GetEnergyPerFlopInForceJ();
    }
    if (op.node >= m_topology.clients || op.node == op.dst || OverSidelink(op))
    {
        return 0.0; // wired senders, and sidelink transfers (not RAN uplinks)
    }
    ChargeAirTime(op.node, true);
    auto& uplinks = m_radio[op.node].uplinks;
    uplinks.erase(std::remove(uplinks.begin(), uplinks.end(), op.id), uplinks.end());
    return op.txEnergyJ;
}

void
FlOperationEngine::Complete(uint64_t id)
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
void
FlOperationEngine::Fail(uint64_t id, FailureCause cause)
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

void
FlOperationEngine::Record(const Op& op, Time start, double energyJ, FailureCause cause)
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

void
FlOperationEngine::Run(const RunRecord* records, size_t count)
{
    m_waitFor.clear();
    m_waitAny = count > 0 && records[0].anyOf != 0;
    bool anyDone = false;
    for (size_t i = 0; i < count; ++i)
    {
        if ((records[i].anyOf != 0) != m_waitAny)
        {
            throw FlRequestError("run: any_of must be the same in every record");
        }
        const OpState s = StateOf(records[i].op);
        if (s == OpState::kUnknown)
        {
            throw FlRequestError("run: op " + std::to_string(records[i].op) + " was never submitted");
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
    const Time limit = Simulator::Now() + Seconds(m_topology.runLimitS);
    EventId guard = Simulator::Schedule(Seconds(m_topology.runLimitS), [] { Simulator::Stop(); });
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
        throw FlRequestError("fl-network: a queue dropped " + std::to_string(m_dropped) +
                                   " packet(s); transfers cannot complete (queues are meant never to drop)");
    }
    if (!satisfied)
    {
        throw FlRequestError("run: the awaited ops did not complete within run-limit-s = " +
                                   std::to_string(m_topology.runLimitS) + " simulated seconds");
    }
}

void
FlOperationEngine::SetShares(const UplinkShareRecord* records, size_t count)
{
    m_uplink.SetShares(records, count);
}

bool
FlOperationEngine::OverSidelink(const Op& op) const
{
    return op.kind == kTransfer && !m_topology.sidelinkAddresses.empty() && op.node < m_topology.clients &&
           op.dst < m_topology.clients;
}

Ipv4Address
FlOperationEngine::DestinationOf(const Op& op) const
{
    return OverSidelink(op) ? m_topology.sidelinkAddresses[op.dst] : m_topology.addresses[op.dst];
}

void
FlOperationEngine::CheckClientTimes(const DisconnectRecord* records, size_t count, const char* what) const
{
    const double now = Simulator::Now().GetSeconds();
    for (size_t i = 0; i < count; ++i)
    {
        if (records[i].client >= m_topology.clients)
        {
            throw FlRequestError(std::string(what) + ": client " + std::to_string(records[i].client) +
                                 " out of range (" + std::to_string(m_topology.clients) + " clients)");
        }
        if (!std::isfinite(records[i].atS) || records[i].atS < now)
        {
            throw FlRequestError(std::string(what) + ": at_s must be finite and not before now (" +
                                 std::to_string(now) + " s), got " + std::to_string(records[i].atS));
        }
    }
}

void
FlOperationEngine::ScheduleReconnects(const DisconnectRecord* records, size_t count)
{
    CheckClientTimes(records, count, "reconnect");
    const double now = Simulator::Now().GetSeconds();
    for (size_t i = 0; i < count; ++i)
    {
        const uint32_t u = records[i].client;
        Simulator::ScheduleWithContext(NodeOf(u)->GetId(), Seconds(records[i].atS - now),
                                       &FlOperationEngine::Reconnect, this, u);
    }
}

void
FlOperationEngine::Reconnect(uint32_t client)
{
    if (m_radio[client].connected || m_radio[client].leftFor != kDisconnected)
    {
        return; // present, or gone for a radio link failure (the RAN keeps it failed)
    }
    m_radio[client].connected = true;
    m_radio[client].leftFor = kNoFailure;
    --m_disconnected;
}

void
FlOperationEngine::ScheduleDisconnects(const DisconnectRecord* records, size_t count)
{
    CheckClientTimes(records, count, "disconnect");
    const double now = Simulator::Now().GetSeconds();
    for (size_t i = 0; i < count; ++i)
    {
        const uint32_t u = records[i].client;
        Simulator::ScheduleWithContext(NodeOf(u)->GetId(), Seconds(records[i].atS - now),
                                       &FlOperationEngine::Disconnect, this, u, kDisconnected);
    }
}

void
FlOperationEngine::Disconnect(uint32_t client, FailureCause cause)
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

} // namespace ns6g::fl

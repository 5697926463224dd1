#include "ran/model/ran-system.h"

#include "ran/model/ran-net-device.h"

#include "ns3/double.h"
#include "ns3/ipv4-header.h"
#include "ns3/log.h"
#include "ns3/nstime.h"
#include "ns3/simulator.h"
#include "ns3/uinteger.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ns6g::ran
{

NS_LOG_COMPONENT_DEFINE("Ns6gRanSystem");
NS_OBJECT_ENSURE_REGISTERED(RanSystem);

namespace
{
constexpr uint16_t kIpv4Protocol = 0x0800;

size_t
Dir(Direction d)
{
    return static_cast<size_t>(d);
}
} // namespace

ns3::TypeId
RanSystem::GetTypeId()
{
    using namespace ns3;
    static TypeId tid =
        TypeId("ns6g::ran::RanSystem")
            .SetParent<Object>()
            .SetGroupName("Ns6gRan")
            .AddConstructor<RanSystem>()
            .AddAttribute("SlotPeriod",
                          "Slot duration (s); 1 ms / 2^mu for numerology mu",
                          TimeValue(MicroSeconds(500)),
                          MakeTimeAccessor(&RanSystem::m_slotPeriod),
                          MakeTimeChecker(NanoSeconds(1)))
            .AddAttribute("MaxQueueBytes",
                          "Size of each UE's queue per direction (bytes); packets beyond it are dropped",
                          UintegerValue(1'000'000),
                          MakeUintegerAccessor(&RanSystem::m_maxQueueBytes),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("HarqMaxTransmissions",
                          "Transmissions of a transport block (first plus retransmissions) before its "
                          "data goes back to the queue",
                          UintegerValue(4),
                          MakeUintegerAccessor(&RanSystem::m_harqMaxTransmissions),
                          MakeUintegerChecker<uint32_t>(1, 32))
            .AddAttribute("AveragingTimeConstant",
                          "Time constant (s) of the EWMA throughput used by proportional fair",
                          TimeValue(MilliSeconds(100)),
                          MakeTimeAccessor(&RanSystem::m_averagingTimeConstant),
                          MakeTimeChecker(NanoSeconds(1)))
            .AddAttribute("MeasurementPeriod",
                          "How often (s) UEs measure every cell's RSRP for handover",
                          TimeValue(MilliSeconds(10)),
                          MakeTimeAccessor(&RanSystem::m_measurementPeriod),
                          MakeTimeChecker(NanoSeconds(1)))
            .AddAttribute("HandoverHysteresisDb",
                          "A3 event: a neighbour must be this much stronger than the serving cell (dB)",
                          DoubleValue(3.0),
                          MakeDoubleAccessor(&RanSystem::m_handoverHysteresisDb),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("TimeToTrigger",
                          "A3 event: how long (s) the neighbour must stay stronger before handover",
                          TimeValue(MilliSeconds(40)),
                          MakeTimeAccessor(&RanSystem::m_timeToTrigger),
                          MakeTimeChecker(Seconds(0)))
            .AddAttribute("HandoverInterruptionTime",
                          "After a handover the UE is not scheduled, in either direction, for this long "
                          "(s): the interruption of a break-before-make handover (0: none)",
                          TimeValue(Seconds(0)),
                          MakeTimeAccessor(&RanSystem::m_handoverInterruption),
                          MakeTimeChecker(Seconds(0)))
            .AddAttribute("RadioLinkFailureTime",
                          "A UE whose transport blocks (at the lowest MCS, with HARQ and RLC "
                          "retransmission) have all failed for this long, in either direction, suffers a "
                          "radio link failure: its data is discarded and it is out of service (T310's "
                          "role; 0: never)",
                          TimeValue(Seconds(0)),
                          MakeTimeAccessor(&RanSystem::m_radioLinkFailureTime),
                          MakeTimeChecker(Seconds(0)))
            .AddTraceSource("Handover",
                            "A UE was handed over: (ue, source cell, target cell)",
                            MakeTraceSourceAccessor(&RanSystem::m_handoverTrace),
                            "ns3::TracedCallback::Uint32Uint32Uint32")
            .AddTraceSource("Drop",
                            "A packet was refused by a full queue",
                            MakeTraceSourceAccessor(&RanSystem::m_dropTrace),
                            "ns3::Packet::TracedCallback")
            .AddTraceSource("RadioLinkFailure",
                            "A UE's radio link failed: (ue, serving cell, direction 0 downlink / 1 uplink)",
                            MakeTraceSourceAccessor(&RanSystem::m_rlfTrace),
                            "ns3::TracedCallback::Uint32Uint32Uint32");
    return tid;
}

RanSystem::RanSystem() = default;

RanSystem::~RanSystem() = default;

void
RanSystem::DoDispose()
{
    m_slotEvent.Cancel();
    m_link = nullptr;
    m_gnbDevices.clear();
    m_ueDevices.clear();
    m_ues.clear();
    Object::DoDispose();
}

void
RanSystem::Configure(uint32_t cells,
                     uint32_t ues,
                     uint32_t dlRbgs,
                     uint32_t ulRbgs,
                     ns3::Ptr<RanLinkModel> link,
                     const std::string& dlScheduler,
                     const std::string& ulScheduler)
{
    if (cells == 0 || ues == 0 || dlRbgs == 0 || ulRbgs == 0 || !link)
    {
        throw std::invalid_argument("RanSystem: cells, UEs and RBGs must be positive and the link model set");
    }
    m_nCells = cells;
    m_nRbgs[0] = dlRbgs;
    m_nRbgs[1] = ulRbgs;
    m_link = link;
    m_ues.assign(ues, UeState{});
    m_gnbDevices.assign(cells, nullptr);
    m_ueDevices.assign(ues, nullptr);
    for (size_t d = 0; d < 2; ++d)
    {
        m_schedulers[d].clear();
        for (uint32_t c = 0; c < cells; ++c)
        {
            m_schedulers[d].push_back(MakeScheduler(d == 0 ? dlScheduler : ulScheduler));
        }
        m_lastAllocation[d].assign(cells, Allocation(m_nRbgs[d], -1));
        m_external[d].assign(cells, Allocation());
    }
}

void
RanSystem::SetGnbDevice(uint32_t cell, ns3::Ptr<RanNetDevice> device)
{
    m_gnbDevices.at(cell) = device;
}

void
RanSystem::SetUeDevice(uint32_t ue, ns3::Ptr<RanNetDevice> device)
{
    m_ueDevices.at(ue) = device;
}

void
RanSystem::MapAddress(ns3::Ipv4Address address, uint32_t ue)
{
    if (ue >= m_ues.size())
    {
        throw std::out_of_range("RanSystem::MapAddress: no UE " + std::to_string(ue));
    }
    m_ueByAddress[address] = ue;
}

void
RanSystem::Start()
{
    using namespace ns3;
    m_link->BeginSlot(Simulator::Now());
    for (uint32_t ue = 0; ue < m_ues.size(); ++ue)
    {
        uint32_t best = 0;
        double bestDbm = m_link->RsrpDbm(ue, 0);
        for (uint32_t c = 1; c < m_nCells; ++c)
        {
            double dbm = m_link->RsrpDbm(ue, c);
            if (dbm > bestDbm)
            {
                best = c;
                bestDbm = dbm;
            }
        }
        m_ues[ue].cell = best;
    }
    m_lastMeasurement = Simulator::Now();
    m_slotEvent = Simulator::ScheduleNow(&RanSystem::Slot, this);
}

bool
RanSystem::EnqueueDownlink(ns3::Ptr<ns3::Packet> packet, uint16_t protocol)
{
    ns3::Ipv4Header header;
    if (protocol != kIpv4Protocol || packet->PeekHeader(header) == 0)
    {
        m_dropTrace(packet); // only IPv4 is routed to UEs
        return false;
    }
    auto it = m_ueByAddress.find(header.GetDestination());
    if (it == m_ueByAddress.end())
    {
        m_dropTrace(packet);
        return false;
    }
    return Enqueue(it->second, Direction::Downlink, packet, protocol);
}

bool
RanSystem::EnqueueUplink(uint32_t ue, ns3::Ptr<ns3::Packet> packet, uint16_t protocol)
{
    return Enqueue(ue, Direction::Uplink, packet, protocol);
}

bool
RanSystem::Enqueue(uint32_t ue, Direction direction, ns3::Ptr<ns3::Packet> packet, uint16_t protocol)
{
    UeState& state = m_ues.at(ue);
    size_t d = Dir(direction);
    uint32_t size = packet->GetSize();
    if (state.linkFailed)
    {
        state.counters.lostBytes[d] += size; // out of service: counted, not a queue drop
        return false;
    }
    if (state.queuedBytes[d] + size > m_maxQueueBytes)
    {
        state.counters.droppedBytes[d] += size;
        m_dropTrace(packet);
        return false;
    }
    state.queue[d].push_back(std::make_shared<Sdu>(Sdu{packet, protocol, size, size}));
    state.queuedBytes[d] += size;
    return true;
}

void
RanSystem::SetExternalAllocation(uint32_t cell, Direction direction, const Allocation& allocation)
{
    const size_t d = Dir(direction);
    if (m_schedulers[d].at(cell)->Name() != "external")
    {
        throw std::logic_error("RanSystem: cell " + std::to_string(cell) + " does not run the external scheduler");
    }
    ValidateAllocation(allocation, static_cast<uint32_t>(m_ues.size()), m_nRbgs[d]);
    m_external[d][cell] = allocation; // checked against the serving cells slot by slot
}

void
RanSystem::Slot()
{
    using namespace ns3;
    m_link->BeginSlot(Simulator::Now());
    if (Simulator::Now() - m_lastMeasurement >= m_measurementPeriod)
    {
        m_lastMeasurement = Simulator::Now();
        CheckHandovers();
    }
    ScheduleDirection(Direction::Downlink);
    ScheduleDirection(Direction::Uplink);
    m_slotEvent = Simulator::Schedule(m_slotPeriod, &RanSystem::Slot, this);
}

void
RanSystem::ScheduleDirection(Direction direction)
{
    const size_t d = Dir(direction);
    const uint32_t nRbgs = m_nRbgs[d];
    const double slotS = m_slotPeriod.GetSeconds();
    const double alpha = std::min(1.0, slotS / m_averagingTimeConstant.GetSeconds());

    // 1. Every cell schedules the UEs it serves that have data, indexed locally (cost: its own UEs x
    // RBGs); the agent's allocation ("external") uses global UE indices and skips other cells' UEs.
    std::vector<std::vector<int32_t>>& allocations = m_scratch.allocations;
    allocations.resize(m_nCells);
    for (auto& cellAllocation : allocations)
    {
        cellAllocation.assign(nRbgs, kUnusedRbg);
    }
    std::vector<std::vector<uint32_t>>& members = m_scratch.members;
    members.resize(m_nCells);
    for (auto& cellMembers : members)
    {
        cellMembers.clear();
    }
    const ns3::Time slotStart = ns3::Simulator::Now(); // once, not once per UE
    for (uint32_t ue = 0; ue < m_ues.size(); ++ue)
    {
        const UeState& state = m_ues[ue];
        if (!state.linkFailed && slotStart >= state.interruptedUntil &&
            (state.queuedBytes[d] > 0 || state.harq[d]))
        {
            members[state.cell].push_back(ue);
        }
    }
    for (uint32_t cell = 0; cell < m_nCells; ++cell)
    {
        Scheduler& scheduler = *m_schedulers[d][cell];
        Allocation& out = allocations[cell];
        if (scheduler.Name() == "external")
        {
            for (uint32_t rbg = 0; rbg < nRbgs && rbg < m_external[d][cell].size(); ++rbg)
            {
                int32_t ue = m_external[d][cell][rbg];
                if (ue >= 0 && m_ues[static_cast<size_t>(ue)].cell == cell && !m_ues[static_cast<size_t>(ue)].linkFailed &&
                    ns3::Simulator::Now() >= m_ues[static_cast<size_t>(ue)].interruptedUntil)
                {
                    out[rbg] = ue;
                }
            }
        }
        else if (!members[cell].empty())
        {
            const auto& local = members[cell];
            SchedulerInput& input = m_scratch.input; // every value below is written before Allocate
            input.nUes = static_cast<uint32_t>(local.size());
            input.nRbgs = nRbgs;
            input.slotS = slotS;
            input.achievableBits.resize(static_cast<size_t>(input.nUes) * nRbgs);
            input.bufferBytes.resize(input.nUes);
            input.averageThroughputBps.resize(input.nUes);
            for (uint32_t i = 0; i < input.nUes; ++i)
            {
                const UeState& state = m_ues[local[i]];
                double pending = state.harq[d] ? state.harq[d]->tb.sizeBits / 8.0 : 0.0;
                input.bufferBytes[i] = static_cast<double>(state.queuedBytes[d]) + pending;
                input.averageThroughputBps[i] = state.averageBps[d];
                m_link->RbgBitsRow(local[i], cell, direction, &input.achievableBits[static_cast<size_t>(i) * nRbgs], nRbgs);
            }
            Allocation chosen = scheduler.Allocate(input);
            for (uint32_t rbg = 0; rbg < nRbgs; ++rbg)
            {
                out[rbg] = chosen[rbg] >= 0 ? static_cast<int32_t>(local[chosen[rbg]]) : kUnusedRbg;
            }
        }
        if (direction == Direction::Uplink)
        {
            FitToPower(cell, out);
        }
        m_lastAllocation[d][cell] = out;
    }
    m_link->SetAllocations(direction, allocations);

    // 2. Transmit: each UE's RBGs carry its pending HARQ block, or a new block filled from its queue.
    std::vector<uint64_t>& deliveredBits = m_scratch.deliveredBits;
    deliveredBits.assign(m_ues.size(), 0);
    for (uint32_t cell = 0; cell < m_nCells; ++cell)
    {
        // The cell's UEs in increasing index, each with its RBGs in increasing order.
        auto& byUe = m_scratch.byUe;
        byUe.clear();
        for (uint32_t rbg = 0; rbg < nRbgs; ++rbg)
        {
            int32_t ue = allocations[cell][rbg];
            if (ue >= 0)
            {
                byUe.emplace_back(static_cast<uint32_t>(ue), rbg);
            }
        }
        std::sort(byUe.begin(), byUe.end());
        std::vector<uint32_t>& rbgs = m_scratch.rbgs;
        for (size_t first = 0; first < byUe.size();)
        {
            const uint32_t ue = byUe[first].first;
            rbgs.clear();
            size_t next = first;
            for (; next < byUe.size() && byUe[next].first == ue; ++next)
            {
                rbgs.push_back(byUe[next].second);
            }
            first = next;
            UeState& state = m_ues[ue];
            if (state.cell != cell)
            {
                continue; // a scheduler named a UE this cell does not serve: nothing to send
            }
            state.counters.allocatedRbgSlots[d] += rbgs.size();
            PendingBlock block;
            if (state.harq[d])
            {
                block = std::move(*state.harq[d]);
                state.harq[d].reset();
            }
            else
            {
                block.tb = m_link->NewTransportBlock(ue, cell, rbgs, direction);
                block.segments = Fill(state, direction, block.tb.sizeBits);
                if (block.segments.empty())
                {
                    continue;
                }
            }
            state.counters.transportBlocks[d] += 1;
            state.counters.txEnergyJ[d] += std::pow(10.0, (m_link->TxPowerDbm(ue, cell, direction, rbgs) - 30.0) / 10.0) * slotS;
            if (m_link->Transmit(block.tb, rbgs))
            {
                state.failingSince[d].reset();
                for (const auto& segment : block.segments)
                {
                    deliveredBits[ue] += segment.bytes * 8ULL;
                }
                Deliver(direction, ue, std::move(block.segments));
            }
            else
            {
                state.counters.failedTransmissions[d] += 1;
                const ns3::Time now = ns3::Simulator::Now();
                if (!state.failingSince[d])
                {
                    state.failingSince[d] = now;
                }
                if (m_radioLinkFailureTime.IsStrictlyPositive() && now - *state.failingSince[d] >= m_radioLinkFailureTime)
                {
                    Requeue(state, direction, block.segments); // discarded with the queue
                    DeclareRadioLinkFailure(ue, direction);
                }
                else if (block.tb.attempts < m_harqMaxTransmissions)
                {
                    state.harq[d] = std::move(block);
                }
                else
                {
                    Requeue(state, direction, block.segments); // like RLC AM: the data is sent again
                }
            }
        }
    }

    // 3. Proportional fair's averages: every UE, served or not.
    for (uint32_t ue = 0; ue < m_ues.size(); ++ue)
    {
        double bps = deliveredBits[ue] / slotS;
        m_ues[ue].averageBps[d] = (1.0 - alpha) * m_ues[ue].averageBps[d] + alpha * bps;
    }
}

std::vector<RanSystem::Segment>
RanSystem::Fill(UeState& state, Direction direction, uint64_t bits)
{
    size_t d = Dir(direction);
    uint64_t room = bits / 8;
    std::vector<Segment> segments;
    auto& queue = state.queue[d];
    while (room > 0 && !queue.empty())
    {
        auto& sdu = queue.front();
        uint32_t take = static_cast<uint32_t>(std::min<uint64_t>(room, sdu->unsent));
        sdu->unsent -= take;
        state.queuedBytes[d] -= take;
        room -= take;
        segments.push_back({sdu, take});
        if (sdu->unsent == 0)
        {
            queue.pop_front();
        }
    }
    return segments;
}

void
RanSystem::Requeue(UeState& state, Direction direction, const std::vector<Segment>& segments)
{
    size_t d = Dir(direction);
    for (auto it = segments.rbegin(); it != segments.rend(); ++it)
    {
        bool queued = it->sdu->unsent > 0; // still at the head of the queue
        it->sdu->unsent += it->bytes;
        state.queuedBytes[d] += it->bytes;
        if (!queued)
        {
            state.queue[d].push_front(it->sdu);
        }
    }
}

void
RanSystem::Deliver(Direction direction, uint32_t ue, std::vector<Segment> segments)
{
    using namespace ns3;
    UeState& state = m_ues[ue];
    size_t d = Dir(direction);
    for (const auto& segment : segments)
    {
        state.counters.deliveredBits[d] += segment.bytes * 8ULL;
        segment.sdu->undelivered -= segment.bytes;
        if (segment.sdu->undelivered > 0)
        {
            continue;
        }
        Ptr<RanNetDevice> to = direction == Direction::Downlink ? m_ueDevices[ue] : m_gnbDevices[state.cell];
        if (to)
        {
            // The block arrives at the end of the slot it was sent in, in the receiving node's context.
            Simulator::ScheduleWithContext(to->GetNode()->GetId(),
                                           m_slotPeriod,
                                           &RanNetDevice::DeliverUp,
                                           to,
                                           segment.sdu->packet,
                                           segment.sdu->protocol);
        }
    }
}

void
RanSystem::FitToPower(uint32_t cell, Allocation& allocation)
{
    std::map<uint32_t, std::vector<uint32_t>> rbgsOf;
    for (uint32_t rbg = 0; rbg < allocation.size(); ++rbg)
    {
        if (allocation[rbg] >= 0)
        {
            rbgsOf[static_cast<uint32_t>(allocation[rbg])].push_back(rbg);
        }
    }
    for (auto& [ue, rbgs] : rbgsOf)
    {
        const std::vector<uint32_t> kept = m_link->UsableRbgs(ue, cell, Direction::Uplink, rbgs);
        if (kept.size() == rbgs.size())
        {
            continue;
        }
        for (uint32_t rbg : rbgs)
        {
            allocation[rbg] = kUnusedRbg;
        }
        for (uint32_t rbg : kept)
        {
            allocation[rbg] = static_cast<int32_t>(ue);
        }
    }
}

void
RanSystem::DeclareRadioLinkFailure(uint32_t ue, Direction direction)
{
    UeState& state = m_ues[ue];
    state.linkFailed = true;
    for (size_t d = 0; d < 2; ++d)
    {
        uint64_t pending = 0;
        if (state.harq[d])
        {
            for (const auto& segment : state.harq[d]->segments)
            {
                pending += segment.bytes;
            }
            state.harq[d].reset();
        }
        state.counters.lostBytes[d] += state.queuedBytes[d] + pending;
        state.queue[d].clear();
        state.queuedBytes[d] = 0;
        state.failingSince[d].reset();
    }
    ++m_radioLinkFailures;
    m_rlfTrace(ue, state.cell, static_cast<uint32_t>(direction));
}

bool
RanSystem::LinkFailed(uint32_t ue) const
{
    return m_ues.at(ue).linkFailed;
}

uint64_t
RanSystem::GetRadioLinkFailures() const
{
    return m_radioLinkFailures;
}

void
RanSystem::CheckHandovers()
{
    using namespace ns3;
    for (uint32_t ue = 0; ue < m_ues.size(); ++ue)
    {
        UeState& state = m_ues[ue];
        if (state.linkFailed)
        {
            continue;
        }
        double serving = m_link->RsrpDbm(ue, state.cell);
        int64_t best = -1;
        double bestDbm = serving + m_handoverHysteresisDb;
        for (uint32_t c = 0; c < m_nCells; ++c)
        {
            if (c == state.cell)
            {
                continue;
            }
            double dbm = m_link->RsrpDbm(ue, c);
            if (dbm > bestDbm)
            {
                best = c;
                bestDbm = dbm;
            }
        }
        if (best < 0)
        {
            state.candidateCell = -1;
            continue;
        }
        if (state.candidateCell != best)
        {
            state.candidateCell = best;
            state.candidateSince = Simulator::Now();
        }
        if (Simulator::Now() - state.candidateSince >= m_timeToTrigger)
        {
            HandOver(ue, static_cast<uint32_t>(best));
        }
    }
}

void
RanSystem::HandOver(uint32_t ue, uint32_t target)
{
    UeState& state = m_ues[ue];
    uint32_t source = state.cell;
    // HARQ state does not survive a handover: its data goes back to the queue (lossless handover,
    // as with data forwarding between gNBs; the queues belong to the UE, not to the cell).
    for (size_t d = 0; d < 2; ++d)
    {
        if (state.harq[d])
        {
            Requeue(state, static_cast<Direction>(d), state.harq[d]->segments);
            state.harq[d].reset();
        }
    }
    state.cell = target;
    state.candidateCell = -1;
    state.interruptedUntil = ns3::Simulator::Now() + m_handoverInterruption;
    ++m_handovers;
    m_handoverTrace(ue, source, target);
}

uint64_t
RanSystem::GetHandovers() const
{
    return m_handovers;
}

uint32_t
RanSystem::GetNCells() const
{
    return m_nCells;
}

uint32_t
RanSystem::GetNUes() const
{
    return static_cast<uint32_t>(m_ues.size());
}

uint32_t
RanSystem::GetNRbgs(Direction direction) const
{
    return m_nRbgs[Dir(direction)];
}

uint32_t
RanSystem::ServingCell(uint32_t ue) const
{
    return m_ues.at(ue).cell;
}

const UeCounters&
RanSystem::Counters(uint32_t ue) const
{
    return m_ues.at(ue).counters;
}

uint64_t
RanSystem::QueuedBytes(uint32_t ue, Direction direction) const
{
    return m_ues.at(ue).queuedBytes[Dir(direction)];
}

double
RanSystem::AverageThroughputBps(uint32_t ue, Direction direction) const
{
    return m_ues.at(ue).averageBps[Dir(direction)];
}

const Allocation&
RanSystem::LastAllocation(uint32_t cell, Direction direction) const
{
    return m_lastAllocation[Dir(direction)].at(cell);
}

ns3::Ptr<RanLinkModel>
RanSystem::GetLinkModel() const
{
    return m_link;
}

ns3::Time
RanSystem::GetSlotPeriod() const
{
    return m_slotPeriod;
}

} // namespace ns6g::ran

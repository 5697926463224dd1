// The 6G RAN's per-slot MAC scheduler; see ran-scheduler.h and docs/ran-scheduler.md.
#include "ran/model/ran-scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace ns6g::ran
{

namespace
{

std::string
Join(const std::vector<std::string>& names)
{
    std::string out;
    for (size_t i = 0; i < names.size(); ++i)
    {
        out += (i ? ", " : "") + names[i];
    }
    return out;
}

void
CheckValues(const std::vector<double>& values, const char* what, bool allowInfinity)
{
    for (size_t i = 0; i < values.size(); ++i)
    {
        double v = values[i];
        if (std::isnan(v) || v < 0.0 || (!allowInfinity && std::isinf(v)))
        {
            std::ostringstream os;
            os << what << "[" << i << "] is " << v << "; it must be "
               << (allowInfinity ? ">= 0 (or +infinity)" : "finite and >= 0");
            throw std::invalid_argument(os.str());
        }
    }
}

/** Bits each UE still has to send this slot: its buffer, in bits (+infinity for a full buffer). */
std::vector<double>
BufferBits(const SchedulerInput& input)
{
    std::vector<double> bits(input.nUes);
    for (uint32_t u = 0; u < input.nUes; ++u)
    {
        bits[u] = input.bufferBytes[u] * 8.0;
    }
    return bits;
}

/**
 * Per RBG, the eligible UE with the largest metric(ue, rbg); eligible: data left not yet covered by RBGs
 * given this slot, and a non-zero rate on the RBG. Ties go to the lower UE index.
 */
template <class Metric>
Allocation
GreedyPerRbg(const SchedulerInput& input, Metric metric)
{
    input.Validate();
    Allocation allocation(input.nRbgs, kUnusedRbg);
    std::vector<double> remaining = BufferBits(input);
    for (uint32_t b = 0; b < input.nRbgs; ++b)
    {
        int32_t best = kUnusedRbg;
        double bestMetric = -1.0;
        for (uint32_t u = 0; u < input.nUes; ++u)
        {
            double bits = input.AchievableBits(u, b);
            if (remaining[u] <= 0.0 || bits <= 0.0)
            {
                continue;
            }
            double m = metric(u, bits);
            if (m > bestMetric)
            {
                bestMetric = m;
                best = static_cast<int32_t>(u);
            }
        }
        if (best != kUnusedRbg)
        {
            allocation[b] = best;
            remaining[best] -= input.AchievableBits(best, b);
        }
    }
    return allocation;
}

} // namespace

// ---------------------------------------------------------------------------------------------------
// SchedulerInput

void
SchedulerInput::Validate() const
{
    auto sizeError = [](const char* what, size_t got, size_t want, const char* per) {
        std::ostringstream os;
        os << "SchedulerInput: " << what << " has " << got << " values; expected " << want << " (" << per
           << ")";
        throw std::invalid_argument(os.str());
    };
    const size_t cells = static_cast<size_t>(nUes) * nRbgs;
    if (achievableBits.size() != cells)
    {
        sizeError("achievableBits", achievableBits.size(), cells, "nUes * nRbgs");
    }
    if (bufferBytes.size() != nUes)
    {
        sizeError("bufferBytes", bufferBytes.size(), nUes, "one per UE");
    }
    if (averageThroughputBps.size() != nUes)
    {
        sizeError("averageThroughputBps", averageThroughputBps.size(), nUes, "one per UE");
    }
    if (!(slotS > 0.0) || std::isinf(slotS))
    {
        std::ostringstream os;
        os << "SchedulerInput: slotS is " << slotS << " s; it must be finite and > 0";
        throw std::invalid_argument(os.str());
    }
    CheckValues(achievableBits, "SchedulerInput: achievableBits", false);
    CheckValues(bufferBytes, "SchedulerInput: bufferBytes", true);
    CheckValues(averageThroughputBps, "SchedulerInput: averageThroughputBps", false);
}

// ---------------------------------------------------------------------------------------------------
// Allocations

void
ValidateAllocation(const Allocation& allocation, uint32_t nUes, uint32_t nRbgs)
{
    if (allocation.size() != nRbgs)
    {
        std::ostringstream os;
        os << "allocation has " << allocation.size() << " entries but the slot has " << nRbgs
           << " RBGs; give one UE index (or " << kUnusedRbg << " for unused) per RBG";
        throw InvalidAllocation(os.str());
    }
    for (uint32_t b = 0; b < nRbgs; ++b)
    {
        int32_t ue = allocation[b];
        if (ue == kUnusedRbg)
        {
            continue;
        }
        if (ue < 0 || static_cast<uint32_t>(ue) >= nUes)
        {
            std::ostringstream os;
            os << "RBG " << b << " is given to UE " << ue << ", which does not exist: ";
            if (nUes == 0)
            {
                os << "there are no UEs";
            }
            else
            {
                os << "there are " << nUes << " UEs (0.." << nUes - 1 << ")";
            }
            os << ", and " << kUnusedRbg << " marks an unused RBG";
            throw InvalidAllocation(os.str());
        }
    }
}

Allocation
AllocationFromEntries(const std::vector<std::pair<uint32_t, int32_t>>& entries, uint32_t nUes,
                      uint32_t nRbgs)
{
    constexpr int32_t kMissing = std::numeric_limits<int32_t>::min();
    Allocation allocation(nRbgs, kMissing);
    for (const auto& [rbg, ue] : entries)
    {
        if (rbg >= nRbgs)
        {
            std::ostringstream os;
            os << "RBG " << rbg << " (given to UE " << ue << ") does not exist: the slot has " << nRbgs
               << " RBGs (0.." << static_cast<int64_t>(nRbgs) - 1 << ")";
            throw InvalidAllocation(os.str());
        }
        if (allocation[rbg] != kMissing)
        {
            std::ostringstream os;
            os << "RBG " << rbg << " is named twice (UE " << allocation[rbg] << " and UE " << ue
               << "); an RBG carries one UE";
            throw InvalidAllocation(os.str());
        }
        allocation[rbg] = ue;
    }
    for (uint32_t b = 0; b < nRbgs; ++b)
    {
        if (allocation[b] == kMissing)
        {
            std::ostringstream os;
            os << "allocation has " << entries.size() << " entries but the slot has " << nRbgs
               << " RBGs: RBG " << b << " has no entry (give " << kUnusedRbg << " for an unused RBG)";
            throw InvalidAllocation(os.str());
        }
    }
    ValidateAllocation(allocation, nUes, nRbgs);
    return allocation;
}

std::vector<double>
DeliveredBits(const SchedulerInput& input, const Allocation& allocation)
{
    input.Validate();
    ValidateAllocation(allocation, input.nUes, input.nRbgs);
    std::vector<double> bits(input.nUes, 0.0);
    for (uint32_t b = 0; b < input.nRbgs; ++b)
    {
        if (allocation[b] != kUnusedRbg)
        {
            bits[allocation[b]] += input.AchievableBits(allocation[b], b);
        }
    }
    for (uint32_t u = 0; u < input.nUes; ++u)
    {
        bits[u] = std::min(bits[u], input.bufferBytes[u] * 8.0);
    }
    return bits;
}

std::vector<double>
UpdateAverages(const SchedulerInput& input, const Allocation& allocation,
               const std::vector<double>& deliveredBits, double timeConstantS)
{
    if (!(timeConstantS > 0.0))
    {
        std::ostringstream os;
        os << "UpdateAverages: timeConstantS is " << timeConstantS << " s; it must be > 0";
        throw std::invalid_argument(os.str());
    }
    std::vector<double> delivered = deliveredBits;
    if (delivered.empty())
    {
        delivered = DeliveredBits(input, allocation);
    }
    else
    {
        input.Validate();
        if (delivered.size() != input.nUes)
        {
            std::ostringstream os;
            os << "UpdateAverages: deliveredBits has " << delivered.size() << " values; expected "
               << input.nUes << " (one per UE) or none";
            throw std::invalid_argument(os.str());
        }
        CheckValues(delivered, "UpdateAverages: deliveredBits", false);
    }
    const double a = std::min(1.0, input.slotS / timeConstantS);
    std::vector<double> averages(input.nUes);
    for (uint32_t u = 0; u < input.nUes; ++u)
    {
        averages[u] = (1.0 - a) * input.averageThroughputBps[u] + a * delivered[u] / input.slotS;
    }
    return averages;
}

// ---------------------------------------------------------------------------------------------------
// Policies

Allocation
RoundRobinScheduler::Allocate(const SchedulerInput& input)
{
    input.Validate();
    Allocation allocation(input.nRbgs, kUnusedRbg);
    if (input.nUes == 0)
    {
        return allocation;
    }
    std::vector<double> remaining = BufferBits(input);
    m_next %= input.nUes;
    for (uint32_t b = 0; b < input.nRbgs; ++b)
    {
        int32_t chosen = kUnusedRbg;
        for (uint32_t k = 0; k < input.nUes; ++k)
        {
            uint32_t u = (m_next + k) % input.nUes;
            if (remaining[u] > 0.0)
            {
                chosen = static_cast<int32_t>(u);
                break;
            }
        }
        if (chosen == kUnusedRbg)
        {
            break; // nobody has data left; it only shrinks within a slot
        }
        allocation[b] = chosen;
        remaining[chosen] -= input.AchievableBits(chosen, b);
        m_next = (static_cast<uint32_t>(chosen) + 1) % input.nUes;
    }
    return allocation;
}

std::string
RoundRobinScheduler::Name() const
{
    return "rr";
}

void
RoundRobinScheduler::Reset()
{
    m_next = 0;
}

Allocation
ProportionalFairScheduler::Allocate(const SchedulerInput& input)
{
    return GreedyPerRbg(input, [&input](uint32_t u, double bits) {
        return bits / std::max(input.averageThroughputBps[u], kMinAverageBps);
    });
}

std::string
ProportionalFairScheduler::Name() const
{
    return "pf";
}

Allocation
MaxRateScheduler::Allocate(const SchedulerInput& input)
{
    return GreedyPerRbg(input, [](uint32_t /* u */, double bits) { return bits; });
}

std::string
MaxRateScheduler::Name() const
{
    return "mr";
}

ExternalScheduler::ExternalScheduler(uint32_t everyNSlots)
    : m_everyN(1)
{
    SetEveryNSlots(everyNSlots);
}

void
ExternalScheduler::SetAllocation(const Allocation& allocation, uint32_t nUes, uint32_t nRbgs)
{
    ValidateAllocation(allocation, nUes, nRbgs);
    m_allocation = allocation;
}

bool
ExternalScheduler::HasAllocation() const
{
    return !m_allocation.empty();
}

const Allocation&
ExternalScheduler::GetAllocation() const
{
    return m_allocation;
}

bool
ExternalScheduler::DecisionDue() const
{
    return m_slot % m_everyN == 0;
}

uint64_t
ExternalScheduler::GetSlot() const
{
    return m_slot;
}

uint32_t
ExternalScheduler::GetEveryNSlots() const
{
    return m_everyN;
}

void
ExternalScheduler::SetEveryNSlots(uint32_t everyNSlots)
{
    if (everyNSlots == 0)
    {
        throw std::invalid_argument("ExternalScheduler: the agent must decide every N >= 1 slots, got 0");
    }
    m_everyN = everyNSlots;
}

Allocation
ExternalScheduler::Allocate(const SchedulerInput& input)
{
    input.Validate();
    Allocation allocation(input.nRbgs, kUnusedRbg);
    if (HasAllocation())
    {
        ValidateAllocation(m_allocation, input.nUes, input.nRbgs);
        allocation = m_allocation;
    }
    ++m_slot;
    return allocation;
}

std::string
ExternalScheduler::Name() const
{
    return "external";
}

void
ExternalScheduler::Reset()
{
    m_allocation.clear();
    m_slot = 0;
}

std::vector<std::string>
SchedulerNames()
{
    return {"rr", "pf", "mr", "external"};
}

std::unique_ptr<Scheduler>
MakeScheduler(const std::string& name)
{
    if (name == "rr")
    {
        return std::make_unique<RoundRobinScheduler>();
    }
    if (name == "pf")
    {
        return std::make_unique<ProportionalFairScheduler>();
    }
    if (name == "mr")
    {
        return std::make_unique<MaxRateScheduler>();
    }
    if (name == "external")
    {
        return std::make_unique<ExternalScheduler>();
    }
    throw std::invalid_argument("unknown scheduler '" + name +
                                "'; valid names: rr (round robin), pf (proportional fair), mr (max rate), "
                                "external (the agent's allocation)");
}

// ---------------------------------------------------------------------------------------------------
// Action encoding

std::vector<int64_t>
ActionNvec(uint32_t nUes, uint32_t nRbgs)
{
    return std::vector<int64_t>(nRbgs, static_cast<int64_t>(nUes) + 1);
}

Allocation
DecodeAction(const int64_t* action, size_t count, uint32_t nUes, uint32_t nRbgs)
{
    if (count != nRbgs)
    {
        std::ostringstream os;
        os << "action has " << count << " entries but the slot has " << nRbgs << " RBGs (one per RBG)";
        throw InvalidAllocation(os.str());
    }
    Allocation allocation(nRbgs);
    for (uint32_t b = 0; b < nRbgs; ++b)
    {
        int64_t v = action[b];
        if (v < 0 || v > static_cast<int64_t>(nUes))
        {
            std::ostringstream os;
            os << "action for RBG " << b << " is " << v << "; it must be a UE index 0.."
               << static_cast<int64_t>(nUes) - 1 << " or " << nUes << " for unused";
            throw InvalidAllocation(os.str());
        }
        allocation[b] = v == static_cast<int64_t>(nUes) ? kUnusedRbg : static_cast<int32_t>(v);
    }
    return allocation;
}

Allocation
DecodeAction(const std::vector<int64_t>& action, uint32_t nUes, uint32_t nRbgs)
{
    return DecodeAction(action.data(), action.size(), nUes, nRbgs);
}

std::vector<int64_t>
EncodeAction(const Allocation& allocation, uint32_t nUes, uint32_t nRbgs)
{
    ValidateAllocation(allocation, nUes, nRbgs);
    std::vector<int64_t> action(nRbgs);
    for (uint32_t b = 0; b < nRbgs; ++b)
    {
        action[b] = allocation[b] == kUnusedRbg ? static_cast<int64_t>(nUes) : allocation[b];
    }
    return action;
}

// ---------------------------------------------------------------------------------------------------
// Metrics

double
JainIndex(const std::vector<double>& values)
{
    if (values.empty())
    {
        throw std::invalid_argument("JainIndex: no values");
    }
    CheckValues(values, "JainIndex: value", false);
    double sum = 0.0;
    double sumSquares = 0.0;
    for (double v : values)
    {
        sum += v;
        sumSquares += v * v;
    }
    if (sumSquares == 0.0)
    {
        return 0.0; // all zero: an idle cell is not fair (a reward of 1 would make idling the best)
    }
    return sum * sum / (static_cast<double>(values.size()) * sumSquares);
}

double
SumRate(const std::vector<double>& throughputsBps)
{
    CheckValues(throughputsBps, "SumRate: throughput", false);
    double sum = 0.0;
    for (double v : throughputsBps)
    {
        sum += v;
    }
    return sum;
}

double
ProportionalFairUtility(const std::vector<double>& throughputsBps, double epsilonBps)
{
    if (!(epsilonBps > 0.0) || std::isinf(epsilonBps))
    {
        std::ostringstream os;
        os << "ProportionalFairUtility: epsilon is " << epsilonBps << " bit/s; it must be finite and > 0";
        throw std::invalid_argument(os.str());
    }
    CheckValues(throughputsBps, "ProportionalFairUtility: throughput", false);
    double utility = 0.0;
    for (double v : throughputsBps)
    {
        utility += std::log(v + epsilonBps);
    }
    return utility;
}

double
DeadlineViolationFraction(const std::vector<double>& latenciesS, double deadlineS)
{
    if (!(deadlineS >= 0.0) || std::isinf(deadlineS))
    {
        std::ostringstream os;
        os << "DeadlineViolationFraction: deadline is " << deadlineS << " s; it must be finite and >= 0";
        throw std::invalid_argument(os.str());
    }
    if (latenciesS.empty())
    {
        return 0.0;
    }
    size_t late = 0;
    for (size_t i = 0; i < latenciesS.size(); ++i)
    {
        double l = latenciesS[i];
        if (l < 0.0)
        {
            std::ostringstream os;
            os << "DeadlineViolationFraction: latency[" << i << "] is " << l << " s; it must be >= 0";
            throw std::invalid_argument(os.str());
        }
        if (!std::isfinite(l) || l > deadlineS)
        {
            ++late;
        }
    }
    return static_cast<double>(late) / static_cast<double>(latenciesS.size());
}

DeadlineLedger::DeadlineLedger(uint32_t flows, double deadlineS)
    : m_deadlineS(deadlineS),
      m_flows(flows),
      m_head(flows, 0)
{
    if (!(deadlineS >= 0.0) || std::isinf(deadlineS))
    {
        std::ostringstream os;
        os << "DeadlineLedger: deadline is " << deadlineS << " s; it must be finite and >= 0";
        throw std::invalid_argument(os.str());
    }
}

void
DeadlineLedger::Sent(uint32_t flow, uint32_t seq, double sentS)
{
    auto& packets = m_flows.at(flow);
    if (packets.size() > m_head[flow] && seq <= packets.back().seq)
    {
        throw std::invalid_argument("DeadlineLedger: flow " + std::to_string(flow) + " sent packet " +
                                    std::to_string(seq) + " after packet " + std::to_string(packets.back().seq));
    }
    packets.push_back({seq, sentS, std::numeric_limits<double>::infinity()});
}

void
DeadlineLedger::Received(uint32_t flow, uint32_t seq, double nowS)
{
    auto& packets = m_flows.at(flow);
    // Sequence numbers increase in send order: find the packet among those not due yet.
    auto first = packets.begin() + static_cast<std::ptrdiff_t>(m_head[flow]);
    auto it = std::lower_bound(first, packets.end(), seq, [](const Packet& p, uint32_t s) { return p.seq < s; });
    if (it != packets.end() && it->seq == seq)
    {
        it->latencyS = nowS - it->sentS;
    }
}

std::vector<double>
DeadlineLedger::Due(double nowS)
{
    std::vector<double> out;
    for (size_t f = 0; f < m_flows.size(); ++f)
    {
        auto& packets = m_flows[f];
        size_t& head = m_head[f];
        while (head < packets.size() && packets[head].sentS + m_deadlineS < nowS)
        {
            out.push_back(packets[head].latencyS);
            ++head;
        }
        if (head > 4096 && head * 2 > packets.size()) // drop what is due, now and then
        {
            packets.erase(packets.begin(), packets.begin() + static_cast<std::ptrdiff_t>(head));
            head = 0;
        }
    }
    return out;
}

size_t
DeadlineLedger::Outstanding() const
{
    size_t n = 0;
    for (size_t f = 0; f < m_flows.size(); ++f)
    {
        n += m_flows[f].size() - m_head[f];
    }
    return n;
}

std::vector<std::string>
RewardNames()
{
    return {"sum_rate", "pf_utility", "deadline_violations", "jain"};
}

RewardKind
ParseRewardKind(const std::string& name)
{
    const auto names = RewardNames();
    for (size_t i = 0; i < names.size(); ++i)
    {
        if (names[i] == name)
        {
            return static_cast<RewardKind>(i);
        }
    }
    throw std::invalid_argument("unknown reward '" + name + "'; valid names: " + Join(names));
}

std::string
RewardName(RewardKind kind)
{
    return RewardNames().at(static_cast<size_t>(kind));
}

double
ComputeReward(RewardKind kind, const std::vector<double>& throughputsBps,
              const std::vector<double>& latenciesS, double deadlineS)
{
    switch (kind)
    {
    case RewardKind::kSumRate:
        return SumRate(throughputsBps);
    case RewardKind::kPfUtility:
        return ProportionalFairUtility(throughputsBps);
    case RewardKind::kDeadlineViolations:
        return -DeadlineViolationFraction(latenciesS, deadlineS);
    case RewardKind::kJainFairness:
        return JainIndex(throughputsBps);
    }
    throw std::invalid_argument("ComputeReward: unknown RewardKind");
}

} // namespace ns6g::ran

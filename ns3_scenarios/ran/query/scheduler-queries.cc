// Queries of the RAN scheduler model (see ran-query.h and ran/model/ran-scheduler.h); Python's side is
// ns6g/radio/scheduler.py. Record structs are laid out by hand (explicit padding, offsets checked by
// static_assert) so that their numpy dtypes have no hidden gaps.
//
//   schedule_case     -> schedule_result      one record per UE of one or more cases: the policy run
//                                              over n_slots slots of a synthetic fading workload.
//   allocation_check  -> allocation_entry     (rbg, ue) entries of one allocation, validated
//                                              (AllocationFromEntries); the reply is the allocation in
//                                              RBG order with its action encoding.
//   action_entry      -> decoded_action       an agent's MultiDiscrete action, one entry per RBG, decoded
//                                              (records laid out as allocation_entry).
//   external_action   -> applied_allocation   the agent's allocations by slot, replayed through an
//                                              ExternalScheduler deciding every N slots; the reply is
//                                              the allocation applied in each slot (n_slots * n_rbgs).
//   metric_sample     -> metrics              values grouped by `group`, each group naming one reward
//                                              (RewardNames); one reply per group, in order of first
//                                              appearance: an aggregate, so not one reply per request.
#include "ran/model/ran-scheduler.h"
#include "ran/query/ran-query.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <sstream>

namespace ns6g::ran
{

namespace
{

// ---------------------------------------------------------------------------------------------------
// Records

constexpr size_t kPolicyChars = 16;
constexpr size_t kRewardChars = 24;

struct ScheduleCaseRecord
{
    char policy[kPolicyChars];  //!< scheduler name, NUL-padded ("rr", "pf", "mr")
    uint32_t caseId;            //!< groups the UEs of one case
    uint32_t ue;                //!< UE index in its case: 0 .. n-1, each once
    uint32_t nRbgs;             //!< RBGs per slot
    uint32_t nSlots;            //!< slots simulated
    uint64_t seed;              //!< seeds the fading draws (same seed: same channel for every policy)
    double meanBitsPerRbg;      //!< mean achievable bits of one RBG in one slot for this UE
    double bufferBytes;         //!< initial buffer, bytes; +inf: full buffer
    double arrivalBytesPerSlot; //!< bytes arriving at the start of every slot (constant bit rate)
    double slotS;               //!< slot duration, s
    double timeConstantS;       //!< EWMA time constant of the average throughput, s
};

static_assert(offsetof(ScheduleCaseRecord, caseId) == 16 && offsetof(ScheduleCaseRecord, seed) == 32 &&
                  offsetof(ScheduleCaseRecord, meanBitsPerRbg) == 40 &&
                  offsetof(ScheduleCaseRecord, timeConstantS) == 72 && sizeof(ScheduleCaseRecord) == 80,
              "schedule_case records must have no hidden padding");

struct ScheduleResultRecord
{
    uint32_t caseId;
    uint32_t ue;
    uint64_t rbgsAllocated;      //!< RBGs given to the UE, summed over all slots
    uint64_t slotsServed;        //!< slots in which the UE had at least one RBG
    double bitsDelivered;        //!< bits delivered over all slots (capped by the buffer)
    double meanThroughputBps;    //!< bitsDelivered / (nSlots * slotS)
    double averageThroughputBps; //!< the EWMA at the end, bit/s
    double bufferBytes;          //!< bytes left in the buffer at the end (+inf: full buffer)
    double meanAchievableBitsPerRbg; //!< mean of the fading draws of this UE (checks the workload)
};

static_assert(offsetof(ScheduleResultRecord, rbgsAllocated) == 8 &&
                  offsetof(ScheduleResultRecord, bitsDelivered) == 24 &&
                  offsetof(ScheduleResultRecord, meanAchievableBitsPerRbg) == 56 &&
                  sizeof(ScheduleResultRecord) == 64,
              "schedule_result records must have no hidden padding");

struct AllocationCheckRecord
{
    uint32_t rbg;
    int32_t ue; //!< UE index or -1 (unused)
    uint32_t nUes;
    uint32_t nRbgs;
};

static_assert(sizeof(AllocationCheckRecord) == 16, "allocation_check records must have no padding");

struct ActionEntryRecord
{
    int64_t action; //!< 0 .. nUes - 1: that UE; nUes: unused
    uint32_t nUes;
    uint32_t nRbgs;
};

static_assert(offsetof(ActionEntryRecord, nUes) == 8 && sizeof(ActionEntryRecord) == 16,
              "action_entry records must have no padding");

struct AllocationEntryRecord
{
    uint32_t rbg;
    int32_t ue;     //!< UE index or -1 (unused)
    int64_t action; //!< the entry's action encoding
};

static_assert(offsetof(AllocationEntryRecord, action) == 8 && sizeof(AllocationEntryRecord) == 16,
              "allocation_entry records must have no padding");

struct ExternalActionRecord
{
    uint32_t slot; //!< slot before which the agent sends this allocation (a decision slot)
    uint32_t rbg;
    int32_t ue; //!< UE index or -1 (unused)
    uint32_t nUes;
    uint32_t nRbgs;
    uint32_t nSlots;
    uint32_t everyNSlots;
    uint32_t pad;
};

static_assert(offsetof(ExternalActionRecord, everyNSlots) == 24 && sizeof(ExternalActionRecord) == 32,
              "external_action records must have no hidden padding");

struct AppliedAllocationRecord
{
    uint32_t slot;
    uint32_t rbg;
    int32_t ue;        //!< UE index or -1 (unused)
    uint32_t decision; //!< 1 if the agent's allocation was replaced before this slot
};

static_assert(sizeof(AppliedAllocationRecord) == 16, "applied_allocation records must have no padding");

struct MetricSampleRecord
{
    char reward[kRewardChars]; //!< the metric, by RewardNames() name ("jain", "sum_rate", ...)
    uint32_t group;            //!< samples with one group id form one set of values
    uint32_t pad;
    double value;     //!< a throughput (bit/s), or a latency (s) for "deadline_violations"
    double deadlineS; //!< deadline of "deadline_violations", s; the same within a group
};

static_assert(offsetof(MetricSampleRecord, group) == 24 && offsetof(MetricSampleRecord, value) == 32 &&
                  sizeof(MetricSampleRecord) == 48,
              "metric_sample records must have no hidden padding");

struct MetricsRecord
{
    uint32_t group;
    uint32_t count;  //!< values in the group
    double metric;   //!< JainIndex, SumRate, ProportionalFairUtility or DeadlineViolationFraction
    double reward;   //!< ComputeReward: the metric, negated for "deadline_violations"
};

static_assert(offsetof(MetricsRecord, metric) == 8 && sizeof(MetricsRecord) == 24,
              "metrics records must have no hidden padding");

// ---------------------------------------------------------------------------------------------------
// Helpers

/** Upper bound on n_slots * n_ues * n_rbgs of one schedule_case request: a few seconds of work. */
constexpr double kMaxScheduleWork = 5e8;

std::string
PolicyName(const ScheduleCaseRecord& r)
{
    return ReadFixedString(r.policy);
}

template <class T>
[[noreturn]] void
Refuse(const std::string& query, const T& what)
{
    std::ostringstream os;
    os << query << ": " << what;
    throw InvalidRequest(os.str());
}

/** Exponential(1) from one 64-bit draw: portable across standard libraries, unlike std:: distributions. */
double
Exponential1(std::mt19937_64& rng)
{
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53; // [0, 1)
    return -std::log1p(-u);
}

// ---------------------------------------------------------------------------------------------------
// schedule_case

void
CheckCase(const std::vector<const ScheduleCaseRecord*>& ues)
{
    const ScheduleCaseRecord& first = *ues.front();
    const std::string q = "schedule_case (case " + std::to_string(first.caseId) + ")";
    std::vector<bool> seen(ues.size(), false);
    for (const auto* r : ues)
    {
        if (PolicyName(*r) != PolicyName(first) || r->nRbgs != first.nRbgs || r->nSlots != first.nSlots ||
            r->seed != first.seed || r->slotS != first.slotS || r->timeConstantS != first.timeConstantS)
        {
            Refuse(q, "every UE of a case must give the same policy, n_rbgs, n_slots, seed, slot_s and "
                      "time_constant_s");
        }
        if (r->ue >= ues.size())
        {
            Refuse(q, "UE " + std::to_string(r->ue) + " given, but the case has " +
                          std::to_string(ues.size()) + " UEs: number them 0.." +
                          std::to_string(ues.size() - 1));
        }
        if (seen[r->ue])
        {
            Refuse(q, "UE " + std::to_string(r->ue) + " is given twice");
        }
        seen[r->ue] = true;
        if (!(r->meanBitsPerRbg >= 0.0) || std::isinf(r->meanBitsPerRbg))
        {
            Refuse(q, "UE " + std::to_string(r->ue) + ": mean_bits_per_rbg must be finite and >= 0");
        }
        if (!(r->bufferBytes >= 0.0))
        {
            Refuse(q, "UE " + std::to_string(r->ue) + ": buffer_bytes must be >= 0 (inf: full buffer)");
        }
        if (!(r->arrivalBytesPerSlot >= 0.0) || std::isinf(r->arrivalBytesPerSlot))
        {
            Refuse(q, "UE " + std::to_string(r->ue) + ": arrival_bytes_per_slot must be finite and >= 0");
        }
    }
    if (!(first.slotS > 0.0) || std::isinf(first.slotS))
    {
        Refuse(q, "slot_s must be finite and > 0");
    }
    if (!(first.timeConstantS > 0.0) || std::isinf(first.timeConstantS))
    {
        Refuse(q, "time_constant_s must be finite and > 0");
    }
}

/** Runs one case; one result per UE, in UE order. */
std::vector<ScheduleResultRecord>
RunCase(const std::vector<const ScheduleCaseRecord*>& ues, Scheduler& scheduler)
{
    const ScheduleCaseRecord& first = *ues.front();
    const uint32_t n = ues.size();
    std::vector<const ScheduleCaseRecord*> byUe(n);
    for (const auto* r : ues)
    {
        byUe[r->ue] = r;
    }

    SchedulerInput input;
    input.nUes = n;
    input.nRbgs = first.nRbgs;
    input.slotS = first.slotS;
    input.achievableBits.assign(static_cast<size_t>(n) * first.nRbgs, 0.0);
    input.averageThroughputBps.assign(n, 0.0);
    input.bufferBytes.resize(n);
    std::vector<ScheduleResultRecord> results(n);
    std::vector<double> drawnBits(n, 0.0);
    for (uint32_t u = 0; u < n; ++u)
    {
        input.bufferBytes[u] = byUe[u]->bufferBytes;
        results[u] = ScheduleResultRecord{first.caseId, u, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0};
    }

    std::mt19937_64 rng(first.seed);
    for (uint32_t slot = 0; slot < first.nSlots; ++slot)
    {
        // Draws in a fixed order whatever the policy, so that policies compare on one channel.
        for (uint32_t u = 0; u < n; ++u)
        {
            input.bufferBytes[u] += byUe[u]->arrivalBytesPerSlot;
            for (uint32_t b = 0; b < first.nRbgs; ++b)
            {
                double bits = byUe[u]->meanBitsPerRbg * Exponential1(rng);
                input.achievableBits[static_cast<size_t>(u) * first.nRbgs + b] = bits;
                drawnBits[u] += bits;
            }
        }
        Allocation allocation = scheduler.Allocate(input);
        std::vector<double> delivered = DeliveredBits(input, allocation);
        input.averageThroughputBps = UpdateAverages(input, allocation, delivered, first.timeConstantS);
        std::vector<bool> served(n, false);
        for (int32_t ue : allocation)
        {
            if (ue != kUnusedRbg)
            {
                ++results[ue].rbgsAllocated;
                served[ue] = true;
            }
        }
        for (uint32_t u = 0; u < n; ++u)
        {
            results[u].slotsServed += served[u] ? 1 : 0;
            results[u].bitsDelivered += delivered[u];
            if (std::isfinite(input.bufferBytes[u]))
            {
                input.bufferBytes[u] = std::max(0.0, input.bufferBytes[u] - delivered[u] / 8.0);
            }
        }
    }
    const double durationS = first.nSlots * first.slotS;
    const double draws = static_cast<double>(first.nSlots) * first.nRbgs;
    for (uint32_t u = 0; u < n; ++u)
    {
        results[u].meanThroughputBps = durationS > 0.0 ? results[u].bitsDelivered / durationS : 0.0;
        results[u].averageThroughputBps = input.averageThroughputBps[u];
        results[u].bufferBytes = input.bufferBytes[u];
        results[u].meanAchievableBitsPerRbg = draws > 0.0 ? drawnBits[u] / draws : 0.0;
    }
    return results;
}

Message
AnswerSchedule(const Message& request)
{
    const auto* records = request.Records<ScheduleCaseRecord>();
    std::map<uint32_t, std::vector<const ScheduleCaseRecord*>> cases;
    for (size_t i = 0; i < request.count; ++i)
    {
        cases[records[i].caseId].push_back(&records[i]);
    }
    double work = 0.0;
    std::map<uint32_t, std::vector<ScheduleResultRecord>> results;
    std::vector<std::pair<uint32_t, std::unique_ptr<Scheduler>>> schedulers;
    for (const auto& [caseId, ues] : cases)
    {
        const std::string name = PolicyName(*ues.front());
        std::unique_ptr<Scheduler> scheduler;
        try
        {
            scheduler = MakeScheduler(name);
        }
        catch (const std::invalid_argument& e)
        {
            Refuse("schedule_case (case " + std::to_string(caseId) + ")", e.what());
        }
        if (name == "external")
        {
            Refuse("schedule_case (case " + std::to_string(caseId) + ")",
                   "policy 'external' applies an agent's allocations; replay them with the "
                   "external_action query, or simulate rr, pf or mr");
        }
        CheckCase(ues);
        work += static_cast<double>(ues.front()->nSlots) * ues.front()->nRbgs * ues.size();
        schedulers.emplace_back(caseId, std::move(scheduler));
    }
    if (work > kMaxScheduleWork)
    {
        std::ostringstream os;
        os << "n_slots * n_ues * n_rbgs sums to " << work << " over the cases; the limit of one request is "
           << kMaxScheduleWork;
        Refuse("schedule_case", os.str());
    }
    for (auto& [caseId, scheduler] : schedulers)
    {
        results[caseId] = RunCase(cases[caseId], *scheduler);
    }
    std::vector<ScheduleResultRecord> reply;
    reply.reserve(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        reply.push_back(results[records[i].caseId][records[i].ue]);
    }
    return Message::From("schedule_result", reply);
}

// ---------------------------------------------------------------------------------------------------
// allocation_check, action_entry

Message
ReplyAllocation(const std::string& replyType, const Allocation& allocation, uint32_t nUes)
{
    std::vector<int64_t> action = EncodeAction(allocation, nUes, allocation.size());
    std::vector<AllocationEntryRecord> reply(allocation.size());
    for (uint32_t b = 0; b < allocation.size(); ++b)
    {
        reply[b] = AllocationEntryRecord{b, allocation[b], action[b]};
    }
    return Message::From(replyType, reply);
}

Message
AnswerAllocationCheck(const Message& request)
{
    const auto* records = request.Records<AllocationCheckRecord>();
    if (request.count == 0)
    {
        return Message::From("allocation_entry", std::vector<AllocationEntryRecord>{});
    }
    const uint32_t nUes = records[0].nUes;
    const uint32_t nRbgs = records[0].nRbgs;
    std::vector<std::pair<uint32_t, int32_t>> entries;
    for (size_t i = 0; i < request.count; ++i)
    {
        if (records[i].nUes != nUes || records[i].nRbgs != nRbgs)
        {
            Refuse("allocation_check", "every entry must give the same n_ues and n_rbgs");
        }
        entries.emplace_back(records[i].rbg, records[i].ue);
    }
    try
    {
        return ReplyAllocation("allocation_entry", AllocationFromEntries(entries, nUes, nRbgs), nUes);
    }
    catch (const InvalidAllocation& e)
    {
        throw InvalidRequest(std::string("invalid allocation: ") + e.what());
    }
}

Message
AnswerActionEntry(const Message& request)
{
    const auto* records = request.Records<ActionEntryRecord>();
    if (request.count == 0)
    {
        return Message::From("decoded_action", std::vector<AllocationEntryRecord>{});
    }
    const uint32_t nUes = records[0].nUes;
    const uint32_t nRbgs = records[0].nRbgs;
    std::vector<int64_t> action(request.count);
    for (size_t i = 0; i < request.count; ++i)
    {
        if (records[i].nUes != nUes || records[i].nRbgs != nRbgs)
        {
            Refuse("action_entry", "every entry must give the same n_ues and n_rbgs");
        }
        action[i] = records[i].action;
    }
    try
    {
        return ReplyAllocation("decoded_action", DecodeAction(action, nUes, nRbgs), nUes);
    }
    catch (const InvalidAllocation& e)
    {
        throw InvalidRequest(std::string("invalid action: ") + e.what());
    }
}

// ---------------------------------------------------------------------------------------------------
// external_action

Message
AnswerExternalAction(const Message& request)
{
    const auto* records = request.Records<ExternalActionRecord>();
    if (request.count == 0)
    {
        return Message::From("applied_allocation", std::vector<AppliedAllocationRecord>{});
    }
    const ExternalActionRecord& first = records[0];
    if (first.everyNSlots == 0)
    {
        Refuse("external_action", "every_n_slots must be >= 1");
    }
    if (static_cast<double>(first.nSlots) * first.nRbgs > 1e8)
    {
        Refuse("external_action", "n_slots * n_rbgs must be at most 1e8");
    }
    std::map<uint32_t, std::vector<std::pair<uint32_t, int32_t>>> bySlot;
    for (size_t i = 0; i < request.count; ++i)
    {
        const auto& r = records[i];
        if (r.nUes != first.nUes || r.nRbgs != first.nRbgs || r.nSlots != first.nSlots ||
            r.everyNSlots != first.everyNSlots)
        {
            Refuse("external_action", "every entry must give the same n_ues, n_rbgs, n_slots and every_n_slots");
        }
        if (r.slot >= first.nSlots)
        {
            Refuse("external_action", "slot " + std::to_string(r.slot) + " is past the last slot (" +
                                          std::to_string(first.nSlots) + " slots)");
        }
        if (r.slot % first.everyNSlots != 0)
        {
            Refuse("external_action", "slot " + std::to_string(r.slot) +
                                          " is not a decision slot: the agent decides every " +
                                          std::to_string(first.everyNSlots) + " slots");
        }
        bySlot[r.slot].emplace_back(r.rbg, r.ue);
    }
    std::map<uint32_t, Allocation> agent;
    for (const auto& [slot, entries] : bySlot)
    {
        try
        {
            agent[slot] = AllocationFromEntries(entries, first.nUes, first.nRbgs);
        }
        catch (const InvalidAllocation& e)
        {
            Refuse("external_action", "invalid allocation for slot " + std::to_string(slot) + ": " + e.what());
        }
    }

    ExternalScheduler scheduler(first.everyNSlots);
    SchedulerInput input;
    input.nUes = first.nUes;
    input.nRbgs = first.nRbgs;
    input.slotS = 1e-3;
    input.achievableBits.assign(static_cast<size_t>(first.nUes) * first.nRbgs, 0.0);
    input.bufferBytes.assign(first.nUes, std::numeric_limits<double>::infinity());
    input.averageThroughputBps.assign(first.nUes, 0.0);
    std::vector<AppliedAllocationRecord> reply;
    reply.reserve(static_cast<size_t>(first.nSlots) * first.nRbgs);
    for (uint32_t slot = 0; slot < first.nSlots; ++slot)
    {
        uint32_t decision = 0;
        if (scheduler.DecisionDue())
        {
            auto it = agent.find(slot);
            if (it != agent.end())
            {
                scheduler.SetAllocation(it->second, first.nUes, first.nRbgs);
                decision = 1;
            }
        }
        Allocation applied = scheduler.Allocate(input);
        for (uint32_t b = 0; b < first.nRbgs; ++b)
        {
            reply.push_back(AppliedAllocationRecord{slot, b, applied[b], decision});
        }
    }
    return Message::From("applied_allocation", reply);
}

// ---------------------------------------------------------------------------------------------------
// metric_sample

Message
AnswerMetrics(const Message& request)
{
    const auto* records = request.Records<MetricSampleRecord>();
    std::vector<uint32_t> order;
    std::map<uint32_t, std::vector<double>> values;
    std::map<uint32_t, const MetricSampleRecord*> firsts;
    for (size_t i = 0; i < request.count; ++i)
    {
        const auto& r = records[i];
        auto [it, inserted] = firsts.emplace(r.group, &r);
        if (inserted)
        {
            order.push_back(r.group);
        }
        else if (!(it->second->deadlineS == r.deadlineS) ||
                 std::strncmp(it->second->reward, r.reward, kRewardChars) != 0)
        {
            Refuse("metric_sample", "group " + std::to_string(r.group) +
                                        " gives more than one reward or deadline_s");
        }
        values[r.group].push_back(r.value);
    }
    std::vector<MetricsRecord> reply;
    for (uint32_t group : order)
    {
        const auto& v = values[group];
        const MetricSampleRecord& first = *firsts[group];
        const std::string name = ReadFixedString(first.reward);
        try
        {
            const RewardKind kind = ParseRewardKind(name);
            double reward = kind == RewardKind::kDeadlineViolations
                                ? ComputeReward(kind, {}, v, first.deadlineS)
                                : ComputeReward(kind, v);
            double metric = kind == RewardKind::kDeadlineViolations ? -reward : reward;
            reply.push_back(MetricsRecord{group, static_cast<uint32_t>(v.size()), metric, reward});
        }
        catch (const std::invalid_argument& e)
        {
            Refuse("metric_sample (group " + std::to_string(group) + ")", e.what());
        }
    }
    return Message::From("metrics", reply);
}

} // namespace

void
AddSchedulerQueries(QueryTable& table)
{
    table.push_back(Query{
        RecordType{"schedule_case",
                   sizeof(ScheduleCaseRecord),
                   {NS6G_FIELD(ScheduleCaseRecord, policy, "policy"),
                    NS6G_FIELD(ScheduleCaseRecord, caseId, "case"),
                    NS6G_FIELD(ScheduleCaseRecord, ue, "ue"),
                    NS6G_FIELD(ScheduleCaseRecord, nRbgs, "n_rbgs"),
                    NS6G_FIELD(ScheduleCaseRecord, nSlots, "n_slots"),
                    NS6G_FIELD(ScheduleCaseRecord, seed, "seed"),
                    NS6G_FIELD(ScheduleCaseRecord, meanBitsPerRbg, "mean_bits_per_rbg"),
                    NS6G_FIELD(ScheduleCaseRecord, bufferBytes, "buffer_bytes"),
                    NS6G_FIELD(ScheduleCaseRecord, arrivalBytesPerSlot, "arrival_bytes_per_slot"),
                    NS6G_FIELD(ScheduleCaseRecord, slotS, "slot_s"),
                    NS6G_FIELD(ScheduleCaseRecord, timeConstantS, "time_constant_s")}},
        RecordType{"schedule_result",
                   sizeof(ScheduleResultRecord),
                   {NS6G_FIELD(ScheduleResultRecord, caseId, "case"),
                    NS6G_FIELD(ScheduleResultRecord, ue, "ue"),
                    NS6G_FIELD(ScheduleResultRecord, rbgsAllocated, "rbgs_allocated"),
                    NS6G_FIELD(ScheduleResultRecord, slotsServed, "slots_served"),
                    NS6G_FIELD(ScheduleResultRecord, bitsDelivered, "bits_delivered"),
                    NS6G_FIELD(ScheduleResultRecord, meanThroughputBps, "mean_throughput_bps"),
                    NS6G_FIELD(ScheduleResultRecord, averageThroughputBps, "average_throughput_bps"),
                    NS6G_FIELD(ScheduleResultRecord, bufferBytes, "buffer_bytes"),
                    NS6G_FIELD(ScheduleResultRecord, meanAchievableBitsPerRbg, "mean_achievable_bits_per_rbg")}},
        AnswerSchedule});

    // One layout, two names: a record type is declared once in the scenario's list of types.
    auto allocationEntry = [](const std::string& name) {
        return RecordType{name,
                          sizeof(AllocationEntryRecord),
                          {NS6G_FIELD(AllocationEntryRecord, rbg, "rbg"),
                           NS6G_FIELD(AllocationEntryRecord, ue, "ue"),
                           NS6G_FIELD(AllocationEntryRecord, action, "action")}};
    };
    table.push_back(Query{RecordType{"allocation_check",
                                     sizeof(AllocationCheckRecord),
                                     {NS6G_FIELD(AllocationCheckRecord, rbg, "rbg"),
                                      NS6G_FIELD(AllocationCheckRecord, ue, "ue"),
                                      NS6G_FIELD(AllocationCheckRecord, nUes, "n_ues"),
                                      NS6G_FIELD(AllocationCheckRecord, nRbgs, "n_rbgs")}},
                          allocationEntry("allocation_entry"),
                          AnswerAllocationCheck});
    table.push_back(Query{RecordType{"action_entry",
                                     sizeof(ActionEntryRecord),
                                     {NS6G_FIELD(ActionEntryRecord, action, "action"),
                                      NS6G_FIELD(ActionEntryRecord, nUes, "n_ues"),
                                      NS6G_FIELD(ActionEntryRecord, nRbgs, "n_rbgs")}},
                          allocationEntry("decoded_action"),
                          AnswerActionEntry});

    table.push_back(Query{
        RecordType{"external_action",
                   sizeof(ExternalActionRecord),
                   {NS6G_FIELD(ExternalActionRecord, slot, "slot"),
                    NS6G_FIELD(ExternalActionRecord, rbg, "rbg"),
                    NS6G_FIELD(ExternalActionRecord, ue, "ue"),
                    NS6G_FIELD(ExternalActionRecord, nUes, "n_ues"),
                    NS6G_FIELD(ExternalActionRecord, nRbgs, "n_rbgs"),
                    NS6G_FIELD(ExternalActionRecord, nSlots, "n_slots"),
                    NS6G_FIELD(ExternalActionRecord, everyNSlots, "every_n_slots")}},
        RecordType{"applied_allocation",
                   sizeof(AppliedAllocationRecord),
                   {NS6G_FIELD(AppliedAllocationRecord, slot, "slot"),
                    NS6G_FIELD(AppliedAllocationRecord, rbg, "rbg"),
                    NS6G_FIELD(AppliedAllocationRecord, ue, "ue"),
                    NS6G_FIELD(AppliedAllocationRecord, decision, "decision")}},
        AnswerExternalAction});

    table.push_back(Query{RecordType{"metric_sample",
                                     sizeof(MetricSampleRecord),
                                     {NS6G_FIELD(MetricSampleRecord, reward, "reward"),
                                      NS6G_FIELD(MetricSampleRecord, group, "group"),
                                      NS6G_FIELD(MetricSampleRecord, value, "value"),
                                      NS6G_FIELD(MetricSampleRecord, deadlineS, "deadline_s")}},
                          RecordType{"metrics",
                                     sizeof(MetricsRecord),
                                     {NS6G_FIELD(MetricsRecord, group, "group"),
                                      NS6G_FIELD(MetricsRecord, count, "count"),
                                      NS6G_FIELD(MetricsRecord, metric, "metric"),
                                      NS6G_FIELD(MetricsRecord, reward, "reward")}},
                          AnswerMetrics});
}

} // namespace ns6g::ran

// The 6G RAN's per-slot MAC scheduler: which UE gets each resource-block group (RBG) of a slot.
//
// Pure model code: no ns-3 objects, no bridge. A caller (a RAN scenario, or the ran-query scenario's
// "schedule" queries) builds a SchedulerInput once per slot, asks a Scheduler for an Allocation, delivers
// the data and updates the throughput averages (UpdateAverages). Policies: round robin ("rr"),
// proportional fair ("pf"), max rate ("mr") and "external", the allocation an RL agent sent through the
// bridge. Also here: the checks an agent's allocation must pass, the agent's action encoding, and the
// metrics a reward is chosen from. See docs/ran-scheduler.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ns6g::ran
{

/**
 * What a scheduler sees of one slot.
 *
 * Units: bits, bytes, bits per second and seconds as named. Every per-UE vector holds nUes values;
 * achievableBits holds nUes * nRbgs values, row-major by UE.
 */
struct SchedulerInput
{
    /** Number of UEs; UE indices are 0 .. nUes - 1. */
    uint32_t nUes{0};
    /** Number of RBGs in the slot; RBG indices are 0 .. nRbgs - 1. */
    uint32_t nRbgs{0};
    /**
     * Bits that RBG b would carry for UE u in this slot (after link adaptation) at [u * nRbgs + b];
     * >= 0. Zero means the UE cannot use that RBG.
     */
    std::vector<double> achievableBits;
    /** Bytes waiting in each UE's buffer at the start of the slot; >= 0, +infinity for a full buffer. */
    std::vector<double> bufferBytes;
    /** Each UE's average delivered throughput in bit/s (the EWMA kept by UpdateAverages); >= 0. */
    std::vector<double> averageThroughputBps;
    /** Slot duration in seconds; > 0. */
    double slotS{0.0};

    /** Bits RBG `rbg` would carry for UE `ue` (no bounds check beyond the vector's). */
    double AchievableBits(uint32_t ue, uint32_t rbg) const
    {
        return achievableBits[static_cast<size_t>(ue) * nRbgs + rbg];
    }

    /** Throws std::invalid_argument, naming the field, if sizes or values are inconsistent. */
    void Validate() const;
};

/** Per RBG: the index of the UE it is given to, or kUnusedRbg. */
using Allocation = std::vector<int32_t>;

/** The Allocation entry of an RBG given to nobody. */
constexpr int32_t kUnusedRbg = -1;

/** An allocation that names no existing UE, or does not cover the slot's RBGs exactly once. */
class InvalidAllocation : public std::invalid_argument
{
  public:
    using std::invalid_argument::invalid_argument;
};

/**
 * Checks an allocation for nUes UEs and nRbgs RBGs: exactly nRbgs entries, each kUnusedRbg or a UE index
 * in 0 .. nUes - 1. Throws InvalidAllocation with a message naming the RBG and the offending UE index.
 */
void ValidateAllocation(const Allocation& allocation, uint32_t nUes, uint32_t nRbgs);

/**
 * Builds an allocation from (RBG, UE) entries, as an agent or a message lists them: every RBG in
 * 0 .. nRbgs - 1 must be named exactly once (kUnusedRbg for an unused one). Throws InvalidAllocation for an
 * RBG named twice (e.g. a UE named twice on one RBG), an RBG out of range, an RBG left out, or a UE that
 * does not exist.
 */
Allocation AllocationFromEntries(const std::vector<std::pair<uint32_t, int32_t>>& entries, uint32_t nUes,
                                 uint32_t nRbgs);

/**
 * Bits each UE receives in the slot under `allocation`: the sum of its RBGs' achievable bits, capped by
 * its buffer (bufferBytes * 8). Validates the allocation. Result: nUes values, in bits.
 */
std::vector<double> DeliveredBits(const SchedulerInput& input, const Allocation& allocation);

/**
 * The standard exponentially weighted moving average of delivered throughput, one slot on:
 *   avg_u <- (1 - a) * avg_u + a * deliveredBits_u / slotS,   a = min(1, slotS / timeConstantS).
 * `deliveredBits` (bits, one per UE) may be empty: DeliveredBits(input, allocation) is used then.
 * Returns the new averages in bit/s (nUes values); timeConstantS must be > 0 (seconds).
 */
std::vector<double> UpdateAverages(const SchedulerInput& input, const Allocation& allocation,
                                   const std::vector<double>& deliveredBits, double timeConstantS);

/** A scheduling policy: called once per slot, in slot order. */
class Scheduler
{
  public:
    virtual ~Scheduler() = default;

    /** The allocation of this slot: input.nRbgs entries, each a UE index or kUnusedRbg. */
    virtual Allocation Allocate(const SchedulerInput& input) = 0;

    /** The policy's name as MakeScheduler takes it ("rr", "pf", "mr", "external"). */
    virtual std::string Name() const = 0;

    /** Forgets state carried across slots (a new episode). */
    virtual void Reset()
    {
    }
};

/**
 * Round robin: channel-blind. RBGs are handed out in index order to UEs in cyclic order, from a pointer
 * that carries over to the next slot, so every backlogged UE gets the same number of RBGs over time
 * (within one RBG). Skips UEs whose buffer is empty or already covered by the RBGs given this slot.
 */
class RoundRobinScheduler : public Scheduler
{
  public:
    Allocation Allocate(const SchedulerInput& input) override;
    std::string Name() const override;
    void Reset() override;

  private:
    uint32_t m_next{0}; //!< the UE whose turn is next
};

/**
 * Proportional fair: each RBG goes to the UE with the largest achievableBits / averageThroughputBps
 * (averages below kMinAverageBps count as kMinAverageBps), among UEs with data left and a non-zero rate on
 * that RBG. Averages are the caller's (UpdateAverages after every slot); they do not change within a
 * slot. Ties go to the lower UE index.
 */
class ProportionalFairScheduler : public Scheduler
{
  public:
    /** Floor of the average throughput in the PF metric, bit/s: keeps a new UE's metric finite. */
    static constexpr double kMinAverageBps = 1.0;

    Allocation Allocate(const SchedulerInput& input) override;
    std::string Name() const override;
};

/**
 * Max rate: each RBG goes to the UE with the most achievable bits on it, among UEs with data left and a
 * non-zero rate. Ties go to the lower UE index.
 */
class MaxRateScheduler : public Scheduler
{
  public:
    Allocation Allocate(const SchedulerInput& input) override;
    std::string Name() const override;
};

/**
 * External: applies the allocation the RL agent sent through the bridge. The agent decides every
 * `everyNSlots` slots: DecisionDue() is true before slots 0, N, 2N, ... (counted in Allocate calls since
 * the last Reset), and the environment then asks the agent and calls SetAllocation. The held allocation
 * is applied, unchanged, in every slot until replaced; before the first one every RBG is unused. It is
 * not buffer-aware: RBGs given to a UE with no data carry nothing (DeliveredBits caps by the buffer).
 */
class ExternalScheduler : public Scheduler
{
  public:
    /** everyNSlots >= 1: the agent decides every N slots. */
    explicit ExternalScheduler(uint32_t everyNSlots = 1);

    /** Validates (ValidateAllocation) and holds `allocation`; it applies from the next Allocate call. */
    void SetAllocation(const Allocation& allocation, uint32_t nUes, uint32_t nRbgs);

    /** Whether an allocation is held. */
    bool HasAllocation() const;

    /** The held allocation (empty if none). */
    const Allocation& GetAllocation() const;

    /** True when the next Allocate call starts a decision period: the agent should act before it. */
    bool DecisionDue() const;

    /** Allocate calls since construction or the last Reset. */
    uint64_t GetSlot() const;

    uint32_t GetEveryNSlots() const;

    /** Sets the decision period (>= 1); takes effect from the next slot. */
    void SetEveryNSlots(uint32_t everyNSlots);

    /**
     * The held allocation (all unused if none), after checking it against this slot's UEs and RBGs
     * (InvalidAllocation if the slot has fewer UEs or a different RBG count). Counts the slot.
     */
    Allocation Allocate(const SchedulerInput& input) override;
    std::string Name() const override;

    /** Drops the held allocation and restarts the slot count. */
    void Reset() override;

  private:
    uint32_t m_everyN;
    uint64_t m_slot{0};
    Allocation m_allocation;
};

/** Valid scheduler names for MakeScheduler, in documentation order. */
std::vector<std::string> SchedulerNames();

/**
 * A new scheduler by name: "rr", "pf", "mr" or "external" (deciding every slot; see
 * ExternalScheduler::SetEveryNSlots). Throws std::invalid_argument listing the valid names.
 */
std::unique_ptr<Scheduler> MakeScheduler(const std::string& name);

// ---------------------------------------------------------------------------------------------------
// Agent action encoding: gymnasium MultiDiscrete with one entry per RBG, each in 0 .. nUes, where
// value u < nUes gives the RBG to UE u and value nUes leaves it unused.

/** The MultiDiscrete nvec of the action: nRbgs entries, each nUes + 1. */
std::vector<int64_t> ActionNvec(uint32_t nUes, uint32_t nRbgs);

/**
 * The allocation an action encodes. Throws InvalidAllocation if the action does not have nRbgs entries or
 * an entry lies outside 0 .. nUes (naming the RBG and the value).
 */
Allocation DecodeAction(const int64_t* action, size_t count, uint32_t nUes, uint32_t nRbgs);
Allocation DecodeAction(const std::vector<int64_t>& action, uint32_t nUes, uint32_t nRbgs);

/** The action encoding `allocation` (validated first): kUnusedRbg becomes nUes. */
std::vector<int64_t> EncodeAction(const Allocation& allocation, uint32_t nUes, uint32_t nRbgs);

// ---------------------------------------------------------------------------------------------------
// Metrics a reward is chosen from. Inputs must be finite and >= 0 where stated (std::invalid_argument).

/**
 * Jain's fairness index (sum x)^2 / (n * sum x^2) of values >= 0 (e.g. per-UE throughputs): 1 when all
 * are equal and non-zero, 1/n when one of n is non-zero. All zero gives 0: nothing shared is not fair
 * (as a reward, 1 would make idling the best). Empty: std::invalid_argument.
 */
double JainIndex(const std::vector<double>& values);

/** Sum of per-UE throughputs (bit/s in, bit/s out); 0 for none. Values must be finite and >= 0. */
double SumRate(const std::vector<double>& throughputsBps);

/** Epsilon of ProportionalFairUtility, bit/s: a starved UE adds log(1) = 0 instead of -infinity. */
constexpr double kPfUtilityEpsilonBps = 1.0;

/**
 * Proportional-fair utility sum_u ln(throughput_u + epsilonBps), throughputs in bit/s (finite, >= 0).
 * 0 for none.
 */
double ProportionalFairUtility(const std::vector<double>& throughputsBps,
                               double epsilonBps = kPfUtilityEpsilonBps);

/**
 * Fraction of latencies (seconds) above deadlineS (seconds, >= 0); a NaN or infinite latency (never
 * delivered) counts as a violation. 0 for none.
 */
double DeadlineViolationFraction(const std::vector<double>& latenciesS, double deadlineS);

/**
 * Every packet of a set of flows, from its send to its deadline (send time + deadlineS), so that a
 * packet counts once, when its deadline passes, whatever became of it: delivered in time, delivered
 * late, still queued, or dropped. What a scenario reports for an interval is Due(): one latency per
 * packet whose deadline passed since the last call, +infinity for one not delivered by then. The
 * packets due depend on when the sources sent, not on the scheduler, so a scheduler cannot shrink the
 * denominator of DeadlineViolationFraction(Due(), deadlineS) by serving less.
 *
 * Packets of a flow are numbered by their sources in send order (SeqTsSizeHeader's sequence number).
 */
class DeadlineLedger
{
  public:
    /** `flows` flows (0 .. flows - 1); deadlineS finite and >= 0 (std::invalid_argument otherwise). */
    DeadlineLedger(uint32_t flows, double deadlineS);

    /** Packet `seq` of `flow` left its source at sentS (s). Sequence numbers of a flow must increase. */
    void Sent(uint32_t flow, uint32_t seq, double sentS);
    /** Packet `seq` of `flow` arrived at nowS (s). Unknown or already due: ignored (it counted as late). */
    void Received(uint32_t flow, uint32_t seq, double nowS);
    /**
     * Latencies (s) of the packets whose deadline is before nowS (s) and that no earlier call returned,
     * flow by flow in send order: arrival - send for a packet delivered by nowS, +infinity otherwise.
     */
    std::vector<double> Due(double nowS);
    /** Packets sent and not yet returned by Due(). */
    size_t Outstanding() const;

  private:
    struct Packet
    {
        uint32_t seq;
        double sentS;
        double latencyS; //!< +infinity until it arrives
    };

    double m_deadlineS;
    std::vector<std::vector<Packet>> m_flows; //!< per flow, in send order; m_head[f] is the first not due
    std::vector<size_t> m_head;
};

/** The rewards an environment may select. */
enum class RewardKind
{
    kSumRate,            //!< "sum_rate": SumRate of the throughputs, bit/s
    kPfUtility,          //!< "pf_utility": ProportionalFairUtility of the throughputs
    kDeadlineViolations, //!< "deadline_violations": -DeadlineViolationFraction (higher is better)
    kJainFairness,       //!< "jain": JainIndex of the throughputs (0 when all are 0)
};

/** Reward names ParseRewardKind takes, in RewardKind order. */
std::vector<std::string> RewardNames();

/** The RewardKind of a name; std::invalid_argument listing the valid names otherwise. */
RewardKind ParseRewardKind(const std::string& name);

/** The name of a RewardKind. */
std::string RewardName(RewardKind kind);

/**
 * The selected reward: throughputs in bit/s (per UE), latencies in seconds (used only by
 * kDeadlineViolations: one per packet or request due in the interval, +infinity or NaN for one not
 * delivered, as DeadlineLedger::Due gives them), deadlineS in seconds.
 */
double ComputeReward(RewardKind kind, const std::vector<double>& throughputsBps,
                     const std::vector<double>& latenciesS = {}, double deadlineS = 0.0);

} // namespace ns6g::ran

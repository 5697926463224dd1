// MecTaskEngine: the life cycle of MEC tasks, shared by the MEC environments (SplitInference,
// MecOffload). A task arrives at a device, waits for the agent's decision, runs a part on the device,
// uploads its input to a compute site as real UDP datagrams (task-transfer.h), waits and runs there,
// and sends its result back to the device as datagrams; or it fails (timeout, or at once when the
// decision is infeasible). A task at a site may migrate to another site: its state (bytes) then travels
// between the two sites' nodes as datagrams, and it resumes where it stopped. See docs/mec-compute.md.
//
// A compute site is any node that has the internet stack and is reachable over IP from the devices: an
// edge server behind a gNB, a cloud behind a WAN link, or a neighbour device on a sidelink; the engine
// only needs the node, the address the devices send to, and the catalogue device that gives its Processor.
// What is the scenario's own stays there: spaces, observation, the decision (a TaskPlan), the topology
// and routes, and what a handover does.
//
// Bookkeeping per step (between two decisions): reward, summed over the tasks that completed or failed
// in the step, of -(latency_s + energyWeight * energy_j) - deadlinePenalty * [late] - failurePenalty *
// [failed]. A completed task is late when its latency (arrival -> result at the device) exceeds the
// deadline. A failed task (timed out, or refused at once as infeasible) counts as late and with the
// latency taskTimeoutS (the time it was given), so failing a task never costs less than completing it
// at the timeout with the same energy: refusing tasks does not pay. Every decided task is counted: after
// the episode's last decision the engine settles (Settling): no new task arrives and the simulation runs
// until every decided task has completed or failed, so that the last step's reward holds their costs.
// An episode that ends early (a battery empty) is charged UnservedCost(): every task decided and not
// finished, and every decision the episode did not reach, at a failed task's cost without energy (so
// draining a battery to end the episode does not pay). Device energy: device FLOPs * energy_per_flop_j
// + tx power (W) * (first uplink send -> last uplink byte at the site); each device's battery loses it
// as it is spent.
#pragma once

#include "mec/model/device-catalogue.h"
#include "mec/model/processor.h"

#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/network-module.h"

#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ns6g::mec
{

/** Where a task is in its life cycle. */
enum class TaskStage
{
    kPending,   //!< arrived, waiting for the decision
    kDevice,    //!< queued or computing on its device
    kUpload,    //!< input on its way to the site
    kQueued,    //!< waiting at the site
    kInService, //!< computing at the site
    kMigrating, //!< state on its way to another site
    kResult,    //!< result on its way to the device
};

/** What a decision makes of a task (units in the names). */
struct TaskPlan
{
    double deviceFlops{0.0}; //!< work run on the device first, FLOPs (>= 0; 0 skips the device)
    int32_t site{-1};        //!< site of the rest (AddSite's index); -1: the task ends on the device
    uint64_t inputBytes{0};  //!< payload uploaded to the site, bytes
    double siteFlops{0.0};   //!< work at the site, FLOPs (>= 0)
    uint64_t resultBytes{0}; //!< payload of the result sent back to the device, bytes
};

/** First send and last receipt of a transfer's datagrams on watched links (see WatchLink). */
struct LinkCrossing
{
    ns3::Time first{ns3::Time::Max()}; //!< first datagram handed to a watched link
    ns3::Time last;                     //!< last datagram received from a watched link
    uint64_t bytes{0};                  //!< payload bytes received from watched links

    bool Crossed() const
    {
        return bytes > 0;
    }
};

/** One task. Times are ns-3 times; Time() (0) where a stage has not happened. */
struct MecTask
{
    uint64_t id{0};
    uint32_t device{0};
    std::vector<int64_t> action; //!< the decision as the agent gave it (the scenario's meaning)
    TaskPlan plan;
    TaskStage stage{TaskStage::kPending};
    int32_t site{-1};           //!< the site holding it now (changes on migration)
    double remainingFlops{0.0}; //!< site work left, FLOPs
    ns3::Time arrival;
    ns3::Time deviceDone;  //!< device part done (arrival + queueing + compute)
    ns3::Time upStart;     //!< first uplink datagram sent
    ns3::Time upDone;      //!< last uplink byte at the site
    ns3::Time siteStart;   //!< start of the current service at a site
    ns3::Time siteDone;    //!< site compute done
    ns3::Time resultDone;  //!< last result byte at the device
    double energyJ{0.0};   //!< device energy spent on it, J
    uint64_t upReceived{0};
    uint64_t resultReceived{0};
    uint64_t stateReceived{0};
    ns3::Time migrationStart; //!< first datagram of the current migration sent
    uint32_t migrations{0};
    LinkCrossing upCrossing;     //!< its input on watched links
    LinkCrossing resultCrossing; //!< its result on watched links
    ns3::EventId timeout;
};

/** What the info says of the last completed task: its latency parts (ms), device energy (J), decision. */
struct CompletedTask
{
    double latencyMs{std::nan("")};  //!< arrival -> completion
    double deviceMs{std::nan("")};   //!< arrival -> device part done (queueing included)
    double uplinkMs{std::nan("")};   //!< first uplink send -> last byte at the site (0: ran on the device)
    double siteMs{std::nan("")};     //!< last uplink byte -> site compute done: migration, queueing, compute (0: local)
    double downlinkMs{std::nan("")}; //!< site compute done -> last result byte at the device (0: local)
    double energyJ{std::nan("")};    //!< device energy, J
    bool offloaded{false};           //!< its plan had a site
    std::vector<int64_t> action;     //!< the decision as the agent gave it (empty before any completion)
};

/** The engine's settings (units in the names). */
struct MecTaskSettings
{
    double taskRateHz{2.0};      //!< Poisson arrival rate per device (1/s, > 0)
    uint32_t arrivalStream{500}; //!< RNG stream of device u's arrivals: arrivalStream + u
    double taskTimeoutS{2.0};    //!< a task not complete this long after its arrival fails (s, > 0)
    double batteryJ{1000.0};     //!< battery of each device (J, > 0)
    double deadlineMs{100.0};    //!< deadline of a task (ms)
    double energyWeight{1.0};    //!< reward weight of device energy (s/J)
    double deadlinePenalty{1.0}; //!< reward penalty per task over the deadline
    double failurePenalty{5.0};  //!< reward penalty per failed task
    uint16_t devicePort{9000};   //!< UDP port of the devices' task sockets (results arrive here)
    uint16_t sitePort{9001};     //!< UDP port of the sites' task sockets (inputs and migrated state)
    uint32_t episodeSteps{0};    //!< decisions per episode: after the last one the engine settles (0: never)
};

/** What happened during one step (between two decisions). */
struct MecStepTotals
{
    double reward{0.0};
    std::vector<double> latenciesS; //!< of tasks completed in the step, s
    double energyJ{0.0};            //!< device energy of tasks finished in the step, J
    uint32_t failed{0};
    uint32_t deadlineViolations{0}; //!< tasks of the step that were late or failed
    uint32_t timeouts{0};
    uint32_t migrations{0};      //!< migrations whose state arrived in the step
    double migrationMs{0.0};     //!< their transfer times (first state datagram sent -> last byte in), ms
    double relayMs{0.0};         //!< watched-link crossing times of transfers completed in the step, ms
    uint64_t relayBytes{0};      //!< task input and result payload received from watched links, bytes
    uint64_t resultRelayBytes{0}; //!< of which result payload, bytes

    /** Mean latency of the completed tasks (ms); NaN if none. */
    double MeanLatencyMs() const;
};

class MecTaskEngine
{
  public:
    /** Throws std::invalid_argument naming the setting if one is out of range. */
    explicit MecTaskEngine(const MecTaskSettings& settings);

    MecTaskEngine(const MecTaskEngine&) = delete;
    MecTaskEngine& operator=(const MecTaskEngine&) = delete;

    /**
     * The devices: node u of `ues` is device u, reached at addresses[u]; each gets a Processor of
     * `device` and a task socket. Throws std::invalid_argument if `device` has no radio (tx power).
     */
    void AddDevices(const ns3::NodeContainer& ues, const std::vector<ns3::Ipv4Address>& addresses, const Device& device);

    /**
     * A compute site: `node` (internet stack installed) reached at `address`, computing with a Processor
     * of `device` (one FIFO core at its peak FLOP/s). Returns its index (0, 1, ...). A device's node may
     * be a site too (a neighbour over a sidelink; sites listen on their own port), with a Processor of its
     * own. Throws std::invalid_argument if `node` already hosts a site (one site socket per node).
     */
    uint32_t AddSite(ns3::Ptr<ns3::Node> node, ns3::Ipv4Address address, const Device& device);

    /**
     * Watches a point-to-point link: task inputs and results crossing it are timed and counted
     * (MecTask::upCrossing / resultCrossing, MecStepTotals::relayMs / relayBytes).
     */
    void WatchLink(const ns3::NetDeviceContainer& pointToPointPair);

    /** Called whenever an upload starts, completes or is abandoned (to re-plan the uplink). */
    void SetUploadHook(std::function<void()> hook);

    /**
     * Called when a decided task finishes, completed or failed (timeout or refused), with its latency
     * (arrival -> now, s), before the engine forgets it.
     */
    void SetFinishHook(std::function<void(const MecTask& task, bool failed, double latencyS)> hook);

    /** Schedules every device's first arrival; call once after AddDevices. */
    void Start();

    // ---- decisions ---------------------------------------------------------------------------------

    bool HasPending() const;
    /** The device of the task waiting for a decision (0 if none). */
    uint32_t DecidingDevice() const;
    /**
     * Starts a step: clears the step totals, counts the step and returns the task waiting for the
     * decision. Throws std::logic_error if no task is waiting.
     */
    uint64_t BeginStep();
    /** Runs task `id` as planned, from now (the decision takes no simulated time). */
    void Run(uint64_t id, std::vector<int64_t> action, const TaskPlan& plan);
    /** Fails task `id` now (an infeasible decision): latency and energy 0, the failure penalty. */
    void FailNow(uint64_t id, std::vector<int64_t> action);
    /**
     * Moves task `id` (queued or in service at a site) to site `to`: it leaves its site now (a task in
     * service keeps the FLOPs done so far), `stateBytes` travel from the old site's node to `to`, and
     * it queues there when the last byte arrives. Returns false (and does nothing) if the task is not
     * queued or in service, or already at `to`.
     */
    bool Migrate(uint64_t id, uint32_t to, uint64_t stateBytes);

    // ---- state ---------------------------------------------------------------------------------------

    const std::map<uint64_t, MecTask>& Tasks() const;
    /** Tasks queued or in service at `site`. */
    uint32_t SiteTasksInSystem(uint32_t site) const;
    /** Tasks bound for or at `site` and not computed yet: uploading, migrating to it, queued, in service. */
    uint32_t SiteAssigned(uint32_t site) const;
    /** Tasks queued or computing on device u's processor. */
    uint32_t DeviceTasksInSystem(uint32_t u) const;
    ns3::Ptr<ns3::Node> SiteNode(uint32_t site) const;
    uint32_t SiteCount() const;
    double BatteryFraction(uint32_t u) const;
    bool AnyBatteryEmpty() const;
    /** Decisions taken since the episode started. */
    uint32_t Steps() const;
    const MecStepTotals& StepTotals() const;
    /** The last task that completed in the episode (NaN parts before the first). */
    const CompletedTask& LastCompleted() const;
    /** Tasks decided and neither completed nor failed yet. */
    uint32_t OpenTasks() const;
    /** Cost (reward units) of one failed task that spent no energy: taskTimeoutS + both penalties. */
    double FailedTaskCost() const;
    /**
     * Tasks the episode leaves unserved if it ends now: 0 while no battery is empty; else the open tasks
     * plus the decisions still to come (episodeSteps - Steps()).
     */
    uint32_t UnservedTasks() const;
    /** UnservedTasks() * FailedTaskCost(): what an episode ending now owes (reward units, >= 0). */
    double UnservedCost() const;

  private:
    struct Site
    {
        ns3::Ptr<ns3::Node> node;
        ns3::Ipv4Address address;
        Device device;
        ns3::Ptr<Processor> processor;
        ns3::Ptr<ns3::Socket> socket;
        std::deque<uint64_t> queue;
        int64_t inService{-1};
        uint64_t generation{0}; //!< bumped when a migration replaces the processor
    };

    ns3::Ptr<ns3::Socket> BoundSocket(ns3::Ptr<ns3::Node> node, uint16_t port);
    MecTask* Active(uint64_t id);
    void Spend(MecTask& task, double joules);
    void OnArrival(uint32_t u);
    void StartTask(uint64_t id);
    void OnDeviceDone(uint64_t id);
    void OnSiteReceive(uint32_t site, ns3::Ptr<ns3::Socket> socket);
    void OnDeviceReceive(ns3::Ptr<ns3::Socket> socket);
    void Enqueue(MecTask& task, uint32_t site);
    void TryStart(uint32_t site);
    void OnSiteDone(uint32_t site, uint64_t generation, uint64_t id);
    void OnTimeout(uint64_t id);
    void OnLinkTx(ns3::Ptr<const ns3::Packet> packet);
    void OnLinkRx(ns3::Ptr<const ns3::Packet> packet);
    /** Books a crossing of a completed transfer into the step's relay time. */
    void BookCrossing(const LinkCrossing& crossing);
    void Finish(MecTask& task, bool failed);
    /** After the episode's last decision: stop arrivals, run until the open tasks are done. */
    void Settle();
    void NotifyUpload();

    MecTaskSettings m_settings;
    Device m_device;
    double m_txPowerW{0.0};
    std::vector<ns3::Ptr<ns3::Node>> m_ueNodes;
    std::vector<ns3::Ipv4Address> m_ueAddresses;
    std::vector<ns3::Ptr<Processor>> m_deviceProcs;
    std::vector<ns3::Ptr<ns3::Socket>> m_deviceSockets;
    std::vector<Site> m_sites;
    std::vector<ns3::Ptr<Processor>> m_retired; //!< replaced by migrations; their completions are ignored
    std::vector<ns3::Ptr<ns3::ExponentialRandomVariable>> m_arrivalRng;
    std::vector<double> m_battery;

    std::map<uint64_t, MecTask> m_tasks;
    std::deque<uint64_t> m_pending;
    uint64_t m_nextTaskId{0};
    uint32_t m_steps{0};
    bool m_settling{false}; //!< the episode's last decision is taken: no arrivals, stop when all are done
    MecStepTotals m_step;

    CompletedTask m_last;
    std::function<void()> m_uploadHook;
    std::function<void(const MecTask&, bool, double)> m_finishHook;
};

/** Sets the info keys every MEC environment reports from the engine's step totals. */
template <class InfoT>
void
SetStepInfo(InfoT& info, const MecTaskEngine& engine)
{
    const MecStepTotals& step = engine.StepTotals();
    info.Set("unserved", static_cast<double>(engine.UnservedTasks()));
    info.Set("latency_ms", step.MeanLatencyMs());
    info.Set("energy_j", step.energyJ);
    info.Set("completed", static_cast<double>(step.latenciesS.size()));
    info.Set("failed", static_cast<double>(step.failed));
    info.Set("deadline_violations", static_cast<double>(step.deadlineViolations));
    info.Set("timeouts", static_cast<double>(step.timeouts));
}

} // namespace ns6g::mec

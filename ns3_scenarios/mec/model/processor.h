// A compute processor for MEC, device and cloud nodes: capacity in FLOP/s per core, several cores, a
// queue discipline and an energy model, simulated exactly in ns-3 time (see docs/mec-compute.md).
//
// Disciplines:
//  * "fifo": Cores parallel servers fed by one first-come-first-served queue; a task runs alone on one
//    core at CapacityFlops until it finishes.
//  * "ps" (processor sharing): all k tasks in the system are in service at once and share
//    min(k, Cores) * CapacityFlops equally (each runs at min(k, Cores) / k * CapacityFlops); finish
//    events are recomputed on every arrival and departure.
//
// Energy (GetEnergyJ): busy energy + idle energy.
//  * Busy energy is charged per FLOP executed. The per-FLOP energy is EnergyPerFlopJ, unless KappaJ > 0:
//    then the dynamic-power (kappa * f^2 per cycle) model applies, with FLOPs = cycles * FlopsPerCycle:
//    energy per FLOP = KappaJ * FrequencyHz^2 / FlopsPerCycle. Setting both KappaJ and EnergyPerFlopJ
//    non-zero is refused at the next Submit (std::invalid_argument): pick one model. CapacityFlops is
//    the speed in both models (with the kappa model, the consistent choice is FrequencyHz * FlopsPerCycle).
//  * Idle energy is IdlePowerW times the time during which no task is in service, counted from the
//    processor's creation (its Simulator::Now() then).
// Energy parameters may change at any time (DVFS): work done before the change is charged at the old rate.
#pragma once

#include "ns3/callback.h"
#include "ns3/event-id.h"
#include "ns3/nstime.h"
#include "ns3/object.h"
#include "ns3/traced-callback.h"

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace ns6g::mec
{

class Processor : public ns3::Object
{
  public:
    /** Called when a task finishes: its id (Submit's return value) and the finish time. */
    using DoneCallback = ns3::Callback<void, uint64_t, ns3::Time>;

    static ns3::TypeId GetTypeId();

    Processor();
    ~Processor() override;

    /**
     * Submit a task of `flops` FLOPs now (Simulator::Now()); `done` is called (may be null) when it
     * finishes. Returns the task id (0, 1, 2, ... in submission order). Throws std::invalid_argument if
     * flops is negative or not finite, or if both energy models are set.
     */
    uint64_t Submit(double flops, DoneCallback done);

    /** Busy + idle energy consumed since creation, up to Simulator::Now(), in J. */
    double GetEnergyJ() const;
    /** Tasks waiting for a core (FIFO); always 0 under processor sharing (every task is in service). */
    uint32_t GetQueueLength() const;
    /** Cores in use: FIFO: tasks in service; PS: min(tasks, Cores). */
    uint32_t GetBusyCores() const;
    /** Tasks submitted and not yet finished (waiting or in service). */
    uint32_t GetTasksInSystem() const;
    /** Energy of one FLOP under the energy model in force, in J (throws if both models are set). */
    double GetEnergyPerFlopInForceJ() const;

    // Setters throw std::invalid_argument with a clear message on bad values; the attributes use them.
    void SetCapacityFlops(double flopsPerSecondPerCore); // finite, > 0; may change while busy
    double GetCapacityFlops() const;
    void SetCores(uint32_t cores); // >= 1; only while no task is in the system
    uint32_t GetCores() const;
    void SetDiscipline(std::string discipline); // "fifo" or "ps"; only while no task is in the system
    std::string GetDiscipline() const;
    void SetEnergyPerFlopJ(double joules); // finite, >= 0
    double GetEnergyPerFlopJ() const;
    void SetKappaJ(double kappa); // finite, >= 0 (J per cycle per Hz^2); > 0 selects the kappa model
    double GetKappaJ() const;
    void SetFrequencyHz(double hz); // finite, >= 0 (> 0 needed by the kappa model)
    double GetFrequencyHz() const;
    void SetFlopsPerCycle(double flopsPerCycle); // finite, > 0
    double GetFlopsPerCycle() const;
    void SetIdlePowerW(double watts); // finite, >= 0
    double GetIdlePowerW() const;

    /** Throws std::invalid_argument unless flops is finite and >= 0 (what Submit accepts). */
    static void CheckFlops(double flops);

  protected:
    void DoDispose() override;

  private:
    struct Task
    {
        uint64_t id;
        double flops;
        double remaining; //!< FLOPs left
        ns3::Time arrival;
        DoneCallback done;
    };

    /** Brings remaining work and energy up to Now(). */
    void Advance();
    /** Rate of one task in service, FLOP/s. */
    double TaskRate() const;
    /** Finishes tasks whose work is done, starts queued ones, schedules the next departure. */
    void Update();
    void OnDeparture();
    void StartQueued(std::vector<uint64_t>& started);
    void RequireEmpty(const std::string& what) const;

    double m_capacityFlops{1e9};
    uint32_t m_cores{1};
    bool m_ps{false};
    double m_energyPerFlopJ{0.0};
    double m_kappaJ{0.0};
    double m_frequencyHz{0.0};
    double m_flopsPerCycle{1.0};
    double m_idlePowerW{0.0};

    std::vector<Task> m_inService;
    std::deque<Task> m_waiting;
    uint64_t m_nextId{0};
    ns3::Time m_lastUpdate;
    double m_busyEnergyJ{0.0};
    double m_idleEnergyJ{0.0};
    ns3::EventId m_departure;

    ns3::TracedCallback<uint64_t, ns3::Time> m_taskStart;  //!< first service of a task
    ns3::TracedCallback<uint64_t, ns3::Time> m_taskFinish; //!< a task's completion
};

} // namespace ns6g::mec

#include "mec/model/processor.h"

#include "ns3/double.h"
#include "ns3/log.h"
#include "ns3/simulator.h"
#include "ns3/string.h"
#include "ns3/trace-source-accessor.h"
#include "ns3/uinteger.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace ns6g::mec
{

NS_LOG_COMPONENT_DEFINE("Ns6gProcessor");
NS_OBJECT_ENSURE_REGISTERED(Processor);

namespace
{

std::string
Show(double v)
{
    std::ostringstream os;
    os.precision(17);
    os << v;
    return os.str();
}

void
RequireFinite(const char* what, double v, bool strictlyPositive)
{
    const bool ok = std::isfinite(v) && (strictlyPositive ? v > 0.0 : v >= 0.0);
    if (!ok)
    {
        throw std::invalid_argument(std::string("Processor: ") + what + " must be finite and " +
                                    (strictlyPositive ? "> 0" : ">= 0") + ", got " + Show(v));
    }
}

} // namespace

ns3::TypeId
Processor::GetTypeId()
{
    using namespace ns3;
    // Checkers refuse what they can (negative values, and NaN: it fails every comparison); the setters
    // refuse the rest (infinity, zero capacity) with std::invalid_argument.
    static TypeId tid =
        TypeId("ns6g::mec::Processor")
            .SetParent<Object>()
            .SetGroupName("Ns6g")
            .AddConstructor<Processor>()
            .AddAttribute("CapacityFlops",
                          "Speed of one core, FLOP/s (finite, > 0).",
                          DoubleValue(1e9),
                          MakeDoubleAccessor(&Processor::SetCapacityFlops, &Processor::GetCapacityFlops),
                          MakeDoubleChecker<double>(std::numeric_limits<double>::min()))
            .AddAttribute("Cores",
                          "Number of cores (>= 1). FIFO: parallel servers; PS: at most this many tasks' "
                          "worth of capacity is shared.",
                          UintegerValue(1),
                          MakeUintegerAccessor(&Processor::SetCores, &Processor::GetCores),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("Discipline",
                          "Queue discipline: \"fifo\" (first come first served on Cores servers) or "
                          "\"ps\" (processor sharing).",
                          StringValue("fifo"),
                          MakeStringAccessor(&Processor::SetDiscipline, &Processor::GetDiscipline),
                          MakeStringChecker())
            .AddAttribute("EnergyPerFlopJ",
                          "Busy energy per FLOP, J (used unless KappaJ > 0).",
                          DoubleValue(0.0),
                          MakeDoubleAccessor(&Processor::SetEnergyPerFlopJ, &Processor::GetEnergyPerFlopJ),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("KappaJ",
                          "Effective switched capacitance kappa of the kappa * f^2 per cycle model, "
                          "J/(cycle Hz^2); > 0 selects that model (then EnergyPerFlopJ must be 0).",
                          DoubleValue(0.0),
                          MakeDoubleAccessor(&Processor::SetKappaJ, &Processor::GetKappaJ),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("FrequencyHz",
                          "Clock frequency f of the kappa model, Hz.",
                          DoubleValue(0.0),
                          MakeDoubleAccessor(&Processor::SetFrequencyHz, &Processor::GetFrequencyHz),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("FlopsPerCycle",
                          "FLOPs one core executes per cycle (kappa model: cycles = FLOPs / this).",
                          DoubleValue(1.0),
                          MakeDoubleAccessor(&Processor::SetFlopsPerCycle, &Processor::GetFlopsPerCycle),
                          MakeDoubleChecker<double>(std::numeric_limits<double>::min()))
            .AddAttribute("IdlePowerW",
                          "Power drawn while no task is in service, W.",
                          DoubleValue(0.0),
                          MakeDoubleAccessor(&Processor::SetIdlePowerW, &Processor::GetIdlePowerW),
                          MakeDoubleChecker<double>(0.0))
            .AddTraceSource("TaskStart",
                            "A task's first service: task id, time.",
                            MakeTraceSourceAccessor(&Processor::m_taskStart),
                            "ns3::TracedCallback::Uint64Time")
            .AddTraceSource("TaskFinish",
                            "A task's completion: task id, time.",
                            MakeTraceSourceAccessor(&Processor::m_taskFinish),
                            "ns3::TracedCallback::Uint64Time");
    return tid;
}

Processor::Processor()
    : m_lastUpdate(ns3::Simulator::Now())
{
}

Processor::~Processor() = default;

void
Processor::DoDispose()
{
    m_departure.Cancel();
    m_inService.clear();
    m_waiting.clear();
    Object::DoDispose();
}

void
Processor::CheckFlops(double flops)
{
    if (!std::isfinite(flops) || flops < 0.0)
    {
        throw std::invalid_argument("Processor: a task's FLOPs must be finite and >= 0, got " + Show(flops));
    }
}

// ---------------------------------------------------------------------------------------------------
// Parameters

void
Processor::SetCapacityFlops(double v)
{
    RequireFinite("CapacityFlops (FLOP/s per core)", v, true);
    Advance();
    m_capacityFlops = v;
    if (!m_inService.empty())
    {
        Update();
    }
}

double
Processor::GetCapacityFlops() const
{
    return m_capacityFlops;
}

void
Processor::RequireEmpty(const std::string& what) const
{
    if (!m_inService.empty() || !m_waiting.empty())
    {
        throw std::invalid_argument("Processor: " + what + " cannot change while tasks are in the system (" +
                                    std::to_string(GetTasksInSystem()) + ")");
    }
}

void
Processor::SetCores(uint32_t cores)
{
    if (cores < 1)
    {
        throw std::invalid_argument("Processor: Cores must be >= 1, got " + std::to_string(cores));
    }
    if (cores != m_cores)
    {
        RequireEmpty("Cores");
    }
    m_cores = cores;
}

uint32_t
Processor::GetCores() const
{
    return m_cores;
}

void
Processor::SetDiscipline(std::string discipline)
{
    if (discipline != "fifo" && discipline != "ps")
    {
        throw std::invalid_argument("Processor: Discipline must be \"fifo\" or \"ps\", got \"" + discipline +
                                    "\"");
    }
    const bool ps = discipline == "ps";
    if (ps != m_ps)
    {
        RequireEmpty("Discipline");
    }
    m_ps = ps;
}

std::string
Processor::GetDiscipline() const
{
    return m_ps ? "ps" : "fifo";
}

void
Processor::SetEnergyPerFlopJ(double v)
{
    RequireFinite("EnergyPerFlopJ", v, false);
    Advance();
    m_energyPerFlopJ = v;
}

double
Processor::GetEnergyPerFlopJ() const
{
    return m_energyPerFlopJ;
}

void
Processor::SetKappaJ(double v)
{
    RequireFinite("KappaJ", v, false);
    Advance();
    m_kappaJ = v;
}

double
Processor::GetKappaJ() const
{
    return m_kappaJ;
}

void
Processor::SetFrequencyHz(double v)
{
    RequireFinite("FrequencyHz", v, false);
    Advance();
    m_frequencyHz = v;
}

double
Processor::GetFrequencyHz() const
{
    return m_frequencyHz;
}

void
Processor::SetFlopsPerCycle(double v)
{
    RequireFinite("FlopsPerCycle", v, true);
    Advance();
    m_flopsPerCycle = v;
}

double
Processor::GetFlopsPerCycle() const
{
    return m_flopsPerCycle;
}

void
Processor::SetIdlePowerW(double v)
{
    RequireFinite("IdlePowerW", v, false);
    Advance();
    m_idlePowerW = v;
}

double
Processor::GetIdlePowerW() const
{
    return m_idlePowerW;
}

double
Processor::GetEnergyPerFlopInForceJ() const
{
    if (m_kappaJ > 0.0)
    {
        if (m_energyPerFlopJ > 0.0)
        {
            throw std::invalid_argument("Processor: both energy models are set (EnergyPerFlopJ = " +
                                        Show(m_energyPerFlopJ) + ", KappaJ = " + Show(m_kappaJ) +
                                        "); set one of them to 0");
        }
        if (!(m_frequencyHz > 0.0))
        {
            throw std::invalid_argument("Processor: the kappa energy model (KappaJ > 0) needs FrequencyHz > 0");
        }
        return m_kappaJ * m_frequencyHz * m_frequencyHz / m_flopsPerCycle;
    }
    return m_energyPerFlopJ;
}

// ---------------------------------------------------------------------------------------------------
// State

uint32_t
Processor::GetQueueLength() const
{
    return static_cast<uint32_t>(m_waiting.size());
}

uint32_t
Processor::GetBusyCores() const
{
    return std::min<uint32_t>(static_cast<uint32_t>(m_inService.size()), m_cores);
}

uint32_t
Processor::GetTasksInSystem() const
{
    return static_cast<uint32_t>(m_inService.size() + m_waiting.size());
}

double
Processor::TaskRate() const
{
    if (!m_ps || m_inService.empty())
    {
        return m_capacityFlops;
    }
    const double k = static_cast<double>(m_inService.size());
    return std::min<double>(k, m_cores) * m_capacityFlops / k;
}

void
Processor::Advance()
{
    const ns3::Time now = ns3::Simulator::Now();
    const double dt = (now - m_lastUpdate).GetSeconds();
    m_lastUpdate = now;
    if (dt <= 0.0)
    {
        return;
    }
    if (m_inService.empty())
    {
        m_idleEnergyJ += m_idlePowerW * dt;
        return;
    }
    // Never throws here: Submit refused a conflicting energy model; a later conflict charges kappa.
    const double epf = m_kappaJ > 0.0 ? m_kappaJ * m_frequencyHz * m_frequencyHz / m_flopsPerCycle
                                      : m_energyPerFlopJ;
    const double rate = TaskRate();
    for (auto& t : m_inService)
    {
        const double served = std::min(t.remaining, rate * dt);
        t.remaining -= served;
        m_busyEnergyJ += served * epf;
    }
}

double
Processor::GetEnergyJ() const
{
    const double dt = (ns3::Simulator::Now() - m_lastUpdate).GetSeconds();
    double energy = m_busyEnergyJ + m_idleEnergyJ;
    if (dt > 0.0)
    {
        if (m_inService.empty())
        {
            energy += m_idlePowerW * dt;
        }
        else
        {
            const double epf = m_kappaJ > 0.0 ? m_kappaJ * m_frequencyHz * m_frequencyHz / m_flopsPerCycle
                                              : m_energyPerFlopJ;
            const double rate = TaskRate();
            for (const auto& t : m_inService)
            {
                energy += std::min(t.remaining, rate * dt) * epf;
            }
        }
    }
    return energy;
}

uint64_t
Processor::Submit(double flops, DoneCallback done)
{
    CheckFlops(flops);
    GetEnergyPerFlopInForceJ(); // refuses a conflicting energy model
    Advance();
    const uint64_t id = m_nextId++;
    Task task{id, flops, flops, ns3::Simulator::Now(), done};
    NS_LOG_FUNCTION(this << id << flops);
    if (m_ps || m_inService.size() < m_cores)
    {
        m_inService.push_back(task);
        m_taskStart(id, ns3::Simulator::Now());
    }
    else
    {
        m_waiting.push_back(task);
    }
    Update();
    return id;
}

void
Processor::StartQueued(std::vector<uint64_t>& started)
{
    while (!m_ps && !m_waiting.empty() && m_inService.size() < m_cores)
    {
        m_inService.push_back(m_waiting.front());
        m_waiting.pop_front();
        started.push_back(m_inService.back().id);
    }
}

void
Processor::OnDeparture()
{
    Advance();
    Update();
}

void
Processor::Update()
{
    const ns3::Time now = ns3::Simulator::Now();
    // A task is done when less than one time-resolution step of work is left: finish times are rounded
    // to that step.
    const double rate = TaskRate();
    const double tolerance = rate * ns3::Time(1).GetSeconds() * 1.0000001;
    const double epf = m_kappaJ > 0.0 ? m_kappaJ * m_frequencyHz * m_frequencyHz / m_flopsPerCycle
                                      : m_energyPerFlopJ;
    std::vector<Task> finished;
    for (auto it = m_inService.begin(); it != m_inService.end();)
    {
        if (it->remaining <= tolerance)
        {
            m_busyEnergyJ += it->remaining * epf; // the sliver the rounded finish time left unserved
            it->remaining = 0.0;
            finished.push_back(*it);
            it = m_inService.erase(it);
        }
        else
        {
            ++it;
        }
    }
    std::vector<uint64_t> started;
    StartQueued(started);

    m_departure.Cancel();
    if (!m_inService.empty())
    {
        const double r = TaskRate();
        double next = std::numeric_limits<double>::infinity();
        for (const auto& t : m_inService)
        {
            next = std::min(next, t.remaining / r);
        }
        m_departure = ns3::Simulator::Schedule(ns3::Seconds(next), &Processor::OnDeparture, this);
    }
    // Callbacks last: they may submit new tasks.
    for (uint64_t id : started)
    {
        m_taskStart(id, now);
    }
    for (auto& t : finished)
    {
        NS_LOG_LOGIC("task " << t.id << " done at " << now.As(ns3::Time::S));
        m_taskFinish(t.id, now);
        if (!t.done.IsNull())
        {
            t.done(t.id, now);
        }
    }
}

} // namespace ns6g::mec

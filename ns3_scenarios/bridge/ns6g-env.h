// ns6g bridge: the scenario author's interface. A scenario subclasses ns6g::GymEnv (a Gymnasium
// environment: spaces, steps, and optionally the message channel) or ns6g::MessageService (the message
// channel only: no spaces, no steps), and hands it to ns6g::Bridge::Serve. Part of bridge/ns6g-bridge.h.
#pragma once

#include "ns6g-records.h"
#include "ns6g-spaces.h"

#include "ns3/nstime.h"

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ns6g
{

/** Throw from ExecuteActions() or HandleMessage() to send Python a clear error; the scenario lives on. */
class InvalidRequest : public std::runtime_error
{
  public:
    using std::runtime_error::runtime_error;
};

/**
 * A pure message service: Python sends arrays of typed records and gets one array back (learner transfers
 * on a simulated network, queries of a compiled model). It declares no spaces, so Python's Bridge has no
 * observation or action and refuses STEP. RESET builds the simulation: Simulator::Destroy, RngRun set to
 * the seed, SetupEpisode(), then the simulator runs until it stops (Simulator::Stop() or no events left).
 */
class MessageService
{
  public:
    virtual ~MessageService() = default;

    /** Build the simulation the messages act on (default: none, for a service that simulates nothing). */
    virtual void SetupEpisode()
    {
    }

    /** Record types of the message channel, found by name on both sides. */
    virtual std::vector<RecordType> GetRecordTypes() = 0;

    /** Answer one request (throw InvalidRequest to refuse it). */
    virtual Message HandleMessage(const Message& request) = 0;
};

/** Named numbers returned with every step (Python's `info` dict). */
class Info
{
  public:
    void Set(const std::string& name, double value)
    {
        for (auto& [k, v] : m_items)
        {
            if (k == name)
            {
                v = value;
                return;
            }
        }
        m_items.emplace_back(name, value);
    }

    void Clear()
    {
        m_items.clear();
    }

    const std::vector<std::pair<std::string, double>>& Items() const
    {
        return m_items;
    }

  private:
    std::vector<std::pair<std::string, double>> m_items;
};


/**
 * A Gymnasium environment: the names ns3-gym and ns3-ai users know. Its message channel is optional (no
 * record types and every message refused, unless it overrides GetRecordTypes and HandleMessage).
 */
class GymEnv : public MessageService
{
  public:
    /** Declared once at start-up. */
    virtual Space GetObservationSpace() = 0;
    virtual Space GetActionSpace() = 0;

    /**
     * Build the simulation of a new episode: nodes, devices, applications, first events. Called with
     * a fresh simulator (after Simulator::Destroy) and RngRun already set to the episode's seed.
     */
    void SetupEpisode() override = 0;

    /**
     * Simulated time between decisions. The simulation also pauses early wherever the scenario calls
     * Simulator::Stop() (event-driven decisions); return ns3::Time::Max() to rely on that alone.
     */
    virtual ns3::Time GetStepTime() = 0;

    virtual void GetObservation(const DataView& obs) = 0;
    virtual double GetReward() = 0;
    /** Episode terminated (a terminal state of the task). */
    virtual bool GetGameOver() = 0;

    /** Episode cut short by a limit outside the task (time limit); kept apart from GetGameOver(). */
    virtual bool GetTruncated()
    {
        return false;
    }

    virtual void GetExtraInfo(Info& /*info*/)
    {
    }

    /** Apply the agent's action. Return false (or throw InvalidRequest) to reject it. */
    virtual bool ExecuteActions(const DataView& action) = 0;

    std::vector<RecordType> GetRecordTypes() override
    {
        return {};
    }

    Message HandleMessage(const Message& request) override
    {
        throw InvalidRequest("this scenario takes no messages (got type '" + request.type + "')");
    }
};

} // namespace ns6g

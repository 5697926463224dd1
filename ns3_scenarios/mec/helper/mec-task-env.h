// The Gym side every MEC task scenario shares (header-only, as the bridge): reward, termination and
// truncation come from the scenario's MecTaskEngine, and main() serves the environment once its options
// passed their checks.
#pragma once

#include "bridge/ns6g-bridge.h"
#include "mec/model/mec-task-engine.h"

#include <algorithm>
#include <exception>
#include <iostream>
#include <memory>
#include <string>

namespace ns6g::mec
{

/**
 * A GymEnv whose tasks live in m_engine (created by the scenario's SetupEpisode): the reward is the
 * step's (MecStepTotals::reward) less what an episode that ends early owes (MecTaskEngine::UnservedCost),
 * the episode terminates when a device battery is empty and is truncated after `episodeSteps` decisions.
 */
class MecTaskGymEnv : public ns6g::GymEnv
{
  public:
    double GetReward() override
    {
        return m_engine->StepTotals().reward - m_engine->UnservedCost();
    }

    bool GetGameOver() override
    {
        return m_engine->AnyBatteryEmpty();
    }

    bool GetTruncated() override
    {
        return m_engine->Steps() >= m_episodeSteps;
    }

  protected:
    /** Upper bound of the queue observations (tasks). */
    static constexpr double kMaxQueue = 1e6;

    explicit MecTaskGymEnv(uint32_t episodeSteps)
        : m_episodeSteps(episodeSteps)
    {
    }

    /** A task count as a queue observation (capped at kMaxQueue). */
    static float Queue(uint32_t tasks)
    {
        return static_cast<float>(std::min<double>(tasks, kMaxQueue));
    }

    std::unique_ptr<MecTaskEngine> m_engine;

  private:
    uint32_t m_episodeSteps;
};

/**
 * main()'s end for a MEC scenario: builds Env from `params` unless `problem` (the options' check) says
 * why not, then serves it. Prints "<name>: <problem>" and returns 2 if the options or the construction
 * (e.g. an unknown catalogue device) fail.
 */
template <class Env, class Params>
int
ServeMecScenario(const std::string& name, ns6g::Bridge& bridge, const Params& params, std::string problem)
{
    std::unique_ptr<Env> env;
    if (problem.empty())
    {
        try
        {
            env = std::make_unique<Env>(params);
        }
        catch (const std::exception& e)
        {
            problem = e.what();
        }
    }
    if (!problem.empty())
    {
        std::cerr << name << ": " << problem << std::endl;
        return 2;
    }
    return bridge.Serve(*env);
}

} // namespace ns6g::mec

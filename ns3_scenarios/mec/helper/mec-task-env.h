// The Gym side every MEC task scenario shares (header-only, as the bridge): reward, termination and
// truncation come from the scenario's MecTaskEngine.
#pragma once

#include "bridge/ns6g-bridge.h"
#include "mec/model/mec-task-engine.h"

#include <algorithm>
#include <memory>

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

} // namespace ns6g::mec

"""A Stable-Baselines3 vector environment that steps ns6g scenarios in parallel from one process.

Each ns6g environment is already a separate ns-3 process behind a shared-memory bridge, so a vector of
them needs no worker processes: ``step_async`` starts every scenario's step (``ScenarioEnv.step_send``),
and ``step_wait`` collects the results through the ordinary wrapper chain (Monitor and Gymnasium's
wrappers still see every step). Compared with ``SubprocVecEnv`` this saves one Python process, one
pickled round trip and one pipe wake-up per environment and step.

>>> from stable_baselines3.common.env_util import make_vec_env
>>> venv = make_vec_env("ns6g.envs:ns6g/LinkControl-v0", n_envs=4, vec_env_cls=BridgeVecEnv)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from ns6g.envs.base import ScenarioEnv

# Wrappers whose step() hands the action on unchanged (so the scenario may be sent it ahead).
_PASS_ACTION_ON = (Monitor, gym.ObservationWrapper, gym.RewardWrapper, gym.wrappers.TimeLimit,
                   gym.wrappers.OrderEnforcing, gym.wrappers.PassiveEnvChecker, gym.wrappers.RecordEpisodeStatistics)


def scenario_action(env: gym.Env, action: Any) -> tuple[bool, Any]:
    """``(True, the action the scenario under env's wrappers receives)``: every ``ActionWrapper``'s ``action()``
    applied, outermost first; ``(False, None)`` when a wrapper's ``step`` may do something else with it (step
    twice, say), so that the environment must be stepped through its wrappers alone."""
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.ActionWrapper):
            action = env.action(action)
        elif not isinstance(env, _PASS_ACTION_ON):
            return False, None
        env = env.env
    return True, action


class BridgeVecEnv(DummyVecEnv):
    """``DummyVecEnv`` whose environments' scenarios simulate their steps at the same time.

    Environments that are not ns6g scenario environments are stepped one after another, as by
    ``DummyVecEnv``.

    The scenario is sent the action its wrappers make of the agent's (:func:`scenario_action`: every
    ``ActionWrapper`` applied); an environment under a wrapper whose ``step`` may do otherwise is stepped
    through its wrappers alone. (An ``ActionWrapper``'s ``action()`` then runs twice per step: keep it a
    function of its argument.)

    A scenario that died is raised by ``step`` (ScenarioCrashed / ScenarioNotResponding, naming the
    process) before any environment is stepped, on every call until ``reset()``, which relaunches it.
    """

    def step_async(self, actions: np.ndarray) -> None:
        scenarios = [(i, env.unwrapped) for i, env in enumerate(self.envs) if isinstance(env.unwrapped, ScenarioEnv)]
        for _, scenario in scenarios:  # all alive before any step is sent, so none is left in flight
            scenario.check_alive()
        super().step_async(actions)
        for i, scenario in scenarios:
            ahead, action = scenario_action(self.envs[i], self.actions[i])
            if ahead:
                scenario.step_send(action)

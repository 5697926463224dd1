"""BridgeVecEnv steps scenarios in parallel yet gives exactly what DummyVecEnv gives."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

from ns6g.envs.vec_env import BridgeVecEnv

ENV_ID = "ns6g.envs:ns6g/LinkControl-v0"


class Reversed(gym.ActionWrapper):
    """Rate level a -> 7 - a: the scenario must be sent the wrapped action, not the agent's."""

    def action(self, action):
        return 7 - int(action)


class Twice(gym.Wrapper):
    """Steps its environment twice per step (a wrapper whose step the vector cannot follow ahead)."""

    def step(self, action):
        first = self.env.step(action)
        return first if first[2] or first[3] else self.env.step(action)


def rollout(cls, wrapper=None):
    venv = make_vec_env(ENV_ID, n_envs=4, seed=3, vec_env_cls=cls, env_kwargs={"episode_steps": 5},
                        wrapper_class=wrapper)
    try:
        rng = np.random.default_rng(0)
        out = [venv.reset()]
        rewards, dones, terminal = [], [], []
        for _ in range(12):  # crosses two truncations per environment
            obs, reward, done, infos = venv.step(rng.integers(0, 8, size=4))
            out.append(obs)
            rewards.append(reward)
            dones.append(done)
            terminal.extend(info["terminal_observation"] for info in infos if "terminal_observation" in info)
            assert all("episode" in info for info, d in zip(infos, done) if d)  # Monitor still sees steps
        return np.stack(out), np.stack(rewards), np.stack(dones), np.stack(terminal)
    finally:
        venv.close()


def test_same_results_as_dummy_vec_env():
    fast, slow = rollout(BridgeVecEnv), rollout(DummyVecEnv)
    for a, b in zip(fast, slow):
        assert a.tobytes() == b.tobytes()
    assert fast[2].sum() == 4 * 2  # every environment truncated twice


@pytest.mark.parametrize("wrapper", [Reversed, Twice])
def test_wrappers_between_agent_and_scenario_act_as_under_dummy_vec_env(wrapper):
    fast, slow = rollout(BridgeVecEnv, wrapper), rollout(DummyVecEnv, wrapper)
    for a, b in zip(fast, slow):
        assert a.tobytes() == b.tobytes()
    if wrapper is Reversed:  # and the wrapper mattered
        plain = rollout(DummyVecEnv)
        assert plain[1].tobytes() != slow[1].tobytes()

"""Registered environments: checkers, configuration, vector environments, crash recovery."""

import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import SubprocVecEnv

import ns6g.envs
from ns6g.core.bridge import ScenarioCrashed
from ns6g.core.config import ConfigError
from ns6g.envs.bridge_echo import BridgeEchoEnv


@pytest.mark.parametrize("env_id", list(ns6g.envs.ENV_IDS))
def test_registered_envs_pass_checkers(env_id):
    env = gym.make(env_id)
    try:
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=False)
    finally:
        env.close()


def test_dict_spaces_pass_gym_checker():
    env = BridgeEchoEnv(spaces="all")
    try:
        gym_check_env(env, skip_render_check=True)
    finally:
        env.close()


@pytest.mark.parametrize(
    "overrides, key",
    [({"obs_sise": 3}, "obs_sise"), ({"obs_size": "64"}, "obs_size"), ({"obs_size": 0}, "obs_size"),
     ({"spaces": "cube"}, "spaces")],
)
def test_invalid_config_refused_before_start(overrides, key, monkeypatch):
    import ns6g.envs.base as base

    monkeypatch.setattr(base, "Bridge", lambda *a, **k: pytest.fail("a process was started"))
    with pytest.raises(ConfigError, match=key):
        gym.make("ns6g/BridgeEcho-v0", **overrides)


def test_config_reaches_the_scenario():
    with BridgeEchoEnv(obs_size=5, act_size=2) as env:
        assert env.observation_space.shape == (5,) and env.action_space.shape == (2,)
        env.reset(seed=1)
        obs, reward, term, trunc, info = env.step(np.array([1.5, -2.0], np.float32))
        assert obs.tolist() == [1.5, -2.0, 1.5, -2.0, 1.5] and reward == 1.0


def test_reset_without_relaunch_and_seeding():
    with BridgeEchoEnv() as env:
        pid = env.bridge.pid
        _, info = env.reset(seed=42)
        assert info["rng_run"] == 42
        _, info_a = env.reset()
        _, info_b = env.reset()
        assert info_a["rng_run"] != info_b["rng_run"]
        env.reset(seed=42)
        assert env.reset()[1]["rng_run"] == info_a["rng_run"]  # same seed, same sequence of runs
        assert env.bridge.pid == pid


def test_crash_then_reset_relaunches():
    with BridgeEchoEnv(exit_after=2) as env:
        env.reset(seed=0)
        env.step(env.action_space.sample())
        pid = env.bridge.pid
        with pytest.raises(ScenarioCrashed, match=f"pid {pid}"):
            env.step(env.action_space.sample())
        with pytest.raises(ScenarioCrashed, match=f"pid {pid}.*exited with code 3"):  # until reset
            env.step(env.action_space.sample())
        env.reset(seed=0)
        assert env.bridge.pid != pid
        env.step(env.action_space.sample())


def test_a_scenario_that_died_before_the_wait_is_reported_as_a_crash():
    # The race behind a rare failure under load: the scenario exits on the step before Python waits
    # for the answer. The step must report the crash, not read a relaunched scenario's HELLO.
    with BridgeEchoEnv(exit_after=2) as env:
        env.reset(seed=0)
        env.step(env.action_space.sample())
        env.step_send(env.action_space.sample())
        deadline = time.monotonic() + 10
        while env.unwrapped._bridge.alive and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(ScenarioCrashed, match="exit"):
            env.step(None)
        env.reset(seed=0)  # relaunches
        env.step(env.action_space.sample())


def test_nan_and_out_of_space_actions_raise():
    with BridgeEchoEnv(spaces="all") as env:
        env.reset(seed=0)
        bad = env.action_space.sample()
        bad["box_f32"][0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            env.step(bad)
        bad = env.action_space.sample()
        bad["disc"] = 99
        with pytest.raises(ValueError, match="disc"):
            env.step(bad)


def test_async_vector_env_with_8_copies():
    envs = gym.vector.AsyncVectorEnv([lambda: gym.make("ns6g/BridgeEcho-v0", obs_size=16) for _ in range(8)])
    try:
        obs, _ = envs.reset(seed=list(range(8)))
        assert obs.shape == (8, 16)
        actions = envs.action_space.sample()
        obs, rewards, *_ = envs.step(actions)
        assert np.array_equal(obs[:, :8], actions) and np.all(rewards == 1.0)
    finally:
        envs.close()


def _make_echo():
    return gym.make("ns6g/BridgeEcho-v0")


def test_sb3_subproc_vec_env_with_8_copies():
    venv = SubprocVecEnv([_make_echo for _ in range(8)])
    try:
        obs = venv.reset()
        assert obs.shape == (8, 64)
        actions = np.stack([venv.action_space.sample() for _ in range(8)])
        obs, rewards, dones, infos = venv.step(actions)
        assert np.array_equal(obs[:, :8], actions)
    finally:
        venv.close()


def test_same_seed_same_observations():
    def rollout():
        with BridgeEchoEnv(spaces="all") as env:
            env.action_space.seed(7)
            flat = lambda obs: gym.spaces.flatten(env.observation_space, obs)
            out = [flat(env.reset(seed=7)[0])]
            for _ in range(5):
                out.append(flat(env.step(env.action_space.sample())[0]))
            return np.stack(out)

    a, b = rollout(), rollout()
    assert a.tobytes() == b.tobytes() and np.any(a[1] != a[2])

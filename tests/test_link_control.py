"""ns6g/LinkControl-v0: checkers, spaces and info, truncation, determinism, physics, configuration, vector envs."""

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import SubprocVecEnv

import ns6g.envs  # noqa: F401  (registers the environments)
from ns6g.core.bridge import CMD_STEP, ScenarioError
from ns6g.core.config import ConfigError
from ns6g.envs.link_control import LinkControlConfig, LinkControlEnv

ENV_ID = "ns6g/LinkControl-v0"
INFO_KEYS = ("throughput_mbps", "delay_ms", "loss_fraction", "queue_packets", "rate_mbps",
             "cross_throughput_mbps", "sim_time_s")
HEADER_BYTES = 30  # UDP/IPv4 (28) and PPP (2) bytes on the wire per packet


def level_rate_mbps(cfg: LinkControlConfig, level: int) -> float:
    return cfg.link_rate_mbps * cfg.max_rate_fraction * (level + 1) / cfg.rate_levels


def payload_capacity_mbps(cfg: LinkControlConfig) -> float:
    return cfg.link_rate_mbps * cfg.packet_bytes / (cfg.packet_bytes + HEADER_BYTES)


def run_levels(env: LinkControlEnv, seed: int, levels) -> tuple[list, list]:
    """Reset with ``seed``, step through ``levels``; the step results' observations and infos."""
    env.reset(seed=seed)
    obs, infos = [], []
    for level in levels:
        o, _, _, _, info = env.step(level)
        obs.append(o)
        infos.append(info)
    return obs, infos


# -- checkers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides", [{}, {"n_cross": 0, "rate_levels": 3, "step_ms": 10.0}])
def test_passes_gymnasium_and_sb3_checkers(overrides):
    env = gym.make(ENV_ID, **overrides)
    try:
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=True)
    finally:
        env.close()


# -- spaces, info, reward -----------------------------------------------------------------------

@pytest.mark.parametrize(
    "overrides",
    [
        {"step_ms": 25.0},
        # stressed: tiny packets and queue, heavy cross traffic, rates up to 3x the link, short steps
        {"step_ms": 7.0, "packet_bytes": 64, "queue_packets": 5, "n_cross": 4, "cross_rate_mbps": 8.0,
         "cross_on_s": 0.05, "cross_off_s": 0.05, "max_rate_fraction": 3.0, "rate_levels": 5},
    ],
    ids=["default", "stressed"],
)
def test_random_rollout_stays_in_space_and_info_matches(overrides):
    with LinkControlEnv(episode_steps=10_000, **overrides) as env:
        cfg = env.config
        step_s = cfg.step_ms / 1000
        assert env.action_space == gym.spaces.Discrete(cfg.rate_levels)
        assert env.observation_space.shape == (6,) and env.observation_space.dtype == np.float32
        assert np.all(env.observation_space.low == 0)
        assert env.observation_space.high[4] == np.float32(cfg.max_rate_fraction)
        env.action_space.seed(3)

        obs, info = env.reset(seed=5)
        assert info["rng_run"] == 5
        assert info["sim_time_s"] == pytest.approx(step_s, abs=1e-9)
        assert obs in env.observation_space
        # the step before the first observation runs at the lowest level
        assert info["rate_mbps"] == pytest.approx(level_rate_mbps(cfg, 0))

        prev_time = info["sim_time_s"]
        cross_seen = 0.0
        for _ in range(60):
            action = int(env.action_space.sample())
            obs, reward, terminated, truncated, info = env.step(action)
            assert isinstance(obs, np.ndarray) and obs.dtype == np.float32 and obs.shape == (6,)
            assert obs in env.observation_space, obs
            assert not terminated and not truncated
            assert isinstance(reward, float) and math.isfinite(reward)
            for key in INFO_KEYS:
                assert isinstance(info[key], float) and math.isfinite(info[key]), (key, info)
                assert info[key] >= 0, (key, info)
            assert info["sim_time_s"] - prev_time == pytest.approx(step_s, abs=1e-9)
            prev_time = info["sim_time_s"]

            assert info["rate_mbps"] == pytest.approx(level_rate_mbps(cfg, action))
            assert info["loss_fraction"] <= 1
            assert info["queue_packets"] == int(info["queue_packets"]) <= cfg.queue_packets
            cross_seen = max(cross_seen, info["cross_throughput_mbps"])

            # The observation is the info scaled as documented; no value needs the clamp to its bound.
            expected = np.array([
                info["throughput_mbps"] / cfg.link_rate_mbps,
                info["delay_ms"] / 100,
                info["loss_fraction"],
                info["queue_packets"] / cfg.queue_packets,
                info["rate_mbps"] / cfg.link_rate_mbps,
                info["cross_throughput_mbps"] / cfg.link_rate_mbps,
            ])
            np.testing.assert_allclose(obs, expected, rtol=1e-5, atol=1e-6)
            # reward = throughput / link - delay_weight * delay / 100 - loss_weight * loss
            assert reward == pytest.approx(
                expected[0] - cfg.delay_weight * expected[1] - cfg.loss_weight * expected[2], abs=1e-9
            )
        assert cross_seen > 0  # cross traffic was on at some point


def test_config_reaches_the_scenario():
    with LinkControlEnv(link_rate_mbps=20.0, max_rate_fraction=2.0, rate_levels=5, n_cross=0, step_ms=10.0) as env:
        assert env.action_space == gym.spaces.Discrete(5)
        assert env.observation_space.high[4] == np.float32(2.0)
        env.reset(seed=0)
        for level in (4, 0, 2, 1, 3):
            obs, _, _, _, info = env.step(level)
            assert info["rate_mbps"] == pytest.approx(20.0 * 2.0 * (level + 1) / 5)
            assert obs[4] == np.float32(2.0 * (level + 1) / 5)


# -- truncation ---------------------------------------------------------------------------------

def test_truncated_after_episode_steps_never_terminated():
    with LinkControlEnv(episode_steps=5, step_ms=10.0) as env:
        for _ in range(2):  # the step counter restarts with every reset
            env.reset(seed=1)
            flags = [env.step(env.action_space.sample())[2:4] for _ in range(5)]
            assert flags == [(False, False)] * 4 + [(False, True)]


def test_single_step_episode_truncates_at_once():
    with LinkControlEnv(episode_steps=1, step_ms=10.0) as env:
        env.reset(seed=0)
        assert env.step(0)[2:4] == (False, True)


def test_step_after_truncation_without_reset_raises():
    with LinkControlEnv(episode_steps=2, step_ms=10.0) as env:
        env.reset(seed=0)
        env.step(0)
        assert env.step(0)[3]
        with pytest.raises(RuntimeError, match="reset"):
            env.step(0)
        env.reset(seed=0)
        assert not env.step(0)[3]
        env.reset(seed=0)  # a reset makes the environment usable again
        assert env.step(0)[2:4] == (False, False)


# -- determinism --------------------------------------------------------------------------------

ACTIONS = np.random.default_rng(0).integers(0, 8, size=40).tolist()


def rollout(env: LinkControlEnv, seed: int) -> tuple[np.ndarray, np.ndarray, list]:
    obs, info = env.reset(seed=seed)
    observations, rewards, infos = [obs], [], [info]
    for action in ACTIONS:
        obs, reward, _, _, info = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
    return np.stack(observations), np.array(rewards), infos


def assert_identical(a, b):
    assert a[0].tobytes() == b[0].tobytes()  # bit-identical observations
    assert a[1].tobytes() == b[1].tobytes()  # and rewards
    assert a[2] == b[2]


def test_same_seed_same_trajectory_across_processes_and_resets():
    with LinkControlEnv(step_ms=50.0) as env_a, LinkControlEnv(step_ms=50.0) as env_b:
        assert env_a.bridge.pid != env_b.bridge.pid
        pid_a = env_a.bridge.pid
        first = rollout(env_a, 11)
        other = rollout(env_a, 12)
        again = rollout(env_a, 11)  # after another episode in the same process
        fresh = rollout(env_b, 11)  # in another scenario process
        assert env_a.bridge.pid == pid_a  # reset rebuilt the simulation without a relaunch

        assert np.any(first[0][:, 5] > 0) and np.any(other[0][:, 5] > 0)  # cross traffic is on
        assert_identical(first, again)
        assert_identical(first, fresh)
        assert first[0].tobytes() != other[0].tobytes()  # another seed, another trajectory
        assert not np.array_equal(first[0][:, 5], other[0][:, 5])  # the cross traffic differs


# -- physics ------------------------------------------------------------------------------------

def test_overload_fills_queue_loses_and_caps_throughput_at_link_rate():
    with LinkControlEnv(n_cross=0, queue_packets=40, step_ms=50.0) as env:
        cfg = env.config
        top = cfg.rate_levels - 1
        rate = level_rate_mbps(cfg, top)
        capacity = payload_capacity_mbps(cfg)
        assert rate > capacity * 1.1
        _, infos = run_levels(env, 1, [top] * 12)

    queue = [i["queue_packets"] for i in infos]
    delay = [i["delay_ms"] for i in infos]
    # The queue grows by about (rate - capacity) per step until it is full, then stays full.
    growth = (rate - capacity) * 1e6 * cfg.step_ms / 1000 / (8 * cfg.packet_bytes)
    assert queue[0] == pytest.approx(growth, abs=2)
    assert queue[0] < queue[1] < queue[2]
    assert all(q >= cfg.queue_packets - 2 for q in queue[4:])
    # Delay grows with the queue, up to about propagation + queue_packets transmission times.
    assert delay[0] < delay[1] < delay[2] < delay[3]
    tx_ms = (cfg.packet_bytes + HEADER_BYTES) * 8 / (cfg.link_rate_mbps * 1e3)
    assert delay[-1] == pytest.approx(cfg.link_delay_ms + 1 + cfg.queue_packets * tx_ms, abs=3 * tx_ms + 0.5)
    # Once the queue is full the excess is dropped, and the flow gets the link's payload capacity.
    steady = infos[5:]
    assert all(i["loss_fraction"] > 0 for i in steady)
    loss = np.mean([i["loss_fraction"] for i in steady])
    assert loss == pytest.approx(1 - capacity / rate, abs=0.02)
    throughput = np.mean([i["throughput_mbps"] for i in steady])
    assert throughput == pytest.approx(capacity, rel=0.02)
    one_packet_mbps = cfg.packet_bytes * 8 / (cfg.step_ms * 1e3)
    assert all(i["throughput_mbps"] <= capacity + 1.01 * one_packet_mbps for i in steady)


def test_lowest_level_gets_its_rate_without_queue_or_loss():
    with LinkControlEnv(n_cross=0, step_ms=100.0) as env:
        cfg = env.config
        rate = level_rate_mbps(cfg, 0)
        _, infos = run_levels(env, 1, [0] * 10)

    one_packet_mbps = cfg.packet_bytes * 8 / (cfg.step_ms * 1e3)
    for info in infos:
        assert info["loss_fraction"] == 0
        assert info["queue_packets"] == 0
        assert abs(info["throughput_mbps"] - rate) <= 1.01 * one_packet_mbps
    assert np.mean([i["throughput_mbps"] for i in infos]) == pytest.approx(rate, rel=0.02)
    # An empty queue: propagation (bottleneck + 1 ms access) and one transmission on each link.
    wire_bits = (cfg.packet_bytes + HEADER_BYTES) * 8
    access_mbps = 10 * max(cfg.link_rate_mbps, cfg.cross_rate_mbps, cfg.link_rate_mbps * cfg.max_rate_fraction)
    base_ms = cfg.link_delay_ms + 1 + wire_bits / (cfg.link_rate_mbps * 1e3) + wire_bits / (access_mbps * 1e3)
    for info in infos:
        assert info["delay_ms"] == pytest.approx(base_ms, abs=0.01)


def test_delay_and_loss_grow_above_link_rate():
    with LinkControlEnv(n_cross=0, queue_packets=20, step_ms=100.0) as env:
        top = env.config.rate_levels - 1
        _, low = run_levels(env, 2, [0] * 5)
        _, high = run_levels(env, 2, [top] * 5)
        _, back = run_levels(env, 2, [top] * 5 + [0] * 5)  # back to a low rate: the queue drains
    assert min(i["delay_ms"] for i in high[1:]) > max(i["delay_ms"] for i in low) + 10
    assert sum(i["loss_fraction"] for i in low) == 0 and min(i["loss_fraction"] for i in high[1:]) > 0.1
    assert back[-1]["queue_packets"] == 0
    assert back[-1]["delay_ms"] == pytest.approx(low[-1]["delay_ms"], abs=0.01)
    assert back[-1]["loss_fraction"] == 0


# -- configuration ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"link_rate": 5.0}, "link_rate"),  # unknown key
        ({"queue_packets": "100"}, "queue_packets"),  # wrong type
        ({"n_cross": 1.5}, "n_cross"),  # wrong type
        ({"rate_levels": 1}, "rate_levels"),  # out of range
        ({"step_ms": 0.0}, "step_ms"),  # out of range
        ({"link_rate_mbps": float("nan")}, "link_rate_mbps"),
        ({"episode_steps": 0}, "episode_steps"),
    ],
)
def test_invalid_config_refused_before_start(overrides, key, monkeypatch):
    import ns6g.envs.base as base

    monkeypatch.setattr(base, "Bridge", lambda *a, **k: pytest.fail("a process was started"))
    with pytest.raises(ConfigError, match=key):
        gym.make(ENV_ID, **overrides)
    with pytest.raises(ConfigError, match=key):
        LinkControlEnv(config=overrides)


def test_config_error_names_every_offending_key(monkeypatch):
    import ns6g.envs.base as base

    monkeypatch.setattr(base, "Bridge", lambda *a, **k: pytest.fail("a process was started"))
    with pytest.raises(ConfigError) as excinfo:
        LinkControlEnv(queue_packets=0, cross_rate_mbps=-1.0, bogus=1)
    for key in ("queue_packets", "cross_rate_mbps", "bogus"):
        assert key in str(excinfo.value)


@pytest.mark.parametrize(
    "overrides",
    [
        {"step_ms": 1e-7},
        {"link_rate_mbps": 1e-7},
        {"cross_rate_mbps": 1e-7},
    ],
    ids=["step_ms=1e-7", "link_rate_mbps=1e-7", "cross_rate_mbps=1e-7"],
)
def test_config_refuses_values_the_scenario_cannot_run(overrides):
    # These once passed validation and then crashed or stalled ns-3 (rates round to whole bit/s).
    with pytest.raises(ConfigError, match=next(iter(overrides))):
        LinkControlEnv(bridge_options={"step_timeout_s": 2.0}, **overrides)


# -- actions ------------------------------------------------------------------------------------

@pytest.mark.parametrize("action", [8, -1, 100, 2.5, np.float32(1.0), np.array([1, 2]), "3"],
                         ids=["8", "-1", "100", "2.5", "float32", "vector", "str"])
def test_action_outside_discrete_raises_and_env_stays_usable(action):
    with LinkControlEnv(step_ms=10.0) as env:
        _, info = env.reset(seed=0)
        with pytest.raises(ValueError):
            env.step(action)
        _, _, _, _, info2 = env.step(1)  # the refused action did not advance the simulation
        assert info2["sim_time_s"] == pytest.approx(info["sim_time_s"] + 0.01, abs=1e-9)


def test_action_bound_follows_rate_levels():
    with LinkControlEnv(rate_levels=3, step_ms=10.0) as env:
        env.reset(seed=0)
        env.step(2)
        with pytest.raises(ValueError, match="Discrete"):
            env.step(3)


def test_scenario_itself_refuses_out_of_range_level():
    """Bypass the Python check: the scenario rejects the level and keeps running."""
    with LinkControlEnv(step_ms=10.0) as env:
        _, info = env.reset(seed=0)
        pid = env.bridge.pid
        env.bridge.action_views[()] = 8
        with pytest.raises(ScenarioError, match=r"outside Discrete\(8\)"):
            env.bridge.exchange(CMD_STEP)
        _, _, _, _, info2 = env.step(0)
        assert env.bridge.pid == pid
        assert info2["sim_time_s"] == pytest.approx(info["sim_time_s"] + 0.01, abs=1e-9)


# -- vector environments ------------------------------------------------------------------------

def _make_tiny():
    return gym.make(ENV_ID, episode_steps=2, step_ms=20.0)


def test_async_vector_env_with_8_copies_autoresets():
    envs = gym.vector.AsyncVectorEnv([_make_tiny for _ in range(8)])
    try:
        single = envs.single_observation_space
        obs, info = envs.reset(seed=list(range(8)))
        assert obs.shape == (8, 6) and info["rng_run"].tolist() == list(range(8))
        truncations = []
        for step in range(5):
            obs, rewards, terminated, truncated, info = envs.step(envs.action_space.sample())
            assert obs.shape == (8, 6) and all(o in single for o in obs)
            assert not terminated.any()
            truncations.append(truncated.tolist())
            if step == 2:  # the autoreset step (next-step mode): reset observations, no reward
                assert np.all(rewards == 0)
                np.testing.assert_allclose(info["sim_time_s"], 0.02)
                np.testing.assert_allclose(obs[:, 4], 1.2 / 8)  # the lowest level
            else:
                np.testing.assert_allclose(info["sim_time_s"], 0.04 if step in (0, 3) else 0.06)
        assert truncations == [[False] * 8, [True] * 8, [False] * 8, [False] * 8, [True] * 8]
    finally:
        envs.close()


def test_sb3_subproc_vec_env_with_8_copies_autoresets():
    # fork: forkserver workers would each import torch again (tens of seconds on two cores)
    venv = SubprocVecEnv([_make_tiny for _ in range(8)], start_method="fork")
    try:
        single = venv.observation_space
        venv.seed(0)
        obs = venv.reset()
        assert obs.shape == (8, 6)
        assert [i["rng_run"] for i in venv.reset_infos] == list(range(8))
        for step in range(4):
            obs, rewards, dones, infos = venv.step(np.array([venv.action_space.sample() for _ in range(8)]))
            assert obs.shape == (8, 6) and rewards.shape == (8,) and all(o in single for o in obs)
            boundary = step in (1, 3)
            assert dones.tolist() == [boundary] * 8
            for i, info in enumerate(infos):
                assert info["TimeLimit.truncated"] is boundary
                if boundary:  # the returned observation is the next episode's first
                    assert info["terminal_observation"] in single
                    assert info["sim_time_s"] == pytest.approx(0.06)
                    assert obs[i, 4] == np.float32(1.2 / 8)
                    assert venv.reset_infos[i]["sim_time_s"] == pytest.approx(0.02)
                else:
                    assert info["sim_time_s"] == pytest.approx(0.04)
    finally:
        venv.close()

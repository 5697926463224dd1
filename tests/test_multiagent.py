"""The PettingZoo parallel wrapper: PettingZoo's own API test, and per-UE actions reach the scheduler."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from ns6g.envs.multiagent import ParallelScenarioEnv, parallel_env

SMALL = dict(cells=1, ues=3, action_mode="share", decision_slots=4, episode_steps=6, fast_fading=False)


def test_spectrum_allocation_passes_pettingzoo_parallel_api_test():
    env = parallel_env("ns6g/SpectrumAllocation-v0", **SMALL)
    try:
        parallel_api_test(env, num_cycles=20)
    finally:
        env.close()


def test_each_ue_agent_controls_its_own_share():
    env = parallel_env("ns6g/SpectrumAllocation-v0", **SMALL, traffic="full_buffer")
    try:
        observations, _ = env.reset(seed=3)
        assert env.agents == ["ue-0", "ue-1", "ue-2"]
        assert observations["ue-1"]["cqi"].shape == env.observation_space("ue-1")["cqi"].shape
        totals = np.zeros(3)
        while env.agents:  # UE 0 asks for everything, the others for nothing
            actions = {a: np.array([1.0 if a == "ue-0" else 0.0], np.float32) for a in env.agents}
            observations, rewards, terminations, truncations, infos = env.step(actions)
            assert len(set(rewards.values())) == 1  # one team reward
            totals += [observations[f"ue-{u}"]["throughput_mbps"][0] for u in range(3)] if env.agents else 0
        assert totals[0] > 10 * max(totals[1], totals[2], 1e-9)
        with pytest.raises(RuntimeError, match="reset"):
            env.step({})
    finally:
        env.close()


def test_environments_without_a_split_are_refused():
    import gymnasium as gym

    import ns6g.envs  # noqa: F401

    link = gym.make("ns6g/LinkControl-v0")
    try:
        with pytest.raises(TypeError, match="not a multi-agent environment"):
            ParallelScenarioEnv(link)
    finally:
        link.close()
    with pytest.raises(ValueError, match="action_mode='share'"):
        parallel_env("ns6g/SpectrumAllocation-v0", cells=1, ues=2)


@pytest.mark.parametrize("grants", [True, False], ids=["agent-grants", "round-robin"])
def test_d2d_relay_has_one_agent_per_remote(grants):
    kwargs = dict(remotes=2, relays=3, episode_steps=5)
    if not grants:
        kwargs["sidelink_scheduler"] = "rr"
    env = parallel_env("ns6g/D2DRelay-v0", **kwargs)
    try:
        parallel_api_test(env, num_cycles=10)
        observations, _ = env.reset(seed=2)
        assert env.agents == ["remote-0", "remote-1"]
        assert observations["remote-1"]["sidelink_mbps"].shape == (3,)
        assert observations["remote-1"]["relay_cqi"].shape == (3,)  # shared: every relay
        # Remote 0 direct, remote 1 through relay 2: the joint action the scenario receives.
        picks = {"remote-0": np.array([0, 0]) if grants else 0, "remote-1": np.array([2, 1]) if grants else 2}
        assert list(env.split.act(picks)) == ([0, 2, 0, 1] if grants else [0, 2])
        env.step(picks)
    finally:
        env.close()

"""ns6g/SpectrumAllocation-v0: the RAN model end to end, with behaviour a broken model would fail."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import ns6g.envs  # noqa: F401
from ns6g.analysis import load_run
from ns6g.core.config import ConfigError
from ns6g.envs.spectrum_allocation import SpectrumAllocationEnv

SMALL = dict(ues=4, episode_steps=20)


def run_episode(steps, action=None, seed=1, **config):
    """Step an environment; return per-step info dicts and the summed per-UE radio numbers."""
    with SpectrumAllocationEnv(**{**SMALL, "episode_steps": steps, **config}) as env:
        env.reset(seed=seed)
        infos, rbgs, bits, samples = [], 0.0, 0.0, []
        for _ in range(steps):
            a = env.action_space.sample() if action is None else action(env)
            infos.append(env.step(a)[4])
            radio = env.radio_samples()
            samples.append(radio)
            rbgs = rbgs + radio["rbgs"]
            bits = bits + radio["throughput_bps"]
        return infos, rbgs, bits, samples


def test_passes_gymnasium_and_sb3_checkers():
    with SpectrumAllocationEnv(**SMALL) as env:
        check_env(env, skip_render_check=True)
    with SpectrumAllocationEnv(**SMALL, cells=3, action_mode="share") as env:
        sb3_check_env(env)


def test_round_robin_gives_equal_rbg_shares():
    _, rbgs, _, _ = run_episode(20, scheduler="rr", fast_fading=False)
    assert rbgs.min() > 0 and rbgs.max() - rbgs.min() <= 2, rbgs


def test_proportional_fair_is_fairer_than_max_rate_and_max_rate_carries_most():
    _, _, pf_bits, _ = run_episode(20, scheduler="pf", ues=6)
    _, _, mr_bits, _ = run_episode(20, scheduler="mr", ues=6)

    def jain(x):
        return x.sum() ** 2 / (len(x) * (x**2).sum())

    assert jain(pf_bits) > jain(mr_bits)
    assert mr_bits.sum() >= 0.95 * pf_bits.sum()


def test_throughput_never_exceeds_the_shannon_bound_of_the_allocation():
    # One cell, no fast fading: every RB of a UE sees one SINR, so the bound is exact. Summed over the
    # episode, so that a HARQ retransmission's resources count with the block they carry.
    from ns6g.radio import carrier

    rbg_hz = carrier(20e6, 1, 7e9).rbg_size * 12 * 30e3
    slot_s, interval_s = 0.5e-3, 10 * 0.5e-3
    _, _, _, samples = run_episode(30, scheduler="pf", fast_fading=False, ues=6)
    bits = sum(s["throughput_bps"] for s in samples) * interval_s
    rbg_slots = sum(s["rbgs"] for s in samples)
    sinr_db = samples[-1]["sinr_db"]
    bound_bits = rbg_slots * rbg_hz * slot_s * np.log2(1 + 10 ** (sinr_db / 10))
    assert np.all(bits > 0)
    assert np.all(bits <= bound_bits), (bits, bound_bits)


def test_throughput_grows_with_bandwidth():
    narrow = run_episode(10, scheduler="pf", bandwidth_hz=20e6)[2].sum()
    wide = run_episode(10, scheduler="pf", bandwidth_hz=40e6)[2].sum()
    assert wide > 1.5 * narrow


def test_moving_ues_are_handed_over(tmp_path):
    env = gym.make("ns6g/SpectrumAllocation-v0", cells=3, ues=12, scheduler="pf", mobility="constant_velocity",
                   speed_mps=40.0, isd_m=100.0, decision_slots=100, episode_steps=40, fast_fading=False,
                   traffic="cbr", ue_rate_mbps=1.0, run_dir=tmp_path / "run")
    env.reset(seed=2)
    handovers = 0.0
    for _ in range(40):
        handovers += env.step(env.action_space.sample())[4]["handovers"]
    env.close()
    assert handovers > 0
    run = load_run(tmp_path / "run")
    assert (run.events["kind"] == "handover").sum() == handovers
    radio = run.radio
    assert {"time_s", "ue", "cell", "sinr_db", "cqi", "mcs", "rbgs", "rbs", "throughput_bps", "x_m", "y_m"} <= set(radio)
    assert len(radio) == 41 * 12 and radio["cell"].nunique() > 1


def test_interference_from_neighbour_cells_lowers_sinr():
    def allocation(load_neighbours):
        def act(env):
            n_rbg = env.action_space.nvec.size // 3
            ues = env.config.ues
            serving = env.radio_samples()["cell"]
            a = np.full((3, n_rbg), ues)
            for cell in range(3):
                mine = np.flatnonzero(serving == cell)
                if len(mine) and (cell == 0 or load_neighbours):
                    a[cell, :] = mine[0]
            return a.reshape(-1)
        return act

    def cell0_sinr(load):
        _, _, _, samples = run_episode(10, action=allocation(load), cells=3, ues=9, isd_m=100.0, fast_fading=False)
        last = samples[-1]
        served = last[(last["cell"] == 0) & (last["rbgs"] > 0)]
        assert len(served) == 1
        return float(served["sinr_db"][0])

    assert cell0_sinr(True) < cell0_sinr(False) - 1.0


def test_same_seed_same_observations():
    def rollout():
        with SpectrumAllocationEnv(**SMALL, scheduler="pf") as env:
            obs, _ = env.reset(seed=5)
            out = [gym.spaces.flatten(env.observation_space, obs)]
            for _ in range(5):
                obs = env.step(env.action_space.sample())[0]
                out.append(gym.spaces.flatten(env.observation_space, obs))
            return np.stack(out)

    a, b = rollout(), rollout()
    assert a.tobytes() == b.tobytes() and np.any(a[1] != a[-1])


@pytest.mark.parametrize("bad, key", [
    (dict(bandwidth_hz=20.1e6), "bandwidth_hz"),
    (dict(frequency_hz=400e9), "frequency_hz"),
    (dict(ues=0), "ues"),
    (dict(scenario="Moon"), "scenario"),
    (dict(numerology=7), "numerology"),
])
def test_bad_configuration_is_refused(bad, key):
    with pytest.raises(ConfigError, match=key):
        SpectrumAllocationEnv(**bad)


def test_out_of_range_allocation_is_refused():
    with SpectrumAllocationEnv(**SMALL) as env:
        env.reset(seed=0)
        action = env.action_space.sample()
        action[0] = env.config.ues + 1  # no such UE (and not "unused")
        with pytest.raises(ValueError):
            env.step(action)
        env.step(env.action_space.sample())  # still usable


@pytest.mark.parametrize("overrides", [
    dict(traffic="poisson", ue_rate_mbps=5.0),
    dict(traffic="ftp", ue_rate_mbps=20.0, ftp_file_bytes=100_000),
    dict(traffic="tcp_bulk", packet_bytes=1400),
    dict(mobility="random_waypoint", speed_mps=10.0),
    dict(mobility="gauss_markov", speed_mps=10.0),
    dict(ue_distribution="clusters", clusters=2, cluster_radius_m=5.0),
    dict(cells=2, gnb_positions="0,0;150,0"),
], ids=["poisson", "ftp", "tcp_bulk", "random_waypoint", "gauss_markov", "clusters", "user_placed"])
def test_traffic_mobility_and_layout_options_run(overrides):
    infos, _, bits, samples = run_episode(40, scheduler="pf", decision_slots=20, **overrides)
    assert bits.sum() > 0
    positions = np.stack([np.c_[s["x_m"], s["y_m"]] for s in samples])
    moved = np.abs(positions[-1] - positions[0]).max()
    assert (moved > 1.0) == ("mobility" in overrides)
    if overrides.get("ue_distribution") == "clusters":
        first = positions[0]
        spread = [np.ptp(first[i::2], axis=0).max() for i in range(2)]
        assert max(spread) <= 10.0 + 1e-9
    if "gnb_positions" in overrides:
        assert set(samples[-1]["cell"]) <= {0, 1}


def test_layout_errors_are_refused():
    with pytest.raises(ConfigError, match="cells"):
        SpectrumAllocationEnv(cells=2)
    with pytest.raises(ConfigError, match="gnb_positions"):
        SpectrumAllocationEnv(cells=2, gnb_positions="0,0;x,1")


def _make_small():
    return gym.make("ns6g.envs:ns6g/SpectrumAllocation-v0", ues=4, episode_steps=2, scheduler="pf")


def test_vector_environments_with_8_copies():
    from stable_baselines3.common.vec_env import SubprocVecEnv

    envs = gym.vector.AsyncVectorEnv([_make_small for _ in range(8)])
    try:
        obs, _ = envs.reset(seed=list(range(8)))
        assert obs["cqi"].shape[0] == 8
        for _ in range(3):  # crosses the truncation at step 2
            obs, rewards, terminated, truncated, _ = envs.step(envs.action_space.sample())
        assert rewards.shape == (8,)
    finally:
        envs.close()
    venv = SubprocVecEnv([_make_small for _ in range(8)], start_method="fork")
    try:
        venv.seed(0)
        venv.reset()
        for _ in range(3):
            obs, rewards, dones, _ = venv.step(np.stack([venv.action_space.sample() for _ in range(8)]))
        assert obs["buffer_kbytes"].shape[0] == 8
    finally:
        venv.close()

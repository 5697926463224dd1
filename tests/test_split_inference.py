"""ns6g/SplitInference-v0: per-task split and offload over the RAN model, checked end to end."""

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import ns6g.envs  # noqa: F401
from ns6g.config import ConfigError
from ns6g.devices import DEVICES
from ns6g.envs.split_inference import SplitInferenceEnv
from ns6g.split import load_profile
from ns6g.policies import evaluate

# One device, rare tasks: no queueing anywhere, so every task's parts are its own.
QUIET = dict(ues=1, task_rate_hz=0.1, fast_fading=False, episode_steps=8)
RPI = float(DEVICES.loc["raspberry-pi-4", "flops"])
EDGE = float(DEVICES.loc["edge-gpu-server", "flops"])
NS_MS = 1e-6  # one ns-3 time step (1 ns) in ms


def completed_infos(env, action, steps, seed=1):
    env.reset(seed=seed)
    out = []
    for _ in range(steps):
        _, reward, _, _, info = env.step(np.array(action))
        if info["completed"] == 1 and info["last_cut"] == action[0]:
            out.append((reward, info))
    return out


def test_passes_gymnasium_and_sb3_checkers():
    with SplitInferenceEnv(ues=2, episode_steps=5, model="small_cnn") as env:
        check_env(env, skip_render_check=True)
        sb3_check_env(env)
    assert "ns6g/SplitInference-v0" in gym.registry


def test_offloaded_latency_is_the_sum_of_its_parts():
    profile = load_profile("resnet18_style", "fp32")
    cut = 3
    with SplitInferenceEnv(**QUIET) as env:
        assert env.action_space.nvec.tolist() == [len(profile), 2]
        done = completed_infos(env, [cut, 0], 6)
    assert done, "no offloaded task completed"
    device_ms = profile.device_flops[cut] / RPI * 1e3
    server_ms = profile.server_flops[cut] / EDGE * 1e3
    for _, info in done:
        # No queueing: the compute parts are FLOPs / capacity (to 2 ns of rounding), the radio parts measured.
        assert info["device_compute_ms"] == pytest.approx(device_ms, abs=2 * NS_MS)
        assert info["server_compute_ms"] == pytest.approx(server_ms, abs=2 * NS_MS)
        # Uplink: at least the bits over the whole carrier at 10 bit/s/Hz, plus the 1 ms backhaul.
        assert info["uplink_ms"] > profile.transfer_bytes[cut] * 8 / (10 * 20e6) * 1e3 + 1.0
        assert info["downlink_ms"] > 1.0  # backhaul + at least one slot
        parts = device_ms + info["uplink_ms"] + server_ms + info["downlink_ms"]
        assert info["latency_ms"] == pytest.approx(parts, abs=5 * NS_MS)
        assert info["last_latency_ms"] == info["latency_ms"]


def test_cloud_pays_the_wan_both_ways():
    with SplitInferenceEnv(**QUIET, wan_delay_ms=30.0) as env:
        done = completed_infos(env, [0, 1], 4)
    assert done
    for _, info in done:
        assert info["last_target"] == 1
        assert info["uplink_ms"] > 30.0 and info["downlink_ms"] > 30.0


def test_all_local_latency_is_device_flops_over_capacity():
    profile = load_profile("resnet18_style", "fp32")
    n = len(profile) - 1
    with SplitInferenceEnv(**QUIET) as env:
        done = completed_infos(env, [n, 0], 4)
    assert done
    expected_ms = profile.device_flops[n] / RPI * 1e3
    for reward, info in done:
        assert info["latency_ms"] == pytest.approx(expected_ms, abs=NS_MS)
        assert info["uplink_ms"] == 0 and info["downlink_ms"] == 0
        energy = profile.device_flops[n] * float(DEVICES.loc["raspberry-pi-4", "energy_per_flop_j"])
        assert info["energy_j"] == pytest.approx(energy, rel=1e-9)
        assert reward == pytest.approx(-(expected_ms / 1e3 + energy), rel=1e-6)  # within the deadline


def test_infeasible_split_fails_with_the_failure_penalty():
    # ResNet-18 whole on a Cortex-M4 (256 KiB SRAM) cannot fit.
    with SplitInferenceEnv(**QUIET, device="cortex-m4", failure_penalty=7.0) as env:
        env.reset(seed=1)
        n = env.n_cuts - 1
        _, reward, _, _, info = env.step(np.array([n, 0]))
    assert info["infeasible"] == 1 and info["failed"] == 1 and info["completed"] == 0
    assert math.isnan(info["latency_ms"])
    assert reward == -7.0


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"model": "resnet99"}, "resnet18_style"),
        ({"device": "toaster"}, "raspberry-pi-4"),
        ({"edge_device": "mainframe"}, "edge-gpu-server"),
        ({"cloud_device": "mainframe"}, "cloud-gpu"),
        ({"device": "edge-gpu-server"}, "no radio"),
    ],
)
def test_unknown_names_are_refused_with_the_valid_ones(overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        SplitInferenceEnv(**overrides)


def test_same_seed_same_observations():
    def trajectory(env, seed):
        obs, _ = env.reset(seed=seed)
        seq = [obs]
        for k in range(5):
            seq.append(env.step(np.array([k % env.n_cuts, k % 2]))[0])
        return seq

    with SplitInferenceEnv(ues=3, episode_steps=10) as env:
        a, b, c = trajectory(env, 4), trajectory(env, 4), trajectory(env, 5)
    for x, y in zip(a, b, strict=True):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    assert any(not np.array_equal(x["cqi"], z["cqi"]) or x["device"] != z["device"] for x, z in zip(a, c))


def test_greedy_beats_all_local_on_a_slow_device():
    # ResNet-18 takes ~93 ms on a Raspberry Pi 4; offloading its 12 KB input is much faster.
    with SplitInferenceEnv(ues=2, episode_steps=12, task_rate_hz=1.0) as env:
        policies = env.baseline_policies(seed=0)
        assert set(policies) == {"all_local", "all_edge", "random", "greedy"}
        df = evaluate(env, {k: policies[k] for k in ("greedy", "all_local")}, seeds=[1]).set_index("policy")
    assert df.loc["greedy", "return"] > df.loc["all_local", "return"]
    assert df.loc["greedy", "latency_ms"] < 0.5 * df.loc["all_local", "latency_ms"]

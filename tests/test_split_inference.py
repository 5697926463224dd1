"""ns6g/SplitInference-v0: per-task split and offload over the RAN model, checked end to end."""

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import ns6g.envs  # noqa: F401
from ns6g.core.config import ConfigError
from ns6g.compute.devices import DEVICES
from ns6g.envs.split_inference import SplitInferenceEnv
from ns6g.compute.split import load_profile, peer_memory_bytes
from ns6g.envs.policies import evaluate

# One device, rare tasks: no queueing anywhere, so every task's parts are its own.
QUIET = dict(ues=1, task_rate_hz=0.1, fast_fading=False, episode_steps=8)
RPI = float(DEVICES.loc["raspberry-pi-4", "flops"])
EDGE = float(DEVICES.loc["edge-gpu-server", "flops"])
PHONE = float(DEVICES.loc["smartphone", "flops"])
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
        assert env.action_space.nvec.tolist() == [len(profile), 3]  # targets: edge, cloud, peer
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


def test_infeasible_split_fails_and_costs_as_a_timed_out_task():
    # ResNet-18 whole on a Cortex-M4 (256 KiB SRAM) cannot fit.
    with SplitInferenceEnv(**QUIET, device="cortex-m4", failure_penalty=7.0) as env:
        env.reset(seed=1)
        n = env.n_cuts - 1
        _, reward, _, _, info = env.step(np.array([n, 0]))
    assert info["infeasible"] == 1 and info["failed"] == 1 and info["completed"] == 0
    assert math.isnan(info["latency_ms"])
    # A refused task costs as one that failed at its timeout (2 s), late (1) and failed (7): never less.
    assert reward == pytest.approx(-(2.0 + 1.0 + 7.0))
    assert info["deadline_violations"] == 1


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
            seq.append(env.step(np.array([k % env.n_cuts, k % 3]))[0])
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
        assert set(policies) == {"all_local", "all_edge", "random", "greedy", "greedy_edge"}
        df = evaluate(env, {k: policies[k] for k in ("greedy", "all_local")}, seeds=[1]).set_index("policy")
    assert df.loc["greedy", "return"] > df.loc["all_local", "return"]
    assert df.loc["greedy", "latency_ms"] < 0.5 * df.loc["all_local", "latency_ms"]


# ---- the D2D peer (target 2) ---------------------------------------------------------------------------


def test_peer_task_crosses_the_sidelink_and_its_latency_is_the_sum_of_its_parts():
    profile = load_profile("resnet18_style", "fp32")
    cut, n = 3, len(profile) - 1
    with SplitInferenceEnv(**QUIET, peer_distance_m=15.0) as env:
        obs, _ = env.reset(seed=1)
        assert obs["sidelink_mbps"][0] > 0 and obs["peer_queue"][0] == 0
        done = completed_infos(env, [cut, 2], 6)
    assert done, "no peer task completed"
    device_ms = profile.device_flops[cut] / RPI * 1e3
    peer_ms = profile.server_flops[cut] / PHONE * 1e3
    for k, (_, info) in enumerate(done, start=1):
        assert info["last_target"] == 2
        # No queueing: compute parts are FLOPs / capacity (to 2 ns of rounding); the sidelink parts measured.
        assert info["device_compute_ms"] == pytest.approx(device_ms, abs=2 * NS_MS)
        assert info["server_compute_ms"] == pytest.approx(peer_ms, abs=2 * NS_MS)
        # Sidelink up: at least the activation's bits over the whole 20 MHz sidelink at 10 bit/s/Hz.
        assert info["uplink_ms"] > profile.transfer_bytes[cut] * 8 / (10 * 20e6) * 1e3
        assert info["downlink_ms"] > 0
        parts = device_ms + info["uplink_ms"] + peer_ms + info["downlink_ms"]
        assert info["latency_ms"] == pytest.approx(parts, abs=5 * NS_MS)
        # The bytes went over the sidelink: at least the payloads of the k tasks so far (plus headers).
        assert info["sidelink_up_bytes"] >= k * profile.transfer_bytes[cut]
        assert info["sidelink_down_bytes"] >= k * profile.transfer_bytes[n]


def test_edge_tasks_leave_the_sidelink_idle():
    with SplitInferenceEnv(**QUIET) as env:
        done = completed_infos(env, [3, 0], 4)
    assert done
    assert all(info["sidelink_up_bytes"] == 0 and info["sidelink_down_bytes"] == 0 for _, info in done)


def test_peer_part_too_big_for_the_peer_is_infeasible_with_the_reason():
    # ResNet-18's rest (44 MB of weights at cut 0) cannot fit a Cortex-M4 peer (256 KiB).
    profile = load_profile("resnet18_style", "fp32")
    with SplitInferenceEnv(**QUIET, peer_device="cortex-m4", failure_penalty=7.0) as env:
        env.reset(seed=1)
        _, reward, _, _, info = env.step(np.array([0, 2]))
        assert info["infeasible"] == 1 and info["infeasible_peer"] == 1 and info["failed"] == 1
        assert reward == pytest.approx(-(2.0 + 1.0 + 7.0))  # timeout, deadline and failure penalties
        need = int(peer_memory_bytes(profile)[0])
        assert f"peer part of cut 0 needs {need} bytes" in info["infeasible_reason"]
        assert "cortex-m4" in info["infeasible_reason"]
        # The same cut on the edge is fine.
        _, _, _, _, info = env.step(np.array([0, 0]))
        assert info["infeasible"] == 0 and info["infeasible_peer"] == 0 and info["infeasible_reason"] == ""


def test_greedy_picks_the_peer_at_the_cell_edge():
    # A 5 MHz UMa cell of 2 km inter-site distance: a slow uplink; the peer 10 m away on a 20 MHz sidelink.
    cell_edge = dict(ues=1, task_rate_hz=0.5, scenario="UMa", frequency_hz=3.5e9, bandwidth_hz=5e6,
                     numerology=0, isd_m=2000.0, fast_fading=False, peer_distance_m=10.0, episode_steps=6)
    with SplitInferenceEnv(**cell_edge) as env:
        greedy = env.baseline_policies()["greedy"]
        obs, _ = env.reset(seed=1)
        assert obs["sidelink_mbps"][0] > 5 * obs["uplink_mbps"][0]
        targets = []
        for _ in range(5):
            action = greedy(obs)
            targets.append(int(action[1]))
            obs, *_ = env.step(action)
    assert targets.count(2) >= 4, targets


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"peer_device": "toaster"}, "peer_device"),
        ({"peer_device": "edge-gpu-server"}, "peer_device"),
        ({"peer_distance_m": 0.0}, "peer_distance_m"),
        ({"sidelink_mode": "telepathy"}, "sidelink_mode"),
        ({"sidelink_subchannel_rbs": 200}, "sidelink_subchannel_rbs"),
        ({"sidelink_bandwidth_hz": 7.3e6}, "sidelink_bandwidth_hz"),
        ({"sidelink_numerology": 9}, "sidelink_numerology"),
    ],
)
def test_bad_peer_and_sidelink_settings_are_refused_naming_the_field(overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        SplitInferenceEnv(**overrides)


def test_out_of_range_target_is_refused():
    with SplitInferenceEnv(**QUIET) as env:
        env.reset(seed=1)
        with pytest.raises(ValueError, match="outside MultiDiscrete"):  # checked before it reaches ns-3
            env.step(np.array([0, 3]))


def test_same_seed_same_peer_results():
    def run(env, seed):
        env.reset(seed=seed)
        out = []
        for k in range(6):
            _, reward, _, _, info = env.step(np.array([(3 * k) % env.n_cuts, 2]))
            out.append((reward, info["latency_ms"], info["uplink_ms"], info["sidelink_up_bytes"],
                        info["sidelink_down_bytes"]))
        return out

    with SplitInferenceEnv(ues=2, task_rate_hz=5.0, episode_steps=10) as env:
        a, b, c = run(env, 3), run(env, 3), run(env, 4)
    np.testing.assert_array_equal(np.array(a, dtype=float), np.array(b, dtype=float))  # NaNs compare equal
    assert a[-1][3] > 0  # the peer tasks used the sidelink
    assert not np.array_equal(np.array(a, dtype=float), np.array(c, dtype=float), equal_nan=True)


def test_peer_tasks_complete_in_sidelink_mode_2_with_a_lower_rate_estimate():
    rates = {}
    for mode in ("scheduled", "autonomous"):
        with SplitInferenceEnv(**QUIET, sidelink_mode=mode) as env:
            obs, _ = env.reset(seed=1)
            rates[mode] = float(obs["sidelink_mbps"][0])
            done = completed_infos(env, [0, 2], 4)
        assert done and all(info["sidelink_up_bytes"] > 0 for _, info in done), mode
    # Mode 2: one of the 5 sub-channels every 2 slots; mode 1: all 5 in every slot (one link).
    assert 0 < rates["autonomous"] < rates["scheduled"] / 4


def test_greedy_edge_never_picks_the_peer():
    from ns6g.envs.split_inference import EDGE, PEER, GreedySplitPolicy, SplitInferenceConfig

    config = SplitInferenceConfig()
    # A slow uplink and a fast sidelink: the full greedy takes the peer, the device-edge one cannot.
    observation = {"uplink_mbps": np.array([0.5]), "sidelink_mbps": np.array([100.0])}
    assert GreedySplitPolicy(config)(observation)[1] == PEER
    assert GreedySplitPolicy(config, targets=(EDGE,))(observation)[1] == EDGE
    with pytest.raises(ValueError, match="targets"):
        GreedySplitPolicy(config, targets=(7,))

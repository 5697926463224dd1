"""ns6g/MultiAccessInference-v0: per-task paths (local, roadside unit, V2V) and failover when the RSU fails."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import ns6g.envs  # noqa: F401
from ns6g.core.config import ConfigError
from ns6g.envs.multi_access import LOCAL, RSU, MultiAccessEnv

FAIL_AT_S = 3.0
# The RSU fails for good at 3 s; a 10 MHz sidelink makes the RSU the faster path while it is up.
FAILOVER = dict(helpers=3, rsu_fail_at_s=FAIL_AT_S, episode_steps=60, task_timeout_s=0.5)


def play(env, policy, seed=1):
    """One episode: per step (decision time s, action, info). The decision time of a step's action is the
    simulated time at which its task arrived (the previous step's or the reset's ``sim_time_s``); a policy
    with a ``now`` attribute is told it before each decision."""
    observation, info = env.reset(seed=seed)
    rows, now = [], info["sim_time_s"]
    while True:
        if hasattr(policy, "now"):
            policy.now = now
        action = int(policy(observation))
        observation, _, terminated, truncated, info = env.step(action)
        rows.append((now, action, info))
        now = info["sim_time_s"]
        if terminated or truncated:
            return rows


class SwitchAtFailure:
    """The RSU until the (scripted, known) failure time, then the nearest vehicle in range: a policy that
    switches to V2V."""

    def __init__(self, fail_at_s):
        self.fail_at_s, self.now = fail_at_s, 0.0

    def __call__(self, observation):
        if self.now < self.fail_at_s:
            return RSU
        distance = np.asarray(observation["distance_m"])[1:].astype(float)
        distance[np.asarray(observation["in_range"]) < 0.5] = np.inf
        return LOCAL if not np.isfinite(distance.min()) else 2 + int(np.argmin(distance))


def after(rows, t):
    """Steps whose decision came after time t."""
    return [r for r in rows if r[0] > t]


def test_passes_gymnasium_and_sb3_checkers():
    with MultiAccessEnv(helpers=2, episode_steps=10) as env:
        check_env(env, skip_render_check=True)
        sb3_check_env(env)
    assert "ns6g/MultiAccessInference-v0" in gym.registry


@pytest.fixture(scope="module")
def failover_env():
    with MultiAccessEnv(**FAILOVER) as env:
        yield env


def test_tasks_sent_to_a_failed_rsu_fail_and_the_rsu_carries_them_before(failover_env):
    rows = play(failover_env, lambda _: RSU)
    before = [r for r in rows if r[0] < FAIL_AT_S - 0.5]
    assert sum(r[2]["completed_rsu"] for r in before) >= 0.9 * len(before) > 10  # the RSU serves while up
    assert not any(r[2]["rsu_failed"] for r in before)
    late = after(rows, FAIL_AT_S)
    assert late and all(r[2]["rsu_failed"] == 1 for r in late)
    # Nothing the RSU gets after the failure comes back: every task decided then fails (time-out).
    assert sum(r[2]["completed_rsu"] for r in late) == 0
    failed = sum(r[2]["failed_rsu"] for r in rows)
    assert failed >= len(late)
    assert sum(r[2]["timeouts"] for r in rows) == failed  # the RSU's tasks time out (none is refused)


def test_a_policy_that_switches_to_v2v_keeps_completing_tasks(failover_env):
    rows = play(failover_env, SwitchAtFailure(FAIL_AT_S))
    late = after(rows, FAIL_AT_S + FAILOVER["task_timeout_s"])
    assert len(late) > 10
    assert all(r[1] >= 2 for r in late)  # a vehicle was in range for every task (this trace, this seed)
    completed = sum(r[2]["completed_v2v"] for r in late)
    assert completed >= 0.9 * len(late)
    assert sum(r[2]["failed_v2v"] + r[2]["rejected"] for r in late) == 0
    # The same tasks sent to the failed RSU would all have failed.
    rsu_rows = play(failover_env, lambda _: RSU)
    assert sum(r[2]["completed_rsu"] + r[2]["completed_v2v"] for r in after(rsu_rows, FAIL_AT_S)) == 0


def test_least_latency_switches_from_the_rsu_to_v2v_after_the_failure(failover_env):
    policy = failover_env.baseline_policies()["least_latency"]
    rows = play(failover_env, policy)
    # Before the failure (after trying each path once) it keeps to the RSU, the fastest path here.
    settled = [r for r in rows if 1.0 < r[0] < FAIL_AT_S]
    assert settled and np.mean([r[1] == RSU for r in settled]) >= 0.8
    # Once an RSU task has waited longer than the other paths' latencies, it moves to a vehicle for good.
    late = after(rows, FAIL_AT_S + FAILOVER["task_timeout_s"])
    assert late and all(r[1] >= 2 for r in late)
    assert sum(r[2]["completed_v2v"] for r in late) >= 0.9 * len(late)
    # It switches well before the RSU's tasks time out: it sees their age, not only their failures.
    first_v2v = min(r[0] for r in after(rows, FAIL_AT_S) if r[1] >= 2)
    assert first_v2v < FAIL_AT_S + FAILOVER["task_timeout_s"]


def test_observation_shows_the_failure_only_through_the_vehicles_own_tasks(failover_env):
    observation, _ = failover_env.reset(seed=2)
    ages = []
    while True:
        observation, _, _, truncated, info = failover_env.step(RSU)
        ages.append((info["sim_time_s"], float(observation["rsu_ack_age_ms"][0]), float(observation["rsu_mbps"][0])))
        if truncated:
            break
    up = [a for t, a, _ in ages if 1.0 < t < FAIL_AT_S]
    down = [(t, a) for t, a, _ in ages if t > FAIL_AT_S + 1.0]
    assert max(up) < 1000.0  # results keep coming back
    assert all(a >= (t - FAIL_AT_S) * 1e3 for t, a in down)  # none since the failure
    assert min(m for _, _, m in ages) > 0  # the channel estimate does not see the failure


def test_same_seed_same_results():
    with MultiAccessEnv(**FAILOVER) as env:
        policy = env.baseline_policies()["least_latency"]
        runs = []
        for _ in range(2):
            rows = play(env, policy, seed=7)
            runs.append([(t, a, info["latency_ms"], info["energy_j"], info["failed"]) for t, a, info in rows])
    assert runs[0] == runs[1]


def test_masks_follow_the_range_and_a_masked_vehicle_is_refused():
    with MultiAccessEnv(helpers=3, v2v_range_m=60.0, episode_steps=40) as env:
        observation, _ = env.reset(seed=1)
        seen_out = seen_in = False
        for _ in range(40):
            masks = env.action_masks()
            in_range = np.asarray(observation["in_range"]) > 0.5
            assert masks.dtype == bool and masks.shape == (5,)
            assert masks[LOCAL] and masks[RSU]  # the RSU is never masked
            assert (masks[2:] == in_range).all()
            assert ((np.asarray(observation["distance_m"])[1:] <= 60.0) == in_range).all()
            out = np.flatnonzero(~masks)
            if out.size:
                seen_out = True
                observation, _, _, truncated, info = env.step(int(out[0]))
                assert info["rejected"] == 1 and info["failed"] >= 1
            else:
                observation, _, _, truncated, info = env.step(RSU)
                assert info["rejected"] == 0
            seen_in |= bool(in_range.any())
            if truncated:
                break
    assert seen_out and seen_in  # this trace has vehicles both in and out of 60 m


def test_offloaded_bytes_travel_as_real_flows():
    """The frame's size sets the upload time: ten times the bytes take longer on the same path."""
    latency = {}
    for frame in (20_000, 400_000):
        with MultiAccessEnv(helpers=1, frame_bytes=frame, task_rate_hz=2.0, fast_fading=False,
                            episode_steps=12) as env:
            rows = play(env, lambda _: RSU)
            latency[frame] = np.nanmedian([r[2]["latency_ms"] for r in rows if r[2]["completed_rsu"] > 0])
    assert latency[400_000] > latency[20_000] + 400_000 * 8 / 240e6 * 1e3  # at most 12 bit/s/Hz x 20 MHz


def test_random_failures_are_repaired():
    with MultiAccessEnv(helpers=1, rsu_mtbf_s=1.0, rsu_down_s=0.5, episode_steps=80) as env:
        rows = play(env, lambda _: RSU, seed=3)
    states = [r[2]["rsu_failed"] for r in rows]
    changes = sum(a != b for a, b in zip(states, states[1:]))
    assert changes >= 2 and 0 < np.mean(states) < 1  # down and up again, more than once
    assert sum(r[2]["completed_rsu"] for r in rows) > 0 and sum(r[2]["failed_rsu"] for r in rows) > 0


@pytest.mark.parametrize("overrides, key", [
    ({"helpers": 0}, "helpers"),
    ({"rsu_offset_m": 5.0}, "rsu_offset_m"),
    ({"speed_min_mps": 40.0}, "speed_min_mps"),
    ({"device": "cloud-gpu"}, "device"),
    ({"helper_device": "toaster"}, "helper_device"),
    ({"rsu_mtbf_s": 10.0}, "rsu_down_s"),
    ({"model": "vgg99"}, "model"),
    ({"v2v_range_m": -1.0}, "v2v_range_m"),
    ({"rsu_fail_at_s": -2.0}, "rsu_fail_at_s"),
    ({"sidelink_bandwidth_hz": 1e3}, "sidelink_bandwidth_hz"),
    ({"sidelink_bandwidth_hz": 7.3e6}, "sidelink_bandwidth_hz"),  # not a carrier the PHY model knows
    ({"sidelink_mode": "telepathy"}, "sidelink_mode"),
    # A sub-channel wider than the default 10 MHz carrier's 24 RBs, at the widest numerology's 1 RB, and of
    # a 180 kHz, 1-RB carrier: the scenario would have no sub-channel (SidelinkFields' check).
    ({"sidelink_subchannel_rbs": 25}, "sidelink_subchannel_rbs"),
    ({"sidelink_numerology": 6, "sidelink_frequency_hz": 60e9, "sidelink_bandwidth_hz": 400e6,
      "sidelink_subchannel_rbs": 275}, "sidelink_subchannel_rbs"),
    ({"sidelink_bandwidth_hz": 180e3, "sidelink_numerology": 0}, "sidelink_subchannel_rbs"),
])
def test_bad_config_refused_by_name(overrides, key, monkeypatch):
    import ns6g.envs.base as base

    monkeypatch.setattr(base, "Bridge", lambda *a, **k: pytest.fail("a process was started"))
    with pytest.raises(ConfigError, match=key):
        MultiAccessEnv(**overrides)


def test_sidelink_settings_are_the_shared_declaration_with_a_10_mhz_default():
    """The sidelink_* fields are SidelinkFields' (one declaration: bounds, description, carrier check); only
    the default bandwidth is the environment's own."""
    from ns6g.radio.sidelink import SidelinkFields, sidelink_fields

    config = MultiAccessEnv.config_class
    assert issubclass(config, SidelinkFields)
    for name, shared in SidelinkFields.model_fields.items():
        own = config.model_fields[name]
        assert (own.annotation, own.metadata, own.description) == (shared.annotation, shared.metadata,
                                                                   shared.description), name
        assert own.default == (10e6 if name == "sidelink_bandwidth_hz" else shared.default), name
    assert config().sidelink_bandwidth_hz == 10e6
    assert config(sidelink_bandwidth_hz=20e6, sidelink_subchannel_rbs=51).sidelink_subchannel_rbs == 51  # 51 RBs

    assert sidelink_fields() is SidelinkFields and sidelink_fields(sidelink_bandwidth_hz=10e6) in config.__mro__
    with pytest.raises(TypeError, match="sidelink_bandwith_hz"):
        sidelink_fields(sidelink_bandwith_hz=10e6)  # a misspelt name is not a new field


def test_sidelink_subchannel_that_fills_the_carrier_runs():
    """The widest sub-channel the config accepts (all 24 RBs of the 10 MHz carrier: one sub-channel) runs in
    the scenario, over the sidelink."""
    with MultiAccessEnv(helpers=1, sidelink_subchannel_rbs=24, v2v_range_m=10_000, episode_steps=10) as env:
        rows = play(env, lambda _: RSU + 1)
    assert sum(r[2]["completed_v2v"] for r in rows) > 0


def test_rsu_failover_leaves_the_failed_rsu_probes_it_and_returns_after_the_repair():
    down_s = 1.5
    with MultiAccessEnv(**{**FAILOVER, "rsu_down_s": down_s, "episode_steps": 80}) as env:
        rows = play(env, env.reference_policies()["rsu_failover"].policy)
        never = play(env, env.baseline_policies()["best_vehicle"])
    repaired_s = FAIL_AT_S + down_s
    before = [r for r in rows if 0.5 < r[0] < FAIL_AT_S]
    outage = [r for r in rows if FAIL_AT_S + 0.2 < r[0] < repaired_s]
    back = after(rows, repaired_s + FAILOVER["task_timeout_s"] + 0.2)
    assert before and all(r[1] == RSU for r in before)  # the RSU while it answers
    # While it is down, mostly vehicles, with a probe to the RSU now and then (at most one out at a time).
    probes = sum(r[1] == RSU for r in outage)
    assert outage and 1 <= probes <= len(outage) / 3 and all(r[1] != LOCAL for r in outage)
    # A probe after the repair finds it: the RSU again, and it completes tasks.
    assert back and np.mean([r[1] == RSU for r in back]) >= 0.8
    assert sum(r[2]["completed_rsu"] for r in back) > 0
    # best_vehicle never uses the RSU.
    assert all(r[1] >= 2 for r in never)

"""Every environment's reward: a degenerate policy (idle, starve, drop, refuse, end the episode early, ...)
does not beat the sensible baselines on the documented reward.

Each test names the hole it closes; on the code before issue 12 the starving, refusing, battery-burning
and single-client policies won (see the comments)."""

import numpy as np
import pytest

import ns6g.envs  # noqa: F401
from ns6g.apps.evaluation import evaluate_contenders
from ns6g.envs.base import ScenarioEnv
from ns6g.envs.policies import ConstantPolicy, Contender

SEEDS = (1, 2)


def mean_returns(env_id: str, kwargs: dict, degenerate: dict, seeds=SEEDS, baselines=None) -> dict[str, float]:
    """Mean episode return per contender: the environment's baselines (or the named ones) and `degenerate`
    (name -> policy)."""
    import gymnasium as gym

    probe = gym.make(env_id, **kwargs)
    try:
        contenders = probe.unwrapped.baselines(0)
    finally:
        probe.close()
    if baselines is not None:
        contenders = {name: contenders[name] for name in baselines}
    contenders = {**contenders, **{name: Contender(p) for name, p in degenerate.items()}}
    episodes = evaluate_contenders(env_id, kwargs, contenders, list(seeds))
    return episodes.groupby("policy")["return"].mean().to_dict()


def assert_worse(returns: dict[str, float], degenerate, baselines) -> None:
    best = max(returns[b] for b in baselines)
    for name in degenerate:
        assert returns[name] < best, f"{name} scored {returns[name]:.4g}, the best baseline {best:.4g}: {returns}"


# ------------------------------------------------------------------------------------------------
# SpectrumAllocation


def _rbg_policies(kwargs: dict) -> dict:
    """All RBGs to UE 0 (starves the others) and no RBG used at all (idle)."""
    import gymnasium as gym

    env = gym.make("ns6g/SpectrumAllocation-v0", **kwargs)
    n, ues = len(env.action_space.nvec), int(env.unwrapped.config.ues)
    env.close()
    return {"all_to_ue0": ConstantPolicy(np.zeros(n, dtype=np.int64)),
            "idle": ConstantPolicy(np.full(n, ues, dtype=np.int64))}


def test_starving_ues_loses_on_deadline_violations():
    # The reproducer of issue 12: before, only packets delivered in the interval counted, so starving
    # UEs (their packets stay queued or are dropped) or using no RBG at all scored 0 violations, the best.
    kwargs = dict(ues=4, traffic="cbr", ue_rate_mbps=5.0, reward="deadline_violations", deadline_ms=20.0,
                  episode_steps=40)
    degenerate = _rbg_policies(kwargs)
    returns = mean_returns("ns6g/SpectrumAllocation-v0", kwargs, degenerate,
                           baselines=["round_robin", "proportional_fair"])
    for name in degenerate:
        for baseline in ("round_robin", "proportional_fair"):
            assert returns[name] < returns[baseline] - 1.0, returns
    # Idle: every packet due misses its deadline, so each interval after the first deadline scores -1.
    steps_after_deadline = 40 - 20.0 / 5.0  # 5 ms decision intervals (10 slots of 0.5 ms)
    assert returns["idle"] == pytest.approx(-steps_after_deadline, abs=1.5)


def test_packets_due_do_not_depend_on_the_policy():
    # The denominator of deadline_violations: every packet whose deadline passed in the interval, so
    # an idle policy faces exactly as many packets as PF, and PF at a light load misses almost none.
    from ns6g.envs.spectrum_allocation import SpectrumAllocationEnv

    kwargs = dict(ues=4, traffic="cbr", ue_rate_mbps=5.0, packet_bytes=1200, reward="deadline_violations",
                  deadline_ms=20.0, episode_steps=30)
    due, fractions = {}, {}
    for name, overrides in (("idle", {}), ("pf", {"scheduler": "pf"})):
        with SpectrumAllocationEnv(**kwargs, **overrides) as env:
            env.reset(seed=1)
            idle = np.full(len(env.action_space.nvec), env.config.ues, dtype=np.int64)
            infos = [env.step(idle)[4] for _ in range(30)]
        due[name] = [i["packets_due"] for i in infos]
        fractions[name] = np.mean([i["deadline_violation_fraction"] for i in infos[5:]])
    assert due["idle"] == due["pf"]
    # 4 UEs x 5 Mbit/s in 1200-byte payloads: ~2083 packets/s, ~10.4 per 5 ms interval once due.
    assert np.mean(due["pf"][5:]) == pytest.approx(4 * 5e6 / (1200 * 8) * 0.005, rel=0.1)
    assert due["pf"][:3] == [0, 0, 0]  # nothing is due before the first 20 ms
    assert fractions["idle"] == 1.0 and fractions["pf"] < 0.05


def test_deadline_violations_needs_timestamped_traffic_the_cell_can_carry():
    from ns6g.core.config import ConfigError
    from ns6g.envs.spectrum_allocation import SpectrumAllocationEnv

    with pytest.raises(ConfigError, match="tcp_bulk"):
        SpectrumAllocationEnv(reward="deadline_violations", traffic="tcp_bulk")
    # Under full buffer every policy misses nearly every deadline and serving one UE scored best.
    with pytest.raises(ConfigError, match="full_buffer keeps every queue full"):
        SpectrumAllocationEnv(reward="deadline_violations")


@pytest.mark.parametrize("reward", ["sum_rate", "pf_utility", "jain"])
def test_idling_or_one_ue_does_not_beat_the_schedulers(reward):
    # jain: before, an idle cell (every throughput 0) counted as perfectly fair (1), the best score.
    # sum_rate rewards bits, fair or not: all RBGs to one good UE may carry the most (it is max rate's
    # goal), so only idling is degenerate there.
    kwargs = dict(ues=4, reward=reward, episode_steps=15)
    degenerate = _rbg_policies(kwargs)
    if reward == "sum_rate":
        del degenerate["all_to_ue0"]
    returns = mean_returns("ns6g/SpectrumAllocation-v0", kwargs, degenerate, seeds=(1,))
    assert_worse(returns, degenerate, ["round_robin", "proportional_fair", "max_rate"])


# ------------------------------------------------------------------------------------------------
# LinkControl


def test_lowest_or_flooding_rate_does_not_beat_a_fitting_rate():
    kwargs = dict(episode_steps=40)
    import gymnasium as gym

    env = gym.make("ns6g/LinkControl-v0", **kwargs)
    levels = env.unwrapped.config.rate_levels
    env.close()
    degenerate = {"lowest": ConstantPolicy(0), "flood": ConstantPolicy(levels - 1)}
    fitting = {f"level-{i}": ConstantPolicy(i) for i in (2, 3, 4)}  # 4.5, 6 and 7.5 Mbit/s on 10 Mbit/s
    returns = mean_returns("ns6g/LinkControl-v0", kwargs, {**degenerate, **fitting}, baselines=[])
    assert_worse(returns, degenerate, fitting)


# ------------------------------------------------------------------------------------------------
# MecOffload and SplitInference (the shared MecTaskEngine)


def test_mec_offload_draining_the_battery_to_end_early_does_not_pay():
    # Every reward is a cost, so ending the episode early used to pay: with a 0.5 J battery all_local
    # (0.6 J per task on the Raspberry Pi) ends the episode after its first task; with a 10 ms deadline
    # that every offloaded task misses too, that scored best.
    kwargs = dict(cells=1, ues=2, battery_j=0.5, deadline_ms=10.0, episode_steps=20)
    returns = mean_returns("ns6g/MecOffload-v0", kwargs, {}, baselines=["all_local", "nearest_edge"])
    assert returns["all_local"] < returns["nearest_edge"], returns


def test_mec_every_decided_task_is_counted_once():
    # Tasks still running at the episode's end used to fall out of the count (and out of the reward):
    # all_local at 10 tasks/s per device keeps several queued on the 167 ms-per-task processors.
    from ns6g.envs.mec_offload import MecOffloadEnv

    with MecOffloadEnv(cells=1, ues=2, task_rate_hz=10.0, episode_steps=20) as env:
        policy = env.baseline_policies()["all_local"]
        observation, _ = env.reset(seed=1)
        finished, last = 0, None
        for _ in range(20):
            observation, reward, terminated, truncated, last = env.step(policy(observation))
            finished += last["completed"] + last["failed"]
        assert truncated and not terminated
    assert finished == 20
    assert last["completed"] + last["failed"] > 1  # the last step settled the tasks still queued


def test_mec_offload_an_overloaded_far_target_does_not_beat_the_baselines():
    # 3e12 FLOPs per task: one edge server (30 TFLOP/s) takes 0.1 s a task, so all six devices' tasks
    # on it (12 per second) overload it; the lowest uplink share slows every upload too.
    kwargs = dict(cells=3, ues=6, task_flops=3e12, episode_steps=40)
    degenerate = {"edge0_lowest_share": ConstantPolicy(np.array([1, 0], dtype=np.int64))}
    returns = mean_returns("ns6g/MecOffload-v0", kwargs, degenerate, seeds=(1,),
                           baselines=["nearest_edge", "least_loaded"])
    assert_worse(returns, degenerate, ["nearest_edge", "least_loaded"])


def test_split_inference_refusing_every_task_does_not_pay():
    # Cut 0 to the D2D peer needs the whole model on the peer, which a Cortex-M4 cannot hold: every task
    # fails at once. Such a failure used to cost only failure_penalty (latency and energy 0), so with
    # failure_penalty=0 refusing every task scored 0, the best possible.
    kwargs = dict(ues=2, peer_device="cortex-m4", failure_penalty=0.0, episode_steps=20)
    degenerate = {"refuse": ConstantPolicy(np.array([0, 2], dtype=np.int64))}
    returns = mean_returns("ns6g/SplitInference-v0", kwargs, degenerate,
                           baselines=["all_local", "all_edge", "greedy_edge"])
    assert_worse(returns, degenerate, ["all_local", "all_edge", "greedy_edge"])


# ------------------------------------------------------------------------------------------------
# D2DRelay


def test_d2d_no_relay_or_far_relay_does_not_beat_the_relay_baselines():
    kwargs = dict(remotes=2, relays=3, remote_rate_mbps=10.0, energy_weight=1.0, episode_steps=15)
    remotes = kwargs["remotes"]

    def farthest(observation):  # the farthest relay, every remote on sub-channel 0 (they collide)
        relay = np.argmax(np.asarray(observation["distance_m"]), axis=1) + 1
        return np.concatenate([relay, np.zeros(remotes, dtype=np.int64)])

    degenerate = {"no_relay": ConstantPolicy(np.zeros(2 * remotes, dtype=np.int64)), "farthest": farthest}
    returns = mean_returns("ns6g/D2DRelay-v0", kwargs, degenerate, baselines=["nearest_relay", "best_two_hop"])
    assert_worse(returns, degenerate, ["nearest_relay", "best_two_hop"])


def test_d2d_no_relay_is_not_free():
    # Before, only the relays' transmit energy cost reward: remotes sending straight from the cell edge
    # (long airtime at full power) spent nothing, so with energy_weight=10 "no relay" beat every relay
    # baseline (160 against 75) while spending as much energy per delivered bit. Now every UE's
    # transmit energy counts, the remotes' included.
    from ns6g.envs.d2d_relay import D2DRelayEnv

    with D2DRelayEnv(remotes=2, relays=3, remote_rate_mbps=10.0, energy_weight=10.0, episode_steps=6) as env:
        env.reset(seed=1)
        for _ in range(6):
            _, reward, _, _, info = env.step(np.zeros(len(env.action_space.nvec), dtype=np.int64))
            assert info["relayed_remotes"] == 0 and info["ue_energy_mj"] > 0
            assert reward == pytest.approx(info["delivered_mbps"] - 10.0 * info["ue_energy_mj"])


# ------------------------------------------------------------------------------------------------
# FslOrchestration


def test_fsl_one_client_rounds_do_not_beat_everyone_taking_part():
    # The round's cost (time and energy) shrinks with fewer participants; before, training one client's
    # data per round scored better than a whole round, though it trains a fraction of the data.
    from ns6g.envs.fsl_orchestration import FslOrchestrationEnv

    with FslOrchestrationEnv(clients=4, choose_participation=True, episode_rounds=2) as env:
        top = [len(env.config.share_levels) - 1] * 4
        only_first = env.encode([2] * 4, top, [1, 0, 0, 0])
        everyone = env.encode([2] * 4, top, [1, 1, 1, 1])
        nobody = env.encode([2] * 4, top, [0, 0, 0, 0])  # none chosen: everyone takes part
        returns = {}
        for name, action in (("only_first", only_first), ("everyone", everyone), ("nobody", nobody)):
            total = 0.0
            for seed in SEEDS:
                env.reset(seed=seed)
                done = False
                while not done:
                    _, reward, terminated, truncated, _ = env.step(action)
                    total += reward
                    done = terminated or truncated
            returns[name] = total / len(SEEDS)
    assert returns["only_first"] < returns["everyone"], returns
    assert returns["nobody"] == pytest.approx(returns["everyone"]), returns

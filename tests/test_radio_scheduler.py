"""The RAN scheduler model (ran/model/ran-scheduler.*), asked through ns6g.radio.scheduler."""

import numpy as np
import pytest

from ns6g.core.bridge import ScenarioError
from ns6g.radio.scheduler import (
    decode_action,
    deadline_violation_fraction,
    encode_action,
    jain_index,
    proportional_fair_utility,
    replay_external,
    reward,
    simulate_scheduler,
    sum_rate,
    validate_allocation,
)

UNEQUAL = [1000.0, 300.0, 100.0, 30.0]  # mean bits per RBG: about 15 dB between best and worst UE


@pytest.mark.parametrize("means", [[500.0] * 4, UNEQUAL, [2000.0, 10.0, 700.0]], ids=["equal", "unequal", "three"])
def test_round_robin_gives_equal_rbg_shares(means):
    n_rbgs, n_slots = 7, 1001  # 7007 RBGs: not a multiple of the UE count
    df = simulate_scheduler("rr", means, n_rbgs=n_rbgs, n_slots=n_slots, seed=3)
    shares = df["rbgs_allocated"].to_numpy()
    assert shares.sum() == n_rbgs * n_slots
    assert shares.max() - shares.min() <= 1
    assert df["slots_served"].min() == n_slots  # 7 RBGs per slot reach every UE every slot


def test_proportional_fair_is_fairer_than_max_rate():
    runs = {p: simulate_scheduler(p, UNEQUAL, n_rbgs=10, n_slots=4000, seed=1) for p in ("pf", "mr")}
    jain = {p: jain_index(df["mean_throughput_bps"]) for p, df in runs.items()}
    assert jain["pf"] > jain["mr"] + 0.05
    # PF shares RBGs about equally over time; MR gives most of them to the best UE.
    pf_shares = runs["pf"]["rbgs_allocated"].to_numpy() / (10 * 4000)
    assert np.allclose(pf_shares, 0.25, atol=0.02)
    assert runs["mr"]["rbgs_allocated"].iloc[0] > 0.6 * 10 * 4000


def test_max_rate_maximises_sum_throughput():
    total = {
        p: simulate_scheduler(p, UNEQUAL, n_rbgs=10, n_slots=4000, seed=2)["mean_throughput_bps"].sum()
        for p in ("rr", "pf", "mr")
    }
    assert total["mr"] >= total["pf"] * 0.999
    assert total["pf"] >= total["rr"] * 0.999
    # Equal channels: PF and MR both exploit fading and beat channel-blind RR clearly.
    equal = {
        p: simulate_scheduler(p, [500.0] * 4, n_rbgs=10, n_slots=4000, seed=2)["mean_throughput_bps"].sum()
        for p in ("rr", "pf", "mr")
    }
    assert equal["mr"] >= equal["pf"] * 0.999 and equal["pf"] > 1.5 * equal["rr"]


def test_draws_follow_the_requested_means_whatever_the_policy():
    a = simulate_scheduler("rr", UNEQUAL, n_rbgs=10, n_slots=3000, seed=9)
    b = simulate_scheduler("mr", UNEQUAL, n_rbgs=10, n_slots=3000, seed=9)
    assert np.array_equal(a["mean_achievable_bits_per_rbg"], b["mean_achievable_bits_per_rbg"])
    assert np.allclose(a["mean_achievable_bits_per_rbg"], UNEQUAL, rtol=0.03)


@pytest.mark.parametrize("policy", ["rr", "pf", "mr"])
def test_buffer_limited_ue_leaves_rbgs_to_others(policy):
    n_rbgs, n_slots, arrival = 10, 2000, 100.0  # 800 bits a slot: about one RBG of 1000
    limited = simulate_scheduler(
        policy, [1000.0] * 4, n_rbgs=n_rbgs, n_slots=n_slots, seed=4,
        buffer_bytes=[0.0, np.inf, np.inf, np.inf], arrival_bytes_per_slot=[arrival, 0.0, 0.0, 0.0],
    )
    full = simulate_scheduler(policy, [1000.0] * 4, n_rbgs=n_rbgs, n_slots=n_slots, seed=4)
    rbgs = limited["rbgs_allocated"].to_numpy()
    assert rbgs.sum() == n_rbgs * n_slots  # nothing wasted: the others take what UE 0 does not need
    fair = n_rbgs * n_slots / 4
    assert rbgs[0] < 0.75 * fair and rbgs[1:].min() > fair
    assert limited["bits_delivered"].iloc[0] == pytest.approx(arrival * 8 * n_slots, rel=0.01)
    assert limited["buffer_bytes"].iloc[0] < 10 * arrival
    assert (limited["mean_throughput_bps"].iloc[1:].to_numpy() > full["mean_throughput_bps"].iloc[1:].to_numpy()).all()


def test_finite_buffer_drains_and_then_gets_nothing():
    df = simulate_scheduler("mr", [1000.0, 10.0], n_rbgs=4, n_slots=200, seed=5, buffer_bytes=[2000.0, np.inf])
    assert df["bits_delivered"].iloc[0] == pytest.approx(16000.0)
    assert df["buffer_bytes"].iloc[0] == 0.0
    assert df["rbgs_allocated"].sum() == 4 * 200
    empty = simulate_scheduler("pf", [1000.0, 1000.0], n_rbgs=4, n_slots=50, buffer_bytes=0.0)
    assert (empty["rbgs_allocated"] == 0).all() and (empty["bits_delivered"] == 0).all()


@pytest.mark.parametrize("policy", ["rr", "pf", "mr"])
def test_same_seed_same_result(policy):
    a = simulate_scheduler(policy, UNEQUAL, n_rbgs=8, n_slots=500, seed=11)
    b = simulate_scheduler(policy, UNEQUAL, n_rbgs=8, n_slots=500, seed=11)
    c = simulate_scheduler(policy, UNEQUAL, n_rbgs=8, n_slots=500, seed=12)
    assert a.equals(b)
    assert not np.array_equal(a["bits_delivered"], c["bits_delivered"])


def test_unknown_policy_is_refused():
    with pytest.raises(ScenarioError, match=r"unknown scheduler 'wfq'; valid names: rr .*pf .*mr .*external"):
        simulate_scheduler("wfq", UNEQUAL, n_rbgs=4, n_slots=10)
    with pytest.raises(ScenarioError, match="external_action"):
        simulate_scheduler("external", UNEQUAL, n_rbgs=4, n_slots=10)


def test_bad_workloads_are_refused():
    with pytest.raises(ScenarioError, match="UE 1: mean_bits_per_rbg must be finite and >= 0"):
        simulate_scheduler("rr", [1.0, -5.0], n_rbgs=4, n_slots=10)
    with pytest.raises(ScenarioError, match="slot_s must be finite and > 0"):
        simulate_scheduler("rr", [1.0, 5.0], n_rbgs=4, n_slots=10, slot_s=0.0)
    simulate_scheduler("rr", [1.0], n_rbgs=2, n_slots=3)  # still answering


def test_validate_allocation_accepts_and_returns_per_rbg():
    assert validate_allocation([2, -1, 0, 0], n_ues=3).tolist() == [2, -1, 0, 0]
    assert validate_allocation([[1, 0], [0, 2], [2, -1]], n_ues=3).tolist() == [2, 0, -1]


def test_validate_allocation_refuses_a_non_existent_ue():
    with pytest.raises(ScenarioError, match=r"RBG 2 is given to UE 3, which does not exist: there are 3 UEs \(0\.\.2\)"):
        validate_allocation([0, 1, 3, -1], n_ues=3)
    with pytest.raises(ScenarioError, match="RBG 1 is given to UE -2, which does not exist"):
        validate_allocation([0, -2], n_ues=3)


def test_validate_allocation_refuses_a_ue_twice_on_one_rbg():
    with pytest.raises(ScenarioError, match=r"RBG 1 is named twice \(UE 0 and UE 0\)"):
        validate_allocation([[0, 1], [1, 0], [1, 0]], n_ues=2, n_rbgs=2)
    with pytest.raises(ScenarioError, match=r"RBG 0 is named twice \(UE 0 and UE 1\)"):
        validate_allocation([[0, 0], [0, 1]], n_ues=2, n_rbgs=1)


def test_validate_allocation_refuses_a_wrong_length():
    with pytest.raises(ScenarioError, match="allocation has 3 entries but the slot has 4 RBGs: RBG 3 has no entry"):
        validate_allocation([0, 1, 2], n_ues=3, n_rbgs=4)
    with pytest.raises(ScenarioError, match=r"RBG 4 \(given to UE 0\) does not exist: the slot has 4 RBGs"):
        validate_allocation([0, 1, 2, 0, 0], n_ues=3, n_rbgs=4)


def test_action_encoding_round_trips():
    allocation = [2, -1, 0, 1, -1]
    action = encode_action(allocation, n_ues=3)
    assert action.tolist() == [2, 3, 0, 1, 3]
    assert decode_action(action, n_ues=3).tolist() == allocation
    with pytest.raises(ScenarioError, match=r"action for RBG 1 is 4; it must be a UE index 0\.\.2 or 3 for unused"):
        decode_action([0, 4], n_ues=3)
    with pytest.raises(ScenarioError, match="RBG 0 is given to UE 3"):
        encode_action([3], n_ues=3)


def test_external_scheduler_reapplies_the_agents_allocation_every_n_slots():
    applied = replay_external({0: [0, 1, 2], 4: [2, 2, -1]}, n_ues=3, n_rbgs=3, n_slots=7, every_n_slots=2)
    assert applied.shape == (7, 3)
    assert (applied[:4] == [0, 1, 2]).all() and (applied[4:] == [2, 2, -1]).all()
    # Before the agent's first allocation every RBG is unused.
    late = replay_external({2: [1, 1]}, n_ues=2, n_rbgs=2, n_slots=4, every_n_slots=2)
    assert late.tolist() == [[-1, -1], [-1, -1], [1, 1], [1, 1]]
    every = replay_external({s: [s % 2, -1] for s in range(5)}, n_ues=2, n_rbgs=2, n_slots=5)
    assert every[:, 0].tolist() == [0, 1, 0, 1, 0]


def test_external_scheduler_refuses_off_period_and_invalid_allocations():
    with pytest.raises(ScenarioError, match="slot 3 is not a decision slot: the agent decides every 2 slots"):
        replay_external({3: [0, 1]}, n_ues=2, n_rbgs=2, n_slots=6, every_n_slots=2)
    with pytest.raises(ScenarioError, match="invalid allocation for slot 2: RBG 1 is given to UE 5"):
        replay_external({0: [0, 1], 2: [0, 5]}, n_ues=2, n_rbgs=2, n_slots=6, every_n_slots=2)
    with pytest.raises(ScenarioError, match="every_n_slots must be >= 1"):
        replay_external({0: [0, 1]}, n_ues=2, n_rbgs=2, n_slots=6, every_n_slots=0)


def test_jain_index():
    assert jain_index([7.0] * 5) == pytest.approx(1.0)
    for n in (2, 4, 10):
        assert jain_index([0.0] * (n - 1) + [3.0]) == pytest.approx(1.0 / n)
    assert jain_index([1.0, 2.0, 3.0, 4.0]) == pytest.approx(100.0 / (4 * 30.0))
    assert jain_index([0.0, 0.0]) == 0.0  # idle is not fair: as a reward, 1 would make idling the best
    with pytest.raises(ScenarioError, match=r"JainIndex: value\[1\] is -1"):
        jain_index([1.0, -1.0])


def test_reward_metrics():
    throughputs = [1e6, 4e6, 0.0]
    assert sum_rate(throughputs) == pytest.approx(5e6)
    assert proportional_fair_utility(throughputs) == pytest.approx(np.log(1e6 + 1) + np.log(4e6 + 1) + 0.0)
    assert proportional_fair_utility([2e6, 2e6, 1.0]) > proportional_fair_utility([4e6, 0.0, 1.0])
    latencies = [0.010, 0.020, 0.030, np.inf]
    assert deadline_violation_fraction(latencies, 0.020) == pytest.approx(0.5)
    assert deadline_violation_fraction(latencies, 1.0) == pytest.approx(0.25)
    assert reward("sum_rate", throughputs) == pytest.approx(5e6)
    assert reward("jain", [1.0, 3.0]) == pytest.approx(0.8)
    assert reward("jain", [0.0, 0.0]) == 0.0
    assert reward("pf_utility", [1.0, 3.0]) == pytest.approx(np.log(2) + np.log(4))
    assert reward("deadline_violations", latencies, deadline_s=0.020) == pytest.approx(-0.5)
    with pytest.raises(ScenarioError, match="unknown reward 'latency'; valid names: sum_rate, pf_utility, deadline_violations, jain"):
        reward("latency", [1.0])
    with pytest.raises(ScenarioError, match="must be finite and >= 0"):
        sum_rate([1.0, np.inf])

"""The FslOrchestration challenge (ns6g/apps/presets/challenges.yml, docs/benchmarks.md): the configuration
loads (YAML's lists included), its reference rule beats every built-in baseline on held-out seeds, and the
rule plans per client (its own device, its own rate). How ``ns6g bench learn`` tables its contenders:
tests/test_bench_learn.py."""

from __future__ import annotations

import numpy as np
import pytest

from ns6g.apps.evaluation import baselines, evaluate_contenders, make_env
from ns6g.apps.presets import challenge_ids, load_challenge
from ns6g.envs.fsl_orchestration import FslOrchestrationConfig, FslOrchestrationEnv, RoundPlannerPolicy

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FSL = "ns6g/FslOrchestration-v0"


def test_the_challenge_loads_with_yaml_lists_and_offers_a_reference_and_an_upper_reference():
    assert FSL in challenge_ids()
    challenge = load_challenge(FSL)
    assert isinstance(challenge.env_kwargs["network"]["client_devices"], list)  # as YAML gives it
    env = make_env(FSL, **challenge.env_kwargs)
    try:
        fsl = env.unwrapped
        assert fsl.config.network_config().client_devices == ("smartphone", "cortex-m4")
        assert fsl.config.choose_participation and fsl.per_client_cut
        assert list(fsl.reference_policies()) == ["round_planner"]
        assert list(fsl.upper_reference_policies()) == ["best_participation"]
    finally:
        env.close()
    assert FslOrchestrationConfig(share_levels=[1, 2]).share_levels == (1.0, 2.0)
    # another protocol (one cut for all) or no participation choice: no planner, no oracle
    one_cut = FslOrchestrationEnv({"protocol": "splitfed-v2", "clients": 2, "episode_rounds": 1})
    try:
        assert one_cut.reference_policies() == {} and one_cut.upper_reference_policies() == {}
    finally:
        one_cut.close()


def test_the_challenge_says_true_the_round_planner_beats_every_built_in_baseline():
    """The documented reason the built-in rules fail: greedy times every client on the first device's speed
    and keeps the microcontrollers in every round (a round then lasts seconds); planning per device, share
    and participant set costs several times less per pass over the data (2 held-out seeds). The oracle
    replays the episode over every participant set, the planner's own plan among them: never worse."""
    challenge = load_challenge(FSL)
    env = make_env(FSL, **challenge.env_kwargs)
    try:
        references, uppers = env.unwrapped.reference_policies(), env.unwrapped.upper_reference_policies()
    finally:
        env.close()
    contenders = {name: c for name, c in baselines(FSL, challenge.env_kwargs).items() if name != "random"}
    episodes = evaluate_contenders(FSL, challenge.env_kwargs, {**contenders, **references, **uppers},
                                   [10_000, 10_001])
    means = episodes.groupby("policy")["return"].mean()
    assert set(contenders) == {"cut_first", "cut_middle", "cut_last", "greedy"}
    assert means["round_planner"] > 2 * means[list(contenders)].max()  # returns are negative: a half of the cost
    per_seed = episodes.pivot(index="seed", columns="policy", values="return")
    assert (per_seed["best_participation"] >= per_seed["round_planner"] - 1e-9).all()
    assert means.max() <= challenge.upper_bound


def test_the_planner_plans_per_device_and_leaves_out_a_client_it_cannot_reach():
    env = FslOrchestrationEnv({"clients": 2, "episode_rounds": 1, "choose_participation": True,
                               "network": {"client_devices": ["smartphone", "cortex-m4"]}})
    try:
        planner = RoundPlannerPolicy(env)
        rates = np.array([100e6, 100e6])
        cuts, levels, flags, cost = planner.plan(rates, np.array([[True, True]]))
        greedy = env.baseline_policies()["greedy"]
        greedy_cuts = [int(a) + 1 for a in greedy({"uplink_rate_mbps": rates / 1e6})[:2]]
        assert greedy_cuts[0] == greedy_cuts[1]  # greedy times both on the smartphone
        assert cuts[1] < greedy_cuts[1]  # the planner keeps the microcontroller's part short
        cuts, levels, flags, _ = planner.plan(np.array([100e6, 1.0]))
        assert flags == [1, 0]  # a client without a usable uplink is not waited for
    finally:
        env.close()

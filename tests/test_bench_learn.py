"""Challenge configurations (ns6g/apps/presets/challenges.yml) and ``ns6g bench learn``: the table has the
agent, every heuristic and the upper bound on the same held-out seeds; training stops at its wall budget."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ns6g.apps.cli import main
from ns6g.apps.evaluation import baselines, evaluate_contenders, make_env
from ns6g.apps.presets import CHALLENGES_FILE, PresetError, challenge_ids, load_challenge, load_preset
from ns6g.apps.training import TrainConfig, TrainingError
from ns6g.envs.d2d_relay import joint_relays

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPECTRUM = "ns6g/SpectrumAllocation-v0"


def test_every_challenge_is_a_valid_configuration_of_its_environment():
    assert SPECTRUM in challenge_ids()
    for env_id in challenge_ids():
        challenge = load_challenge(env_id)
        assert challenge.why.strip()
        make_env(env_id, **challenge.env_kwargs).close()  # the config class accepts it


def challenge_means(env_id: str, seeds: int) -> tuple[list[str], pd.Series]:
    """(names of the environment's reference rules, mean return per baseline and reference rule) on its
    challenge configuration over the first ``seeds`` held-out seeds (10000...)."""
    challenge = load_challenge(env_id)
    env = make_env(env_id, **challenge.env_kwargs)
    try:
        references = env.unwrapped.reference_policies()
    finally:
        env.close()
    contenders = {**baselines(env_id, challenge.env_kwargs), **references}
    episodes = evaluate_contenders(env_id, challenge.env_kwargs, contenders, list(range(10_000, 10_000 + seeds)))
    return list(references), episodes.groupby("policy")["return"].mean()


def test_the_challenge_says_true_max_weight_beats_every_built_in_scheduler():
    """The documented reason heuristics fail: serving by channel alone misses deadlines that serving by queue
    and channel meets (5 held-out seeds)."""
    challenge = load_challenge(SPECTRUM)
    references, means = challenge_means(SPECTRUM, 5)
    assert references == ["max_weight"]
    assert set(means.index) == {"round_robin", "proportional_fair", "max_rate", "max_weight"}
    assert means["max_weight"] > means.drop("max_weight").max() + 5  # 5 % of the due packets, over 100 steps
    assert means.max() <= challenge.upper_bound


def test_bad_challenge_files_and_budgets_are_refused(tmp_path):
    with pytest.raises(PresetError, match="no challenge for ns6g/LinkControl-v0"):
        load_challenge("ns6g/LinkControl-v0")
    bad = tmp_path / "c.yml"
    bad.write_text("ns6g/X-v0: {env_kwargs: {}, why: w, upper: 1}\n")
    with pytest.raises(PresetError, match="unknown key 'upper'"):
        load_challenge("ns6g/X-v0", bad)
    bad.write_text("ns6g/X-v0: {env_kwargs: {}, why: w, upper_bound: high}\n")
    with pytest.raises(PresetError, match="upper_bound must be a number"):
        load_challenge("ns6g/X-v0", bad)
    bad.write_text("ns6g/X-v0: {env_kwargs: {}, why: w, eval_seeds: 1}\n")
    with pytest.raises(PresetError, match="eval_seeds must be a whole number >= 2"):
        load_challenge("ns6g/X-v0", bad)
    # A challenge's own held-out count is used unless one is given; without one, 20.
    bad.write_text("ns6g/X-v0: {env_kwargs: {}, why: w, eval_seeds: 7}\nns6g/Y-v0: {env_kwargs: {}, why: w}\n")
    assert load_challenge("ns6g/X-v0", bad).held_out_count() == 7
    assert load_challenge("ns6g/X-v0", bad).held_out_count(3) == 3
    assert load_challenge("ns6g/Y-v0", bad).held_out_count() == 20
    with pytest.raises(TrainingError, match="budget_s must be a positive number"):
        TrainConfig(SPECTRUM, budget_s=0)
    assert CHALLENGES_FILE.is_file()


def test_bench_learn_without_a_challenge_is_refused_before_training(tmp_path, capsys):
    assert main(["bench", "learn", "ns6g/LinkControl-v0", "--out", str(tmp_path / "out")]) == 2
    assert "no challenge for ns6g/LinkControl-v0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bench_learn_trains_within_its_budget_and_tables_agent_heuristics_and_upper_bound(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "learn", SPECTRUM, "--budget-min", "0.05", "--eval-seeds", "3",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "learn.csv")
    policies = {"agent", "round_robin", "proportional_fair", "max_rate", "max_weight"}
    assert set(table["policy"]) == policies and set(table["env_id"]) == {SPECTRUM}
    assert dict(zip(table["policy"], table["kind"])) == {
        "agent": "agent", "round_robin": "baseline", "proportional_fair": "baseline", "max_rate": "baseline",
        "max_weight": "reference"}
    assert (table["episodes"] == 3).all() and table["return_ci"].ge(0).all()
    result = json.loads((out / "learn.json").read_text())
    env = result["envs"][0]
    heuristics = table[table["kind"] != "agent"]
    assert env["best_heuristic"] == heuristics.loc[heuristics["return"].idxmax(), "policy"]
    assert env["upper_bound"] == 0.0
    # Paired on the same 3 seeds: the mean difference is the difference of the means, and it says how often.
    paired, best = env["paired_vs_best"], table.set_index("policy")["return"]
    assert paired["seeds"] == 3 and 0 <= paired["better"] <= 3
    assert paired["mean"] == pytest.approx(best["agent"] - best[env["best_heuristic"]])
    assert env["agent_ahead_paired"] == (paired["mean"] - paired["ci"] > 0)
    assert "paired on the same seeds: agent - " in printed
    # The 3 s budget stopped training long before the preset's steps; the run says how many it ran.
    folder = out / "SpectrumAllocation-v0"
    ran = json.loads((folder / "agent.json").read_text())["timesteps_run"]
    planned = load_challenge(SPECTRUM).n_timesteps or load_preset("maskable_ppo", SPECTRUM).n_timesteps
    assert 0 < ran == env["timesteps_run"] < planned
    assert (folder / "learning_curve.png").stat().st_size > 0
    for name in [*policies, "upper bound", "best heuristic"]:
        assert name in printed
    # The same folder again is refused before anything trains (nothing already written is lost).
    assert main(["bench", "learn", SPECTRUM, "--budget-min", "0.05", "--out", str(out)]) == 2
    assert (out / "learn.csv").is_file()


def test_max_weight_acts_within_the_masks_and_gives_empty_queues_nothing():
    env = make_env(SPECTRUM, cells=3, ues=6, episode_steps=5, traffic="cbr", ue_rate_mbps=5.0)
    try:
        policy = env.unwrapped.reference_policies()["max_weight"].policy
        observation, _ = env.reset(seed=3)
        for _ in range(4):
            action = policy(observation)
            masks = env.unwrapped.action_masks().reshape(len(action), -1)
            assert masks[range(len(action)), action].all()
            served = set(action[action < 6].tolist())
            empty = {u for u in range(6) if observation["buffer_kbytes"][u] == 0}
            assert not served & empty
            observation, *_ = env.step(action)
    finally:
        env.close()


RELAY = "ns6g/D2DRelay-v0"
RELAY_MARGIN = 20.0  # 0.4 Mbit/s per decision over 50 decisions


def test_relay_challenge_airtime_two_hop_beats_every_built_in_baseline():
    """The documented reason the relay heuristics fail: choosing each remote's relay alone sends remotes that
    see the same good relay through it together; counting the relay's load spreads them (3 held-out seeds)."""
    challenge = load_challenge(RELAY)
    references, means = challenge_means(RELAY, 3)
    assert references == ["airtime_two_hop"]
    assert set(means.index) == {"direct", "nearest_relay", "best_two_hop", "random", "airtime_two_hop"}
    assert means["airtime_two_hop"] > means.drop("airtime_two_hop").max() + RELAY_MARGIN
    assert means.max() <= challenge.upper_bound


def test_best_fixed_assignment_is_the_best_of_every_assignment_and_at_least_every_fixed_heuristic():
    """The upper reference replays the episode's seed with every assignment and plays the best one; the
    heuristics that never switch on a static topology cannot beat it (a short episode, 2 seeds)."""
    challenge = load_challenge(RELAY)
    kwargs = {**challenge.env_kwargs, "episode_steps": 10}
    env = make_env(RELAY, **kwargs)
    try:
        upper = env.unwrapped.upper_reference_policies()["best_fixed_assignment"].policy.bind(env)
        observation, _ = env.reset(seed=10_000)
        action = upper(observation)
        c = env.unwrapped.config
        assert len(upper.returns) == (c.relays + 1) ** c.remotes
        relays = joint_relays(c, action) if c.joint_action else action[:c.remotes]  # the challenge's joint action
        assert upper.returns[tuple(relays.tolist())] == max(upper.returns.values())
        assert np.array_equal(upper(observation), action)  # searched once per episode
    finally:
        env.close()
    contenders = {**baselines(RELAY, kwargs), **references_and_uppers(kwargs)}
    contenders.pop("random")
    table = evaluate_contenders(RELAY, kwargs, contenders, [10_000, 10_001]).pivot(index="seed", columns="policy", values="return")
    heuristics = table.drop(columns="best_fixed_assignment")
    assert (table["best_fixed_assignment"] >= heuristics.max(axis=1) - 1e-6).all()


def references_and_uppers(env_kwargs):
    env = make_env(RELAY, **env_kwargs)
    try:
        return {**env.unwrapped.reference_policies(), **env.unwrapped.upper_reference_policies()}
    finally:
        env.close()


def test_a_paired_difference_cancels_what_the_seed_does_to_every_policy():
    from ns6g.analysis.compare import confidence_table, paired_difference

    # The seed moves both policies by -100..+100; "a" is 1 to 3 better on every seed.
    seeds = list(range(10))
    swing = [(-1) ** s * 10.0 * s for s in seeds]
    episodes = pd.DataFrame(
        [{"policy": "a", "seed": s, "return": w + 2.0 + (s % 3 - 1)} for s, w in zip(seeds, swing)]
        + [{"policy": "b", "seed": s, "return": w} for s, w in zip(seeds, swing)])
    paired = paired_difference(episodes, "a", "b")
    assert paired["seeds"] == 10 and paired["better"] == 10
    assert paired["mean"] == pytest.approx(2.0 - 0.1)  # s % 3 - 1 over seeds 0..9: four -1, three 0, three +1
    table = confidence_table(episodes, ["return"])
    assert paired["mean"] - paired["ci"] > 0  # ahead when paired ...
    # ... though the two intervals overlap
    assert table.loc["a", "return"] - table.loc["a", "return_ci"] < table.loc["b", "return"] + table.loc["b", "return_ci"]
    with pytest.raises(ValueError, match="several episodes of one seed"):
        paired_difference(pd.concat([episodes, episodes.iloc[:1]]), "a", "b")
    with pytest.raises(KeyError, match="no episodes of policy 'c'"):
        paired_difference(episodes, "a", "c")


@pytest.mark.parametrize("env_id", ["ns6g/SplitInference-v0", "ns6g/MecOffload-v0", "ns6g/FslOrchestration-v0"])
def test_bench_learn_tables_every_contender_by_the_kind_its_environment_declares(tmp_path, env_id):
    out = tmp_path / "bench"
    assert main(["bench", "learn", env_id, "--budget-min", "0.05", "--eval-seeds", "2", "--out", str(out)]) == 0
    env = make_env(env_id, **load_challenge(env_id).env_kwargs)
    try:
        uppers = set(env.unwrapped.upper_reference_policies())
        expected = {"agent": "agent", **{name: "baseline" for name in env.unwrapped.baselines()},
                    **{name: "reference" for name in env.unwrapped.reference_policies()},
                    **{name: "upper" for name in uppers}}
    finally:
        env.close()
    assert uppers  # each of these challenges has an oracle
    table = pd.read_csv(out / "learn.csv")
    assert dict(zip(table["policy"], table["kind"])) == expected
    result = json.loads((out / "learn.json").read_text())["envs"][0]
    assert result["upper_reference"] in uppers
    assert expected[result["best_heuristic"]] in ("baseline", "reference")  # an oracle is never the best heuristic

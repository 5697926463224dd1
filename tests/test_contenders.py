"""Trained agents as contenders: a suite case runs an ``ns6g train`` agent beside the baselines and gates its
metrics like theirs; ``ns6g report`` on the train directory shows its evaluation and training figures."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ns6g.analysis import agent_evaluation, load_run, training_curve, training_losses
from ns6g.apps.cli import main
from ns6g.apps.suite import SuiteError, load_suite, run_suite
from ns6g.apps.training import TrainConfig, evaluate_agent, train

SEEDS = [4, 5]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A PPO agent trained for 256 steps on 2 LinkControl scenarios (20-step episodes): a few seconds."""
    out = tmp_path_factory.mktemp("contenders") / "agents" / "link-ppo"
    config = TrainConfig(env_id="ns6g/LinkControl-v0", timesteps=256, n_envs=2, seed=3, out=out, eval_seeds=2,
                         checkpoints=0, env_kwargs={"episode_steps": 20}, algo_kwargs={"n_steps": 64, "batch_size": 64})
    train(config, progress=False)
    return out


def _suite(folder: Path, agents: str, contenders: str = '["fixed-3Mbps"]', env_kwargs: str = "{ episode_steps = 20 }",
           env: str = "ns6g/LinkControl-v0") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.toml"
    path.write_text(f"""
seeds = {SEEDS}
[[case]]
name = "link"
env = "{env}"
env_kwargs = {env_kwargs}
contenders = {contenders}
agents = {agents}
metrics = ["return", "delay_ms"]
""")
    return path


def test_an_agent_runs_beside_the_baselines_and_is_gated(trained, tmp_path, monkeypatch, capsys):
    # The agent's path is relative to the suite file, not to the working directory.
    suite = _suite(tmp_path / "suites", f'{{ ppo = "{os.path.relpath(trained, tmp_path / "suites")}" }}')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out, baseline = tmp_path / "out", tmp_path / "baseline.json"
    assert main(["bench", "suite", "--config", str(suite), "--out", str(out), "--write-baseline", str(baseline),
                 "--jobs", "2"]) == 0
    table = pd.read_csv(out / "results.csv")
    assert list(table["contender"]) == ["fixed-3Mbps", "ppo"] and list(table["seeds"]) == [2, 2]
    tasks = pd.read_csv(out / "tasks.csv")
    assert sorted(tasks[tasks["contender"] == "ppo"]["seed"]) == SEEDS
    metrics = json.loads((out / "results.json").read_text())["metrics"]
    assert {"link/ppo/return", "link/ppo/delay_ms"} <= set(metrics)
    # The same agent, seeds and settings as `ns6g evaluate`: the same returns (deterministic actions, its
    # VecNormalize statistics applied).
    evaluated = evaluate_agent(trained, env_kwargs={"episode_steps": 20}, seeds=SEEDS, progress=False)
    assert metrics["link/ppo/return"] == pytest.approx(evaluated["mean_return"]["agent"])
    capsys.readouterr()

    # The written baseline passes; one 20 % better than the agent did fails naming the agent's metric.
    assert main(["bench", "suite", "--config", str(suite), "--baseline", str(baseline), "--jobs", "2"]) == 0
    assert "no regression" in capsys.readouterr().err
    data = json.loads(baseline.read_text())
    data["metrics"]["link/ppo/return"]["value"] = 1.2 * metrics["link/ppo/return"] + 0.1
    baseline.write_text(json.dumps(data))
    assert main(["bench", "suite", "--config", str(suite), "--baseline", str(baseline), "--jobs", "2"]) == 1
    err = capsys.readouterr().err
    assert "REGRESSION link/ppo/return" in err and "REGRESSION link/fixed-3Mbps" not in err


def test_ray_runs_the_agent_as_the_process_pool_does(trained, tmp_path):
    pytest.importorskip("ray")
    # The case names the environment in module:id form; the agent was trained on its plain id: the same env.
    suite = load_suite(_suite(tmp_path, f'{{ ppo = "{trained / "agent.zip"}" }}', contenders="[]",
                              env="ns6g.envs.link_control:ns6g/LinkControl-v0"))
    pool, _ = run_suite(suite, backend="process", jobs=2, progress=False)
    on_ray, _ = run_suite(suite, backend="ray", jobs=2, progress=False)
    assert list(pool["contender"]) == ["ppo"]
    pd.testing.assert_frame_equal(pool, on_ray)


def test_bad_agents_are_refused_naming_the_case_and_the_path(trained, tmp_path):
    missing = tmp_path / "nowhere"
    where = re.escape(str(missing))
    with pytest.raises(SuiteError, match=rf"case link .*agent ppo \({where}\): no agent at {where}"):
        load_suite(_suite(tmp_path / "a", f'{{ ppo = "{missing}" }}'))
    with pytest.raises(SuiteError, match=r"case link .*trained on ns6g/LinkControl-v0, not on ns6g/BridgeEcho-v0"):
        load_suite(_suite(tmp_path / "b", f'{{ ppo = "{trained}" }}', contenders="[]", env="ns6g/BridgeEcho-v0"))
    with pytest.raises(SuiteError, match="contender 'random' is named twice"):
        load_suite(_suite(tmp_path / "c", f'{{ random = "{trained}" }}', contenders='["random"]'))
    # The short form for one agent: the contender named "agent".
    one = _suite(tmp_path / "g", "{}")
    one.write_text(one.read_text().replace("agents = {}", f'agent = "{trained}"'))
    assert load_suite(one).cases[0].agents == {"agent": trained.absolute()}
    both = _suite(tmp_path / "h", f'{{ agent = "{trained}" }}')
    both.write_text(both.read_text().replace("agents = {", f'agent = "{trained}"\nagents = {{'))
    with pytest.raises(SuiteError, match="name the same contender"):
        load_suite(both)
    with pytest.raises(SuiteError, match="no contenders"):
        load_suite(_suite(tmp_path / "d", "{}", contenders="[]"))

    # Checked before any task starts: nothing is written.
    out = tmp_path / "out"
    shape = load_suite(_suite(tmp_path / "e", f'{{ ppo = "{trained}" }}',
                              env_kwargs="{ episode_steps = 20, rate_levels = 4 }"))
    where = re.escape(str(trained))
    with pytest.raises(SuiteError, match=rf"case link: agent ppo \({where}\): env_kwargs rate_levels=4 changes the shape"):
        run_suite(shape, out=out, jobs=1, progress=False)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(trained, corrupt, ignore=shutil.ignore_patterns("train", "eval", "tensorboard"))
    (corrupt / "agent.zip").write_bytes(b"not a zip")
    broken = load_suite(_suite(tmp_path / "f", f'{{ ppo = "{corrupt}" }}'))
    where = re.escape(str(corrupt))
    with pytest.raises(SuiteError, match=rf"case link: agent ppo \({where}\): cannot load the ppo agent"):
        run_suite(broken, out=out, jobs=1, progress=False)
    assert not out.exists()


def test_report_of_a_train_directory_shows_its_evaluation_and_training(trained, tmp_path, capsys):
    report = tmp_path / "report"
    assert main(["report", str(trained), "--out", str(report)]) == 0
    page = (report / "index.html").read_text()
    for name in ("agent_evaluation", "agent_paired", "training_curve", "training_losses"):
        assert f'<h2 id="{name}">' in page
        assert f'src="figures/{name}.png"' in page and (report / "figures" / f"{name}.png").stat().st_size > 5000
    skipped = page.split('class="skipped">', 1)[-1].split("</p>", 1)[0]
    assert not any(title in skipped for title in ("Agent against", "Training curve", "Training losses"))

    run = load_run(trained)
    info = json.loads((trained / "agent.json").read_text())
    summary = json.loads((trained / "summary.json").read_text())
    # The evaluation: every policy of the train job, the means it printed, an interval over its 2 seeds.
    evaluation = agent_evaluation(run).set_index("policy")
    assert evaluation["return"].to_dict() == pytest.approx(summary["mean_return"])
    assert (evaluation["episodes"] == 2).all() and evaluation["return_ci"].notna().all()
    # The training curve: the training environments' episodes only, up to the steps the agent was trained.
    curve = training_curve(run)
    assert set(curve["env"]) == {"env-0", "env-1"}
    assert curve["timesteps"].is_monotonic_increasing and curve["timesteps"].max() == info["timesteps_run"]
    assert curve["steps"].sum() == info["timesteps_run"]
    # The learner's log: losses against training steps.
    losses = training_losses(run)
    assert {"train/loss", "train/value_loss", "train/entropy_loss"} <= set(losses["metric"])
    # ... the last update's too (SB3 would write it only at a next rollout that never comes).
    assert losses["timesteps"].max() == info["timesteps_run"] and losses["value"].notna().all()


def test_report_questions_compare_several_train_directories(trained, tmp_path):
    from ns6g.analysis import RunSet

    twin = tmp_path / "twin"
    shutil.copytree(trained, twin)
    runs = RunSet([load_run(trained), load_run(twin)])
    for question in (agent_evaluation, training_curve, training_losses):
        frame, figure = question(runs, plot=True)
        assert set(frame["run"].astype(str)) == {str(trained), str(twin)}
        assert len(figure.axes) >= 1
    # A damaged episodes.csv is named, not skipped.
    (twin / "episodes.csv").write_text("policy,seed\nagent,1\n")
    with pytest.raises(ValueError, match="agent_evaluation needs column 'return' in the episodes.csv table"):
        agent_evaluation(load_run(twin))


def test_agent_paired_differences_seed_by_seed(tmp_path):
    from ns6g.analysis import agent_paired

    # Three seeds; the agent beats "rule" by 10, 20, 30 and loses to "oracle" by 5 on each.
    rows = [("agent", s, 100.0 + 10 * s) for s in (1, 2, 3)] + [("rule", s, 100.0) for s in (1, 2, 3)]
    rows += [("oracle", s, 105.0 + 10 * s) for s in (1, 2, 3)]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    pd.DataFrame(rows, columns=["policy", "seed", "return"]).to_csv(run_dir / "episodes.csv", index=False)
    (run_dir / "manifest.json").write_text(json.dumps({"schema_version": 1, "kind": "train", "status": "finished"}))
    frame, figure = agent_paired(load_run(run_dir), plot=True)
    table = frame.set_index("policy")
    assert list(table.index) == ["oracle", "rule"]  # best-scoring first, the agent itself left out
    assert table.loc["rule", "difference"] == pytest.approx(20.0) and table.loc["rule", "better"] == 3
    assert table.loc["oracle", "difference"] == pytest.approx(-5.0) and table.loc["oracle", "better"] == 0
    assert table.loc["oracle", "difference_ci"] == pytest.approx(0.0)  # the same gap on every seed
    assert table.loc["rule", "difference_ci"] > 0 and table.loc["rule", "seeds"] == 3
    assert len(figure.axes) == 1

"""``ns6g train`` / ``ns6g evaluate``: a short job leaves a loadable agent, a run directory and an honest
comparison; bad requests are refused before anything is written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

from ns6g.analysis import learning_curve, load_run
from ns6g.apps.cli import main, parse_settings
from ns6g.apps.evaluation import comparison_figure, comparison_title, confidence_table
from ns6g.apps.training import (
    TrainConfig,
    TrainingError,
    check_algorithm,
    evaluate_agent,
    format_evaluation,
    load_agent,
    train,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "link"
    config = TrainConfig(env_id="ns6g/LinkControl-v0", timesteps=256, n_envs=2, seed=7, out=out, eval_seeds=2,
                         checkpoints=2, env_kwargs={"episode_steps": 20}, algo_kwargs={"n_steps": 64, "batch_size": 64})
    return out, train(config, progress=False)


def test_train_leaves_a_loadable_agent_and_a_run_directory(trained):
    out, summary = trained
    model = load_agent(out / "agent.zip")
    assert model.num_timesteps >= 256
    assert sorted(p.name for p in (out / "checkpoints").glob("agent_*_steps.zip"))  # at least one checkpoint
    assert list((out / "tensorboard").rglob("events.out.tfevents.*"))
    assert (out / "comparison.png").stat().st_size > 1000
    run = load_run(out)
    assert run.manifest["kind"] == "train" and run.manifest["status"] == "finished"
    assert run.manifest["config"]["device"] == "cpu" and model.device.type == "cpu"  # CPU unless asked
    assert {"train-start", "train-end", "eval-end"} <= set(run.events["kind"])
    # Every training environment traced its episodes: 256 steps over 2 envs of 20-step episodes.
    curves = [learning_curve(load_run(out / "train" / f"env-{i}")) for i in range(2)]
    assert sum(int(c["steps"].sum()) for c in curves) >= 256
    assert all(c["done"].iloc[0] for c in curves)
    # The job's folder finds them itself: every training and evaluation run, each under its own name.
    job_curve = learning_curve(load_run(out))
    assert {str(out / "train" / f"env-{i}") for i in range(2)} | {str(out / "eval" / "agent")} <= set(job_curve["run"])
    assert int(job_curve[job_curve["run"].astype(str).str.contains("/train/")]["steps"].sum()) >= 256
    # The agent and every baseline ran on the same held-out seeds.
    episodes = pd.read_csv(out / "episodes.csv")
    assert set(episodes["policy"]) == {row["policy"] for row in summary["table"]}
    assert {"agent", "random"} <= set(episodes["policy"])
    assert episodes.groupby("policy")["seed"].apply(sorted).map(tuple).nunique() == 1
    # One evaluation run per policy holds one episode per seed; its steps say which.
    steps = load_run(out / "eval" / "agent").steps
    assert steps.groupby("episode")["seed"].unique().map(list).tolist() == [[s] for s in summary["seeds"]]
    assert all(json.loads((out / "summary.json").read_text())["mean_return"][p] == pytest.approx(v)
               for p, v in summary["mean_return"].items())


def test_evaluate_reproduces_the_training_evaluation(trained):
    out, summary = trained
    again = evaluate_agent(out, seeds=summary["seeds"], progress=False)
    assert again["mean_return"] == pytest.approx(summary["mean_return"])


def test_results_name_the_optimised_reward_and_put_its_return_first(trained):
    out, summary = trained
    assert summary["reward"] == "throughput / link_rate - delay and loss penalties"  # LinkControl's
    lines = format_evaluation(summary).splitlines()
    assert "2 held-out seeds (10007-10008)" in lines[0]
    assert lines[1].startswith(f"optimised reward: {summary['reward']};")
    assert lines[2].split()[0] == "return"  # the table's first column
    # An environment whose reward is also an info entry (SpectrumAllocation's deadline_violations): next.
    table = [{"policy": p, "episodes": 2, "return": r, "return_ci": 0.1, "sum_throughput_mbps": 5.0,
              "sum_throughput_mbps_ci": 0.1, "jain_index": 0.5, "jain_index_ci": 0.1, "delay_ms": 3.0,
              "delay_ms_ci": 0.1, "deadline_violations": -r, "deadline_violations_ci": 0.1}
             for p, r in (("agent", -1.0), ("max_rate", -2.0))]
    text = format_evaluation({"env_id": "ns6g/SpectrumAllocation-v0", "algo": "maskable_ppo", "seeds": [1, 5],
                              "reward": "deadline_violations", "table": table})
    header = text.splitlines()[2].split()
    assert header[:2] == ["return", "deadline_violations"] and "2 held-out seeds (1, 5)" in text


def test_every_environment_names_its_reward():
    """The results tables name the reward: every ns6g environment has a reward_name of its own (from its
    ``reward`` setting or its class's reward_summary), read without starting a scenario."""
    import importlib

    from ns6g.envs.base import ScenarioEnv

    ids = [i for i in gym.registry if i.startswith("ns6g/")]
    assert len(ids) >= 5
    for env_id in ids:
        module, name = gym.registry[env_id].entry_point.split(":")
        cls = getattr(importlib.import_module(module), name)
        if issubclass(cls, ScenarioEnv):
            assert "reward" in cls.config_class.model_fields or cls.reward_summary != ScenarioEnv.reward_summary, env_id
        else:
            assert isinstance(getattr(cls, "reward_name", None), str), env_id


def test_comparison_title_names_env_reward_and_seeds_and_fits():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    episodes = pd.DataFrame({"policy": ["maskable_ppo agent", "round_robin", "proportional_fair", "max_rate"] * 2,
                             "seed": [10000] * 4 + [10001] * 4, "return": [1.0, 2.0, 3.0, 4.0, 2.0, 3.0, 4.0, 5.0]})
    reward = "-(latency_s + energy_weight * energy_j) - deadline and failure penalties, per task"
    title = comparison_title("ns6g/SpectrumAllocation-v0", reward, range(10000, 10005), agent="maskable_ppo agent")
    figure = comparison_figure(confidence_table(episodes), title=title)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    shown = figure.axes[0].title
    text = " ".join(shown.get_text().split())
    assert "ns6g/SpectrumAllocation-v0" in text and " ".join(reward.split()) in text and "(10000-10004)" in text
    box, page = shown.get_window_extent(canvas.get_renderer()), figure.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1


def test_evaluation_runs_keep_their_seeds_apart(tmp_path):
    """A baseline evaluated on two seeds writes one run: its steps and radio rows carry episode and seed,
    so each seed's measurements are found without looking where the simulated time restarts."""
    from ns6g.analysis import allocation_heatmap
    from ns6g.apps.evaluation import baselines, evaluate_contenders

    env = "ns6g/SpectrumAllocation-v0"
    settings = dict(cells=1, ues=2, decision_slots=2, episode_steps=3)
    contenders = {"round_robin": baselines(env, settings)["round_robin"]}
    evaluate_contenders(env, settings, contenders, [21, 22], out=tmp_path)
    run = load_run(tmp_path / "eval" / "round_robin")
    for table in (run.steps, run.radio):
        assert list(table.columns[:2]) == ["episode", "seed"]
        assert table.groupby("episode")["seed"].unique().map(list).tolist() == [[21], [22]]
    radio = run.radio
    assert radio.groupby("seed").size().tolist() == [(1 + 3) * 2] * 2  # (reset + steps) x UEs per seed
    assert (radio.groupby("seed")["time_s"].min().tolist() == [radio["time_s"].min()] * 2)  # time restarts
    assert allocation_heatmap(run).index.get_level_values("episode").unique().tolist() == [0, 1]


def test_confidence_interval_is_students_t():
    episodes = pd.DataFrame({"policy": ["a"] * 4 + ["b"], "return": [1.0, 2.0, 3.0, 4.0, 5.0]})
    table = confidence_table(episodes, ["return"])
    assert table.loc["a", "return"] == pytest.approx(2.5)
    # t(0.975, 3) = 3.182; sd = 1.291
    assert table.loc["a", "return_ci"] == pytest.approx(3.182446 * np.std([1, 2, 3, 4], ddof=1) / 2, rel=1e-5)
    assert np.isnan(table.loc["b", "return_ci"])  # one episode: no interval
    with pytest.raises(KeyError, match="latency"):
        confidence_table(episodes, ["latency"])


def test_algorithms_must_fit_the_action_space():
    check_algorithm("dqn", gym.spaces.Discrete(3))
    with pytest.raises(TrainingError, match="sac cannot act in the action space Discrete"):
        check_algorithm("sac", gym.spaces.Discrete(3))
    with pytest.raises(TrainingError, match="dqn cannot act.*use ppo or a2c"):
        check_algorithm("dqn", gym.spaces.MultiDiscrete([2, 3]))
    with pytest.raises(TrainingError, match="unknown algorithm 'td3'"):
        check_algorithm("td3", gym.spaces.Box(0, 1, (2,)))


def test_bad_requests_are_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["train", "ns6g/LinkControl-v0", "--algo", "sac", "--out", str(out), "--quiet"]) == 2
    assert "sac cannot act" in capsys.readouterr().err
    assert main(["train", "ns6g/Nope-v0", "--out", str(out)]) == 2
    assert "unknown environment 'ns6g/Nope-v0'" in capsys.readouterr().err
    assert main(["train", "ns6g/LinkControl-v0", "--env", "rate_levels=1", "--out", str(out)]) == 2
    assert "rate_levels" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="2"):  # refused by the argument parser
        main(["train", "ns6g/LinkControl-v0", "--env", "rate_levels", "--out", str(out)])
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert not out.exists()
    assert main(["evaluate", str(tmp_path / "missing.zip")]) == 2
    assert f"no agent at {tmp_path / 'missing.zip'}" in capsys.readouterr().err
    with pytest.raises(TrainingError, match="timesteps must be >= 1"):
        TrainConfig(env_id="ns6g/LinkControl-v0", timesteps=0)


def test_settings_are_read_as_json_where_they_parse():
    assert parse_settings(["ues=8", "scenario=UMa", "fast_fading=false", "x=[1, 2]"], "--env") == {
        "ues": 8, "scenario": "UMa", "fast_fading": False, "x": [1, 2]}


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()]


def test_sigkilled_training_leaves_readable_runs(tmp_path):
    """SIGKILL of `ns6g train` mid-training: every complete chunk of every environment's run loads, the
    scenarios exit, and the killed process's segments can be reaped."""
    from ns6g.core.bridge import reap_stale_segments

    out = tmp_path / "job"
    ns6g = Path(sys.executable).with_name("ns6g")
    proc = subprocess.Popen([str(ns6g), "train", "ns6g/LinkControl-v0", "--timesteps", "1000000", "--n-envs", "2",
                             "--out", str(out), "--env", "episode_steps=20", "--checkpoints", "0", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        # Training environments write a chunk every 5 s of wall time: wait for one from each.
        while not all(list((out / "train" / f"env-{i}" / "steps").glob("part-*.parquet")) for i in range(2)):
            assert proc.poll() is None, f"ns6g train ended early: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no chunk written in 300 s"
            time.sleep(0.5)
        scenarios = _children(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    for pid in scenarios:  # orphaned scenarios notice their parent is gone and exit
        for _ in range(200):
            if not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"scenario {pid} still running after its trainer was killed")
    reap_stale_segments()
    assert not list(Path("/dev/shm").glob(f"ns6g-{proc.pid}-*"))

    job = load_run(out)
    assert job.status == "unfinished" and job.manifest["kind"] == "train"
    assert [str(run.path.relative_to(out)) for run in job.runs] == ["train/env-0", "train/env-1"]
    for run in job.runs:
        assert run.status == "unfinished" and run.damaged == []
        steps = run.steps
        # The manifest records each chunk after renaming it into place: it may lag by the last one.
        assert len(steps) > 0 and len(steps) >= sum(run.manifest["part_rows"].get("steps", []))
        # Whole chunks only, in order: step numbers count up within each episode.
        for _, episode in steps.groupby("episode"):
            assert episode["step"].tolist() == list(range(len(episode)))
    curve = learning_curve(job)
    assert set(curve["run"]) == {str(out / "train" / f"env-{i}") for i in range(2)} and len(curve) > 0

"""The usual questions: exact numbers from runs with known rows, figures, missing columns, empty runs, reports."""

import math

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import ns6g.envs  # noqa: F401
from ns6g.analysis import (
    MissingColumnsError,
    RunSet,
    allocation_heatmap,
    energy_per_device,
    learning_curve,
    load_run,
    load_runs,
    per_ue_throughput,
    round_latency_cdf,
    split_layer_histogram,
    training_curve,
    write_report,
)
from ns6g.apps.cli import main
from ns6g.core.runs import RunWriter

QUESTIONS = [learning_curve, round_latency_cdf, per_ue_throughput, allocation_heatmap, split_layer_histogram,
             energy_per_device]  # the questions of the tables; a training job's own are in tests/test_contenders.py
TRAIN_JOB_TITLES = ("Agent against the baselines", "Agent against each policy, seed by seed", "Training curve", "Training losses")
NAN = math.nan


def _step(episode, step, reward, sim, wall, terminated=False, truncated=False, **extra):
    return {"episode": episode, "step": step, "seed": episode + 1, "sim_time_s": sim, "wall_time_s": wall,
            "reward": reward, "terminated": terminated, "truncated": truncated,
            "action": [] if step == 0 else [1.0], **extra}


# Episodes: 0 (truncated after 3 steps), 1 (terminated after 2), 2 (stopped mid-way), 3 (reset only).
STEPS = [
    _step(0, 0, 0.0, 0.0, 0.1), _step(0, 1, 1.0, 0.5, 0.2), _step(0, 2, 2.0, 1.0, 0.3),
    _step(0, 3, 3.0, 1.5, 0.4, truncated=True),
    _step(1, 0, 0.0, 0.0, 0.5), _step(1, 1, -1.0, 2.0, 0.6), _step(1, 2, 4.5, 4.0, 0.7, terminated=True),
    _step(2, 0, 0.0, 0.0, 0.8), _step(2, 1, 10.0, 1.0, 0.9),
    _step(3, 0, 0.0, 0.0, 1.0),
]

# Per-client rounds: (protocol, round, device, start_s, end_s, energy_j, split_layer)
ROUNDS = [
    ("fedavg", 0, 0, 0.0, 1.0, 1.0, None), ("fedavg", 0, 1, 0.0, 2.0, 2.5, None),  # latency 2
    ("fedavg", 1, 0, 2.0, 2.5, 1.0, None), ("fedavg", 1, 1, 2.0, 3.0, 2.5, None),  # latency 1
    ("fedavg", 2, 0, 3.0, 6.0, 1.0, None), ("fedavg", 2, 1, 3.0, 4.0, 2.5, None),  # latency 3
    ("splitfed-v2", 0, 0, 0.0, 0.5, 0.5, 2), ("splitfed-v2", 0, 1, 0.0, 0.25, 0.25, 3),  # latency 0.5
    ("splitfed-v2", 1, 0, 0.5, NAN, 0.5, 2), ("splitfed-v2", 1, 1, 0.5, NAN, 0.25, 3),  # never ended
    ("splitfed-v2", 2, 0, 1.0, 2.5, 0.5, 3), ("splitfed-v2", 2, 1, 1.0, 2.0, 0.25, 3),  # latency 1.5
]

# Radio: UE 0 stays in cell 0; UE 1 hands over from cell 1 to cell 0 at t=3 and has no value at t=4.
RADIO = [  # (time_s, ue, cell, throughput_bps, rbs)
    (1.0, 0, 0, 1e6, 5), (1.0, 1, 1, 10e6, 10),
    (2.0, 0, 0, 2e6, 6), (2.0, 1, 1, 20e6, 11),
    (3.0, 0, 0, 3e6, 7), (3.0, 1, 0, 30e6, 12),
    (4.0, 0, 0, 4e6, 8), (4.0, 1, 0, NAN, NAN),
]


def write_synthetic(path, kind="test", reward_offset=0.0):
    with RunWriter(path, kind=kind, seeds=[7], chunk_rows=4) as run:
        for row in STEPS:
            run.append("steps", {**row, "reward": row["reward"] + (reward_offset if row["step"] else 0.0)})
        for protocol, rnd, device, start, end, energy, layer in ROUNDS:
            row = {"round": rnd, "protocol": protocol, "start_s": start, "end_s": end, "device": device,
                   "energy_j": energy}
            if layer is not None:
                row["split_layer"] = layer
            run.append("rounds", row)
        for time_s, ue, cell, throughput, rbs in RADIO:
            run.append("radio", {"time_s": time_s, "ue": ue, "cell": cell, "throughput_bps": throughput,
                                 "rbs": rbs})
    return load_run(path)


@pytest.fixture
def run(tmp_path):
    return write_synthetic(tmp_path / "synthetic")


@pytest.fixture
def empty_run(tmp_path):
    RunWriter(tmp_path / "empty", kind="test").close()
    return load_run(tmp_path / "empty")


def test_learning_curve_numbers(run):
    curve = learning_curve(run)
    assert list(curve.columns) == ["episode", "seed", "return", "steps", "done", "sim_time_s", "wall_time_s",
                                   "sim_time_total_s"]
    assert curve["episode"].tolist() == [0, 1, 2]  # episode 3 took no step
    assert curve["seed"].tolist() == [1, 2, 3]
    assert curve["return"].tolist() == [6.0, 3.5, 10.0]
    assert curve["steps"].tolist() == [3, 2, 1]
    assert curve["done"].tolist() == [True, True, False]
    assert curve["sim_time_s"].tolist() == [1.5, 4.0, 1.0]
    assert curve["sim_time_total_s"].tolist() == [1.5, 5.5, 6.5]  # sim time restarts at each reset
    assert curve["wall_time_s"].tolist() == [0.4, 0.7, 0.9]
    assert learning_curve(run, window=2)["return_mean"].tolist() == [6.0, 4.75, 6.75]
    with pytest.raises(ValueError, match="window"):
        learning_curve(run, window=0)


def test_round_latency_cdf_numbers(run):
    cdf = round_latency_cdf(run)
    assert list(cdf.columns) == ["protocol", "round", "latency_s", "cdf"]
    assert cdf["protocol"].tolist() == ["fedavg"] * 3 + ["splitfed-v2"] * 2  # round 1 of splitfed never ended
    assert cdf["round"].tolist() == [1, 0, 2, 0, 2]
    assert cdf["latency_s"].tolist() == [1.0, 2.0, 3.0, 0.5, 1.5]  # slowest client of each round
    np.testing.assert_allclose(cdf["cdf"], [1 / 3, 2 / 3, 1.0, 0.5, 1.0])


def test_per_ue_throughput_numbers(run):
    stats = per_ue_throughput(run)
    assert list(stats.columns) == ["ue", "cell", "samples", "mean", "median", "p5"]
    assert list(zip(stats["ue"], stats["cell"])) == [(0, 0), (1, 0), (1, 1)]
    assert stats["samples"].tolist() == [4, 1, 2]  # the NaN measurement is not a sample
    np.testing.assert_allclose(stats["mean"], [2.5e6, 30e6, 15e6])
    np.testing.assert_allclose(stats["median"], [2.5e6, 30e6, 15e6])
    np.testing.assert_allclose(stats["p5"], [1.15e6, 30e6, 10.5e6])  # linear interpolation
    per_ue = per_ue_throughput(run, by_cell=False)
    assert list(per_ue.columns) == ["ue", "samples", "mean", "median", "p5"]
    np.testing.assert_allclose(per_ue["mean"], [2.5e6, 20e6])


def test_allocation_heatmap_numbers(run):
    heat = allocation_heatmap(run)  # a radio table without episode (as written before it): one episode, 0
    assert heat.index.names == ["episode", "time_s"] and heat.columns.name == "ue"
    assert heat.index.tolist() == [(0, 1.0), (0, 2.0), (0, 3.0), (0, 4.0)] and heat.columns.tolist() == [0, 1]
    np.testing.assert_array_equal(heat.to_numpy(), [[5, 10], [6, 11], [7, 12], [8, NAN]])


def test_split_layer_histogram_numbers(run, tmp_path):
    hist = split_layer_histogram(run)
    assert list(hist.columns) == ["split_layer", "count", "fraction"]
    assert hist["split_layer"].tolist() == [2, 3] and hist["count"].tolist() == [2, 4]
    np.testing.assert_allclose(hist["fraction"], [1 / 3, 2 / 3])
    with RunWriter(tmp_path / "env", kind="test") as writer:  # the column only in steps: steps are counted
        for layer in (1, 1, 4):
            writer.append("steps", {"episode": 0, "step": 1, "layer_index": layer})
        writer.append("rounds", {"round": 0, "protocol": "sfl", "start_s": 0.0, "end_s": 1.0})
    from_steps = split_layer_histogram(load_run(tmp_path / "env"), column="layer_index")
    assert from_steps["layer_index"].tolist() == [1, 4] and from_steps["count"].tolist() == [2, 1]


def test_energy_per_device_numbers(run, tmp_path):
    energy = energy_per_device(run)
    assert list(energy.columns) == ["protocol", "device", "energy_j", "rows", "energy_j_mean"]
    assert list(zip(energy["protocol"], energy["device"])) == [("fedavg", 0), ("fedavg", 1), ("splitfed-v2", 0),
                                                               ("splitfed-v2", 1)]
    np.testing.assert_allclose(energy["energy_j"], [3.0, 7.5, 1.5, 0.75])
    assert energy["rows"].tolist() == [3, 3, 3, 3]
    np.testing.assert_allclose(energy["energy_j_mean"], [1.0, 2.5, 0.5, 0.25])
    with RunWriter(tmp_path / "flows", kind="test") as writer:  # no rounds: the flows table is used
        writer.append_columns("flows", {"flow_id": [0, 1, 2], "kind": ["weights"] * 3, "src": [1, 2, 1],
                                        "dst": [0, 0, 0], "size_bytes": [10, 10, 10], "start_s": [0.0] * 3,
                                        "end_s": [1.0] * 3, "device": ["ue-1", "ue-2", "ue-1"],
                                        "energy_j": [0.5, 2.0, 0.25]})
    from_flows = energy_per_device(load_run(tmp_path / "flows"))
    assert list(from_flows.columns) == ["device", "energy_j", "rows", "energy_j_mean"]
    assert from_flows["device"].tolist() == ["ue-1", "ue-2"] and from_flows["energy_j"].tolist() == [0.75, 2.0]


def test_figures_draw_one_mark_per_row(run):
    def check(result, lines=0, bars=0, images=0):
        frame, fig = result
        assert isinstance(frame, pd.DataFrame)
        axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert sum(len(ax.lines) for ax in axes) == lines
        assert sum(len(ax.patches) for ax in axes) == bars
        assert sum(len(ax.images) for ax in axes) == images
        assert all(ax.get_xlabel() and ax.get_ylabel() for ax in axes)
        plt.close(fig)

    check(learning_curve(run, plot=True), lines=1)
    check(learning_curve(run, window=2, plot=True), lines=2)
    check(round_latency_cdf(run, plot=True), lines=2)  # one step CDF per protocol
    check(per_ue_throughput(run, plot=True), bars=3)
    check(split_layer_histogram(run, plot=True), bars=2)
    check(energy_per_device(run, plot=True), bars=4)
    frame, fig = allocation_heatmap(run, plot=True)
    check((frame, fig), images=1)
    assert len(fig.axes) == 2  # the heatmap and its colour bar


def test_run_sets_keep_the_run_column(tmp_path):
    write_synthetic(tmp_path / "sweep-0")
    write_synthetic(tmp_path / "sweep-1", reward_offset=1.0)
    runs = load_runs(str(tmp_path / "sweep-*"))
    curve = learning_curve(runs)
    assert curve.columns[0] == "run" and curve["run"].nunique() == 2
    by_run = curve.groupby("run", observed=True)
    assert by_run["return"].apply(list).tolist() == [[6.0, 3.5, 10.0], [9.0, 5.5, 11.0]]
    assert by_run["sim_time_total_s"].last().tolist() == [6.5, 6.5]  # accumulated per run, not across runs
    for question in QUESTIONS[1:]:
        frame = question(runs)
        if question is allocation_heatmap:
            assert frame.index.names == ["run", "episode", "time_s"] and len(frame) == 8
        else:
            assert frame.columns[0] == "run" and len(frame) == 2 * len(question(runs.runs[0]))
    _, fig = allocation_heatmap(runs, plot=True)
    assert sum(len(ax.images) for ax in fig.axes) == 2  # one heatmap per run
    plt.close(fig)
    _, fig = learning_curve(runs, plot=True)
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[0].get_legend().texts) == 2
    plt.close(fig)


def test_missing_columns_are_named(tmp_path):
    with RunWriter(tmp_path / "run", kind="test") as writer:
        writer.append("radio", {"time_s": 1.0, "ue": 0, "cell": 0, "sinr_db": 3.0})
        writer.append("rounds", {"round": 0, "protocol": "fedavg", "start_s": 0.0, "end_s": 1.0})
        writer.append("steps", {"episode": 0, "step": 1, "x_mbps": 1.0})
    run = load_run(tmp_path / "run")
    with pytest.raises(ValueError, match=r"'throughput_bps' in the radio table; it has: time_s, ue, cell, sinr_db"):
        per_ue_throughput(run)
    with pytest.raises(ValueError, match="'rate_mbps'"):
        per_ue_throughput(run, column="rate_mbps")
    with pytest.raises(ValueError, match="'rbs'"):
        allocation_heatmap(run)
    with pytest.raises(ValueError, match="'split_layer'"):
        split_layer_histogram(run)
    with pytest.raises(MissingColumnsError, match="'device', 'energy_j' in the rounds table"):
        energy_per_device(run)
    with pytest.raises(ValueError, match="'reward', 'sim_time_s', 'wall_time_s' in the steps table"):
        learning_curve(run)
    assert round_latency_cdf(run)["latency_s"].tolist() == [1.0]


def test_empty_tables_give_empty_frames_and_no_data_figures(empty_run, tmp_path):
    expected = {
        learning_curve: ["episode", "seed", "return", "steps", "done", "sim_time_s", "wall_time_s",
                         "sim_time_total_s"],
        round_latency_cdf: ["protocol", "round", "latency_s", "cdf"],
        per_ue_throughput: ["ue", "cell", "samples", "mean", "median", "p5"],
        allocation_heatmap: [],
        split_layer_histogram: ["split_layer", "count", "fraction"],
        energy_per_device: ["device", "energy_j", "rows", "energy_j_mean"],
    }
    for question, columns in expected.items():
        frame, fig = question(empty_run, plot=True)
        assert frame.empty and list(frame.columns) == columns, question.__name__
        assert [t.get_text() for t in fig.axes[0].texts] == ["no data"]
        plt.close(fig)
    assert allocation_heatmap(empty_run).index.names == ["episode", "time_s"]
    assert list(learning_curve(RunSet([empty_run])).columns[:2]) == ["run", "episode"]
    with RunWriter(tmp_path / "resets", kind="test") as writer:  # resets only: no episode took a step
        writer.append("steps", _step(0, 0, 0.0, 0.0, 0.1))
    assert learning_curve(load_run(tmp_path / "resets")).empty


def test_report_has_figures_for_the_questions_with_data(tmp_path):
    run = write_synthetic(tmp_path / "full", kind="<b>bold</b>")
    index = write_report([run.path])
    assert index == run.path / "report" / "index.html"
    page = index.read_text()
    pngs = sorted(p.name for p in (run.path / "report" / "figures").glob("*.png"))
    assert pngs == sorted(f"{q.__name__}.png" for q in QUESTIONS)
    for name in pngs:
        assert f'<img src="figures/{name}"' in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page  # manifest text is escaped
    assert "finished" in page and ">7<" in page  # status and seeds
    skipped = next(line for line in page.splitlines() if "Not in these runs" in line)  # not a training job
    assert skipped.count("(no rows)") == len(TRAIN_JOB_TITLES) and all(t in skipped for t in TRAIN_JOB_TITLES)

    with RunWriter(tmp_path / "steps-only", kind="env") as writer:
        for row in STEPS:
            writer.append("steps", row)
    index = write_report([tmp_path / "steps-only"], out=tmp_path / "out")
    assert index == tmp_path / "out" / "index.html"
    assert [p.name for p in (tmp_path / "out" / "figures").glob("*.png")] == ["learning_curve.png"]
    skipped = next(line for line in index.read_text().splitlines() if "Not in these runs" in line)
    for title in ("Round latency", "Throughput per UE", "Resource allocation", "Split layer", "Energy per device"):
        assert title in skipped
    assert "&#x27;throughput_bps&#x27;" not in skipped and "no rows" in skipped  # empty tables, not errors


def test_report_of_several_runs_defaults_to_the_working_directory(tmp_path, monkeypatch, capsys):
    write_synthetic(tmp_path / "a")
    write_synthetic(tmp_path / "b", reward_offset=2.0)
    monkeypatch.chdir(tmp_path)
    assert main(["report", "a", "b"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "ns6g-report/index.html"
    page = (tmp_path / "ns6g-report" / "index.html").read_text()
    assert page.count("<img ") == len(QUESTIONS) and "a</td>" in page and "b</td>" in page
    assert "ns6g report: loading" in err  # progress for several runs


def test_report_command_refuses_a_non_run_path(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.strip() == f"ns6g report: error: {tmp_path} is not a run directory (it has no manifest.json)"
    assert not (tmp_path / "report").exists()


def test_learning_curve_of_a_real_environment_run(tmp_path):
    env = gym.make("ns6g/LinkControl-v0", episode_steps=5, run_dir=tmp_path / "run")
    returns = []
    for seed in (1, 2):
        env.reset(seed=seed)
        returns.append(sum(env.step(level)[1] for level in range(5)))
    env.close()
    curve = learning_curve(load_run(tmp_path / "run"))
    assert curve["episode"].tolist() == [0, 1] and curve["steps"].tolist() == [5, 5]
    np.testing.assert_allclose(curve["return"], returns)
    assert curve["done"].all() and (curve["sim_time_s"] > 0).all()
    np.testing.assert_allclose(curve["sim_time_total_s"], np.cumsum(curve["sim_time_s"]))


def _truncate(part):
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])


def test_report_refuses_a_damaged_run_unless_asked_to_skip(tmp_path, capsys):
    run = write_synthetic(tmp_path / "run")  # steps: 10 rows in chunks of 4, 4 and 2
    bad = run.path / "steps" / "part-000001.parquet"
    _truncate(bad)
    assert main(["report", str(run.path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err and str(bad) in err and "--skip-damaged" in err
    assert not (run.path / "report").exists()  # refused before anything is written

    assert main(["report", str(run.path), "--skip-damaged"]) == 0
    out, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and err.startswith(
        f"ns6g report: warning: 1 damaged part skipped, 4 rows missing: {bad} (4 rows): not a readable Parquet file")
    page = (run.path / "report" / "index.html").read_text()
    warning = next(line for line in page.splitlines() if "Incomplete" in line)
    assert "4 rows missing" in warning and "part-000001.parquet" in warning
    assert len(load_run(run.path, skip_damaged=True).steps) == 10 - 4


def test_report_of_a_training_folder_shows_its_environment_runs(tmp_path):
    with RunWriter(tmp_path / "job", kind="train") as job:
        job.append("events", {"kind": "train-start"})
        for i in range(2):
            write_synthetic(tmp_path / "job" / "train" / f"env-{i}", kind="env", reward_offset=i)
    curve = learning_curve(load_run(tmp_path / "job"))
    assert sorted(curve["run"].unique()) == [str(tmp_path / "job" / "train" / f"env-{i}") for i in range(2)]
    page = write_report([tmp_path / "job"]).read_text()
    assert page.count("<img ") == len(QUESTIONS) + 1 and "env-0</td>" in page and "env-1</td>" in page
    assert '<h2 id="training_curve">' in page  # its environments' episodes against training steps (2 envs)
    training = training_curve(load_run(tmp_path / "job"))
    assert training["timesteps"].max() == 2 * training.groupby("env")["steps"].sum().max()
    # The default rolling window: 10 episodes for a short job (1 % of a long job's), the mean of the last 10.
    assert training["return_mean"].tolist() == training_curve(load_run(tmp_path / "job"), window=10)["return_mean"].tolist()
    assert training["return_mean"].iloc[-1] == pytest.approx(training["return"].iloc[-10:].mean())
    with pytest.raises(ValueError, match="window must be >= 1"):
        training_curve(load_run(tmp_path / "job"), window=0)


def test_episodes_stay_apart_and_rates_are_drawn_in_mbit_per_s(tmp_path):
    """Two episodes (seeds) of one run measure at the same times: the heatmap keeps them apart (it used to
    add them up), the figures name the episode and its seed, and rates are drawn in Mbit/s."""
    with RunWriter(tmp_path / "run", kind="test") as writer:
        for episode, seed in ((0, 10000), (1, 10001)):
            for time_s in (0.1, 0.2):
                writer.append("radio", {"episode": episode, "seed": seed, "time_s": time_s, "ue": 0, "cell": 0,
                                        "rbs": 10 + episode, "throughput_bps": 2e6 * (episode + 1)})
    run = load_run(tmp_path / "run")
    heat = allocation_heatmap(run)
    assert heat.index.tolist() == [(0, 0.1), (0, 0.2), (1, 0.1), (1, 0.2)]
    assert heat[0].tolist() == [10, 10, 11, 11]
    assert allocation_heatmap(run, episode=1)[0].tolist() == [11, 11]
    _, fig = allocation_heatmap(run, plot=True)
    assert fig.axes[0].get_title().endswith("episode 0 (seed 10000) of 2")
    plt.close(fig)
    stats, fig = per_ue_throughput(run, plot=True)
    assert stats["mean"].tolist() == [3e6]  # the frame keeps the column's unit
    ax = fig.axes[0]
    assert ax.get_ylabel() == "mean throughput (Mbit/s)"
    assert [bar.get_height() for bar in ax.patches] == [3.0]
    plt.close(fig)


def test_runs_written_before_the_seed_column_read_rng_run_as_seed(tmp_path):
    with RunWriter(tmp_path / "old", kind="env") as writer:
        writer.append("steps", {"episode": 0, "step": 0, "rng_run": 5, "reward": 0.0, "sim_time_s": 0.0,
                                "wall_time_s": 0.0})
    steps = load_run(tmp_path / "old").steps
    assert "rng_run" not in steps.columns and steps["seed"].tolist() == [5]

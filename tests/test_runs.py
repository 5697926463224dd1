"""Run directories: what is written is what loads, killed runs stay readable, bad input is named."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import ns6g.envs  # noqa: F401
from ns6g.analysis import NotARunError, RunSchemaError, load_run, load_runs
from ns6g.runs import TABLES, RunError, RunWriter


def test_values_written_equal_values_loaded(tmp_path):
    flows = {
        "flow_id": np.arange(5, dtype=np.int64),
        "kind": ["weights", "activations", "gradients", "weights", "traffic"],
        "src": np.array([1, 2, 3, 4, 5]),
        "dst": np.zeros(5, dtype=np.int32),  # narrower than documented: stored as int64
        "size_bytes": np.array([10, 2**40, 0, 7, 1]),
        "start_s": np.linspace(0, 1, 5),
        "end_s": np.array([0.5, np.nan, 2.0, 3.0, 4.0]),
    }
    with RunWriter(tmp_path / "run", kind="test", config={"alpha": 0.5}, seeds=[3, 4], chunk_rows=2) as run:
        run.append_columns("flows", flows)
        run.append("events", {"time_s": 1.5, "kind": "handover", "node": 7, "detail": "cell 1 -> 2"})
        run.set(best_return=12.5)
    loaded = load_run(tmp_path / "run")
    assert loaded.status == "finished" and loaded.manifest["seeds"] == [3, 4]
    assert loaded.manifest["config"] == {"alpha": 0.5} and loaded.manifest["fields"] == {"best_return": 12.5}
    for key in ("versions", "host", "start_time", "end_time", "git_revision"):
        assert key in loaded.manifest
    f = loaded.flows
    assert list(f.columns) == list(TABLES["flows"])
    assert f.dtypes["dst"] == np.int64 and f.dtypes["end_s"] == np.float64 and f.dtypes["kind"] == "string"
    np.testing.assert_array_equal(f["size_bytes"], flows["size_bytes"])
    np.testing.assert_array_equal(f["end_s"], flows["end_s"])  # NaN where it was NaN
    assert list(f["kind"]) == flows["kind"]
    assert loaded.events.loc[0, "node"] == 7 and loaded.events.loc[0, "detail"] == "cell 1 -> 2"
    assert loaded.radio.empty and list(loaded.radio.columns) == list(TABLES["radio"])


def test_rows_with_different_columns_are_kept(tmp_path):
    with RunWriter(tmp_path / "run", kind="test") as run:
        run.append("steps", {"episode": 0, "step": 0, "x_mbps": 1.0})
        run.append("steps", {"episode": 0, "step": 1, "y_ms": 2.0})
    steps = load_run(tmp_path / "run").steps
    assert steps["x_mbps"].tolist()[0] == 1.0 and np.isnan(steps["x_mbps"][1])
    assert steps["y_ms"].tolist()[1] == 2.0


def test_exception_marks_the_run_failed(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with RunWriter(tmp_path / "run", kind="test") as run:
            run.append("events", {"kind": "start"})
            1 / 0
    loaded = load_run(tmp_path / "run")
    assert loaded.status == "failed" and "ZeroDivisionError" in loaded.manifest["error"]
    assert len(loaded.events) == 1  # what was buffered before the error is kept


def test_sigkill_leaves_every_complete_chunk_readable(tmp_path):
    run_dir = tmp_path / "run"
    script = textwrap.dedent(f"""
        import sys, time
        from ns6g.runs import RunWriter
        run = RunWriter({str(run_dir)!r}, kind="test", chunk_rows=100)
        i = 0
        while True:
            run.append("flows", {{"flow_id": i, "kind": "traffic", "src": 0, "dst": 1, "size_bytes": 1500,
                                  "start_s": i * 1e-3, "end_s": i * 1e-3 + 1e-4}})
            i += 1
            if i == 1000:
                print("ready", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    loaded = load_run(run_dir)
    assert loaded.status == "unfinished" and loaded.manifest["end_time"] is None
    flows = loaded.flows
    assert len(flows) >= 1000 and len(flows) % 100 == 0  # whole chunks only
    np.testing.assert_array_equal(flows["flow_id"], np.arange(len(flows)))


def test_not_a_run_directory(tmp_path):
    with pytest.raises(NotARunError, match="no manifest.json"):
        load_run(tmp_path)
    with pytest.raises(NotARunError, match="no such directory"):
        load_run(tmp_path / "missing")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(NotARunError, match="not valid JSON"):
        load_run(tmp_path)
    with pytest.raises(NotARunError, match="no run directory matches"):
        load_runs(str(tmp_path / "nothing-*"))


def test_corrupt_chunk_is_skipped_with_a_warning(tmp_path):
    with RunWriter(tmp_path / "run", kind="test", chunk_rows=1) as run:
        for i in range(3):
            run.append("events", {"kind": f"e{i}"})
    bad = tmp_path / "run" / "events" / "part-000001.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.warns(RuntimeWarning, match="part-000001.parquet"):
        events = load_run(tmp_path / "run").events
    assert list(events["kind"]) == ["e0", "e2"]


def test_newer_schema_is_refused(tmp_path):
    RunWriter(tmp_path / "run", kind="test").close()
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (tmp_path / "run" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunSchemaError, match="schema 99"):
        load_run(tmp_path / "run")


def test_writer_refuses_bad_input(tmp_path):
    RunWriter(tmp_path / "run", kind="test").close()
    with pytest.raises(RunError, match="already holds a run"):
        RunWriter(tmp_path / "run", kind="test")
    with RunWriter(tmp_path / "other", kind="test") as run:
        with pytest.raises(ValueError, match="unknown table 'stepz'"):
            run.append("stepz", {"a": 1})
        with pytest.raises(ValueError, match="detail"):
            RunWriter(tmp_path / "third", kind="test", detail="verbose")


def test_load_runs_concatenates_with_a_run_column(tmp_path):
    for i in range(3):
        with RunWriter(tmp_path / f"sweep-{i}", kind="test", seeds=[i]) as run:
            run.append("rounds", {"round": 0, "protocol": "fedavg", "start_s": 0.0, "end_s": 1.0 + i})
    runs = load_runs(str(tmp_path / "sweep-*"))
    rounds = runs.rounds
    assert list(rounds.columns[:1]) == ["run"] and len(rounds) == 3
    assert rounds.groupby("run", observed=True)["end_s"].first().tolist() == [1.0, 2.0, 3.0]
    assert list(runs.manifests["status"]) == ["finished"] * 3


@pytest.mark.parametrize("detail", ["summary", "full"])
def test_environment_writes_its_steps(tmp_path, detail):
    env = gym.make("ns6g/LinkControl-v0", episode_steps=5, run_dir=tmp_path / "run", trace_detail=detail)
    rewards = []
    for seed in (1, 2):
        env.reset(seed=seed)
        for level in range(5):
            rewards.append(env.step(level)[1])
    env.close()
    run = load_run(tmp_path / "run")
    assert run.status == "finished" and run.manifest["config"]["scenario"] == "link-control"
    steps = run.steps
    assert len(steps) == 12 and steps["episode"].tolist() == [0] * 6 + [1] * 6
    acted = steps[steps["step"] > 0]
    np.testing.assert_array_equal(acted["reward"], rewards)
    assert [a.tolist() for a in acted["action"]] == [[float(i)] for i in range(5)] * 2
    assert acted["truncated"].tolist() == [False] * 4 + [True] + [False] * 4 + [True]
    assert {"throughput_mbps", "delay_ms", "obs_mean"} <= set(steps.columns)
    assert ("obs" in steps.columns) == (detail == "full")
    assert list(run.events["kind"]) == ["reset", "reset"]


def test_taken_run_dir_is_refused_before_the_scenario_starts(tmp_path):
    RunWriter(tmp_path / "run", kind="test").close()
    with pytest.raises(RunError, match="already holds a run"):
        gym.make("ns6g/LinkControl-v0", run_dir=tmp_path / "run")


def test_docs_list_every_documented_column():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "traces.md").read_text()
    for table, columns in TABLES.items():
        assert f"### {table}" in doc
        for column in columns:
            assert f"`{column}`" in doc, f"docs/traces.md does not document {table}.{column}"


def test_values_arrow_cannot_store_fail_the_run_with_the_column_named(tmp_path):
    run = RunWriter(tmp_path / "run", kind="test")
    run.append("events", {"kind": "fine"})
    run.flush()
    run.append("events", {"kind": "x", "node": 1})
    run.append("events", {"kind": "y", "node": "not a number"})
    with pytest.raises(RunError, match="'node'"):
        run.close()
    loaded = load_run(tmp_path / "run")
    assert loaded.status == "failed" and "node" in loaded.manifest["error"]
    assert list(loaded.events["kind"]) == ["fine"]  # what was written before stays
    with pytest.raises(RunError, match="closed"):
        run.append("events", {"kind": "late"})


def test_load_runs_keeps_natural_order(tmp_path):
    for i in (10, 2, 1):
        with RunWriter(tmp_path / f"sweep-{i}", kind="test") as run:
            run.append("events", {"kind": f"run{i}"})
    runs = load_runs(str(tmp_path / "sweep-*"))
    assert [p.path.name for p in runs.runs] == ["sweep-1", "sweep-2", "sweep-10"]
    assert list(runs.events["run"].cat.categories) == [str(tmp_path / f"sweep-{i}") for i in (1, 2, 10)]
    assert "version_ns6g" in runs.manifests.columns

"""Run directories: what is written is what loads, killed runs stay readable, bad input is named."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import ns6g.envs  # noqa: F401
from ns6g.analysis import DamagedRunError, NotARunError, RunSchemaError, load_run, load_runs
from ns6g.core.runs import TABLES, RunError, RunWriter


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
        from ns6g.core.runs import RunWriter
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


def _steps_run(path, parts=5, rows_per_part=486):
    """A run whose steps table is ``parts`` chunks of ``rows_per_part`` rows (2430 rows by default)."""
    with RunWriter(path, kind="test", chunk_rows=rows_per_part) as run:
        for i in range(parts * rows_per_part):
            run.append("steps", {"episode": 0, "step": i, "reward": float(i)})
    return path / "steps"


def _truncate(part):
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])  # what a full disk or a copy cut short leaves


def test_damaged_part_is_refused_with_the_file_named(tmp_path):
    steps = _steps_run(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["part_rows"] == {"steps": [486] * 5}
    _truncate(steps / "part-000002.parquet")
    with pytest.raises(DamagedRunError, match=r"part-000002\.parquet \(486 rows\).*skip_damaged=True"):
        load_run(tmp_path / "run")
    with pytest.raises(DamagedRunError, match="part-000002"):
        load_runs(str(tmp_path / "ru*"))
    (steps / "part-000003.parquet").unlink()  # a lost part is found too
    (steps / "part-000002.parquet").unlink()
    with pytest.raises(DamagedRunError, match=r"part-000002\.parquet \(486 rows\): the part is missing"):
        load_run(tmp_path / "run")


def test_skipping_damaged_parts_says_what_is_missing(tmp_path):
    steps = _steps_run(tmp_path / "run")
    _truncate(steps / "part-000001.parquet")
    (steps / "part-000004.parquet").write_bytes(b"PAR1 this is not parquet")
    run = load_run(tmp_path / "run", skip_damaged=True)
    frame = run.steps
    assert len(frame) == 2430 - 2 * 486
    np.testing.assert_array_equal(frame["step"], np.r_[0:486, 972:1944])
    assert frame.attrs["missing_rows"] == 2 * 486
    assert frame.attrs["missing_parts"] == [str(steps / "part-000001.parquet"), str(steps / "part-000004.parquet")]
    assert [(p.path.name, p.rows) for p in run.damaged] == [("part-000001.parquet", 486), ("part-000004.parquet", 486)]
    assert run.events.attrs["missing_rows"] == 0 and run.events.attrs["missing_parts"] == []
    sweep = load_runs(str(tmp_path / "ru*"), skip_damaged=True)
    assert sweep.steps.attrs["missing_rows"] == 2 * 486 and len(sweep.damaged) == 2


def test_damaged_data_pages_are_found_when_the_table_loads(tmp_path):
    steps = _steps_run(tmp_path / "run", parts=2, rows_per_part=500)
    part = steps / "part-000000.parquet"
    data = bytearray(part.read_bytes())
    data[40:400] = bytes(b ^ 0xFF for b in data[40:400])  # the footer is intact, the pages are not
    part.write_bytes(bytes(data))
    run = load_run(tmp_path / "run")  # the footers are fine: opening works
    with pytest.raises(DamagedRunError, match=r"part-000000\.parquet \(500 rows\): its data cannot be read"):
        run.steps
    run = load_run(tmp_path / "run", skip_damaged=True)
    assert len(run.steps) == 500 and run.steps.attrs["missing_rows"] == 500
    assert run.steps["step"].tolist() == list(range(500, 1000))
    assert "\n" not in str(run.damaged[0])


def test_a_run_without_part_rows_says_the_missing_count_is_unknown(tmp_path):
    steps = _steps_run(tmp_path / "run", parts=2, rows_per_part=10)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    del manifest["part_rows"]  # as written by an ns6g before part_rows existed
    (tmp_path / "run" / "manifest.json").write_text(json.dumps(manifest))
    _truncate(steps / "part-000000.parquet")
    run = load_run(tmp_path / "run", skip_damaged=True)
    assert len(run.steps) == 10 and run.steps.attrs["missing_rows"] is None
    assert "an unknown number of rows" in str(run.damaged[0])


def test_nested_runs_are_found_by_load_run_and_load_runs(tmp_path):
    """A training output folder holds the runs of its environments: they are what its tables show."""
    with RunWriter(tmp_path / "job", kind="train") as job:
        job.append("events", {"kind": "train-start"})
        for i, where in enumerate(["train/env-0", "train/env-1", "eval/random"]):
            with RunWriter(tmp_path / "job" / where, kind="env") as env:
                env.append("steps", {"episode": 0, "step": 1, "reward": float(i)})
    run = load_run(tmp_path / "job")
    assert [str(r.path.relative_to(tmp_path / "job")) for r in run.runs] == ["eval/random", "train/env-0", "train/env-1"]
    steps = run.steps
    assert steps["reward"].tolist() == [2.0, 0.0, 1.0]
    assert [Path(r).name for r in steps["run"]] == ["random", "env-0", "env-1"]
    assert set(run.events["kind"]) == {"train-start"}
    sweep = load_runs(str(tmp_path / "job"))
    assert len(sweep.steps) == 3 and len(sweep.manifests) == 4


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


def _untraced_rewards(seed, actions):
    env = gym.make("ns6g/LinkControl-v0", episode_steps=50)
    try:
        env.reset(seed=seed)
        return [env.step(a)[1] for a in actions]
    finally:
        env.close()


def _fail_writes(monkeypatch):
    """The disk fills up: every Parquet write of this process raises ENOSPC from now on."""
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("ns6g.core.runs.pq.write_table", full)


def test_full_disk_stops_tracing_once_and_the_env_goes_on(tmp_path, monkeypatch):
    from ns6g.core.runs import TraceWriteWarning

    actions = [i % 5 for i in range(30)]
    env = gym.make("ns6g/LinkControl-v0", episode_steps=50, run_dir=tmp_path / "run")
    env.unwrapped.recorder.writer.chunk_rows = 4  # a chunk every 4 rows: writes happen during the steps
    env.reset(seed=3)
    rewards = [env.step(a)[1] for a in actions[:10]]
    _fail_writes(monkeypatch)
    with pytest.warns(TraceWriteWarning) as caught:
        rewards += [env.step(a)[1] for a in actions[10:]]  # every step's result comes back
        env.close()  # and close finishes
    assert [str(w.message) for w in caught if w.category is TraceWriteWarning] == [
        f"run {tmp_path / 'run'}: tracing stopped (cannot write {tmp_path / 'run' / 'steps' / 'part-000002.parquet'}: "
        "[Errno 28] No space left on device); the run goes on without a trace"]
    assert rewards == _untraced_rewards(3, actions)  # the same results as without a trace
    run = load_run(tmp_path / "run")
    assert run.status == "failed" and "No space left on device" in run.manifest["trace_error"]
    assert "tracing stopped" in run.manifest["error"]
    assert len(run.steps) == 8 and run.manifest["rows_not_written"]["steps"] == 31 - 8
    assert not list((tmp_path / "run" / "steps").glob(".*.tmp"))  # no half-written temporary left


def test_run_directory_gone_mid_run_stops_tracing_and_the_env_goes_on(tmp_path):
    """A real failure, no test double: the run directory is replaced by a file while the env runs."""
    from ns6g.core.runs import TraceWriteWarning

    env = gym.make("ns6g/LinkControl-v0", episode_steps=50, run_dir=tmp_path / "run")
    env.unwrapped.recorder.writer.chunk_rows = 4
    env.reset(seed=5)
    for a in range(8):
        env.step(a % 5)
    (tmp_path / "run").rename(tmp_path / "moved")
    (tmp_path / "run").write_text("not a directory any more")
    with pytest.warns(TraceWriteWarning, match="tracing stopped") as caught:
        for a in range(20):
            observation, reward, terminated, truncated, info = env.step(a % 5)
            assert np.isfinite(reward) and env.observation_space.contains(observation)
        env.reset(seed=6)  # a new episode works too
        env.step(0)
        env.close()
    assert sum(w.category is TraceWriteWarning for w in caught) == 1
    run = load_run(tmp_path / "moved")
    assert run.status == "unfinished"  # the manifest could not be updated: what it says is still true
    assert len(run.steps) == 8 and run.steps["step"].tolist() == list(range(8))

"""The command line: benchmarks report what they promise, the demo trains and beats nothing by fiat."""

import json

import numpy as np

import pytest

from ns6g.apps import bench
from ns6g.analysis import load_run, load_runs
from ns6g.apps.cli import main, make_parser
from ns6g.apps.demo import DemoConfig, format_summary, run_demo


def test_help_names_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("build", "bench", "demo", "envs", "version"):
        assert f"  {command}" in text


def test_bench_bridge_json_has_the_documented_keys(capsys):
    assert main(["bench", "bridge", "--json", "--iterations", "1000", "--contention", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("shm_rtt_us_median", "shm_rtt_us_p99", "socket_rtt_us_median", "speedup_median",
                "memcpy_us_median", "copy_ratio", "speedup_min", "shm_copy_rtt_us_median", "shm_copy_rtt_us_p99",
                "copy_out_ratio", "copy_speedup_median", "copy_speedup_min"):
        assert result[key] > 0
    assert result["contention"] == 1
    assert [c["obs_values"] for c in result["cases"]] == list(bench.BRIDGE_SIZES)
    assert result["shm_rtt_us_median"] == result["cases"][1]["shm_rtt_us_median"]  # the 64-value case
    assert result["copy_ratio"] == result["cases"][-1]["shm_rtt_us_median"] / result["memcpy_us_median"]
    assert result["copy_out_ratio"] == result["cases"][-1]["shm_copy_rtt_us_median"] / result["memcpy_us_median"]
    assert result["speedup_min"] == min(c["socket_rtt_us_median"] / c["shm_rtt_us_median"] for c in result["cases"])
    assert [t["target"] for t in result["targets"]] == [t[0] for t in bench.BRIDGE_TARGETS]
    for case in result["cases"]:  # every timed exchange waited in one of the counted ways, or not at all
        for waits in (case["python_waits"], case["shm_copy_python_waits"]):  # counted apart per shm contender
            assert waits["spins_won"] + waits["spins_lost"] + waits["skipped_backoff"] + waits["skipped_same_cpu"] \
                <= case["samples"]
    text = bench.format_bridge(result)
    assert "1 busy processes beside it" in text and "memcpy of 256 KB" in text and "targets (issue 17)" in text
    assert "shm+copy" in text and "with the copy out" in text


def test_busy_processes_run_until_the_block_ends():
    with bench._busy_processes(2) as procs:
        assert len(procs) == 2 and all(p.poll() is None for p in procs)
    assert all(p.returncode is not None for p in procs)  # killed and reaped: nothing left behind


def test_bench_reset_and_parallel_measure_every_case():
    reset = bench.bench_reset(resets=5, relaunches=2, progress=False)
    assert reset["resets"] == 5 and reset["relaunches"] == 2
    assert 0 < reset["reset_ms_median"] and 0 < reset["relaunch_ms_median"]
    assert "reset median" in bench.format_reset(reset)

    parallel = bench.bench_parallel(seconds=0.2, progress=False)
    assert [c["envs"] for c in parallel["cases"]] == [1, 2, 4, 8]
    assert all(c["steps"] >= c["envs"] for c in parallel["cases"])
    assert parallel["ratio_8_over_2"] > 0


def test_unknown_benchmark_is_refused(capsys):
    with pytest.raises(SystemExit):
        make_parser().parse_args(["bench", "nonsense"])
    assert "invalid choice" in capsys.readouterr().err


def test_demo_trains_evaluates_and_saves(tmp_path, monkeypatch):
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where SB3's default logger makes SB3-<date>/
    config = DemoConfig(timesteps=512, n_envs=2, seed=3, eval_seeds=1, out=tmp_path / "demo")
    summary = run_demo(config, progress=False)
    assert not any(scratch.glob("SB3-*"))  # the learner's log is not wanted: nothing left in the temp folder
    assert (tmp_path / "demo" / "ppo.zip").is_file()
    assert json.loads((tmp_path / "demo" / "summary.json").read_text())["headline_baseline"].startswith("fixed-")
    policies = [row["policy"] for row in summary["table"]]
    assert policies[0] == "ppo" and policies[2] == "random"
    assert "against fixed-" in format_summary(summary)
    assert (tmp_path / "demo" / "report" / "index.html").is_file()
    run = load_run(tmp_path / "demo")
    assert run.status == "finished" and run.manifest["fields"]["headline_baseline"] == summary["headline_baseline"]
    assert list(run.events["kind"]) == ["train-start", "train-end", "eval-end"]
    evaluated = load_runs(str(tmp_path / "demo" / "eval" / "*"))
    assert len(evaluated.runs) == 2 + 8  # ppo, random, one per fixed rate
    ppo_steps = load_run(tmp_path / "demo" / "eval" / "ppo").steps
    ppo_return = ppo_steps["reward"].sum()
    assert ppo_return == pytest.approx(summary["mean_return"]["ppo"])


def test_ran_demo_compares_with_the_schedulers(tmp_path):
    config = DemoConfig(demo="ran", timesteps=256, n_envs=2, seed=1, eval_seeds=1, out=tmp_path / "ran",
                        env_kwargs={"episode_steps": 10})
    summary = run_demo(config, progress=False)
    assert [row["policy"] for row in summary["table"]] == ["ppo", "proportional_fair", "round_robin", "max_rate"]
    mr = next(r for r in summary["table"] if r["policy"] == "max_rate")
    rr = next(r for r in summary["table"] if r["policy"] == "round_robin")
    assert mr["sum_throughput_mbps"] > rr["sum_throughput_mbps"] and mr["jain_index"] < rr["jain_index"]
    assert len(load_run(tmp_path / "ran" / "eval" / "proportional_fair").radio) == 11 * 4


def test_bench_trace_and_load_measure_what_they_say():
    trace = bench.bench_trace(episodes=2, progress=False)
    assert trace["steps_per_variant"] == 2 * 200 and trace["rows_written"] == 3 * 201  # warm-up episode too
    assert trace["plain_s"] > 0 and trace["traced_s"] > 0
    load = bench.bench_load(rows=20_000, chunk_rows=5_000, repeats=1, progress=False)
    assert load["chunks"] == 4 and load["load_s_median"] > 0


def test_bench_ran_reports_the_documented_keys():
    result = bench.bench_ran(ues=(7, 14), sim_seconds=0.02, progress=False)
    for case in result["cases"]:
        assert {"ues", "cells", "bandwidth_mhz", "sim_s_per_wall_s", "steps_per_s", "bridge_share"} <= set(case)
        assert case["steps"] > 0 and 0 < case["bridge_share"] < 1
    assert np.isfinite(result["cost_exponent"])
    assert "cost exponent" in bench.format_ran(result)


def test_bench_split_reports_the_documented_keys():
    result = bench.bench_split(tasks=1, progress=False)
    keys = {"uplink_mbps", "best_split", "best_latency_ms", "greedy_split", "greedy_latency_ms",
            "local_latency_ms", "edge_latency_ms"}
    for case in result["cases"]:
        assert keys <= set(case)
        assert case["best_latency_ms"] == min(case["latency_ms_by_split"])
    rates = [c["uplink_mbps"] for c in result["cases"]]
    assert rates == sorted(rates, reverse=True) and result["steps_per_s"] > 0
    # The best split never moves toward the server as the uplink rate falls.
    best = [c["best_split"] for c in result["cases"]]
    assert best == sorted(best)

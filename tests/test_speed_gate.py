"""The suite's speed gate: the RAN workload timed against a fixed reference workload in the same run
(``kind = "speed"`` cases, ns6g.apps.bench.ran_speed), its baseline entry and its failure message.
No timed assertions: the gate's verdicts are checked on fixed tables and on baselines far from any
plausible measurement; the slowdown demonstration is ``ns6g bench speed`` (docs/performance.md)."""

from __future__ import annotations

import json
import math

import pytest

from ns6g.apps import bench
from ns6g.apps.cli import main
from ns6g.apps.suite import (SPEED_TOLERANCE, BaselineFile, SuiteError, compare, load_suite, metric_values,
                             run_suite, tasks_of)

SPEED = """
seeds = [1, 2, 3]
[[case]]
kind = "speed"
name = "ran-speed"
ues = [7]
window_s = 0.01
rounds = 2
metrics = ["normalised_speed", "sim_s_per_wall_s", "reference_sim_s_per_wall_s"]
"""


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """One small speed suite run: (suite, table, out folder)."""
    path = tmp_path_factory.mktemp("speed") / "suite.toml"
    path.write_text(SPEED)
    suite = load_suite(path)
    out = path.parent / "out"
    table, regressions = run_suite(suite, out=out, progress=False)
    assert regressions == []
    return suite, table, out


def test_ran_speed_alternates_the_workloads_and_takes_the_median_ratio():
    speed = bench.ran_speed(ues=7, window_s=0.01, rounds=3)
    assert len(speed["ran_rates"]) == 3 and len(speed["reference_rates"]) == 4  # reference around every window
    assert all(r > 0 for r in speed["ran_rates"] + speed["reference_rates"])
    ran, ref = speed["ran_rates"], speed["reference_rates"]
    assert speed["ratios"] == pytest.approx([ran[i] / math.sqrt(ref[i] * ref[i + 1]) for i in range(3)])
    assert speed["normalised_speed"] == pytest.approx(sorted(speed["ratios"])[1])
    assert speed["sim_s_per_wall_s"] == pytest.approx(sorted(ran)[1])


def test_a_speed_case_is_one_task_per_ue_count_and_reports_its_metrics(measured):
    suite, table, out = measured
    assert [(t.contender, t.seed) for t in tasks_of(suite)] == [("7-ues", bench.RAN_SEED)]
    values = metric_values(table)
    assert set(values) == {f"ran-speed/7-ues/{m}" for m in ("normalised_speed", "sim_s_per_wall_s",
                                                           "reference_sim_s_per_wall_s")}
    assert values["ran-speed/7-ues/normalised_speed"] > 0
    detail = json.loads((out / "speed.json").read_text())["ran-speed/7-ues"]
    assert detail["normalised_speed"] == values["ran-speed/7-ues/normalised_speed"]


def test_the_gate_passes_its_own_baseline_and_fails_one_that_claims_40_percent_more(measured):
    from ns6g.apps.suite import baseline_from

    suite, table, _ = measured
    recorded = baseline_from(table, suite=suite)
    metric = "ran-speed/7-ues/normalised_speed"
    assert recorded["metrics"][metric]["tolerance"] == SPEED_TOLERANCE == 0.25
    assert compare(metric_values(table), BaselineFile.model_validate(recorded)) == []
    recorded["metrics"][metric]["value"] *= 1.4  # the measured figure is then 1 - 1/1.4 = 29 % below
    regressions = compare(metric_values(table), BaselineFile.model_validate(recorded))
    assert [r.metric for r in regressions] == [metric]
    assert f"{regressions[0].value:.6g} is below the baseline {regressions[0].baseline:.6g} by more than 25%" \
        in str(regressions[0])
    recorded["metrics"][metric]["value"] /= 1.4 * 1.3  # 30 % more speed than claimed: fine
    assert compare(metric_values(table), BaselineFile.model_validate(recorded)) == []


def test_the_command_fails_naming_the_metric_the_baseline_and_both_rates(measured, tmp_path, capsys):
    suite, table, _ = measured
    suite_file = tmp_path / "suite.toml"
    suite_file.write_text(SPEED.replace('metrics = ["normalised_speed", "sim_s_per_wall_s", '
                                        '"reference_sim_s_per_wall_s"]', ""))
    value = metric_values(table)["ran-speed/7-ues/normalised_speed"]
    baseline = tmp_path / "baseline.json"
    for factor, code in ((0.1, 0), (10.0, 1)):  # far below / far above anything a run measures
        baseline.write_text(json.dumps({"metrics": {"ran-speed/7-ues/normalised_speed": {
            "value": factor * value, "tolerance": SPEED_TOLERANCE}}}))
        assert main(["bench", "suite", "--config", str(suite_file), "--baseline", str(baseline), "--json"]) == code
        err = capsys.readouterr().err
        if code:
            line = next(line for line in err.splitlines() if line.startswith("REGRESSION"))
            assert "ran-speed/7-ues/normalised_speed" in line and f"baseline {factor * value:.6g}" in line
            assert "RAN 7 UEs" in line and "reference" in line and "sim-s/wall-s" in line
        else:
            assert "no regression" in err


def test_bad_speed_cases_are_refused_by_name(tmp_path):
    for body, message in (('ues = [100, 100]', "ues repeats a count"),
                          ('metrics = ["wall_s"]', "metrics"),
                          ('rounds = 0', "rounds"),
                          ('seeds = [1]', "seeds")):  # a speed case's seed is fixed
        path = tmp_path / "suite.toml"
        path.write_text(f'seeds = [1]\n[[case]]\nkind = "speed"\nname = "s"\n{body}\n')
        with pytest.raises(SuiteError, match=message) as info:
            load_suite(path)
        assert "case s (speed case)" in str(info.value)


def test_bench_ran_prints_issue_17s_targets_beside_the_figures():
    result = bench.bench_ran(ues=(7, 14), sim_seconds=0.02, progress=False)
    text = bench.format_ran(result)
    assert ">=  2.0" in text and ">=  0.5" in text and "<=  0.9" in text
    assert "sim-s/wall-s at 100 UEs" in text and "n/a (not measured)" in text  # 100 and 1000 UEs not run here
    exponent_line = next(line for line in text.splitlines() if line.startswith("cost exponent (log"))
    assert f"{result['cost_exponent']:.2f}" in exponent_line  # the figure line above the targets
    target_line = next(line for line in text.splitlines() if line.startswith("  cost exponent "))
    assert f"{result['cost_exponent']:.3g}" in target_line

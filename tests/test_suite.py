"""``ns6g bench suite``: results tables, the regression gate's exit codes, and Ray against the process pool."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ns6g.apps.cli import main
from ns6g.apps.suite import SuiteError, load_suite, run_suite, tasks_of

SMALL = """
seeds = [4, 5]
[[case]]
name = "link"
env = "ns6g/LinkControl-v0"
env_kwargs = { episode_steps = 20 }
contenders = ["fixed-3Mbps", "random"]
metrics = ["return", "delay_ms"]
"""


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "suite.toml"
    path.write_text(SMALL)
    return path


def test_results_tables_and_the_regression_gate(small, tmp_path, capsys):
    out = tmp_path / "out"
    baseline = tmp_path / "baseline.json"
    assert main(["bench", "suite", "--config", str(small), "--out", str(out), "--write-baseline", str(baseline),
                 "--jobs", "2"]) == 0
    table = pd.read_csv(out / "results.csv")
    tasks = pd.read_csv(out / "tasks.csv")
    assert list(table["contender"]) == ["fixed-3Mbps", "random"] and list(table["seeds"]) == [2, 2]
    assert table["return"].tolist() == pytest.approx(tasks.groupby("contender", sort=False)["return"].mean().tolist())
    assert "| link" in (out / "results.md").read_text()
    metrics = json.loads((out / "results.json").read_text())["metrics"]
    assert set(metrics) == {f"link/{c}/{m}" for c in ("fixed-3Mbps", "random") for m in ("return", "delay_ms")}
    capsys.readouterr()

    # Same seeds, same results: the written baseline passes.
    assert main(["bench", "suite", "--config", str(small), "--baseline", str(baseline), "--jobs", "2"]) == 0
    assert "no regression" in capsys.readouterr().err

    # A baseline 20 % better than what runs, with 5 % tolerance: exit 1 naming the metric.
    data = json.loads(baseline.read_text())
    data["metrics"] = {"link/fixed-3Mbps/return": {"value": 1.2 * metrics["link/fixed-3Mbps/return"]},
                       "link/fixed-3Mbps/delay_ms": {"value": 0.8 * metrics["link/fixed-3Mbps/delay_ms"],
                                                     "higher_is_better": False, "tolerance": 0.1}}
    baseline.write_text(json.dumps(data))
    assert main(["bench", "suite", "--config", str(small), "--baseline", str(baseline), "--jobs", "2"]) == 1
    err = capsys.readouterr().err
    assert "REGRESSION link/fixed-3Mbps/return" in err and "REGRESSION link/fixed-3Mbps/delay_ms" in err
    # Within tolerance: 3 % worse with 5 % allowed passes.
    data["metrics"] = {"link/fixed-3Mbps/return": {"value": 1.03 * metrics["link/fixed-3Mbps/return"]}}
    baseline.write_text(json.dumps(data))
    assert main(["bench", "suite", "--config", str(small), "--baseline", str(baseline), "--jobs", "2"]) == 0


def test_unknown_metrics_and_bad_files_are_refused(small, tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"metrics": {"link/fixed-3Mbps/throughput": {"value": 1.0}}}))
    assert main(["bench", "suite", "--config", str(small), "--baseline", str(baseline), "--jobs", "2"]) == 2
    assert "did not report: link/fixed-3Mbps/throughput" in capsys.readouterr().err
    baseline.write_text(json.dumps({"metrics": {"x": {"value": 1.0, "tolerence": 0.1}}}))
    assert main(["bench", "suite", "--config", str(small), "--baseline", str(baseline)]) == 2
    assert "tolerence" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.replace("contenders", "contender"))
    with pytest.raises(SuiteError, match=r"case link \(env case\).contender: Extra inputs are not permitted"):
        load_suite(bad)
    bad.write_text(SMALL.replace('"random"', '"oracle"'))
    with pytest.raises(SuiteError, match="no contender 'oracle'.*random"):
        run_suite(load_suite(bad), jobs=1, progress=False)


def test_the_default_suite_is_valid():
    suite = load_suite()
    assert len(suite.cases) >= 4 and len(tasks_of(suite)) == sum(
        len(c.contenders) * (1 if c.kind == "speed" else len(suite.seeds)) for c in suite.cases)


def test_ray_gives_the_same_table_as_the_process_pool(small):
    pytest.importorskip("ray")
    suite = load_suite(small)
    pool, _ = run_suite(suite, backend="process", jobs=2, progress=False)
    on_ray, _ = run_suite(suite, backend="ray", jobs=2, progress=False)
    pd.testing.assert_frame_equal(pool, on_ray)


def test_learner_cases_run_protocols_over_the_cosimulated_network(tmp_path):
    path = tmp_path / "fl.toml"
    path.write_text("""
seeds = [0]
[[case]]
kind = "fl"
name = "fl"
network = { cells = 1 }
job = { clients = 3, rounds = 1, model = "small_cnn", cut = 2 }
contenders = ["fedavg", "splitfed-v1"]
metrics = ["final_accuracy", "sim_time_s", "uplink_mbytes"]
""")
    table, _ = run_suite(load_suite(path), jobs=2, progress=False)
    rows = table.set_index("contender")
    assert (rows["final_accuracy"] > 0.2).all() and (rows["sim_time_s"] > 0).all()
    # Split learning sends activations every batch: more uplink than FedAvg's one model upload.
    assert rows.loc["splitfed-v1", "uplink_mbytes"] > rows.loc["fedavg", "uplink_mbytes"]
    path.write_text(path.read_text().replace('"fedavg"', '"fedavgg"'))
    with pytest.raises(SuiteError, match="no protocol 'fedavgg'"):
        run_suite(load_suite(path), jobs=1, progress=False)
    path.write_text(path.read_text().replace('"final_accuracy"', '"accuracy"'))
    with pytest.raises(SuiteError, match="metrics"):
        load_suite(path)


def test_the_shipped_baseline_names_only_metrics_of_the_default_suite():
    import json

    from ns6g.apps.suite import DEFAULT_SUITE, BaselineFile

    baseline = BaselineFile.model_validate(json.loads((DEFAULT_SUITE.parent / "default-baseline.json").read_text()))
    suite = load_suite()
    names = {f"{c.name}/{contender}/{m}" for c in suite.cases for contender in c.contenders for m in c.metrics}
    assert set(baseline.metrics) <= names
    assert not baseline.metrics["fsl-digits-6g-cell/splitfed-v1/sim_time_s"].higher_is_better

"""The flagship demo (``make demo``): agent, learner jobs over the emulated cell, and one report."""

from __future__ import annotations

import json

from ns6g.analysis import load_run
from ns6g.apps.cli import main


def test_flagship_demo_trains_learns_and_reports(tmp_path, capsys):
    out = tmp_path / "flagship"
    assert main(["demo", "--timesteps", "256", "--n-envs", "2", "--eval-seeds", "2", "--fl-rounds", "2",
                 "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert str(out / "report" / "index.html") in printed and (out / "report" / "index.html").is_file()
    # The agent on D2DRelay's challenge, against every heuristic and the upper reference, as bench learn tables them.
    agent = summary["agent"]
    kinds = {row["policy"]: row["kind"] for row in agent["rows"]}
    assert kinds == {"agent": "agent", "direct": "baseline", "nearest_relay": "baseline", "best_two_hop": "baseline",
                     "random": "baseline", "airtime_two_hop": "reference", "best_fixed_assignment": "upper"}
    assert agent["best_heuristic"] != "best_fixed_assignment" and agent["upper_reference"] == "best_fixed_assignment"
    assert f"best heuristic {agent['best_heuristic']}" in printed and "upper reference best_fixed_assignment" in printed
    assert agent["seeds"] == [10000, 10001] and agent["paired_vs_best"]["seeds"] == 2
    # The report's training curve is the training job's (train/env-<i>), not evaluation episodes.
    report = (out / "report" / "index.html").read_text()
    assert (out / "agent" / "learning_curve.png").is_file()
    assert "Training curve" in report and (out / "report" / "figures" / "training_curve.png").is_file()
    for protocol in ("splitfed-v1", "fedavg"):
        job = summary["fsl"][protocol]
        assert job["final_accuracy"] > 0.3  # 10 classes: chance is 0.1
        assert job["sim_time_s"] > 0 and job["energy_j"] > 0
        rounds = load_run(out / "fsl" / protocol).rounds
        assert rounds["round"].nunique() == 2
    # Split learning sends activations every batch: more uplink bytes than FedAvg's model uploads here.
    assert summary["fsl"]["splitfed-v1"]["uplink_mbytes"] > summary["fsl"]["fedavg"]["uplink_mbytes"]
    assert load_run(out).manifest["status"] == "finished"

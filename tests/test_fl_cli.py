"""``ns6g fl`` and ``ns6g bench fl``: runs, traces, summaries and clear errors."""

from __future__ import annotations

import json
import math

import pytest

from ns6g.apps.cli import main
from ns6g.apps.fl import NETWORK_PRESETS, network_config, run_fl
from ns6g.analysis import load_run


def test_fl_command_trains_traces_and_prints(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["fl", "--protocol", "splitfed-v1", "--scenario", "paper003", "--rounds", "2", "--clients", "3",
                 "--out", str(out), "--quiet", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rounds"] == 2 and summary["clients"] == 3
    assert summary["final_accuracy"] > 0.5  # digits, 10 classes: chance 0.1
    assert summary["sim_time_s"] > 0 and summary["client_energy_j"] > 0
    run = load_run(out)
    rounds, flows = run.rounds, run.flows
    assert sorted(rounds["round"].unique()) == [0, 1]
    assert {"client/0", "client/1", "client/2", "edge/0"} <= set(rounds["device"])
    # every transfer of the job is one flow row; uplink bytes in the summary = bytes sent by clients (0..2)
    assert int(flows.loc[flows["src"] < 3, "size_bytes"].sum()) == summary["uplink_bytes"]
    assert bool(flows["delivered"].all())
    assert run.manifest["summary"]["final_accuracy"] == summary["final_accuracy"]


def test_fl_profile_mode_without_network_prints_a_table(capsys):
    code = main(["fl", "--protocol", "fedavg", "--rounds", "1", "--clients", "2", "--network", "none",
                 "--mode", "profile", "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "final accuracy:   n/a (profile mode)" in text
    assert "simulated time:" in text and "energy:" in text


def test_fl_same_seed_same_result():
    job = {"protocol": "psl", "rounds": 1, "clients": 2, "seed": 3, "batch_size": 64}
    a, b = (run_fl(job, progress=False) for _ in range(2))
    for key in ("final_accuracy", "final_test_loss", "sim_time_s", "client_energy_j", "uplink_bytes"):
        assert a[key] == b[key]


def test_fl_scenario_files_and_presets(tmp_path):
    toml = tmp_path / "net.toml"
    toml.write_text('cells = 3\nbandwidth_hz = 40e6\n')
    config = network_config(str(toml), clients=5)
    assert (config.cells, config.bandwidth_hz, config.clients) == (3, 40e6, 5)
    js = tmp_path / "net.json"
    js.write_text(json.dumps({"edges": 2}))
    assert network_config(str(js), clients=2, edges=1).edges == 2
    assert network_config("paper003", clients=8).cell_radius_m == 100.0
    assert network_config("default", clients=4, edges=2).edges == 2  # raised to what the protocol needs
    assert set(NETWORK_PRESETS) >= {"default", "paper003"}


def test_fl_clear_errors(tmp_path, capsys):
    assert main(["fl", "--protocol", "no-such", "--rounds", "1", "--quiet"]) == 2
    assert "unknown protocol 'no-such'" in capsys.readouterr().err
    assert main(["fl", "--protocol", "fedavg", "--scenario", "atlantis", "--rounds", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown scenario 'atlantis'" in err and "paper003" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("bandwidth_hz = -5\n")
    assert main(["fl", "--protocol", "fedavg", "--scenario", str(bad), "--rounds", "1", "--quiet"]) == 2
    assert "bandwidth_hz" in capsys.readouterr().err
    clash = tmp_path / "clash.json"
    clash.write_text('{"clients": 9}')
    assert main(["fl", "--protocol", "fedavg", "--scenario", str(clash), "--clients", "2", "--quiet"]) == 2
    assert "sets clients=9" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="2"):  # refused by the argument parser
        main(["fl", "--protocol", "fedavg", "--set", "cut", "--quiet"])
    assert "expected KEY=VALUE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fl", "--protocol", "fedavg", "--network", "wifi"])


def test_bench_fl_small(monkeypatch):
    """The benchmark's shape on a small setting: a fraction, one case per client count, an exponent."""
    from ns6g.apps import bench

    result = bench.bench_fl(clients=(2, 6), rounds=2, overhead_rounds=2, repeats=1, split_rounds=1, progress=False)
    # round_overhead may dip below 0: overlapped, the job waits less on ns-3 than on NoNetwork's in-line calls
    assert -0.05 <= result["overhead"]["round_overhead"] <= result["cosim_overhead"] < 1.0
    assert [c["clients"] for c in result["cases"]] == [2, 6]
    assert all(c["rounds_per_s"] > 0 for c in result["cases"])
    assert math.isfinite(result["cost_exponent"])
    assert result["overhead"]["same_accuracy"]  # the network does not change what is trained
    json.dumps(result)
    assert 0.0 < result["split"]["share"] < 1.0 and 0.0 < result["split"]["sequential_share"] < 1.0
    assert result["split"]["same_accuracy"]  # overlapped or not, the same training
    assert all(0.0 < c["network_share"] < 1.0 and c["first_round_seconds"] > 0 for c in result["cases"])
    text = bench.format_fl(result)
    assert "cost exponent" in text
    # every target beside its measured figure; no 1000-client case here: that row says n/a
    assert "rounds/s at 1000 clients" in text and ">=   2.00         -  n/a" in text
    assert "split job in network calls" in text and "FedAvg co-simulation overhead" in text

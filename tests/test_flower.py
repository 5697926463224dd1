"""ns6g.flower: unmodified Flower strategies and client code over ns6g's networks.

Jobs train small_cnn on scikit-learn's digits with 2 clients and batches of 64 (counting FLOPs with
FlopCounterMode makes every step slower; small jobs keep the file short). Over the ns-3 cell: the
``fl-network`` scenario without fast fading."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from flwr.common import Code, EvaluateRes, FitIns, FitRes, Status, ndarrays_to_parameters, serde
from flwr.server.strategy import FedAdam, FedAvg, FedProx, FedTrimmedAvg, FedYogi

from ns6g.analysis import load_run
from ns6g.flower import FlowerSimulation, message_bytes, start_simulation
from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
from ns6g.learners.engine import FlJob
from ns6g.learners.wire import tensor_bytes

ROOT = Path(__file__).resolve().parents[1]
JOB = {"clients": 2, "rounds": 2, "batch_size": 64, "seed": 5}
CELL = {"fast_fading": False}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def strategy(name: str, sim: FlowerSimulation, **extra):
    """A Flower strategy over both clients, starting from the job's initial model."""
    common = dict(min_fit_clients=2, min_evaluate_clients=2, min_available_clients=2,
                  initial_parameters=sim.initial_parameters(), **extra)
    if name == "FedProx":
        return FedProx(proximal_mu=0.1, **common)
    if name == "FedTrimmedAvg":
        return FedTrimmedAvg(beta=0.0, **common)  # two clients: trimming any share would leave none
    if name in ("FedAdam", "FedYogi"):  # server learning rate 0.01: FedAdam's default 0.1 diverges on small_cnn
        return {"FedAdam": FedAdam, "FedYogi": FedYogi}[name](eta=0.01, **common)
    return FedAvg(**common)


def fit_ins_bytes(sim: FlowerSimulation, config: dict) -> int:
    """Serialised FitIns of the job's model: npy sizes depend on shapes alone, so any values do."""
    arrays = [t.cpu().numpy() for t in sim.job.state_of(sim.protocol.model)]
    return serde.fit_ins_to_proto(FitIns(ndarrays_to_parameters(arrays), config)).ByteSize()


@pytest.mark.parametrize("name, network", [("FedAvg", "none"), ("FedProx", "none"), ("FedAvg", "cosim")])
def test_fedavg_and_fedprox_through_flower_equal_ns6g_s_own(name, network):
    sim = FlowerSimulation(JOB, network=CELL if network == "cosim" else None)
    sim.run(strategy(name, sim, fraction_evaluate=0.0))
    flower = sim.result()
    own_job = {**JOB, "protocol": name.lower()}
    if name == "FedProx":
        own_job["protocol_options"] = {"prox_mu": 0.1}
    if network == "cosim":
        with CoSimNetwork(FlNetworkConfig(clients=2, **CELL), seed=JOB["seed"] + 1) as net:
            own = FlJob(own_job, network=net).run()
    else:
        own = FlJob(own_job).run()
    for f, o in zip(flower.rounds, own.rounds, strict=True):
        assert f.test_accuracy == pytest.approx(o.test_accuracy, abs=1e-9)
        assert f.train_loss == pytest.approx(o.train_loss, rel=1e-6)
        for node in o.devices:  # the same FLOPs on the same devices: the same compute seconds
            assert f.devices[node].compute_s == pytest.approx(o.devices[node].compute_s, rel=1e-9)
    assert flower.final_accuracy > 0.5
    if network == "none":  # transfers take no time: the same simulated time
        assert flower.sim_time_s == pytest.approx(own.sim_time_s, rel=1e-9)
    else:  # Flower's messages carry npy headers and the config: a little more to send, a little later
        extra = flower.uplink_bytes / own.uplink_bytes - 1
        assert 0 < extra < 0.02
        assert own.sim_time_s <= flower.sim_time_s < own.sim_time_s * 1.05


@pytest.mark.parametrize("name", ["FedAvg", "FedProx", "FedAdam", "FedYogi", "FedTrimmedAvg"])
def test_strategies_run_and_every_message_is_a_transfer_of_its_serialised_size(name):
    sim = FlowerSimulation({**JOB, "rounds": 1})
    history = sim.run(strategy(name, sim))
    result = sim.result()
    config = {"proximal_mu": 0.1} if name == "FedProx" else {}
    by_tag = {}
    for t in result.transfers:
        by_tag.setdefault(t.tag, []).append(t)
    assert sorted(by_tag) == ["evaluate_ins", "evaluate_res", "fit_ins", "fit_res"]
    assert all(len(ts) == 2 and {t.src for t in ts} | {t.dst for t in ts} == {"edge/0", "client/0", "client/1"}
               for ts in by_tag.values())
    assert {t.nbytes for t in by_tag["fit_ins"]} == {fit_ins_bytes(sim, config)}
    assert {t.nbytes for t in by_tag["fit_res"]} == {
        serde.fit_res_to_proto(FitRes(Status(Code.OK, "Success"), ndarrays_to_parameters(
            [t.cpu().numpy() for t in sim.job.state_of(sim.protocol.model)]), sim.job.samples(c),
            {"train_loss": 1.0})).ByteSize() for c in (0, 1)}
    assert all(0 < t.nbytes < 200 for t in by_tag["evaluate_res"])  # loss, count and accuracy: no model
    assert 1 in history.losses_distributed[0]  # Flower's own record of the round
    assert result.rounds[0].test_accuracy > 0.2  # 2x chance: the strategy's model was trained and tested


def test_a_strategy_over_the_emulated_cell_sends_flows_of_the_serialised_sizes(tmp_path):
    out = tmp_path / "run"
    sim = FlowerSimulation(JOB, network=CELL, run_dir=out)
    sim.run(strategy("FedYogi", sim))
    run = load_run(out)
    flows, rounds = run.flows, run.rounds
    assert len(flows) == 2 * 2 * 4  # rounds x clients x (fit_ins, fit_res, evaluate_ins, evaluate_res)
    assert flows.delivered.all() and (flows.end_s > flows.start_s).all()
    model_bytes = tensor_bytes(sim.job.state_of(sim.protocol.model))
    fit_ins = flows[flows.kind == "fit_ins"]
    assert set(fit_ins.size_bytes) == {fit_ins_bytes(sim, {})}
    fit_res = flows[flows.kind == "fit_res"]
    assert (fit_res.size_bytes > model_bytes).all() and (fit_res.size_bytes < model_bytes * 1.02).all()
    assert set(flows[flows.kind == "evaluate_ins"].size_bytes) == {fit_ins_bytes(sim, {})}  # the same proto shape
    assert (flows[flows.kind == "evaluate_res"].size_bytes < 200).all()  # loss and count: no model
    uploads = flows[flows.src < 2]
    assert (uploads.energy_j > 0).all()  # a client's transmissions cost it energy
    clients = rounds[rounds.device.str.startswith("client/")]
    assert (clients.energy_j > 0).all() and (clients.compute_s > 0).all()
    assert set(rounds.protocol) == {"flower"}
    assert run.manifest["summary"]["strategy"] == "FedYogi"


def test_message_bytes_is_the_protobuf_size():
    arrays = [np.zeros((3, 4), np.float32), np.ones(5, np.float32)]
    ins = FitIns(ndarrays_to_parameters(arrays), {"lr": 0.1})
    assert message_bytes(ins) == len(serde.fit_ins_to_proto(ins).SerializeToString())
    res = EvaluateRes(Status(Code.OK, ""), 0.5, 10, {})
    assert message_bytes(res) == len(serde.evaluate_res_to_proto(res).SerializeToString())
    with pytest.raises(TypeError, match="no Flower message size for str"):
        message_bytes("hello")


def test_without_initial_parameters_the_server_asks_client_0_first():
    sim = FlowerSimulation({**JOB, "rounds": 1})
    sim.run(FedAvg(min_fit_clients=2, min_available_clients=2, fraction_evaluate=0.0))
    first = sim.result().transfers[:2]
    assert [(t.tag, t.src, t.dst) for t in first] == [
        ("get_parameters_ins", "edge/0", "client/0"), ("get_parameters_res", "client/0", "edge/0")]
    assert first[1].nbytes > tensor_bytes(sim.job.state_of(sim.protocol.model))


def test_bad_input_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="needs 3 clients"):
        sim = FlowerSimulation({**JOB, "rounds": 1})
        sim.run(FedAvg(min_fit_clients=3, min_available_clients=3))
    with pytest.raises(TypeError, match="must return a flwr Client or NumPyClient, got int"):
        sim = FlowerSimulation({**JOB, "rounds": 1})
        sim.run(strategy("FedAvg", sim), client_fn=lambda context: 3)
    with pytest.raises(TypeError, match="no client_resources"):
        start_simulation(client_fn=lambda c: None, num_clients=2, strategy=FedAvg(), client_resources={"num_cpus": 1})
    with pytest.raises(TypeError, match="strategy must be a flwr.server.strategy.Strategy"):
        FlowerSimulation({**JOB, "rounds": 1}).run("FedAvg")
    with pytest.raises(ValueError, match="takes no protocol .got 'vanilla-sl'.: the strategy is the protocol"):
        FlowerSimulation({**JOB, "protocol": "vanilla-sl"})
    # a failed first round leaves no run directory behind
    with pytest.raises(TypeError):
        FlowerSimulation({**JOB, "rounds": 1}, run_dir=tmp_path / "run").run(FedAvg(), client_fn=lambda c: 3)
    assert not (tmp_path / "run").exists()


def test_a_client_that_does_no_counted_pytorch_work_is_an_error():
    from flwr.client import NumPyClient

    class NumpyOnly(NumPyClient):
        def fit(self, parameters, config):
            return [p * 0.5 for p in parameters], 10, {}

    sim = FlowerSimulation({**JOB, "rounds": 1})
    with pytest.raises(RuntimeError, match="client 0: its fit did no PyTorch work"):
        sim.run(strategy("FedAvg", sim), client_fn=lambda context: NumpyOnly().to_client())


def test_importing_ns6g_does_not_import_flower_and_without_it_the_error_names_the_extra():
    code = ("import sys, ns6g, ns6g.learners.engine, ns6g.apps.cli; assert 'flwr' not in sys.modules; "
            "sys.modules['flwr'] = None\n"
            "try:\n    import ns6g.flower\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "pip install ns6g[flower]" in out.stdout


def test_the_example_runs_as_written(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "flower_fedavg.py"), "--rounds", "1",
                          "--network", "none", "--out", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "federated accuracy after 1 rounds:" in out.stdout
    flows = load_run(tmp_path / "run").flows
    assert sorted(set(flows.kind)) == ["evaluate_ins", "evaluate_res", "fit_ins", "fit_res"]
    assert len(flows) == 4 * 4
    assert not math.isnan(load_run(tmp_path / "run").manifest["summary"]["final_accuracy"])


def test_a_client_the_network_loses_is_a_failure_of_the_strategy_and_dropped_from_the_round():
    from ns6g.learners.no_network import NoNetwork

    seen = []

    class Recording(FedAvg):
        def aggregate_fit(self, server_round, results, failures):
            seen.append(([p.cid for p, _ in results], [str(f) for f in failures]))
            return super().aggregate_fit(server_round, results, failures)

    net = NoNetwork(2, disconnect_at={"client/1": 0.0})
    sim = FlowerSimulation({**JOB, "rounds": 1}, network=net)
    sim.run(Recording(min_fit_clients=2, min_available_clients=2, fraction_evaluate=0.0,
                      initial_parameters=sim.initial_parameters()))
    assert seen == [(["0"], ["client 1: the network lost its fit exchange"])]
    record = sim.result().rounds[0]
    assert record.participants == (0,) and record.dropped == (1,)
    assert not math.isnan(record.test_accuracy)
    net.close()


def test_client_sampling_follows_the_seed():
    def participants(seed):
        sim = FlowerSimulation({**JOB, "clients": 4, "seed": seed})
        sim.run(FedAvg(fraction_fit=0.5, min_fit_clients=2, min_available_clients=4, fraction_evaluate=0.0,
                       initial_parameters=sim.initial_parameters()))
        return [(r.participants, r.test_accuracy) for r in sim.result().rounds]

    first = participants(5)
    assert first == participants(5)
    assert all(len(p) == 2 for p, _ in first)
    assert [p for p, _ in first] != [p for p, _ in participants(6)]

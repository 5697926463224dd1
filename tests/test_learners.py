"""The learner engine, data, transfer codec and protocols (ns6g.learners), on small settings.

Every job here trains small_cnn on scikit-learn's digits (8x8, 10 classes: chance is 0.1). Jobs run
over the networks in NETWORKS (NoNetwork now; the ns-3 co-simulation joins when it lands); tests of
scripted disconnections use NoNetwork's ``disconnect_at``.
"""

from __future__ import annotations

import gzip
import math
import pickle
import struct
from collections import Counter

import numpy as np
import pytest
import torch

from ns6g.core.config import ConfigError
from ns6g.learners import data as datasets
from ns6g.learners import models as zoo
from ns6g.learners.engine import FlJob
from ns6g.learners.network import Compute, Transfer
from ns6g.learners.no_network import NoNetwork
from ns6g.learners.protocols import PROTOCOLS
from ns6g.learners.wire import Codec

CLIENTS = 4
ROUNDS = 3
EDGES = 2
# 6x chance after three rounds; every protocol ends at 0.74 to 0.94 with seeds 0, 1 and 3 (measured)
ACCURACY_FLOOR = 0.6
# the image FL and split protocols this file covers (PEFT and FTL: tests/test_peft_protocols.py)
IMAGE_PROTOCOLS = [n for n, cls in PROTOCOLS.items() if cls.__module__.rsplit(".", 1)[-1] in ("federated", "split")]
BASE = {"clients": CLIENTS, "rounds": ROUNDS, "edges": EDGES, "batch_size": 16, "seed": 3}

NETWORKS = {"none": lambda clients, edges: NoNetwork(clients, edges=edges)}
try:  # the ns-3 co-simulation, where it exists
    from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
except ImportError:
    pass
else:
    NETWORKS["cosim"] = lambda clients, edges: CoSimNetwork(FlNetworkConfig(clients=clients, edges=edges), seed=1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(params=sorted(NETWORKS), scope="module")
def network_name(request):
    return request.param


_RESULTS: dict[tuple, tuple] = {}


def run_job(network_name: str, **settings):
    """(result, job) of a job with BASE + settings over a fresh network of kind ``network_name``;
    cached, because several tests look at the same run."""
    key = (network_name, repr(sorted(settings.items())))
    if key not in _RESULTS:
        network = NETWORKS[network_name](CLIENTS, EDGES)
        try:
            job = FlJob({**BASE, **settings}, network=network)
            _RESULTS[key] = (job.run(), job)
        finally:
            network.close()
    return _RESULTS[key]


# --------------------------------------------------------------------------------------------------
# every protocol learns, and its transfer log is its protocol's


@pytest.mark.parametrize("protocol", IMAGE_PROTOCOLS)
def test_every_protocol_learns_well_above_chance(network_name, protocol):
    result, _ = run_job(network_name, protocol=protocol)
    accuracies = [r.test_accuracy for r in result.rounds]
    assert len(result.rounds) == ROUNDS
    assert accuracies[-1] >= ACCURACY_FLOOR, accuracies
    assert result.rounds[-1].train_loss < result.rounds[0].train_loss  # it went down
    assert all(r.dropped == () for r in result.rounds)


def _model_bytes(module) -> int:
    return sum(p.numel() * 4 for p in module.parameters())  # small_cnn: float32 parameters, no buffers


def _rows(n: int, batch: int) -> list[int]:
    return [batch] * (n // batch) + ([n % batch] if n % batch else [])


def expected_transfers(protocol: str, job: FlJob, rounds: int) -> Counter:
    """(round, tag, src, dst, bytes) -> count, from the protocol's definition and sizes computed here."""
    cfg = job.config
    model = zoo.build_model("small_cnn", in_channels=1, image_size=8, num_classes=10)
    full, client_bytes = _model_bytes(model), _model_bytes(model[: cfg.cut])
    act = model[: cfg.cut](torch.zeros(1, 1, 8, 8)).numel() * 4  # bytes per sample at the cut
    rows = {c: _rows(job.samples(c), cfg.batch_size) for c in range(CLIENTS)}
    server = lambda c: f"edge/{c % EDGES}" if protocol == "hierarchical-fsl" else "edge/0"  # noqa: E731
    out: Counter = Counter()
    for r in range(rounds):
        if protocol in ("fedavg", "fedprox"):
            for c in range(CLIENTS):
                out[(r, "model_down", "edge/0", f"client/{c}", full)] += 1
                out[(r, "model_up", f"client/{c}", "edge/0", full)] += 1
            continue
        if protocol in ("vanilla-sl", "splitfed-v1", "splitfed-v2", "hierarchical-fsl"):
            for c in range(CLIENTS):
                out[(r, "model_down", server(c), f"client/{c}", client_bytes)] += 1
                out[(r, "model_up", f"client/{c}", server(c), client_bytes)] += 1
        for c in range(CLIENTS):
            for n in rows[c]:
                out[(r, "activations", f"client/{c}", server(c), n * act + n * 8)] += 1  # with int64 labels
        if protocol == "epsl":  # per step: the shared rows m and the client's own rows
            for t in range(max(len(v) for v in rows.values())):
                sizes = {c: rows[c][t] for c in rows if t < len(rows[c])}
                m = math.floor(job.protocol.settings(cfg).epsl_ratio * min(sizes.values())) if len(sizes) > 1 else 0
                for c, n in sizes.items():
                    if m:
                        out[(r, "gradients_agg", "edge/0", f"client/{c}", m * act)] += 1
                    if n - m:
                        out[(r, "gradients", "edge/0", f"client/{c}", (n - m) * act)] += 1
        else:
            for c in range(CLIENTS):
                for n in rows[c]:
                    out[(r, "gradients", server(c), f"client/{c}", n * act)] += 1
        if protocol == "hierarchical-fsl":  # cloud_period 1: every round
            for e in range(EDGES):
                out[(r, "model_up", f"edge/{e}", "cloud", full)] += 1
                out[(r, "model_down", "cloud", f"edge/{e}", full)] += 1
    return out


@pytest.mark.parametrize("protocol", [p for p in IMAGE_PROTOCOLS if p not in ("fedasync", "fedbuff")])
def test_transfer_log_matches_the_protocol(network_name, protocol):
    result, job = run_job(network_name, protocol=protocol)
    actual = Counter((t.round, t.tag, t.src, t.dst, t.nbytes) for t in result.transfers)
    assert actual == expected_transfers(protocol, job, ROUNDS)
    assert all(t.ok for t in result.transfers)
    for r in result.rounds:  # the per-round byte totals agree with the log
        up = sum(t.nbytes for t in result.transfers if t.round == r.round and t.src.startswith("client/"))
        assert r.uplink_bytes == up > 0


@pytest.mark.parametrize("protocol", ["fedasync", "fedbuff"])
def test_asynchronous_transfers(network_name, protocol):
    """Each round is CLIENTS arrivals; every arrival starts a new cycle: CLIENTS x (ROUNDS + 1) cycles
    submitted, CLIENTS x ROUNDS uploads arrived, the last CLIENTS still in flight."""
    result, job = run_job(network_name, protocol=protocol)
    full = _model_bytes(zoo.build_model("small_cnn", in_channels=1, image_size=8))
    tags = Counter((t.tag, t.nbytes) for t in result.transfers)
    assert tags == {("model_down", full): CLIENTS * (ROUNDS + 1), ("model_up", full): CLIENTS * (ROUNDS + 1)}
    arrived = [t for t in result.transfers if t.tag == "model_up" and t.ok]
    assert len(arrived) == CLIENTS * ROUNDS
    assert all(len(r.participants) >= 1 for r in result.rounds)
    ends = [r.end_s for r in result.rounds]
    assert ends == sorted(ends) and ends[0] > 0


def test_splitfed_v1_is_fedavg_when_nothing_is_lost(network_name):
    """Per-client server replicas averaged with the client-side models, same batches and start:
    the same SGD as FedAvg (losses equal within 1e-4)."""
    fedavg, _ = run_job(network_name, protocol="fedavg")
    sflv1, _ = run_job(network_name, protocol="splitfed-v1")
    for a, b in zip(fedavg.rounds, sflv1.rounds):
        assert a.train_loss == pytest.approx(b.train_loss, abs=1e-4)
        assert a.test_accuracy == pytest.approx(b.test_accuracy, abs=2e-3)


def test_epsl_with_ratio_zero_is_psl(network_name):
    psl, _ = run_job(network_name, protocol="psl")
    epsl0, _ = run_job(network_name, protocol="epsl", protocol_options={"epsl_ratio": 0.0})
    assert [r.train_loss for r in epsl0.rounds] == [r.train_loss for r in psl.rounds]
    assert Counter(t.tag for t in epsl0.transfers) == Counter(t.tag for t in psl.transfers)


def test_epsl_cuts_server_compute(network_name):
    """EPSL's server backward runs over N x (b - m) + m rows instead of N x b: less server time."""
    psl, _ = run_job(network_name, protocol="psl")
    epsl, _ = run_job(network_name, protocol="epsl", protocol_options={"epsl_ratio": 1.0})
    for a, b in zip(psl.rounds, epsl.rounds):
        assert b.devices["edge/0"].compute_s < a.devices["edge/0"].compute_s


# --------------------------------------------------------------------------------------------------
# same seed, same results; compression changes the bytes


def test_same_seed_same_losses_and_times(network_name):
    settings = {"protocol": "splitfed-v2", "rounds": 2}
    runs = []
    for _ in range(2):
        network = NETWORKS[network_name](CLIENTS, EDGES)
        with FlJob({**BASE, **settings}, network=network) as job:
            runs.append(job.run())
        network.close()
    a, b = runs
    assert [r.train_loss for r in a.rounds] == [r.train_loss for r in b.rounds]
    assert [r.test_loss for r in a.rounds] == [r.test_loss for r in b.rounds]
    assert [(r.start_s, r.end_s) for r in a.rounds] == [(r.start_s, r.end_s) for r in b.rounds]
    timing = lambda result: [(t.nbytes, t.start_s, t.end_s) for t in result.transfers]  # noqa: E731
    assert timing(a) == timing(b)
    other, _ = run_job(network_name, protocol="splitfed-v2", rounds=2, seed=4)
    assert [r.train_loss for r in other.rounds] != [r.train_loss for r in a.rounds]


def test_int8_transfers_are_four_times_smaller(network_name):
    plain, _ = run_job(network_name, protocol="fedavg")
    int8, _ = run_job(network_name, protocol="fedavg", quantization="int8")
    model = zoo.build_model("small_cnn", in_channels=1, image_size=8)
    tensors = list(model.parameters())
    for tag in ("model_down", "model_up"):
        sizes = {t.nbytes for t in int8.transfers if t.tag == tag}
        assert sizes == {sum(p.numel() for p in tensors) + 4 * len(tensors)}  # 1 B/value + fp32 scale
        ratio = next(t.nbytes for t in plain.transfers if t.tag == tag) / sizes.pop()
        assert 3.99 < ratio <= 4.0  # the per-tensor scales keep it just under 4
    assert int8.rounds[-1].test_accuracy >= ACCURACY_FLOOR  # quantisation error is small


def test_int8_activations_and_gradients(network_name):
    plain, _ = run_job(network_name, protocol="psl", rounds=1)
    int8, _ = run_job(network_name, protocol="psl", rounds=1, quantization="int8")
    model = zoo.build_model("small_cnn", in_channels=1, image_size=8, num_classes=10)
    act = model[:2](torch.zeros(1, 1, 8, 8)).numel() * 4  # float32 bytes per sample at the cut (cut 2)
    for tag, label_bytes in (("activations", 8), ("gradients", 0)):  # int64 labels ride with activations
        a = sorted(t.nbytes for t in plain.transfers if t.tag == tag)
        b = sorted(t.nbytes for t in int8.transfers if t.tag == tag)
        rows = [n // (act + label_bytes) for n in a]
        assert b == [r * act // 4 + 4 + r * label_bytes for r in rows]


def test_topk_sparsified_updates(network_name):
    result, _ = run_job(network_name, protocol="fedavg", topk_fraction=0.1, rounds=2)
    model = zoo.build_model("small_cnn", in_channels=1, image_size=8)
    kept = sum(math.ceil(0.1 * p.numel()) for p in model.parameters())
    ups = {t.nbytes for t in result.transfers if t.tag == "model_up"}
    downs = {t.nbytes for t in result.transfers if t.tag == "model_down"}
    assert ups == {kept * 8}  # fp32 value + int32 index per kept entry
    assert downs == {_model_bytes(model)}  # full models are never sparsified


def test_codec_reconstruction():
    x = torch.linspace(-2, 2, 1000).reshape(10, 100)
    (q,), n = Codec("int8").send([x])
    assert n == 1000 + 4 and (q - x).abs().max() <= 2 / 127 / 2 + 1e-6  # half a quantisation step
    (s,), n = Codec("fp32", 0.05).send([x], sparsify=True)
    assert n == 50 * 8 and int((s != 0).sum()) == 50 and s.abs().max() == 2
    (labels,), n = Codec("int8").send([torch.arange(16)])
    assert n == 16 * 8 and torch.equal(labels, torch.arange(16))  # integers travel as they are


# --------------------------------------------------------------------------------------------------
# timeline and FLOPs


def test_timeline_from_completed_records():
    """NoNetwork: transfers take no time, so a client's round is its compute plus its wait, and its
    compute is its training FLOPs at the smartphone's 2e12 FLOP/s (energy 2.5e-12 J/FLOP)."""
    result, job = run_job("none", protocol="fedavg")
    for r in result.rounds:
        for c in range(CLIENTS):
            t = r.devices[f"client/{c}"]
            assert t.compute_s + t.waiting_s == pytest.approx(r.duration_s, rel=1e-9)
            assert t.uplink_s == t.downlink_s == 0.0
            assert t.energy_j == pytest.approx(t.compute_s * 2.0e12 * 2.5e-12, rel=1e-9)
        assert r.duration_s == pytest.approx(max(r.devices[f"client/{c}"].compute_s for c in range(CLIENTS)), rel=1e-9)
    flops = sum(sum(job.training_flops("full", job.protocol.model, x)) for x, _ in job.batches(0, draw=0))
    assert result.rounds[0].devices["client/0"].compute_s == pytest.approx(flops / 2.0e12, rel=1e-9)


def test_split_flops_add_up_to_the_whole_model():
    """Client part (no input gradient) + server part (with the cut gradient) = whole model."""
    _, job = run_job("none", protocol="psl")
    model = job.new_model()
    x = job.client_data[0][0][:16]
    full = job.training_flops("full", model, x)
    client = job.training_flops("client", job.client_part(model), x)
    server = job.training_flops("server", job.server_part(model), job.client_part(model)(x).detach())
    assert full[0] == client[0] + server[0]
    assert full[1] == client[1] + server[1]


def test_vanilla_sl_is_sequential_and_psl_parallel():
    """Vanilla SL serves one client at a time: its round lasts about the sum of the clients' turns;
    PSL's clients compute at once, so its round is shorter."""
    vsl, _ = run_job("none", protocol="vanilla-sl")
    psl, _ = run_job("none", protocol="psl")
    for a, b in zip(vsl.rounds, psl.rounds):
        client_compute = sum(a.devices[f"client/{c}"].compute_s for c in range(CLIENTS))
        assert a.duration_s >= client_compute * (1 - 1e-9)  # no two clients overlap
        assert b.duration_s < a.duration_s


def test_rounds_and_flows_traced_to_a_run_directory(tmp_path):
    from ns6g.analysis import energy_per_device, load_run, round_latency_cdf
    from ns6g.core.runs import RunWriter

    with RunWriter(tmp_path / "run", kind="learner") as run:
        job = FlJob({**BASE, "protocol": "hierarchical-fsl", "rounds": 2}, run=run)
        result = job.run()
    loaded = load_run(tmp_path / "run")
    rounds, flows = loaded.rounds, loaded.flows
    nodes = {f"client/{c}" for c in range(CLIENTS)} | {"edge/0", "edge/1", "cloud"}
    assert set(rounds["device"]) == nodes and len(rounds) == 2 * len(nodes)
    assert (rounds["split_layer"] == 2).all() and not rounds["dropped"].any()
    assert len(flows) == len(result.transfers)
    assert sorted(flows["size_bytes"]) == sorted(t.nbytes for t in result.transfers)
    cloud = CLIENTS + EDGES  # node index of the cloud in flows
    assert (flows.loc[flows["dst"] == cloud, "kind"] == "model_up").all()
    energy = energy_per_device(loaded).set_index("device")["energy_j"]
    assert energy["client/0"] == pytest.approx(sum(r.devices["client/0"].energy_j for r in result.rounds))
    assert len(round_latency_cdf(loaded)) == 2


# --------------------------------------------------------------------------------------------------
# failures and bad input


@pytest.mark.parametrize("protocol", ["fedavg", "psl", "splitfed-v2", "hierarchical-fsl", "fedbuff"])
def test_disconnected_client_is_dropped_and_the_round_completes(network_name, protocol):
    clean, _ = run_job(network_name, protocol=protocol, rounds=1)
    times = [t.end_s for t in clean.transfers if "client/1" in (t.src, t.dst)]
    leave = (min(times) + max(times)) / 2  # in the middle of client 1's part of the round
    network = NETWORKS[network_name](CLIENTS, EDGES)
    try:
        network.disconnect(1, leave)
        result = FlJob({**BASE, "protocol": protocol, "rounds": 2}, network=network).run()
    finally:
        network.close()
    first, second = result.rounds
    assert 1 in first.dropped and 1 not in first.participants
    assert set(first.participants) == {0, 2, 3}
    assert 1 in second.dropped or protocol == "fedbuff"  # gone for good (async: it is never restarted)
    assert second.end_s > first.end_s and math.isfinite(second.test_accuracy)
    assert any(not t.ok and "client/1" in (t.src, t.dst) for t in result.transfers)
    assert set(second.participants) == {0, 2, 3}


def test_client_gone_from_the_start_fedavg_averages_the_rest(network_name):
    network = NETWORKS[network_name](CLIENTS, EDGES)
    try:
        network.disconnect(2, 0.0)
        result = FlJob({**BASE, "protocol": "fedavg", "rounds": 3}, network=network).run()
    finally:
        network.close()
    assert all(r.dropped == (2,) and r.participants == (0, 1, 3) for r in result.rounds)
    assert result.rounds[-1].test_accuracy >= ACCURACY_FLOOR
    assert [t.ok for t in result.transfers if t.dst == "client/2"] == [False] * 3


@pytest.mark.parametrize("protocol", ["fedavg", "splitfed-v2", "psl"])
def test_a_round_with_chosen_clients(protocol):
    with FlJob({**BASE, "protocol": protocol, "rounds": 2}) as job:
        first = job.run_round(clients=[2, 0])
        second = job.run_round()
        log = job.transfer_log()
    assert first.participants == (0, 2) and second.participants == (0, 1, 2, 3)
    assert {t.src for t in log if t.round == 0 and t.src.startswith("client/")} == {"client/0", "client/2"}
    assert set(first.devices) == {"client/0", "client/2", "edge/0"}
    with pytest.raises(ValueError, match=r"clients must be a non-empty set of indices in 0..3, got \[4\]"):
        job.run_round(clients=[4])


def test_bad_input_is_refused_clearly():
    with pytest.raises(ConfigError, match="unknown protocol 'fedsgd'.*valid: fedavg"):
        FlJob({**BASE, "protocol": "fedsgd"})
    with pytest.raises(ValueError, match=r"cut 6 is beyond the depth of small_cnn \(6 blocks\)"):
        FlJob({**BASE, "protocol": "psl", "cut": 6})
    with pytest.raises(ValueError, match=r"more clients \(2000\) than training samples \(1438\)"):
        FlJob({**BASE, "protocol": "fedavg", "clients": 2000})
    with pytest.raises(ConfigError, match="rounds"):
        FlJob({**BASE, "protocol": "fedavg", "rounds": 0})
    with pytest.raises(ConfigError, match="learning_rat: unknown key"):
        FlJob({**BASE, "protocol": "fedavg", "learning_rat": 0.1})
    with pytest.raises(ValueError, match="the network has 2 clients, the job needs 4"):
        FlJob({**BASE, "protocol": "fedavg"}, network=NoNetwork(2))
    with pytest.raises(ValueError, match="'hierarchical-fsl' needs node 'edge/1', which the network lacks"):
        FlJob({**BASE, "protocol": "hierarchical-fsl"}, network=NoNetwork(CLIENTS, edges=1))
    with pytest.raises(ValueError, match="does not take width"):
        FlJob({**BASE, "protocol": "fedavg", "model_options": {"width": 2}})
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            FlJob({**BASE, "protocol": "fedavg", "torch_device": "cuda"})


# --------------------------------------------------------------------------------------------------
# NoNetwork


def test_no_network_times_fifo_and_failures():
    net = NoNetwork(2, edges=1, client_device="raspberry-pi-4", disconnect_at={"client/1": 0.5})
    rate = 1.2e10  # raspberry-pi-4 FLOP/s
    a, b = net.submit([Compute("client/0", rate * 1.0, "a"), Compute("client/0", rate * 2.0, "b")])
    (t,) = net.submit([Transfer("client/0", "edge/0", 10**6, "x", after=(a,))])
    c, d = net.submit([Compute("client/1", rate * 1.0, "c"), Transfer("client/1", "edge/0", 5, "y", after=(a,))])
    (e,) = net.submit([Compute("edge/0", 0.0, "e", after=(d,))])
    first = net.run([a], any_of=True)
    assert [x.op_id for x in first][-1] == a and net.now_s() == pytest.approx(1.0)
    done = {x.op_id: x for x in first + net.run()}
    # ready at 0, queued behind a for 1 s, then served 2 s
    assert (done[b].start_s, done[b].queue_s, done[b].end_s) == pytest.approx((0.0, 1.0, 3.0))
    assert done[t].start_s == done[t].end_s == pytest.approx(1.0)  # transfers take no time
    assert not done[c].ok and done[c].end_s == pytest.approx(0.5)  # cut off when client/1 left
    assert not done[d].ok and not done[e].ok  # the transfer from a gone node, and what needed it
    assert done[b].energy_j == pytest.approx(rate * 2.0 * 3.1e-10)
    with pytest.raises(ValueError, match="unknown node 'client/7'"):
        net.submit([Compute("client/7", 1.0, "z")])
    (f,) = net.submit([Compute("client/0", rate * 4.0, "f")])  # starts at 3 s, would end at 7 s
    net.disconnect(0, 5.0)  # leaves while f runs
    (failed,) = [x for x in net.run() if x.op_id == f]
    assert not failed.ok and (failed.start_s, failed.end_s) == pytest.approx((3.0, 5.0))
    with pytest.raises(ValueError, match="at_s must be a finite time >= now"):
        net.disconnect(0, 1.0)
    with pytest.raises(ValueError, match="unknown operation 99"):
        net.submit([Compute("client/0", 1.0, "z", after=(99,))])


# --------------------------------------------------------------------------------------------------
# data


def test_partitions():
    labels = datasets.load_digits().y.numpy()
    for scheme in ("iid", "shards", "dirichlet"):
        parts = datasets.partition(labels, 10, scheme, seed=1, alpha=0.3)
        joined = np.concatenate(parts)
        assert len(joined) == len(set(joined.tolist())) and all(len(p) > 0 for p in parts)
        again = datasets.partition(labels, 10, scheme, seed=1, alpha=0.3)
        assert [p.tolist() for p in parts] == [p.tolist() for p in again]
    iid = datasets.partition_iid(labels, 10, 1)
    assert max(map(len, iid)) - min(map(len, iid)) <= 1 and sum(map(len, iid)) == len(labels)
    classes = lambda parts: np.mean([len(np.unique(labels[p])) for p in parts])  # noqa: E731
    assert classes(datasets.partition_shards(labels, 10, 1, shards_per_client=2)) <= 4  # 2 shards, each <= 2 classes
    assert classes(iid) == 10

    def top_share(alpha):
        parts = datasets.partition_dirichlet(labels, 10, 1, alpha=alpha)
        return np.mean([np.bincount(labels[p]).max() / len(p) for p in parts])

    assert top_share(0.1) > top_share(100.0) + 0.2  # small alpha: clients dominated by one class
    with pytest.raises(ValueError, match=r"more clients \(5000\) than training samples \(1797\)"):
        datasets.partition_iid(labels, 5000, 0)
    with pytest.raises(ValueError, match="unknown partition 'random'"):
        datasets.partition(labels, 2, "random", 0)


def test_domain_partition_and_rotations():
    digits = datasets.load_digits()
    rotated, domain = datasets.rotated_domains(digits, 4, seed=2)
    i = int(np.flatnonzero(domain == 1)[0])
    assert torch.equal(rotated.x[i], torch.rot90(digits.x[i], 1, dims=(1, 2)))
    parts = datasets.partition_by_domain(domain, 8, seed=2)
    for client, p in enumerate(parts):
        assert set(domain[p].tolist()) == {client % 4}


def test_mnist_idx_loader(tmp_path):
    images = np.arange(3 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(3, 28, 28)
    labels = np.array([7, 0, 3], dtype=np.uint8)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(b"\x00\x00\x08\x03" + struct.pack(">3I", 3, 28, 28) + images.tobytes())
    )
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 3) + labels.tobytes())
    mnist = datasets.load_mnist(tmp_path)
    assert mnist.x.shape == (3, 1, 28, 28) and mnist.y.tolist() == [7, 0, 3]
    assert mnist.x[1, 0, 0, 0] == pytest.approx(images[1, 0, 0] / 255)
    with pytest.raises(FileNotFoundError, match="lacks t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"):
        datasets.load_mnist(tmp_path, split="test")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        datasets.load_mnist(tmp_path / "nowhere")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 4) + labels.tobytes())
    with pytest.raises(ValueError, match="header says 4"):
        datasets.load_mnist(tmp_path)


def test_cifar10_pickle_loader(tmp_path):
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), b"labels": [1, 9]}
        (tmp_path / name).write_bytes(pickle.dumps(batch))
    train = datasets.load_cifar10(tmp_path)
    assert train.x.shape == (10, 3, 32, 32) and train.y.tolist() == [1, 9] * 5
    assert float(train.x.max()) <= 1.0
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="lacks data_batch_3"):
        datasets.load_cifar10(tmp_path)
    with pytest.raises(ValueError, match="needs a data path"):
        datasets.load_dataset("cifar10")


def test_protocol_knobs_are_the_protocols_own_options():
    """prox_mu, epsl_ratio, ... belong to their protocol's options class: validated there, refused by a
    protocol that does not own them; the 0.1 top-level keys still work with a DeprecationWarning."""
    from ns6g.learners.engine import FlJobConfig

    cfg = FlJobConfig.from_user({"protocol": "fedbuff", "protocol_options": {"buffer_size": 3}})
    assert FlJob(cfg).protocol.settings(cfg).buffer_size == 3
    with pytest.raises(ConfigError, match="buffer_size"):
        FlJobConfig.from_user({"protocol": "fedbuff", "protocol_options": {"buffer_size": 0}})
    with pytest.raises(ConfigError, match="takes no protocol_options"):
        FlJobConfig.from_user({"protocol": "fedavg", "protocol_options": {"prox_mu": 0.1}})
    with pytest.warns(DeprecationWarning, match="'prox_mu' is deprecated.*moved there"):
        old = FlJobConfig.from_user({"protocol": "fedprox", "prox_mu": 0.3})
    assert old.protocol_options == {"prox_mu": 0.3}
    with pytest.warns(DeprecationWarning, match="'epsl_ratio' is deprecated.*no such knob: ignored"):
        assert FlJobConfig.from_user({"protocol": "fedavg", "epsl_ratio": 0.2}).protocol_options == {}

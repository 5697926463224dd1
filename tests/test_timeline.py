"""One meaning for each timeline field, under NoNetwork and the ns-3 co-simulation (issue 13).

- a computation's ``compute_s`` is its service time, FLOPs / (FLOP/s); its wait for the node's processor
  is ``queue_s``;
- a client's round decomposes: compute + queue + uplink + downlink + waiting = the round, every protocol;
- split learning's labels travel in the activation transfer;
- concurrent uplinks of one client share its air time (and energy) in proportion to their bytes;
- the device catalogue's J/FLOP follows its own rule, (load - idle power) / FLOP/s;
- ``channel_state()``'s ``cqi`` is the uplink CQI.
"""

from __future__ import annotations

from contextlib import closing

import pytest
import torch

from ns6g.compute.devices import DEVICES, device
from ns6g.learners import models as zoo
from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig, round_timeline
from ns6g.learners.engine import FlJob
from ns6g.learners.network import Compute, Transfer, client, edge
from ns6g.learners.no_network import NoNetwork
from ns6g.learners.protocols import PROTOCOLS

NS = 1e-9  # ns-3's time resolution (s)
IMAGE_PROTOCOLS = [n for n, cls in PROTOCOLS.items() if cls.__module__.rsplit(".", 1)[-1] in ("federated", "split")]
SPLIT_PROTOCOLS = [n for n, cls in PROTOCOLS.items() if cls.split]


def make_network(kind: str, clients: int, edges: int = 1):
    if kind == "none":
        return NoNetwork(clients, edges=edges)
    return CoSimNetwork(FlNetworkConfig(clients=clients, edges=edges), seed=1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- compute_s is service time; queueing has its own field ------------------------------------------------
@pytest.mark.parametrize("kind", ["none", "cosim"])
def test_a_queued_computation_reports_its_service_as_compute_and_its_wait_as_queue(kind):
    """Two computations ready at 0 on one FIFO processor, 1.0 s and 0.5 s of work: the second starts at
    0 (ready), waits 1.0 s for the processor and is served 0.5 s, under both networks alike."""
    rate = float(device("edge-gpu-server")["flops"])
    ops = [Compute(edge(0), 1.0 * rate, "first"), Compute(edge(0), 0.5 * rate, "second")]
    with closing(make_network(kind, clients=1)) as net:
        ids = net.submit(ops)
        done = {c.op_id: c for c in net.run()}
    first, second = done[ids[0]], done[ids[1]]
    assert (first.start_s, first.queue_s) == (0.0, 0.0)
    assert first.service_s == pytest.approx(1.0, abs=2 * NS)
    assert second.start_s == 0.0
    assert second.queue_s == pytest.approx(1.0, abs=2 * NS)
    assert second.service_s == pytest.approx(0.5, abs=2 * NS)
    assert second.end_s == pytest.approx(1.5, abs=2 * NS)
    timeline = round_timeline(dict(zip(ids, ops)), list(done.values()))["edge/0"]
    assert timeline.compute_s == pytest.approx(1.5, abs=4 * NS)  # FLOPs / FLOP/s of both
    assert timeline.queue_s == pytest.approx(1.0, abs=2 * NS)
    assert timeline.waiting_s == pytest.approx(0.0, abs=4 * NS)


@pytest.mark.parametrize("kind", ["none", "cosim"])
def test_splitfed_v1_server_compute_is_the_service_its_energy_implies(kind):
    """SplitFed V1 with 10 clients: their replicas' steps queue on the one edge server. Its compute_s
    is the FLOPs it ran over its FLOP/s (energy / (J/FLOP) / (FLOP/s)), the rest is queue_s."""
    row = device("edge-gpu-server")
    with closing(make_network(kind, clients=10)) as net:
        job = FlJob({"protocol": "splitfed-v1", "clients": 10, "rounds": 1, "mode": "profile", "seed": 1,
                     "batch_size": 32}, network=net)
        result = job.run()
    server = result.rounds[0].devices["edge/0"]
    service = server.energy_j / float(row["energy_per_flop_j"]) / float(row["flops"])
    steps = sum(1 for op in job._ops.values() if isinstance(op[1], Compute) and op[1].node == "edge/0")
    assert server.compute_s == pytest.approx(service, rel=1e-9, abs=steps * NS)  # ns-3 times are whole ns
    assert server.queue_s > 0  # ten replicas' steps waited for one processor


# -- a client's round adds up -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["none", "cosim"])
@pytest.mark.parametrize("protocol", IMAGE_PROTOCOLS)
def test_a_clients_time_adds_up_to_its_round(kind, protocol):
    with closing(make_network(kind, clients=3, edges=2)) as net:
        job = FlJob({"protocol": protocol, "clients": 3, "edges": 2, "rounds": 2, "mode": "profile", "seed": 1,
                     "batch_size": 64}, network=net)
        result = job.run()
    for r in result.rounds:
        for node, t in r.devices.items():
            if node.startswith("client/"):
                total = t.compute_s + t.queue_s + t.uplink_s + t.downlink_s + t.waiting_s
                assert total == pytest.approx(r.duration_s, rel=1e-9, abs=4 * NS), (r.round, node, t)
    if kind == "cosim" and protocol in SPLIT_PROTOCOLS:  # the uplink is busy: its time is not zero
        assert any(t.uplink_s > 0 for r in result.rounds for n, t in r.devices.items() if n.startswith("client/"))


# -- labels ride with the activations -------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", SPLIT_PROTOCOLS)
def test_labels_travel_in_the_activation_transfer(protocol):
    job = FlJob({"protocol": protocol, "clients": 2, "edges": 2, "rounds": 1, "mode": "profile", "seed": 1,
                 "batch_size": 32})
    result = job.run()
    model = zoo.build_model("small_cnn", in_channels=1, image_size=8, num_classes=10)
    per_sample = model[: job.config.cut](torch.zeros(1, 1, 8, 8)).numel() * 4 + 8  # float32 cut + int64 label
    activations = [t for t in result.transfers if t.tag == "activations"]
    assert activations and not [t for t in result.transfers if t.tag == "labels"]
    rows = {c: [len(y) for _, y in job.batches(c, 0)] for c in range(2)}
    for c in range(2):
        sizes = [t.nbytes for t in activations if t.src == client(c)]
        assert sizes == [n * per_sample for n in rows[c]]


# -- per-flow energy follows the bytes ------------------------------------------------------------------------
def test_concurrent_uplinks_of_one_client_share_energy_in_proportion_to_bytes():
    """Two uploads of one client at once, 3 MB and 1 MB: the air time they used is 3:1 (the radio queue
    carries the first's bytes, then the second's), so is their energy, and together it is what one 4 MB
    upload costs."""
    with CoSimNetwork(FlNetworkConfig(clients=1), seed=1) as net:
        ids = net.submit([Transfer(client(0), edge(0), 3_000_000, "big"),
                          Transfer(client(0), edge(0), 1_000_000, "small")])
        done = {c.op_id: c for c in net.run()}
        big, small = done[ids[0]].energy_j, done[ids[1]].energy_j
        net.reset(1)
        (alone,) = net.run(net.submit([Transfer(client(0), edge(0), 4_000_000, "both")]))
    assert big / small == pytest.approx(3.0, rel=0.05)
    assert big + small == pytest.approx(alone.energy_j, rel=0.05)


# -- the catalogue follows its rule ------------------------------------------------------------------------------
def test_every_catalogue_device_costs_load_minus_idle_power_per_flop():
    """energy_per_flop_j = (load_power_w - idle_power_w) / flops, to the 2-3 significant digits the
    catalogue gives (5 %)."""
    for name, row in DEVICES.iterrows():
        rule = (row["load_power_w"] - row["idle_power_w"]) / row["flops"]
        assert row["energy_per_flop_j"] == pytest.approx(rule, rel=0.05), name


# -- channel_state's cqi is the uplink's ------------------------------------------------------------------------
def test_channel_state_cqi_is_the_uplink_cqi_behind_the_uplink_rate():
    """Before any slot ran there is no downlink CQI report, yet the uplink CQI exists; and a client whose
    uplink carries nothing (every RBG at CQI 0) has CQI 0, one with CQI >= 1 carries something."""
    with CoSimNetwork(FlNetworkConfig(clients=20, cell_radius_m=1600), seed=1) as net:
        state = net.channel_state()
    rate, cqi = state["uplink_rate_bps"], state["cqi"]
    assert ((cqi >= 0) & (cqi <= 15)).all()
    assert (cqi >= 1).sum() > 0
    assert (rate[cqi >= 1] > 0).all()
    assert (cqi[rate == 0] == 0).all()


# -- observing changes nothing ------------------------------------------------------------------------------------
def test_channel_state_queries_change_no_flow():
    """The same uploads with and without channel_state() queries (at t = 0 and between runs) give
    bit-identical completions. At the cell edge an upload's time hangs on its fading draws, so a query
    that drew from the simulation's streams showed (issue 13: 27.4 s became 1205.4 s)."""

    def uploads(query: bool) -> list:
        with CoSimNetwork(FlNetworkConfig(clients=4, cell_radius_m=1600), seed=1) as net:
            if query:
                net.channel_state()
            done = net.run(net.submit([Transfer(client(0), edge(0), 100_000, "first")]))
            if query:
                net.channel_state([3, 1])
            done += net.run(net.submit([Transfer(client(1), edge(0), 100_000, "second")]))
            return done

    assert uploads(query=True) == uploads(query=False)

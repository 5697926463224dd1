"""FlJob's overlap (the network simulates while PyTorch trains ahead of its answer) changes no result.

Every case runs the same job twice, overlapped and not (``FlJob(..., overlap=...)``), and compares the
round records and the transfer logs field by field. The disconnection cases make the network's answer
contradict the work done ahead (a client's upload or backward pass fails), so the undo path runs
(counted), not only the guess that holds.
"""

from __future__ import annotations

import pytest

from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
from ns6g.learners.engine import FlJob, Speculation
from ns6g.learners.no_network import NoNetwork

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLIENTS, EDGES = 4, 2
BASE = {"clients": CLIENTS, "rounds": 2, "edges": EDGES, "batch_size": 16, "seed": 3}
PROTOCOLS = ["splitfed-v1", "splitfed-v2", "psl", "epsl", "vanilla-sl", "hierarchical-fsl", "fedavg", "fedprox",
             "reptile"]


def run(network, protocol: str, overlap: bool, **settings):
    job = FlJob({**BASE, "protocol": protocol, **settings}, network=network, overlap=overlap)
    result = job.run()
    return result.rounds, result.transfers


@pytest.fixture
def undos(monkeypatch):
    """How many times a model trained or aggregated ahead was put back (:meth:`Speculation.restore`)."""
    count = [0]
    restore = Speculation.restore

    def counted(self, trainer):
        count[0] += id(trainer) in self.saved
        restore(self, trainer)

    monkeypatch.setattr(Speculation, "restore", counted)
    return count


def leave_time(protocol: str) -> float:
    """A time in the middle of client 1's transfers in the first round (NoNetwork, no disconnection)."""
    _, transfers = run(NoNetwork(CLIENTS, edges=EDGES), protocol, overlap=False, rounds=1)
    times = [t.end_s for t in transfers if "client/1" in (t.src, t.dst)]
    return (min(times) + max(times)) / 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_overlap_gives_the_same_records_when_a_client_drops_out(protocol, undos):
    leave = leave_time(protocol)
    records = {}
    for overlap in (False, True):
        network = NoNetwork(CLIENTS, edges=EDGES)
        network.disconnect(1, leave)
        records[overlap] = run(network, protocol, overlap)
    rounds, transfers = records[True]
    assert 1 in rounds[0].dropped  # the network's answer contradicted a guess ...
    assert undos[0] >= 1  # ... and the work done ahead of it was undone
    assert rounds == records[False][0]
    assert transfers == records[False][1]


def test_overlap_with_privacy_noise_redraws_nothing_when_undone(undos):
    """FedAvg with client-level DP: the noise drawn for the aggregate guessed ahead is given back."""
    privacy = {"privacy": {"noise_multiplier": 0.5, "clip_norm": 1.0}}
    leave = leave_time("fedavg")
    records = {}
    for overlap in (False, True):
        network = NoNetwork(CLIENTS, edges=EDGES)
        network.disconnect(1, leave)
        records[overlap] = run(network, "fedavg", overlap, **privacy)
    assert undos[0] >= 1 and 1 in records[True][0][0].dropped
    assert records[True] == records[False]


@pytest.mark.parametrize("protocol", ["splitfed-v1", "psl", "fedavg"])
def test_overlap_over_ns3_gives_the_same_records(protocol):
    records = {}
    for overlap in (False, True):
        with CoSimNetwork(FlNetworkConfig(clients=CLIENTS, edges=EDGES), seed=1) as network:
            records[overlap] = run(network, protocol, overlap)
    assert records[True] == records[False]
    assert records[True][0][-1].end_s > 0 and records[True][1]


def test_overlap_over_ns3_with_a_disconnection_gives_the_same_records(undos):
    leave = leave_time("psl")
    records = {}
    for overlap in (False, True):
        with CoSimNetwork(FlNetworkConfig(clients=CLIENTS, edges=EDGES), seed=1) as network:
            network.disconnect(1, leave)
            records[overlap] = run(network, "psl", overlap)
    assert 1 in records[True][0][0].dropped and undos[0] >= 1
    assert records[True] == records[False]


def test_overlap_is_on_over_ns3_in_train_mode_only():
    with CoSimNetwork(FlNetworkConfig(clients=CLIENTS, edges=EDGES), seed=1, start=False) as network:
        assert FlJob({**BASE, "protocol": "psl"}, network=network).overlap
        assert not FlJob({**BASE, "protocol": "psl", "mode": "profile"}, network=network).overlap
        assert not FlJob({**BASE, "protocol": "psl"}, network=network, overlap=False).overlap
    assert not FlJob({**BASE, "protocol": "psl"}).overlap  # NoNetwork runs in this process: nothing to overlap

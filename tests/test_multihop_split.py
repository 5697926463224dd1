"""Multi-hop split learning (issue 18 part 2): the ``multihop-sl`` protocol (ns6g.learners.protocols.multihop).
small_cnn (conv1, pool1, conv2, pool2, fc1, fc2) on scikit-learn's digits (8 x 8 images) throughout."""

from __future__ import annotations

import math

import pytest
import torch

from ns6g.core.config import ConfigError
from ns6g.learners import models as zoo
from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
from ns6g.learners.engine import FlJob
from ns6g.learners.network import REGIONAL, client
from ns6g.learners.no_network import NoNetwork
from ns6g.learners.protocols import PROTOCOLS
from ns6g.learners.protocols.multihop import communication_steps

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BASE = {"protocol": "multihop-sl", "clients": 3, "rounds": 1, "batch_size": 32, "seed": 1, "torch_device": "cpu"}
# two clients hold 719 training samples each: every inner iteration has a batch of the same size for both
PAIR = {**BASE, "clients": 2, "batch_size": 240}
CHAINS = {2: [2, 4], 3: [2, 4, 5]}  # hops K -> cuts (K + 1 segments: client, then K servers)


def activation_numel(cut: int) -> int:
    """Values per sample at the output of block ``cut - 1`` of small_cnn on an 8 x 8 image."""
    model = zoo.build_model("small_cnn", in_channels=1, image_size=8, num_classes=10)
    return model[:cut](torch.zeros(1, 1, 8, 8)).numel()


def job(options: dict, network=None, **config) -> FlJob:
    return FlJob({**BASE, **config, "protocol_options": options}, network=network)


def test_registered_and_bad_options_refused_by_name():
    assert PROTOCOLS["multihop-sl"].__name__ == "MultihopSL"
    with pytest.raises(ValueError, match=r"cuts: cut 6 is out of range .* 1 \.\. 5"):
        job({"cuts": [2, 6]})
    with pytest.raises(ConfigError, match="cuts.*strictly increasing"):
        job({"cuts": [4, 2]})
    with pytest.raises(ConfigError, match="cuts.*strictly increasing"):
        job({"cuts": [2, 2]})
    with pytest.raises(ConfigError, match="cuts"):
        job({"cuts": [0, 2]})
    with pytest.raises(ConfigError, match="placement lists 1 nodes for 2 cuts"):
        job({"cuts": [2, 4], "placement": ["cloud"]})
    with pytest.raises(ConfigError, match="placement node 'client/1' is not a server"):
        job({"cuts": [2], "placement": ["client/1"]})
    with pytest.raises(ConfigError, match="cuts: 4 cuts need 4 servers"):
        job({"cuts": [1, 2, 3, 4]})
    with pytest.raises(ConfigError, match="pipeline"):
        job({"pipeline": 0})


def test_needs_the_nodes_of_its_chain():
    with pytest.raises(ValueError, match="needs node 'edge/3'"):
        job({"cuts": [2, 4], "placement": ["edge/3", "cloud"]}, network=NoNetwork(3, edges=1))


def test_trains_with_three_segments():
    result = job({"cuts": [2, 4]}, rounds=3).run()
    losses = [r.train_loss for r in result.rounds]
    assert losses[2] < losses[1] < losses[0]  # loss falls round after round
    assert result.rounds[-1].test_accuracy > 0.8  # chance is 0.1


@pytest.mark.parametrize("schedule", ["sequential", "parallel"])
def test_transfer_log_holds_exactly_the_chains_hops_with_the_cut_activation_sizes(schedule):
    """cuts [2, 4]: client -> edge/0 -> regional. Every transfer of the round, in submission order: the
    activations at each cut (float32) with the rows' int64 labels going up, the gradients at each cut
    coming down, then the device segments' model_up and model_down (per round or per iteration)."""
    j = job({"cuts": [2, 4], "schedule": schedule})
    log = [(t.src, t.dst, t.tag, t.nbytes) for t in j.run().transfers]
    act1, act2 = activation_numel(2), activation_numel(4)  # 16 x 4 x 4 after pool1, 32 x 2 x 2 after pool2
    device_part = zoo.build_model("small_cnn", in_channels=1, image_size=8)[:2]
    device_bytes = sum(4 * p.numel() for p in device_part.parameters())
    rows = {c: [len(y) for _, y in j.batches(c, 0)] for c in range(3)}
    sync = [(client(c), "edge/0", "model_up", device_bytes) for c in range(3)] + [
        ("edge/0", client(c), "model_down", device_bytes) for c in range(3)]
    expected = []
    for t in range(max(len(r) for r in rows.values())):
        if schedule == "sequential":
            for c in range(3):
                b = rows[c][t]
                expected += [(client(c), "edge/0", "activations", b * (4 * act1 + 8)),
                             ("edge/0", REGIONAL, "activations", b * (4 * act2 + 8)),
                             (REGIONAL, "edge/0", "gradients", b * 4 * act2),
                             ("edge/0", client(c), "gradients", b * 4 * act1)]
        else:  # server 1 stacks the three clients' rows
            total = sum(rows[c][t] for c in range(3))
            expected += [(client(c), "edge/0", "activations", rows[c][t] * (4 * act1 + 8)) for c in range(3)]
            expected += [("edge/0", REGIONAL, "activations", total * (4 * act2 + 8)),
                         (REGIONAL, "edge/0", "gradients", total * 4 * act2)]
            expected += [("edge/0", client(c), "gradients", rows[c][t] * 4 * act1) for c in range(3)]
            expected += sync
    if schedule == "sequential":
        expected += sync
    assert log == expected


@pytest.mark.parametrize("hops", [2, 3])
def test_step_counts_of_survey_000_from_the_transfer_log(hops):
    """Survey 000: N clients, K hops: multi-hop SL needs 2NK sequential steps per inner iteration, the
    parallel scheme 2K + 2 whatever N. Over ns-3, transfers of one step start at the same instant."""
    n = PAIR["clients"]
    with CoSimNetwork(FlNetworkConfig(clients=n, edges=1), seed=1) as net:
        seq = FlJob({**PAIR, "protocol_options": {"cuts": CHAINS[hops], "schedule": "sequential"}}, network=net)
        seq_log = seq.run().transfers
    with CoSimNetwork(FlNetworkConfig(clients=n, edges=1), seed=1) as net:
        par = FlJob({**PAIR, "protocol_options": {"cuts": CHAINS[hops], "schedule": "parallel"}}, network=net)
        par_log = par.run().transfers
    iterations = len(seq.batches(0, 0))
    assert all(len(seq.batches(c, 0)) == iterations for c in range(n))
    assert all(t.ok and t.end_s > t.start_s for t in seq_log + par_log)
    chain = ("activations", "gradients")
    assert communication_steps(seq_log, chain) == iterations * 2 * n * hops
    assert communication_steps(seq_log) == iterations * 2 * n * hops + 2  # + the round's model up and down
    assert communication_steps(par_log) == iterations * (2 * hops + 2)


def test_pipelining_lowers_the_simulated_time_per_iteration():
    # compute-bound (no network: transfers take no time): micro-batches overlap device and server work
    plain = job({"cuts": [2, 4]}).run()
    piped = job({"cuts": [2, 4], "pipeline": 4}).run()
    assert piped.rounds[0].duration_s < plain.rounds[0].duration_s
    # the update is the plain one (gradients accumulated over the micro-batches)
    assert piped.rounds[0].test_accuracy == pytest.approx(plain.rounds[0].test_accuracy, abs=0.02)
    # link-bound: over ns-3 with slow links between the servers
    net_config = FlNetworkConfig(clients=2, edges=1, regional_link_rate_mbps=20.0, wan_rate_mbps=20.0)
    times = {}
    for m in (1, 4):
        with CoSimNetwork(net_config, seed=1) as net:
            result = FlJob({**PAIR, "protocol_options": {"cuts": [2, 4, 5], "pipeline": m}}, network=net).run()
        times[m] = result.rounds[0].duration_s
    assert times[4] < times[1]


def test_profile_mode_submits_the_training_operations():
    for schedule in ("sequential", "parallel"):
        options = {"cuts": [2, 4, 5], "schedule": schedule, "pipeline": 3}
        trained, profiled = job(options).run(), job(options, mode="profile").run()
        shape = [(t.src, t.dst, t.tag, t.nbytes) for t in trained.transfers]
        assert shape == [(t.src, t.dst, t.tag, t.nbytes) for t in profiled.transfers]
        assert profiled.rounds[0].duration_s == pytest.approx(trained.rounds[0].duration_s, rel=1e-12)
        assert math.isnan(profiled.rounds[0].train_loss)


def test_same_seed_same_results():
    options = {"cuts": [2, 4], "schedule": "parallel", "pipeline": 2}
    a, b = job(options, rounds=2).run(), job(options, rounds=2).run()
    assert [r.train_loss for r in a.rounds] == [r.train_loss for r in b.rounds]
    assert [r.test_accuracy for r in a.rounds] == [r.test_accuracy for r in b.rounds]
    assert a.transfers == b.transfers
    c = job(options, rounds=2, seed=2).run()
    assert [r.train_loss for r in c.rounds] != [r.train_loss for r in a.rounds]

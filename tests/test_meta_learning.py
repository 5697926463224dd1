"""Federated meta-learning (issue 18 part 3): the ``reptile`` and ``tinyreptile`` protocols
(ns6g.learners.protocols.meta) and the new-client adaptation measure (ns6g.learners.adaptation).
small_cnn on scikit-learn's digits throughout (chance: 0.1)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from ns6g.core.config import ConfigError
from ns6g.learners import models as zoo
from ns6g.learners.adaptation import adaptation_accuracy, support_query, train_and_adapt
from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
from ns6g.learners.engine import FlJob
from ns6g.learners.no_network import NoNetwork
from ns6g.learners.protocols import PROTOCOLS
from ns6g.learners.protocols.meta import inner_batches

pytestmark = pytest.mark.usefixtures("one_torch_thread")

META = ("reptile", "tinyreptile")
SMALL = {"clients": 3, "rounds": 2, "batch_size": 32, "seed": 2, "torch_device": "cpu"}
# label-skewed clients (two label shards each) of which the last HELD_OUT never train
STUDY = {"protocol": "reptile", "clients": 8, "rounds": 4, "partition": "shards", "batch_size": 16, "seed": 5,
         "torch_device": "cpu", "protocol_options": {"inner_steps": 5, "meta_step": 0.5}}
HELD_OUT = 3


def model_bytes() -> int:
    model = zoo.build_model("small_cnn", in_channels=1, image_size=8, num_classes=10)
    return sum(p.numel() * 4 for p in model.parameters())  # float32 parameters, no buffers


def state(module: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in module.state_dict().values()]


def test_both_protocols_are_registered_with_their_options():
    assert PROTOCOLS["reptile"].__name__ == "Reptile" and PROTOCOLS["tinyreptile"].__name__ == "TinyReptile"
    with pytest.raises(ConfigError, match="meta_step"):
        FlJob({**SMALL, "protocol": "reptile", "protocol_options": {"meta_step": 0}})
    with pytest.raises(ConfigError, match="inner_steps"):
        FlJob({**SMALL, "protocol": "tinyreptile", "protocol_options": {"inner_steps": 0}})
    with pytest.raises(ConfigError, match="meta_stpe"):
        FlJob({**SMALL, "protocol": "reptile", "protocol_options": {"meta_stpe": 0.5}})


# -- over the co-simulated network -----------------------------------------------------------------------
@pytest.mark.parametrize("protocol", META)
def test_runs_over_the_cosimulated_network_with_model_sized_transfers(protocol):
    with CoSimNetwork(FlNetworkConfig(clients=3, edges=1), seed=1) as net:
        job = FlJob({**SMALL, "protocol": protocol, "protocol_options": {"inner_steps": 4}}, network=net)
        result = job.run()
    log = result.transfers
    assert len(log) == 2 * 3 * 2  # rounds x clients x (down, up)
    assert all(t.ok and t.end_s > t.start_s >= 0 for t in log)  # every flow went through ns-3 and took time
    assert {t.nbytes for t in log} == {model_bytes()}
    for r in range(2):
        for c in range(3):
            assert [(t.src, t.dst) for t in log if t.round == r and t.tag == "model_down" and t.dst == f"client/{c}"] \
                == [("edge/0", f"client/{c}")]
            assert [t.dst for t in log if t.round == r and t.tag == "model_up" and t.src == f"client/{c}"] == ["edge/0"]
    assert all(r.participants == (0, 1, 2) and r.dropped == () for r in result.rounds)
    assert all(math.isfinite(r.train_loss) and r.end_s > r.start_s for r in result.rounds)
    downs = [t for t in log if t.tag == "model_down"]
    ups = [t for t in log if t.tag == "model_up"]
    if protocol == "tinyreptile":  # serial: a client downloads only after the previous client's upload arrived
        assert all(d.start_s >= u.end_s for d, u in zip(downs[1:], ups[:-1]))
    else:  # batched: the round's downloads all start together
        for r in range(2):
            starts = {t.start_s for t in downs if t.round == r}
            assert len(starts) == 1


# -- the meta step --------------------------------------------------------------------------------------
def test_meta_step_one_with_one_client_gives_that_clients_adapted_model():
    """epsilon = 1 and one client: the initialisation becomes exactly the model the client adapted (k SGD
    steps from it on its own batches), which also equals FedAvg's one-client model when k is one pass."""
    job = FlJob({**SMALL, "clients": 1, "protocol": "reptile", "protocol_options": {"meta_step": 1.0, "inner_steps": 7}})
    adapted = copy.deepcopy(job.protocol.model)
    job.sgd_steps(adapted, inner_batches(job, 0, 0, 7))
    before = state(job.protocol.model)
    job.run_round()
    after = state(job.protocol.model)
    assert all(torch.equal(a, b) for a, b in zip(after, state(adapted)))
    assert not all(torch.equal(a, b) for a, b in zip(after, before))  # it did move

    passes = len(job.batches(0, 0))  # one pass of the client's data in batches of 32
    reptile = FlJob({**SMALL, "clients": 1, "rounds": 1, "protocol": "reptile",
                     "protocol_options": {"meta_step": 1.0, "inner_steps": passes}})
    fedavg = FlJob({**SMALL, "clients": 1, "rounds": 1, "protocol": "fedavg"})
    reptile.run()
    fedavg.run()
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(state(reptile.protocol.model), state(fedavg.protocol.model)))


@pytest.mark.parametrize("protocol", META)
def test_a_smaller_meta_step_moves_part_of_the_way(protocol):
    """epsilon = 0.25, one client: w_new = w + 0.25 (w_adapted - w), for both the batched and the serial form."""
    job = FlJob({**SMALL, "clients": 1, "protocol": protocol, "protocol_options": {"meta_step": 0.25, "inner_steps": 3}})
    adapted = copy.deepcopy(job.protocol.model)
    job.sgd_steps(adapted, inner_batches(job, 0, 0, 3))
    before = state(job.protocol.model)
    job.run_round()
    for w, w1, a in zip(before, state(job.protocol.model), state(adapted)):
        assert torch.allclose(w1, w + 0.25 * (a - w), atol=1e-6)


def test_tinyreptile_clients_adapt_one_after_another_and_reptile_averages():
    """Two clients, epsilon 1: TinyReptile's w ends as client 1's adaptation of client 0's adapted model;
    Reptile's as the mean of both clients' adaptations of the same w."""
    opts = {"meta_step": 1.0, "inner_steps": 4}
    serial = FlJob({**SMALL, "clients": 2, "protocol": "tinyreptile", "protocol_options": opts})
    batched = FlJob({**SMALL, "clients": 2, "protocol": "reptile", "protocol_options": opts})
    w0 = serial.protocol.model
    assert all(torch.equal(a, b) for a, b in zip(state(w0), state(batched.protocol.model)))  # same seed, same w
    chain = copy.deepcopy(w0)
    serial.sgd_steps(chain, inner_batches(serial, 0, 0, 4))
    serial.sgd_steps(chain, inner_batches(serial, 1, 0, 4))
    apart = [copy.deepcopy(w0) for _ in range(2)]
    for c in range(2):
        batched.sgd_steps(apart[c], inner_batches(batched, c, 0, 4))
    serial.run_round()
    batched.run_round()
    assert all(torch.equal(a, b) for a, b in zip(state(serial.protocol.model), state(chain)))
    mean = [(a + b) / 2 for a, b in zip(state(apart[0]), state(apart[1]))]
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(state(batched.protocol.model), mean))
    assert not all(torch.allclose(a, b, atol=1e-3) for a, b in zip(state(serial.protocol.model), mean))


def test_annealed_meta_step_reaches_its_final_value():
    job = FlJob({**SMALL, "rounds": 5, "protocol": "reptile", "protocol_options": {"meta_step": 1.0, "meta_step_final": 0.2}})
    assert [job.protocol.epsilon(job, r) for r in range(5)] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])


def test_more_inner_steps_than_one_pass_wrap_to_a_fresh_pass():
    job = FlJob({**SMALL, "clients": 2, "protocol": "reptile"})
    one_pass = job.batches(0, 0)
    batches = inner_batches(job, 0, 0, len(one_pass) + 2)
    assert len(batches) == len(one_pass) + 2
    assert all(torch.equal(a[1], b[1]) for a, b in zip(batches, one_pass))  # FedAvg's order first
    assert sum(len(b[1]) for b in batches) > job.samples(0)


@pytest.mark.parametrize("protocol", META)
def test_a_client_that_leaves_is_dropped_and_the_others_still_step(protocol):
    net = NoNetwork(3, edges=1, disconnect_at={"client/1": 0.0})
    job = FlJob({**SMALL, "protocol": protocol, "protocol_options": {"inner_steps": 3}}, network=net)
    before = state(job.protocol.model)
    result = job.run()
    assert all(r.participants == (0, 2) and r.dropped == (1,) for r in result.rounds)
    assert not all(torch.equal(a, b) for a, b in zip(before, state(job.protocol.model)))
    assert all(math.isfinite(r.train_loss) for r in result.rounds)


# -- profile mode ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", META)
def test_profile_mode_submits_the_training_runs_operations(protocol):
    logs = {}
    for mode in ("train", "profile"):
        job = FlJob({**SMALL, "protocol": protocol, "mode": mode, "protocol_options": {"inner_steps": 12}})
        result = job.run()
        flops = sorted(op.flops for _, op in job._ops.values() if hasattr(op, "flops"))
        logs[mode] = ([(t.tag, t.src, t.dst, t.nbytes) for t in result.transfers], flops, [r.end_s for r in result.rounds])
    assert logs["train"] == logs["profile"]
    assert len(logs["profile"][1]) == 2 * 3  # one train computation per client and round
    # 12 full batches of 32 (a client holds ~479 samples): 12 times the FLOPs of one step
    one_step = FlJob({**SMALL, "protocol": protocol, "mode": "profile", "protocol_options": {"inner_steps": 1}})
    one_step.run()
    single = sorted(op.flops for _, op in one_step._ops.values() if hasattr(op, "flops"))
    assert logs["profile"][1][0] == pytest.approx(12 * single[0])


# -- adaptation on new clients ---------------------------------------------------------------------------
def test_new_client_adaptation_is_reproducible_and_never_trains_the_held_out_clients():
    first = train_and_adapt(STUDY, HELD_OUT)
    again = train_and_adapt(STUDY, HELD_OUT)
    other = train_and_adapt({**STUDY, "seed": 6}, HELD_OUT)
    assert first.held_out == (5, 6, 7)
    assert first.per_client == again.per_client  # same seed: the same numbers, client by client
    assert first.per_client != other.per_client
    assert sorted(first.mean) == [0, 1, 2, 5, 10]
    held = {f"client/{c}" for c in first.held_out}
    assert not any(t.src in held or t.dst in held for t in first.job.transfers)
    assert all(r.participants == (0, 1, 2, 3, 4) for r in first.job.rounds)
    # adapting on its own (label-skewed) data helps a new client: 10 steps beat none
    assert first.mean[10] > first.mean[0] + 0.1, first.mean


def test_zero_steps_is_the_initialisations_own_query_accuracy():
    job = FlJob({**STUDY, "rounds": 1})
    model = job.protocol.model
    scores = adaptation_accuracy(job, model, [6, 7], steps=[0, 3])
    for i, c in enumerate([6, 7]):
        _, query = support_query(job, c)
        x, y = job.client_data[c]
        with torch.no_grad():
            expected = float((model(x[query]).argmax(1) == y[query]).float().mean())
        assert scores[0][i] == pytest.approx(expected)
    assert all(torch.equal(a, b) for a, b in zip(state(model), state(job.protocol.model)))  # not changed


def test_adaptation_refuses_bad_input_by_name():
    with pytest.raises(ValueError, match="held_out"):
        train_and_adapt(STUDY, 8)
    with pytest.raises(ValueError, match="one whole global model"):
        train_and_adapt({**STUDY, "protocol": "splitfed-v1", "protocol_options": {}}, 2)
    job = FlJob({**STUDY, "rounds": 1})
    with pytest.raises(ValueError, match="client 9"):
        adaptation_accuracy(job, job.protocol.model, [9])
    with pytest.raises(ValueError, match="steps"):
        adaptation_accuracy(job, job.protocol.model, [7], steps=[-1])

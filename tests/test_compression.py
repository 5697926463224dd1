"""Compression that changes bytes on the wire (issue 18 part 4): magnitude pruning with a sparse encoding,
low-rank updates, partial updates and knowledge distillation (ns6g.learners.wire.CompressionOptions,
FlJobConfig.compression). small_cnn on scikit-learn's digits (8x8, 1 channel) throughout."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ns6g.core.config import ConfigError
from ns6g.learners import models as zoo
from ns6g.learners.engine import FlJob
from ns6g.learners.wire import Codec, CompressionOptions, sparse_encoding

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BASE = {"protocol": "fedavg", "clients": 2, "rounds": 1, "batch_size": 32, "seed": 4, "torch_device": "cpu"}
# small_cnn's floating-point state on digits: name -> shape (what a model transfer carries, in order)
SHAPES = {name: tuple(t.shape) for name, t in
          zoo.build_model("small_cnn", in_channels=1, image_size=8, num_classes=10).state_dict().items()}


def student(num_classes: int, in_channels: int, image_size: int) -> nn.Sequential:
    """The distillation student of these tests: one small hidden layer (about 1/11 of small_cnn's bytes)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, 32), nn.ReLU(),
                         nn.Linear(32, num_classes))


def pruned_bytes(n: int, fraction: float, value_bytes: int = 4) -> int:
    """By hand: k = n - floor(fraction n) values, positions as int32 indices or a bitmap, the smaller."""
    k = max(1, n - math.floor(fraction * n))
    return k * value_bytes + min(4 * k, math.ceil(n / 8))


def lowrank_bytes(shape: tuple[int, ...], r: int) -> int:
    """By hand: factors r (m + n') float32 values when smaller than the tensor, else the tensor."""
    m, n = shape[0], math.prod(shape[1:])
    return 4 * r * (m + n) if len(shape) >= 2 and r * (m + n) < m * n else 4 * m * n


def sizes(result, tag: str) -> set[int]:
    return {t.nbytes for t in result.transfers if t.tag == tag}


# -- the encodings, on known tensors ---------------------------------------------------------------------
def test_pruning_keeps_the_largest_magnitudes_and_picks_the_smaller_position_encoding():
    x = torch.randn(10, 10, generator=torch.Generator().manual_seed(0))
    codec = Codec(options=CompressionOptions(prune_fraction=0.9))
    (out,), nbytes = codec.send([x])
    kept = out != 0
    assert int(kept.sum()) == 10
    assert torch.equal(out[kept], x[kept])  # kept entries exact at fp32
    assert float(x[kept].abs().min()) >= float(x[~kept].abs().max())  # the 10 largest magnitudes
    assert sparse_encoding(100, 10) == ("bitmap", 13)  # 13-byte bitmap < 40 bytes of indices
    assert nbytes == 10 * 4 + 13
    # very sparse: indices win (1000 entries, 10 kept: 40 bytes of indices < 125 of bitmap)
    (out,), nbytes = Codec(options=CompressionOptions(prune_fraction=0.99)).send([torch.randn(1000)])
    assert sparse_encoding(1000, 10) == ("indices", 40) and nbytes == 10 * 4 + 40
    # with int8: 1-byte values + the 4-byte scale
    (out,), nbytes = Codec("int8", options=CompressionOptions(prune_fraction=0.9)).send([x])
    assert nbytes == 10 + 4 + 13 and int((out != 0).sum()) == 10
    labels = torch.arange(16)
    assert Codec(options=CompressionOptions(prune_fraction=0.9)).send([labels])[1] == 16 * 8  # never compressed


def test_lowrank_of_a_rank_r_matrix_is_exact_and_costs_the_factors():
    g = torch.Generator().manual_seed(1)
    rank2 = torch.randn(20, 2, generator=g) @ torch.randn(2, 30, generator=g)
    for options in (CompressionOptions(lowrank_rank=2), CompressionOptions(lowrank_energy=0.999)):
        (out,), nbytes = Codec(options=options).send([rank2], update=True)
        assert nbytes == 2 * (20 + 30) * 4  # U_r S_r (20 x 2) and V_r^T (2 x 30), float32
        assert torch.allclose(out, rank2, atol=1e-4)
    (out,), nbytes = Codec(options=CompressionOptions(lowrank_rank=1)).send([rank2], update=True)
    s = torch.linalg.svdvals(rank2)
    assert nbytes == 50 * 4
    assert math.isclose(float(torch.linalg.norm(out - rank2)), float(s[1]), rel_tol=1e-3)  # Eckart-Young
    # int8 factors: 1 byte a value and one 4-byte scale per factor; small error
    (out,), nbytes = Codec("int8", options=CompressionOptions(lowrank_rank=2)).send([rank2], update=True)
    assert nbytes == 2 * 50 + 8 and float((out - rank2).abs().max()) < 0.05 * float(rank2.abs().max())
    # a conv weight is reshaped to out x (in kh kw); a vector and a tiny matrix go as they are
    conv, bias, tiny = torch.randn(8, 3, 3, 3), torch.randn(8), torch.randn(2, 2)
    _, nbytes = Codec(options=CompressionOptions(lowrank_rank=2)).send([conv, bias, tiny], update=True)
    assert nbytes == 2 * (8 + 27) * 4 + 8 * 4 + 4 * 4
    # low-rank is for updates only: a plain transfer (a download, activations) is left alone
    assert Codec(options=CompressionOptions(lowrank_rank=1)).send([rank2])[1] == 600 * 4


# -- bytes on the wire of a job --------------------------------------------------------------------------
def test_job_transfer_log_shrinks_as_the_codec_says():
    plain = FlJob(BASE).run()
    model = sum(4 * math.prod(s) for s in SHAPES.values())
    assert sizes(plain, "model_up") == sizes(plain, "model_down") == {model}

    pruned = FlJob({**BASE, "compression": {"prune_fraction": 0.5}}).run()  # downloads and updates
    want = sum(pruned_bytes(math.prod(s), 0.5) for s in SHAPES.values())
    assert sizes(pruned, "model_down") == sizes(pruned, "model_up") == {want}

    lowrank = FlJob({**BASE, "compression": {"lowrank_rank": 2}}).run()  # updates only
    assert sizes(lowrank, "model_down") == {model}
    assert sizes(lowrank, "model_up") == {sum(lowrank_bytes(s, 2) for s in SHAPES.values())}

    partial = FlJob({**BASE, "compression": {"partial_last": 1}}).run()  # fc2 only
    assert sizes(partial, "model_up") == {4 * (10 * 128 + 10)}
    # the sizes come from the encoding, not the values: profile mode reports the same
    profiled = FlJob({**BASE, "mode": "profile", "compression": {"lowrank_rank": 2}}).run()
    assert [t.nbytes for t in profiled.transfers] == [t.nbytes for t in lowrank.transfers]
    for r in (pruned, lowrank, partial):
        assert math.isfinite(r.final_accuracy)
        assert r.rounds[0].uplink_bytes < plain.rounds[0].uplink_bytes


def test_lowrank_update_reaches_the_server_as_its_rank_r_truncation():
    """One client: the server's new model is the download plus the rank-r truncation of the client's update."""
    job = FlJob({**BASE, "clients": 1, "compression": {"lowrank_rank": 3}})
    before = job.state_of(job.protocol.model)
    down, up, _ = job.protocol.client_cycle(job, 0, 0)
    local_update = None
    for received, ref, name in zip(up.tensors, before, before.names):
        delta = received - ref
        if delta.ndim >= 2 and name == "fc1.1.weight":
            local_update = delta
    assert local_update is not None
    assert int(torch.linalg.matrix_rank(local_update)) <= 3


def test_partial_updates_leave_the_other_layers_unchanged():
    job = FlJob({**BASE, "rounds": 2, "compression": {"partial_layers": r"^fc2\."}})
    model = job.protocol.model
    start = {n: t.clone() for n, t in model.state_dict().items()}
    job.run()
    for name, t in model.state_dict().items():
        if name.startswith("fc2."):
            assert not torch.equal(t, start[name]), name  # trained and sent
        else:
            assert torch.equal(t, start[name]), name  # kept from the server's copy
    assert sizes(job.result(), "model_up") == {4 * (10 * 128 + 10)}


def test_distillation_sends_the_student_and_keeps_the_teachers_on_the_clients():
    job = FlJob({**BASE, "rounds": 3, "compression": {"distill_student": "tests.test_compression:student"}})
    result = job.run()
    student_bytes = 4 * (64 * 32 + 32 + 32 * 10 + 10)
    assert sizes(result, "model_down") == sizes(result, "model_up") == {student_bytes}
    assert isinstance(job.protocol.model[1], nn.Linear)  # the global model is the student
    assert sorted(job._teachers) == [0, 1]  # one teacher per client, never sent
    assert result.final_accuracy > 0.5  # chance: 0.1
    # the teachers' training is charged to the clients: more FLOPs than the student alone
    alone = FlJob({**BASE, "rounds": 3}, model=student).run()
    assert result.rounds[0].devices["client/0"].compute_s > alone.rounds[0].devices["client/0"].compute_s


# -- composition with split protocols and with int8 -----------------------------------------------------
def test_composes_with_splitfed_and_refuses_what_a_protocol_cannot_apply():
    split = {**BASE, "protocol": "splitfed-v1", "cut": 2}
    plain = FlJob(split).run()
    pruned = FlJob({**split, "compression": {"prune_fraction": 0.5}, "quantization": "int8"}).run()
    # cut 2 (after pool1): 16 x 4 x 4 values per sample; the batch's int64 labels travel as they are
    acts = {t.nbytes for t in pruned.transfers if t.tag == "activations"}
    n = 32 * 256
    assert pruned_bytes(n, 0.5, value_bytes=1) + 4 + 32 * 8 in acts
    assert pruned.rounds[0].uplink_bytes < plain.rounds[0].uplink_bytes / 2
    lowrank = FlJob({**split, "compression": {"lowrank_rank": 2}}).run()
    client_part = {k: v for k, v in SHAPES.items() if k.startswith("conv1")}  # cut 2: conv1, pool1
    assert sizes(lowrank, "model_up") == {sum(lowrank_bytes(s, 2) for s in client_part.values())}
    assert {t.nbytes for t in lowrank.transfers if t.tag == "activations"} == \
        {t.nbytes for t in plain.transfers if t.tag == "activations"}  # activations are not low-rank coded
    with pytest.raises(ValueError, match="compression.lowrank_rank.*'psl' sends no model updates"):
        FlJob({**split, "protocol": "psl", "compression": {"lowrank_rank": 2}})
    with pytest.raises(ValueError, match="compression.partial_layers.*'psl'"):
        FlJob({**split, "protocol": "psl", "compression": {"partial_last": 1}})
    with pytest.raises(ValueError, match="compression.distill_student.*'splitfed-v1'.*fedavg"):
        FlJob({**split, "compression": {"distill_student": "tests.test_compression:student"}})
    with pytest.raises(ValueError, match="compression.partial_layers.*'fl-lora'"):
        FlJob({**BASE, "protocol": "fl-lora", "compression": {"partial_last": 1}})


def test_same_seed_same_bytes_and_accuracies():
    cfg = {**BASE, "rounds": 2, "compression": {"lowrank_energy": 0.8}, "quantization": "int8"}
    a, b = FlJob(cfg).run(), FlJob(cfg).run()
    assert [t.nbytes for t in a.transfers] == [t.nbytes for t in b.transfers]
    assert [r.test_accuracy for r in a.rounds] == [r.test_accuracy for r in b.rounds]
    cfg = {**BASE, "rounds": 2, "compression": {"distill_student": "tests.test_compression:student"}}
    assert [r.test_accuracy for r in FlJob(cfg).run().rounds] == [r.test_accuracy for r in FlJob(cfg).run().rounds]


# -- bad values refused by name -------------------------------------------------------------------------
@pytest.mark.parametrize("compression, named", [
    ({"prune_fraction": 1.0}, "prune_fraction"),
    ({"prune_fraction": -0.1}, "prune_fraction"),
    ({"lowrank_rank": -1}, "lowrank_rank"),
    ({"lowrank_energy": 1.5}, "lowrank_energy"),
    ({"lowrank_rank": 2, "lowrank_energy": 0.9}, "lowrank_energy"),
    ({"partial_layers": "fc(", "partial_last": 0}, "partial_layers"),
    ({"partial_layers": "fc", "partial_last": 1}, "partial_last"),
    ({"prune_fraction": 0.5, "lowrank_rank": 2}, "prune_fraction"),
    ({"distill_student": "nosuchmodel"}, "distill_student"),
    ({"distill_temperature": 0}, "distill_temperature"),
    ({"distill_weight": 2}, "distill_weight"),
    ({"prune_fractoin": 0.5}, "prune_fractoin"),
])
def test_bad_values_are_refused_by_name(compression, named):
    with pytest.raises(ConfigError, match=named):
        FlJob({**BASE, "compression": compression})


def test_settings_that_cannot_apply_are_refused_by_name():
    with pytest.raises(ConfigError, match="topk_fraction.*prune_fraction"):
        FlJob({**BASE, "topk_fraction": 0.1, "compression": {"prune_fraction": 0.5}})
    with pytest.raises(ConfigError, match="topk_fraction.*lowrank"):
        FlJob({**BASE, "topk_fraction": 0.1, "compression": {"lowrank_rank": 2}})
    with pytest.raises(ValueError, match="partial_layers 'nothing' matches none"):
        FlJob({**BASE, "compression": {"partial_layers": "nothing"}})
    with pytest.raises(ValueError, match="partial_last 9 exceeds the model's 4 layers"):
        FlJob({**BASE, "compression": {"partial_last": 9}})
    with pytest.raises(ValueError, match="lowrank_energy.*profile mode"):
        FlJob({**BASE, "mode": "profile", "compression": {"lowrank_energy": 0.9}})

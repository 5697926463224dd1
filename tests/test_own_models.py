"""Your own model and data for the learners: FlJob(model=, train_data=, test_data=), cut points,
partitions of any data set, profiles of your own model, ``ns6g fl --model/--data``, PEFT ``--model-path``
and the errors for bad input (docs/learners.md, "Your own model and data")."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from ns6g.apps.cli import main
from ns6g.learners import custom
from ns6g.learners.data import partition_dataset
from ns6g.learners.engine import FlJob
from ns6g.learners.profiles import model_flops, profile_model

FEATURES, CLASSES = 12, 4


def blobs(n: int, seed: int) -> TensorDataset:
    """A learnable tabular task: 4 classes from the signs of the first two of 12 features."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)
    return TensorDataset(x, (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long())


def mlp(num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(FEATURES, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, num_classes))


class TwoStage(nn.Module):
    """A non-Sequential model declaring its cut points."""

    cut_points = ("body", "head")

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(FEATURES, 32), nn.ReLU())
        self.head = nn.Linear(32, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class ItemsOnly(Dataset):
    """A map-style data set with neither targets nor tensors: labels come from its items."""

    def __init__(self, base: TensorDataset, domains: np.ndarray | None = None) -> None:
        self.base = base
        if domains is not None:
            self.domains = domains

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        x, y = self.base[i]
        return x.numpy(), int(y)


def job(protocol: str, model=mlp, **fields):
    config = {"protocol": protocol, "rounds": 2, "clients": 3, "cut": 2, "batch_size": 16, "local_epochs": 4, **fields}
    return FlJob(config, model=model, train_data=blobs(300, 0), test_data=blobs(120, 1))


@pytest.mark.parametrize("protocol", ["fedavg", "psl"])
def test_own_sequential_and_dataset_train(protocol):
    fl = job(protocol)
    result = fl.run()
    assert fl.depth == 5
    assert fl.config.model == f"{__name__}:mlp" and fl.config.dataset == "custom"  # what ran, recorded
    assert result.final_accuracy > 0.6  # 4 classes: chance 0.25
    assert result.uplink_bytes > 0


def test_same_seed_same_result_with_own_model_and_data():
    a, b = (job("splitfed-v1", seed=5, rounds=1).run() for _ in range(2))
    assert a.rounds[0].test_loss == b.rounds[0].test_loss and a.uplink_bytes == b.uplink_bytes
    c = job("splitfed-v1", seed=6, rounds=1).run()
    assert c.rounds[0].test_loss != a.rounds[0].test_loss  # the seed initialises a factory's model


def test_module_with_declared_cut_points_splits_there():
    fl = job("splitfed-v1", model=TwoStage, cut=1)
    result = fl.run()
    assert fl.depth == 2 and fl.config.model == f"{__name__}:TwoStage"
    # activations at the cut: per sample the body's 32 float32 features and the int64 label go up
    smashed = {t.nbytes for t in result.transfers if t.tag == "activations"}
    assert 16 * (32 * 4 + 8) in smashed and all(n % (32 * 4 + 8) == 0 for n in smashed)
    assert result.final_accuracy > 0.5


def test_an_instance_is_copied_and_its_weights_are_the_start():
    instance = mlp(CLASSES)
    fl = job("fedavg", model=instance, rounds=1)
    copy = fl.new_model()
    assert copy is not instance and fl.config.model == "custom"
    assert all(torch.equal(a.cpu(), b) for a, b in zip(copy.parameters(), instance.parameters()))


def test_test_fraction_splits_a_single_data_set():
    fl = FlJob({"protocol": "fedavg", "rounds": 1, "clients": 2, "test_fraction": 0.25}, model=mlp,
               train_data=blobs(200, 0))
    assert len(fl.test_data[1]) == 50 and sum(fl.samples(c) for c in range(2)) == 150


# ---------------------------------------------------------------------------------------------- partitions


def histograms(parts, labels):
    return np.stack([np.bincount(labels[p], minlength=CLASSES) for p in parts])


@pytest.mark.parametrize("data", [blobs(400, 2), ItemsOnly(blobs(400, 2))], ids=["tensors", "items"])
def test_partitions_of_any_data_set_are_non_iid(data):
    labels = custom.labels_of(data)
    assert np.array_equal(labels, blobs(400, 2).tensors[1].numpy())
    iid = histograms(partition_dataset(data, 4, "iid", seed=0), labels)
    shards = histograms(partition_dataset(data, 4, "shards", seed=0, shards_per_client=1), labels)
    skewed = histograms(partition_dataset(data, 4, "dirichlet", seed=0, alpha=0.05), labels)
    assert (iid > 0).all()  # every client sees every class
    assert ((shards > 0).sum(axis=1) <= 2).all()  # one shard of sorted labels: at most two classes
    overall = np.bincount(labels, minlength=CLASSES) / len(labels)

    def skew(h):  # mean total-variation distance of the clients' label shares from the whole set's
        return float(np.mean(0.5 * np.abs(h / h.sum(axis=1, keepdims=True) - overall).sum(axis=1)))

    assert skew(iid) < 0.1 and skew(skewed) > 0.4 and skew(shards) > 0.4
    for parts in (partition_dataset(data, 4, s, seed=0) for s in ("iid", "shards", "dirichlet")):
        assert sorted(np.concatenate(parts).tolist()) == list(range(400))


def test_labels_from_targets_without_reading_items():
    class Targets(Dataset):
        targets = [0, 1, 1, 0]

        def __len__(self):
            return 4

        def __getitem__(self, i):
            raise AssertionError("items were read")

    assert custom.labels_of(Targets()).tolist() == [0, 1, 1, 0]


def test_domain_partition_of_a_data_set_with_domains():
    domains = np.arange(300) % 3
    parts = partition_dataset(ItemsOnly(blobs(300, 0), domains), 3, "domain", seed=0)
    assert [set(domains[p].tolist()) for p in parts] == [{0}, {1}, {2}]
    with pytest.raises(ValueError, match="dataset.domains"):
        partition_dataset(blobs(300, 0), 3, "domain", seed=0)
    fl = FlJob({"protocol": "fedavg", "rounds": 1, "clients": 3, "partition": "domain"}, model=mlp,
               train_data=ItemsOnly(blobs(300, 0), domains), test_data=blobs(60, 1))
    assert fl.run().final_accuracy >= 0


# ---------------------------------------------------------------------------------------------- profiles


def test_profile_of_own_models():
    x = torch.zeros(1, FEATURES)
    df = profile_model(mlp(CLASSES), example=x)
    assert list(df["cut"]) == list(range(6)) and df.attrs["model"] == "Sequential"
    assert (df["device_flops"].diff().dropna() >= 0).all() and df["server_flops"].iloc[0] > 0
    assert df["device_flops"].iloc[-1] == model_flops(mlp(CLASSES), example=x) == 2 * (12 * 32 + 32 * 16 + 16 * 4)
    # activation bytes at cut k: the float32 output of block k (input, 32, 32, 16, 16, 4 features)
    assert list(df["transfer_bytes"]) == [4 * n for n in (12, 32, 32, 16, 16, 4)]
    two = profile_model(TwoStage(), "int8", example=torch.zeros(3, FEATURES))
    assert list(two["layer"]) == ["input", "body", "head"] and list(two["transfer_bytes"]) == [12, 32, 4]
    assert two.attrs["input_shape"] == "3x12"
    with pytest.raises(ValueError, match="needs example"):
        profile_model(mlp(CLASSES))


# ---------------------------------------------------------------------------------------------- bad input


class Wrong(nn.Module):
    """Declares cut points that skip its forward's scaling."""

    cut_points = ("body", "head")

    def __init__(self) -> None:
        super().__init__()
        self.body, self.head = nn.Linear(FEATURES, 8), nn.Linear(8, CLASSES)

    def forward(self, x):
        return self.head(2 * self.body(x))


class Loose(TwoStage):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))


class Plain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = mlp(CLASSES)

    def forward(self, x):
        return self.net(x)


class Pairs(Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


@pytest.mark.parametrize("kwargs, needle", [
    ({"model": lambda: mlp(3)}, r"\(batch, classes\) scores for the 4 classes"),
    ({"model": Wrong}, "does not compute its forward"),
    ({"model": Loose}, r"parameters \['scale'\] lie outside"),
    ({"model": Plain, "protocol": "psl"}, "no cut points, which split protocol 'psl' needs"),
    ({"model": mlp, "protocol": "psl", "cut": 5}, "cut 5 is beyond the depth"),
    ({"model": lambda: "not a model"}, "returned a str, not an nn.Module"),
    ({"model": mlp, "model_options": {"width": 3}}, r"does not take model_options \['width'\]"),
    ({"train_data": Pairs([])}, "train_data is empty"),
    ({"train_data": Pairs([torch.zeros(FEATURES)] * 4)}, "item 0 is a Tensor, not an \\(x, y\\) pair"),
    ({"train_data": Pairs([(torch.zeros(FEATURES), 0.5)] * 4)}, "item 0 has label 0.5"),
    ({"train_data": Pairs([(torch.zeros(FEATURES), 0), (torch.zeros(3), 1)])}, "item 1 has x of shape"),
    ({"train_data": Pairs([(torch.zeros(FEATURES, dtype=torch.float64), 0)] * 8)}, "fails on a batch"),
])
def test_bad_models_and_data_are_named(kwargs, needle):
    config = {"protocol": kwargs.pop("protocol", "fedavg"), "clients": 2, "cut": kwargs.pop("cut", 2)}
    if "model_options" in kwargs:
        config["model_options"] = kwargs.pop("model_options")
    kwargs.setdefault("model", mlp)
    kwargs.setdefault("train_data", blobs(100, 0))
    with pytest.raises(ValueError, match=needle):
        FlJob(config, **kwargs)


# ---------------------------------------------------------------------------------------------- CLI

MODULE = '''
import torch
from torch import nn
from torch.utils.data import TensorDataset


def make_model(num_classes, hidden=32):
    return nn.Sequential(nn.Linear(12, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


def make_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 12, generator=g)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    return TensorDataset(x[:300], y[:300]), TensorDataset(x[300:], y[300:])


def not_data():
    return 42
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    name = f"own_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_fl_command_runs_your_model_and_data(user_module, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "ns6g.apps.cli", "fl", "--protocol", "psl", "--model", f"{user_module}:make_model",
         "--data", f"{user_module}:make_data", "--set", "model_options={\"hidden\": 16}", "--set", "cut=1", "--set", "local_epochs=4",
         "--network", "none", "--rounds", "2", "--clients", "2", "--out", str(out), "--quiet", "--json"],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["final_accuracy"] > 0.5
    job = json.loads((out / "manifest.json").read_text())["config"]["job"]
    assert job["model"] == f"{user_module}:make_model" and job["dataset"] == f"{user_module}:make_data"
    assert job["model_options"] == {"hidden": 16}


@pytest.mark.parametrize("flags, needle", [
    (["--model", "no_such_module_x:f"], "cannot import module 'no_such_module_x'"),
    (["--model", "{mod}:nope"], "has no attribute 'nope'"),
    (["--data", "{mod}:not_data"], "returned a int as its train set"),
    (["--model", "not a spec"], "unknown model 'not a spec'"),
    (["--model-path", "{tmp}"], "--model-path is for the protocols with a base language model (fl-lora, "),
])
def test_fl_command_names_bad_factories_and_writes_nothing(flags, needle, user_module, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["fl", "--protocol", "fedavg", "--network", "none", "--rounds", "1", "--clients", "2", "--out", str(out),
            "--quiet", *(f.format(mod=user_module, tmp=tmp_path) for f in flags)]
    assert main(argv) == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


# ---------------------------------------------------------------------------------------------- PEFT


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A 2-layer GPT-2 and a small byte-level BPE tokenizer, built here and saved as a model folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(["return the value of the path", "open a socket to the host"] * 20, trainers.BpeTrainer(
        vocab_size=320, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(1)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=16, n_layer=2, n_head=2,
                                       bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id))
    model.save_pretrained(folder)
    return folder, {k: v.clone() for k, v in model.state_dict().items()}, tokenizer


PEFT_OPTIONS = {"samples_per_client": 8, "local_steps": 2, "test_blocks": 4, "seq_len": 24, "virtual_tokens": 4,
                "domains": ["text", "network"]}


@pytest.mark.parametrize("protocol", ["fl-lora", "fl-prefix"])
def test_peft_on_a_local_hugging_face_model(tiny_lm, protocol):
    folder, saved, tokenizer = tiny_lm
    fl = FlJob({"protocol": protocol, "rounds": 1, "clients": 2, "batch_size": 4,
                "protocol_options": {**PEFT_OPTIONS, "model_path": str(folder)}})
    base = fl.protocol.base_state
    assert all(torch.equal(base[k], saved[k]) for k in saved)  # the folder's weights, not a built base
    blocks = fl.protocol.blocks[0]
    assert blocks.shape[1] == 24 and int(blocks.max()) < len(tokenizer)  # cut by the folder's tokenizer
    assert int(blocks.max()) >= 257  # ids beyond the byte vocabulary: BPE merges
    result = fl.run()
    assert math.isfinite(result.rounds[0].test_loss) and result.uplink_bytes > 0


def test_fl_command_model_path(tiny_lm, capsys):
    folder = tiny_lm[0]
    argv = ["fl", "--protocol", "fl-lora", "--model-path", str(folder), "--network", "none", "--rounds", "1",
            "--clients", "2", "--set", "batch_size=4", "--set", f"protocol_options={json.dumps(PEFT_OPTIONS)}",
            "--quiet", "--json"]
    assert main(argv) == 0
    assert math.isfinite(json.loads(capsys.readouterr().out)["final_test_loss"])


def test_model_path_errors(tiny_lm, tmp_path):
    def start(path, **extra):
        return FlJob({"protocol": "fl-lora", "clients": 2, "batch_size": 4,
                      "protocol_options": {**PEFT_OPTIONS, "model_path": str(path), **extra}})

    with pytest.raises(ValueError, match="is not a folder on local disk"):
        start(tmp_path / "missing")
    with pytest.raises(ValueError, match="no config.json there"):
        start(tmp_path)
    with pytest.raises(ValueError, match=r"takes 64 positions.*need 68"):
        start(tiny_lm[0], seq_len=64)
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((tiny_lm[0] / name).read_bytes())
    with pytest.raises(ValueError, match="no loadable tokenizer"):
        start(bare)

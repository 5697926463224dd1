"""The learner engine: runs one FL / split-learning job round by round over a :class:`Network`.

A job (:class:`FlJob`) trains for real in PyTorch (CUDA when present) on each client's share of the
data, and submits every communication and computation it performs to the network:

- every transfer is a :class:`~ns6g.learners.network.Transfer` of the exact payload size of the tensors
  it carries (``numel x element_size``, or the compressed size, :mod:`ns6g.learners.wire`);
- every computation is a :class:`~ns6g.learners.network.Compute` whose FLOPs are measured with
  ``torch.utils.flop_counter.FlopCounterMode`` over the real forward and backward pass (matrix
  multiplications and convolutions, 2 FLOPs per multiply-accumulate, as in :mod:`ns6g.learners.profiles`),
  counted once per model part and batch shape and cached.

The protocol (:mod:`ns6g.learners.protocols`) decides what is sent where and when; the engine gives it
the services (send, compute, wait, local training, FLOP counts, model state) and records, per round,
the timeline of every node (compute, uplink, downlink and waiting seconds and energy, from the
:class:`~ns6g.learners.network.Completed` records), the training loss and the test loss and accuracy.
A client whose operation fails (``Completed.ok`` False: it disconnected) is dropped from that round by
the protocol and the round completes without it.

Without a network argument the job runs on :class:`~ns6g.learners.no_network.NoNetwork` (transfers take
no time): the "same training with no network" reference. See docs/learners.md.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator
from torch import nn
from torch.utils.data import Dataset as TorchDataset
from torch.utils.flop_counter import FlopCounterMode

from ns6g.core.config import ScenarioConfig
from ns6g.core.runs import RunWriter
from ns6g.learners import custom
from ns6g.learners import data as datasets
from ns6g.learners import models as zoo
from ns6g.learners.network import REGIONAL, Completed, Compute, DeviceTimeline, Network, Transfer, timelines, with_after
from ns6g.learners.no_network import NoNetwork
from ns6g.learners.protocols import PROTOCOLS, Protocol, make_protocol
from ns6g.learners.records import JobResult, ModelState, RoundOutcome, RoundRecord, Sent, TransferRecord
from ns6g.learners.robust import AttackOptions, DefenceOptions, PrivacyOptions, attackers, flip_labels
from ns6g.learners.wire import Codec, CompressionOptions, tensor_bytes

__all__ = ["DeviceTimeline", "FlJob", "FlJobConfig", "JobResult", "RoundRecord", "Sent", "TransferRecord", "own_inputs"]


#: data sets ns6g loads itself (ns6g.learners.data.load_dataset)
BUILTIN_DATASETS = ("digits", "mnist", "cifar10")

#: protocol knobs that were FlJobConfig fields in 0.1 and are now the protocols' own options
MOVED_KNOBS = ("prox_mu", "epsl_ratio", "cloud_period", "async_mixing", "staleness_exponent", "buffer_size")


class FlJobConfig(ScenarioConfig):
    """Settings of one learner job. Fields a protocol does not use are ignored by it."""

    protocol: str = Field(description="learning protocol, one of ns6g.learners.protocols.PROTOCOLS")
    rounds: int = Field(3, ge=1, le=1_000_000, description="rounds to run")
    clients: int = Field(4, ge=1, le=100_000, description="client devices taking part (client/0 .. client/<clients-1>)")
    model: str = Field(
        "small_cnn",
        description="zoo model (ns6g.learners.models.MODELS), 'pkg.module:factory' of your own, or 'custom' "
        "(the FlJob was given a model object; see docs/learners.md, 'Your own model and data')",
    )
    model_options: dict[str, int | float] = Field(
        default_factory=dict,
        description="extra keyword arguments of the model factory; in_channels, image_size and "
        "num_classes are taken from the data set when the factory has them",
    )
    dataset: str = Field(
        "digits",
        description="training data: digits, mnist, cifar10, 'pkg.module:factory' of your own (it returns "
        "(train, test) data sets, or one set split by test_fraction), or 'custom' (the FlJob was given data sets)",
    )
    data_path: str = Field("", description="folder of the MNIST idx files or CIFAR-10 batches")
    partition: Literal["iid", "shards", "dirichlet", "domain"] = Field("iid", description="client data split")
    dirichlet_alpha: float = Field(0.5, ge=1e-3, le=1e6, description="Dirichlet concentration (partition 'dirichlet')")
    shards_per_client: int = Field(2, ge=1, le=10_000, description="label shards per client (partition 'shards')")
    domains: int = Field(4, ge=1, le=10_000, description="rotated-image domains (partition 'domain')")
    test_fraction: float = Field(0.2, ge=0.01, le=0.99, description="share of the data held out for testing")
    batch_size: int = Field(16, ge=1, le=65_536, description="mini-batch size per client (samples)")
    local_epochs: int = Field(1, ge=1, le=10_000, description="passes over its data a client makes per round")
    learning_rate: float = Field(0.05, ge=1e-6, le=10, description="SGD learning rate of clients and servers, 1e-6 .. 10 (larger diverges at the first step)")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
    cut: int = Field(2, ge=1, le=1024, description="split protocols: the first `cut` model blocks run on the client")
    edges: int = Field(2, ge=1, le=1024, description="hierarchical protocols: edge servers (client i reports to edge i % edges)")
    quantization: Literal["fp32", "int8"] = Field("fp32", description="encoding of floating-point transfers")
    topk_fraction: float = Field(
        1.0, ge=1e-6, le=1, description="share of entries kept in updates, activations and gradients (1: all)"
    )
    compression: CompressionOptions = Field(
        default_factory=CompressionOptions,
        description="pruning, low-rank updates, partial updates, distillation (ns6g.learners.wire."
        "CompressionOptions, docs/compression.md); all off by default",
    )
    server: str = Field(
        "edge/0", pattern=r"^(edge/\d+|cloud)$", description="node of the (main/fed) server of flat protocols"
    )
    seed: int = Field(0, ge=0, le=2**63 - 1, description="seed of data split, initialisation and batch order")
    protocol_options: dict[str, Any] = Field(
        default_factory=dict,
        description="the protocol's own knobs (its Protocol.options class, e.g. prox_mu of fedprox, "
        "epsl_ratio of epsl); validated against that class, refused for a protocol that has none",
    )
    torch_device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where PyTorch computes")
    attack: AttackOptions = Field(
        default_factory=AttackOptions,
        description="poisoning by a fraction of the clients (label_flip, sign_flip, model_replacement; "
        "ns6g.learners.robust, docs/robustness.md); protocols with the aggregate hook only",
    )
    defence: DefenceOptions = Field(
        default_factory=DefenceOptions,
        description="the server's aggregation rule (mean, median, trimmed_mean, krum, multi_krum, norm_clip; "
        "docs/robustness.md); protocols with the aggregate hook only",
    )
    privacy: PrivacyOptions = Field(
        default_factory=PrivacyOptions,
        description="client-level differential privacy: updates clipped on the clients, Gaussian noise on the "
        "mean, epsilon from opacus's accountant (docs/robustness.md); protocols with the aggregate hook only",
    )
    mode: Literal["train", "profile"] = Field(
        "train",
        description="train: real PyTorch training; profile: the same operations (transfer bytes from the "
        "tensors' shapes, FLOPs from the same counter) with no training: models live on PyTorch's 'meta' "
        "device, losses and accuracies are NaN",
    )

    @model_validator(mode="before")
    @classmethod
    def _protocol_knobs_moved(cls, data: Any) -> Any:
        """The 0.1 keys of protocol knobs (``prox_mu: 0.1``) still work for one release: moved into
        ``protocol_options`` of the protocol that owns them (an explicit ``protocol_options`` entry wins),
        dropped for one that does not (they were ignored there before too); a DeprecationWarning either way."""
        if not isinstance(data, Mapping) or not any(k in data for k in MOVED_KNOBS):
            return data
        data = dict(data)
        protocol = PROTOCOLS.get(data.get("protocol"))  # type: ignore[arg-type]
        owned = protocol.options.model_fields if protocol is not None and protocol.options is not None else {}
        options = dict(data.get("protocol_options") or {})
        for key in [k for k in MOVED_KNOBS if k in data]:
            value = data.pop(key)
            if key in owned:
                options.setdefault(key, value)
                fate = "moved there for now"
            else:
                fate = f"protocol {data.get('protocol')!r} has no such knob: ignored"
            warnings.warn(f"FlJobConfig key {key!r} is deprecated: set protocol_options: {{{key}: ...}} (the "
                          f"protocol's own options); {fate}; the old key goes away in ns6g 0.2",
                          DeprecationWarning, stacklevel=2)
        if options:
            data["protocol_options"] = options
        return data

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, value: str) -> str:
        if value not in PROTOCOLS:
            raise ValueError(f"unknown protocol {value!r}; valid: {', '.join(PROTOCOLS)}")
        return value

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value not in BUILTIN_DATASETS and value != "custom" and not custom.is_spec(value):
            raise ValueError(f"unknown dataset {value!r}; valid: {', '.join(BUILTIN_DATASETS)}, "
                             "'pkg.module:factory' or 'custom'")
        return value

    @model_validator(mode="after")
    def _data_folder(self) -> FlJobConfig:
        if self.dataset in ("mnist", "cifar10") and not (self.data_path and Path(self.data_path).expanduser().is_dir()):
            raise ValueError(f"data_path: dataset={self.dataset!r} needs data_path, a local folder with its files "
                             f"(got {self.data_path!r})")
        return self

    @model_validator(mode="after")
    def _valid_protocol_options(self) -> FlJobConfig:
        options = PROTOCOLS[self.protocol].options
        if options is None and self.protocol_options:
            raise ValueError(f"protocol {self.protocol!r} takes no protocol_options, got {sorted(self.protocol_options)}")
        if options is not None:
            options.from_user(self.protocol_options)  # ConfigError naming the bad option
        return self

    @model_validator(mode="after")
    def _one_sparsifier(self) -> FlJobConfig:
        if self.topk_fraction < 1 and (self.compression.prune_fraction or self.compression.lowrank):
            raise ValueError("topk_fraction < 1 and compression.prune_fraction / lowrank_*: choose one way to "
                             "sparsify (top-k, pruning or low-rank)")
        return self

    @field_validator("compression")
    @classmethod
    def _known_student(cls, value: CompressionOptions) -> CompressionOptions:
        student = value.distill_student
        if student and student not in zoo.MODELS and not custom.is_spec(student):
            raise ValueError(f"unknown distill_student {student!r}; valid: {', '.join(zoo.MODELS)} or "
                             "'pkg.module:factory'")
        return value

    @model_validator(mode="after")
    def _robustness_applies(self) -> FlJobConfig:
        refuse_robustness(self, PROTOCOLS[self.protocol])
        attackers(self.attack, self.clients, self.seed)  # ValueError naming fraction if it rounds to none
        self.defence.check_uploads(self.clients)
        if self.privacy.enabled and self.defence.aggregator != "mean":
            raise ValueError(f"privacy: noise_multiplier > 0 is calibrated to the mean's sensitivity; defence "
                             f"aggregator {self.defence.aggregator!r} is not the mean")
        return self

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in zoo.MODELS and value != "custom" and not custom.is_spec(value):
            raise ValueError(f"unknown model {value!r}; valid: {', '.join(zoo.MODELS)}, 'pkg.module:factory' "
                             "or 'custom'")
        return value


# (model, model kwargs, part, shape, with loss) -> (forward FLOPs, backward FLOPs)
_FLOP_CACHE: dict[tuple[Any, ...], tuple[float, float]] = {}
_CUSTOM_KEYS = itertools.count()  # a job's own model gets a key of its own in _FLOP_CACHE


def _floating_state(module: nn.Module) -> list[torch.Tensor]:
    """``module``'s parameters and floating-point buffers, in ``state_dict`` order (what a model transfer carries)."""
    return [t for t in module.state_dict().values() if t.is_floating_point()]


def _floating_names(module: nn.Module) -> list[str]:
    """The ``state_dict`` names of :func:`_floating_state`'s tensors."""
    return [n for n, t in module.state_dict().items() if t.is_floating_point()]


def refuse_robustness(config: FlJobConfig, protocol: Protocol | type[Protocol]) -> None:
    """ValueError naming ``attack`` / ``defence`` when either is set for a protocol without the
    ``aggregate`` hook of whole-model uploads (``Protocol.robust``)."""
    if getattr(protocol, "robust", False):
        return
    robust = ", ".join(n for n, p in PROTOCOLS.items() if p.robust)
    for key, value, default in (("attack", config.attack.kind, "none"),
                                ("defence", config.defence.aggregator, "mean"),
                                ("privacy", config.privacy.noise_multiplier, 0.0)):
        if value != default:
            raise ValueError(f"{key}: {value!r} needs a protocol that aggregates whole-model uploads through "
                             f"the aggregate hook ({robust}); {protocol.name or config.protocol!r} does not")


def _proximal(model: nn.Module, prox_mu: float) -> Callable[[], torch.Tensor] | None:
    """FedProx's proximal term ``prox_mu / 2 * ||w - w_start||^2`` of ``model`` against its weights now
    (``w_start``), for the local steps that follow; None when ``prox_mu`` is 0 (plain local SGD)."""
    if prox_mu <= 0:
        return None
    center = [p.detach().clone() for p in model.parameters()]
    return lambda: prox_mu / 2 * sum(((p - c) ** 2).sum() for p, c in zip(model.parameters(), center))


def _training_flops(module: nn.Module, x: torch.Tensor, with_loss: bool, input_grad: bool) -> tuple[float, float]:
    """FLOPs of one forward and one backward pass of ``module`` on batch ``x`` (a copy of the module
    is used, so the real one's gradients and statistics are untouched). ``with_loss``: the module ends
    the model (cross-entropy on its output); otherwise the backward pass starts from a gradient on the
    output (a client-side part). ``input_grad``: the gradient w.r.t. ``x`` is computed too (a
    server-side part returns it to the client)."""
    module = copy.deepcopy(module).train()
    x = x.detach().clone().requires_grad_(input_grad and x.is_floating_point())
    with FlopCounterMode(display=False) as counter:
        out = module(x)
        forward = counter.get_total_flops()
        if with_loss:
            target = torch.zeros(out.shape[0], dtype=torch.int64, device=out.device)
            F.cross_entropy(out, target).backward()
        else:
            out.backward(torch.ones_like(out))
        total = counter.get_total_flops()
    return float(forward), float(total - forward)


class FlJob:
    """One learner job. ``FlJob(config).run()`` trains ``config.rounds`` rounds and returns a
    :class:`JobResult`; :meth:`run_round` runs one round at a time.

    Args:
        config: a :class:`FlJobConfig` or a mapping of its fields (validated, ConfigError on bad input).
        network: where operations take simulated time; default :class:`NoNetwork` with
            ``config.clients`` clients and ``config.edges`` edges (closed by :meth:`close`; a network
            passed in is left open for its owner).
        run: a run directory to trace into (left open for its owner): per round one ``rounds`` row per
            node that did something (``device`` = node name, ``compute_s`` (service time of its
            computations), ``queue_s`` (their wait for its processor), ``uplink_s``, ``downlink_s``,
            ``waiting_s``, ``energy_j``, ``train_loss_nats``, ``test_loss_nats``,
            ``test_accuracy_fraction``, ``dropped``; ``split_layer`` for split protocols) and one
            ``flows`` row per transfer that finished (node index: client i -> i, edge j ->
            clients + j, cloud -> clients + edges; ``end_s`` NaN and ``delivered`` False when it failed).
        protocol: the :class:`~ns6g.learners.protocols.Protocol` to run (the way Flower's server takes a
            strategy), e.g. a subclass of one's own; default a new instance of ``config.protocol``. One
            whose ``name`` is in ``PROTOCOLS`` must be ``config.protocol``; one whose name is not (such as
            :mod:`ns6g.flower`'s) uses the config's data, model and SGD fields, and its name labels the
            rounds.
        model: your own model instead of ``config.model``: an ``nn.Module`` factory (called under the
            job's seeded RNG for every fresh copy; it may take ``num_classes``, ``in_channels``,
            ``image_size`` and ``config.model_options``) or an instance (deep-copied: its weights are the
            start). An ``nn.Sequential`` or a module with ``cut_points`` (:mod:`ns6g.learners.custom`).
            ``config.model`` then records the factory's ``module:name`` (or keeps the ``pkg.module:factory``
            it already names), else ``"custom"``.
        train_data, test_data: your own map-style data sets of ``(x, y)`` items (y an integer label)
            instead of ``config.dataset``, used as they are (no normalisation); without ``test_data``,
            ``config.test_fraction`` of ``train_data`` is held out. ``config.dataset`` then records
            ``"custom"`` (unless it already names the ``pkg.module:factory`` they came from).
        overlap: let the network simulate while PyTorch works (:meth:`wait_later`, :meth:`speculate`):
            the split protocols train ahead of the network's answer and undo that work for the clients it
            says failed, so results are the same either way. Default: where the network runs in another
            process (its ``runs_apart`` is true: :class:`~ns6g.learners.cosim.CoSimNetwork`), in train mode
            (profile mode has no training to overlap).
    """

    def __init__(
        self,
        config: FlJobConfig | Mapping[str, Any],
        network: Network | None = None,
        run: RunWriter | None = None,
        protocol: Protocol | None = None,
        *,
        model: nn.Module | Callable[..., nn.Module] | None = None,
        train_data: TorchDataset | None = None,
        test_data: TorchDataset | None = None,
        overlap: bool | None = None,
    ) -> None:
        cfg = FlJobConfig.from_user(config)
        own = own_inputs(cfg, model=model, train_data=train_data, test_data=test_data)
        model, train_data, test_data = own["model"], own["train_data"], own["test_data"]
        if model is not None:
            cfg = cfg.model_copy(update={"model": _recorded(cfg.model, model)})
        if train_data is not None:
            cfg = cfg.model_copy(update={"dataset": cfg.dataset if custom.is_spec(cfg.dataset) else "custom"})
        self.config = cfg
        #: profile mode: every tensor a protocol handles is a shape on the 'meta' device (no values, no
        #: arithmetic); the protocols run unchanged, so they submit the same operations as in training
        self.profile = cfg.mode == "profile"
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu") if cfg.torch_device == "auto" else cfg.torch_device
        )
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("torch_device 'cuda' was asked for but CUDA is not available")
        if self.profile:
            self.device = torch.device("meta")
        # a registered protocol must be the one the config names (its options were validated for it); one
        # of the caller's own that is not in PROTOCOLS (ns6g.flower's) uses config.protocol's data fields only
        if protocol is not None and protocol.name in PROTOCOLS and protocol.name != cfg.protocol:
            raise ValueError(f"protocol instance {type(protocol).__name__} ({protocol.name!r}) does not match "
                             f"config.protocol {cfg.protocol!r}")
        self.protocol = protocol if protocol is not None else make_protocol(cfg.protocol)
        refuse_robustness(cfg, self.protocol)  # a protocol instance of the caller's own (ns6g.flower's)
        #: the attacking clients (sorted; empty without an attack), the same every round
        self.attackers: tuple[int, ...] = attackers(cfg.attack, cfg.clients, cfg.seed)
        if self.profile and not self.protocol.profiles:
            raise ValueError(f"protocol {cfg.protocol!r} has no profile mode (its rounds depend on trained values: "
                             "pretraining, losses, clustering); use mode 'train'")
        if model is None and zoo.input_dtype(cfg.model) != torch.float32:
            raise ValueError(f"model {cfg.model!r} takes token ids; the data sets here are images (use an image model)")
        self._load_data(train_data, test_data)
        self._set_model(model, cfg.model, dict(cfg.model_options))
        self._check_compression(cfg)
        self._teachers: dict[int, nn.Module] = {}  # distillation: each client's own teacher
        self.teacher: tuple[Callable[..., nn.Module], dict[str, Any], Any] | None = None  # (factory, kwargs, FLOP key)
        if cfg.compression.distill_student:  # the student is the job's model: what every transfer carries
            self.teacher = (self._factory, self.model_kwargs, self._flop_key)
            student = cfg.compression.distill_student
            self._set_model(None if student in zoo.MODELS else custom.resolve(student, "student model factory"),
                            student, dict(cfg.compression.distill_student_options))
        partial = cfg.compression.partial_names(self.state_names) if cfg.compression.partial else None
        self.codec = Codec(cfg.quantization, cfg.topk_fraction, cfg.compression, partial)
        if self.protocol.split and not 1 <= cfg.cut < self.depth:
            raise ValueError(
                f"cut {cfg.cut} is beyond the depth of {cfg.model} ({self.depth} blocks); "
                f"split protocols need 1 <= cut <= {self.depth - 1}"
            )
        self.run_writer = run
        self._own_network = network is None
        self.network: Network = network if network is not None else NoNetwork(cfg.clients, edges=cfg.edges)
        if self.network.clients < cfg.clients:
            raise ValueError(f"the network has {self.network.clients} clients, the job needs {cfg.clients}")
        numbering = getattr(self.network, "node_index", None)  # both shipped networks have one
        if numbering is not None:
            for node in self.protocol.servers(cfg):
                try:
                    numbering(node)
                except ValueError:
                    raise ValueError(f"protocol {cfg.protocol!r} needs node {node!r}, which the network lacks") from None
        self.rounds: list[RoundRecord] = []
        self._ops: dict[int, tuple[int, Transfer | Compute]] = {}  # job op id -> (round, op)
        self._unsubmitted: list[int] = []  # job op ids not yet handed to the network
        self._net_id: dict[int, int] = {}  # job op id -> network op id
        self._job_id: dict[int, int] = {}  # network op id -> job op id
        self._done: dict[int, Completed] = {}
        self._round_done: list[Completed] = []
        self._held_s = 0.0  # simulated time held outside the network (hold), added to the network's clock
        self._held: dict[int, Transfer] = {}  # held transfers (negative ids), for the round timelines
        self._round = 0
        self._round_ops: list[int] = []  # job op ids submitted in the current round
        self.round_clients: tuple[int, ...] = tuple(range(cfg.clients))  # who takes part this round
        self.client_cuts: dict[int, int] = {}  # per-client cuts (protocols with per_client_cut only)
        self._shapes: dict[tuple[Any, ...], torch.Size] = {}  # profile mode: output shape per part and input
        self._meta_states: dict[int, tuple[nn.Module, list[torch.Tensor]]] = {}  # profile mode: id -> (module, state)
        self._meta_names: dict[int, list[str]] = {}  # profile mode: id -> names of that state
        #: train ahead of the network's answers (see ``overlap`` above)
        self.overlap = (bool(getattr(self.network, "runs_apart", False)) and not self.profile if overlap is None
                        else bool(overlap))
        self._in_flight: _InFlight | None = None  # a run the network is doing on a helper thread
        self.speculation: Speculation | None = None  # the undo log while training ahead
        self._deferred: Callable[[], RoundOutcome | None] | None = None  # see defer
        #: wall seconds this thread spent waiting for runs in flight to finish (what overlap did not hide)
        self.overlap_wait_s = 0.0
        self._wall_start = time.perf_counter()
        torch.manual_seed(cfg.seed)
        self.protocol.setup(self)

    # ------------------------------------------------------------------ set-up

    def _load_data(self, train_data: TorchDataset | None, test_data: TorchDataset | None) -> None:
        """Fill ``client_data`` (one ``(x, y)`` per client, by ``config.partition``) and ``test_data``."""
        cfg = self.config
        if train_data is None:
            train_x, train_y, test_x, test_y, domains = self._builtin_data()
        else:
            train_x, train_y, test_x, test_y, domains = self._own_data(train_data, test_data)
        parts = datasets.partition(
            train_y.numpy(),
            cfg.clients,
            cfg.partition,
            cfg.seed,
            alpha=cfg.dirichlet_alpha,
            shards_per_client=cfg.shards_per_client,
            domains=domains,
        )
        self.sample_shape = tuple(train_x.shape[1:])  #: shape of one input, e.g. (C, H, W)
        data_device = torch.device("cpu") if self.profile else self.device  # profile: only shapes are used
        self.client_data = [
            (train_x[p].to(data_device), train_y[p].to(data_device)) for p in (torch.as_tensor(q) for q in parts)
        ]
        self.test_data = (test_x.to(data_device), test_y.to(data_device))
        if cfg.attack.kind in ("label_flip", "model_replacement"):  # the attackers train on flipped labels
            for c in self.attackers:
                x, y = self.client_data[c]
                self.client_data[c] = (x, flip_labels(y, self.num_classes))

    def _builtin_data(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray | None]:
        """(train x, train y, test x, test y, train domains) of ``config.dataset``, standardised."""
        cfg = self.config
        data = datasets.load_dataset(cfg.dataset, cfg.data_path or None)
        domains = None
        if cfg.partition == "domain":
            data, domains = datasets.rotated_domains(data, cfg.domains, cfg.seed)
        train_idx, test_idx = datasets.split_indices(len(data), cfg.test_fraction, cfg.seed)
        train, test = data.subset(train_idx), data.subset(test_idx)
        self.num_classes = data.num_classes
        # standardise every channel with the training set's statistics (known to every client, as
        # published normalisation constants are); the optimiser settings are tuned for this scale
        mean = train.x.mean(dim=(0, 2, 3), keepdim=True)
        std = train.x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
        return ((train.x - mean) / std, train.y, (test.x - mean) / std, test.y,
                None if domains is None else domains[train_idx])

    def _own_data(
        self, train_data: TorchDataset, test_data: TorchDataset | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray | None]:
        """(train x, train y, test x, test y, train domains) of the caller's data sets, as they are."""
        cfg = self.config
        x, y = custom.materialise(train_data, "train_data")
        domains = custom.domains_of(train_data, "train_data")
        if cfg.partition == "domain" and domains is None:
            raise ValueError("partition 'domain' needs the domain of every training item: give train_data a "
                             "'domains' attribute (one integer per item)")
        if test_data is None:
            train_idx, test_idx = datasets.split_indices(len(y), cfg.test_fraction, cfg.seed)
            test_x, test_y = x[test_idx], y[test_idx]
            x, y = x[train_idx], y[train_idx]
            domains = None if domains is None else domains[train_idx]
        else:
            test_x, test_y = custom.materialise(test_data, "test_data")
            if test_x.shape[1:] != x.shape[1:]:
                raise ValueError(f"test_data items have x of shape {tuple(test_x.shape[1:])}, train_data items "
                                 f"{tuple(x.shape[1:])}")
        if int(min(y.min(), test_y.min())) < 0:
            raise ValueError("labels must be class indices >= 0")
        declared = getattr(train_data, "num_classes", None)
        self.num_classes = int(declared) if declared is not None else int(max(y.max(), test_y.max())) + 1
        return x, y, test_x, test_y, domains

    def _set_model(self, model: nn.Module | Callable[..., nn.Module] | None, name: str,
                   options: dict[str, Any]) -> None:
        """The job's model factory and its keyword arguments (``model_kwargs``), its ``depth`` (blocks) and
        ``state_names`` (what a model transfer carries); one copy is built and run on two training samples
        to check its blocks and its output shape. ``model`` None: zoo model ``name``; ``options``: factory
        keyword arguments (``model_options``, or the distillation student's)."""
        cfg = self.config
        if model is None:  # a zoo model
            self._factory: Callable[..., nn.Module] = functools.partial(zoo.build_model, name)
            derived = self._derived_kwargs()
            accepted = zoo.model_kwargs(name)
            kwargs = {k: v for k, v in derived.items() if k in accepted}
            kwargs.update(options)
            zoo.model_kwargs(name, **kwargs)  # refuses unknown options by name
            self.model_kwargs: dict[str, Any] = kwargs
            self._flop_key: Any = name
        else:
            if isinstance(model, nn.Module) and options:
                raise ValueError(f"model_options {sorted(options)} need a model factory, not an instance")
            self._factory = custom.model_factory(model)
            self.model_kwargs = custom.factory_kwargs(self._factory, self._derived_kwargs(), options)
            self._flop_key = ("custom", next(_CUSTOM_KEYS))  # FLOP counts of this job's model only
        probe = self._factory(**self.model_kwargs)
        if not isinstance(probe, nn.Module):
            raise ValueError(f"model factory returned a {type(probe).__name__}, not an nn.Module")
        if self.protocol.split and not custom.has_cut_points(probe):
            raise ValueError(f"model {name!r} ({type(probe).__name__}) has no cut points, which split protocol "
                             f"{cfg.protocol!r} needs: make it an nn.Sequential or give it cut_points, the names of "
                             "its child modules in order")
        blocks = custom.model_blocks(probe)
        self.depth = len(blocks)
        self.state_names = _floating_names(blocks)  #: state_dict names of what a model transfer carries
        x = self.client_data[0][0][:2].cpu()
        out = custom.check_blocks(probe, blocks, x)
        if out.ndim != 2 or out.shape[0] != len(x) or out.shape[1] < self.num_classes:
            raise ValueError(f"model {name!r} maps a batch of shape {tuple(x.shape)} to {tuple(out.shape)}; "
                             f"it must give (batch, classes) scores for the {self.num_classes} classes of the data")

    def _check_compression(self, cfg: FlJobConfig) -> None:
        """Refuse, by name, the compression settings the protocol or the mode cannot apply."""
        c = cfg.compression
        name = cfg.protocol
        updates = self.protocol.updates
        if c.partial and updates != "model":
            raise ValueError(f"compression.partial_layers / partial_last: protocol {name!r} sends "
                             + ("no model updates" if updates == "none" else "updates of its own tensors (adapters), "
                                "not the job model's named state") + "; partial updates do not apply")
        if c.lowrank and updates == "none":
            raise ValueError(f"compression.lowrank_rank / lowrank_energy: protocol {name!r} sends no model updates "
                             "(only activations and gradients, which low-rank does not encode); use top-k or pruning")
        if c.distill_student and not self.protocol.distills:
            able = ", ".join(n for n, p in PROTOCOLS.items() if p.distills)
            raise ValueError(f"compression.distill_student: protocol {name!r} does not train whole models with "
                             f"job.local_train, so there is no local teacher to distil from; distillation works with: {able}")
        if c.lowrank_energy and self.profile:
            raise ValueError("compression.lowrank_energy: the rank depends on the update's values, which profile "
                             "mode does not have; use lowrank_rank")

    def _derived_kwargs(self) -> dict[str, Any]:
        """num_classes, and in_channels and image_size for square (C, H, W) inputs."""
        derived: dict[str, Any] = {"num_classes": self.num_classes}
        if len(self.sample_shape) == 3 and self.sample_shape[1] == self.sample_shape[2]:
            derived.update(in_channels=self.sample_shape[0], image_size=self.sample_shape[1])
        return derived

    # ------------------------------------------------------------------ models

    def new_model(self) -> nn.Sequential:
        """A freshly initialised copy of the job's model, as its blocks, on the job's device (from the
        torch RNG; a model given as an instance: a deep copy of it)."""
        return custom.model_blocks(self._factory(**self.model_kwargs)).to(self.device)

    def client_part(self, model: nn.Sequential, cut: int | None = None) -> nn.Sequential:
        """Blocks ``0 .. cut-1`` (shared with ``model``; default cut: ``config.cut``)."""
        return model[: self.config.cut if cut is None else cut]

    def server_part(self, model: nn.Sequential, cut: int | None = None) -> nn.Sequential:
        """Blocks ``cut .. depth-1`` (shared with ``model``; default cut: ``config.cut``)."""
        return model[self.config.cut if cut is None else cut :]

    def cut_of(self, client: int) -> int:
        """The cut of ``client``: its entry of :meth:`set_client_cuts`, else ``config.cut``."""
        return self.client_cuts.get(client, self.config.cut)

    def set_client_cuts(self, cuts: Mapping[int, int]) -> None:
        """Per-client cuts from the next round on (an orchestrator's decision), for protocols with
        ``per_client_cut``; every cut must lie in 1 .. depth-1. Clients not named keep ``config.cut``."""
        if not self.protocol.per_client_cut:
            raise ValueError(f"protocol {self.config.protocol!r} has one cut for all clients; per-client cuts "
                             f"need one of: {', '.join(_per_client_cut_protocols())}")
        for c, cut in cuts.items():
            if not (isinstance(c, int) and 0 <= c < self.config.clients):
                raise ValueError(f"set_client_cuts: client must be in 0..{self.config.clients - 1}, got {c!r}")
            if isinstance(cut, bool) or not isinstance(cut, int | np.integer) or not 1 <= cut < self.depth:
                raise ValueError(f"set_client_cuts: cut of client {c} is {cut!r}, beyond the depth of "
                                 f"{self.config.model} ({self.depth} blocks); valid: 1..{self.depth - 1}")
        self.client_cuts = {int(c): int(cut) for c, cut in cuts.items()}

    def copy_model(self, module: nn.Module) -> nn.Module:
        """A node's own copy of ``module`` (a client's local model, a server-side replica): a deep copy
        when training; in profile mode ``module`` itself, since meta tensors hold no values and nothing
        trains, so a copy would differ in nothing but the time it takes (about 2 ms a model)."""
        return module if self.profile else copy.deepcopy(module)

    def state_of(self, module: nn.Module) -> list[torch.Tensor]:
        """The tensors a model transfer carries: parameters and floating-point buffers (batch-norm
        statistics), in ``state_dict`` order, detached copies. Integer buffers are not sent."""
        if self.profile:
            return ModelState(self._meta_state(module), self._meta_names[id(module)])
        state = module.state_dict()
        return ModelState([t.detach().clone() for t in state.values() if t.is_floating_point()],
                          [n for n, t in state.items() if t.is_floating_point()])

    def load_state(self, module: nn.Module, tensors: Sequence[torch.Tensor]) -> None:
        """Copy ``tensors`` (as from :meth:`state_of`) into ``module`` (profile mode: only their number
        is checked; meta tensors hold nothing to copy)."""
        targets = self._meta_state(module) if self.profile else _floating_state(module)
        if len(targets) != len(tensors):
            raise ValueError(f"state of {len(tensors)} tensors for a module with {len(targets)}")
        if self.profile:
            return
        with torch.no_grad():
            for dst, src in zip(targets, tensors):
                dst.copy_(src)

    def _meta_state(self, module: nn.Module) -> list[torch.Tensor]:
        """Profile mode: ``module``'s state (shapes only, which never change), read once per module
        (``state_dict`` costs ~50 us a module, and every client's transfers read it); the cache holds
        the module too, so its id is not reused."""
        hit = self._meta_states.get(id(module))
        if hit is None or hit[0] is not module:
            hit = self._meta_states[id(module)] = (module, [t.detach() for t in _floating_state(module)])
            self._meta_names[id(module)] = _floating_names(module)
        return hit[1]

    @staticmethod
    def average(states: Sequence[Sequence[torch.Tensor]], weights: Sequence[float]) -> list[torch.Tensor]:
        """Weighted mean of model states (weights need not sum to 1). States of 'meta' tensors (profile
        mode) have no values: their mean is a state of the same shapes, made without the per-client
        arithmetic (each meta operation costs as much Python as a real small one)."""
        if states[0] and states[0][0].is_meta:
            return [torch.empty(t.shape, dtype=t.dtype, device="meta") for t in states[0]]
        total = float(sum(weights))
        return [sum(w / total * s[i] for s, w in zip(states, weights)) for i in range(len(states[0]))]

    def optimizer(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(list(params), lr=self.config.learning_rate, momentum=self.config.momentum)

    # ------------------------------------------------------------------ data and FLOPs

    def samples(self, client: int) -> int:
        return int(self.client_data[client][1].shape[0])

    def batches(self, client: int, draw: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Client ``client``'s mini-batches for one round (``local_epochs`` shuffled passes); the order
        depends only on (seed, client, draw)."""
        x, y = self.client_data[client]
        out = []
        if self.profile:  # shapes only: the same batch sizes, no values
            for _ in range(self.config.local_epochs):
                for start in range(0, len(y), self.config.batch_size):
                    n = min(self.config.batch_size, len(y) - start)
                    out.append((torch.empty((n, *x.shape[1:]), device="meta"),
                                torch.empty((n,), dtype=y.dtype, device="meta")))
            return out
        for epoch in range(self.config.local_epochs):
            order = np.random.default_rng([self.config.seed, client, draw, epoch]).permutation(len(y))
            idx = torch.as_tensor(order, device=self.device)
            for start in range(0, len(y), self.config.batch_size):
                sel = idx[start : start + self.config.batch_size]
                out.append((x[sel], y[sel]))
        return out

    def training_flops(self, part: str, module: nn.Module, x: torch.Tensor) -> tuple[float, float]:
        """(forward, backward) FLOPs of ``module`` (``part``: "full", "client", "server", or
        ``"middle<first block>"``, a segment inside a multi-hop chain: no loss, gradient to its input) on a
        batch shaped like ``x``; measured once per (model, part, blocks in the part, shape) and cached."""
        key = (
            self._flop_key,
            tuple(sorted(self.model_kwargs.items())),
            part,
            # a client part of k blocks is cut k, a server part cut depth - k (per-client cuts differ)
            0 if part == "full" else len(module) if isinstance(module, nn.Sequential) else self.config.cut,
            tuple(x.shape),
        )
        if key not in _FLOP_CACHE:
            _FLOP_CACHE[key] = _training_flops(module, x, with_loss=part in ("full", "server"),
                                               input_grad=part == "server" or part.startswith("middle"))
        return _FLOP_CACHE[key]

    def local_train(self, model: nn.Module, client: int, draw: int, prox_mu: float = 0.0) -> tuple[float, float]:
        """Train ``model`` on the client's batches in place (SGD, cross-entropy, plus
        ``prox_mu / 2 * ||w - w_start||^2`` when ``prox_mu > 0``). Returns (mean loss, FLOPs)."""
        batches = self.batches(client, draw)
        flops = sum(sum(self.training_flops("full", model, x)) for x, _ in batches)
        if self.teacher is not None:  # the client's teacher trains on the same batches (its logits teach)
            teacher = self._teacher_of(client)
            flops += sum(sum(self._teacher_flops(teacher, x)) for x, _ in batches)
            if self.profile:
                return math.nan, flops
            return self._distil_steps(model, teacher, batches, prox_mu), flops
        if self.profile:
            return math.nan, flops
        return self.sgd_steps(model, batches, prox_mu), flops

    def _teacher_of(self, client: int) -> nn.Module:
        """Client ``client``'s own teacher (the job's ``model``, built once from seed and client, kept on the
        client across rounds; never sent)."""
        if client not in self._teachers:
            assert self.teacher is not None
            factory, kwargs, _ = self.teacher
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.config.seed * 1_000_003 + client)
                self._teachers[client] = custom.model_blocks(factory(**kwargs)).to(self.device)
        return self._teachers[client]

    def _teacher_flops(self, teacher: nn.Module, x: torch.Tensor) -> tuple[float, float]:
        """(forward, backward) FLOPs of a teacher's training step on a batch shaped like ``x`` (cached)."""
        assert self.teacher is not None
        _, kwargs, flop_key = self.teacher
        key = (flop_key, tuple(sorted(kwargs.items())), "teacher", 0, tuple(x.shape))
        if key not in _FLOP_CACHE:
            _FLOP_CACHE[key] = _training_flops(teacher, x, with_loss=True, input_grad=False)
        return _FLOP_CACHE[key]

    def _distil_steps(self, student: nn.Module, teacher: nn.Module,
                      batches: Sequence[tuple[torch.Tensor, torch.Tensor]], prox_mu: float = 0.0) -> float:
        """Per batch: one SGD step of the teacher on the labels, then one of the student on
        ``(1 - w) CE(student, y) + w T^2 KL(softmax(teacher / T) || softmax(student / T))`` (the teacher's
        logits of that batch, before its step). Returns the student's mean cross-entropy (nats)."""
        c = self.config.compression
        temperature, weight = c.distill_temperature, c.distill_weight
        proximal = _proximal(student, prox_mu)
        opt_s, opt_t = self.optimizer(student.parameters()), self.optimizer(teacher.parameters())
        student.train()
        teacher.train()
        losses = []
        for x, y in batches:
            t_out = teacher(x)
            opt_t.zero_grad()
            F.cross_entropy(t_out, y).backward()
            opt_t.step()
            s_out = student(x)
            ce = F.cross_entropy(s_out, y)
            losses.append(ce.detach())
            kd = F.kl_div(F.log_softmax(s_out / temperature, dim=1), F.log_softmax(t_out.detach() / temperature, dim=1),
                          reduction="batchmean", log_target=True) * temperature**2
            loss = (1 - weight) * ce + weight * kd
            if proximal is not None:
                loss = loss + proximal()
            opt_s.zero_grad()
            loss.backward()
            opt_s.step()
        return float(torch.stack(losses).mean())

    def sgd_steps(self, model: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                  prox_mu: float = 0.0) -> float:
        """The training of :meth:`local_train` without its FLOP count: one SGD step per batch, in place.
        Returns the mean loss (nats)."""
        proximal = _proximal(model, prox_mu)
        opt = self.optimizer(model.parameters())
        model.train()
        losses = []
        for x, y in batches:
            loss = F.cross_entropy(model(x), y)
            losses.append(loss.detach())  # kept on the device: no synchronisation per batch
            if proximal is not None:
                loss = loss + proximal()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return float(torch.stack(losses).mean())

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) of ``model`` on the held-out test set (in chunks of 1024
        samples, so large test sets and models fit in memory). NaN in profile mode."""
        if self.profile:
            return math.nan, math.nan
        was_training = model.training
        model.eval()
        x, y = self.test_data
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device)
        for start in range(0, len(y), 1024):
            out = model(x[start : start + 1024])
            target = y[start : start + 1024]
            loss_sum += F.cross_entropy(out, target, reduction="sum")
            correct += (out.argmax(dim=1) == target).sum()
        model.train(was_training)
        return float(loss_sum) / len(y), float(correct) / len(y)

    # ------------------------------------------------------------------ network services

    def send(
        self,
        src: str,
        dst: str,
        tensors: Sequence[torch.Tensor],
        tag: str,
        after: Iterable[int] = (),
        *,
        sparsify: bool = False,
        reference: Sequence[torch.Tensor] | None = None,
    ) -> Sent:
        """Submit a transfer of ``tensors`` (compressed by the job's codec) from ``src`` to ``dst``.

        ``reference``: tensors both sides already hold (the model the client received); the update
        ``tensors - reference`` is what is encoded (and top-k sparsified), and the receiver adds it back.
        ``sparsify``: top-k applies (activations, gradients)."""
        names = getattr(tensors, "names", None)  # a ModelState (job.state_of) names its tensors
        update = reference is not None
        if self.profile:  # no values: the size from the shapes (with compression: the codec on zeros)
            if self.codec.lossless:
                nbytes = tensor_bytes(tensors)
            else:
                zeros = [torch.zeros(t.shape, dtype=t.dtype) for t in tensors]
                nbytes = self.codec.send(zeros, sparsify=sparsify or update, update=update, names=names)[1]
            received = list(tensors)
        elif update and not self.codec.lossless:
            delta, nbytes = self.codec.send([t - r for t, r in zip(tensors, reference)], sparsify=True, update=True,
                                            names=names)
            received = [r + d for r, d in zip(reference, delta)]
        else:
            received, nbytes = self.codec.send(tensors, sparsify=sparsify)
        return Sent(self.send_bytes(src, dst, int(nbytes), tag, after), received, int(nbytes))

    def send_bytes(self, src: str, dst: str, nbytes: int, tag: str, after: Iterable[int] = ()) -> int:
        """Submit a transfer of ``nbytes`` bytes (a message encoded elsewhere, e.g. a Flower message)
        from ``src`` to ``dst``; returns its op id."""
        return self._submit(Transfer(src=src, dst=dst, nbytes=int(nbytes), tag=tag, after=tuple(after)))

    def forward(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``module(x)``; in profile mode a 'meta' tensor of the output's shape (measured once per
        module depth and input shape) without running anything."""
        if not self.profile:
            return module(x)
        key = (len(module) if isinstance(module, nn.Sequential) else id(module), tuple(x.shape), x.dtype)
        if key not in self._shapes:
            with torch.no_grad():
                self._shapes[key] = module(x.to("meta")).shape
        return torch.empty(self._shapes[key], device="meta")

    def compute(self, node: str, flops: float, tag: str, after: Iterable[int] = ()) -> int:
        """Submit a computation of ``flops`` FLOPs on ``node``."""
        return self._submit(Compute(node=node, flops=float(flops), tag=tag, after=tuple(after)))

    def _submit(self, op: Transfer | Compute) -> int:
        """Buffer ``op`` under the job's own id (1, 2, ...; ``after`` names job ids); it reaches the
        network at the next :meth:`wait`. Nothing runs before ``run`` anyway, so buffering changes no
        time, and it lets one ``submit`` call carry many operations (one bridge exchange for ns-3)."""
        job_id = len(self._ops) + 1
        self._ops[job_id] = (self._round, op)
        self._round_ops.append(job_id)
        self._unsubmitted.append(job_id)
        return job_id

    def _flush(self) -> None:
        """Submit the buffered operations, in layers: every operation whose dependencies already have
        network ids goes in one call (a round of FedAvg is three calls: downloads, training, uploads)."""
        self._settle()
        todo, self._unsubmitted = self._unsubmitted, []
        self._submit_layers(todo)

    def _submit_layers(self, todo: list[int]) -> None:
        """Submit job ops ``todo`` (in submission order), layer after layer: the ops whose dependencies
        have network ids, then those depending on them, ... A network that says which ids it gives
        (``next_id``: consecutive ids, dependencies on earlier ops of the same call allowed) gets all the
        layers in one call, in the same order with the same ids (one bridge exchange, not one per layer)."""
        first = getattr(self.network, "next_id", None)
        if isinstance(first, int) and todo:
            order: list[int] = []
            ids: dict[int, int] = {}
            while todo:
                layer = [j for j in todo if all(d in self._net_id or d in ids for d in self._ops[j][1].after)]
                for j in layer:
                    ids[j] = first + len(order)
                    order.append(j)
                placed = set(layer)
                todo = [j for j in todo if j not in placed]
            net = self._net_id
            ops = [with_after(op, tuple(net[d] if d in net else ids[d] for d in op.after)) if op.after else op
                   for op in (self._ops[j][1] for j in order)]
            given = self.network.submit(ops)
            if list(given) != [ids[j] for j in order]:
                raise RuntimeError(f"the network gave ids {given[:3]}... to a submit, not the next ids it announced "
                                   f"({first}...)")
            for j in order:
                self._net_id[j] = ids[j]
                self._job_id[ids[j]] = j
            return
        while todo:
            layer = [j for j in todo if all(d in self._net_id for d in self._ops[j][1].after)]
            ops = []
            for j in layer:
                op = self._ops[j][1]
                ops.append(with_after(op, tuple(self._net_id[d] for d in op.after)) if op.after else op)
            for j, net_id in zip(layer, self.network.submit(ops), strict=True):
                self._net_id[j] = net_id
                self._job_id[net_id] = j
            placed = set(layer)
            todo = [j for j in todo if j not in placed]

    def wait(self, ops: Iterable[int], any_of: bool = False) -> list[Completed]:
        """Advance the network until every op in ``ops`` (or, ``any_of``, the first) has completed or
        failed; returns what completed meanwhile (also recorded for the round's timeline), with job ids."""
        ops = [o for o in ops if o not in self._done]
        if not ops:
            return []
        self._flush()
        return self._completed(self.network.run([self._net_id[o] for o in ops], any_of=any_of))

    def _completed(self, done: list[Completed]) -> list[Completed]:
        held, job_id = self._held_s, self._job_id
        # by the constructor (dataclasses.replace costs ~5x more; thousands of completions per round)
        completed = [
            Completed(job_id[c.op_id], c.start_s + held, c.end_s + held, c.energy_j, c.ok, c.queue_s, c.failure)
            if held else Completed(job_id[c.op_id], c.start_s, c.end_s, c.energy_j, c.ok, c.queue_s, c.failure)
            for c in done
        ]
        for c in completed:
            self._done[c.op_id] = c
        self._round_done.extend(completed)
        return completed

    def wait_later(self, ops: Iterable[int]) -> None:
        """:meth:`wait` for ``ops`` without waiting: with :attr:`overlap`, the buffered operations are
        submitted and the network run on a helper thread (ns-3 simulates in its own process meanwhile)
        while the caller goes on with PyTorch work that touches no network (:meth:`compute` and
        :meth:`send` only buffer); :meth:`collect` returns the completions. The network sees the same
        requests in the same order as with :meth:`wait`, so simulated times are the same. Without
        overlap this is :meth:`wait`."""
        ops = [o for o in ops if o not in self._done]
        self._settle()
        if not ops:
            self._in_flight = _InFlight(None, [])
            return
        if not self.overlap:
            self._in_flight = _InFlight(None, self.wait(ops))
            return
        todo, self._unsubmitted = self._unsubmitted, []
        flight = _InFlight(None, None)

        def work() -> None:
            try:
                self._submit_layers(todo)
                flight.done = self.network.run([self._net_id[o] for o in ops])
            except BaseException as exc:  # re-raised by collect in the caller's thread
                flight.error = exc

        flight.thread = threading.Thread(target=work, name="ns6g-fljob-network", daemon=True)
        self._in_flight = flight
        # the helper needs the GIL back after each bridge exchange (three per run); while this thread runs
        # Python, the default 5 ms switch interval would hold it off that long each time
        flight.switch_s = sys.getswitchinterval()
        sys.setswitchinterval(min(flight.switch_s, OVERLAP_SWITCH_S))
        flight.thread.start()

    def collect(self) -> list[Completed]:
        """The completions of the last :meth:`wait_later` (job ids; recorded for the round's timeline)."""
        flight = self._in_flight
        if flight is None:
            raise RuntimeError("collect: no wait_later to collect")
        self._in_flight = None
        if flight.thread is None:
            return flight.done or []
        self._join(flight)
        if flight.error is not None:
            raise flight.error
        assert flight.done is not None
        return self._completed(flight.done)

    def _settle(self) -> None:
        """Finish a run still in flight before the network is used again (its completions are kept)."""
        if self._in_flight is not None and self._in_flight.thread is not None:
            flight = self._in_flight
            self._join(flight)
            if flight.error is None and flight.done is not None:
                flight.done, flight.thread = self._completed(flight.done), None
            else:
                self._in_flight = None
                if flight.error is not None:
                    raise flight.error

    def _join(self, flight: _InFlight) -> None:
        assert flight.thread is not None
        t = time.perf_counter()
        flight.thread.join()
        self.overlap_wait_s += time.perf_counter() - t
        if flight.switch_s is not None:
            sys.setswitchinterval(flight.switch_s)
            flight.switch_s = None

    def speculate(self) -> Speculation:
        """Start training ahead of the network's answer: from here until :meth:`Speculation.confirm` or
        :meth:`Speculation.undo`, the RNG state, the operations submitted and every trainer (an object
        with ``model`` and a lazily made ``optimizer``, e.g. a split protocol's server side or peer)
        passed to :meth:`keep` before it trains can be put back as they were."""
        if self.speculation is not None:
            raise RuntimeError("speculate: already training ahead")
        self.speculation = Speculation(self)
        return self.speculation

    def defer(self, settle: Callable[[], RoundOutcome | None]) -> None:
        """End the round ahead of the network: the protocol's :meth:`run_round` returns its outcome
        computed on a guess while a :meth:`wait_later` runs; the job evaluates the model meanwhile, then
        collects the run and calls ``settle``, which returns None if the guess holds, else the round's
        outcome redone from the network's answer (the job then evaluates again)."""
        if self._deferred is not None:
            raise RuntimeError("defer: this round already deferred its end")
        self._deferred = settle

    def keep(self, trainer: Any) -> None:
        """Save ``trainer``'s model and optimizer state for :meth:`Speculation.undo` if training ahead."""
        if self.speculation is not None:
            self.speculation.keep(trainer)

    def _rewind(self, mark: int) -> None:
        """Forget the operations submitted after the first ``mark`` (none reached the network)."""
        while len(self._ops) > mark:
            self._ops.popitem()
        self._round_ops = [j for j in self._round_ops if j <= mark]
        self._unsubmitted = [j for j in self._unsubmitted if j <= mark]

    def now_s(self) -> float:
        """The job's simulated time (s): the network's clock plus the time :meth:`hold` added."""
        self._settle()
        return self.network.now_s() + self._held_s

    def hold(self, seconds: float, tag: str, senders: Mapping[str, float], receiver: str) -> None:
        """Let ``seconds`` of simulated time pass for a transmission the network does not carry (the analog
        upload of ``fedavg-aircomp``): every node in ``senders`` (node -> energy in J it spends) sends to
        ``receiver`` from now for ``seconds``. The network has no way to occupy its uplink for a given time, so
        the job's clock (:meth:`now_s`, the round records, completions) runs ahead of the network's by the
        time held; the network sits idle meanwhile (its own clock does not see the pause). The senders' and
        the receiver's round timelines count it as uplink / downlink time, the senders' energy as theirs.
        Every operation the job submitted must have completed (nothing may be in flight across the pause)."""
        if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"hold: seconds must be finite and >= 0, got {seconds!r}")
        pending = [j for j in self._ops if j not in self._done] if len(self._done) < len(self._ops) else []
        if pending:
            raise RuntimeError(f"hold: {len(pending)} operations of the job have not completed (first: op "
                               f"{pending[0]}); wait for them first")
        start = self.now_s()
        for node, joules in senders.items():
            key = -(len(self._held) + 1)
            self._held[key] = Transfer(src=node, dst=receiver, nbytes=0, tag=tag)
            self._round_done.append(Completed(key, start, start + float(seconds), float(joules)))
        self._held_s += float(seconds)

    def ok(self, op: int) -> bool:
        """True if operation ``op`` has completed successfully (False if it failed or is pending)."""
        done = self._done.get(op)
        return done is not None and done.ok

    def all_ok(self, ops: Iterable[int]) -> bool:
        return all(self.ok(o) for o in ops)

    # ------------------------------------------------------------------ rounds

    def run_round(self, clients: Iterable[int] | None = None) -> RoundRecord:
        """Run the next round and return its record. ``clients``: the clients that take part in it
        (default all; the synchronous protocols serve only these, the asynchronous ones ignore it)."""
        r = self._round
        chosen = tuple(range(self.config.clients)) if clients is None else tuple(sorted(set(clients)))
        if not chosen or not all(isinstance(c, int) and 0 <= c < self.config.clients for c in chosen):
            raise ValueError(f"run_round: clients must be a non-empty set of indices in 0..{self.config.clients - 1}, "
                             f"got {clients!r}")
        self.round_clients = chosen
        start = self.now_s()
        self._round_done = []
        self._round_ops = []
        outcome = self.protocol.run_round(self, r)
        settle, self._deferred = self._deferred, None
        evaluated = None
        if settle is not None:  # the protocol folded the round ahead of the network's answer
            evaluated = self._evaluate_protocol()  # while the network runs
            self.collect()
            redone = settle()
            if redone is not None:
                outcome, evaluated = redone, None
        if self.protocol.settles_rounds:  # nothing of a synchronous round may run into the next
            self.wait(self._round_ops)
        end = self.now_s()
        test_loss, accuracy = evaluated if evaluated is not None else self._evaluate_protocol()
        sent = [op for op in (self._ops[j][1] for j in self._round_ops) if isinstance(op, Transfer)]
        up = sum(op.nbytes for op in sent if op.src.startswith("client/"))
        down = sum(op.nbytes for op in sent if op.dst.startswith("client/"))
        record = RoundRecord(
            round=r,
            protocol=self.protocol.name or self.config.protocol,
            start_s=start,
            end_s=end,
            train_loss=outcome.train_loss,
            test_loss=test_loss,
            test_accuracy=accuracy,
            participants=tuple(sorted(outcome.participants)),
            dropped=tuple(sorted(outcome.dropped)),
            uplink_bytes=up,
            downlink_bytes=down,
            devices=self._timeline(start, end, self._round_done),
            extras=dict(outcome.extras),
        )
        self.rounds.append(record)
        if self.run_writer is not None:
            self._trace(record, self._round_done)
        self._round += 1
        return record

    def node_index(self, node: str) -> int:
        """Index of ``node`` in the ``flows`` table: the network's own numbering where it has one
        (``node_index``), else client i -> i, edge j -> clients + j, cloud -> clients + edges."""
        numbering = getattr(self.network, "node_index", None)
        if numbering is not None:
            return int(numbering(node))
        kind, _, number = node.partition("/")
        if kind == "client":
            return int(number)
        if kind == "edge":
            return self.config.clients + int(number)
        return self.config.clients + self.config.edges + (node == REGIONAL)

    def _trace(self, record: RoundRecord, completed: Sequence[Completed]) -> None:
        run = self.run_writer
        assert run is not None
        for node, t in record.devices.items():
            row = {
                "round": record.round, "protocol": record.protocol, "start_s": record.start_s,
                "end_s": record.end_s, "device": node, "compute_s": t.compute_s, "queue_s": t.queue_s,
                "uplink_s": t.uplink_s,
                "downlink_s": t.downlink_s, "waiting_s": t.waiting_s, "energy_j": t.energy_j,
                "train_loss_nats": record.train_loss, "test_loss_nats": record.test_loss,
                "test_accuracy_fraction": record.test_accuracy,
                "dropped": node.startswith("client/") and int(node.split("/")[1]) in record.dropped,
                **record.extras,  # the protocol's own numbers (fedavg-aircomp: air_time_s, ...)
            }
            if self.protocol.split:
                kind, _, number = node.partition("/")
                row["split_layer"] = self.cut_of(int(number)) if kind == "client" else self.config.cut
            run.append("rounds", row)
        transfers = [(c, self._ops[c.op_id][1]) for c in completed
                     if c.op_id > 0 and isinstance(self._ops[c.op_id][1], Transfer)]
        if transfers:
            run.append_columns("flows", {
                "flow_id": [c.op_id for c, _ in transfers],
                "kind": [op.tag for _, op in transfers],
                "src": [self.node_index(op.src) for _, op in transfers],
                "dst": [self.node_index(op.dst) for _, op in transfers],
                "size_bytes": [op.nbytes for _, op in transfers],
                "start_s": [c.start_s for c, _ in transfers],
                "end_s": [c.end_s if c.ok else math.nan for c, _ in transfers],
                "energy_j": [c.energy_j for c, _ in transfers],
                "round": [self._ops[c.op_id][0] for c, _ in transfers],
                "delivered": [c.ok for c, _ in transfers],
            })

    def _evaluate_protocol(self) -> tuple[float, float]:
        return self.protocol.evaluate(self)

    def _timeline(self, start: float, end: float, completed: Sequence[Completed]) -> dict[str, DeviceTimeline]:
        return timelines({c.op_id: self._ops[c.op_id][1] if c.op_id > 0 else self._held[c.op_id] for c in completed},
                         completed, start, end)

    def run(self) -> JobResult:
        """Run the remaining rounds up to ``config.rounds``; closes a network the job created."""
        try:
            while self._round < self.config.rounds:
                self.run_round()
        finally:
            if self._own_network:
                self.network.close()
        return self.result()

    def result(self) -> JobResult:
        return JobResult(self.config, list(self.rounds), self.transfer_log(), time.perf_counter() - self._wall_start)

    def transfer_log(self) -> list[TransferRecord]:
        """Every transfer submitted so far, in submission order."""
        out = []
        for op_id, (r, op) in sorted(self._ops.items()):
            if isinstance(op, Transfer):
                done = self._done.get(op_id)
                out.append(
                    TransferRecord(
                        round=r, op=op_id, src=op.src, dst=op.dst, tag=op.tag, nbytes=op.nbytes,
                        start_s=done.start_s if done else math.nan,
                        end_s=done.end_s if done else math.nan,
                        ok=bool(done and done.ok),
                    )
                )
        return out

    def close(self) -> None:
        if self._in_flight is not None and self._in_flight.thread is not None:
            self._join(self._in_flight)
        self._in_flight = None
        if self._own_network:
            self.network.close()

    def __enter__(self) -> FlJob:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


#: the interpreter's thread switch interval (s) while a run is in flight (FlJob.wait_later)
OVERLAP_SWITCH_S = 0.0005


@dataclass
class _InFlight:
    """A network run on a helper thread (``thread`` None: already done, ``done`` holds job ids)."""

    thread: threading.Thread | None
    done: list[Completed] | None
    error: BaseException | None = None
    switch_s: float | None = None  # the interpreter's switch interval before the run, put back at the join


class Speculation:
    """The undo log of PyTorch work done ahead of the network's answer (:meth:`FlJob.speculate`)."""

    def __init__(self, job: FlJob) -> None:
        self.job = job
        self.mark = len(job._ops)  # operations submitted before it began
        self.rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state(job.device) if job.device.type == "cuda" else None
        self.saved: dict[int, tuple[Any, list[torch.Tensor], dict[str, Any] | None]] = {}

    def keep(self, trainer: Any) -> None:
        """Save ``trainer``'s parameters, buffers and optimizer state (once: the first call counts)."""
        if id(trainer) in self.saved:
            return
        model = trainer.model
        tensors = [t.detach().clone() for t in itertools.chain(model.parameters(), model.buffers())]
        optimizer = trainer.__dict__.get("optimizer")  # a cached_property not made yet is not in __dict__
        state = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
        self.saved[id(trainer)] = (trainer, tensors, state)

    def restore(self, trainer: Any) -> None:
        """Put one kept trainer back as it was when kept (nothing if it was not kept)."""
        saved = self.saved.pop(id(trainer), None)
        if saved is None:
            return
        _, tensors, state = saved
        model = trainer.model
        with torch.no_grad():
            for t, old in zip(itertools.chain(model.parameters(), model.buffers()), tensors, strict=True):
                t.copy_(old)
        for p in model.parameters():
            p.grad = None
        if state is None:
            trainer.__dict__.pop("optimizer", None)
        else:
            trainer.__dict__["optimizer"].load_state_dict(state)

    def confirm(self) -> None:
        """The network agreed: keep the work."""
        self.job.speculation = None

    def undo(self) -> None:
        """The network disagreed: every kept trainer, the RNG and the operations submitted since are put
        back as they were."""
        for trainer, _, _ in list(self.saved.values()):
            self.restore(trainer)
        torch.set_rng_state(self.rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state(self.cuda_rng, self.job.device)
        self.job._rewind(self.mark)
        self.job.speculation = None


def own_inputs(
    config: FlJobConfig,
    model: nn.Module | Callable[..., nn.Module] | None = None,
    train_data: TorchDataset | None = None,
    test_data: TorchDataset | None = None,
) -> dict[str, Any]:
    """``model``, ``train_data`` and ``test_data`` for :class:`FlJob`: the objects given, else what the
    ``pkg.module:factory`` strings of ``config.model`` / ``config.dataset`` name (imported, the data
    factory called); None for a zoo model / a built-in data set. ValueError for an unimportable module,
    a missing attribute, a data factory's wrong return type, or ``"custom"`` without its object."""
    if test_data is not None and train_data is None:
        raise ValueError("test_data needs train_data (your own training set) too")
    if model is None and custom.is_spec(config.model):
        model = custom.resolve(config.model, "model factory")
    elif model is None and config.model == "custom":
        raise ValueError("model 'custom' names a model given as an object: pass FlJob(..., model=...)")
    if train_data is None and custom.is_spec(config.dataset):
        train_data, test_data = custom.load_data_spec(config.dataset)
    elif train_data is None and config.dataset == "custom":
        raise ValueError("dataset 'custom' names data given as objects: pass FlJob(..., train_data=...)")
    return {"model": model, "train_data": train_data, "test_data": test_data}


def _recorded(current: str, model: Any) -> str:
    """What the configuration records for a model given as an object: ``current`` if it already names a
    factory (``pkg.module:factory``, as the CLI passes), else the factory's own ``module:name`` when that
    resolves back to it, else ``"custom"`` (an instance, a lambda)."""
    return current if custom.is_spec(current) else custom.describe(model)


def _per_client_cut_protocols() -> list[str]:
    return [name for name, cls in PROTOCOLS.items() if cls.per_client_cut]

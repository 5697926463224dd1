"""Federated protocols: every client trains the whole model.

Transfer sequence per client and round (synchronous) or per client cycle (asynchronous), with
``server`` = ``config.server``:

1. ``model_down``  server -> client   the global model (parameters and float buffers)
2. ``train``       compute on client  ``local_epochs`` passes over its data (forward + backward FLOPs)
3. ``model_up``    client -> server   the trained model (with int8 / top-k: the update against 1.)

FedAvg / FedProx wait for every upload, drop clients whose upload failed, and average the rest
weighted by their sample counts. FedAsync and FedBuff never wait for all: the server applies each
update as it arrives and the client at once pulls the new model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from pydantic import Field
from torch import nn

from ns6g.core.config import ScenarioConfig
from ns6g.learners.network import client
from ns6g.learners.protocols.base import Protocol, RoundOutcome
from ns6g.learners.robust import clip_update, dp_epsilon, poisoned_upload, robust_aggregate

if TYPE_CHECKING:
    from ns6g.learners.engine import FlJob
    from ns6g.learners.records import Sent

__all__ = ["AsynchronousFL", "FedAsync", "FedAsyncOptions", "FedAvg", "FedBuff", "FedBuffOptions", "FedProx",
           "FedProxOptions"]


class FedProxOptions(ScenarioConfig):
    """``protocol_options`` of ``fedprox``."""

    prox_mu: float = Field(0.01, ge=0, le=1e3, description="FedProx proximal weight mu")


class _StalenessOptions(ScenarioConfig):
    staleness_exponent: float = Field(
        0.5, ge=0, le=100, description="an update s versions stale is weighted (1 + s)^-exponent"
    )


class FedAsyncOptions(_StalenessOptions):
    """``protocol_options`` of ``fedasync``."""

    async_mixing: float = Field(0.6, ge=1e-3, le=1, description="mixing weight alpha of a fresh update")


class FedBuffOptions(_StalenessOptions):
    """``protocol_options`` of ``fedbuff``."""

    buffer_size: int = Field(2, ge=1, le=100_000, description="updates buffered per server step")


class _GlobalModel(Protocol):
    """One global model held by the server."""

    def setup(self, job: FlJob) -> None:
        self.model = job.new_model()
        #: differential privacy: the server's noise generator (seeded) and the share of clients of each
        #: noised round (the accountant's input)
        self.noise = torch.Generator().manual_seed(job.config.seed)
        self.noised_rounds: list[float] = []

    def eval_models(self, job: FlJob) -> list[nn.Module]:
        return [self.model]

    def prox_mu(self, job: FlJob) -> float:
        """Weight of the proximal term in the clients' loss (0: plain local SGD)."""
        return 0.0

    def local_training(self, job: FlJob, c: int, draw: int, local: nn.Module) -> tuple[float, float]:
        """Train ``local``, client ``c``'s copy of the global model, for real (draw ``draw`` of its data).
        Returns (mean training loss, FLOPs). FedAvg: :meth:`FlJob.local_train` (with :meth:`prox_mu`)."""
        return job.local_train(local, c, draw, self.prox_mu(job))

    def client_train(self, job: FlJob, c: int, draw: int,
                     after: tuple[int, ...] = ()) -> tuple[Sent, nn.Module, int, float]:
        """Submit client ``c``'s download of the global model and its training (:meth:`local_training`,
        done for real). Returns (download, the trained local model, the training op, mean training loss)."""
        down = job.send(job.config.server, client(c), job.state_of(self.model), "model_down", after)
        local = job.copy_model(self.model)
        job.load_state(local, down.tensors)
        loss, flops = self.local_training(job, c, draw, local)
        train = job.compute(client(c), flops, "train", after=(down.op,))
        return down, local, train, loss

    def client_cycle(self, job: FlJob, c: int, draw: int, after: tuple[int, ...] = ()) -> tuple[Sent, Sent, float]:
        """Submit one download-train-upload cycle of client ``c`` (:meth:`client_train`, then the upload of
        :meth:`upload_state`). Returns (download, upload, mean training loss)."""
        down, local, train, loss = self.client_train(job, c, draw, after)
        up = job.send(client(c), job.config.server, self.upload_state(job, c, down.tensors, local), "model_up",
                      (train,), reference=down.tensors)
        return down, up, loss

    def aggregation_weight(self, job: FlJob, c: int) -> float:
        """Client ``c``'s weight in the aggregate (FedAvg: its sample count)."""
        return float(job.samples(c))

    def upload_state(self, job: FlJob, c: int, pulled: list[torch.Tensor], local: nn.Module) -> list[torch.Tensor]:
        """What client ``c`` uploads after training ``local`` from ``pulled``: its model, or an attacker's
        poisoned one (``config.attack``; model_replacement's boost: the round's total aggregation weight
        over the attackers')."""
        trained = job.state_of(local)
        if c in job.attackers and job.config.attack.kind != "label_flip":
            weights = {k: self.aggregation_weight(job, k) for k in job.round_clients}
            boost = sum(weights.values()) / sum(w for k, w in weights.items() if k in job.attackers)
            trained = poisoned_upload(job.config.attack, pulled, trained, boost)
        if job.config.privacy.enabled:  # the client's own clipping (an attacker's too: the client code does it)
            trained = clip_update(pulled, trained, job.config.privacy.clip_norm)
        return trained

    def combine(self, job: FlJob, uploads: dict[int, Sent]) -> list[torch.Tensor]:
        """The received models folded into one by ``config.defence`` (mean: weighted by
        :meth:`aggregation_weight`, as FedAvg), with ``config.privacy``'s Gaussian noise on the mean."""
        states = [up.tensors for up in uploads.values()]
        weights = [self.aggregation_weight(job, c) for c in uploads]
        if job.config.defence.aggregator != "mean":
            return robust_aggregate(job.config.defence, states, weights, job.state_of(self.model))
        mean = job.average(states, weights)
        dp = job.config.privacy
        if dp.enabled:
            self.noised_rounds.append(len(uploads) / job.config.clients)
            if not job.profile:
                std = dp.noise_multiplier * dp.clip_norm * max(weights) / sum(weights)
                mean = [m + std * torch.randn(m.shape, generator=self.noise).to(device=m.device, dtype=m.dtype)
                        for m in mean]
        return mean

    def epsilon(self, job: FlJob) -> float:
        """Differential privacy spent so far at ``config.privacy.delta`` (opacus's RDP accountant over the
        noised rounds; their share of clients taken as the sampling rate); ``inf`` without noise."""
        dp = job.config.privacy
        return dp_epsilon(dp.noise_multiplier, self.noised_rounds, dp.delta) if dp.enabled else math.inf

    def synchronous_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        """Every round client runs :meth:`client_cycle` at once; the server waits for every upload, drops the
        clients whose upload failed and folds the rest into the model (:meth:`aggregate`)."""
        cycles = {c: self.client_cycle(job, c, round_index) for c in job.round_clients}
        uploads = [up.op for _, up, _ in cycles.values()]
        if job.overlap:  # aggregate (and the job evaluates) while the network carries the uploads
            job.wait_later(uploads)
            ahead = job.speculate()
            ahead.keep(self)  # the global model
            noise, noised = self.noise.get_state(), len(self.noised_rounds)
            try:
                guess: RoundOutcome | None = self._fold(job, cycles, list(cycles), round_index)
            except Exception:  # noqa: BLE001 (undone when the answer comes; folding what arrived decides)
                guess = None

            def settle() -> RoundOutcome | None:
                """The network's answer: None if every upload arrived, else the round folded again over
                those that did (the guess undone first)."""
                if guess is not None and all(job.ok(o) for o in uploads):
                    ahead.confirm()
                    return None
                ahead.undo()
                self.noise.set_state(noise)
                del self.noised_rounds[noised:]
                return self._fold(job, cycles, [c for c, (_, up, _) in cycles.items() if job.ok(up.op)], round_index)

            job.defer(settle)
            return guess if guess is not None else RoundOutcome(float("nan"), (), ())
        job.wait(uploads)
        return self._fold(job, cycles, [c for c, (_, up, _) in cycles.items() if job.ok(up.op)], round_index)

    def _fold(self, job: FlJob, cycles: dict[int, tuple[Sent, Sent, float]], kept: list[int],
              round_index: int) -> RoundOutcome:
        """Aggregate the uploads of ``kept`` into the model; the round's outcome."""
        dropped = tuple(c for c in cycles if c not in kept)
        if kept:
            self.aggregate(job, {c: cycles[c][1] for c in kept}, round_index)
        loss = float(np.mean([cycles[c][2] for c in kept])) if kept else float("nan")
        return RoundOutcome(loss, tuple(kept), dropped)

    def aggregate(self, job: FlJob, uploads: dict[int, Sent], round_index: int) -> None:
        """Fold a synchronous round's received models (client -> its upload) into the global model."""
        raise NotImplementedError


class FedAvg(_GlobalModel):
    """McMahan et al.: every client trains from the global model; the server averages the models it
    received, weighted by the clients' sample counts."""

    name = "fedavg"
    distills = True
    robust = True

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        return self.synchronous_round(job, round_index)

    def aggregate(self, job: FlJob, uploads: dict[int, Sent], round_index: int) -> None:
        job.load_state(self.model, self.combine(job, uploads))


class FedProx(FedAvg):
    """FedAvg with the proximal term ``mu / 2 * ||w - w_global||^2`` in every client's loss
    (``protocol_options.prox_mu``); the term's elementwise FLOPs are not counted."""

    name = "fedprox"
    options = FedProxOptions

    def prox_mu(self, job: FlJob) -> float:
        return self.settings(job.config).prox_mu


class AsynchronousFL(_GlobalModel):
    """Clients pull the latest model when free and push when done; the server applies each update as
    it arrives (:meth:`apply`). A round ends after ``clients`` updates have arrived (the amount of
    client work of one synchronous round); clients still training carry on into the next round.
    A client whose upload fails is dropped and not restarted."""

    settles_rounds = False
    distills = True

    def setup(self, job: FlJob) -> None:
        super().setup(job)
        self.version = 0
        self.cycles = [0] * job.config.clients  # per client: cycles started, the batch-order draw
        # upload op -> (client, version pulled, model pulled, model received, loss)
        self.in_flight: dict[int, tuple[int, int, list[torch.Tensor], list[torch.Tensor], float]] = {}
        self.started = False

    def _start(self, job: FlJob, c: int) -> None:
        down, up, loss = self.client_cycle(job, c, self.cycles[c])
        self.cycles[c] += 1
        self.in_flight[up.op] = (c, self.version, down.tensors, up.tensors, loss)

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        if not self.started:
            for c in range(job.config.clients):
                self._start(job, c)
            self.started = True
        arrived: list[int] = []
        dropped: list[int] = []
        losses: list[float] = []
        while len(arrived) < job.config.clients and self.in_flight:
            completed = job.wait(list(self.in_flight), any_of=True)
            for done in completed:
                if done.op_id not in self.in_flight:
                    continue
                c, version, pulled, received, loss = self.in_flight.pop(done.op_id)
                if not done.ok:
                    dropped.append(c)
                    continue
                self.apply(job, c, pulled, received, staleness=self.version - version)
                arrived.append(c)
                losses.append(loss)
                self._start(job, c)
        loss = float(np.mean(losses)) if losses else float("nan")
        return RoundOutcome(loss, tuple(sorted(set(arrived))), tuple(sorted(set(dropped))))

    def staleness_weight(self, job: FlJob, staleness: int) -> float:
        """``(1 + staleness)^-staleness_exponent`` (polynomial staleness function of FedAsync)."""
        return float((1.0 + staleness) ** -self.settings(job.config).staleness_exponent)

    def apply(
        self, job: FlJob, c: int, pulled: list[torch.Tensor], received: list[torch.Tensor], staleness: int
    ) -> None:
        raise NotImplementedError


class FedAsync(AsynchronousFL):
    """Xie et al.'s FedAsync: ``w <- (1 - a) w + a w_client`` with
    ``a = async_mixing x (1 + staleness)^-staleness_exponent``; every update is a new version."""

    name = "fedasync"
    options = FedAsyncOptions

    def apply(self, job, c, pulled, received, staleness):  # type: ignore[override]
        a = self.settings(job.config).async_mixing * self.staleness_weight(job, staleness)
        mixed = [(1 - a) * w + a * u for w, u in zip(job.state_of(self.model), received)]
        job.load_state(self.model, mixed)
        self.version += 1


class FedBuff(AsynchronousFL):
    """Nguyen et al.'s buffered asynchronous aggregation: the server buffers the updates
    ``w_client - w_pulled`` weighted by ``(1 + staleness)^-staleness_exponent``; every
    ``buffer_size`` updates it adds their mean to the model (a new version)."""

    name = "fedbuff"
    options = FedBuffOptions

    def setup(self, job: FlJob) -> None:
        super().setup(job)
        self.buffer: list[list[torch.Tensor]] = []

    def apply(self, job, c, pulled, received, staleness):  # type: ignore[override]
        weight = self.staleness_weight(job, staleness)
        self.buffer.append([weight * (u - p) for u, p in zip(received, pulled)])
        if len(self.buffer) >= self.settings(job.config).buffer_size:
            step = job.average(self.buffer, [1.0] * len(self.buffer))
            job.load_state(self.model, [w + d for w, d in zip(job.state_of(self.model), step)])
            self.buffer = []
            self.version += 1

"""Federated transfer learning (FTL) and hierarchical FTL as protocols of the round engine.

Source and target task. The job's training images of ``source_classes`` are the server's source task;
the clients keep only their images of the other classes (the target task) and the round's test is the
held-out images of the target classes (accuracy over those classes; chance = 1 / number of them).

Setup (round 0, once): the server pretrains the whole model on the source task (``pretrain_epochs``
passes, its FLOPs a ``source_pretrain`` computation on the server); the first ``transferred_blocks``
blocks t_S are frozen (:func:`ns6g.learners.transfer.freeze_layers`) and go down once to every client
(``transferred_layers``), with ``anchor_samples`` unlabelled source images (``source_anchor``) that the
clients' discrepancy term compares against. Both wait for the pretraining.

Every round, per client (``server`` = ``config.server``): ``model_down`` (the trainable blocks after
t_S), ``train`` (``local_epochs`` passes of target cross-entropy + ``discrepancy_weight`` x MMD^2 or
CORAL between the features of the source anchor and of the target batch, taken after block
``feature_blocks``; :func:`ns6g.learners.transfer.adaptation_loss`; a last batch of one image has the
task loss only), ``model_up`` (the trainable blocks);
the server averages the uploads weighted by sample counts. t_S never travels again.

Hierarchical FTL puts edges between: the cloud pretrains and sends t_S to every edge, each edge sends it
to its clients (client c belongs to edge ``c % edges``); the edges run the rounds with their clients and
every ``cloud_period`` rounds send their trainable blocks to the cloud (``edge_up``), which averages
them by the edges' sample totals and sends the average back (``edge_down``).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ns6g.core.config import ScenarioConfig
from ns6g.learners import transfer as tl
from ns6g.learners.network import CLOUD, client, edge
from ns6g.learners.protocols.base import Protocol, RoundOutcome

if TYPE_CHECKING:
    from ns6g.learners.engine import FlJob, FlJobConfig
    from ns6g.learners.records import Sent

__all__ = ["FederatedTransfer", "FtlOptions", "HierarchicalFTL", "HierarchicalFtlOptions"]


class FtlOptions(ScenarioConfig):
    """``protocol_options`` of ``ftl`` and ``hierarchical-ftl``."""

    source_classes: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4], min_length=1,
        description="labels of the source task (the server's); the clients' target task is the other labels",
    )
    transferred_blocks: int = Field(
        4, ge=1, description="t_S: the first this many top-level model blocks, pretrained on the source and frozen"
    )
    feature_blocks: int = Field(
        5, ge=1, description="the discrepancy compares the outputs of the first this many blocks (> transferred_blocks)"
    )
    discrepancy: Literal["mmd", "coral"] = Field("mmd", description="domain discrepancy term")
    discrepancy_weight: float = Field(1.0, ge=0, le=1e6, description="weight of the discrepancy term")
    anchor_samples: int = Field(64, ge=2, le=100_000, description="unlabelled source images sent down once")
    pretrain_epochs: int = Field(3, ge=1, le=1000, description="server passes over the source task")

    @model_validator(mode="after")
    def _check(self) -> FtlOptions:
        if self.feature_blocks <= self.transferred_blocks:
            raise ValueError(
                f"feature_blocks={self.feature_blocks} must exceed transferred_blocks={self.transferred_blocks}: "
                "features made only by frozen blocks give the discrepancy no gradient"
            )
        return self


class HierarchicalFtlOptions(FtlOptions):
    """``protocol_options`` of ``hierarchical-ftl``."""

    cloud_period: int = Field(1, ge=1, le=1_000_000, description="rounds between cloud aggregations")


class FederatedTransfer(Protocol):
    """FTL: a source model pretrained on the server, t_S frozen and sent once, clients personalise the
    rest with a discrepancy term; FedAvg of the trainable blocks."""

    # Its rounds read values (source pretraining, MMD/CORAL terms), so it cannot run on shapes alone.
    profiles = False
    name = "ftl"
    options = FtlOptions

    def servers(self, config: FlJobConfig) -> list[str]:
        return [config.server]

    def source_node(self, job: FlJob) -> str:
        return job.config.server

    def setup(self, job: FlJob) -> None:
        cfg = job.config
        self.opt = self.settings(cfg)
        self.model = job.new_model()
        depth = len(self.model)
        if self.opt.feature_blocks >= depth:
            raise ValueError(
                f"feature_blocks={self.opt.feature_blocks} must be below the depth of {cfg.model} ({depth} blocks)"
            )
        bad = [c for c in self.opt.source_classes if not 0 <= c < job.num_classes]
        if bad or len(set(self.opt.source_classes)) >= job.num_classes:
            raise ValueError(
                f"source_classes {self.opt.source_classes} must be distinct labels in 0..{job.num_classes - 1} "
                "leaving at least one target class"
            )
        source = torch.as_tensor(self.opt.source_classes, device=job.device)
        xs, ys = [], []
        for c, (x, y) in enumerate(job.client_data):  # the source classes move to the server
            is_source = torch.isin(y, source)
            xs.append(x[is_source])
            ys.append(y[is_source])
            job.client_data[c] = (x[~is_source], y[~is_source])
            if not (~is_source).any():
                raise ValueError(f"client {c} holds no image of the target classes (try partition 'iid')")
        self.source_x, self.source_y = torch.cat(xs), torch.cat(ys)
        x, y = job.test_data
        keep = ~torch.isin(y, source)
        job.test_data = (x[keep], y[keep])
        if len(self.source_y) < self.opt.anchor_samples:
            raise ValueError(f"anchor_samples={self.opt.anchor_samples} exceeds the {len(self.source_y)} source images")
        self.names = [n for n, _ in self.model.named_children()]
        self.frozen = self.names[: self.opt.transferred_blocks]
        self.trainable = self.model[self.opt.transferred_blocks :]  # shares the modules of self.model
        self._flops: dict[int, float] = {}  # batch size -> FLOPs of one adaptation step
        self.pretrained = False
        self.received: set[int] = set()  # clients that hold t_S

    # -- round 0 --------------------------------------------------------------------------------------
    def pretrain(self, job: FlJob) -> int:
        """Train the whole model on the source task at the source node, then freeze t_S; returns the op."""
        gen = torch.Generator().manual_seed(job.config.seed)
        opt = job.optimizer(self.model.parameters())
        self.model.train()
        flops = 0.0
        for _ in range(self.opt.pretrain_epochs):
            order = torch.randperm(len(self.source_y), generator=gen).to(job.device)
            for start in range(0, len(order), job.config.batch_size):
                idx = order[start : start + job.config.batch_size]
                fwd, bwd = job.training_flops("full", self.model, self.source_x[idx])
                flops += fwd + bwd
                opt.zero_grad()
                F.cross_entropy(self.model(self.source_x[idx]), self.source_y[idx]).backward()
                opt.step()
        tl.freeze_layers(self.model, self.frozen)
        pick = torch.randperm(len(self.source_y), generator=gen)[: self.opt.anchor_samples].to(job.device)
        self.anchor = self.source_x[pick]
        self.pretrained = True
        return job.compute(self.source_node(job), flops, "source_pretrain")

    def send_transferred(self, job: FlJob, src: str, dst: str, after: tuple[int, ...]) -> tuple[Sent, Sent]:
        """t_S and the source anchor from ``src`` to ``dst`` (once per node)."""
        t_s = job.send(src, dst, list(tl.transferred_state(self.model, self.frozen).values()), "transferred_layers",
                       after)
        anchor = job.send(src, dst, [self.anchor], "source_anchor", after)
        return t_s, anchor

    # -- client work ----------------------------------------------------------------------------------
    def local_train(self, job: FlJob, model: nn.Sequential, c: int, draw: int) -> tuple[float, float]:
        """Target cross-entropy + weight x discrepancy on ``model`` (t_S frozen) over the client's
        batches; returns (mean task+discrepancy loss, FLOPs). FLOPs measured once per batch size."""
        opt = job.optimizer(p for p in model.parameters() if p.requires_grad)
        model.train()
        losses, flops = [], 0.0
        for x, y in job.batches(c, draw):
            def step() -> torch.Tensor:
                if x.shape[0] < 2:  # a last batch of one image: no covariance / MMD, the task loss only
                    return F.cross_entropy(model(x), y)
                return tl.adaptation_loss(model, self.opt.feature_blocks, self.anchor, x, y,
                                          self.opt.discrepancy, self.opt.discrepancy_weight)
            opt.zero_grad()
            if x.shape[0] not in self._flops:
                with FlopCounterMode(display=False) as counter:
                    loss = step()
                    loss.backward()
                self._flops[x.shape[0]] = float(counter.get_total_flops())
            else:
                loss = step()
                loss.backward()
            flops += self._flops[x.shape[0]]
            opt.step()
            losses.append(loss.detach())
        return float(torch.stack(losses).mean()), flops

    def client_cycle(
        self, job: FlJob, server: str, c: int, tail: nn.Module, draw: int, after: tuple[int, ...]
    ) -> tuple[Sent, Sent, float]:
        """``model_down`` of ``tail`` (the trainable blocks) from ``server``, local training, ``model_up``."""
        down = job.send(server, client(c), job.state_of(tail), "model_down", after)
        local = copy.deepcopy(self.model)
        job.load_state(local[self.opt.transferred_blocks :], down.tensors)
        loss, flops = self.local_train(job, local, c, draw)
        train = job.compute(client(c), flops, "train", after=(down.op,))
        up = job.send(client(c), server, job.state_of(local[self.opt.transferred_blocks :]), "model_up", (train,),
                      reference=down.tensors)
        return down, up, loss

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        server = job.config.server
        if not self.pretrained:
            self.pretrain_op = self.pretrain(job)
        cycles = {}
        for c in job.round_clients:
            after: tuple[int, ...] = ()
            if c not in self.received:
                after = tuple(s.op for s in self.send_transferred(job, server, client(c), (self.pretrain_op,)))
                self.received.add(c)
            cycles[c] = self.client_cycle(job, server, c, self.trainable, round_index, after)
        job.wait([up.op for _, up, _ in cycles.values()])
        kept = [c for c, (_, up, _) in cycles.items() if job.ok(up.op)]
        if kept:
            state = job.average([cycles[c][1].tensors for c in kept], [job.samples(c) for c in kept])
            job.load_state(self.trainable, state)
        loss = float(np.mean([cycles[c][2] for c in kept])) if kept else float("nan")
        return RoundOutcome(loss, tuple(kept), tuple(c for c in cycles if c not in kept))

    def eval_models(self, job: FlJob) -> list[nn.Module]:
        return [self.model]


class HierarchicalFTL(FederatedTransfer):
    """FTL with device -> edge -> cloud aggregation tiers (see the module docstring)."""

    name = "hierarchical-ftl"
    options = HierarchicalFtlOptions

    def servers(self, config: FlJobConfig) -> list[str]:
        return [edge(e) for e in range(config.edges)] + [CLOUD]

    def source_node(self, job: FlJob) -> str:
        return CLOUD

    def setup(self, job: FlJob) -> None:
        super().setup(job)
        self.edge_tails = [copy.deepcopy(self.trainable) for _ in range(job.config.edges)]
        self.edge_ready: dict[int, tuple[int, ...]] = {}  # edge -> ops its clients' downloads wait for
        self.edges_have_t_s: set[int] = set()
        self.cloud_current = True  # the cloud model is the latest aggregate (else the edges' models are)

    def edge_of(self, job: FlJob, c: int) -> int:
        return c % job.config.edges

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        if not self.pretrained:
            self.pretrain_op = self.pretrain(job)
            for tail in self.edge_tails:
                job.load_state(tail, job.state_of(self.trainable))
        period = self.settings(job.config).cloud_period
        members = {e: [c for c in job.round_clients if self.edge_of(job, c) == e] for e in range(job.config.edges)}
        cycles = {}
        for e, clients in members.items():
            if not clients:
                continue
            ready: tuple[int, ...] = ()
            if e not in self.edges_have_t_s:
                ready = tuple(s.op for s in self.send_transferred(job, CLOUD, edge(e), (self.pretrain_op,)))
                self.edges_have_t_s.add(e)
            if round_index % period == 0:  # a new cloud model (round 0: the pretrained one) goes down
                down = job.send(CLOUD, edge(e), job.state_of(self.trainable), "edge_down", (self.pretrain_op,))
                job.load_state(self.edge_tails[e], down.tensors)
                ready += (down.op,)
            for c in clients:
                after = ready
                if c not in self.received:
                    after += tuple(s.op for s in self.send_transferred(job, edge(e), client(c), ready))
                    self.received.add(c)
                cycles[c] = self.client_cycle(job, edge(e), c, self.edge_tails[e], round_index, after)
        job.wait([up.op for _, up, _ in cycles.values()])
        kept = [c for c, (_, up, _) in cycles.items() if job.ok(up.op)]
        totals: dict[int, float] = {}
        for e, clients in members.items():
            ok = [c for c in clients if c in kept]
            if ok:
                job.load_state(self.edge_tails[e], job.average([cycles[c][1].tensors for c in ok],
                                                               [job.samples(c) for c in ok]))
                totals[e] = float(sum(job.samples(c) for c in ok))
        self.cloud_current = False
        if (round_index + 1) % period == 0 and totals:
            ups = {e: job.send(edge(e), CLOUD, job.state_of(self.edge_tails[e]), "edge_up") for e in totals}
            job.wait([u.op for u in ups.values()])
            arrived = [e for e, u in ups.items() if job.ok(u.op)]
            if arrived:
                job.load_state(self.trainable, job.average([ups[e].tensors for e in arrived],
                                                           [totals[e] for e in arrived]))
                self.cloud_current = True
        loss = float(np.mean([cycles[c][2] for c in kept])) if kept else float("nan")
        return RoundOutcome(loss, tuple(kept), tuple(c for c in cycles if c not in kept))

    def eval_models(self, job: FlJob) -> list[nn.Module]:
        """The cloud model after a cloud aggregation; between them, every edge's model (their mean is reported)."""
        if self.cloud_current:
            return [self.model]
        models = []
        for tail in self.edge_tails:
            model = copy.deepcopy(self.model)
            job.load_state(model[self.opt.transferred_blocks :], job.state_of(tail))
            models.append(model)
        return models

"""Split-learning protocols: the model is cut after block ``config.cut``; clients run the blocks before
the cut, a server the rest.

One training step of a client (:func:`split_step`; "server" is the node serving that client):

1. ``forward``        compute on client   forward FLOPs of the client part on its batch
2. ``activations``    client -> server    the cut-layer output (batch x activation size) and, in the
                                          same transfer, the batch's labels (int64, never compressed)
3. ``server_train``   compute on server   forward + backward FLOPs of the server part
4. ``gradients``      server -> client    the gradient at the cut (the size of 2.'s activations)
5. ``backward``       compute on client   backward FLOPs of the client part

Protocols differ in who is served when, which server-side model serves them, and which models are
exchanged around the steps (``model_down`` / ``model_up``, per round):

=================  ====================================================================================
vanilla-sl         clients one after another (round robin, client 0 first); the client-side model is
                   handed on through the server: model_down before a client's turn, model_up after it
psl                every client at once; the server stacks the activations that arrived and trains its
                   one model on the stack; every client keeps its own client-side model (no exchange)
epsl               PSL, and for the first ``floor(epsl_ratio x b)`` samples of every batch the
                   last-layer gradients are averaged over clients: one aggregated cut gradient
                   (``gradients_agg``) goes to every client, plus its own gradient for the other rows
splitfed-v1        every client at once against its own replica of the server-side model; per round the
                   client-side models go up to the server and are averaged (FedAvg, weighted by samples)
                   with the replicas; the average comes back down at the next round's start
splitfed-v2        as V1 but the main server serves clients one after another in a random order (new
                   each round) with one server-side model
hierarchical-fsl   client i is served by edge ``i % edges`` (PSL-style stack per edge); client-side
                   models are averaged per edge each round; every ``cloud_period`` rounds each edge sends
                   its whole model to the cloud, which averages them (weighted by samples) and sends the
                   average back
=================  ====================================================================================

A client whose operation fails is dropped for the rest of the round; its client-side model of the
round is not used. EPSL's server backward in PyTorch runs over every row (autograd needs each sample's
graph); the FLOPs submitted are EPSL's: forward over all ``N x b`` rows, backward over
``N x (b - m) + m`` rows.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ns6g.core.config import ScenarioConfig
from ns6g.learners.network import CLOUD, client, edge
from ns6g.learners.protocols.base import Protocol, RoundOutcome

if TYPE_CHECKING:
    from ns6g.learners.engine import FlJob, FlJobConfig
    from ns6g.learners.records import Sent

__all__ = [
    "EPSL", "EpslOptions", "HierarchicalFSL", "HierarchicalFslOptions", "ParallelSL", "SplitFedV1", "SplitFedV2",
    "VanillaSL", "split_step",
]


class EpslOptions(ScenarioConfig):
    """``protocol_options`` of ``epsl``."""

    epsl_ratio: float = Field(0.5, ge=0, le=1, description="last-layer gradient aggregation ratio (0: PSL)")


class HierarchicalFslOptions(ScenarioConfig):
    """``protocol_options`` of ``hierarchical-fsl``."""

    cloud_period: int = Field(1, ge=1, le=1_000_000, description="rounds between cloud aggregations")


@dataclass
class Peer:
    """One client in a split round: its client-side model and optimizer, its batches, its server."""

    client: int
    model: nn.Sequential
    make_optimizer: Callable[[Iterator[nn.Parameter]], torch.optim.Optimizer]
    batches: list[tuple[torch.Tensor, torch.Tensor]]
    server: str
    losses: list[float] = field(default_factory=list)

    @functools.cached_property
    def optimizer(self) -> torch.optim.Optimizer:
        """Made at the first step: profile mode never steps, and an optimizer costs ~2 ms to make."""
        return self.make_optimizer(self.model.parameters())


@dataclass
class Arrival:
    """One client's batch as the server received it: activations (a leaf that collects the cut
    gradient) and labels, and the transfer op that brought them."""

    peer: Peer
    act: torch.Tensor
    y: torch.Tensor
    after: tuple[int, ...]


@dataclass
class Reply:
    """The server's answer to one client: gradient pieces (concatenated along the batch they form the
    cut gradient), each with its tag, sent after the server computation ``after``; the batch loss."""

    pieces: list[tuple[torch.Tensor, str]]
    after: int
    loss: float


Serve = Callable[["FlJob", list[Arrival]], dict[int, Reply]]


class ServerSide:
    """A server-side model (the blocks after the cut) with its optimizer, on one node."""

    def __init__(self, job: FlJob, model: nn.Module, node: str) -> None:
        self.model = model
        self.node = node
        self._make_optimizer = job.optimizer

    @functools.cached_property
    def optimizer(self) -> torch.optim.Optimizer:
        """Made at the first step (as :attr:`Peer.optimizer`)."""
        return self._make_optimizer(self.model.parameters())

    def train(self, job: FlJob, arrivals: list[Arrival], ratio: float = 0.0) -> dict[int, Reply]:
        """One step on the stacked activations of ``arrivals``; ``ratio`` > 0: EPSL's last-layer
        gradient aggregation over the first ``floor(ratio x smallest batch)`` rows of every batch."""
        job.keep(self)  # training ahead of the network (split_step): undone if an upload did not arrive
        sizes = [a.act.shape[0] for a in arrivals]
        stacked = _cat([a.act for a in arrivals])
        y = _cat([a.y for a in arrivals])
        m = math.floor(ratio * min(sizes)) if len(arrivals) > 1 else 0
        fwd, bwd = job.training_flops("server", self.model, stacked)
        if m:
            _, bwd = job.training_flops("server", self.model, stacked[: len(y) - (len(arrivals) - 1) * m])
        comp = job.compute(self.node, fwd + bwd, "server_train", [op for a in arrivals for op in a.after])
        if job.profile:  # no training: cut gradients of the activations' shapes (empty, not empty_like: 10x faster on meta)
            cut_grads = [torch.empty(a.act.shape, dtype=a.act.dtype, device="meta") for a in arrivals]
            loss_value = math.nan
        else:
            loss_value = self._step(arrivals, stacked, y, sizes, m)
            cut_grads = [a.act.grad for a in arrivals]
        cut_shared = torch.stack([g[:m] for g in cut_grads]).mean(dim=0) if m else None
        replies = {}
        for a, g in zip(arrivals, cut_grads):
            if m:
                pieces = [(cut_shared, "gradients_agg"), (g[m:], "gradients")]
            else:
                pieces = [(g, "gradients")]
            kept = [(g, tag) for g, tag in pieces if g.shape[0] > 0]  # r = 1 leaves no own rows
            replies[a.peer.client] = Reply(kept, comp, loss_value)
        return replies

    def _step(self, arrivals: list[Arrival], stacked: torch.Tensor, y: torch.Tensor, sizes: list[int], m: int) -> float:
        """The real training step on the stacked activations; leaves the cut gradients in ``a.act.grad``."""
        self.model.train()
        out = self.model(stacked)
        loss = F.cross_entropy(out, y)
        self.optimizer.zero_grad()
        if m:
            grad = torch.autograd.grad(loss, out, retain_graph=True)[0]
            parts = torch.split(grad, sizes)
            shared = torch.stack([p[:m] for p in parts]).mean(dim=0)
            out.backward(torch.cat([torch.cat([shared, p[m:]]) for p in parts]))
        else:
            loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def _cat(tensors: list[torch.Tensor]) -> torch.Tensor:
    """``torch.cat(tensors)``, and the one tensor itself when there is one (the same values and
    gradients; a concatenation of 'meta' tensors costs ~0.3 ms of Python, once per client and step)."""
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


def split_step(job: FlJob, peers: list[Peer], t: int, serve: Serve) -> list[Peer]:
    """Step ``t`` of every peer that still has a batch ``t``, all at once; returns the peers that failed.

    Two network waits: for the uploads (the server needs them), then for the clients' backward passes
    (a client applies its update only when its gradient arrived and its backward pass completed). With
    ``job.overlap`` the network simulates each while PyTorch works ahead of its answer: the server steps
    on every upload, the clients apply their updates; what the answer rules out is undone
    (:meth:`FlJob.speculate`) and, for the server, redone on the uploads that arrived, so the results are
    those of waiting first."""
    active = [p for p in peers if t < len(p.batches)]
    # train mode once per model: profile-mode peers share their (meta) client model, and train() walks
    # the module tree (~0.1 ms), once per client and step otherwise
    for model in {id(p.model): p.model for p in active}.values():
        model.train()
    pending = {}
    for p in active:
        x, y = p.batches[t]
        act = job.forward(p.model, x)
        fwd, bwd = job.training_flops("client", p.model, x)
        fw = job.compute(client(p.client), fwd, "forward")
        # the labels travel with the activations (the codec leaves integer tensors as they are)
        a = job.send(client(p.client), p.server, [act, y], "activations", (fw,), sparsify=True)
        pending[p.client] = (p, act, a, bwd)
    uploads = [a.op for _, _, a, _ in pending.values()]
    if job.overlap:
        replies, arrivals, failed = _serve_ahead(job, pending, uploads, serve)
    else:
        job.wait(uploads)
        arrivals, failed = _arrivals(job, pending)
        replies = serve(job, arrivals) if arrivals else {}
    backward_ops = {}
    for arrival in arrivals:
        p = arrival.peer
        reply = replies[p.client]
        sent = [
            job.send(p.server, client(p.client), [g], tag, (reply.after,), sparsify=True) for g, tag in reply.pieces
        ]
        grad = _cat([s.tensors[0] for s in sent])
        bw = job.compute(client(p.client), pending[p.client][3], "backward", [s.op for s in sent])
        backward_ops[p.client] = (p, grad, bw, reply.loss)
    backwards = [bw for _, _, bw, _ in backward_ops.values()]
    if job.overlap:  # every client updates while the network runs; one whose backward failed is put back
        job.wait_later(backwards)
        ahead = job.speculate()
        for c, (p, grad, _, _) in backward_ops.items():
            ahead.keep(p)
            _client_update(job, p, pending[c][1], grad)
        job.collect()
        for p, _, bw, _ in backward_ops.values():
            if not job.ok(bw):
                ahead.restore(p)
        ahead.confirm()
    else:
        job.wait(backwards)
    for c, (p, grad, bw, loss) in backward_ops.items():
        if job.ok(bw):
            if not job.overlap:
                _client_update(job, p, pending[c][1], grad)
            p.losses.append(loss)
        else:
            failed.append(p)
    return failed


def _client_update(job: FlJob, p: Peer, act: torch.Tensor, grad: torch.Tensor) -> None:
    """The client's backward pass from the cut gradient, and its optimizer step."""
    if not job.profile:
        p.optimizer.zero_grad()
        act.backward(grad)
        p.optimizer.step()


def _arrivals(job: FlJob, pending: dict) -> tuple[list[Arrival], list[Peer]]:
    """The uploads that arrived (fresh leaves that collect the cut gradient) and the peers whose did not."""
    arrivals, failed = [], []
    for p, _, a, _ in pending.values():
        if job.ok(a.op):
            arrivals.append(_arrival(p, a))
        else:
            failed.append(p)
    return arrivals, failed


def _arrival(p: Peer, upload: Sent) -> Arrival:
    """Peer ``p``'s upload as the server receives it: the activations as a fresh leaf that collects the cut
    gradient, and the labels."""
    return Arrival(p, upload.tensors[0].detach().requires_grad_(), upload.tensors[1], (upload.op,))


def _serve_ahead(job: FlJob, pending: dict, uploads: list[int],
                 serve: Serve) -> tuple[dict[int, Reply], list[Arrival], list[Peer]]:
    """Serve every upload while the network carries them; if one did not arrive, undo that (servers,
    RNG, operations submitted) and serve those that did, as waiting first would have."""
    job.wait_later(uploads)
    ahead = job.speculate()
    guess = [_arrival(p, a) for p, _, a, _ in pending.values()]
    try:
        replies: dict[int, Reply] | None = serve(job, guess) if guess else {}
    except Exception:  # noqa: BLE001 (undone below; serving the arrivals alone decides whether it raises)
        replies = None
    job.collect()
    arrivals, failed = _arrivals(job, pending)
    if replies is not None and not failed:
        ahead.confirm()
        return replies, guess, failed
    ahead.undo()
    return (serve(job, arrivals) if arrivals else {}), arrivals, failed


class _SplitProtocol(Protocol):
    split = True

    def peer(self, job: FlJob, c: int, model: nn.Sequential, server: str, draw: int) -> Peer:
        return Peer(c, model, job.optimizer, job.batches(c, draw), server)

    @staticmethod
    def train_together(job: FlJob, peers: list[Peer], serve: Serve) -> tuple[list[Peer], list[int]]:
        """Step all ``peers`` in lockstep until their batches run out; (survivors, dropped clients)."""
        alive, dropped = list(peers), []
        for t in range(max((len(p.batches) for p in peers), default=0)):
            for p in split_step(job, alive, t, serve):
                alive.remove(p)
                dropped.append(p.client)
            if not alive:
                break
        return alive, dropped

    @staticmethod
    def outcome(peers: list[Peer], kept: list[int], dropped: list[int]) -> RoundOutcome:
        losses = [loss for p in peers if p.client in kept for loss in p.losses]
        return RoundOutcome(float(np.mean(losses)) if losses else float("nan"), tuple(kept), tuple(dropped))


class _SharedClientModel(_SplitProtocol):
    """One global client-side model and one server-side model on ``config.server``."""

    def setup(self, job: FlJob) -> None:
        full = job.new_model()
        self.client_model = job.client_part(full)
        self.server = ServerSide(job, job.server_part(full), job.config.server)

    def eval_models(self, job: FlJob) -> list[nn.Module]:
        return [nn.Sequential(self.client_model, self.server.model)]

    def serve(self, job: FlJob, arrivals: list[Arrival]) -> dict[int, Reply]:
        return self.server.train(job, arrivals)

    def download(self, job: FlJob, c: int) -> Sent:
        return job.send(job.config.server, client(c), job.state_of(self.client_model), "model_down")

    def local_copy(self, job: FlJob, down: Sent, c: int | None = None) -> nn.Sequential:
        """The client-side model as client ``c`` rebuilds it from ``down``."""
        model = job.copy_model(self.client_model)
        job.load_state(model, down.tensors)
        return model


class VanillaSL(_SharedClientModel):
    """Vanilla split learning, round robin; the client-side model is handed from client to client
    through the server."""

    name = "vanilla-sl"

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        kept, dropped, peers = [], [], []
        for c in job.round_clients:
            down = self.download(job, c)
            job.wait([down.op])
            if not job.ok(down.op):
                dropped.append(c)
                continue
            peer = self.peer(job, c, self.local_copy(job, down), job.config.server, round_index)
            peers.append(peer)
            alive, lost = self.train_together(job, [peer], self.serve)
            if lost:
                dropped += lost
                continue
            up = job.send(client(c), job.config.server, job.state_of(peer.model), "model_up", reference=down.tensors)
            job.wait([up.op])
            if job.ok(up.op):
                job.load_state(self.client_model, up.tensors)
                kept.append(c)
            else:
                dropped.append(c)
        return self.outcome(peers, kept, dropped)


class _FedClientModels(_SharedClientModel):
    """SplitFed: the round starts with the global client-side model going down to every client and
    ends with the trained client-side models going up and being averaged."""

    def train_clients(self, job: FlJob, peers: list[Peer], round_index: int) -> tuple[list[Peer], list[int]]:
        raise NotImplementedError

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        downs = {c: self.download(job, c) for c in job.round_clients}
        job.wait([d.op for d in downs.values()])
        dropped = [c for c, d in downs.items() if not job.ok(d.op)]
        peers = [
            self.peer(job, c, self.local_copy(job, d, c), job.config.server, round_index)
            for c, d in downs.items()
            if job.ok(d.op)
        ]
        alive, lost = self.train_clients(job, peers, round_index)
        dropped += lost
        ups = {
            p.client: job.send(client(p.client), job.config.server, job.state_of(p.model), "model_up",
                               reference=downs[p.client].tensors)
            for p in alive
        }
        job.wait([u.op for u in ups.values()])
        kept = [c for c, u in ups.items() if job.ok(u.op)]
        dropped += [c for c in ups if c not in kept]
        if kept:
            self.aggregate(job, {c: ups[c].tensors for c in kept}, [job.samples(c) for c in kept])
        return self.outcome(peers, sorted(kept), sorted(dropped))

    def aggregate(self, job: FlJob, uploads: dict[int, list[torch.Tensor]], weights: list[float]) -> None:
        """The round's aggregation: the uploaded client-side models averaged (weighted by samples); one
        shared server-side model needs nothing more."""
        job.load_state(self.client_model, job.average(list(uploads.values()), weights))


class SplitFedV1(_FedClientModels):
    """SplitFed V1 (Thapa et al.): clients in parallel, each against its own replica of the
    server-side model; replicas and client-side models are averaged every round.

    Clients may have different cuts (:meth:`FlJob.set_client_cuts`): the fed server keeps the whole
    model, client c gets its blocks ``0 .. cut_c - 1`` and its replica holds the rest; the round ends
    with the weighted average of the whole models (client part + replica), which with one cut for all is
    the average of the client parts and of the replicas separately."""

    name = "splitfed-v1"
    per_client_cut = True

    def setup(self, job: FlJob) -> None:
        super().setup(job)
        self.full = nn.Sequential(*self.client_model, *self.server.model)  # the same modules, whole
        self._parts: dict[tuple[int, bool], nn.Sequential] = {}

    def part(self, cut: int, head: bool) -> nn.Sequential:
        """Blocks ``0 .. cut-1`` (``head``) or ``cut ..`` of the whole model, sharing its modules; one
        slice per cut, made once (a slice of a Sequential is a new module, ~50 us, per client and round)."""
        key = (cut, head)
        if key not in self._parts:
            self._parts[key] = self.full[:cut] if head else self.full[cut:]
        return self._parts[key]

    def download(self, job: FlJob, c: int) -> Sent:
        return job.send(job.config.server, client(c), job.state_of(self.part(job.cut_of(c), True)), "model_down")

    def local_copy(self, job: FlJob, down: Sent, c: int | None = None) -> nn.Sequential:
        cut = job.cut_of(c) if c is not None else job.config.cut
        model = job.copy_model(self.part(cut, True))
        job.load_state(model, down.tensors)
        return model

    def train_clients(self, job: FlJob, peers: list[Peer], round_index: int) -> tuple[list[Peer], list[int]]:
        self.replicas = {
            p.client: ServerSide(job, job.copy_model(self.part(job.cut_of(p.client), False)), self.server.node) for p in peers
        }

        def serve(job: FlJob, arrivals: list[Arrival]) -> dict[int, Reply]:
            replies: dict[int, Reply] = {}
            for a in arrivals:
                replies.update(self.replicas[a.peer.client].train(job, [a]))
            return replies

        return self.train_together(job, peers, serve)

    def aggregate(self, job: FlJob, uploads: dict[int, list[torch.Tensor]], weights: list[float]) -> None:
        states = [uploads[c] + job.state_of(self.replicas[c].model) for c in uploads]
        job.load_state(self.full, job.average(states, weights))


class SplitFedV2(_FedClientModels):
    """SplitFed V2: the main server serves the clients one after another in a random order (drawn
    from (seed, round)) with one server-side model; client-side models are averaged every round."""

    name = "splitfed-v2"

    def train_clients(self, job: FlJob, peers: list[Peer], round_index: int) -> tuple[list[Peer], list[int]]:
        order = np.random.default_rng([job.config.seed, round_index]).permutation(len(peers))
        alive, dropped = [], []
        for i in order:
            survivors, lost = self.train_together(job, [peers[i]], self.serve)
            alive += survivors
            dropped += lost
        return alive, dropped


class ParallelSL(_SplitProtocol):
    """Parallel split learning: all clients at once, one server-side model trained on the stack of
    their activations; every client keeps its own client-side model (all start from the same one)."""

    name = "psl"
    updates = "none"  # client-side models stay on the clients

    def setup(self, job: FlJob) -> None:
        full = job.new_model()
        self.server = ServerSide(job, job.server_part(full), job.config.server)
        self.client_models = [job.copy_model(job.client_part(full)) for _ in range(job.config.clients)]

    def ratio(self, job: FlJob) -> float:
        return 0.0

    def serve(self, job: FlJob, arrivals: list[Arrival]) -> dict[int, Reply]:
        return self.server.train(job, arrivals, self.ratio(job))

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        peers = [
            self.peer(job, c, self.client_models[c], job.config.server, round_index) for c in job.round_clients
        ]
        alive, dropped = self.train_together(job, peers, self.serve)
        return self.outcome(peers, sorted(p.client for p in alive), sorted(dropped))

    def eval_models(self, job: FlJob) -> list[nn.Module]:
        return [nn.Sequential(m, self.server.model) for m in self.client_models]


class EPSL(ParallelSL):
    """Efficient PSL (Lin et al.): PSL with last-layer gradient aggregation ratio ``epsl_ratio``."""

    name = "epsl"
    options = EpslOptions

    def ratio(self, job: FlJob) -> float:
        return self.settings(job.config).epsl_ratio


class HierarchicalFSL(_SplitProtocol):
    """Hierarchical split-federated learning, device -> edge -> cloud (see the module docstring)."""

    name = "hierarchical-fsl"
    options = HierarchicalFslOptions

    def servers(self, config: FlJobConfig) -> list[str]:
        return [edge(e) for e in range(config.edges)] + [CLOUD]

    def setup(self, job: FlJob) -> None:
        full = job.new_model()
        edges = job.config.edges
        self.client_models = [copy.deepcopy(job.client_part(full)) for _ in range(edges)]
        self.servers = [ServerSide(job, copy.deepcopy(job.server_part(full)), edge(e)) for e in range(edges)]

    def edge_of(self, job: FlJob, c: int) -> int:
        return c % job.config.edges

    def serve(self, job: FlJob, arrivals: list[Arrival]) -> dict[int, Reply]:
        replies: dict[int, Reply] = {}
        for e, server in enumerate(self.servers):
            group = [a for a in arrivals if self.edge_of(job, a.peer.client) == e]
            if group:
                replies.update(server.train(job, group))
        return replies

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        downs = {
            c: job.send(edge(self.edge_of(job, c)), client(c), job.state_of(self.client_models[self.edge_of(job, c)]),
                        "model_down")
            for c in job.round_clients
        }
        job.wait([d.op for d in downs.values()])
        dropped = [c for c, d in downs.items() if not job.ok(d.op)]
        peers = []
        for c, d in downs.items():
            if job.ok(d.op):
                model = job.copy_model(self.client_models[self.edge_of(job, c)])
                job.load_state(model, d.tensors)
                peers.append(self.peer(job, c, model, edge(self.edge_of(job, c)), round_index))
        alive, lost = self.train_together(job, peers, self.serve)
        dropped += lost
        ups = {
            p.client: job.send(client(p.client), p.server, job.state_of(p.model), "model_up",
                               reference=downs[p.client].tensors)
            for p in alive
        }
        job.wait([u.op for u in ups.values()])
        kept = sorted(c for c, u in ups.items() if job.ok(u.op))
        dropped += [c for c in ups if c not in kept]
        for e in range(job.config.edges):
            members = [c for c in kept if self.edge_of(job, c) == e]
            if members:
                state = job.average([ups[c].tensors for c in members], [job.samples(c) for c in members])
                job.load_state(self.client_models[e], state)
        if (round_index + 1) % self.settings(job.config).cloud_period == 0:
            self.cloud_round(job)
        return self.outcome(peers, kept, sorted(dropped))

    def cloud_round(self, job: FlJob) -> None:
        """Every edge sends its whole model (client side + server side) to the cloud; the cloud
        averages them weighted by the edges' sample counts and sends the average back."""
        edges = range(job.config.edges)
        state = {e: job.state_of(self.client_models[e]) + job.state_of(self.servers[e].model) for e in edges}
        ups = {e: job.send(edge(e), CLOUD, state[e], "model_up") for e in edges}
        job.wait([u.op for u in ups.values()])
        arrived = [e for e in edges if job.ok(ups[e].op)]
        if not arrived:
            return
        weights = [sum(job.samples(c) for c in range(job.config.clients) if self.edge_of(job, c) == e) for e in arrived]
        average = job.average([ups[e].tensors for e in arrived], weights)
        downs = {e: job.send(CLOUD, edge(e), average, "model_down") for e in edges}
        job.wait([d.op for d in downs.values()])
        n_client = len(job.state_of(self.client_models[0]))
        for e in edges:
            if job.ok(downs[e].op):
                job.load_state(self.client_models[e], downs[e].tensors[:n_client])
                job.load_state(self.servers[e].model, downs[e].tensors[n_client:])

    def eval_models(self, job: FlJob) -> list[nn.Module]:
        return [nn.Sequential(m, s.model) for m, s in zip(self.client_models, self.servers)]

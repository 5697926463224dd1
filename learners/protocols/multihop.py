"""Multi-hop split learning (survey 000, Sections IV-C1 and IV-C3): the model is cut into K segments
that run on K nodes in a chain, device -> edge -> regional -> cloud.

``protocol_options.cuts`` holds the K - 1 block indices after which the model is cut (increasing, each in
1 .. depth - 1): segment 0 (blocks ``0 .. cuts[0] - 1``) runs on the client, segment k (blocks
``cuts[k-1] .. cuts[k] - 1``) on the k-th server of ``placement`` (default the first K - 1 of ``edge/0``,
``regional``, ``cloud``), the last segment ends the model and computes the loss. Survey 000's K (the
servers after the device) is the number of *hops* of the chain, segments - 1 = ``len(cuts)``; the step
counts below use it (see docs/multihop-split.md).

One pass of a mini-batch (``b`` rows) through the chain, per micro-batch (``pipeline`` = M of them, the
batch split in M nearly equal parts; 1: plain):

1. ``forward``       compute on the client        forward FLOPs of segment 0
2. ``activations``   client -> server 1           segment 0's output (rows x activation size at cuts[0])
                                                  and the rows' labels (int64), which ride along every hop
3. ``forward``       compute on server k < last   forward FLOPs of segment k; then ``activations``
                                                  server k -> server k+1 (activation size at cuts[k] + labels)
4. ``server_train``  compute on the last server   forward + backward FLOPs of the last segment (loss)
5. ``gradients``     server k -> server k-1       the gradient at cut k-1 (the size of 3.'s activations)
6. ``backward``      compute on server k          backward FLOPs of segment k (it gets its gradient first)
7. ``gradients``     server 1 -> client           the gradient at cuts[0]; ``backward`` on the client

Every operation of a pass is submitted before the pass is run, so with M > 1 the micro-batches flow
through the chain as GPipe's do: hop k works on micro-batch m while hop k-1 works on m + 1 (each node's
processor serves FIFO, each link carries the transfers in flight together). Gradients of the M
micro-batches are accumulated (each micro-batch's loss is its share of the batch's mean) and every
segment takes one SGD step per pass, so the update is the plain pass's (no layer here depends on the
batch's statistics).

``schedule``:

=============  ==========================================================================================
sequential     survey 000's multi-hop SL (IV-C1): in every inner iteration (mini-batch index t) the
               clients are served one after another (round robin, client 0 first), each pass waiting
               for the previous one; every server segment steps after each client. Each client keeps
               its device segment during the round; at the round's end they go up to server 1
               (``model_up``), are averaged (weighted by samples) and come back (``model_down``).
parallel       survey 000's multi-hop PSL (IV-C3): in every inner iteration all clients run segment 0 at
               once and send their activations to server 1, which stacks them; the stack goes on
               through the chain as one batch and server 1 sends every client its own rows of the
               gradient. Then the device segments are synchronised: ``model_up`` to server 1, average,
               ``model_down`` to every client (the "final aggregation phase").
=============  ==========================================================================================

Sequential communication steps per inner iteration (transfers that go at the same simulated instant
are one step; :func:`communication_steps` counts them from the transfer log), with N clients and K hops:
sequential 2NK (each client K hops up and K down, one client after another), parallel 2K + 2 (K waves
up, K down, all clients' first hop in one wave, plus the device segments' upload and download).

A client whose operation fails is dropped for the rest of the round; in the parallel schedule a pass
one of whose server operations failed (they wait for every client's activations) takes no step.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator
from torch import nn

from ns6g.core.config import ScenarioConfig
from ns6g.learners.network import CLOUD, REGIONAL, client, edge
from ns6g.learners.protocols.base import Protocol, RoundOutcome

if TYPE_CHECKING:
    from ns6g.learners.engine import FlJob, FlJobConfig
    from ns6g.learners.records import TransferRecord

__all__ = ["DEFAULT_CHAIN", "MultihopOptions", "MultihopSL", "communication_steps"]

#: the servers of a chain without an explicit ``placement``: segment k (k >= 1) runs on DEFAULT_CHAIN[k - 1]
DEFAULT_CHAIN = (edge(0), REGIONAL, CLOUD)


class MultihopOptions(ScenarioConfig):
    """``protocol_options`` of ``multihop-sl``."""

    cuts: list[int] = Field(
        [2, 4], min_length=1, max_length=64,
        description="model block indices after which the model is cut, increasing (K - 1 of them for K "
        "segments); each in 1 .. depth - 1 of the model (checked when the job starts)",
    )
    placement: list[str] = Field(
        [], max_length=64,
        description="the nodes of segments 1 .. K-1 in chain order (one per cut, all different: edge/<j>, "
        "regional or cloud); empty: the first K - 1 of edge/0, regional, cloud",
    )
    pipeline: int = Field(
        1, ge=1, le=1024,
        description="micro-batches M per mini-batch, flowing through the chain GPipe-style (1: plain; a batch "
        "of fewer than M samples is split into one-sample micro-batches)",
    )
    schedule: Literal["sequential", "parallel"] = Field(
        "sequential",
        description="sequential: clients one after another per inner iteration (survey 000's multi-hop SL, "
        "2NK steps); parallel: all clients at once into server 1 (multi-hop PSL, 2K + 2 steps)",
    )

    @field_validator("cuts")
    @classmethod
    def _increasing(cls, cuts: list[int]) -> list[int]:
        if any(c < 1 for c in cuts):
            raise ValueError(f"every cut must be a block index >= 1, got {list(cuts)}")
        if any(b <= a for a, b in zip(cuts, cuts[1:])):
            raise ValueError(f"cuts must be strictly increasing, got {list(cuts)}")
        return cuts

    @field_validator("placement")
    @classmethod
    def _nodes(cls, placement: list[str]) -> list[str]:
        for node in placement:
            kind, _, number = node.partition("/")
            if not (node in (CLOUD, REGIONAL) or (kind == "edge" and number.isdigit())):
                raise ValueError(f"placement node {node!r} is not a server: edge/<j>, {REGIONAL!r} or {CLOUD!r}")
        if len(set(placement)) != len(placement):
            raise ValueError(f"placement names a node twice: {list(placement)}")
        return placement

    @model_validator(mode="after")
    def _one_node_per_cut(self) -> MultihopOptions:
        if self.placement and len(self.placement) != len(self.cuts):
            raise ValueError(f"placement lists {len(self.placement)} nodes for {len(self.cuts)} cuts (one server "
                             "per segment after the first)")
        if not self.placement and len(self.cuts) > len(DEFAULT_CHAIN):
            raise ValueError(f"cuts: {len(self.cuts)} cuts need {len(self.cuts)} servers, the default chain has "
                             f"{len(DEFAULT_CHAIN)} ({', '.join(DEFAULT_CHAIN)}): give a placement")
        return self

    def chain(self) -> tuple[str, ...]:
        """The server nodes of segments 1 .. K-1, in order."""
        return tuple(self.placement) or DEFAULT_CHAIN[: len(self.cuts)]


@dataclass
class Segment:
    """A server-side segment of the chain (blocks ``first ..``) with its optimizer, on ``node``."""

    model: nn.Sequential
    node: str
    first: int
    last: bool
    make_optimizer: Callable[[Iterator[nn.Parameter]], torch.optim.Optimizer]

    @functools.cached_property
    def optimizer(self) -> torch.optim.Optimizer:
        """Made at the first step (profile mode never steps)."""
        return self.make_optimizer(self.model.parameters())


def _run(job: FlJob, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)``; in profile mode (module and x on 'meta') the output's shape, nothing computed."""
    if job.profile:
        with torch.no_grad():
            return module(x)
    return module(x)


def _meta_like(t: torch.Tensor) -> torch.Tensor:
    return torch.empty(t.shape, dtype=t.dtype, device="meta")


class MultihopSL(Protocol):
    """Multi-hop split learning over a chain of K nodes, plain or pipelined (see the module docstring)."""

    name = "multihop-sl"
    split = True
    options = MultihopOptions

    def servers(self, config: FlJobConfig) -> list[str]:
        return list(self.settings(config).chain())

    def setup(self, job: FlJob) -> None:
        opts = self.settings(job.config)
        for c in opts.cuts:
            if not 1 <= c < job.depth:
                raise ValueError(f"protocol_options.cuts: cut {c} is out of range for {job.config.model} "
                                 f"({job.depth} blocks): every cut must lie in 1 .. {job.depth - 1}")
        bounds = [0, *opts.cuts, job.depth]
        full = job.new_model()
        self.device_model = full[: bounds[1]]
        self.device_models = {c: job.copy_model(self.device_model) for c in range(job.config.clients)}
        self.segments = [
            Segment(full[a:b], node, a, b == job.depth, job.optimizer)
            for a, b, node in zip(bounds[1:-1], bounds[2:], opts.chain())
        ]
        self._device_optimizers: dict[int, torch.optim.Optimizer] = {}

    def eval_models(self, job: FlJob) -> list[nn.Module]:
        return [nn.Sequential(self.device_model, *(s.model for s in self.segments))]

    def device_optimizer(self, job: FlJob, c: int) -> torch.optim.Optimizer:
        if c not in self._device_optimizers:
            self._device_optimizers[c] = job.optimizer(self.device_models[c].parameters())
        return self._device_optimizers[c]

    # ------------------------------------------------------------------ a round

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        opts = self.settings(job.config)
        batches = {c: job.batches(c, round_index) for c in job.round_clients}
        alive = list(job.round_clients)
        dropped: list[int] = []
        losses: list[float] = []
        for t in range(max(len(b) for b in batches.values())):
            active = [c for c in alive if t < len(batches[c])]
            if not active:
                break
            groups = [[c] for c in active] if opts.schedule == "sequential" else [active]
            for group in groups:
                failed, loss = self.chain_pass(job, {c: batches[c][t] for c in group}, opts.pipeline)
                for c in failed:
                    alive.remove(c)
                    dropped.append(c)
                if not math.isnan(loss) or job.profile:
                    losses.append(loss)
            if opts.schedule == "parallel":
                dropped += self.synchronise(job, [c for c in active if c in alive], alive)
        if opts.schedule == "sequential":
            dropped += self.synchronise(job, alive, alive)
        train_loss = float(np.mean(losses)) if losses and not job.profile else math.nan
        return RoundOutcome(train_loss, tuple(sorted(alive)), tuple(sorted(dropped)))

    def synchronise(self, job: FlJob, members: list[int], alive: list[int]) -> list[int]:
        """The device segments of ``members`` go up to server 1 and are averaged (weighted by samples); the
        average goes down to every client in ``alive`` (one that had no batch left too, so every client
        starts the next round from it); returns the clients that failed (removed from ``alive``)."""
        if not members:
            return []
        hub = self.segments[0].node
        ups = {c: job.send(client(c), hub, job.state_of(self.device_models[c]), "model_up") for c in members}
        job.wait([u.op for u in ups.values()])
        kept = [c for c in members if job.ok(ups[c].op)]
        failed = [c for c in members if c not in kept]
        if kept:
            job.load_state(self.device_model,
                           job.average([ups[c].tensors for c in kept], [job.samples(c) for c in kept]))
        state = job.state_of(self.device_model)
        downs = {c: job.send(hub, client(c), state, "model_down") for c in alive if c not in failed}
        job.wait([d.op for d in downs.values()])
        for c, d in downs.items():
            if job.ok(d.op):
                job.load_state(self.device_models[c], d.tensors)
            else:
                failed.append(c)
        for c in failed:
            alive.remove(c)
        return failed

    def chain_pass(
        self, job: FlJob, batch: dict[int, tuple[torch.Tensor, torch.Tensor]], pipeline: int
    ) -> tuple[list[int], float]:
        """One mini-batch of every client in ``batch`` through the chain (their rows stacked from server
        1 on), in ``pipeline`` micro-batches; one SGD step of every segment when all went through.
        Returns (clients whose operations failed, mean loss of the pass (NaN in profile mode))."""
        clients = list(batch)
        smallest = min(len(y) for _, y in batch.values())
        micro = min(pipeline, smallest)
        chunks = {c: (torch.tensor_split(x, micro), torch.tensor_split(y, micro)) for c, (x, y) in batch.items()}
        rows = sum(len(y) for _, y in batch.values())
        client_ops: dict[int, list[int]] = {c: [] for c in clients}
        server_ops: list[int] = []
        micro_losses = []  # per micro-batch: its mean loss
        for m in range(micro):
            # segment 0 on every client, activations (+ labels) up to server 1
            acts, arrivals, ys = {}, [], []
            for c in clients:
                x, y = chunks[c][0][m], chunks[c][1][m]
                model = self.device_models[c]
                model.train()
                act = _run(job, model, x)
                fwd, bwd = job.training_flops("client", model, x)
                fw = job.compute(client(c), fwd, "forward")
                sent = job.send(client(c), self.segments[0].node, [act, y], "activations", (fw,), sparsify=True)
                client_ops[c] += [fw, sent.op]
                acts[c] = (act, bwd)
                arrivals.append(sent)
                ys.append(sent.tensors[1])
            y_all = torch.cat(ys) if len(ys) > 1 else ys[0]
            inp = torch.cat([a.tensors[0] for a in arrivals]) if len(arrivals) > 1 else arrivals[0].tensors[0]
            after = [a.op for a in arrivals]
            inputs, outputs, backward_flops = [], [], []
            for seg in self.segments:
                seg.model.train()
                inp = inp if job.profile else inp.detach().requires_grad_()
                inputs.append(inp)
                if seg.last:
                    fwd, bwd = job.training_flops("server", seg.model, inp)
                    comp = job.compute(seg.node, fwd + bwd, "server_train", after)
                    server_ops.append(comp)
                    out = _run(job, seg.model, inp)
                    outputs.append(out)
                    break
                fwd, bwd = job.training_flops(f"middle{seg.first}", seg.model, inp)
                comp = job.compute(seg.node, fwd, "forward", after)
                out = _run(job, seg.model, inp)
                outputs.append(out)
                backward_flops.append(bwd)
                nxt = self.segments[self.segments.index(seg) + 1]
                sent = job.send(seg.node, nxt.node, [out.detach(), y_all], "activations", (comp,), sparsify=True)
                server_ops += [comp, sent.op]
                inp, after = sent.tensors[0], [sent.op]
                y_all = sent.tensors[1]
            # the real backward pass of the last segment gives the gradient at its input
            if job.profile:
                loss = math.nan
                grad = _meta_like(inputs[-1])
            else:
                loss_t = F.cross_entropy(outputs[-1], y_all, reduction="sum") / rows
                loss_t.backward()
                loss = float(loss_t.detach()) * rows / len(y_all)
                grad = inputs[-1].grad
            prev = comp
            # gradients back along the servers
            for k in range(len(self.segments) - 1, 0, -1):
                seg, before = self.segments[k], self.segments[k - 1]
                sent = job.send(seg.node, before.node, [grad], "gradients", (prev,), sparsify=True)
                bw = job.compute(before.node, backward_flops[k - 1], "backward", (sent.op,))
                server_ops += [sent.op, bw]
                if job.profile:
                    grad = _meta_like(inputs[k - 1])
                else:
                    outputs[k - 1].backward(sent.tensors[0])
                    grad = inputs[k - 1].grad
                prev = bw
            # server 1 -> every client: its own rows of the gradient; backward on the client
            sizes = [len(chunks[c][1][m]) for c in clients]
            for c, g in zip(clients, torch.split(grad, sizes)):
                sent = job.send(self.segments[0].node, client(c), [g], "gradients", (prev,), sparsify=True)
                bw = job.compute(client(c), acts[c][1], "backward", (sent.op,))
                client_ops[c] += [sent.op, bw]
                if not job.profile:
                    acts[c][0].backward(sent.tensors[0])
            micro_losses.append(loss)
        job.wait([op for ops in client_ops.values() for op in ops] + server_ops)
        failed = [c for c in clients if not job.all_ok(client_ops[c])]
        if failed or not job.all_ok(server_ops):
            self._discard(clients)
            return failed, math.nan
        if not job.profile:
            for seg in self.segments:
                seg.optimizer.step()
                seg.optimizer.zero_grad()
            for c in clients:
                opt = self.device_optimizer(job, c)
                opt.step()
                opt.zero_grad()
        rows_per_micro = [sum(len(chunks[c][1][m]) for c in clients) for m in range(micro)]
        loss = sum(l * r for l, r in zip(micro_losses, rows_per_micro)) / rows
        return [], loss

    def _discard(self, clients: Sequence[int]) -> None:
        """Drop the accumulated gradients of a pass that did not go through."""
        for seg in self.segments:
            seg.model.zero_grad()
        for c in clients:
            self.device_models[c].zero_grad()


def communication_steps(transfers: Sequence[TransferRecord], tags: Sequence[str] | None = None) -> int:
    """Sequential communication steps in ``transfers`` (a job's transfer log or part of it): transfers that
    started at the same simulated instant went in parallel and are one step; each distinct start time is
    one more step. ``tags``: count only transfers with these tags."""
    starts = {round(t.start_s, 12) for t in transfers if tags is None or t.tag in tags}
    return len(starts)

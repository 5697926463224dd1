"""Federated meta-learning: Reptile over clients (Nichol et al.'s Reptile; Ren et al.'s TinyReptile).

The server holds an *initialisation* w rather than a model meant to be used as it is: what it is for
is to be adapted, by a new client, with a few SGD steps on that client's own data
(:func:`ns6g.learners.adaptation.adaptation_accuracy` measures that).

Transfer sequence per client (``server`` = ``config.server``), the same messages as FedAvg's:

1. ``model_down``  server -> client   the initialisation w (parameters and float buffers)
2. ``train``       compute on client  ``inner_steps`` SGD steps on its own mini-batches (forward + backward FLOPs)
3. ``model_up``    client -> server   the adapted model w_c (with int8 / top-k: the update against 1.)

``reptile`` (synchronous, batched Reptile): every chosen client adapts from the same w; the server
waits for the uploads and takes the meta step ``w <- w + epsilon * mean_c(w_c - w)`` (an unweighted
mean: every client is one task). ``tinyreptile`` (TinyReptile's serial, online variant): the chosen
clients take turns, one at a time; each downloads the current w only after the previous client's upload
has arrived, and the server steps ``w <- w + epsilon * (w_c - w)`` at once. Its clients see each sample at
most once per round (online learning: the inner steps take the first ``inner_steps`` mini-batches of one
shuffled pass, wrapping round to a fresh pass only when the client has fewer).

With ``meta_step`` 1 and one client the new w is that client's adapted model; with ``meta_step`` 1 and
``inner_steps`` one pass of every client's data, ``reptile`` is FedAvg with an unweighted average.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from pydantic import Field

from ns6g.core.config import ScenarioConfig
from ns6g.learners.protocols.base import RoundOutcome
from ns6g.learners.protocols.federated import _GlobalModel

if TYPE_CHECKING:
    from torch import nn

    from ns6g.learners.engine import FlJob
    from ns6g.learners.records import Sent

__all__ = ["Reptile", "ReptileOptions", "TinyReptile", "inner_batches", "meta_step"]


class ReptileOptions(ScenarioConfig):
    """``protocol_options`` of ``reptile`` and ``tinyreptile``."""

    meta_step: float = Field(
        1.0, gt=0, le=1,
        description="outer (meta) step size epsilon, dimensionless in (0, 1]: the initialisation moves this "
        "share of the way toward the (mean) adapted model; 1 with one client: it becomes the adapted model",
    )
    meta_step_final: float | None = Field(
        None, gt=0, le=1,
        description="epsilon in the last round, reached by linear annealing from meta_step over config.rounds "
        "(Reptile's schedule); None: meta_step throughout",
    )
    inner_steps: int = Field(
        10, ge=1, le=100_000,
        description="inner SGD steps k per client per round, in mini-batches of config.batch_size samples "
        "(learning rate and momentum: config.learning_rate, config.momentum)",
    )


def inner_batches(job: FlJob, c: int, draw: int, steps: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``steps`` mini-batches of client ``c``'s shuffled passes (the pass of draw ``draw``, then
    fresh passes with their own draws when one pass has fewer batches than ``steps``). The first pass is
    FedAvg's batch order of the same round, so the two protocols can be compared step for step."""
    out = list(job.batches(c, draw))
    extra = 0
    while len(out) < steps:
        extra += 1
        out.extend(job.batches(c, draw + extra * 1_000_003))  # a draw no round of a job reaches
    return out[:steps]


def meta_step(
    init: list[torch.Tensor], adapted: list[list[torch.Tensor]], epsilon: float
) -> list[torch.Tensor]:
    """Reptile's outer update ``w + epsilon * mean_i(w_i - w)``, computed as ``(1 - epsilon) w + epsilon
    mean_i(w_i)`` tensor by tensor (so epsilon 1 gives the mean adapted model exactly). Meta tensors
    (profile mode) give meta tensors of the same shapes."""
    if not adapted:
        raise ValueError("meta_step needs at least one adapted model")
    out = []
    for i, w in enumerate(init):
        mean = sum(a[i] for a in adapted) / len(adapted)
        out.append((1 - epsilon) * w + epsilon * mean)
    return out


class Reptile(_GlobalModel):
    """Batched federated Reptile: all chosen clients adapt from the server's initialisation w with
    ``inner_steps`` SGD steps; the server moves w toward the mean adapted model by ``meta_step``."""

    name = "reptile"
    options = ReptileOptions
    robust = True

    def epsilon(self, job: FlJob, round_index: int) -> float:
        """The meta step of round ``round_index``: constant, or annealed linearly to ``meta_step_final``."""
        opts = self.settings(job.config)
        if opts.meta_step_final is None or job.config.rounds == 1:
            return float(opts.meta_step)
        frac = min(round_index, job.config.rounds - 1) / (job.config.rounds - 1)
        return float(opts.meta_step + frac * (opts.meta_step_final - opts.meta_step))

    def local_training(self, job: FlJob, c: int, draw: int, local: nn.Module) -> tuple[float, float]:
        """``inner_steps`` SGD steps of client ``c`` on ``local``, for real. Returns (mean training loss, NaN
        in profile mode; FLOPs)."""
        batches = inner_batches(job, c, draw, self.settings(job.config).inner_steps)
        flops = sum(sum(job.training_flops("full", local, x)) for x, _ in batches)
        return (math.nan if job.profile else job.sgd_steps(local, batches)), flops

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        return self.synchronous_round(job, round_index)

    def aggregation_weight(self, job: FlJob, c: int) -> float:
        return 1.0  # every client is one task

    def aggregate(self, job: FlJob, uploads: dict[int, Sent], round_index: int) -> None:
        """The meta step toward the mean adapted model, or toward ``config.defence``'s robust aggregate."""
        if job.config.defence.aggregator == "mean" and not job.config.privacy.enabled:
            adapted = [up.tensors for up in uploads.values()]
        else:
            adapted = [self.combine(job, uploads)]
        job.load_state(self.model, meta_step(job.state_of(self.model), adapted, self.epsilon(job, round_index)))


class TinyReptile(Reptile):
    """TinyReptile's serial, online federated Reptile: the chosen clients take turns (in index order);
    each adapts the current initialisation and the server steps toward its model before the next client
    downloads. A client whose transfer fails is dropped; the next one goes on from the same w."""

    name = "tinyreptile"
    robust = False  # serial steps, no aggregate over uploads

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        kept: list[int] = []
        dropped: list[int] = []
        losses: list[float] = []
        after: tuple[int, ...] = ()
        epsilon = self.epsilon(job, round_index)
        for c in job.round_clients:
            down, up, loss = self.client_cycle(job, c, round_index, after)
            job.wait([up.op])
            if not job.ok(up.op):
                dropped.append(c)
                after = ()  # the failed chain ends here; the next client starts from the server's w
                continue
            job.load_state(self.model, meta_step(job.state_of(self.model), [up.tensors], epsilon))
            kept.append(c)
            losses.append(loss)
            after = (up.op,)
        loss = float(np.mean(losses)) if losses else float("nan")
        return RoundOutcome(loss, tuple(kept), tuple(dropped))

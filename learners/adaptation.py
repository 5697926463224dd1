"""What federated meta-learning is for: accuracy on NEW clients after k local SGD steps from a learned
initialisation (docs/meta-learning.md).

A study is one :class:`~ns6g.learners.engine.FlJob` of ``config.clients`` clients whose last ``held_out``
clients never take part in training (:func:`train_and_adapt`): their data comes from the same partition as
everyone's (with ``partition: shards`` or ``dirichlet``, a label skew of their own), so they are new tasks
for the trained model. Each new client then splits its data into a support set (what it adapts on) and a
query set (what it is tested on), copies the initialisation, runs k SGD steps on support mini-batches
(``config.batch_size``, ``config.learning_rate``, ``config.momentum``) and is scored on its query set
(:func:`adaptation_accuracy`). Everything is drawn from ``config.seed`` and the client index, so the same
seed gives the same numbers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ns6g.learners.engine import FlJob, FlJobConfig
from ns6g.learners.network import Network
from ns6g.learners.records import JobResult

__all__ = ["DEFAULT_STEPS", "AdaptationResult", "adaptation_accuracy", "support_query", "train_and_adapt"]

#: the numbers of local SGD steps the study reports by default
DEFAULT_STEPS = (0, 1, 2, 5, 10)


def support_query(job: FlJob, client: int, support_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(support indices, query indices) into ``job.client_data[client]``: a random split (from
    ``config.seed`` and the client) with ``round(support_fraction x n)`` support samples, at least one of each."""
    if not 0 < support_fraction < 1:
        raise ValueError(f"support_fraction must lie in (0, 1), got {support_fraction}")
    n = job.samples(client)
    if n < 2:
        raise ValueError(f"client {client} has {n} sample(s); adapting and testing need at least 2")
    order = np.random.default_rng([job.config.seed, client, 0xADA97]).permutation(n)
    k = min(max(1, round(support_fraction * n)), n - 1)
    return order[:k], order[k:]


def adaptation_accuracy(
    job: FlJob,
    model: nn.Module,
    clients: Iterable[int],
    steps: Sequence[int] = DEFAULT_STEPS,
    support_fraction: float = 0.5,
) -> dict[int, list[float]]:
    """Per k in ``steps``: the query accuracy (fraction in [0, 1]) of every client in ``clients`` after k SGD
    steps from ``model`` on its support mini-batches (``config.batch_size`` samples each, shuffled passes
    from ``config.seed``; the job's optimiser: ``config.learning_rate``, ``config.momentum``). ``model`` is
    not changed (each client adapts its own copy); one run of max(steps) steps per client is scored at each k,
    which equals a separate run of k steps. Train mode only."""
    if job.profile:
        raise ValueError("adaptation_accuracy needs trained values; the job is in profile mode")
    ks = sorted(set(int(k) for k in steps))
    if not ks or ks[0] < 0:
        raise ValueError(f"steps must be non-negative step counts, got {list(steps)}")
    clients = list(clients)
    if not clients:
        raise ValueError("adaptation_accuracy needs at least one client")
    for c in clients:
        if not (isinstance(c, int | np.integer) and 0 <= c < job.config.clients):
            raise ValueError(f"client {c!r} is not one of the job's clients 0..{job.config.clients - 1}")
    out: dict[int, list[float]] = {k: [] for k in ks}
    for c in clients:
        x, y = job.client_data[c]
        support, query = (torch.as_tensor(i, device=x.device) for i in support_query(job, c, support_fraction))
        local = copy.deepcopy(model)
        opt = job.optimizer(local.parameters())
        batches = _support_batches(job, c, support, ks[-1])
        for step in range(ks[-1] + 1):
            if step in out:
                out[step].append(_accuracy(local, x[query], y[query]))
            if step == ks[-1]:
                break
            local.train()
            sel = batches[step]
            loss = F.cross_entropy(local(x[sel]), y[sel])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return out


def _support_batches(job: FlJob, c: int, support: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """``steps`` mini-batches of support indices: shuffled passes over the support set, each from its own draw."""
    out: list[torch.Tensor] = []
    size = job.config.batch_size
    n = len(support)
    epoch = 0
    while len(out) < steps:
        order = np.random.default_rng([job.config.seed, c, 0xADA97, epoch]).permutation(n)
        perm = support[torch.as_tensor(order, device=support.device)]
        out.extend(perm[s : s + size] for s in range(0, n, size))
        epoch += 1
    return out[:steps]


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    was_training = model.training
    model.eval()
    correct = sum(int((model(x[s : s + 1024]).argmax(dim=1) == y[s : s + 1024]).sum()) for s in range(0, len(y), 1024))
    model.train(was_training)
    return correct / len(y)


@dataclass(frozen=True)
class AdaptationResult:
    """What :func:`train_and_adapt` measured."""

    #: the training job's result (rounds over the training clients only, transfer log)
    job: JobResult
    #: the clients that never trained (the new clients)
    held_out: tuple[int, ...]
    #: k -> query accuracy of every held-out client after k local steps (in ``held_out``'s order)
    per_client: dict[int, list[float]]

    @property
    def mean(self) -> dict[int, float]:
        """k -> mean query accuracy over the held-out clients."""
        return {k: float(np.mean(v)) for k, v in self.per_client.items()}


def train_and_adapt(
    config: FlJobConfig | dict[str, Any],
    held_out: int,
    steps: Sequence[int] = DEFAULT_STEPS,
    network: Network | None = None,
    support_fraction: float = 0.5,
    on_round: Callable[[Any], None] | None = None,
) -> AdaptationResult:
    """Train ``config`` (any whole-model protocol: ``reptile``, ``tinyreptile``, ``fedavg``, ...) for
    ``config.rounds`` rounds on clients ``0 .. clients - held_out - 1`` only, then measure
    :func:`adaptation_accuracy` of its model on the ``held_out`` last clients. ``network``: where the
    training's transfers run (e.g. a ``CoSimNetwork`` with at least ``config.clients`` clients; left open);
    default no network. ``on_round``: called with each round's record (progress)."""
    cfg = FlJobConfig.from_user(config)
    if not 1 <= held_out < cfg.clients:
        raise ValueError(f"held_out must be between 1 and clients - 1 = {cfg.clients - 1}, got {held_out}")
    job = FlJob(cfg, network=network)
    try:
        models = job.protocol.eval_models(job)
        if len(models) != 1 or job.protocol.split:
            raise ValueError(f"protocol {cfg.protocol!r} does not keep one whole global model to adapt")
        if job.profile:
            raise ValueError("train_and_adapt needs mode 'train' (profile mode has no trained values)")
        training = range(cfg.clients - held_out)
        for _ in range(cfg.rounds):
            record = job.run_round(clients=training)
            if on_round is not None:
                on_round(record)
        new = tuple(range(cfg.clients - held_out, cfg.clients))
        per_client = adaptation_accuracy(job, job.protocol.eval_models(job)[0], new, steps, support_fraction)
        return AdaptationResult(job.result(), new, per_client)
    finally:
        job.close()

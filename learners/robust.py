"""Poisoning attacks by a fraction of the clients, and robust aggregation at the server.

Two configurations, both fields of :class:`ns6g.learners.engine.FlJobConfig`:

- ``attack`` (:class:`AttackOptions`): ``kind`` and the ``fraction`` of clients that are attackers. The
  attackers are the same clients every round, drawn once from the job's seed (:func:`attackers`).

  ============================  ===============================================================================
  ``label_flip``                the attacker's training labels are mapped ``y -> C - 1 - y`` (C classes); it
                                trains and uploads as an honest client would
  ``sign_flip``                 the attacker trains honestly and uploads ``w + (-sign_scale) (w_c - w)``: its
                                update negated and scaled (w: the model it downloaded, w_c: its trained one)
  ``model_replacement``         the attacker's target model X is trained on flipped labels; it uploads
                                ``w + boost (X - w)`` with ``boost`` = (total aggregation weight of the round's
                                clients) / (the attackers' weight) unless set: under FedAvg, when the honest
                                updates are small, the average becomes ~X (Bagdasaryan et al.'s model
                                replacement; the attacker is assumed to know the weights, as there)
  ============================  ===============================================================================

- ``defence`` (:class:`DefenceOptions`): ``aggregator`` and its parameters; :func:`robust_aggregate`.

  ==================  ===========================================================================================
  ``mean``            the protocol's own aggregation (FedAvg: weighted by samples); no defence
  ``median``          coordinate-wise median (Yin et al.); Flower's ``aggregate_median``
  ``trimmed_mean``    coordinate-wise mean after dropping ``floor(trim_beta x n)`` largest and smallest values
                      (Yin et al.); Flower's ``aggregate_trimmed_avg``
  ``krum``            the upload with the smallest sum of squared distances to its ``n - f - 2`` nearest
                      others (Blanchard et al.), ``f = krum_f``; Flower's ``aggregate_krum``
  ``multi_krum``      the sample-weighted mean of the ``multi_krum_m`` uploads with the best Krum scores;
                      Flower's ``aggregate_krum``
  ``norm_clip``       every update ``w_c - w`` clipped to L2 norm ``clip_norm``, then the weighted mean (Sun et
                      al.'s norm bounding); our own (see :func:`_norm_clip`)
  ==================  ===========================================================================================

The median, trimmed mean and Krum rules do not weight by sample counts (as Flower's); each is invariant
to the reference model, so they are applied to the uploaded models directly.

- ``privacy`` (:class:`PrivacyOptions`): client-level differential privacy (DP-FedAvg, McMahan et al.
  2018, with Flower's client-side fixed clipping): every client clips its update ``w_c - w`` to L2 norm
  ``clip_norm`` (S) before the upload; the server adds Gaussian noise of standard deviation
  ``noise_multiplier x S x max_c(weight_c) / sum_c(weight_c)`` (z S times the largest client share: the
  sensitivity of the weighted mean to one client) to every coordinate of the mean; opacus's RDP
  accountant turns (z, share of clients per round, rounds) into the epsilon spent at ``delta``
  (:func:`dp_epsilon`). Needs the ``mean`` aggregator (the noise is calibrated to the mean's sensitivity).

They apply to the protocols that aggregate whole-model uploads through the ``aggregate`` hook of
:class:`~ns6g.learners.protocols.federated._GlobalModel` (:attr:`Protocol.robust`: fedavg, fedprox,
reptile); any other protocol refuses a non-default ``attack`` or ``defence`` by name. Profile mode runs
them unchanged in transfers and FLOPs (the aggregation is elementwise and never counted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from ns6g.core.config import ScenarioConfig

__all__ = ["AGGREGATORS", "ATTACKS", "AttackOptions", "DefenceOptions", "PrivacyOptions", "attackers", "clip_update",
           "dp_epsilon", "flip_labels", "poisoned_upload", "robust_aggregate"]

ATTACKS = ("none", "label_flip", "sign_flip", "model_replacement")
AGGREGATORS = ("mean", "median", "trimmed_mean", "krum", "multi_krum", "norm_clip")


class AttackOptions(ScenarioConfig):
    """``FlJobConfig.attack``: who attacks and how (module docstring)."""

    kind: Literal["none", "label_flip", "sign_flip", "model_replacement"] = Field(
        "none", description="the attack of the attacking clients (none: every client is honest)")
    fraction: float = Field(
        0.0, ge=0, lt=1,
        description="share of the clients that attack, in [0, 1); round(fraction x clients) clients, the same "
        "every round, drawn from the job's seed")
    sign_scale: float = Field(
        1.0, gt=0, le=1e6, description="sign_flip: the uploaded update is -sign_scale x the trained update")
    boost: float | None = Field(
        None, gt=0, le=1e6,
        description="model_replacement: the update X - w is scaled by this; None: the round's total aggregation "
        "weight over the attackers' (replaces the FedAvg average by X)")

    @model_validator(mode="after")
    def _fraction_matches_kind(self) -> AttackOptions:
        if self.kind == "none" and self.fraction > 0:
            raise ValueError(f"fraction: {self.fraction} of the clients attack but kind is 'none'; set kind "
                             f"({', '.join(ATTACKS[1:])})")
        if self.kind != "none" and self.fraction == 0:
            raise ValueError(f"fraction: kind {self.kind!r} needs a share of attacking clients in (0, 1), got 0")
        return self


class DefenceOptions(ScenarioConfig):
    """``FlJobConfig.defence``: the server's aggregation rule (module docstring)."""

    aggregator: Literal["mean", "median", "trimmed_mean", "krum", "multi_krum", "norm_clip"] = Field(
        "mean", description="aggregation rule of the server (mean: the protocol's own, no defence)")
    trim_beta: float = Field(
        0.2, ge=0, lt=0.5,
        description="trimmed_mean: share of the uploads dropped at each end, per coordinate, in [0, 0.5)")
    krum_f: int = Field(1, ge=0, le=10_000, description="krum, multi_krum: attackers the rule tolerates, f; "
                        "needs at least 2f + 3 uploads")
    multi_krum_m: int = Field(2, ge=1, le=100_000, description="multi_krum: uploads averaged, m <= n - f")
    clip_norm: float = Field(1.0, gt=0, le=1e6, description="norm_clip: largest L2 norm of an update w_c - w "
                             "(all float tensors of the model together)")

    def check_uploads(self, n: int) -> None:
        """ValueError naming the option when ``n`` uploads are too few for the rule."""
        if self.aggregator in ("krum", "multi_krum") and n < 2 * self.krum_f + 3:
            raise ValueError(f"krum_f: {self.aggregator} with f = {self.krum_f} needs at least 2f + 3 = "
                             f"{2 * self.krum_f + 3} uploads per round, got {n} clients")
        if self.aggregator == "multi_krum" and self.multi_krum_m > n - self.krum_f:
            raise ValueError(f"multi_krum_m: {self.multi_krum_m} is more than n - f = {n - self.krum_f} uploads "
                             f"(n = {n} clients, krum_f = {self.krum_f})")


class PrivacyOptions(ScenarioConfig):
    """``FlJobConfig.privacy``: client-level differential privacy (module docstring)."""

    noise_multiplier: float = Field(
        0.0, ge=0, le=1e3,
        description="z: Gaussian noise std on the mean, in units of clip_norm x the largest client share; 0: no "
        "differential privacy (no clipping, no noise)")
    clip_norm: float = Field(1.0, gt=0, le=1e6, description="S: every client's update w_c - w is clipped to this "
                             "L2 norm (all float tensors of the model together) before the upload")
    delta: float = Field(1e-5, gt=0, lt=1, description="delta of the (epsilon, delta) guarantee the accountant reports")

    @property
    def enabled(self) -> bool:
        return self.noise_multiplier > 0


def clip_update(pulled: Sequence[torch.Tensor], trained: Sequence[torch.Tensor], clip_norm: float) -> list[torch.Tensor]:
    """``trained`` with its update against ``pulled`` scaled down to L2 norm ``clip_norm`` at most."""
    update = [t - p for p, t in zip(pulled, trained, strict=True)]
    if update and update[0].is_meta:
        return list(trained)
    scale = _clip_scale(update, clip_norm)
    return [p + scale * u for p, u in zip(pulled, update)]


def _clip_scale(update: Sequence[torch.Tensor], clip_norm: float) -> float:
    """The factor that brings ``update``'s L2 norm (over all its tensors) down to ``clip_norm`` at most
    (1 for an update within it, or a zero update)."""
    norm = float(torch.sqrt(sum((u.double() ** 2).sum() for u in update)))
    return min(1.0, clip_norm / norm) if norm > 0 else 1.0


def dp_epsilon(noise_multiplier: float, sample_rates: Sequence[float], delta: float) -> float:
    """Epsilon spent at ``delta`` by Gaussian-mechanism rounds of noise multiplier z, one per entry of
    ``sample_rates`` (the share of the clients in that round): opacus's RDP accountant. ``inf`` without
    noise, 0 without rounds. (The accountant assumes Poisson sampling of clients; a fixed share per round
    is the usual approximation; with every client in every round the rate is 1 and there is none.)"""
    if not sample_rates:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()  # rounds of the same rate are one entry of its history
    accountant.history = [(float(noise_multiplier), float(r), list(sample_rates).count(r))
                          for r in sorted(set(sample_rates))]
    return float(accountant.get_epsilon(delta))


def attackers(options: AttackOptions, clients: int, seed: int) -> tuple[int, ...]:
    """The attacking clients (sorted indices): ``round(fraction x clients)`` of them, drawn without
    replacement from ``(seed, "attack")``; the same every round and for every protocol of a seed.
    ValueError when a fraction > 0 rounds to no client."""
    if options.kind == "none":
        return ()
    count = math.floor(options.fraction * clients + 0.5)
    if count == 0:
        raise ValueError(f"fraction: {options.fraction} of {clients} clients rounds to no attacker; raise it to "
                         f">= {0.5 / clients:.3g}")
    rng = np.random.default_rng([seed, 0xA77AC])
    return tuple(sorted(int(c) for c in rng.choice(clients, size=count, replace=False)))


def flip_labels(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Label flipping: ``y -> C - 1 - y``."""
    return (num_classes - 1) - y


def poisoned_upload(
    options: AttackOptions, pulled: Sequence[torch.Tensor], trained: Sequence[torch.Tensor], boost: float
) -> list[torch.Tensor]:
    """What an attacker uploads instead of ``trained``, given the model it ``pulled``: sign_flip:
    ``w - sign_scale (w_c - w)``; model_replacement: ``w + boost (X - w)`` (``trained`` is its target X;
    ``options.boost`` wins over ``boost``); label_flip: ``trained`` as it is (the poison is in the data)."""
    if options.kind == "sign_flip":
        return [p - options.sign_scale * (t - p) for p, t in zip(pulled, trained, strict=True)]
    if options.kind == "model_replacement":
        gamma = options.boost if options.boost is not None else boost
        return [p + gamma * (t - p) for p, t in zip(pulled, trained, strict=True)]
    return list(trained)


def robust_aggregate(
    options: DefenceOptions,
    states: Sequence[Sequence[torch.Tensor]],
    weights: Sequence[float],
    reference: Sequence[torch.Tensor],
) -> list[torch.Tensor]:
    """The aggregate of the uploaded model ``states`` (one list of tensors per client, in the same order)
    by ``options.aggregator``; ``weights``: the clients' aggregation weights (samples), used by mean,
    multi_krum and norm_clip; ``reference``: the model the clients started from (norm_clip's updates are
    taken against it). Meta tensors (profile mode) give meta tensors of the same shapes."""
    if not states:
        raise ValueError("robust_aggregate needs at least one upload")
    options.check_uploads(len(states))
    if states[0] and states[0][0].is_meta:
        return [torch.empty(t.shape, dtype=t.dtype, device="meta") for t in states[0]]
    rule = options.aggregator
    if rule == "mean":
        return _weighted_mean([list(s) for s in states], weights)
    if rule == "norm_clip":
        return _norm_clip(states, weights, reference, options.clip_norm)
    from flwr.server.strategy.aggregate import aggregate_krum, aggregate_median, aggregate_trimmed_avg

    like = states[0]
    results = [([t.detach().cpu().numpy() for t in s], int(round(w))) for s, w in zip(states, weights, strict=True)]
    if rule == "median":
        out = aggregate_median(results)
    elif rule == "trimmed_mean":
        out = aggregate_trimmed_avg(results, options.trim_beta)
    elif rule == "krum":
        out = aggregate_krum(results, options.krum_f, to_keep=0)
    else:  # multi_krum
        out = aggregate_krum(results, options.krum_f, to_keep=options.multi_krum_m)
    return [torch.as_tensor(np.asarray(a), dtype=t.dtype, device=t.device).reshape(t.shape) for a, t in zip(out, like)]


def _weighted_mean(states: list[list[torch.Tensor]], weights: Sequence[float]) -> list[torch.Tensor]:
    total = float(sum(weights))
    return [sum(w / total * s[i] for s, w in zip(states, weights)) for i in range(len(states[0]))]


def _norm_clip(
    states: Sequence[Sequence[torch.Tensor]], weights: Sequence[float], reference: Sequence[torch.Tensor],
    clip_norm: float,
) -> list[torch.Tensor]:
    """Norm bounding: every update clipped to L2 norm ``clip_norm``, then the weighted mean added to the
    reference. Our own rather than Flower's ``clip_inputs_inplace``: that lives in the internal
    ``flwr.supercore.differential_privacy`` module (no stable API) and divides by the update's norm as a
    Python float, so a client that uploads the model unchanged (norm 0) raises ZeroDivisionError."""
    clipped = []
    for s in states:
        update = [t - r for t, r in zip(s, reference, strict=True)]
        scale = _clip_scale(update, clip_norm)
        clipped.append([u * scale for u in update])
    mean = _weighted_mean(clipped, weights)
    return [r + m for r, m in zip(reference, mean, strict=True)]

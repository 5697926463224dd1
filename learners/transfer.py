"""Transfer-learning pieces for (federated) transfer learning: domain-discrepancy losses, freezing the
transferred layers t_S of a source model, copying t_S and its size on the wire.

Discrepancies between source features ``xs`` (n x d) and target features ``xt`` (m x d):

``mmd2``   squared maximum mean discrepancy with a Gaussian kernel k(x, y) = exp(-|x - y|^2 / (2 s^2)),
           averaged over the bandwidths s given; the biased (V-statistic) estimate
           mean k(xs, xs') + mean k(xt, xt') - 2 mean k(xs, xt), which is >= 0 and exactly 0 for identical
           samples. Default bandwidth: the median heuristic, s^2 = median of the pooled pairwise squared
           distances / 2 (computed without gradient).
``coral``  Deep CORAL: |C_s - C_t|_F^2 / (4 d^2) with C the unbiased feature covariances; 0 when the
           covariances are equal, whatever the means.

The target loss of TL / FTL personalisation is task loss + weight x discrepancy (:func:`adaptation_loss`).
The discrepancy is taken on features *after* at least one trainable block: features made only by frozen
layers do not depend on the trainable parameters, so the term would have no gradient (refused).

Transferred layers. Models are ``nn.Sequential`` of named top-level blocks (the zoo of
:mod:`ns6g.learners.models`); t_S is a list of those block names. :func:`freeze_layers` makes them
untrainable *and* keeps them in eval mode (a forward pre-hook), so batch-norm running statistics in t_S do
not drift either. :func:`transferred_state` / :func:`copy_layers` give and copy t_S's parameters and
buffers; :func:`ns6g.learners.peft_adapters.state_nbytes` of that state is what the server sends down once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ns6g.learners.peft_adapters import state_nbytes

__all__ = [
    "adaptation_loss",
    "copy_layers",
    "coral",
    "discrepancy",
    "freeze_layers",
    "mmd2",
    "transferred_state",
]


def _check_features(xs: torch.Tensor, xt: torch.Tensor, min_rows: int) -> None:
    if xs.dim() != 2 or xt.dim() != 2 or xs.shape[1] != xt.shape[1]:
        raise ValueError(f"features must be (n, d) and (m, d), got {tuple(xs.shape)} and {tuple(xt.shape)}")
    if xs.shape[0] < min_rows or xt.shape[0] < min_rows:
        raise ValueError(f"need at least {min_rows} rows of each, got {xs.shape[0]} and {xt.shape[0]}")


def mmd2(xs: torch.Tensor, xt: torch.Tensor, bandwidths: Sequence[float] | None = None) -> torch.Tensor:
    """Squared MMD (scalar tensor, differentiable) between ``xs`` (n, d) and ``xt`` (m, d) with a
    Gaussian kernel of the given bandwidths (feature units; None: median heuristic)."""
    _check_features(xs, xt, 1)
    pooled = torch.cat([xs, xt])
    sq = torch.cdist(pooled, pooled).pow(2)
    if bandwidths is None:
        off_diagonal = sq.detach()[~torch.eye(len(pooled), dtype=torch.bool, device=pooled.device)]
        median = off_diagonal.median() if off_diagonal.numel() else torch.tensor(1.0)
        sigma2 = [float(median) / 2 if float(median) > 0 else 1.0]
    else:
        if not bandwidths or any(not s > 0 for s in bandwidths):
            raise ValueError(f"bandwidths must be positive numbers, got {bandwidths!r}")
        sigma2 = [float(s) ** 2 for s in bandwidths]
    kernel = sum(torch.exp(-sq / (2 * s2)) for s2 in sigma2) / len(sigma2)
    n = xs.shape[0]
    return kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean()


def coral(xs: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
    """Deep CORAL loss (scalar tensor): squared Frobenius distance of the feature covariances / (4 d^2)."""
    _check_features(xs, xt, 2)
    d = xs.shape[1]
    return (torch.cov(xs.T).reshape(d, d) - torch.cov(xt.T).reshape(d, d)).pow(2).sum() / (4 * d * d)


Discrepancy = Literal["mmd", "coral"]
_DISCREPANCIES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mmd": mmd2,
    "coral": coral,
}


def discrepancy(kind: Discrepancy, xs: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
    """``mmd2`` (default bandwidth) or ``coral`` by name."""
    try:
        fn = _DISCREPANCIES[kind]
    except KeyError:
        raise ValueError(f"unknown discrepancy {kind!r}; valid: {', '.join(_DISCREPANCIES)}") from None
    return fn(xs, xt)


# --------------------------------------------------------------------------------------------------
# transferred layers


def _blocks(model: nn.Module, names: Sequence[str]) -> list[nn.Module]:
    children = dict(model.named_children())
    unknown = [n for n in names if n not in children]
    if unknown:
        raise ValueError(
            f"layer(s) {unknown} are not top-level blocks of the model; blocks: {', '.join(children)}"
        )
    return [children[n] for n in names]


def _stay_in_eval(module: nn.Module, args: tuple) -> None:
    if module.training:
        module.eval()


def freeze_layers(model: nn.Module, names: Sequence[str]) -> int:
    """Freeze the top-level blocks ``names`` (t_S): no gradients, and always in eval mode (batch-norm
    statistics stay as transferred, dropout off) even after ``model.train()``. Returns the number of
    frozen parameters (elements)."""
    frozen = 0
    for block in _blocks(model, names):
        for p in block.parameters():
            p.requires_grad_(False)
            frozen += p.numel()
        block.eval()
        block.register_forward_pre_hook(_stay_in_eval)
    return frozen


def transferred_state(model: nn.Module, names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Detached copies of the parameters and buffers of blocks ``names``, keyed as in the model's state
    dict (``<block>.<name>``): what the server sends for t_S."""
    _blocks(model, names)
    prefixes = tuple(f"{n}." for n in names)
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(prefixes)}


def copy_layers(source: nn.Module, target: nn.Module, names: Sequence[str]) -> int:
    """Copy blocks ``names`` (parameters and buffers) from ``source`` into ``target``, which must have
    the same blocks; returns the bytes transferred."""
    state = transferred_state(source, names)
    expected = transferred_state(target, names)
    wrong = [k for k in state.keys() & expected.keys() if state[k].shape != expected[k].shape]
    if state.keys() != expected.keys() or wrong:
        raise ValueError(
            f"the target's blocks {list(names)} differ from the source's: only in the source "
            f"{sorted(state.keys() - expected.keys())}, "
            f"only in the target {sorted(expected.keys() - state.keys())}, "
            f"shapes differ {sorted(wrong)}"
        )
    target.load_state_dict(state, strict=False)
    return state_nbytes(state)


def adaptation_loss(
    model: nn.Sequential,
    feature_blocks: int,
    source_x: torch.Tensor,
    target_x: torch.Tensor,
    target_y: torch.Tensor,
    kind: Discrepancy = "mmd",
    weight: float = 1.0,
) -> torch.Tensor:
    """Target task loss + ``weight`` x discrepancy between the features of source and target inputs.

    Features are the output of the first ``feature_blocks`` blocks, flattened to (batch, features); the
    task loss is the cross-entropy of the model's output on ``target_x`` against ``target_y``. The source
    batch carries no labels (it only anchors the feature distribution).

    Raises:
        ValueError: if ``feature_blocks`` is out of range or every block before it is frozen.
    """
    blocks = list(model.children())
    if not 1 <= feature_blocks < len(blocks):
        raise ValueError(f"feature_blocks={feature_blocks} is not in 1..{len(blocks) - 1}")
    if not any(p.requires_grad for b in blocks[:feature_blocks] for p in b.parameters()):
        raise ValueError(
            f"the first {feature_blocks} blocks are all frozen: the discrepancy would have no gradient; "
            "take features after a trainable block"
        )
    if not weight >= 0:
        raise ValueError(f"weight must be >= 0, got {weight!r}")
    features = nn.Sequential(*blocks[:feature_blocks])
    rest = nn.Sequential(*blocks[feature_blocks:])
    ft = features(target_x)
    task = F.cross_entropy(rest(ft), target_y)
    fs = features(source_x)
    return task + weight * discrepancy(kind, fs.flatten(1), ft.flatten(1))

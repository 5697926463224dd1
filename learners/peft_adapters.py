"""Federated parameter-efficient fine-tuning: adapters through the ``peft`` library, the adapter state
that goes over the wire, FedAvg of states, heterogeneous LoRA ranks and client clustering.

Adapters (:func:`apply_adapter`, configured by :class:`AdapterConfig`):

``lora``    W = W0 + (alpha / r) B A on each target matrix W0 (d_in x d_out): A is r x d_in, B is
            d_out x r, so one adapted matrix carries r (d_in + d_out) values instead of d_in d_out.
            Defaults: GPT-2 ``c_attn`` (the fused d x 3d QKV projection), BERT ``query`` and ``value``.
            ``alpha`` defaults to ``rank`` (scaling 1 at every rank; see HetLoRA below).
``prompt``  prompt tuning: ``virtual_tokens`` trainable input embeddings (virtual_tokens x d) prepended
            to every sequence, initialised from the embeddings of randomly drawn vocabulary tokens.
``prefix``  prefix tuning: trainable keys and values for ``virtual_tokens`` positions in every layer
            (virtual_tokens x 2 x layers x d, no reparametrisation MLP), as peft's PrefixTuningConfig.

For the sequence classifier peft also trains (and so sends) the classification head.

Wire state. :func:`adapter_state` returns the trainable tensors only, by parameter name, detached
copies; :func:`state_nbytes` is their exact payload size (numel x element size). :func:`load_adapter_state`
writes a state back, refusing missing, unexpected or mis-shaped entries.

Aggregation. :func:`average_states` is FedAvg (weights are usually the clients' sample counts);
:func:`group_average` averages within groups and returns each group's total weight, which serves both
clustered FL (each cluster keeps its own average, CFL-LoRA) and hierarchical aggregation (edge groups,
then :func:`average_states` of the group states by their totals = the flat average).

Heterogeneous LoRA ranks (HetLoRA-style, Cho et al. 2024, zero-padding aggregation). Client k trains rank
r_k. :func:`hetlora_aggregate` pads every A (r_k x d_in) with zero rows and every B (d_out x r_k) with zero
columns up to r_max and averages; the global adapter has rank r_max. :func:`hetlora_truncate` gives client
k the first r_k rows of A and columns of B. A rank-component that only high-rank clients train is so
diluted by the others' zeros; HetLoRA's self-pruning and sparsity-weighted aggregation are not modelled.
With the default alpha = rank every client's scaling is 1, so a component means the same at every rank.

Clustering for CFL-LoRA. :func:`clusters_by_domain` groups clients that share a data domain (the oracle
clustering, as paper 003's 4 domain clusters); :func:`cluster_updates` groups clients by the direction of
their adapter updates after a round (:func:`flatten_update`): the mean update is subtracted (the drift all
clients share), then spherical k-means (cosine similarity), best of several seeded k-means++ starts,
labels numbered in order of first appearance so that the same input gives the same labels.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

import torch
from pydantic import Field, field_validator
from torch import nn

from ns6g.core.config import ScenarioConfig
from ns6g.learners.text_models import positions_of, seeded

__all__ = [
    "AdapterConfig",
    "adapter_state",
    "apply_adapter",
    "average_states",
    "cluster_updates",
    "clusters_by_domain",
    "flatten_update",
    "group_average",
    "hetlora_aggregate",
    "hetlora_truncate",
    "load_adapter_state",
    "lora_rank",
    "state_nbytes",
]

State = dict[str, torch.Tensor]

# LoRA targets when none are given: attention projections, as the LoRA paper and peft's own defaults.
_DEFAULT_LORA_TARGETS = {"gpt2": ("c_attn",), "bert": ("query", "value")}


class AdapterConfig(ScenarioConfig):
    """Which adapter to add and its size."""

    method: Literal["lora", "prompt", "prefix"] = Field(
        "lora", description="LoRA, prompt tuning or prefix tuning"
    )
    rank: int = Field(8, ge=1, le=65_536, description="LoRA rank r (rows of A, columns of B)")
    alpha: float | None = Field(None, gt=0, description="LoRA alpha (scaling alpha / r); None: alpha = rank")
    target_modules: tuple[str, ...] | None = Field(
        None, description="names (suffixes) of the modules LoRA adapts; None: the model type's default"
    )
    lora_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the LoRA input (probability)")
    virtual_tokens: int = Field(16, ge=1, le=65_536, description="prompt/prefix length (virtual tokens)")

    @field_validator("target_modules", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value


def _task_type(model: nn.Module) -> Any:
    """peft's task type for our two text models; None for any other module (LoRA only)."""
    from peft import TaskType

    config = getattr(model, "config", None)
    if config is None:
        return None
    if type(model).__name__.endswith("ForSequenceClassification"):
        return TaskType.SEQ_CLS
    if type(model).__name__.endswith("LMHeadModel") or type(model).__name__.endswith("ForCausalLM"):
        return TaskType.CAUSAL_LM
    return None


def apply_adapter(
    model: nn.Module, config: AdapterConfig | dict[str, Any] | None = None, seed: int = 0, **overrides: Any
) -> nn.Module:
    """Wrap ``model`` in a peft model with the configured adapter; only the adapter is trainable. The
    adapter's random initialisation is seeded by ``seed`` (the caller's RNG is left as it was).

    ``model`` is a model from :mod:`ns6g.learners.text_models`; LoRA also accepts any ``nn.Module``
    with ``target_modules`` naming its ``nn.Linear`` layers. The model is modified in place.

    Raises:
        ConfigError: for a bad configuration.
        ValueError: if a target module is not in the model, or prompt/prefix tuning is asked of a model
            that is not a transformers language model or classifier, or leaves no position for the input.
    """
    from peft import LoraConfig, PrefixTuningConfig, PromptTuningConfig, PromptTuningInit, get_peft_model

    cfg = AdapterConfig.from_user(config, **overrides)
    task_type = _task_type(model)
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if cfg.method == "lora":
        targets = cfg.target_modules or _DEFAULT_LORA_TARGETS.get(model_type)
        if not targets:
            raise ValueError(f"no default LoRA target for a {type(model).__name__}: give target_modules")
        names = [name for name, _ in model.named_modules()]
        missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
        if missing:
            raise ValueError(f"LoRA target module(s) {missing} are not in the {type(model).__name__}")
        peft_config = LoraConfig(
            task_type=task_type,
            r=cfg.rank,
            lora_alpha=cfg.alpha if cfg.alpha is not None else cfg.rank,
            target_modules=list(targets),
            lora_dropout=cfg.lora_dropout,
            fan_in_fan_out=model_type == "gpt2",  # GPT-2's Conv1D stores W as (d_in, d_out)
        )
    else:
        if task_type is None:
            raise ValueError(
                f"{cfg.method} tuning needs a transformers language model or classifier, "
                f"got {type(model).__name__}"
            )
        positions = positions_of(model)
        if positions is not None and cfg.virtual_tokens >= positions:
            raise ValueError(
                f"virtual_tokens={cfg.virtual_tokens} leaves no position for the input: the model has "
                f"{positions} positions (inputs may be at most positions - virtual_tokens long)"
            )
        if cfg.method == "prompt":
            peft_config = PromptTuningConfig(
                task_type=task_type,
                num_virtual_tokens=cfg.virtual_tokens,
                prompt_tuning_init=PromptTuningInit.SAMPLE_VOCAB,
            )
        else:
            peft_config = PrefixTuningConfig(
                task_type=task_type, num_virtual_tokens=cfg.virtual_tokens, prefix_projection=False
            )
    return seeded(seed, lambda: get_peft_model(model, peft_config))


# --------------------------------------------------------------------------------------------------
# the state on the wire


def adapter_state(model: nn.Module) -> State:
    """Detached copies of the model's trainable tensors, by parameter name (what a client uploads)."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def load_adapter_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Copy ``state`` into the model's trainable tensors (what a client does with a download).

    Raises:
        ValueError: naming the missing, unexpected or mis-shaped entries.
    """
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    missing = sorted(set(params) - set(state))
    unexpected = sorted(set(state) - set(params))
    wrong = [
        f"{n}: {tuple(state[n].shape)} vs {tuple(params[n].shape)}"
        for n in sorted(set(params) & set(state))
        if state[n].shape != params[n].shape
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"adapter state does not fit the model: missing {missing}, unexpected {unexpected}, "
            f"shapes {wrong}"
        )
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(state[name])


def state_nbytes(state: Mapping[str, torch.Tensor]) -> int:
    """Exact payload of a state: sum of numel x element size (bytes)."""
    return sum(t.numel() * t.element_size() for t in state.values())


def average_states(
    states: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float] | None = None
) -> State:
    """FedAvg: sum_k w_k state_k / sum_k w_k, entry by entry (equal weights if None). Accumulates in
    float64 and returns each entry in its original dtype (integer entries rounded).

    Raises:
        ValueError: for no state, weights of the wrong length, negative or all-zero weights, or states
            whose names or shapes differ.
    """
    if not states:
        raise ValueError("no state to average")
    weights = [1.0] * len(states) if weights is None else [float(w) for w in weights]
    if len(weights) != len(states):
        raise ValueError(f"{len(weights)} weights for {len(states)} states")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")
    first = states[0]
    for k, state in enumerate(states[1:], start=1):
        if set(state) != set(first):
            raise ValueError(
                f"state {k} has entries {sorted(set(state) ^ set(first))} that state 0 does not share"
            )
        for name, t in state.items():
            if t.shape != first[name].shape:
                raise ValueError(
                    f"state {k} entry {name!r} has shape {tuple(t.shape)}, state 0 {tuple(first[name].shape)}"
                )
    total = sum(weights)
    out = {}
    for name, ref in first.items():
        acc = sum(w / total * s[name].to(torch.float64) for w, s in zip(weights, states))
        out[name] = (acc.round() if not ref.dtype.is_floating_point else acc).to(ref.dtype)
    return out


def group_average(
    states: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float], groups: Sequence[Hashable]
) -> dict[Hashable, tuple[State, float]]:
    """FedAvg within each group: ``{group: (average state, total weight)}``, groups in first-seen order.
    Clustered FL keeps each group's state; hierarchical FL averages the group states by total weight."""
    if not (len(states) == len(weights) == len(groups)):
        raise ValueError(
            f"{len(states)} states, {len(weights)} weights and {len(groups)} groups differ in number"
        )
    members: dict[Hashable, list[int]] = {}
    for k, g in enumerate(groups):
        members.setdefault(g, []).append(k)
    return {
        g: (
            average_states([states[k] for k in ks], [weights[k] for k in ks]),
            float(sum(weights[k] for k in ks)),
        )
        for g, ks in members.items()
    }


# --------------------------------------------------------------------------------------------------
# heterogeneous LoRA ranks


def _rank_axis(name: str) -> int | None:
    """The rank dimension of a LoRA tensor: 0 for A (r x d_in), 1 for B (d_out x r), None otherwise."""
    if ".lora_A." in name:
        return 0
    if ".lora_B." in name:
        return 1
    return None


def lora_rank(state: Mapping[str, torch.Tensor]) -> int:
    """The LoRA rank of an adapter state. Raises ValueError if it holds no LoRA tensor or mixed ranks."""
    ranks = {t.shape[axis] for name, t in state.items() if (axis := _rank_axis(name)) is not None}
    if len(ranks) != 1:
        raise ValueError(f"expected one LoRA rank in the state, found {sorted(ranks) or 'no LoRA tensor'}")
    return ranks.pop()


def _resize_rank(state: Mapping[str, torch.Tensor], rank: int) -> State:
    """Zero-pad or truncate every LoRA tensor of ``state`` to ``rank`` along its rank axis."""
    out = {}
    for name, t in state.items():
        axis = _rank_axis(name)
        if axis is None:
            out[name] = t.clone()
        elif t.shape[axis] >= rank:
            out[name] = t.narrow(axis, 0, rank).clone()
        else:
            pad_shape = list(t.shape)
            pad_shape[axis] = rank - t.shape[axis]
            out[name] = torch.cat([t, t.new_zeros(pad_shape)], dim=axis)
    return out


def hetlora_aggregate(
    states: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float] | None = None
) -> State:
    """The global adapter of clients with different LoRA ranks: zero-pad each to the largest rank, then
    FedAvg. The result has rank max_k r_k."""
    if not states:
        raise ValueError("no state to aggregate")
    r_max = max(lora_rank(s) for s in states)
    return average_states([_resize_rank(s, r_max) for s in states], weights)


def hetlora_truncate(global_state: Mapping[str, torch.Tensor], rank: int) -> State:
    """A client's download: the first ``rank`` rank-components of the global adapter.

    Raises:
        ValueError: if ``rank`` is not in 1..rank of ``global_state``.
    """
    r_global = lora_rank(global_state)
    if not 1 <= rank <= r_global:
        raise ValueError(f"rank {rank} is not in 1..{r_global} (the global adapter's rank)")
    return _resize_rank(global_state, rank)


# --------------------------------------------------------------------------------------------------
# clustering


def flatten_update(
    new_state: Mapping[str, torch.Tensor], old_state: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    """A client's update as one float32 vector: new - old for every entry, in sorted name order."""
    if set(new_state) != set(old_state):
        raise ValueError(f"states differ in entries {sorted(set(new_state) ^ set(old_state))}")
    return torch.cat([(new_state[n].float() - old_state[n].float()).flatten() for n in sorted(new_state)])


def clusters_by_domain(domains: Sequence[Hashable]) -> list[int]:
    """Cluster label per client from its data domain (labels 0, 1, ... in order of first appearance)."""
    labels: dict[Hashable, int] = {}
    return [labels.setdefault(d, len(labels)) for d in domains]


def _spherical_kmeans(
    x: torch.Tensor, n_clusters: int, gen: torch.Generator, iterations: int
) -> tuple[torch.Tensor, float]:
    """One k-means run on unit rows ``x`` (n, D) from a k-means++ start (cosine distance 1 - cos).
    Returns the labels (n,) and the objective: the sum of each row's cosine to its cluster's centre."""
    centres = [x[int(torch.randint(len(x), (1,), generator=gen))]]
    for _ in range(1, n_clusters):
        dist = (1 - x @ torch.stack(centres).T).min(dim=1).values.clamp(min=0)
        probs = dist / dist.sum() if dist.sum() > 0 else torch.full_like(dist, 1 / len(dist))
        centres.append(x[int(torch.multinomial(probs, 1, generator=gen))])
    c = torch.stack(centres)
    labels = torch.full((len(x),), -1, dtype=torch.long)
    for _ in range(iterations):
        new_labels = (x @ c.T).argmax(dim=1)
        for j in range(n_clusters):
            total = x[new_labels == j].sum(dim=0)
            if total.norm() > 0:  # an emptied cluster keeps its old centre
                c[j] = total / total.norm()
        if torch.equal(new_labels, labels):
            break
        labels = new_labels
    return labels, float((x * c[labels]).sum())


def cluster_updates(
    updates: Sequence[torch.Tensor],
    n_clusters: int,
    seed: int = 0,
    center: bool = True,
    restarts: int = 10,
    iterations: int = 100,
) -> list[int]:
    """Cluster label per client from its update vector; labels in order of first appearance.

    With ``center`` the mean update is subtracted first: the drift that every client shares (learning
    the language in general) would otherwise dominate the directions. The (centred) updates are
    normalised and clustered by spherical k-means (similarity = cosine), best of ``restarts`` seeded
    k-means++ starts by total cosine to the cluster centres.

    Raises:
        ValueError: if ``n_clusters`` is not in 1..len(updates), the vectors differ in length, or an
            update has no direction (all zeros, or equal to the mean when centred).
    """
    if not 1 <= n_clusters <= len(updates):
        raise ValueError(f"n_clusters={n_clusters} is not in 1..{len(updates)} (number of updates)")
    if len({u.numel() for u in updates}) != 1:
        raise ValueError(f"update vectors differ in length: {[u.numel() for u in updates]}")
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")
    x = torch.stack([u.detach().cpu().to(torch.float64).flatten() for u in updates])
    if center and len(x) > 1:
        x = x - x.mean(dim=0)
    norms = x.norm(dim=1)
    if (norms == 0).any():
        which = torch.nonzero(norms == 0).flatten().tolist()
        raise ValueError(f"update(s) {which} have no direction (all zeros{', or the mean' if center else ''})")
    x = x / norms[:, None]
    gen = torch.Generator().manual_seed(seed)
    best_labels, best_score = None, -math.inf
    for _ in range(restarts):
        labels, score = _spherical_kmeans(x, n_clusters, gen, iterations)
        if score > best_score + 1e-12:
            best_labels, best_score = labels, score
    return clusters_by_domain(best_labels.tolist())

"""What tensors cost on the wire, and what the receiver gets: plain, int8-quantised, top-k sparsified,
magnitude-pruned (sparse encoding), low-rank factorised, or left out (partial model updates).

:meth:`Codec.send` takes the tensors a node sends and returns ``(received, nbytes)``: the tensors as the
receiver reconstructs them (compression is applied for real, so training sees its error) and the exact
payload size in bytes. Encodings of one floating-point tensor of ``n`` elements (value bytes ``v``: the
tensor's own element size, 4 for float32, or 1 with int8):

``fp32``          ``n x element_size`` bytes (the tensor's own dtype; 4 for float32)
``int8``          symmetric per-tensor quantisation, ``q = round(x / s)`` with ``s = max|x| / 127``:
                  ``n`` bytes + 4 bytes for the float32 scale ``s``
top-k (fraction)  the ``k = ceil(fraction x n)`` largest-magnitude entries: ``k`` values (4 bytes
                  each, or 1 with int8, plus the 4-byte scale) + ``k`` int32 indices (4 bytes each)
pruning           magnitude pruning: the ``k = n - floor(prune_fraction x n)`` largest-magnitude entries
                  kept (at least 1), the rest zero; ``k v`` value bytes (+ 4-byte scale with int8) plus the
                  positions in the smaller of two encodings (:func:`sparse_encoding`): ``k`` int32 indices
                  (``4 k`` bytes) or a bitmap of ``ceil(n / 8)`` bytes (smaller when ``k > n / 32``)
low-rank          (updates only, tensors of 2 or more dimensions, reshaped to ``m x n'`` =
                  ``shape[0] x rest``): truncated SVD ``U_r S_r V_r^T`` to rank ``r`` (``lowrank_rank``, or
                  the smallest rank keeping ``lowrank_energy`` of the squared singular values); sent as
                  two factors ``U_r S_r`` (m x r) and ``V_r^T`` (r x n'): ``r (m + n') v`` bytes (+ one
                  4-byte scale per factor with int8). A tensor for which ``r (m + n') >= m n'`` (a vector,
                  a small matrix) is sent as it is (fp32 or int8).
partial           (updates only) a tensor whose name is not among the chosen layers is not sent (0 bytes);
                  the receiver keeps its own copy (the update is zero)

Integer tensors (labels, token ids) always travel as they are (``n x element_size``). No headers are
counted (shapes, ranks and which encoding a tensor uses are known to both sides or fit in a few bytes).
Top-k only applies where the caller asks (``sparsify=True``: model *updates* against a reference both
sides know, activations, gradients); full model downloads are never sparsified by top-k. Pruning applies
to every floating-point tensor of every transfer (model downloads and updates, activations, gradients).
Low-rank and partial apply to model updates only (``update=True``). See docs/compression.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from pydantic import Field, field_validator, model_validator

from ns6g.core.config import ScenarioConfig

__all__ = ["QUANTIZATIONS", "Codec", "CompressionOptions", "lowrank_rank", "sparse_encoding", "tensor_bytes"]

QUANTIZATIONS = ("fp32", "int8")
_INDEX_BYTES = 4  # int32 position of a kept entry
_SCALE_BYTES = 4  # float32 quantisation scale per tensor


class CompressionOptions(ScenarioConfig):
    """``FlJobConfig.compression``: the compression methods beyond int8 and top-k (docs/compression.md).
    Every method is off by default; at most one of top-k, pruning and low-rank may be on in one job."""

    prune_fraction: float = Field(
        0.0, ge=0, le=0.999,
        description="magnitude pruning: share of each floating-point tensor's entries (by smallest |value|) "
        "zeroed and not sent, 0 .. 0.999 (0: off); every transfer (models, updates, activations, gradients)")
    lowrank_rank: int = Field(
        0, ge=0, le=65_536,
        description="low-rank updates: rank r of the truncated SVD of each 2-D (or reshaped conv) update "
        "tensor (0: off)")
    lowrank_energy: float = Field(
        0.0, ge=0, le=1,
        description="low-rank updates: the smallest rank keeping this share of the update's squared singular "
        "values, 0 .. 1 (0: off; train mode only)")
    partial_layers: str = Field(
        "", max_length=1000,
        description="partial updates: a regular expression; only update tensors whose state_dict name it "
        "matches (re.search) are sent, e.g. 'fc' ('': off)")
    partial_last: int = Field(
        0, ge=0, le=100_000,
        description="partial updates: only the last N layers (modules holding parameters, in state_dict "
        "order) are sent (0: off)")
    distill_student: str = Field(
        "", max_length=1000,
        description="knowledge distillation: the student model that goes over the air, a zoo name or "
        "'pkg.module:factory'; each client distils it from its own teacher (the job's model), which never "
        "leaves it ('': off)")
    distill_student_options: dict[str, int | float] = Field(
        default_factory=dict, description="keyword arguments of the student's factory")
    distill_temperature: float = Field(
        2.0, ge=0.1, le=100, description="distillation temperature T (soft labels softmax(z / T))")
    distill_weight: float = Field(
        0.5, ge=0, le=1,
        description="weight of the distillation term: loss = (1 - w) CE + w T^2 KL(teacher || student)")

    @field_validator("partial_layers")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_of_each(self) -> CompressionOptions:
        if self.lowrank_rank and self.lowrank_energy:
            raise ValueError("lowrank_rank and lowrank_energy: set one of them, not both")
        if self.partial_layers and self.partial_last:
            raise ValueError("partial_layers and partial_last: set one of them, not both")
        if self.prune_fraction and self.lowrank:
            raise ValueError("prune_fraction and lowrank_rank/lowrank_energy: choose one way of compressing updates")
        return self

    @property
    def lowrank(self) -> bool:
        return bool(self.lowrank_rank or self.lowrank_energy)

    @property
    def partial(self) -> bool:
        return bool(self.partial_layers or self.partial_last)

    def partial_names(self, names: Sequence[str]) -> frozenset[str]:
        """The tensor names (``state_dict`` names of a model's floating-point state, in order) that partial
        updates send. ValueError when the choice selects none of them or more layers than there are."""
        if self.partial_layers:
            pattern = re.compile(self.partial_layers)
            chosen = frozenset(n for n in names if pattern.search(n))
            if not chosen:
                raise ValueError(f"compression.partial_layers {self.partial_layers!r} matches none of the model's "
                                 f"tensors: {', '.join(names)}")
            return chosen
        layers = list(dict.fromkeys(n.rsplit(".", 1)[0] for n in names))
        if self.partial_last > len(layers):
            raise ValueError(f"compression.partial_last {self.partial_last} exceeds the model's {len(layers)} layers "
                             f"({', '.join(layers)})")
        last = set(layers[-self.partial_last:])
        return frozenset(n for n in names if n.rsplit(".", 1)[0] in last)


def tensor_bytes(tensors: Sequence[torch.Tensor]) -> int:
    """Plain payload size: the sum of ``numel x element_size`` (bytes)."""
    return sum(t.numel() * t.element_size() for t in tensors)


def sparse_encoding(n: int, k: int) -> tuple[str, int]:
    """Positions of ``k`` kept entries among ``n``: ``("indices", 4 k)`` (int32 each) or ``("bitmap",
    ceil(n / 8))``, whichever is smaller (indices on a tie). Value bytes are not included."""
    indices, bitmap = k * _INDEX_BYTES, math.ceil(n / 8)
    return ("bitmap", bitmap) if bitmap < indices else ("indices", indices)


def lowrank_rank(singular: torch.Tensor, rank: int, energy: float) -> int:
    """The rank kept: ``rank`` (at most the number of singular values), or the smallest r whose
    singular values keep ``energy`` of the sum of squares (1 for an all-zero tensor)."""
    if rank:
        return min(rank, singular.numel())
    sq = singular.double() ** 2
    total = float(sq.sum())
    if total == 0:
        return 1
    share = torch.cumsum(sq, 0) / total
    return min(int((share < energy - 1e-12).sum()) + 1, singular.numel())


@dataclass(frozen=True)
class Codec:
    """Transfer encoding. ``quantization``: "fp32" (as is) or "int8"; ``topk_fraction`` in (0, 1]:
    share of entries kept when sparsifying (1.0: no sparsification); ``options``: pruning, low-rank and
    partial updates (:class:`CompressionOptions`; distillation is the engine's); ``partial``: the tensor
    names partial updates send (from :meth:`CompressionOptions.partial_names`; None: all)."""

    quantization: str = "fp32"
    topk_fraction: float = 1.0
    options: CompressionOptions | None = None
    partial: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"unknown quantization {self.quantization!r}; valid: {', '.join(QUANTIZATIONS)}")
        if not 0.0 < self.topk_fraction <= 1.0:
            raise ValueError(f"topk_fraction must be in (0, 1], got {self.topk_fraction}")
        o = self.options
        if o is not None and self.topk_fraction < 1.0 and (o.prune_fraction or o.lowrank):
            raise ValueError("topk_fraction < 1 and compression.prune_fraction / lowrank: choose one sparsifier")
        if o is not None and o.partial and self.partial is None:
            raise ValueError("compression.partial_layers / partial_last need the chosen names (Codec.partial)")

    @property
    def lossless(self) -> bool:
        """True when the receiver gets exactly what was sent (fp32, no sparsification, pruning, low rank
        or partial updates)."""
        o = self.options
        return (self.quantization == "fp32" and self.topk_fraction == 1.0 and self.partial is None
                and (o is None or not (o.prune_fraction or o.lowrank)))

    def send(
        self,
        tensors: Sequence[torch.Tensor],
        sparsify: bool = False,
        update: bool = False,
        names: Sequence[str] | None = None,
    ) -> tuple[list[torch.Tensor], int]:
        """Encode ``tensors`` for one transfer: ``(tensors as received, payload bytes)``. ``sparsify``:
        top-k applies; ``update``: the tensors are a model update (low-rank and partial apply);
        ``names``: their ``state_dict`` names (needed by partial updates)."""
        if update and self.partial is not None and names is None:
            raise ValueError("partial model updates need the names of the update's tensors (send job.state_of(...))")
        received, total = [], 0
        for i, t in enumerate(tensors):
            t = t.detach()
            if update and self.partial is not None and names is not None and names[i] not in self.partial:
                received.append(torch.zeros_like(t))  # not sent: the receiver keeps its copy
                continue
            out, nbytes = self._one(t, sparsify and self.topk_fraction < 1.0, update)
            received.append(out)
            total += nbytes
        return received, total

    def _one(self, t: torch.Tensor, sparsify: bool, update: bool) -> tuple[torch.Tensor, int]:
        if not t.is_floating_point():
            return t.clone(), t.numel() * t.element_size()
        int8 = self.quantization == "int8"
        value_bytes = 1 if int8 else t.element_size()
        scale = _SCALE_BYTES if int8 else 0
        o = self.options
        if o is not None and update and o.lowrank and t.ndim >= 2 and t.numel() > 0:
            coded = self._lowrank(t, o, int8, value_bytes)
            if coded is not None:
                return coded
        if o is not None and o.prune_fraction and t.numel() > 0:
            n = t.numel()
            k = max(1, n - math.floor(o.prune_fraction * n))
            out = _keep_largest(t, k, int8)
            return out, k * value_bytes + scale + sparse_encoding(n, k)[1]
        if sparsify and t.numel() > 0:
            k = max(1, math.ceil(self.topk_fraction * t.numel()))
            return _keep_largest(t, k, int8), k * (value_bytes + _INDEX_BYTES) + scale
        if int8:
            return _quantise(t), t.numel() + _SCALE_BYTES
        return t.clone(), t.numel() * value_bytes

    @staticmethod
    def _lowrank(t: torch.Tensor, o: CompressionOptions, int8: bool, value_bytes: int) -> tuple[torch.Tensor, int] | None:
        """Truncated SVD of ``t`` as ``shape[0] x rest``; None when the factors would not be smaller."""
        m = t.shape[0]
        n = t.numel() // m

        def nbytes(r: int) -> int:  # the two factors, each with its scale under int8
            return r * (m + n) * value_bytes + (2 * _SCALE_BYTES if int8 else 0)

        mat = t.reshape(m, n)
        if not bool(mat.any()):  # all zero (profile mode sizes zeros): no SVD needed, the rank is the setting's
            r = min(o.lowrank_rank, m, n) if o.lowrank_rank else 1
            return (torch.zeros_like(t), nbytes(r)) if r * (m + n) < m * n else None
        u, s, vh = torch.linalg.svd(mat.double() if mat.dtype == torch.float64 else mat.float(), full_matrices=False)
        r = lowrank_rank(s, o.lowrank_rank, o.lowrank_energy)
        if r * (m + n) >= m * n:
            return None
        left, right = u[:, :r] * s[:r], vh[:r]
        if int8:
            left, right = _quantise(left), _quantise(right)
        return (left @ right).to(t.dtype).reshape(t.shape), nbytes(r)


def _keep_largest(t: torch.Tensor, k: int, int8: bool) -> torch.Tensor:
    """``t`` with all but its ``k`` largest-magnitude entries zeroed (kept values int8-quantised with ``int8``)."""
    flat = t.reshape(-1)
    keep = torch.topk(flat.abs(), k, sorted=False).indices
    values = _quantise(flat[keep]) if int8 else flat[keep]
    out = torch.zeros_like(flat)
    out[keep] = values
    return out.reshape(t.shape)


def _quantise(t: torch.Tensor) -> torch.Tensor:
    """Symmetric int8 quantisation and back (what the receiver reconstructs)."""
    peak = t.abs().max() if t.numel() else torch.zeros((), dtype=t.dtype, device=t.device)
    if peak == 0:
        return torch.zeros_like(t)
    scale = peak / 127.0
    return torch.clamp(torch.round(t / scale), -127, 127) * scale

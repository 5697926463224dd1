"""What tensors cost on the wire, and what the receiver gets: plain, int8-quantised, top-k sparsified.

:meth:`Codec.send` takes the tensors a node sends and returns ``(received, nbytes)``: the tensors as the
receiver reconstructs them (compression is applied for real, so training sees its error) and the exact
payload size in bytes. Encodings of one floating-point tensor of ``n`` elements:

``fp32``          ``n x element_size`` bytes (the tensor's own dtype; 4 for float32)
``int8``          symmetric per-tensor quantisation, ``q = round(x / s)`` with ``s = max|x| / 127``:
                  ``n`` bytes + 4 bytes for the float32 scale ``s``
top-k (fraction)  the ``k = ceil(fraction x n)`` largest-magnitude entries: ``k`` values (4 bytes
                  each, or 1 with int8, plus the 4-byte scale) + ``k`` int32 indices (4 bytes each)

Integer tensors (labels, token ids) always travel as they are (``n x element_size``).
Top-k only applies where the caller asks (``sparsify=True``: model *updates* against a reference both
sides know, activations, gradients); full model downloads are never sparsified.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["QUANTIZATIONS", "Codec", "tensor_bytes"]

QUANTIZATIONS = ("fp32", "int8")
_INDEX_BYTES = 4  # int32 position of a kept entry
_SCALE_BYTES = 4  # float32 quantisation scale per tensor


def tensor_bytes(tensors: Sequence[torch.Tensor]) -> int:
    """Plain payload size: the sum of ``numel x element_size`` (bytes)."""
    return sum(t.numel() * t.element_size() for t in tensors)


@dataclass(frozen=True)
class Codec:
    """Transfer encoding. ``quantization``: "fp32" (as is) or "int8"; ``topk_fraction`` in (0, 1]:
    share of entries kept when sparsifying (1.0: no sparsification)."""

    quantization: str = "fp32"
    topk_fraction: float = 1.0

    def __post_init__(self) -> None:
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"unknown quantization {self.quantization!r}; valid: {', '.join(QUANTIZATIONS)}")
        if not 0.0 < self.topk_fraction <= 1.0:
            raise ValueError(f"topk_fraction must be in (0, 1], got {self.topk_fraction}")

    @property
    def lossless(self) -> bool:
        """True when the receiver gets exactly what was sent (fp32, no sparsification)."""
        return self.quantization == "fp32" and self.topk_fraction == 1.0

    def send(self, tensors: Sequence[torch.Tensor], sparsify: bool = False) -> tuple[list[torch.Tensor], int]:
        """Encode ``tensors`` for one transfer: ``(tensors as received, payload bytes)``."""
        received, total = [], 0
        for t in tensors:
            out, nbytes = self._one(t.detach(), sparsify and self.topk_fraction < 1.0)
            received.append(out)
            total += nbytes
        return received, total

    def _one(self, t: torch.Tensor, sparsify: bool) -> tuple[torch.Tensor, int]:
        if not t.is_floating_point():
            return t.clone(), t.numel() * t.element_size()
        int8 = self.quantization == "int8"
        value_bytes = 1 if int8 else t.element_size()
        if sparsify and t.numel() > 0:
            k = max(1, math.ceil(self.topk_fraction * t.numel()))
            flat = t.reshape(-1)
            keep = torch.topk(flat.abs(), k, sorted=False).indices
            values = _quantise(flat[keep]) if int8 else flat[keep]
            out = torch.zeros_like(flat)
            out[keep] = values
            return out.reshape(t.shape), k * (value_bytes + _INDEX_BYTES) + (_SCALE_BYTES if int8 else 0)
        if int8:
            return _quantise(t), t.numel() + _SCALE_BYTES
        return t.clone(), t.numel() * value_bytes


def _quantise(t: torch.Tensor) -> torch.Tensor:
    """Symmetric int8 quantisation and back (what the receiver reconstructs)."""
    peak = t.abs().max() if t.numel() else torch.zeros((), dtype=t.dtype, device=t.device)
    if peak == 0:
        return torch.zeros_like(t)
    scale = peak / 127.0
    return torch.clamp(torch.round(t / scale), -127, 127) * scale

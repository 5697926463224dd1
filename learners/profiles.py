"""Split-computing layer profiles measured from the model zoo or your own model (see docs/profiles.md).

``profile_model(name, dtype)`` runs one sample through every top-level block of a zoo model
(:mod:`ns6g.learners.models`; ``profile_model(module, example=x)``: of your own model, an
``nn.Sequential`` or a module with ``cut_points``, on input batch ``x``) and returns one row per candidate cut k = 0..N (cut k: the first k
blocks run on the device, the rest on the server):

``cut``                  k
``layer``                name of the last device-side block ("input" for k = 0)
``device_flops``         FLOPs per sample of blocks 1..k
``server_flops``         FLOPs per sample of blocks k+1..N
``device_param_bytes``   parameters of blocks 1..k x bytes per element
``server_param_bytes``   parameters of blocks k+1..N x bytes per element
``transfer_bytes``       bytes per sample crossing the network at the cut: the raw input at k = 0,
                         block k's output activation for 0 < k < N, the model output at k = N
``device_memory_bytes``  device_param_bytes + the largest tensor among the input and the outputs of
                         blocks 1..k (a peak-memory estimate for inference, per sample)

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``: it counts matrix multiplications and
convolutions (2 FLOPs per multiply-accumulate, bias additions not included) and ignores elementwise
ops, normalisation, pooling, softmax and embedding look-ups. FLOPs do not depend on ``dtype``.

``dtype="int8"`` models post-training quantisation of weights and activations *for the byte
columns only* (1 byte per element instead of 4); no model is actually quantised. Raw inputs keep
their own encoding: float32 images at fp32, uint8 images at int8, int64 token ids at both.

The CSV written by :func:`write_profile` starts with comment lines ``# model=``, ``# dtype=``,
``# input_shape=`` (e.g. ``1x3x32x32``) and ``# ns6g-profile-version=1``, then a header row and one
row per cut. ``python -m ns6g.learners.profiles OUTDIR`` writes every zoo model at both dtypes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from ns6g.learners import custom
from ns6g.learners import models as zoo
from ns6g.compute.profile_format import (
    _INT_COLUMNS,
    COLUMNS,
    DTYPES,
    PROFILE_VERSION,
    read_profile,
    write_profile,
)

__all__ = [
    "COLUMNS",
    "DTYPES",
    "PROFILE_VERSION",
    "export_all",
    "main",
    "model_flops",
    "profile_model",
    "read_profile",
    "write_profile",
]



def _bytes_per_element(dtype: str) -> int:
    try:
        return DTYPES[dtype]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dtype {dtype!r}; valid dtypes: {', '.join(DTYPES)}") from None


def _input_bytes_per_element(x: torch.Tensor, dtype: str) -> int:
    if not x.is_floating_point():  # token ids travel as they are (int64)
        return x.element_size()
    return 1 if dtype == "int8" else 4  # images: uint8 pixels at int8, float32 otherwise


def _count_flops(module: torch.nn.Module, x: torch.Tensor) -> tuple[int, torch.Tensor]:
    with FlopCounterMode(display=False) as counter:
        y = module(x)
    return int(counter.get_total_flops()), y


def _prepare(
    model: str | torch.nn.Module, batch: int, example: torch.Tensor | None, kwargs: dict[str, Any]
) -> tuple[torch.nn.Sequential, torch.Tensor, str]:
    """(blocks in eval mode, input batch, model name) of a zoo name or of your own model + example."""
    if not (isinstance(batch, int) and batch > 0):
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    if isinstance(model, str):
        if example is not None:
            raise ValueError("example is for your own model; a zoo model makes its own input")
        torch.manual_seed(0)  # values do not affect any column; seeded anyway
        return zoo.build_model(model, **kwargs).eval(), zoo.example_input(model, batch=batch, **kwargs), model
    if kwargs:
        raise ValueError(f"{sorted(kwargs)}: keyword arguments are for zoo models (build your own one yourself)")
    if not isinstance(example, torch.Tensor):
        raise ValueError("profiling your own model needs example=, an input batch (e.g. one sample with its batch "
                         "dimension: data[0][0].unsqueeze(0))")
    blocks = custom.model_blocks(model)
    custom.check_blocks(model, blocks, example)
    return blocks.eval(), example, type(model).__name__


@torch.no_grad()
def model_flops(
    model: str | torch.nn.Module, batch: int = 1, example: torch.Tensor | None = None, **kwargs: Any
) -> int:
    """FLOPs per sample of the whole model in one pass (FlopCounterMode over the full forward); ``model``
    and ``example`` as in :func:`profile_model`."""
    blocks, x, _ = _prepare(model, batch, example, kwargs)
    flops, _ = _count_flops(blocks, x)
    return flops // len(x)


@torch.no_grad()
def profile_model(
    model: str | torch.nn.Module,
    dtype: str = "fp32",
    batch: int = 1,
    example: torch.Tensor | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """One row per cut k = 0..N of ``model`` (columns: :data:`COLUMNS`; every value per sample).

    ``model``: a zoo name (``kwargs`` go to its factory, ``batch`` samples of its own example input), or
    your own ``nn.Module`` (an ``nn.Sequential``, or a module with ``cut_points``:
    :mod:`ns6g.learners.custom`) with ``example``, an input batch of the shape and dtype it takes (values
    do not matter; per-sample columns divide by its first dimension; ``batch`` is ignored). Metadata
    (model: the zoo name or the module's class name, dtype, input_shape, version) is kept in ``df.attrs``
    for :func:`write_profile`."""
    elem = _bytes_per_element(dtype)
    model, x, name = _prepare(model, batch, example, kwargs)
    batch = len(x)

    names = ["input"]
    flops = [0]  # per block, index 0 = nothing
    params = [0]
    act_bytes = [x.numel() // batch * _input_bytes_per_element(x, dtype)]  # index j: output of block j
    h = x
    for block_name, block in model.named_children():
        f, h = _count_flops(block, h)
        if f % batch:
            raise RuntimeError(f"FLOPs of block {block_name!r} are not proportional to the batch size")
        names.append(block_name)
        flops.append(f // batch)
        params.append(sum(p.numel() for p in block.parameters()) * elem)
        act_bytes.append(h.numel() // batch * elem)

    total_flops = sum(flops)
    total_params = sum(params)
    rows = []
    device_flops = device_params = peak = 0
    for k in range(len(names)):
        device_flops += flops[k]
        device_params += params[k]
        peak = max(peak, act_bytes[k])
        rows.append(
            {
                "cut": k,
                "layer": names[k],
                "device_flops": device_flops,
                "server_flops": total_flops - device_flops,
                "device_param_bytes": device_params,
                "server_param_bytes": total_params - device_params,
                "transfer_bytes": act_bytes[k],
                "device_memory_bytes": device_params + peak,
            }
        )
    df = pd.DataFrame(rows, columns=COLUMNS).astype({c: "int64" for c in _INT_COLUMNS})
    df.attrs.update(
        model=name,
        dtype=dtype,
        input_shape="x".join(str(s) for s in x.shape),
        version=PROFILE_VERSION,
    )
    return df


def export_all(folder: str | Path) -> list[Path]:
    """Write ``<folder>/<model>-<dtype>.csv`` for every zoo model (default configuration) and dtype."""
    folder = Path(folder)
    return [
        write_profile(profile_model(name, dtype), folder / f"{name}-{dtype}.csv")
        for name in zoo.MODELS
        for dtype in DTYPES
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ns6g.learners.profiles", description="Write split-computing layer profiles of the zoo."
    )
    parser.add_argument("outdir", help="folder for <model>-<dtype>.csv")
    args = parser.parse_args(argv)
    for path in export_all(args.outdir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

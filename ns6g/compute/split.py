"""Analytical split-computing model: latency and device energy of each cut of a layer profile.

This is the model behind the Neurosurgeon-style greedy baseline (:func:`greedy_split`) and, later, the
environments' reward terms. Profiles are the measured per-cut tables of :mod:`ns6g.learners.profiles` (shipped in
``ns3_scenarios/mec/profiles/<model>-<dtype>.csv``, read here with :func:`ns6g.learners.profiles.read_profile` and
by C++ with ``ns6g::mec::LoadLayerProfile``). Cut k runs blocks 1..k on the device and k+1..N on the
server; cut 0 offloads everything, cut N runs everything locally. See docs/split.md.

Latency of cut k (seconds, per sample), for k < N (offloaded):

    device_compute_s = device_flops[k] / device_flops
    uplink_s         = transfer_bytes[k] * 8 / uplink_bps
    server_compute_s = server_flops[k] / server_flops
    downlink_s       = result_bytes * 8 / downlink_bps   (result_bytes: transfer_bytes[N], the logits,
                                                          unless result_cut_bytes is given)
    rtt_s            = rtt_s
    total_s          = device_compute_s + uplink_s + server_compute_s + downlink_s + rtt_s  (in this order)

and at k = N everything runs on the device and nothing crosses the network: only device_compute_s is
non-zero (uplink, server, downlink and rtt are 0).

Several places may run the rest (an edge server, a cloud, a D2D peer over the sidelink): each is a
:class:`SplitTarget` (its FLOP/s, link rates, round trip and memory) and :func:`greedy_split_target` picks
the (cut, target) of least predicted latency among the feasible ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ns6g.core.build import scenario_source_dir

__all__ = [
    "LATENCY_COLUMNS",
    "SplitTarget",
    "available_models",
    "device_energy_j",
    "feasible_cuts",
    "greedy_split",
    "greedy_split_target",
    "load_profile",
    "peer_memory_bytes",
    "predict_split_latency",
    "profile_path",
    "profiles_dir",
    "tx_power_w",
]

#: Columns of :func:`predict_split_latency`'s result.
LATENCY_COLUMNS = [
    "cut",
    "layer",
    "device_compute_s",
    "uplink_s",
    "server_compute_s",
    "downlink_s",
    "rtt_s",
    "total_s",
]

_NEEDED = ("cut", "device_flops", "server_flops", "transfer_bytes")


def profiles_dir() -> Path:
    """The shipped profile folder (``ns3_scenarios/mec/profiles`` of the installed package)."""
    return scenario_source_dir() / "mec" / "profiles"


def available_models(folder: str | Path | None = None) -> list[str]:
    """Model names with at least one ``<model>-<dtype>.csv`` in ``folder`` (default: the shipped folder)."""
    folder = Path(folder) if folder is not None else profiles_dir()
    models = set()
    for p in folder.glob("*.csv"):
        for dtype in ("fp32", "int8"):
            if p.name.endswith(f"-{dtype}.csv"):
                models.add(p.name[: -len(f"-{dtype}.csv")])
    return sorted(models)


def check_model(name: str) -> str:
    """``name`` if it is a model with shipped profiles, else ``ValueError`` listing them (for config validators)."""
    models = available_models()
    if name not in models:
        raise ValueError(f"unknown model {name!r}; models with shipped profiles are {', '.join(models)}")
    return name


def profile_path(model: str, dtype: str = "fp32", folder: str | Path | None = None) -> Path:
    """``<folder>/<model>-<dtype>.csv``; ``ValueError`` listing the models found if it does not exist."""
    if dtype not in ("fp32", "int8"):
        raise ValueError(f"unknown dtype {dtype!r}; dtypes are fp32, int8")
    folder = Path(folder) if folder is not None else profiles_dir()
    path = folder / f"{model}-{dtype}.csv"
    if "/" in model or not path.is_file():
        models = available_models(folder)
        raise ValueError(
            f"no profile of model {model!r} at {dtype} in {folder}; models found there: "
            f"{', '.join(models) or 'none'}"
        )
    return path


def load_profile(model: str, dtype: str = "fp32") -> pd.DataFrame:
    """The shipped profile of ``model`` at ``dtype`` (via :func:`ns6g.compute.profile_format.read_profile`)."""
    from ns6g.compute.profile_format import read_profile

    return read_profile(profile_path(model, dtype))


def _positive(name: str, value: float) -> float:
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return v


def _non_negative(name: str, value: float) -> float:
    v = float(value)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return v


def _check_profile(profile: pd.DataFrame) -> None:
    missing = [c for c in _NEEDED if c not in profile.columns]
    if missing:
        raise ValueError(f"profile lacks columns {missing}; it needs {list(_NEEDED)}")
    if len(profile) == 0:
        raise ValueError("profile has no cuts")
    if list(profile["cut"]) != list(range(len(profile))):
        raise ValueError("profile cuts must be 0, 1, ..., N in order")


def predict_split_latency(
    profile: pd.DataFrame,
    device_flops: float,
    server_flops: float,
    uplink_bps: float,
    downlink_bps: float,
    rtt_s: float = 0.0,
    result_cut_bytes: float | None = None,
) -> pd.DataFrame:
    """Per-sample latency of every cut of ``profile`` (one row per cut, columns :data:`LATENCY_COLUMNS`).

    ``device_flops`` and ``server_flops`` are the two sides' speeds in FLOP/s, ``uplink_bps`` and
    ``downlink_bps`` the link rates in bit/s, ``rtt_s`` a fixed round-trip delay charged to every offloaded
    cut (k < N), ``result_cut_bytes`` the size of the result the server sends back (default: the last row's
    ``transfer_bytes``, the model output). At the last cut N nothing is offloaded: uplink, server,
    downlink and rtt are 0. ``total_s`` is the sum of the five parts, added in column order.
    """
    _check_profile(profile)
    f_dev = _positive("device_flops", device_flops)
    f_srv = _positive("server_flops", server_flops)
    up = _positive("uplink_bps", uplink_bps)
    down = _positive("downlink_bps", downlink_bps)
    rtt = _non_negative("rtt_s", rtt_s)
    last = profile["transfer_bytes"].to_numpy(dtype=np.float64)[-1]
    result_bytes = last if result_cut_bytes is None else _non_negative("result_cut_bytes", result_cut_bytes)

    offloaded = np.arange(len(profile)) < len(profile) - 1
    device_s = profile["device_flops"].to_numpy(dtype=np.float64) / f_dev
    uplink_s = np.where(offloaded, profile["transfer_bytes"].to_numpy(dtype=np.float64) * 8.0 / up, 0.0)
    server_s = np.where(offloaded, profile["server_flops"].to_numpy(dtype=np.float64) / f_srv, 0.0)
    downlink_s = np.where(offloaded, result_bytes * 8.0 / down, 0.0)
    rtt_col = np.where(offloaded, rtt, 0.0)
    total = device_s + uplink_s + server_s + downlink_s + rtt_col
    return pd.DataFrame(
        {
            "cut": profile["cut"].to_numpy(dtype=np.int64),
            "layer": profile["layer"].to_numpy() if "layer" in profile.columns else "",
            "device_compute_s": device_s,
            "uplink_s": uplink_s,
            "server_compute_s": server_s,
            "downlink_s": downlink_s,
            "rtt_s": rtt_col,
            "total_s": total,
        },
        columns=LATENCY_COLUMNS,
    )


def feasible_cuts(profile: pd.DataFrame, device_memory_bytes: float) -> list[int]:
    """Cuts whose device part fits: ``profile.device_memory_bytes <= device_memory_bytes`` (the device's
    working memory, e.g. ``ns6g.compute.devices.device(name)["memory_bytes"]``)."""
    mem = _non_negative("device_memory_bytes", device_memory_bytes)
    fits = profile["device_memory_bytes"].to_numpy(dtype=np.float64) <= mem
    return [int(c) for c in profile["cut"].to_numpy()[fits]]


def greedy_split(
    profile: pd.DataFrame,
    device_flops: float,
    server_flops: float,
    uplink_bps: float,
    downlink_bps: float,
    rtt_s: float = 0.0,
    result_cut_bytes: float | None = None,
    device_memory_bytes: float | None = None,
) -> int:
    """The Neurosurgeon-style greedy cut: argmin of :func:`predict_split_latency`'s ``total_s``.

    Ties (exactly equal totals) go to the **largest** cut: more layers on the device, less data on the
    network and no dependence on the server. With ``device_memory_bytes`` only :func:`feasible_cuts` are
    candidates (``ValueError`` if none fits).
    """
    lat = predict_split_latency(profile, device_flops, server_flops, uplink_bps, downlink_bps, rtt_s, result_cut_bytes)
    candidates = lat
    if device_memory_bytes is not None:
        ok = feasible_cuts(profile, device_memory_bytes)
        if not ok:
            raise ValueError(
                f"no cut fits {float(device_memory_bytes):.0f} bytes of device memory (the smallest needs "
                f"{int(profile['device_memory_bytes'].min())})"
            )
        candidates = lat[lat["cut"].isin(ok)]
    totals = candidates["total_s"].to_numpy()
    best = np.flatnonzero(totals == totals.min())
    return int(candidates["cut"].to_numpy()[best[-1]])


def peer_memory_bytes(profile: pd.DataFrame) -> np.ndarray:
    """Memory the server part of each cut needs where memory is scarce (a D2D peer), bytes, shape (N + 1,).

    As ``device_memory_bytes`` for the device part: the part's weights (``server_param_bytes``) plus the
    largest tensor it holds at once, here the largest of its input (``transfer_bytes[k]``) and its
    blocks' outputs (``transfer_bytes[k + 1..N]``). At cut N nothing is left (0 bytes).
    """
    _check_profile(profile)
    transfer = profile["transfer_bytes"].to_numpy(dtype=np.float64)
    largest_from_k = np.maximum.accumulate(transfer[::-1])[::-1]
    need = profile["server_param_bytes"].to_numpy(dtype=np.float64) + largest_from_k
    need[-1] = 0.0
    return need


@dataclass(frozen=True)
class SplitTarget:
    """A place that can run the rest of a split: an edge server, a cloud, a D2D peer.

    ``flops``: its speed (FLOP/s); ``uplink_bps`` / ``downlink_bps``: the device -> target and target ->
    device rates (bit/s; for a peer the sidelink's); ``rtt_s``: a fixed round trip charged to every
    offloaded cut (s); ``memory_bytes``: its working memory (bytes), or None where it never limits (a
    server): a cut whose :func:`peer_memory_bytes` exceed it cannot go there.
    """

    flops: float
    uplink_bps: float
    downlink_bps: float
    rtt_s: float = 0.0
    memory_bytes: float | None = None


def greedy_split_target(
    profile: pd.DataFrame,
    device_flops: float,
    targets: Mapping[int, SplitTarget],
    device_memory_bytes: float | None = None,
) -> tuple[int, int]:
    """The Neurosurgeon-style greedy choice over several targets: the (cut, target key) of least
    :func:`predict_split_latency` ``total_s`` among the feasible pairs.

    Feasible: the device part fits ``device_memory_bytes`` (if given) and, for k < N, the rest fits the
    target's ``memory_bytes`` (if set). Ties go to the largest cut, then to the first target of
    ``targets`` (at cut N, where nothing is offloaded, that target is nominal). ``ValueError`` if no pair
    is feasible or ``targets`` is empty.
    """
    if not targets:
        raise ValueError("targets is empty: give at least one SplitTarget")
    _check_profile(profile)
    n = len(profile) - 1
    device_ok = np.ones(n + 1, dtype=bool)
    if device_memory_bytes is not None:
        device_ok = np.isin(profile["cut"].to_numpy(), feasible_cuts(profile, device_memory_bytes))
    rest_needs = peer_memory_bytes(profile)
    best: tuple[float, int, int] | None = None  # (total_s, -cut, order): min is the choice
    for order, (key, target) in enumerate(targets.items()):
        totals = predict_split_latency(profile, device_flops, target.flops, target.uplink_bps,
                                       target.downlink_bps, target.rtt_s)["total_s"].to_numpy()
        ok = device_ok.copy()
        if target.memory_bytes is not None:
            ok[:n] &= rest_needs[:n] <= _non_negative("memory_bytes", target.memory_bytes)
        for cut in np.flatnonzero(ok):
            candidate = (float(totals[cut]), -int(cut), order)
            if best is None or candidate < best:
                best = candidate
                choice = (int(cut), key)
    if best is None:
        raise ValueError("no (cut, target) pair fits the device's and the targets' memory")
    return choice


def tx_power_w(device: Any) -> float:
    """The device's maximum transmit power in W (``10 ** ((tx_power_dbm - 30) / 10)``); NaN if it has no
    radio. ``device``: a catalogue name or row (:func:`ns6g.compute.devices.device`)."""
    row = _device_row(device)
    return 10.0 ** ((float(row["tx_power_dbm"]) - 30.0) / 10.0)


def _device_row(device: Any) -> pd.Series | dict:
    if isinstance(device, str):
        from ns6g.compute.devices import device as lookup

        return lookup(device)
    return device


def device_energy_j(profile: pd.DataFrame, cut: int, device: Any, uplink_bps: float) -> float:
    """Device energy per sample of ``cut``: compute energy + radio energy.

    ``device_flops[cut] * energy_per_flop_j + tx_power_w * uplink_s``, with ``tx_power_w`` the device's
    maximum transmit power (``tx_power_dbm`` converted to W) and ``uplink_s = transfer_bytes[cut] * 8 /
    uplink_bps`` for an offloaded cut (0 at the last cut, where nothing is sent). Idle power, receiving
    the result and the server's energy are not counted. A device without a radio (``tx_power_dbm``
    empty) can only run the last cut here: offloading from it raises ``ValueError``.
    """
    _check_profile(profile)
    n = len(profile) - 1
    if not (isinstance(cut, (int, np.integer)) and 0 <= cut <= n):
        raise ValueError(f"cut must be an integer in 0..{n}, got {cut!r}")
    row = _device_row(device)
    compute_j = float(profile["device_flops"].iloc[cut]) * float(row["energy_per_flop_j"])
    if cut == n:
        return compute_j
    up = _positive("uplink_bps", uplink_bps)
    tx_w = tx_power_w(row)
    if math.isnan(tx_w):
        name = row["name"] if "name" in row else "the device"
        raise ValueError(f"{name} has no radio (tx_power_dbm empty): it cannot offload cut {cut}")
    return compute_j + tx_w * (float(profile["transfer_bytes"].iloc[cut]) * 8.0 / up)

"""Device catalogue and compute model of ns6g's MEC, D2D and split-computing models (``ns3_scenarios/mec/``).

The catalogue lives in one CSV shipped with the scenarios, ``ns3_scenarios/mec/devices.csv``, read both
here (``DEVICES``, with pandas) and by the C++ model (``mec/model/device-catalogue.*``); ``device_info``
asks the C++ reader, so tests can check that both read the same numbers. ``processor_run`` runs the C++
``ns6g::mec::Processor`` (FIFO or processor sharing, energy accounting) in a fresh ns-3 simulation.
See docs/mec-compute.md.

Refusals by the model (negative capacity, NaN FLOPs, unknown device) raise
:class:`ns6g.core.bridge.ScenarioError` with the model's message.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ns6g.core.build import scenario_source_dir
from ns6g.radio._query import query

__all__ = [
    "DEVICES",
    "DISCIPLINES",
    "catalogue_path",
    "check_split",
    "device",
    "device_info",
    "processor_run",
    "split_fits",
]

#: Queue disciplines of the processor and their codes in the ``processor_run`` query.
DISCIPLINES = {"fifo": 0, "ps": 1}


def catalogue_path() -> Path:
    """The shipped catalogue CSV (``ns3_scenarios/mec/devices.csv`` of the installed package)."""
    return scenario_source_dir() / "mec" / "devices.csv"


def _load(path: Path) -> pd.DataFrame:
    df = pd.read_csv(
        path,
        comment="#",
        dtype={
            "name": str,
            "class": str,
            "flops": np.float64,
            "memory_bytes": np.int64,
            "storage_bytes": np.int64,
            "tx_power_dbm": np.float64,
            "energy_per_flop_j": np.float64,
            "idle_power_w": np.float64,
            "load_power_w": np.float64,
            "source": str,
        },
    )
    return df.set_index("name", drop=False)


#: The catalogue, one row per device, indexed by name. Columns: name, class, flops (peak FLOP/s),
#: memory_bytes (working memory a model part must fit), storage_bytes, tx_power_dbm (NaN: no radio),
#: energy_per_flop_j (busy energy: (load_power_w - idle_power_w) / flops), idle_power_w, load_power_w
#: (power at full load), source.
DEVICES: pd.DataFrame = _load(catalogue_path())


def device(name: str) -> pd.Series:
    """The catalogue row of device ``name``; ``KeyError`` listing the valid names if there is none."""
    if name not in DEVICES.index:
        raise KeyError(f"unknown device {name!r}; devices are {', '.join(DEVICES.index)}")
    return DEVICES.loc[name]


def check_device(field: str, name: str) -> str:
    """`name` if the catalogue has it; else ValueError naming `field` and listing the devices."""
    if name not in DEVICES.index:
        raise ValueError(f"unknown {field} {name!r}; devices in the catalogue are {', '.join(DEVICES.index)}")
    return name


def check_has_radio(field: str, name: str) -> str:
    """`name` if the device has a radio (a transmit power); else ValueError listing the devices that do."""
    if np.isnan(float(DEVICES.loc[name, "tx_power_dbm"])):
        radios = [n for n in DEVICES.index if not np.isnan(float(DEVICES.loc[n, "tx_power_dbm"]))]
        raise ValueError(f"{field}: {name!r} has no radio; devices with one are {', '.join(radios)}")
    return name


def split_fits(name: str, device_memory_bytes: float) -> bool:
    """Whether a split whose device part needs ``device_memory_bytes`` bytes fits device ``name``'s memory."""
    size = float(device_memory_bytes)
    if not np.isfinite(size) or size < 0:
        raise ValueError(f"device_memory_bytes must be finite and >= 0, got {device_memory_bytes}")
    return size <= float(device(name)["memory_bytes"])


def check_split(name: str, device_memory_bytes: float) -> None:
    """Raise ``ValueError`` saying why, if the split's device part does not fit device ``name``."""
    if not split_fits(name, device_memory_bytes):
        row = device(name)
        raise ValueError(
            f"infeasible split: the device part needs {float(device_memory_bytes):.0f} bytes of memory but "
            f"{name} ({row['class']}) has {int(row['memory_bytes'])} bytes"
        )


def device_info(name: str | Sequence[str], device_memory_bytes: float | Sequence[float] = 0.0) -> pd.DataFrame:
    """The catalogue rows as the C++ reader sees them, with its ``SplitFits`` for ``device_memory_bytes``.

    Returns one row per name: the catalogue columns plus ``split_fits`` (bool).
    """
    names = [name] if isinstance(name, str) else list(name)
    path = str(catalogue_path()).encode()
    if len(path) >= 256:
        raise ValueError(f"catalogue path longer than 255 bytes: {catalogue_path()}")
    for n in names:
        if len(n.encode()) > 31:
            raise ValueError(f"device name longer than 31 bytes: {n!r}")
    reply = query(
        "device_info",
        {
            "name": np.array([n.encode() for n in names], dtype="S32"),
            "path": np.bytes_(path),
            "device_memory_bytes": np.asarray(device_memory_bytes, dtype=np.float64),
        },
    )
    df = pd.DataFrame({f: reply[f] for f in reply.dtype.names})
    for col in ("name", "class", "source"):
        df[col] = df[col].str.decode("utf-8")
    df["split_fits"] = df["split_fits"].astype(bool)
    return df


def processor_run(
    arrival_s: Sequence[float] | np.ndarray,
    flops: Sequence[float] | np.ndarray,
    *,
    capacity_flops: float,
    cores: int = 1,
    discipline: str = "fifo",
    energy_per_flop_j: float = 0.0,
    kappa_j: float = 0.0,
    frequency_hz: float = 0.0,
    flops_per_cycle: float = 1.0,
    idle_power_w: float = 0.0,
) -> pd.DataFrame:
    """Run tasks through one C++ ``ns6g::mec::Processor`` in a fresh ns-3 simulation.

    Task i is submitted at ``arrival_s[i]`` with ``flops[i]`` FLOPs (ties in the given order).

    Args:
        capacity_flops: speed of one core, FLOP/s.
        cores: number of cores.
        discipline: ``"fifo"`` (first come first served on ``cores`` servers) or ``"ps"`` (processor
            sharing: k tasks share min(k, cores) * capacity_flops equally).
        energy_per_flop_j: busy energy per FLOP (used unless ``kappa_j > 0``).
        kappa_j, frequency_hz, flops_per_cycle: the kappa * f^2 per cycle model, used when ``kappa_j > 0``
            (energy per FLOP = kappa_j * frequency_hz**2 / flops_per_cycle).
        idle_power_w: power while no task is in service, from time 0.

    Returns:
        One row per task, in the given order: ``task`` (the processor's id, in submission order),
        ``arrival_s``, ``flops``, ``start_s`` (first service), ``finish_s`` and ``energy_j`` (the processor's
        energy from 0 to the last finish, the same on every row).
    """
    if discipline not in DISCIPLINES:
        raise ValueError(f"discipline must be one of {sorted(DISCIPLINES)}, got {discipline!r}")
    arrivals = np.asarray(arrival_s, dtype=np.float64).reshape(-1)
    work = np.asarray(flops, dtype=np.float64).reshape(-1)
    if arrivals.shape != work.shape:
        raise ValueError(f"arrival_s and flops must have one entry per task, got {arrivals.size} and {work.size}")
    if arrivals.size == 0:
        raise ValueError("processor_run needs at least one task")
    if not 1 <= int(cores) < 2**32:
        raise ValueError(f"cores must be in 1..2**32-1, got {cores}")
    reply = query(
        "processor_run",
        {
            "case": np.uint32(0),
            "discipline": np.uint32(DISCIPLINES[discipline]),
            "cores": np.uint32(cores),
            "capacity_flops": np.float64(capacity_flops),
            "arrival_s": arrivals,
            "flops": work,
            "energy_per_flop_j": np.float64(energy_per_flop_j),
            "kappa_j": np.float64(kappa_j),
            "frequency_hz": np.float64(frequency_hz),
            "flops_per_cycle": np.float64(flops_per_cycle),
            "idle_power_w": np.float64(idle_power_w),
        },
    )
    return pd.DataFrame(
        {
            "task": reply["task"].astype(np.int64),
            "arrival_s": reply["arrival_s"],
            "flops": work,
            "start_s": reply["start_s"],
            "finish_s": reply["finish_s"],
            "energy_j": reply["energy_j"],
        }
    )

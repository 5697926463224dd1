"""The layer-profile CSV format (version 1): reading and writing, without torch.

See docs/profiles.md. ``ns6g.learners.profiles`` computes profiles (with torch); this module only reads and writes
them, so environments and the split model can load the shipped files cheaply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

PROFILE_VERSION = 1
DTYPES: dict[str, int] = {"fp32": 4, "int8": 1}
COLUMNS: list[str] = [
    "cut",
    "layer",
    "device_flops",
    "server_flops",
    "device_param_bytes",
    "server_param_bytes",
    "transfer_bytes",
    "device_memory_bytes",
]
_INT_COLUMNS = [c for c in COLUMNS if c != "layer"]
_META_KEYS = ("model", "dtype", "input_shape")
_VERSION_KEY = "ns6g-profile-version"


def write_profile(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a profile as CSV with its ``# key=value`` header comments (metadata from ``df.attrs``,
    as set by :func:`profile_model`). Returns the path."""
    missing = [k for k in _META_KEYS if k not in df.attrs]
    if missing:
        raise ValueError(f"profile has no {', '.join(missing)} in df.attrs (make it with profile_model)")
    if list(df.columns) != COLUMNS:
        raise ValueError(f"profile columns {list(df.columns)} differ from {COLUMNS}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "".join(f"# {k}={df.attrs[k]}\n" for k in _META_KEYS)
    header += f"# {_VERSION_KEY}={PROFILE_VERSION}\n"
    body = df.to_csv(index=False, lineterminator="\n")
    path.write_text(header + body, encoding="utf-8")
    return path


def read_profile(path: str | Path) -> pd.DataFrame:
    """Read a profile CSV; checks the version and the columns. Metadata goes to ``df.attrs``."""
    path = Path(path)
    meta: dict[str, Any] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            key, sep, value = line[1:].strip().partition("=")
            if sep:
                meta[key.strip()] = value.strip()
    version = meta.pop(_VERSION_KEY, None)
    if version != str(PROFILE_VERSION):
        raise ValueError(f"{path}: profile version {version!r}, expected {PROFILE_VERSION}")
    missing = [k for k in _META_KEYS if k not in meta]
    if missing:
        raise ValueError(f"{path}: header comments lack {', '.join(missing)}")
    df = pd.read_csv(path, comment="#", dtype={"layer": str})
    if list(df.columns) != COLUMNS:
        raise ValueError(f"{path}: columns {list(df.columns)} differ from {COLUMNS}")
    try:
        df = df.astype({c: "int64" for c in _INT_COLUMNS})
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: non-integer value in a numeric column ({exc})") from None
    df.attrs.update(meta, version=PROFILE_VERSION)
    return df

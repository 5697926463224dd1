"""Versions of ns6g and of what it runs on (for ``ns6g version`` and run manifests)."""

from __future__ import annotations

import platform
from importlib import metadata

import ns6g

PACKAGES = ("ns3", "gymnasium", "stable-baselines3", "torch", "numpy", "pandas", "pyarrow")


def versions() -> dict[str, str]:
    """Name -> version string; 'not installed' for a missing package. Never imports ns3 (slow)."""
    out = {"ns6g": ns6g.__version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            out["ns-3" if name == "ns3" else name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out

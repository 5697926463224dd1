"""Read run directories (written by :class:`ns6g.runs.RunWriter`) into pandas.

>>> run = load_run("runs/demo-env")
>>> run.steps.groupby("episode").reward.sum()      # returns per episode
>>> run.manifest["status"]                           # "finished", "failed" or "unfinished"
"""

from __future__ import annotations

import glob
import json
import os
import re
import warnings
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ns6g.runs import CHUNK_GLOB, MANIFEST, SCHEMA_VERSION, TABLES, RunError


class NotARunError(RunError):
    """The path is not a run directory."""


class RunSchemaError(RunError):
    """The run was written by a newer ns6g whose format this version cannot read."""


def _empty_table(name: str) -> pa.Table:
    return pa.schema([pa.field(col, typ) for col, (typ, _) in TABLES[name].items()]).empty_table()


def read_table(folder: Path, name: str) -> pd.DataFrame:
    """Concatenate a table's chunks; a chunk that cannot be read is skipped with a warning naming it."""
    parts = []
    for chunk in sorted(folder.glob(CHUNK_GLOB)):
        try:
            parts.append(pq.read_table(chunk))
        except (OSError, pa.ArrowException) as exc:
            warnings.warn(f"skipping unreadable chunk {chunk}: {exc}", RuntimeWarning, stacklevel=3)
    if not parts:
        table = _empty_table(name)
    else:
        table = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
    # Strings as pandas' string dtype and nullable integers keep missing values honest.
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}.get)


class Run:
    """One run directory. Tables load on first access and are cached.

    Attributes:
        path: the run directory.
        manifest: the parsed ``manifest.json`` (configuration, seeds, versions, status, times).
        steps, radio, flows, rounds, events: pandas DataFrames (empty with the documented columns when
            the run wrote none); schema in docs/traces.md.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        manifest_path = self.path / MANIFEST
        if not self.path.is_dir():
            raise NotARunError(f"{self.path} is not a run directory (no such directory)")
        if not manifest_path.is_file():
            raise NotARunError(f"{self.path} is not a run directory (it has no {MANIFEST})")
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise NotARunError(f"{manifest_path} is not valid JSON: {exc}") from None
        version = self.manifest.get("schema_version")
        if not isinstance(version, int):
            raise NotARunError(f"{manifest_path} has no integer schema_version")
        if version > SCHEMA_VERSION:
            raise RunSchemaError(
                f"{self.path} was written with trace schema {version}; this ns6g reads up to "
                f"{SCHEMA_VERSION}: upgrade ns6g to read it"
            )

    @property
    def status(self) -> str:
        """``finished``, ``failed`` or ``unfinished`` (still running, or killed)."""
        return self.manifest["status"]

    def table(self, name: str) -> pd.DataFrame:
        """A table by name (one of ``steps``, ``radio``, ``flows``, ``rounds``, ``events``)."""
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}; tables are {', '.join(TABLES)}")
        return getattr(self, name)

    @cached_property
    def steps(self) -> pd.DataFrame:
        return read_table(self.path / "steps", "steps")

    @cached_property
    def radio(self) -> pd.DataFrame:
        return read_table(self.path / "radio", "radio")

    @cached_property
    def flows(self) -> pd.DataFrame:
        return read_table(self.path / "flows", "flows")

    @cached_property
    def rounds(self) -> pd.DataFrame:
        return read_table(self.path / "rounds", "rounds")

    @cached_property
    def events(self) -> pd.DataFrame:
        return read_table(self.path / "events", "events")

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, kind={self.manifest.get('kind')!r}, status={self.status!r})"


def load_run(path: str | os.PathLike[str]) -> Run:
    """Open a run directory; raises :class:`NotARunError` or :class:`RunSchemaError` with the reason."""
    return Run(path)


class RunSet:
    """Many runs; each table is their concatenation with a leading ``run`` column (the run's path)."""

    def __init__(self, runs: Iterable[Run]) -> None:
        self.runs = list(runs)

    def table(self, name: str) -> pd.DataFrame:
        frames = [run.table(name).assign(run=str(run.path)) for run in self.runs]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"run": []})
        order = pd.CategoricalDtype([str(run.path) for run in self.runs])  # the runs' order, not alphabetical
        frame["run"] = frame["run"].astype(order)
        return frame[["run", *[c for c in frame.columns if c != "run"]]]

    @property
    def manifests(self) -> pd.DataFrame:
        """One row per run: path, kind, status, error, start and end time, seeds, and one column per
        version (``version_ns6g``, ``version_ns-3``, ``version_torch``...)."""
        keys = ("kind", "status", "error", "start_time", "end_time", "seeds")
        return pd.DataFrame(
            [{"run": str(r.path), **{k: r.manifest.get(k) for k in keys},
              **{f"version_{name}": v for name, v in r.manifest.get("versions", {}).items()}}
             for r in self.runs]
        )

    steps = property(lambda self: self.table("steps"))
    radio = property(lambda self: self.table("radio"))
    flows = property(lambda self: self.table("flows"))
    rounds = property(lambda self: self.table("rounds"))
    events = property(lambda self: self.table("events"))


def _natural_key(path: str) -> list[Any]:
    """Sort key that puts sweep-2 before sweep-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def load_runs(pattern: str | os.PathLike[str]) -> RunSet:
    """All run directories matching a glob pattern (e.g. ``"runs/sweep-*"``), in natural path order."""
    paths = sorted((p for p in glob.glob(os.fspath(pattern)) if (Path(p) / MANIFEST).is_file()), key=_natural_key)
    if not paths:
        raise NotARunError(f"no run directory matches {os.fspath(pattern)!r}")
    return RunSet(Run(p) for p in paths)

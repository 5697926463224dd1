"""Read run directories (written by :class:`ns6g.core.runs.RunWriter`) into pandas.

>>> run = load_run("runs/demo-env")
>>> run.steps.groupby("episode").reward.sum()      # returns per episode
>>> run.manifest["status"]                           # "finished", "failed" or "unfinished"

A run directory may hold other runs (``ns6g train --out DIR`` writes ``DIR/train/env-<i>`` and
``DIR/eval/<policy>``): a table it did not write itself (a training job's ``steps``) then holds the
nested runs' rows, with a leading ``run`` column, as :class:`RunSet` does. A Parquet part that cannot be read raises :class:`DamagedRunError`
naming it, unless the run is opened with ``skip_damaged=True``; then each table's
``attrs["missing_parts"]`` and ``attrs["missing_rows"]`` say what is missing, and ``Run.damaged`` lists it.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ns6g.core.runs import CHUNK_GLOB, MANIFEST, SCHEMA_VERSION, TABLES, RunError


class NotARunError(RunError):
    """The path is not a run directory."""


class RunSchemaError(RunError):
    """The run was written by a newer ns6g whose format this version cannot read."""


class DamagedRunError(RunError):
    """A Parquet part of the run cannot be read (truncated, overwritten, lost); the message names it."""


@dataclass(frozen=True)
class DamagedPart:
    """A part of a table that cannot be read.

    Attributes:
        path: the part file.
        rows: rows the writer recorded in it (the manifest's ``part_rows``); None when it does not say.
        reason: why it cannot be read.
    """

    path: Path
    rows: int | None
    reason: str

    def __str__(self) -> str:
        rows = "an unknown number of" if self.rows is None else self.rows
        return f"{self.path} ({rows} rows): {' '.join(self.reason.split())}"  # on one line


def _empty_table(name: str) -> pa.Table:
    return pa.schema([pa.field(col, typ) for col, (typ, _) in TABLES[name].items()]).empty_table()


def _part_index(chunk: Path) -> int | None:
    match = re.fullmatch(r"part-(\d+)\.parquet", chunk.name)
    return int(match.group(1)) if match else None


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    # Strings as pandas' string dtype and nullable integers keep missing values honest.
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}.get)


def _mark_missing(frame: pd.DataFrame, damaged: Sequence[DamagedPart]) -> pd.DataFrame:
    """Say in the frame's attrs which parts were skipped and how many rows they held (None: unknown)."""
    frame.attrs["missing_parts"] = [str(part.path) for part in damaged]
    frame.attrs["missing_rows"] = None if any(p.rows is None for p in damaged) else sum(p.rows for p in damaged)
    return frame


def _nested_run_dirs(path: Path, depth: int = 3) -> list[Path]:
    """Run directories inside ``path`` (not inside those: they find their own), natural path order."""
    found = []
    for child in sorted(path.iterdir(), key=lambda p: _natural_key(p.name)) if depth else []:
        if not child.is_dir() or child.name in TABLES or child.name.startswith("."):
            continue
        if (child / MANIFEST).is_file():
            found.append(child)
        else:
            found.extend(_nested_run_dirs(child, depth - 1))
    return found


class Run:
    """One run directory. Tables load on first access and are cached.

    Attributes:
        path: the run directory.
        manifest: the parsed ``manifest.json`` (configuration, seeds, versions, status, times).
        runs: the run directories nested in this one (a training job's ``train/env-<i>``, ``eval/<policy>``).
        steps, radio, flows, rounds, events: pandas DataFrames (empty with the documented columns when
            the run wrote none); schema in docs/traces.md. A table this run did not write, when runs
            are nested in it, holds their rows, with a leading ``run`` column (the path of the run a row
            comes from): a training job's ``steps`` are its environments' steps, its ``events`` its own.
        damaged: the parts skipped because they cannot be read (this run's and its nested runs'; only
            with ``skip_damaged=True``, else opening or loading raises :class:`DamagedRunError`).

    Every part's footer is checked when the run is opened, so a truncated or lost part is found at once;
    a part whose data pages are damaged is found when its table loads.
    """

    def __init__(self, path: str | os.PathLike[str], *, skip_damaged: bool = False) -> None:
        self.path = Path(path)
        self.skip_damaged = skip_damaged
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
        self._tables: dict[str, pd.DataFrame] = {}
        self._damaged: dict[str, list[DamagedPart]] = {name: [] for name in TABLES}
        self._parts = {name: self._check_parts(name) for name in TABLES}
        self.runs = [Run(child, skip_damaged=skip_damaged) for child in _nested_run_dirs(self.path)]

    def _recorded_rows(self, name: str, index: int | None) -> int | None:
        recorded = (self.manifest.get("part_rows") or {}).get(name) or []
        return recorded[index] if index is not None and index < len(recorded) else None

    def _damage(self, name: str, part: DamagedPart) -> None:
        if not self.skip_damaged:
            raise DamagedRunError(
                f"run {self.path}: table {name!r} has a part that cannot be read: {part}. Load the rest with "
                "load_run(path, skip_damaged=True) (ns6g report --skip-damaged); the result says what is missing")
        self._damaged[name].append(part)

    def _check_parts(self, name: str) -> list[Path]:
        """The table's readable parts, in order, after checking each footer and looking for lost parts."""
        folder = self.path / name
        chunks = sorted(folder.glob(CHUNK_GLOB))
        indices = {_part_index(chunk) for chunk in chunks}
        # The writer numbers parts from 0 without gaps and records each in the manifest after writing it.
        expected = max(len((self.manifest.get("part_rows") or {}).get(name) or []),
                       max((i + 1 for i in indices if i is not None), default=0))
        for index in range(expected):
            if index not in indices:
                self._damage(name, DamagedPart(folder / f"part-{index:06d}.parquet", self._recorded_rows(name, index),
                                               "the part is missing"))
        good = []
        for chunk in chunks:
            recorded = self._recorded_rows(name, _part_index(chunk))
            try:
                rows = pq.read_metadata(chunk).num_rows
            except (OSError, pa.ArrowException) as exc:
                self._damage(name, DamagedPart(chunk, recorded, f"not a readable Parquet file ({exc})"))
                continue
            if recorded is not None and rows != recorded:
                self._damage(name, DamagedPart(chunk, recorded, f"holds {rows} rows, the writer wrote {recorded}"))
                continue
            good.append(chunk)
        return good

    def _own_table(self, name: str) -> pd.DataFrame:
        """This run's own rows of a table (not its nested runs'), loaded once."""
        if name not in self._tables:
            parts = []
            for chunk in self._parts[name]:
                try:
                    parts.append(pq.read_table(chunk))
                except (OSError, pa.ArrowException) as exc:
                    self._damage(name, DamagedPart(chunk, self._recorded_rows(name, _part_index(chunk)),
                                                   f"its data cannot be read ({exc})"))
            if not parts:
                table = _empty_table(name)
            else:
                table = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
                if "rng_run" in table.column_names and "seed" not in table.column_names:
                    # runs written before the seed column named it rng_run (same values)
                    table = table.rename_columns(["seed" if c == "rng_run" else c for c in table.column_names])
            self._tables[name] = _mark_missing(_to_pandas(table), self._damaged[name])
        return self._tables[name]

    @property
    def members(self) -> list[Run]:
        """This run and every run nested in it, depth first."""
        return [self, *(member for run in self.runs for member in run.members)]

    @property
    def damaged(self) -> list[DamagedPart]:
        """Parts skipped so far (every footer is checked at opening; data pages when a table loads)."""
        return [part for run in self.members for parts in run._damaged.values() for part in parts]

    @property
    def status(self) -> str:
        """``finished``, ``failed`` or ``unfinished`` (still running, or killed)."""
        return self.manifest["status"]

    def table(self, name: str) -> pd.DataFrame:
        """A table by name (one of ``steps``, ``radio``, ``flows``, ``rounds``, ``events``)."""
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}; tables are {', '.join(TABLES)}")
        own = self._own_table(name)
        return _concat(self.members, name) if own.empty and self.runs else own

    steps = property(lambda self: self.table("steps"))
    radio = property(lambda self: self.table("radio"))
    flows = property(lambda self: self.table("flows"))
    rounds = property(lambda self: self.table("rounds"))
    events = property(lambda self: self.table("events"))

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, kind={self.manifest.get('kind')!r}, status={self.status!r})"


def load_run(path: str | os.PathLike[str], *, skip_damaged: bool = False) -> Run:
    """Open a run directory (and the runs nested in it).

    Raises :class:`NotARunError` or :class:`RunSchemaError` with the reason, and :class:`DamagedRunError`
    naming the part when one cannot be read, unless ``skip_damaged``: then the tables hold the readable
    parts and say in ``attrs["missing_parts"]`` and ``attrs["missing_rows"]`` what they lack.
    """
    return Run(path, skip_damaged=skip_damaged)


def _concat(members: Sequence[Run], name: str) -> pd.DataFrame:
    """The runs' own rows of a table, one after the other, with a leading ``run`` column (their path)."""
    frames = [run._own_table(name).assign(run=str(run.path)) for run in members]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"run": []})
    order = pd.CategoricalDtype([str(run.path) for run in members])  # the runs' order, not alphabetical
    frame["run"] = frame["run"].astype(order)
    frame = frame[["run", *[c for c in frame.columns if c != "run"]]]
    return _mark_missing(frame, [part for run in members for part in run._damaged[name]])


class RunSet:
    """Many runs; each table is their concatenation with a leading ``run`` column (the run's path).
    A run with nested runs (a training job) stands for itself and every run nested in it: each one's own
    rows, labelled with its own path."""

    def __init__(self, runs: Iterable[Run]) -> None:
        self.runs = list(runs)

    @property
    def members(self) -> list[Run]:
        """Every run, nested ones included, in order."""
        return [member for run in self.runs for member in run.members]

    @property
    def damaged(self) -> list[DamagedPart]:
        """Parts skipped so far in any of the runs (only with ``skip_damaged=True``)."""
        return [part for run in self.runs for part in run.damaged]

    def table(self, name: str) -> pd.DataFrame:
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}; tables are {', '.join(TABLES)}")
        return _concat(self.members, name)

    @property
    def manifests(self) -> pd.DataFrame:
        """One row per run (nested ones included): path, kind, status, error, start and end time, seeds,
        and one column per version (``version_ns6g``, ``version_ns-3``, ``version_torch``...)."""
        keys = ("kind", "status", "error", "start_time", "end_time", "seeds")
        return pd.DataFrame(
            [{"run": str(r.path), **{k: r.manifest.get(k) for k in keys},
              **{f"version_{name}": v for name, v in r.manifest.get("versions", {}).items()}}
             for r in self.members]
        )

    steps = property(lambda self: self.table("steps"))
    radio = property(lambda self: self.table("radio"))
    flows = property(lambda self: self.table("flows"))
    rounds = property(lambda self: self.table("rounds"))
    events = property(lambda self: self.table("events"))


def _natural_key(path: str) -> list[Any]:
    """Sort key that puts sweep-2 before sweep-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def load_runs(pattern: str | os.PathLike[str], *, skip_damaged: bool = False) -> RunSet:
    """All run directories matching a glob pattern (e.g. ``"runs/sweep-*"``, or one training output
    folder), in natural path order, each with the runs nested in it. ``skip_damaged`` as in
    :func:`load_run`."""
    paths = sorted((p for p in glob.glob(os.fspath(pattern)) if (Path(p) / MANIFEST).is_file()), key=_natural_key)
    if not paths:
        raise NotARunError(f"no run directory matches {os.fspath(pattern)!r}")
    return RunSet(Run(p, skip_damaged=skip_damaged) for p in paths)

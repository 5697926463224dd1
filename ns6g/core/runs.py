"""Run directories: the one trace format every environment, learner and benchmark writes.

A run directory holds ``manifest.json`` and one folder per table, each a sequence of Parquet chunks::

    RUN/manifest.json
    RUN/steps/part-000000.parquet, part-000001.parquet, ...
    RUN/flows/part-000000.parquet, ...

A chunk is written to a temporary name and renamed into place, so a run killed at any moment (SIGKILL
included) leaves only complete chunks; the manifest's ``status`` stays ``"unfinished"`` until the run is
closed. Buffers are flushed every ``chunk_rows`` rows or ``chunk_seconds`` of wall time, whichever
comes first; the manifest's ``part_rows`` records the rows of every chunk written, so a reader can tell
how many rows a damaged or lost chunk held.

A write that fails (disk full, read-only file system, the directory gone) stops tracing, not the caller:
one :class:`TraceWriteWarning`, the reason in the manifest's ``trace_error`` (if the manifest can still be
written), rows offered afterwards counted in ``rows_not_written``; the caller's work (an environment's
step) goes on. The schema of every table is in :data:`TABLES` and documented in docs/traces.md; read runs
back with :func:`ns6g.analysis.load_run`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import time
import warnings
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
CHUNK_GLOB = "part-*.parquet"
# Files beside the tables of a run that compares policies or trains an agent (``ns6g train``, ``ns6g demo``;
# docs/training.md), read by ns6g.analysis:
EPISODES_FILE = "episodes.csv"  # one row per (policy, seed): policy, seed, return, steps, mean info entries
PROGRESS_FILE = "progress.csv"  # the learner's log, one row per update (Stable-Baselines3's CSV: train/loss...)
TRAIN_RUNS = "train"  # TRAIN_RUNS/env-<i>: the traced run of training environment i


class Detail(str, Enum):
    """How much a run records: ``off`` (manifest only), ``summary`` (tables, observations summarised as
    min/mean/max), ``full`` (tables with every observation value)."""

    OFF = "off"
    SUMMARY = "summary"
    FULL = "full"


# The columns that say which episode of an environment's run a row belongs to: an evaluation run holds one
# episode per seed, a training environment's run many. Leading the tables an environment writes per step.
EPISODE_COLUMNS: dict[str, tuple[pa.DataType, str]] = {
    "episode": (pa.int64(), "episode index within the run, from 0"),
    "seed": (pa.int64(), "seed of the episode: reset(seed=...), or the run number drawn when reset had none; "
                         "the scenario's ns-3 RngRun"),
}

# Documented columns of each table: name -> (Arrow type, meaning). Tables may carry more columns (an
# environment's info numbers, a scenario's measurements); their names must end in a unit suffix too.
TABLES: dict[str, dict[str, tuple[pa.DataType, str]]] = {
    "steps": {
        **EPISODE_COLUMNS,
        "step": (pa.int64(), "step index within the episode, from 1 (0 is the reset)"),
        "sim_time_s": (pa.float64(), "simulated time after the step (s)"),
        "wall_time_s": (pa.float64(), "wall-clock time since the run started (s)"),
        "reward": (pa.float64(), "reward of the step (0 on the reset row)"),
        "terminated": (pa.bool_(), "the episode ended in a terminal state"),
        "truncated": (pa.bool_(), "the episode was cut off (time limit)"),
        "action": (pa.list_(pa.float64()), "the action, flattened (gymnasium.spaces.flatten); empty on reset"),
        "obs_min": (pa.float64(), "smallest observation value (flattened)"),
        "obs_mean": (pa.float64(), "mean observation value (flattened)"),
        "obs_max": (pa.float64(), "largest observation value (flattened)"),
        "obs": (pa.list_(pa.float64()), "the observation, flattened (detail 'full' only)"),
    },
    "radio": {
        **EPISODE_COLUMNS,
        "time_s": (pa.float64(), "simulated time of the measurement interval's end (s), within its episode"),
        "ue": (pa.int64(), "UE index"),
        "cell": (pa.int64(), "serving cell index"),
    },
    "flows": {
        "flow_id": (pa.int64(), "transfer identifier, unique within the run"),
        "kind": (pa.string(), "what was sent (e.g. 'traffic', 'weights', 'activations', 'gradients')"),
        "src": (pa.int64(), "sending node index"),
        "dst": (pa.int64(), "receiving node index"),
        "size_bytes": (pa.int64(), "bytes handed to the transport"),
        "start_s": (pa.float64(), "simulated time the transfer started (s)"),
        "end_s": (pa.float64(), "simulated time the last byte arrived (s); NaN if it never did"),
    },
    "rounds": {
        "round": (pa.int64(), "learner round, from 0"),
        "protocol": (pa.string(), "learning protocol (e.g. 'fedavg', 'splitfed-v2')"),
        "start_s": (pa.float64(), "simulated time the round started (s)"),
        "end_s": (pa.float64(), "simulated time the round ended (s)"),
    },
    "events": {
        "time_s": (pa.float64(), "simulated time of the event (s); NaN when it has none"),
        "wall_time_s": (pa.float64(), "wall-clock time since the run started (s)"),
        "kind": (pa.string(), "event kind (e.g. 'reset', 'crash', 'handover')"),
        "node": (pa.int64(), "node the event concerns; -1 when none"),
        "detail": (pa.string(), "free text"),
    },
}


class RunError(RuntimeError):
    """A run directory cannot be written or read as asked."""


class TraceWriteWarning(RuntimeWarning):
    """Writing a run directory failed (disk full, read-only...): tracing stopped, the run goes on."""


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _git_revision() -> str | None:
    """The working tree's commit, if ns6g runs from a git checkout; None otherwise."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
            text=True, timeout=5, check=True,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, default=str))
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink(missing_ok=True)  # no half-written temporary left behind on a full disk
        except OSError:
            pass
        raise


def _column(name: str, values: Any) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise RunError(f"column {name!r} cannot be stored: its values mix types ({exc})") from None


def _rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows to columns over the union of their keys (a row lacking a column gets null there)."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    return pa.table({name: _column(name, [row.get(name) for row in rows]) for name in names})


class _TableBuffer:
    """Rows (or column blocks) of one table waiting to become a Parquet chunk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rows: list[dict[str, Any]] = []
        self.blocks: list[pa.Table] = []
        self.pending = 0
        self.next_part = 0
        self.last_flush = time.monotonic()

    def to_table(self, schema: Mapping[str, tuple[pa.DataType, str]]) -> pa.Table:
        tables = list(self.blocks)
        if self.rows:
            tables.append(_rows_to_table(self.rows))
        table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
        fields = []
        for field in table.schema:
            documented = schema.get(field.name)
            fields.append(pa.field(field.name, documented[0] if documented else field.type))
        return table.cast(pa.schema(fields))


class RunWriter:
    """Writes one run directory.

    Args:
        path: the run directory; created, and refused if it already holds a run.
        kind: what the run is (``"env"``, ``"train"``, ``"learner"``, ``"bench"``...).
        config: the full configuration (JSON-serialisable), recorded in the manifest.
        seeds: the seeds of the run, recorded in the manifest.
        detail: a :class:`Detail` or its name.
        chunk_rows: rows per table buffered before a chunk is written.
        chunk_seconds: longest wall time (s) a row waits in a buffer (checked on every append).

    Use as a context manager: leaving the block by an exception closes the run as ``failed`` with the
    error in the manifest.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str,
        config: Mapping[str, Any] | None = None,
        seeds: Sequence[int] | None = None,
        detail: Detail | str = Detail.SUMMARY,
        chunk_rows: int = 10_000,
        chunk_seconds: float = 5.0,
    ) -> None:
        self.path = Path(path)
        try:
            self.detail = Detail(detail)
        except ValueError:
            raise ValueError(f"detail must be one of {', '.join(d.value for d in Detail)} (got {detail!r})") from None
        if chunk_rows < 1 or chunk_seconds <= 0:
            raise ValueError(f"chunk_rows must be >= 1 and chunk_seconds > 0 (got {chunk_rows}, {chunk_seconds})")
        self.chunk_rows = chunk_rows
        self.chunk_seconds = chunk_seconds
        if (self.path / MANIFEST).exists():
            raise RunError(f"{self.path} already holds a run (it has a {MANIFEST}); choose a new directory")
        self.path.mkdir(parents=True, exist_ok=True)
        from ns6g.core.versions import versions

        self._started = time.monotonic()
        self.manifest: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "kind": kind,
            "status": "unfinished",
            "error": None,
            "detail": self.detail.value,
            "config": dict(config or {}),
            "seeds": list(seeds or []),
            "versions": versions(),
            "git_revision": _git_revision(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "start_time": _utc_now(),
            "end_time": None,
            "fields": {},
            "part_rows": {},  # table -> rows of each chunk written, in part order
        }
        self._buffers: dict[str, _TableBuffer] = {}
        self._closed = False
        self.trace_error: str | None = None  # why tracing stopped; None while every write succeeds
        self.rows_not_written: dict[str, int] = {}
        _write_json_atomic(self.path / MANIFEST, self.manifest)

    # -- recording -------------------------------------------------------------------------------
    @property
    def wall_time_s(self) -> float:
        """Wall-clock seconds since the run was opened."""
        return time.monotonic() - self._started

    def _check(self, table: str) -> None:
        if self._closed:
            raise RunError(f"run {self.path} is closed")
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}; tables are {', '.join(TABLES)}")

    def _buffer(self, table: str, rows: int) -> _TableBuffer | None:
        """The table's buffer, or None (with ``rows`` counted as not written) once tracing has stopped."""
        self._check(table)
        if table not in self._buffers and self.trace_error is None:
            folder = self.path / table
            try:
                folder.mkdir(exist_ok=True)
            except OSError as exc:
                self._stop_tracing(f"cannot create {folder}: {exc}")
            else:
                self._buffers[table] = _TableBuffer(folder)
        if self.trace_error is not None:
            self.rows_not_written[table] = self.rows_not_written.get(table, 0) + rows
            return None
        return self._buffers[table]

    def _stop_tracing(self, reason: str) -> None:
        """A write failed: drop what is buffered (counted), warn once, record why, write nothing more."""
        first = self.trace_error is None
        if first:
            self.trace_error = reason
            warnings.warn(f"run {self.path}: tracing stopped ({reason}); the run goes on without a trace",
                          TraceWriteWarning, stacklevel=4)
        for table, buffer in self._buffers.items():
            if buffer.pending:
                self.rows_not_written[table] = self.rows_not_written.get(table, 0) + buffer.pending
            buffer.rows, buffer.blocks, buffer.pending = [], [], 0
        if first:
            self.manifest["trace_error"] = reason
            self._write_manifest()  # best effort: the disk may refuse this too

    def _write_manifest(self) -> None:
        try:
            _write_json_atomic(self.path / MANIFEST, {**self.manifest, "rows_not_written": self.rows_not_written})
        except OSError as exc:
            if self.trace_error is None:
                self._stop_tracing(f"cannot write {self.path / MANIFEST}: {exc}")

    def append(self, table: str, row: Mapping[str, Any]) -> None:
        """Append one row (column name -> value) to ``table``. A no-op at detail ``off``."""
        self._check(table)
        if self.detail is Detail.OFF:
            return
        buffer = self._buffer(table, 1)
        if buffer is None:
            return
        buffer.rows.append(dict(row))
        buffer.pending += 1
        self._maybe_flush(table, buffer)

    def append_columns(self, table: str, columns: Mapping[str, Sequence[Any] | np.ndarray]) -> None:
        """Append many rows at once, given as equal-length columns (the fast path for big tables)."""
        self._check(table)
        if self.detail is Detail.OFF:
            return
        block = pa.table({name: _column(name, values) for name, values in columns.items()})
        buffer = self._buffer(table, block.num_rows)
        if buffer is None:
            return
        if buffer.rows:  # keep row order: what came row by row goes first
            buffer.blocks.append(_rows_to_table(buffer.rows))
            buffer.rows = []
        buffer.blocks.append(block)
        buffer.pending += block.num_rows
        self._maybe_flush(table, buffer)

    def set(self, **fields: Any) -> None:
        """Record manifest fields (under ``fields``); the manifest on disk is rewritten at once."""
        self.manifest["fields"].update(fields)
        self._write_manifest()

    # -- chunks ----------------------------------------------------------------------------------
    def _maybe_flush(self, table: str, buffer: _TableBuffer) -> None:
        if buffer.pending >= self.chunk_rows or time.monotonic() - buffer.last_flush >= self.chunk_seconds:
            self._flush(table, buffer)

    def _flush(self, table: str, buffer: _TableBuffer) -> None:
        buffer.last_flush = time.monotonic()
        if buffer.pending == 0:
            return
        try:
            data = buffer.to_table(TABLES[table])
        except (RunError, pa.ArrowException) as exc:
            # Drop the rows that cannot be stored, or every later flush would fail on them again.
            dropped = buffer.pending
            buffer.rows, buffer.blocks, buffer.pending = [], [], 0
            raise RunError(f"table {table!r}: {exc}; the {dropped} buffered rows were not written") from None
        final = buffer.folder / f"part-{buffer.next_part:06d}.parquet"
        tmp = buffer.folder / f".part-{buffer.next_part:06d}.parquet.tmp"
        try:
            pq.write_table(data, tmp, compression="zstd")
            os.replace(tmp, final)  # atomic: a reader or a kill never sees half a chunk
        except OSError as exc:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            self._stop_tracing(f"cannot write {final}: {exc}")
            return
        buffer.next_part += 1
        buffer.rows, buffer.blocks, buffer.pending = [], [], 0
        self.manifest["part_rows"].setdefault(table, []).append(data.num_rows)
        self._write_manifest()

    def flush(self) -> None:
        """Write every buffered row now."""
        for table, buffer in self._buffers.items():
            self._flush(table, buffer)

    # -- end -------------------------------------------------------------------------------------
    def close(self, status: str = "finished", error: str | None = None) -> None:
        """Flush everything and mark the run ``finished`` (or ``failed`` with ``error``).

        A run whose tracing stopped on a write failure closes as ``failed`` with that reason, without
        raising: the trace is incomplete, the work it traced is not."""
        if self._closed:
            return
        if status not in ("finished", "failed"):
            raise ValueError(f"status must be 'finished' or 'failed', got {status!r}")
        failure: BaseException | None = None
        for table, buffer in self._buffers.items():  # every table, even after one fails
            try:
                self._flush(table, buffer)
            except Exception as exc:  # noqa: BLE001 (recorded in the manifest, then raised)
                failure = failure or exc
        if failure is not None and status == "finished":
            status, error = "failed", str(failure)
        if self.trace_error is not None and status == "finished":
            lost = ", ".join(f"{n} {table}" for table, n in self.rows_not_written.items()) or "no"
            status, error = "failed", f"tracing stopped: {self.trace_error} ({lost} rows not written)"
        self._closed = True
        self.manifest.update(status=status, error=error, end_time=_utc_now(), wall_time_s=self.wall_time_s)
        self._write_manifest()
        if failure is not None:
            raise failure

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.close()
        else:
            self.close("failed", f"{type(exc).__name__}: {exc}")

    def __del__(self) -> None:
        # A writer dropped without close() (e.g. an env never closed) still saves its rows; the
        # manifest keeps saying "unfinished", which is the truth.
        if not getattr(self, "_closed", True):
            try:
                self.flush()
            except Exception:
                pass

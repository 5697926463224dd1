"""Mobility traces: the ns-2 movement format, SUMO FCD conversion, highway and urban-grid generators.

ns-3 reads ns-2 movement files with ``Ns2MobilityHelper``; ns6g's scenarios take such a file (the
SpectrumAllocation environment's ``mobility="trace"``). This module checks a trace strictly before any
process starts (:func:`read_ns2_trace`), converts SUMO floating-car-data (:func:`sumo_fcd_to_ns2`),
writes vehicular traces (:func:`highway_trace`, :func:`urban_grid_trace`) and evaluates a trace the way
ns-3 plays it (:func:`positions_at`). See docs/mobility.md.

Accepted ns-2 lines (one a line; ``#`` starts a comment; blank lines are skipped)::

    $node_(0) set X_ 10.0                       # initial position; X_ and Y_ required, Z_ optional (0)
    $ns_ at 2.5 "$node_(0) setdest 50.0 20.0 3.0"   # at 2.5 s head for (50, 20) at 3 m/s

A node's setdests must be in time order (ns-3 plays them in file order). Anything else (including
ns-2's ``$ns_ at t "$node_(i) set X_ v"``) is refused with :class:`TraceError`
``"<file>:<line>: <what is wrong>: <the line>"``.
"""

from __future__ import annotations

import math
import os
import re
import xml.parsers.expat
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "TraceError", "read_ns2_trace", "positions_at", "sumo_fcd_to_ns2", "highway_trace", "urban_grid_trace",
    "TRACE_COLUMNS",
]

TRACE_COLUMNS = ["node", "time_s", "x_m", "y_m", "z_m", "speed_mps", "kind"]

_NODE = re.compile(r"^\$node_\(([^)]*)\)(.*)$")
_SET = re.compile(r"^\s+set\s+(\S+)\s+(\S+)$")
_AT = re.compile(r"^\$ns_\s+at\s+(\S+)\s+\"(.*)\"$")
_SETDEST = re.compile(r"^\s+setdest\s+(\S+)\s+(\S+)\s+(\S+)$")


class TraceError(ValueError):
    """A mobility trace was refused; the message names the file and line."""


def _where(path: str | os.PathLike[str], lineno: int, what: str, line: str) -> TraceError:
    return TraceError(f"{os.fspath(path)}:{lineno}: {what}: {line.strip()}")


def _number(text: str, what: str, path, lineno: int, line: str, *, non_negative: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _where(path, lineno, f"{what} is not a number ({text!r})", line) from None
    if not math.isfinite(value):
        raise _where(path, lineno, f"{what} is not finite ({text!r})", line)
    if non_negative and value < 0:
        raise _where(path, lineno, f"{what} is negative ({text!r})", line)
    return value


def _node_id(text: str, path, lineno: int, line: str) -> int:
    if not re.fullmatch(r"\d+", text):
        raise _where(path, lineno, f"bad node reference $node_({text}) (expected $node_(<integer>))", line)
    return int(text)


def read_ns2_trace(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and check an ns-2 movement trace.

    Returns one row per node of kind ``"initial"`` (time 0, its ``X_``/``Y_``/``Z_``; ``Z_`` 0 when not
    set, speed 0) and one row per ``setdest`` (its time, destination, speed; ``z_m`` the node's initial
    height, which setdest keeps), sorted by node, then initial first, then time (stable). Columns:
    :data:`TRACE_COLUMNS`.

    Raises:
        TraceError: ``"<file>:<line number>: <what is wrong>: <the line>"`` for a malformed line, a
            negative time or speed, a coordinate set twice, a node's setdest earlier than its previous
            one; node ids must run 0..n-1 without gaps and
            every node needs ``X_`` and ``Y_`` (the message names the first line of the offending node).
        OSError: the file cannot be read.
    """
    initial: dict[int, dict[str, float]] = {}
    first_line: dict[int, tuple[int, str]] = {}
    moves: list[tuple[int, float, float, float, float]] = []
    last_time: dict[int, float] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            node_match = _NODE.match(line)
            at_match = _AT.match(line)
            if node_match:
                node = _node_id(node_match.group(1), path, lineno, line)
                first_line.setdefault(node, (lineno, line))
                cmd = _SET.match(node_match.group(2))
                if not cmd:
                    raise _where(path, lineno, "expected '$node_(i) set X_|Y_|Z_ <value>'", line)
                axis, value = cmd.groups()
                if axis not in ("X_", "Y_", "Z_"):
                    raise _where(path, lineno, f"unknown attribute {axis!r} (expected X_, Y_ or Z_)", line)
                number = _number(value, axis, path, lineno, line)
                coords = initial.setdefault(node, {})
                if axis in coords:
                    raise _where(path, lineno, f"{axis} of node {node} set twice", line)
                coords[axis] = number
            elif at_match:
                time_s = _number(at_match.group(1), "time", path, lineno, line, non_negative=True)
                inner = at_match.group(2).strip()
                inner_node = _NODE.match(inner)
                if not inner_node:
                    if inner.startswith("$node_"):
                        raise _where(path, lineno, "bad node reference (expected $node_(<integer>))", line)
                    raise _where(path, lineno, "expected '$ns_ at <time> \"$node_(i) setdest <x> <y> <speed>\"'",
                                 line)
                node = _node_id(inner_node.group(1), path, lineno, line)
                first_line.setdefault(node, (lineno, line))
                dest = _SETDEST.match(inner_node.group(2))
                if not dest:
                    command = inner_node.group(2).split()
                    if command and command[0] == "setdest":
                        raise _where(path, lineno, "setdest takes <x> <y> <speed>", line)
                    name = command[0] if command else ""
                    raise _where(path, lineno, f"unknown command {name!r} (only setdest is supported in $ns_ at)",
                                 line)
                x = _number(dest.group(1), "x", path, lineno, line)
                y = _number(dest.group(2), "y", path, lineno, line)
                speed = _number(dest.group(3), "speed", path, lineno, line, non_negative=True)
                if time_s < last_time.get(node, 0.0):  # ns-3 plays a node's setdests in file order
                    raise _where(path, lineno, f"setdest of node {node} at {time_s} s comes after one at "
                                 f"{last_time[node]} s (a node's setdests must be in time order)", line)
                last_time[node] = time_s
                moves.append((node, time_s, x, y, speed))
            else:
                word = line.split()[0]
                if word.startswith("$node_") or word.startswith("$node"):
                    raise _where(path, lineno, "bad node reference (expected $node_(<integer>))", line)
                raise _where(path, lineno, f"unknown command {word!r} (expected $node_(i) set or $ns_ at)", line)

    nodes = sorted(first_line)
    if not nodes:
        raise TraceError(f"{os.fspath(path)}: the trace has no nodes")
    for expected, node in enumerate(nodes):
        if node != expected:
            lineno, line = first_line[node]
            raise _where(path, lineno, f"node ids must run 0..n-1 without gaps; node {expected} is missing", line)
    for node in nodes:
        coords = initial.get(node, {})
        missing = [axis for axis in ("X_", "Y_") if axis not in coords]
        if missing:
            lineno, line = first_line[node]
            raise _where(path, lineno, f"node {node} has no initial {' or '.join(missing)}", line)

    rows = [(n, 0.0, initial[n]["X_"], initial[n]["Y_"], initial[n].get("Z_", 0.0), 0.0, "initial") for n in nodes]
    rows += [(n, t, x, y, initial[n].get("Z_", 0.0), s, "setdest") for n, t, x, y, s in moves]
    frame = pd.DataFrame(rows, columns=TRACE_COLUMNS)
    frame["order"] = (frame["kind"] == "setdest").astype(int)
    frame = frame.sort_values(["node", "order", "time_s"], kind="stable").drop(columns="order")
    return frame.reset_index(drop=True).astype({"node": "int64"})


def positions_at(trace: pd.DataFrame, time_s: float) -> np.ndarray:
    """Positions (n_nodes, 3) in m at ``time_s`` as ns-3's Ns2MobilityHelper plays ``trace``.

    A setdest at t heads from the node's position at t straight to the destination at the speed and
    stops there (speed 0: stays); a later setdest replaces an unfinished one. Simultaneous setdests of a
    node apply in file order.
    """
    out = []
    for _, group in trace.groupby("node", sort=True):
        init = group[group["kind"] == "initial"].iloc[0]
        pos = np.array([init["x_m"], init["y_m"], init["z_m"]], dtype=float)
        now, dest, speed = 0.0, None, 0.0

        def advance(pos, now, until, dest, speed):
            if dest is None or speed <= 0 or until <= now:
                return pos
            delta = dest - pos
            dist = float(np.hypot(delta[0], delta[1]))
            step = speed * (until - now)
            return dest.copy() if step >= dist else pos + delta * (step / dist)

        for row in group[group["kind"] == "setdest"].itertuples():
            if row.time_s > time_s:
                break
            pos = advance(pos, now, row.time_s, dest, speed)
            now, dest, speed = row.time_s, np.array([row.x_m, row.y_m, pos[2]]), row.speed_mps
        out.append(advance(pos, now, time_s, dest, speed))
    return np.array(out)


def _fmt(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class _Ns2Writer:
    def __init__(self, path: str | os.PathLike[str]):
        self._f = open(path, "w", encoding="utf-8")

    def comment(self, text: str) -> None:
        for line in text.splitlines():
            self._f.write(f"# {line}\n")

    def initial(self, node: int, x: float, y: float, z: float) -> None:
        for axis, value in (("X_", x), ("Y_", y), ("Z_", z)):
            self._f.write(f"$node_({node}) set {axis} {_fmt(value)}\n")

    def setdest(self, node: int, time_s: float, x: float, y: float, speed: float) -> None:
        self._f.write(f'$ns_ at {_fmt(time_s)} "$node_({node}) setdest {_fmt(x)} {_fmt(y)} {_fmt(speed)}"\n')

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def sumo_fcd_to_ns2(fcd_xml_path: str | os.PathLike[str], out_path: str | os.PathLike[str], *,
                    max_nodes: int | None = None, z_m: float = 1.5) -> int:
    """Convert SUMO floating-car data (``sumo --fcd-output``) to an ns-2 trace; returns the node count.

    Vehicles (``<vehicle>`` elements, ``id``, ``x``, ``y`` required, ``z`` optional, default ``z_m``)
    become nodes 0, 1, ... in order of first appearance (at most ``max_nodes``; later ones are left out).
    A vehicle's first position is its initial ``X_``/``Y_``/``Z_``: it stands there from time 0 until it
    appears, and stays at its last position after it leaves (nothing is parked far away). Between two
    consecutive appearances at t1 < t2 it gets ``setdest`` at t1 towards the later position at speed
    distance / (t2 - t1), so it is exactly there at t2 (no setdest when it did not move). SUMO's own
    ``speed`` attribute is not used. Other elements (``person``, ``container``, ...) are ignored.
    Coordinates must be SUMO's projected (metric) ones, not ``--fcd-output.geo``.

    Raises:
        TraceError: ``"<file>:<line>: <what is wrong>: <the element>"`` for malformed XML, a missing or
            non-numeric attribute, a timestep earlier than the previous one, a vehicle twice in one
            timestep, or no vehicles at all.
    """
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1 (got {max_nodes})")
    path = os.fspath(fcd_xml_path)
    tracks: dict[str, list[tuple[float, float, float, float]]] = {}
    state: dict[str, object] = {"time": None, "last_time": None, "seen": set(), "root": False}
    parser = xml.parsers.expat.ParserCreate()

    def element_text(name: str, attrs: dict[str, str]) -> str:
        return "<" + " ".join([name, *(f'{k}="{v}"' for k, v in attrs.items())]) + ">"

    def start(name: str, attrs: dict[str, str]) -> None:
        lineno = parser.CurrentLineNumber
        text = element_text(name, attrs)
        if not state["root"]:
            state["root"] = True
            if name != "fcd-export":
                raise _where(path, lineno, f"expected the root element <fcd-export>, got <{name}>", text)
            return
        if name == "timestep":
            if "time" not in attrs:
                raise _where(path, lineno, "timestep without a time attribute", text)
            time_s = _number(attrs["time"], "time", path, lineno, text, non_negative=True)
            if state["last_time"] is not None and time_s <= state["last_time"]:
                raise _where(path, lineno, f"timestep {time_s} s is not after the previous one "
                             f"({state['last_time']} s)", text)
            state["time"] = state["last_time"] = time_s
            state["seen"] = set()
        elif name == "vehicle":
            if state["time"] is None:
                raise _where(path, lineno, "vehicle outside a <timestep>", text)
            for key in ("id", "x", "y"):
                if key not in attrs:
                    raise _where(path, lineno, f"vehicle without the {key} attribute", text)
            vid = attrs["id"]
            if vid in state["seen"]:
                raise _where(path, lineno, f"vehicle {vid!r} twice in one timestep", text)
            state["seen"].add(vid)
            x = _number(attrs["x"], "x", path, lineno, text)
            y = _number(attrs["y"], "y", path, lineno, text)
            z = _number(attrs["z"], "z", path, lineno, text) if "z" in attrs else z_m
            if vid not in tracks and max_nodes is not None and len(tracks) >= max_nodes:
                return
            tracks.setdefault(vid, []).append((state["time"], x, y, z))

    def end(name: str) -> None:
        if name == "timestep":
            state["time"] = None

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        with open(path, "rb") as f:
            parser.ParseFile(f)
    except xml.parsers.expat.ExpatError as exc:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        line = lines[exc.lineno - 1] if 0 < exc.lineno <= len(lines) else ""
        what = xml.parsers.expat.ErrorString(exc.code)
        raise _where(path, exc.lineno, f"malformed XML ({what}, column {exc.offset + 1})", line) from None
    if not tracks:
        raise TraceError(f"{path}: no vehicles in the FCD file")

    with _Ns2Writer(out_path) as out:
        out.comment(f"ns-2 mobility trace converted by ns6g.radio.mobility.sumo_fcd_to_ns2 from {Path(path).name}\n"
                    "node: SUMO vehicle id (in order of first appearance)")
        for node, vid in enumerate(tracks):
            out.comment(f"node {node}: {vid}")
        for node, track in enumerate(tracks.values()):
            _, x, y, z = track[0]
            out.initial(node, x, y, z)
        for node, track in enumerate(tracks.values()):
            for (t1, x1, y1, _), (t2, x2, y2, _) in zip(track, track[1:]):
                dist = math.hypot(x2 - x1, y2 - y1)
                if dist > 0:
                    out.setdest(node, t1, x2, y2, dist / (t2 - t1))
    return len(tracks)


def _uniform_speeds(rng: np.random.Generator, n: int, speed_mps: Sequence[float]) -> np.ndarray:
    low, high = float(speed_mps[0]), float(speed_mps[1])
    if not 0 < low <= high:
        raise ValueError(f"speed_mps must be (low, high) with 0 < low <= high (got {speed_mps})")
    return rng.uniform(low, high, n)


def highway_trace(path: str | os.PathLike[str], n_vehicles: int, length_m: float = 2000, lanes: int = 3,
                  lane_width_m: float = 3.5, speed_mps: Sequence[float] = (25, 35), duration_s: float = 60,
                  seed: int = 0, *, centre_m: Sequence[float] = (0.0, 0.0), z_m: float = 1.5) -> int:
    """Write an ns-2 trace of ``n_vehicles`` on a straight two-way highway; returns the node count.

    The road runs along x over ``[cx - length_m/2, cx + length_m/2]``; ``lanes`` lanes per direction,
    lane centres at ``cy + (k + 1/2) lane_width_m`` (eastbound, +x) and ``cy - (k + 1/2) lane_width_m``
    (westbound), k = 0..lanes-1. Vehicle i drives eastbound for even i, westbound for odd i, on a random
    lane from a uniform random x, at a constant speed uniform in ``speed_mps``. At the end of the road
    it turns round onto the mirrored lane of the other direction (a U-turn across the median, at its
    speed) and drives back, so vehicles stay on the road for the whole ``duration_s``. Height ``z_m``.
    Deterministic for a seed.
    """
    if n_vehicles < 1 or lanes < 1 or length_m <= 0 or lane_width_m <= 0 or duration_s <= 0:
        raise ValueError("highway_trace: n_vehicles, lanes, length_m, lane_width_m and duration_s must be positive")
    rng = np.random.default_rng(seed)
    cx, cy = float(centre_m[0]), float(centre_m[1])
    west, east = cx - length_m / 2, cx + length_m / 2
    speeds = _uniform_speeds(rng, n_vehicles, speed_mps)
    lane = rng.integers(0, lanes, n_vehicles)
    start_x = rng.uniform(west, east, n_vehicles)
    with _Ns2Writer(path) as out:
        out.comment(f"ns6g.radio.mobility.highway_trace: {n_vehicles} vehicles, {length_m} m, {lanes} lanes per "
                    f"direction of {lane_width_m} m, speeds {tuple(speed_mps)} m/s, {duration_s} s, seed {seed}")
        offsets = (lane + 0.5) * lane_width_m
        for i in range(n_vehicles):
            sign = 1.0 if i % 2 == 0 else -1.0
            out.initial(i, start_x[i], cy + sign * offsets[i], z_m)
        for i in range(n_vehicles):
            sign = 1.0 if i % 2 == 0 else -1.0  # +1: eastbound on the +y side
            x, t, v = start_x[i], 0.0, speeds[i]
            while t < duration_s:
                end_x = east if sign > 0 else west
                out.setdest(i, t, end_x, cy + sign * offsets[i], v)
                t += abs(end_x - x) / v
                if t >= duration_s:
                    break
                out.setdest(i, t, end_x, cy - sign * offsets[i], v)  # U-turn onto the other carriageway
                t += 2 * offsets[i] / v
                x, sign = end_x, -sign
    return n_vehicles


def urban_grid_trace(path: str | os.PathLike[str], n_vehicles: int, blocks: Sequence[int] = (5, 5),
                     block_m: float = 100, speed_mps: Sequence[float] = (8, 14), duration_s: float = 60,
                     seed: int = 0, *, centre_m: Sequence[float] = (0.0, 0.0), z_m: float = 1.5) -> int:
    """Write an ns-2 trace of ``n_vehicles`` driving a Manhattan grid; returns the node count.

    ``blocks = (bx, by)`` square blocks of ``block_m``, centred on ``centre_m``: streets along
    ``x = cx - bx*block_m/2 + i*block_m`` (i = 0..bx) and ``y = cy - by*block_m/2 + j*block_m``
    (j = 0..by), vehicles on the street centre lines. Each vehicle starts at a uniform random point of a
    random street segment, drives to an end of it, and at every intersection turns at random (left,
    right or straight, equally likely among the streets that exist; never back unless it must) at a
    constant speed uniform in ``speed_mps``, for ``duration_s``. Height ``z_m``. Deterministic for a seed.
    """
    bx, by = int(blocks[0]), int(blocks[1])
    if n_vehicles < 1 or bx < 1 or by < 1 or block_m <= 0 or duration_s <= 0:
        raise ValueError("urban_grid_trace: n_vehicles, blocks, block_m and duration_s must be positive")
    rng = np.random.default_rng(seed)
    x0 = float(centre_m[0]) - bx * block_m / 2
    y0 = float(centre_m[1]) - by * block_m / 2
    speeds = _uniform_speeds(rng, n_vehicles, speed_mps)
    directions = [(1, 0), (-1, 0), (0, 1), (0, -1)]

    def exits(i: int, j: int, came: tuple[int, int] | None) -> list[tuple[int, int]]:
        ok = [d for d in directions if 0 <= i + d[0] <= bx and 0 <= j + d[1] <= by]
        if came is not None and len(ok) > 1:
            ok = [d for d in ok if d != (-came[0], -came[1])]
        return ok

    def xy(i: int, j: int) -> tuple[float, float]:
        return x0 + i * block_m, y0 + j * block_m

    starts = []
    for _ in range(n_vehicles):
        i, j = int(rng.integers(0, bx + 1)), int(rng.integers(0, by + 1))
        options = exits(i, j, None)
        d = options[int(rng.integers(0, len(options)))]
        frac = float(rng.uniform(0, 1))
        ax, ay = xy(i, j)
        # on the segment from (i, j) towards (i + d), heading there: the street line stays exact
        pos = (ax + d[0] * frac * block_m, ay) if d[0] else (ax, ay + d[1] * frac * block_m)
        starts.append((i + d[0], j + d[1], d, pos, (1 - frac) * block_m))
    with _Ns2Writer(path) as out:
        out.comment(f"ns6g.radio.mobility.urban_grid_trace: {n_vehicles} vehicles, {bx}x{by} blocks of {block_m} m, "
                    f"speeds {tuple(speed_mps)} m/s, {duration_s} s, seed {seed}")
        for n, (_, _, _, pos, _) in enumerate(starts):
            out.initial(n, pos[0], pos[1], z_m)
        for n, (i, j, d, _, dist) in enumerate(starts):
            t, v = 0.0, speeds[n]
            while t < duration_s:
                out.setdest(n, t, *xy(i, j), v)
                t += dist / v
                options = exits(i, j, d)
                d = options[int(rng.integers(0, len(options)))]
                i, j, dist = i + d[0], j + d[1], block_m
    return n_vehicles

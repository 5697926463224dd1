"""The usual questions about runs, each answered as a DataFrame and, on request, a matplotlib figure.

Every function takes a :class:`~ns6g.analysis.Run` (one run) or a :class:`~ns6g.analysis.RunSet`
(many runs; the result keeps a leading ``run`` column, the run's path, so runs compare side by side) and
``plot=False``. With ``plot=True`` it returns ``(frame, figure)``; the figure is a plain
:class:`matplotlib.figure.Figure` (Agg canvas: no display, no pyplot state), to save with
``figure.savefig("x.png")`` or show in a notebook with ``display(figure)``.

An empty input table gives an empty frame with the documented columns (and a figure saying "no data").
A non-empty table that lacks a needed column raises :class:`MissingColumnsError` (a ``ValueError``)
naming the column and listing the ones the table has.

Input columns (the documented ones are in docs/traces.md; the others are written by the radio, MEC and
learner code, with the unit as the name's suffix):

=======================  ===================  =====================================================  ==============================
question                 table                columns                                                written by
=======================  ===================  =====================================================  ==============================
learning_curve           steps                episode, step, reward, sim_time_s (s), wall_time_s     environments (``run_dir=``)
                                              (s); seed, terminated, truncated if present
round_latency_cdf        rounds               round, protocol, start_s (s), end_s (s)                learners
per_ue_throughput        radio                ue, cell, ``throughput_bps`` (bit/s; any column)       radio scenarios
allocation_heatmap       radio                episode, time_s (s), ue, ``rbs`` (resource blocks per  radio scenarios (MAC scheduler)
                                              UE per interval; any column); seed if present
split_layer_histogram    rounds, else steps   ``split_layer`` (index of the last layer on the        split learners, split-point envs
                                              device; any column)
energy_per_device        rounds, else flows   device, energy_j (J); protocol if present              MEC / learner energy models
agent_evaluation         ``episodes.csv``     policy, seed, return; numeric info entries             ``ns6g train``, ``ns6g demo``
agent_paired             ``episodes.csv``     policy (an ``agent``), seed, return                    ``ns6g train``, ``ns6g demo``
training_curve           steps of             as learning_curve; the job's ``config.n_envs``         ``ns6g train``
                         ``train/env-<i>``
training_losses          ``progress.csv``     time/total_timesteps, ``train/...`` entries            ``ns6g train`` (SB3's logger)
=======================  ===================  =====================================================  ==============================

``rounds`` may hold one row per round or one row per client (``device``) per round; the latency CDF
merges the rows of a round (earliest start, latest end), the energy question sums them per device.

An environment's run holds many episodes (an evaluation run one per seed): its ``steps`` and ``radio`` rows
carry ``episode`` and ``seed``, which the questions group by (simulated time restarts at every reset).
Figures draw rates in Mbit/s (a ``_bps`` or ``_kbps`` column is scaled; the frame keeps its unit) and name
the unit on the axis.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import pandas as pd

from ns6g.analysis.load import Run, RunSet
from ns6g.core.runs import EPISODES_FILE, PROGRESS_FILE, TRAIN_RUNS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

RunLike = Union[Run, RunSet]

__all__ = [
    "MissingColumnsError",
    "agent_evaluation",
    "agent_paired",
    "allocation_heatmap",
    "energy_per_device",
    "learning_curve",
    "per_ue_throughput",
    "round_latency_cdf",
    "split_layer_histogram",
    "training_curve",
    "training_losses",
]


class MissingColumnsError(ValueError):
    """A table has rows but not the columns a question needs."""


# -- helpers ----------------------------------------------------------------------------------------------

def _table(run: RunLike, name: str) -> pd.DataFrame:
    return run.table(name)


def _run_keys(frame: pd.DataFrame) -> list[str]:
    """``["run"]`` when the frame comes from a RunSet (compare runs), else ``[]``."""
    return ["run"] if "run" in frame.columns else []


def _require(frame: pd.DataFrame, table: str, columns: Sequence[str], question: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(c for c in frame.columns if c != "run") or "no columns"
        raise MissingColumnsError(
            f"{question} needs column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)} "
            f"in the {table} table; it has: {have}"
        )


def _empty(keys: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object" if c == "run" else "float64") for c in [*keys, *columns]})


def _groupby(frame: pd.DataFrame, keys: Sequence[str]):
    return frame.groupby(list(keys), observed=True, dropna=False, sort=True)


def _run_labels(runs: Sequence[Any]) -> dict[Any, str]:
    """Short legend labels: the run folder's name, or the whole path where names collide."""
    names = {r: Path(str(r)).name or str(r) for r in runs}
    if len(set(names.values())) < len(names):
        return {r: str(r) for r in runs}
    return names


def _new_figure(width: float = 6.4, height: float = 4.0) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _no_data_figure(title: str) -> Figure:
    fig = _new_figure()
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data", ha="center", va="center", fontsize=14, transform=ax.transAxes)
    ax.set_axis_off()
    return fig


_RATE_SUFFIXES = (("_mbps", 1.0), ("_kbps", 1e-3), ("_bps", 1e-6))  # rate column suffix -> factor to Mbit/s


def _plot_unit(column: str) -> tuple[float, str]:
    """How a figure draws ``column``: the factor its values are multiplied by and the axis label naming the
    unit. Rates (``_bps``, ``_kbps``, ``_mbps``) are drawn in Mbit/s; other columns as they are, named by
    the column (whose suffix is its unit)."""
    for suffix, factor in _RATE_SUFFIXES:
        if column.endswith(suffix):
            return factor, f"{column[:-len(suffix)].replace('_', ' ')} (Mbit/s)"
    return 1.0, column


def _result(frame: pd.DataFrame, plot: bool, draw) -> pd.DataFrame | tuple[pd.DataFrame, Figure]:
    return (frame, draw(frame)) if plot else frame


def _bars(frame: pd.DataFrame, category: str, value: str, *, title: str, xlabel: str, ylabel: str,
          series: Sequence[str] = ()) -> Figure:
    """One bar per row: x is ``category``; rows of different ``series`` (run, protocol) sit side by side."""
    if frame.empty:
        return _no_data_figure(title)
    fig = _new_figure()
    ax = fig.add_subplot()
    categories = list(dict.fromkeys(frame[category].tolist()))
    try:
        categories = sorted(categories)
    except TypeError:
        pass
    position = {c: i for i, c in enumerate(categories)}
    groups = list(_groupby(frame, series)) if series else [((), frame)]
    labels = _run_labels(frame["run"].unique()) if "run" in series else {}
    width = 0.8 / len(groups)
    for i, (key, group) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        label = " / ".join(labels.get(k, str(k)) if s == "run" else str(k) for s, k in zip(series, key))
        x = np.array([position[c] for c in group[category]], dtype=float) - 0.4 + width * (i + 0.5)
        ax.bar(x, group[value].to_numpy(dtype=float), width=width, label=label or None)
    ax.set_xticks(range(len(categories)), [str(c) for c in categories])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(groups) > 1:
        ax.legend(fontsize="small")
    return fig


# -- questions --------------------------------------------------------------------------------------------

LEARNING_CURVE_COLUMNS = ["episode", "seed", "return", "steps", "done", "sim_time_s", "wall_time_s",
                          "sim_time_total_s"]


def learning_curve(run: RunLike, window: int | None = None, plot: bool = False):
    """Return per episode against simulated time (from ``steps``).

    Columns (one row per episode that took at least one step; ``run`` first for a RunSet):

    - ``episode``: episode index within the run.
    - ``seed``: the episode's seed (``steps.seed``; missing when the table has none).
    - ``return``: sum of ``reward`` over the episode's steps (rows with ``step > 0``; the reset row is
      not counted).
    - ``steps``: number of steps taken.
    - ``done``: the last step ended the episode (terminated or truncated); False for an episode the run
      stopped in the middle of.
    - ``sim_time_s``: simulated time at the episode's last step (s). Each reset restarts the simulation,
      so this is the episode's own simulated duration.
    - ``wall_time_s``: wall-clock time since the run started, at the episode's last step (s).
    - ``sim_time_total_s``: simulated time summed over the run's episodes up to and including this one
      (s): the x axis of a learning curve.
    - ``return_mean`` (only with ``window``): rolling mean of ``return`` over the last ``window``
      episodes of the run (fewer at the start).

    Figure: return against ``sim_time_total_s``, one line per run (plus a dashed rolling-mean line per
    run with ``window``).
    """
    if window is not None and window < 1:
        raise ValueError(f"window must be >= 1 (got {window})")
    steps = _table(run, "steps")
    keys = _run_keys(steps)
    columns = LEARNING_CURVE_COLUMNS + (["return_mean"] if window else [])
    if steps.empty:
        frame = _empty(keys, columns)
    else:
        _require(steps, "steps", ["episode", "step", "reward", "sim_time_s", "wall_time_s"], "learning_curve")
        acted = steps[steps["step"] > 0].sort_values([*keys, "episode", "step"], kind="stable")
        if acted.empty:
            frame = _empty(keys, columns)
        else:
            ended = np.zeros(len(acted), dtype=bool)
            for flag in ("terminated", "truncated"):
                if flag in acted.columns:
                    ended |= acted[flag].fillna(False).to_numpy(dtype=bool)
            acted = acted.assign(_ended=ended)
            grouped = _groupby(acted, [*keys, "episode"])
            frame = grouped.agg(
                **{"return": ("reward", "sum"), "steps": ("step", "size"), "done": ("_ended", "last"),
                   "sim_time_s": ("sim_time_s", "last"), "wall_time_s": ("wall_time_s", "last"),
                   **({"seed": ("seed", "first")} if "seed" in acted.columns else {})}
            ).reset_index()
            if "seed" not in frame.columns:
                frame["seed"] = pd.NA
            frame["seed"] = frame["seed"].astype("Int64")
            frame["return"] = frame["return"].astype("float64")
            frame["steps"] = frame["steps"].astype("int64")
            frame["done"] = frame["done"].astype(bool)
            per_run = _groupby(frame, keys) if keys else None
            sim_time = frame["sim_time_s"].fillna(0.0)  # an episode without a time adds nothing
            frame["sim_time_total_s"] = sim_time.groupby([frame[k] for k in keys], observed=True).cumsum() \
                if per_run is not None else sim_time.cumsum()
            if window:
                rolling = lambda r: r.rolling(window, min_periods=1).mean()  # noqa: E731
                frame["return_mean"] = per_run["return"].transform(rolling) if per_run is not None \
                    else rolling(frame["return"])
            frame = frame[[*keys, *columns]]

    def draw(frame: pd.DataFrame) -> Figure:
        title = "Learning curve"
        if frame.empty:
            return _no_data_figure(title)
        fig = _new_figure()
        ax = fig.add_subplot()
        groups = list(_groupby(frame, keys)) if keys else [((None,), frame)]
        labels = _run_labels([k[0] for k, _ in groups]) if keys else {}
        for (key, *_), group in groups:
            label = labels.get(key)
            line, = ax.plot(group["sim_time_total_s"], group["return"], marker="o", markersize=3,
                            alpha=0.5 if window else 1.0, label=label)
            if window:
                ax.plot(group["sim_time_total_s"], group["return_mean"], linestyle="--", color=line.get_color(),
                        label=f"{label + ': ' if label else ''}mean of {window}")
        ax.set_xlabel("cumulative simulated time (s)")
        ax.set_ylabel("episode return")
        ax.set_title(title)
        if keys or window:
            ax.legend(fontsize="small")
        return fig

    return _result(frame, plot, draw)


ROUND_LATENCY_COLUMNS = ["protocol", "round", "latency_s", "cdf"]


def round_latency_cdf(run: RunLike, plot: bool = False):
    """Empirical CDF of round latency per protocol (from ``rounds``).

    A round's latency is ``end_s - start_s`` (s); rows of the same round (one per client in a per-client
    table) are merged first: earliest ``start_s``, latest ``end_s``. Rounds that never ended (NaN) are
    left out.

    Columns (``run`` first for a RunSet), sorted by latency within each run and protocol:

    - ``protocol``: learning protocol.
    - ``round``: round index.
    - ``latency_s``: round latency (s).
    - ``cdf``: fraction of the run's rounds of this protocol with latency at most ``latency_s``; ``i/n``
      for the i-th of n rounds, so it lies in (0, 1] and ends at 1.

    Figure: a step CDF per protocol (per run and protocol for a RunSet).
    """
    rounds = _table(run, "rounds")
    keys = _run_keys(rounds)
    if rounds.empty:
        frame = _empty(keys, ROUND_LATENCY_COLUMNS)
    else:
        _require(rounds, "rounds", ["round", "protocol", "start_s", "end_s"], "round_latency_cdf")
        merged = _groupby(rounds, [*keys, "protocol", "round"]).agg(
            start_s=("start_s", "min"), end_s=("end_s", "max")).reset_index()
        merged["latency_s"] = (merged["end_s"] - merged["start_s"]).astype("float64")
        merged = merged[merged["latency_s"].notna()]
        merged = merged.sort_values([*keys, "protocol", "latency_s", "round"], kind="stable")
        grouped = _groupby(merged, [*keys, "protocol"])["latency_s"]
        merged["cdf"] = grouped.cumcount().add(1) / grouped.transform("size")
        frame = merged[[*keys, *ROUND_LATENCY_COLUMNS]].reset_index(drop=True)

    def draw(frame: pd.DataFrame) -> Figure:
        title = "Round latency"
        if frame.empty:
            return _no_data_figure(title)
        fig = _new_figure()
        ax = fig.add_subplot()
        labels = _run_labels(frame["run"].unique()) if keys else {}
        for key, group in _groupby(frame, [*keys, "protocol"]):
            *run_key, protocol = key
            label = " / ".join([*(labels[r] for r in run_key), str(protocol)])
            x = group["latency_s"].to_numpy(dtype=float)
            y = group["cdf"].to_numpy(dtype=float)
            ax.step(np.r_[x[0], x], np.r_[0.0, y], where="post", label=label)
        ax.set_xlabel("round latency (s)")
        ax.set_ylabel("CDF")
        ax.set_ylim(0, 1.02)
        ax.set_title(title)
        ax.legend(fontsize="small")
        return fig

    return _result(frame, plot, draw)


def per_ue_throughput(run: RunLike, column: str = "throughput_bps", by_cell: bool = True, plot: bool = False):
    """Throughput statistics per UE (and serving cell) from ``radio``.

    Args:
        column: the throughput column of ``radio`` (any, e.g. ``throughput_bps`` in bit/s or
            ``throughput_mbps``); the statistics keep its unit (the figure draws rates in Mbit/s).
        by_cell: one row per (UE, serving cell); with False one row per UE over all its cells.

    Columns (``run`` first for a RunSet): ``ue``, ``cell`` (with ``by_cell``), ``samples`` (measurement
    intervals with a value), ``mean``, ``median``, ``p5`` (5th percentile, linear interpolation): in the
    unit of ``column``.

    Raises:
        MissingColumnsError: the radio table has rows but no ``column`` (the message lists the columns
            it has).

    The statistics pool the run's episodes (an evaluation run's seeds); for one seed's, group the radio
    table by ``seed`` yourself (docs/analysis.md).

    Figure: mean throughput per UE as bars (side by side per run), in Mbit/s for a rate column.
    """
    radio = _table(run, "radio")
    keys = _run_keys(radio)
    group_keys = ["ue", "cell"] if by_cell else ["ue"]
    columns = [*group_keys, "samples", "mean", "median", "p5"]
    if radio.empty:
        frame = _empty(keys, columns)
    else:
        _require(radio, "radio", [*group_keys, column], "per_ue_throughput")
        values = radio[[*keys, *group_keys, column]].dropna(subset=[column])
        grouped = _groupby(values, [*keys, *group_keys])[column]
        frame = pd.DataFrame({
            "samples": grouped.size(),
            "mean": grouped.mean(),
            "median": grouped.median(),
            "p5": grouped.quantile(0.05),
        }).reset_index()
        frame["samples"] = frame["samples"].astype("int64")
        frame = frame[[*keys, *columns]]

    def draw(frame: pd.DataFrame) -> Figure:
        factor, label = _plot_unit(column)
        shown = frame.assign(mean=frame["mean"] * factor)
        if by_cell and not frame.empty:
            shown = shown.assign(ue=[f"{u} (cell {c})" for u, c in zip(frame["ue"], frame["cell"])])
        return _bars(shown, "ue", "mean", title="Throughput per UE", xlabel="UE" + (" (serving cell)" if by_cell else ""),
                     ylabel=f"mean {label}", series=keys)

    return _result(frame, plot, draw)


def allocation_heatmap(run: RunLike, column: str = "rbs", aggfunc: str = "sum", episode: int | None = None,
                       plot: bool = False):
    """An allocation column of ``radio`` as a time x UE table per episode (e.g. resource blocks per UE per
    interval).

    Args:
        column: the allocation column of ``radio`` (default ``rbs``: resource blocks given to the UE in
            the interval ending at ``time_s``).
        aggfunc: how rows of the same UE, episode and time combine (several cells or carriers): ``"sum"``
            (default), ``"mean"``, ``"max"``...
        episode: only this episode of each run (``radio.episode``); None for all.

    Returns a wide frame: index ``(episode, time_s)`` (``(run, episode, time_s)`` for a RunSet; ``time_s``
    in s, within its episode: every reset restarts the simulation, so episodes are kept apart by
    ``episode``, never mixed at the same ``time_s``), one column per ``ue`` (the column index is named
    ``ue``), values in the unit of ``column``; NaN where a UE has no row at that time. A radio table
    without ``episode`` (runs written before it existed) counts as one episode, 0.

    Raises:
        MissingColumnsError: the radio table has rows but no ``column``.

    Figure: one heatmap (``imshow``, time across, UE down, colour = ``column``, rates in Mbit/s) with a
    colour bar per run, of ``episode`` or else of the run's first episode (the title names it and its seed).
    """
    radio = _table(run, "radio")
    keys = _run_keys(radio)
    index = [*keys, "episode", "time_s"]
    if not radio.empty:
        _require(radio, "radio", ["time_s", "ue", column], "allocation_heatmap")
        # rows written before the episode column (absent, or null beside newer runs' rows): episode 0
        radio = radio.assign(episode=radio["episode"].fillna(0).astype("int64") if "episode" in radio.columns else 0)
        if episode is not None:
            radio = radio[radio["episode"] == episode]
    if radio.empty:
        frame = pd.DataFrame(index=pd.MultiIndex.from_arrays([[]] * len(index), names=index),
                             columns=pd.Index([], dtype="int64", name="ue"), dtype="float64")
    else:
        grouped = radio.groupby([*index, "ue"], observed=True, sort=True)[column]
        # a sum over nothing but NaN stays NaN (no measurement), not 0
        cells = grouped.sum(min_count=1) if aggfunc == "sum" else grouped.agg(aggfunc)
        frame = cells.unstack("ue").astype("float64").sort_index().sort_index(axis=1)
        frame.columns.name = "ue"
    seeds = {}  # (run..., episode) -> seed, for the titles
    if not radio.empty and "seed" in radio.columns:
        seeds = radio.groupby([*keys, "episode"], observed=True)["seed"].first().to_dict()

    def draw(frame: pd.DataFrame) -> Figure:
        factor, label = _plot_unit(column)
        title = f"{label} per UE"
        if frame.empty:
            return _no_data_figure(title)
        parts = list(frame.groupby(level="run", observed=True)) if keys else [(None, frame)]
        labels = _run_labels([p for p, _ in parts]) if keys else {}
        fig = _new_figure(6.4, 2.0 + 2.6 * len(parts))
        axes = fig.subplots(len(parts), 1, squeeze=False)[:, 0]
        for ax, (name, part) in zip(axes, parts):
            if keys:
                part = part.droplevel("run")
            episodes = part.index.get_level_values("episode").unique()
            shown = episode if episode is not None else episodes.min()
            part = part.xs(shown, level="episode").dropna(axis=1, how="all")
            times = part.index.to_numpy(dtype=float)
            half = float(np.median(np.diff(times))) / 2 if len(times) > 1 else 0.5
            image = ax.imshow(part.to_numpy(dtype=float).T * factor, aspect="auto", origin="lower",
                              interpolation="nearest", extent=(times[0] - half, times[-1] + half, -0.5, part.shape[1] - 0.5))
            ax.set_yticks(range(part.shape[1]), [str(u) for u in part.columns])
            ax.set_xlabel("simulated time within the episode (s)")
            ax.set_ylabel("UE")
            seed = seeds.get((name, shown) if keys else shown)
            which = f"episode {shown}" + (f" (seed {seed})" if seed is not None and not pd.isna(seed) else "") \
                + (f" of {len(episodes)}" if len(episodes) > 1 else "")
            ax.set_title(f"{title}{': ' + labels[name] if keys else ''}, {which}", fontsize="medium")
            fig.colorbar(image, ax=ax, label=label)
        return fig

    return _result(frame, plot, draw)


def split_layer_histogram(run: RunLike, column: str = "split_layer", plot: bool = False):
    """How often each split layer was chosen: from ``rounds``, or from ``steps`` when only it has the column.

    Columns (``run`` first for a RunSet): ``<column>`` (the split layer: index of the last layer run on
    the device), ``count`` (rows with that layer: rounds, or client rounds in a per-client table, or
    environment steps), ``fraction`` (count over the run's total, 0..1).

    Raises:
        MissingColumnsError: neither table has ``column`` while one of them has rows.

    Figure: a bar per split layer (side by side per run).
    """
    rounds, steps = _table(run, "rounds"), _table(run, "steps")
    if column in rounds.columns:
        source = rounds
    elif column in steps.columns:
        source = steps
    elif rounds.empty and steps.empty:
        source = None
    else:
        table = "rounds" if not rounds.empty else "steps"
        have = ", ".join(c for c in (rounds if not rounds.empty else steps).columns if c != "run")
        raise MissingColumnsError(f"split_layer_histogram needs column {column!r} in the rounds or steps table; "
                                  f"neither has it ({table} has: {have})")
    keys = _run_keys(rounds if source is None else source)
    if source is None or source[column].isna().all():
        frame = _empty(keys, [column, "count", "fraction"])
    else:
        values = source[[*keys, column]].dropna(subset=[column])
        layers = values[column]
        if layers.dtype.kind == "f" and (layers == layers.round()).all():  # floats only because of NaN rows
            values = values.assign(**{column: layers.astype("int64")})
        frame = _groupby(values, [*keys, column]).size().rename("count").reset_index()
        frame["count"] = frame["count"].astype("int64")
        totals = frame.groupby(keys, observed=True)["count"].transform("sum") if keys else frame["count"].sum()
        frame["fraction"] = frame["count"] / totals

    def draw(frame: pd.DataFrame) -> Figure:
        return _bars(frame, column, "count", title="Split layer", xlabel="split layer", ylabel="count", series=keys)

    return _result(frame, plot, draw)


def energy_per_device(run: RunLike, plot: bool = False):
    """Energy spent per device: ``energy_j`` summed per ``device`` (and per ``protocol`` when present).

    Input: long format, one row per device per round (or per transfer): columns ``device`` and
    ``energy_j`` (J) in ``rounds``, else in ``flows``.

    Columns (``run`` first for a RunSet): ``protocol`` (when the table has it), ``device``, ``energy_j``
    (total, J), ``rows`` (rows summed: client rounds or transfers), ``energy_j_mean`` (mean per row, J).

    Raises:
        MissingColumnsError: the table with rows lacks ``device`` or ``energy_j`` (the message names the
            missing ones).

    Figure: total energy per device as bars (side by side per run and protocol).
    """
    needed = ["device", "energy_j"]
    rounds, flows = _table(run, "rounds"), _table(run, "flows")
    if set(needed) <= set(rounds.columns):
        source = rounds
    elif set(needed) <= set(flows.columns):
        source = flows
    elif rounds.empty and flows.empty:
        source = None
    else:
        if not rounds.empty:
            _require(rounds, "rounds", needed, "energy_per_device")
        _require(flows, "flows", needed, "energy_per_device")
    keys = _run_keys(rounds if source is None else source)
    series = [*keys, *(["protocol"] if source is not None and "protocol" in source.columns else [])]
    columns = ["device", "energy_j", "rows", "energy_j_mean"]
    if source is None or source.empty:
        frame = _empty(series, columns)
    else:
        values = source[[*series, *needed]].dropna(subset=["device", "energy_j"])
        grouped = _groupby(values, [*series, "device"])["energy_j"]
        frame = pd.DataFrame({"energy_j": grouped.sum(), "rows": grouped.size(),
                              "energy_j_mean": grouped.mean()}).reset_index()
        frame["energy_j"] = frame["energy_j"].astype("float64")
        frame["rows"] = frame["rows"].astype("int64")
        frame = frame[[*series, *columns]]

    def draw(frame: pd.DataFrame) -> Figure:
        return _bars(frame, "device", "energy_j", title="Energy per device", xlabel="device",
                     ylabel="energy (J)", series=series)

    return _result(frame, plot, draw)


# -- a training job's own files (ns6g train; docs/training.md) ----------------------------------------------

def _jobs(run: RunLike) -> tuple[list[Run], list[str]]:
    """The runs given (a RunSet's top-level runs) and the key columns of the answer (``["run"]`` for a RunSet)."""
    return (list(run.runs), ["run"]) if isinstance(run, RunSet) else ([run], [])


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV file a run wrote beside its tables; empty when it holds nothing yet (a job killed early)."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a readable CSV file: {exc}") from None


def _joined(frames: list[pd.DataFrame], keys: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    if not frames:
        return _empty(keys, columns)
    frame = pd.concat(frames, ignore_index=True)
    return frame[[*keys, *[c for c in frame.columns if c not in keys]]]


AGENT_EVALUATION_COLUMNS = ["policy", "episodes", "return", "return_ci"]


def _episodes(jobs: Sequence[Run], question: str) -> Iterator[tuple[Run, pd.DataFrame]]:
    """Each job's ``episodes.csv`` that has rows, checked for the columns ``question`` needs."""
    for job in jobs:
        path = job.path / EPISODES_FILE
        episodes = _read_csv(path) if path.is_file() else pd.DataFrame()
        if not episodes.empty:
            _require(episodes, EPISODES_FILE, ["policy", "seed", "return"], question)
            yield job, episodes


def agent_evaluation(run: RunLike, plot: bool = False):
    """The agent against the baselines on the same held-out seeds (from the run's ``episodes.csv``, written
    by ``ns6g train`` and ``ns6g demo``).

    Columns (one row per policy, in the file's order; ``run`` first for a RunSet): ``policy``,
    ``episodes``, then for ``return`` and every numeric info entry (``delay_ms``...) its mean over the
    episodes and ``<column>_ci``, the half-width of its 95 % confidence interval (Student's t over the
    seeds; empty with one episode), as :func:`ns6g.analysis.compare.confidence_table`.

    Figure: mean return per policy, best first, with its interval; the agent's bar red. One panel per run.
    """
    from ns6g.analysis.compare import confidence_table

    jobs, keys = _jobs(run)
    frames = []
    for job, episodes in _episodes(jobs, "agent_evaluation"):
        table = confidence_table(episodes).reset_index()
        frames.append(table.assign(run=str(job.path)) if keys else table)
    frame = _joined(frames, keys, AGENT_EVALUATION_COLUMNS)

    def draw(frame: pd.DataFrame) -> Figure:
        from ns6g.analysis.compare import draw_comparison

        title = "Agent against the baselines"
        if frame.empty:
            return _no_data_figure(title)
        groups = list(_groupby(frame, keys)) if keys else [((None,), frame)]
        labels = _run_labels([k[0] for k, _ in groups]) if keys else {}
        fig = _new_figure(width=max(6.4, 0.5 * len(frame) + 2.5), height=4.0)
        for i, ((key, *_), group) in enumerate(groups):
            draw_comparison(fig.add_subplot(1, len(groups), i + 1), group.set_index("policy"), "return",
                            title=labels.get(key, title))
        return fig

    return _result(frame, plot, draw)


AGENT_PAIRED_COLUMNS = ["policy", "seeds", "difference", "difference_ci", "better"]


def agent_paired(run: RunLike, plot: bool = False):
    """The agent against each other policy seed by seed (the run's ``episodes.csv``): every contender
    played the same held-out seeds, so what a seed does to all of them (the drop, the channel) cancels.

    Columns (one row per policy other than the agent, best-scoring first; ``run`` first for a RunSet):
    ``policy``, ``seeds`` compared, ``difference`` the mean of agent - policy in return, ``difference_ci``
    the half-width of its 95 % interval (Student's t over the seeds, as
    :func:`ns6g.analysis.compare.paired_difference`), ``better`` the seeds where the agent scored more.
    Empty when the run has no agent's episodes.

    Figure: each seed's difference as a dot and the mean with its interval per policy, against a line at
    zero (the agent is ahead of a policy whose interval lies wholly right of it). One panel per run.
    """
    from ns6g.analysis.compare import AGENTS, seed_differences, summarise_differences

    jobs, keys = _jobs(run)
    frames, seeds = [], {}
    for job, episodes in _episodes(jobs, "agent_paired"):
        agent = next((name for name in AGENTS if (episodes["policy"] == name).any()), None)
        if agent is None:
            continue
        others = episodes[episodes["policy"] != agent].groupby("policy", sort=False)["return"].mean()
        rows = []
        for policy in others.sort_values(ascending=False).index:
            difference = seed_differences(episodes, agent, policy)
            paired = summarise_differences(difference)
            rows.append({"policy": policy, "seeds": paired["seeds"], "difference": paired["mean"],
                         "difference_ci": paired["ci"], "better": paired["better"]})
            seeds[(str(job.path), policy)] = difference.to_numpy()
        table = pd.DataFrame(rows)
        frames.append(table.assign(run=str(job.path)) if keys else table)
    frame = _joined(frames, keys, AGENT_PAIRED_COLUMNS)

    def draw(frame: pd.DataFrame) -> Figure:
        title = "Agent minus each policy, seed by seed\n(mean and 95 % interval; red: agent ahead)"
        if frame.empty:
            return _no_data_figure(title)
        groups = list(_groupby(frame, keys)) if keys else [((str(jobs[0].path),), frame)]
        labels = _run_labels([k[0] for k, _ in groups]) if keys else {}
        fig = _new_figure(width=6.4 * len(groups), height=max(3.0, 0.45 * len(frame) / len(groups) + 1.5))
        jitter = np.random.default_rng(0)  # the dots' vertical spread only
        for i, ((key, *_), group) in enumerate(groups):
            ax = fig.add_subplot(1, len(groups), i + 1)
            for row, (_, entry) in enumerate(group.iterrows()):
                dots = seeds[(str(key), entry["policy"])]
                ax.scatter(dots, row + jitter.uniform(-0.2, 0.2, len(dots)), s=6, color="tab:gray", alpha=0.5)
                ahead = entry["difference"] - entry["difference_ci"] > 0
                ax.errorbar(entry["difference"], row, xerr=np.nan_to_num(entry["difference_ci"]), fmt="o",
                            color="tab:red" if ahead else "tab:blue", capsize=4, zorder=3)
            ax.axvline(0.0, color="black", linewidth=1)
            ax.set_yticks(range(len(group)), group["policy"])
            ax.invert_yaxis()
            ax.set_xlabel("agent - policy, return per seed")
            ax.set_title(labels.get(key, title))
            ax.grid(axis="x", alpha=0.3)
        return fig

    return _result(frame, plot, draw)


TRAINING_CURVE_COLUMNS = ["env", "episode", "return", "steps", "done", "timesteps", "sim_time_total_s", "return_mean"]


def _curve_window(window: int | None, episodes: int) -> int:
    """:func:`training_curve`'s rolling window: ``window``, else 1 % of the ``episodes``, at least 10."""
    return window or max(10, episodes // 100)


def training_curve(run: RunLike, window: int | None = None, plot: bool = False):
    """Return per training episode against training steps and simulated time (from the ``steps`` of a
    training job's environments, ``train/env-<i>``; the evaluation runs are not part of it).

    Columns (``run`` first for a RunSet), ordered by ``timesteps``:

    - ``env``: the training environment (its run's folder name, ``env-<i>``).
    - ``episode``, ``return``, ``steps``, ``done``: as :func:`learning_curve`, per environment.
    - ``timesteps``: training steps of the whole job when the episode ended: the environment's steps so
      far times the job's number of environments (they step in lockstep; Stable-Baselines3's
      ``num_timesteps``).
    - ``sim_time_total_s``: simulated time of the environment's episodes so far (s).
    - ``return_mean``: mean return of the last ``window`` episodes of all the job's environments
      (default: 1 % of the job's episodes, at least 10: a long job's returns vary from episode to episode
      with the drop, and a fixed window of 10 over thousands of episodes draws that noise, not the trend).

    Figure: return against training steps (points per environment, the rolling mean as a line) and
    against simulated time.
    """
    if window is not None and window < 1:
        raise ValueError(f"window must be >= 1 (got {window})")
    jobs, keys = _jobs(run)
    frames = []
    for job in jobs:
        envs = [r for r in job.runs if r.path.parent == job.path / TRAIN_RUNS]
        n_envs = (job.manifest.get("config") or {}).get("n_envs") or len(envs)
        curves = []
        for env in envs:
            curve = learning_curve(env)
            if not curve.empty:
                curves.append(curve.assign(env=env.path.name, timesteps=curve["steps"].cumsum() * n_envs))
        if not curves:
            continue
        frame = pd.concat(curves, ignore_index=True).sort_values(["timesteps", "env"], kind="stable")
        frame["return_mean"] = frame["return"].rolling(_curve_window(window, len(frame)), min_periods=1).mean()
        frame = frame[TRAINING_CURVE_COLUMNS].reset_index(drop=True)
        frames.append(frame.assign(run=str(job.path)) if keys else frame)
    frame = _joined(frames, keys, TRAINING_CURVE_COLUMNS)

    def draw(frame: pd.DataFrame) -> Figure:
        from matplotlib import patheffects

        title = "Training curve"
        if frame.empty:
            return _no_data_figure(title)
        fig = _new_figure(width=10.0)
        by_steps, by_time = fig.subplots(1, 2)
        groups = list(_groupby(frame, keys)) if keys else [((None,), frame)]
        labels = _run_labels([k[0] for k, _ in groups]) if keys else {}
        for (key, *_), group in groups:
            prefix = f"{labels[key]}: " if keys else ""
            # the mean on top of its points, outlined in white so that it shows over dense points of its colour
            line, = by_steps.plot(group["timesteps"], group["return_mean"], linewidth=2, zorder=3,
                                  path_effects=[patheffects.withStroke(linewidth=4, foreground="white")],
                                  label=f"{prefix}mean of {_curve_window(window, len(group))}")
            by_steps.scatter(group["timesteps"], group["return"], s=8, alpha=0.3, color=line.get_color())
            for env, episodes in group.groupby("env", sort=True):
                by_time.plot(episodes["sim_time_total_s"], episodes["return"], marker="o", markersize=2,
                             linewidth=0.8, label=f"{prefix}{env}")
        by_steps.set_xlabel("training steps (all environments)")
        by_time.set_xlabel("simulated time of the environment (s)")
        for ax in (by_steps, by_time):
            ax.set_ylabel("episode return")
            ax.legend(fontsize="small")
        fig.suptitle(title)
        return fig

    return _result(frame, plot, draw)


TRAINING_LOSSES_COLUMNS = ["metric", "timesteps", "value"]


def training_losses(run: RunLike, plot: bool = False):
    """The learner's own log against training steps (from the run's ``progress.csv``: Stable-Baselines3's
    CSV log, which ``ns6g train`` writes beside TensorBoard's): every ``train/`` entry (``train/loss``,
    ``train/value_loss``, ``train/entropy_loss``, ``train/approx_kl``, ``train/learning_rate``...).

    Columns (``run`` first for a RunSet; rows without a value left out): ``metric``, ``timesteps``
    (``time/total_timesteps`` when the entry was logged), ``value``.

    Figure: one panel per metric against training steps.
    """
    jobs, keys = _jobs(run)
    frames = []
    for job in jobs:
        path = job.path / PROGRESS_FILE
        log = _read_csv(path) if path.is_file() else pd.DataFrame()
        if log.empty:
            continue
        _require(log, PROGRESS_FILE, ["time/total_timesteps"], "training_losses")
        metrics = [c for c in log.columns if c.startswith("train/")]
        long = log.melt(id_vars="time/total_timesteps", value_vars=metrics, var_name="metric", value_name="value")
        long = long.rename(columns={"time/total_timesteps": "timesteps"}).dropna(subset=["value"])
        long = long[TRAINING_LOSSES_COLUMNS].reset_index(drop=True)
        frames.append(long.assign(run=str(job.path)) if keys else long)
    frame = _joined(frames, keys, TRAINING_LOSSES_COLUMNS)

    def draw(frame: pd.DataFrame) -> Figure:
        title = "Training losses"
        if frame.empty:
            return _no_data_figure(title)
        metrics = list(dict.fromkeys(frame["metric"]))
        columns = min(3, len(metrics))
        rows = -(-len(metrics) // columns)
        fig = _new_figure(width=3.6 * columns, height=2.6 * rows)
        labels = _run_labels(frame["run"].unique()) if keys else {}
        for i, (metric, of_metric) in enumerate(frame.groupby("metric", sort=False)):
            ax = fig.add_subplot(rows, columns, i + 1)
            for (key, *_), group in _groupby(of_metric, keys) if keys else [((None,), of_metric)]:
                ax.plot(group["timesteps"], group["value"], marker="o", markersize=2, label=labels.get(key))
            ax.set_title(metric, fontsize="small")
            ax.set_xlabel("training steps", fontsize="small")
            if keys and i == 0:
                ax.legend(fontsize="x-small")
        fig.suptitle(title)
        return fig

    return _result(frame, plot, draw)

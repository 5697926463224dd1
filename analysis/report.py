"""An HTML report of one or more runs: every question that has data, as PNG figures and small tables.

>>> write_report(["runs/exp-1"])                  # runs/exp-1/report/index.html
>>> write_report(["runs/a", "runs/b"], "cmp")     # cmp/index.html, runs compared in each figure

The command line equivalent is ``ns6g report RUN [RUN ...] [--out DIR]``.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from ns6g.analysis import questions
from ns6g.analysis.load import Run, RunSet, load_run
from ns6g.core.runs import TABLES

FIGURES = "figures"
INDEX = "index.html"
TABLE_ROWS = 20  # rows of numbers shown per question (the rest are elided by to_html)


@dataclass(frozen=True)
class Question:
    name: str
    title: str
    description: str
    answer: Callable[..., Any]


QUESTIONS: tuple[Question, ...] = (
    Question("agent_evaluation", "Agent against the baselines",
             "Mean return per policy on the same held-out seeds, with 95 % intervals (episodes.csv).",
             questions.agent_evaluation),
    Question("agent_paired", "Agent against each policy, seed by seed",
             "Agent minus each other policy on the same held-out seeds: the mean difference in return with its "
             "95 % interval and the seeds where the agent scored more (episodes.csv).",
             questions.agent_paired),
    Question("training_curve", "Training curve",
             "Return per training episode against training steps and simulated time (train/env-<i>).",
             questions.training_curve),
    Question("training_losses", "Training losses",
             "The learner's log (progress.csv: losses, entropy, KL...) against training steps.",
             questions.training_losses),
    Question("learning_curve", "Learning curve", "Return per episode against cumulative simulated time.",
             questions.learning_curve),
    Question("round_latency_cdf", "Round latency", "CDF of learner round latency (end_s - start_s) per protocol.",
             questions.round_latency_cdf),
    Question("per_ue_throughput", "Throughput per UE",
             "Mean, median and 5th percentile of throughput_bps per UE and serving cell over the run's "
             "episodes (table in bit/s, figure in Mbit/s).",
             questions.per_ue_throughput),
    Question("allocation_heatmap", "Resource allocation", "Resource blocks (rbs) per UE per measurement interval, per episode "
             "(figure: each run's first episode).",
             questions.allocation_heatmap),
    Question("split_layer_histogram", "Split layer", "How often each split layer was chosen.",
             questions.split_layer_histogram),
    Question("energy_per_device", "Energy per device", "Energy (J) summed per device.",
             questions.energy_per_device),
)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { background: #f3f3f3; }
img { max-width: 100%; }
.meta, .skipped { color: #555; }
.failed { color: #a00; }
"""


class DamagedRunWarning(RuntimeWarning):
    """A report was written without the parts of a run that cannot be read (``skip_damaged=True``)."""


def _manifest_rows(runs: Sequence[Run]) -> pd.DataFrame:
    rows = []
    for run in (member for run in runs for member in run.members):
        m = run.manifest
        versions = m.get("versions") or {}
        row = {
            "run": str(run.path),
            "kind": m.get("kind"),
            "status": m.get("status"),
            "start_time": m.get("start_time"),
            "end_time": m.get("end_time"),
            "seeds": ", ".join(str(s) for s in m.get("seeds") or []),
            "ns6g": versions.get("ns6g"),
            "ns-3": versions.get("ns-3"),
            "torch": versions.get("torch"),
        }
        if m.get("error"):
            row["error"] = m["error"]
        rows.append(row)
    return pd.DataFrame(rows)


def _frame_html(frame: pd.DataFrame, index: bool) -> str:
    return frame.to_html(max_rows=TABLE_ROWS, max_cols=16, index=index, escape=True, border=0, na_rep="",
                         float_format=lambda x: f"{x:.6g}")


def write_report(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    progress: bool | None = None,
    skip_damaged: bool = False,
) -> Path:
    """Write an HTML report of the runs at ``paths`` and return the path of its ``index.html``.

    Args:
        paths: run directories (one or more). Several runs are compared in each figure.
        out: the report folder; default ``<run>/report`` for one run, ``./ns6g-report`` for several.
            Figures go to ``<out>/figures/<question>.png``; existing files of the same names are replaced.
        progress: show a progress bar (default: when there are several runs).
        skip_damaged: report what can be read when a Parquet part cannot; the page then says, in red at
            the top, which parts and how many rows are missing, and a :class:`DamagedRunWarning` says it too.

    The page has a table of the runs (kind, status, start and end time, seeds, versions of ns6g, ns-3 and
    torch), then, for every question of :mod:`ns6g.analysis.questions` with data, its figure and its
    numbers. Questions whose tables are empty or lack the needed columns are listed in one "Not in these
    runs" line.

    A run directory with nested runs (``ns6g train --out DIR``) is reported with every run in it.

    Raises:
        NotARunError: a path is not a run directory (before anything is written).
        DamagedRunError: a part of a run cannot be read and ``skip_damaged`` is false (before anything is
            written).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise ValueError("write_report needs at least one run directory")
    runs = [load_run(p, skip_damaged=skip_damaged) for p in paths]  # checked before anything is written
    several = len(runs) > 1
    if progress is None:
        progress = several
    out = Path(out) if out is not None else (Path("ns6g-report") if several else runs[0].path / "report")
    figures = out / FIGURES
    for run in tqdm(runs, desc="ns6g report: loading", disable=not progress, leave=False):
        for table in TABLES:
            run.table(table)  # loads and caches the table (a damaged one raises before anything is written)
    figures.mkdir(parents=True, exist_ok=True)
    data: Run | RunSet = RunSet(runs) if several else runs[0]

    sections: list[str] = []
    skipped: list[str] = []
    for question in tqdm(QUESTIONS, desc="ns6g report: questions", disable=not progress, leave=False):
        figure_path = figures / f"{question.name}.png"
        figure_path.unlink(missing_ok=True)  # no stale figure from an earlier report
        try:
            frame, figure = question.answer(data, plot=True)
        except questions.MissingColumnsError as exc:
            skipped.append(f"{question.title} ({exc})")
            continue
        if frame.empty:
            skipped.append(f"{question.title} (no rows)")
            continue
        figure.savefig(figure_path, dpi=100)
        sections.append(
            f'<h2 id="{html.escape(question.name)}">{html.escape(question.title)}</h2>\n'
            f'<p>{html.escape(question.description)}</p>\n'
            f'<img src="{FIGURES}/{html.escape(figure_path.name)}" alt="{html.escape(question.title)}">\n'
            f"<details><summary>numbers ({len(frame)} rows)</summary>\n"
            f"{_frame_html(frame, index=question.name == 'allocation_heatmap')}\n</details>"
        )

    manifests = _manifest_rows(runs)
    failed = [html.escape(str(r.path)) for run in runs for r in run.members if r.status != "finished"]
    damaged = [part for run in runs for part in run.damaged]
    if damaged:
        unknown = any(part.rows is None for part in damaged)
        lost = "an unknown number of" if unknown else str(sum(part.rows for part in damaged))
        damage = (f"{len(damaged)} damaged part{'s' if len(damaged) > 1 else ''} skipped, {lost} rows missing: "
                  + "; ".join(str(part) for part in damaged))
        warnings.warn(damage, DamagedRunWarning, stacklevel=2)
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8"><title>ns6g report</title>',
        f"<style>{_STYLE}</style></head>",
        "<body>",
        "<h1>ns6g report</h1>",
        f'<p class="meta">{len(runs)} run{"s" if several else ""}, written {html.escape(created)}</p>',
        "<h2>Runs</h2>",
        _frame_html(manifests, index=False),
    ]
    if damaged:
        parts.insert(parts.index("<h2>Runs</h2>"), f'<p class="failed">Incomplete: {html.escape(damage)}</p>')
    if failed:
        parts.append(f'<p class="failed">Not finished: {", ".join(failed)}</p>')
    if skipped:
        parts.append(f'<p class="skipped">Not in these runs: {html.escape("; ".join(skipped))}</p>')
    parts += sections
    parts += ["</body>", "</html>", ""]
    index = out / INDEX
    index.write_text("\n".join(parts), encoding="utf-8")
    return index

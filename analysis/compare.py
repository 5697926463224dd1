"""Policies compared on the same seeds: means with Student's t confidence intervals, and their bar chart.

Shared by the commands that evaluate policies (``ns6g train``, ``ns6g evaluate``, ``ns6g demo``, through
:mod:`ns6g.apps.evaluation`) and by the report's ``agent_evaluation`` question, which reads their
``episodes.csv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

AGENTS = ("agent", "ppo")  # policy names drawn as the trained agent (highlighted)


def confidence_table(episodes: pd.DataFrame, columns: Sequence[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """Per policy: the mean of each column over its episodes and the half-width of its ``level`` confidence
    interval (Student's t over the seeds; NaN with one episode).

    Returns one row per policy (in first-seen order), with columns ``episodes``, ``<col>`` and
    ``<col>_ci`` for each of ``columns`` (default: ``return`` and every other numeric column).
    """
    from scipy import stats

    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1) (got {level})")
    if columns is None:
        skip = {"seed", "steps"}
        columns = [c for c in episodes.select_dtypes("number").columns if c not in skip]
    missing = [c for c in columns if c not in episodes.columns]
    if missing:
        raise KeyError(f"no column {missing[0]!r} in the episodes (have {sorted(episodes.columns)})")
    rows = {}
    for policy, group in episodes.groupby("policy", sort=False):
        n = len(group)
        row: dict[str, Any] = {"episodes": n}
        t = stats.t.ppf(0.5 + level / 2, n - 1) if n > 1 else np.nan
        for column in columns:
            values = group[column].astype(float)
            row[column] = values.mean()
            row[f"{column}_ci"] = t * values.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
        rows[policy] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "policy"
    return table


def seed_differences(episodes: pd.DataFrame, policy: str, other: str, column: str = "return") -> pd.Series:
    """``policy`` minus ``other`` in ``column``, one value per seed both ran (indexed by seed; one episode
    per policy and seed)."""
    sides = []
    for name in (policy, other):
        rows = episodes[episodes["policy"] == name]
        if rows.empty:
            raise KeyError(f"no episodes of policy {name!r} (have {sorted(episodes['policy'].unique())})")
        if rows["seed"].duplicated().any():
            raise ValueError(f"policy {name!r} has several episodes of one seed: a paired difference needs one")
        sides.append(rows.set_index("seed")[column].astype(float))
    common = sides[0].index.intersection(sides[1].index)
    if common.empty:
        raise ValueError(f"policies {policy!r} and {other!r} share no seed")
    return sides[0].loc[common] - sides[1].loc[common]


def summarise_differences(difference: pd.Series, level: float = 0.95) -> dict[str, float | int]:
    """``mean`` of per-seed differences, ``ci`` the half-width of its ``level`` interval (Student's t over
    the seeds; NaN with one seed), ``seeds`` and ``better``, the seeds with a positive difference."""
    from scipy import stats

    n = len(difference)
    ci = stats.t.ppf(0.5 + level / 2, n - 1) * difference.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
    return {"mean": float(difference.mean()), "ci": float(ci), "seeds": n, "better": int((difference > 0).sum())}


def paired_difference(episodes: pd.DataFrame, policy: str, other: str, column: str = "return",
                      level: float = 0.95) -> dict[str, float | int]:
    """``policy`` minus ``other`` episode by episode on the seeds both ran (:func:`seed_differences`),
    summarised by :func:`summarise_differences`: ``mean``, ``ci``, ``seeds`` and ``better``.

    Every contender runs the same seeds, so what a seed does to all of them (the UE drop, the channel)
    cancels in the difference: a paired interval is far narrower than the two policies' own intervals
    when the seeds, not the policies, set most of the spread."""
    return summarise_differences(seed_differences(episodes, policy, other, column), level)


def draw_comparison(ax: Axes, table: pd.DataFrame, column: str = "return", title: str | None = None) -> None:
    """Bars of ``column`` per policy of a :func:`confidence_table`, best first, with their intervals; the
    agent's bar highlighted."""
    ordered = table.sort_values(column, ascending=False)
    errors = ordered[f"{column}_ci"].fillna(0.0) if f"{column}_ci" in ordered else None
    colours = ["tab:red" if name in AGENTS else "tab:blue" for name in ordered.index]
    ax.bar(range(len(ordered)), ordered[column], yerr=errors, color=colours, capsize=3)
    ax.set_xticks(range(len(ordered)), ordered.index, rotation=30, ha="right")
    ax.set_ylabel(f"mean {column} (95 % interval)")
    ax.set_title(title or f"{column} per policy")
    ax.grid(axis="y", alpha=0.3)


TITLE_POINTS = 11.0  # font size of the comparison figure's title
_CHAR_INCHES = 0.6 * TITLE_POINTS / 72  # a generous mean character width of the default sans-serif font


def fit_title(title: str, width_in: float) -> str:
    """``title`` with each line wrapped (at spaces) to fit a figure ``width_in`` inches wide."""
    import textwrap

    columns = max(10, int((width_in - 0.3) / _CHAR_INCHES))
    return "\n".join(textwrap.fill(line, columns, break_long_words=False, break_on_hyphens=False)
                     for line in title.splitlines())


def comparison_figure(table: pd.DataFrame, column: str = "return", title: str | None = None) -> Figure:
    """Bar chart of ``column`` per policy with its confidence interval (a ``confidence_table``), the agent's
    bar highlighted; returns a matplotlib Figure. The figure widens (up to 8 in) for a long title, whose
    lines are then wrapped to fit it: nothing of the title is cut off."""
    from matplotlib.figure import Figure

    title = title or f"{column} per policy"
    longest = max(len(line) for line in title.splitlines()) * _CHAR_INCHES + 0.3
    width = min(8.0, max(4.0, 0.7 * len(table) + 2, longest))
    title = fit_title(title, width)
    fig = Figure(figsize=(width, 3.2 + 0.22 * (title.count("\n") + 1)), layout="constrained")
    draw_comparison(fig.add_subplot(), table, column, title)
    fig.axes[0].title.set_fontsize(TITLE_POINTS)
    return fig

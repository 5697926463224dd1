"""Compare an agent with an environment's baselines on held-out seeds, with confidence intervals.

Shared by ``ns6g demo``, ``ns6g train`` and ``ns6g evaluate``: every contender (the agent, each baseline
of :meth:`ns6g.envs.base.ScenarioEnv.baselines`) runs one episode per seed in an environment of its own,
which writes its run directory under ``<out>/eval/<name>`` when ``out`` is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ns6g.envs.policies import Contender, evaluate


def make_env(env_id: str, **kwargs: Any):
    """``gym.make`` of an environment id (ns6g's, ``module:id`` or an entry point's), in this or a worker
    process: :func:`ns6g.envs.ids.resolve_env_id` imports what registers it."""
    import gymnasium as gym

    from ns6g.envs.ids import resolve_env_id

    return gym.make(resolve_env_id(env_id), **kwargs)


def baselines(env_id: str, env_kwargs: Mapping[str, Any], seed: int = 0) -> dict[str, Contender]:
    """The baselines of ``env_id`` configured with ``env_kwargs`` (asked of a short-lived environment)."""
    probe = make_env(env_id, **env_kwargs)
    try:
        return probe.unwrapped.baselines(seed)
    finally:
        probe.close()


def evaluate_contenders(
    env_id: str,
    env_kwargs: Mapping[str, Any],
    contenders: Mapping[str, Contender],
    seeds: Sequence[int],
    out: Path | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """One episode per seed for every contender; one row per (policy, seed) as :func:`ns6g.envs.policies.evaluate`.

    With ``out``, contender ``name`` writes its traced run to ``out / "eval" / name``.
    """
    from tqdm.auto import tqdm

    frames = []
    for name, contender in tqdm(contenders.items(), desc="evaluate", unit="policy", disable=not progress):
        traced = {} if out is None else {"run_dir": Path(out) / "eval" / name}  # an env may not take run_dir
        env = make_env(env_id, **{**env_kwargs, **contender.overrides}, **traced)
        try:
            frames.append(evaluate(env, {name: contender.policy}, seeds))
        finally:
            env.close()
    return pd.concat(frames, ignore_index=True)


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


def format_confidence_table(table: pd.DataFrame, columns: Sequence[str]) -> str:
    """``mean ± ci`` per policy and column, as plain text."""
    shown = pd.DataFrame(index=table.index)
    for column in columns:
        shown[column] = [f"{m:.3f} ± {c:.3f}" if np.isfinite(c) else f"{m:.3f}"
                         for m, c in zip(table[column], table[f"{column}_ci"])]
    return shown.to_string()


def comparison_figure(table: pd.DataFrame, column: str = "return", title: str | None = None):
    """Bar chart of ``column`` per policy with its confidence interval (a ``confidence_table``), the agent's
    bar highlighted; returns a matplotlib Figure."""
    from matplotlib.figure import Figure

    ordered = table.sort_values(column, ascending=False)
    fig = Figure(figsize=(max(4.0, 0.7 * len(ordered) + 2), 3.6), layout="constrained")
    ax = fig.add_subplot()
    errors = ordered[f"{column}_ci"].fillna(0.0) if f"{column}_ci" in ordered else None
    colours = ["tab:red" if name in ("agent", "ppo") else "tab:blue" for name in ordered.index]
    ax.bar(range(len(ordered)), ordered[column], yerr=errors, color=colours, capsize=3)
    ax.set_xticks(range(len(ordered)), ordered.index, rotation=30, ha="right")
    ax.set_ylabel(f"mean {column} (95 % interval)")
    ax.set_title(title or f"{column} per policy")
    ax.grid(axis="y", alpha=0.3)
    return fig

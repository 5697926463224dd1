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

from ns6g.analysis.compare import comparison_figure, confidence_table  # noqa: F401  (this module's API too)
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


def format_confidence_table(table: pd.DataFrame, columns: Sequence[str]) -> str:
    """``mean ± ci`` per policy and column, as plain text."""
    shown = pd.DataFrame(index=table.index)
    for column in columns:
        shown[column] = [f"{m:.3f} ± {c:.3f}" if np.isfinite(c) else f"{m:.3f}"
                         for m, c in zip(table[column], table[f"{column}_ci"])]
    return shown.to_string()

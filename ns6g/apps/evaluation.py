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


def reward_name(env: Any) -> str:
    """The reward ``env`` optimises, in a few words: its ``reward_name`` (every ns6g environment has one:
    :attr:`ns6g.envs.base.ScenarioEnv.reward_name`), else a plain statement that it names none."""
    name = getattr(env.unwrapped, "reward_name", None)
    return str(name) if name else "the environment's reward (it does not name it)"


def baselines_and_reward(env_id: str, env_kwargs: Mapping[str, Any], seed: int = 0) -> tuple[dict[str, Contender], str]:
    """The baselines of ``env_id`` configured with ``env_kwargs`` and the name of its reward (:func:`reward_name`),
    asked of one short-lived environment."""
    probe = make_env(env_id, **env_kwargs)
    try:
        return probe.unwrapped.baselines(seed), reward_name(probe)
    finally:
        probe.close()


def baselines(env_id: str, env_kwargs: Mapping[str, Any], seed: int = 0) -> dict[str, Contender]:
    """The baselines of ``env_id`` configured with ``env_kwargs`` (asked of a short-lived environment)."""
    return baselines_and_reward(env_id, env_kwargs, seed)[0]


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


def seeds_text(seeds: Sequence[int]) -> str:
    """``5 held-out seeds (10000-10004)``, or the seeds listed when they are not a range."""
    seeds = list(seeds)
    if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        which = f"{seeds[0]}-{seeds[-1]}"
    else:
        which = ", ".join(map(str, seeds[:6])) + (", ..." if len(seeds) > 6 else "")
    return f"{len(seeds)} held-out seed{'s' if len(seeds) != 1 else ''} ({which})"


def comparison_title(env_id: str, reward: str, seeds: Sequence[int], agent: str = "agent") -> str:
    """The title of ``comparison.png``: the environment, the reward optimised and the seeds."""
    return f"{env_id}: {agent} against the baselines\nreward: {reward}\n{seeds_text(seeds)}, mean return, 95 % interval"


def format_confidence_table(table: pd.DataFrame, columns: Sequence[str]) -> str:
    """``mean ± ci`` per policy and column, as plain text."""
    shown = pd.DataFrame(index=table.index)
    for column in columns:
        shown[column] = [f"{m:.3f} ± {c:.3f}" if np.isfinite(c) else f"{m:.3f}"
                         for m, c in zip(table[column], table[f"{column}_ci"])]
    return shown.to_string()

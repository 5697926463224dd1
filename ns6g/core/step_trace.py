"""Environment steps into a run directory: the ``steps`` and ``events`` tables of one environment.

Used by :class:`ns6g.envs.base.ScenarioEnv` when it is given ``run_dir``. At detail ``summary`` a step
row carries the observation's min/mean/max; at ``full`` the whole flattened observation too. Every row of
``steps``, and of the per-step tables an environment writes through :meth:`StepRecorder.append_columns`
(SpectrumAllocation's ``radio``), starts with the episode's ``episode`` and ``seed``
(:data:`ns6g.core.runs.EPISODE_COLUMNS`), so one run's episodes (an evaluation's seeds) stay apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from ns6g.core.runs import Detail, RunWriter
from ns6g.core.spaces import flat_values


class StepRecorder:
    """Writes one row per reset and per step; info numbers become columns named as in ``info``."""

    def __init__(self, writer: RunWriter, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        self.writer = writer
        self.observation_space = observation_space
        self.action_space = action_space
        self.full = writer.detail is Detail.FULL
        self.episode = -1
        self.step = 0
        self.seed = -1  # the episode's seed (its ns-3 RngRun)

    def _observation_columns(self, observation: Any) -> dict[str, Any]:
        values = flat_values(self.observation_space, observation)
        if values.size == 0:
            return {}
        columns = {"obs_min": float(values.min()), "obs_mean": float(values.mean()), "obs_max": float(values.max())}
        if self.full:
            columns["obs"] = values.tolist()
        return columns

    def _row(self, observation: Any, info: Mapping[str, Any]) -> dict[str, Any]:
        row = {
            **self._episode_columns(),
            "step": self.step,
            "sim_time_s": float(info.get("sim_time_s", math.nan)),
            "wall_time_s": self.writer.wall_time_s,
        }
        for name, value in info.items():
            if name in row or name == "rng_run":  # info's rng_run is the seed column
                continue
            if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                row[name] = float(value)
        row.update(self._observation_columns(observation))
        return row

    def _episode_columns(self) -> dict[str, int]:
        return {"episode": self.episode, "seed": self.seed}  # EPISODE_COLUMNS

    def append_columns(self, table: str, columns: Mapping[str, Any]) -> None:
        """Rows of a per-step table (e.g. ``radio``), given as equal-length columns, written with the current
        episode's ``episode`` and ``seed`` in front."""
        rows = len(next(iter(columns.values()))) if columns else 0
        leading = {name: np.full(rows, value, dtype=np.int64) for name, value in self._episode_columns().items()}
        self.writer.append_columns(table, {**leading, **columns})

    def on_reset(self, observation: Any, info: Mapping[str, Any], rng_run: int) -> None:
        self.episode += 1
        self.step = 0
        self.seed = rng_run
        row = self._row(observation, info)
        row.update(reward=0.0, terminated=False, truncated=False, action=[])
        self.writer.append("steps", row)
        self.event("reset", f"episode {self.episode}, RngRun {rng_run}", info.get("sim_time_s", 0.0))

    def on_step(self, action: Any, observation: Any, reward: float, terminated: bool, truncated: bool,
                info: Mapping[str, Any]) -> None:
        self.step += 1
        row = self._row(observation, info)
        row.update(reward=float(reward), terminated=bool(terminated), truncated=bool(truncated),
                   action=flat_values(self.action_space, action).tolist())
        self.writer.append("steps", row)

    def event(self, kind: str, detail: str = "", time_s: float = math.nan, node: int = -1) -> None:
        self.writer.append("events", {"time_s": float(time_s), "wall_time_s": self.writer.wall_time_s,
                                      "kind": kind, "node": node, "detail": detail})

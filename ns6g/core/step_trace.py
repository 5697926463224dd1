"""Environment steps into a run directory: the ``steps`` and ``events`` tables of one environment.

Used by :class:`ns6g.envs.base.ScenarioEnv` when it is given ``run_dir``. At detail ``summary`` a step
row carries the observation's min/mean/max; at ``full`` the whole flattened observation too.
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
        self.rng_run = -1

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
            "episode": self.episode,
            "step": self.step,
            "rng_run": self.rng_run,
            "sim_time_s": float(info.get("sim_time_s", math.nan)),
            "wall_time_s": self.writer.wall_time_s,
        }
        for name, value in info.items():
            if name not in row and isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                row[name] = float(value)
        row.update(self._observation_columns(observation))
        return row

    def on_reset(self, observation: Any, info: Mapping[str, Any], rng_run: int) -> None:
        self.episode += 1
        self.step = 0
        self.rng_run = rng_run
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

"""Baseline policies and episode evaluation shared by the demo, benchmarks and training harness.

A policy is any callable ``policy(observation) -> action``; :func:`evaluate` runs it for one episode per
seed and returns one row per episode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

Policy = Callable[[Any], Any]


@dataclass(frozen=True)
class ConstantPolicy:
    """Always the same action (for example a fixed sending rate)."""

    action: Any

    def __call__(self, observation: Any) -> Any:
        return self.action


class RandomPolicy:
    """Uniform samples from the action space, reproducible from ``seed``."""

    def __init__(self, action_space: gym.Space, seed: int = 0) -> None:
        self.action_space = action_space
        self.action_space.seed(seed)

    def __call__(self, observation: Any) -> Any:
        return self.action_space.sample()


class SB3Policy:
    """A trained Stable-Baselines3 model acting deterministically."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, observation: Any) -> Any:
        action, _ = self.model.predict(observation, deterministic=True)
        return action


@dataclass(frozen=True)
class Contender:
    """A policy to evaluate and the environment settings it runs under.

    Most baselines are plain policies (``overrides`` empty); a baseline that is a built-in scheduler of
    the scenario is a configuration override, with a policy whose actions the scenario checks but does
    not apply.
    """

    policy: Policy
    overrides: Mapping[str, Any] = field(default_factory=dict)


def evaluate(env: gym.Env, policies: Mapping[str, Policy], seeds: Iterable[int]) -> pd.DataFrame:
    """Run every policy for one episode per seed (``env.reset(seed=s)``).

    Returns one row per (policy, seed): ``policy``, ``seed``, ``return`` (sum of rewards), ``steps``,
    and the mean over the episode's steps of every numeric info entry (named as in ``info``).
    """
    rows = []
    for name, policy in policies.items():
        for seed in seeds:
            observation, _ = env.reset(seed=seed)
            total, steps, infos = 0.0, 0, []
            done = False
            while not done:
                observation, reward, terminated, truncated, info = env.step(policy(observation))
                total += float(reward)
                steps += 1
                infos.append({k: v for k, v in info.items() if isinstance(v, (int, float, np.number))})
                done = terminated or truncated
            means = pd.DataFrame(infos).mean(numeric_only=True).to_dict() if infos else {}
            rows.append({"policy": name, "seed": seed, "return": total, "steps": steps, **means})
    return pd.DataFrame(rows)

"""Baseline policies and episode evaluation shared by the demo, benchmarks and training harness.

A policy is any callable ``policy(observation) -> action`` (one that needs to see its environment, such as
an agent reading action masks, also has ``bind(env)`` returning the callable); :func:`evaluate` runs it for
one episode per seed and returns one row per episode.
"""

from __future__ import annotations

import inspect
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
    """A trained Stable-Baselines3 model acting deterministically.

    ``normalizer``: the VecNormalize the model was trained under; it sees observations normalised with its
    statistics. A model that masks actions (sb3-contrib's MaskablePPO) acts within its environment's
    ``action_masks()``: :func:`evaluate` gives it the environment through :meth:`bind`.
    """

    def __init__(self, model: Any, normalizer: Any = None, env: gym.Env | None = None) -> None:
        self.model, self.normalizer, self.env = model, normalizer, env
        self.masked = "action_masks" in inspect.signature(model.predict).parameters

    def bind(self, env: gym.Env) -> SB3Policy:
        """This policy acting in ``env`` (whose ``action_masks()`` a masking model reads)."""
        return SB3Policy(self.model, self.normalizer, env)

    def __call__(self, observation: Any) -> Any:
        if self.normalizer is not None:
            observation = self.normalizer.normalize_obs(observation)
        if not self.masked:
            action, _ = self.model.predict(observation, deterministic=True)
            return action
        if self.env is None:
            raise RuntimeError("a masking agent acts within its environment's action_masks(): bind() it first")
        action, _ = self.model.predict(observation, deterministic=True, action_masks=self.env.unwrapped.action_masks())
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
        policy = policy.bind(env) if hasattr(policy, "bind") else policy  # e.g. an agent that reads action masks
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

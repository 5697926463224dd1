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


def play_episode(env: gym.Env, policy: Policy, seed: int) -> tuple[float, list[dict[str, Any]]]:
    """One episode of ``policy`` from ``env.reset(seed=seed)``: its return (the sum of rewards) and, per step,
    the step's numeric info entries."""
    observation, _ = env.reset(seed=seed)
    total, infos, done = 0.0, [], False
    while not done:
        observation, reward, terminated, truncated, info = env.step(policy(observation))
        total += float(reward)
        infos.append({k: v for k, v in info.items() if isinstance(v, (int, float, np.number))})
        done = terminated or truncated
    return total, infos


class HindsightOracle:
    """Base of the upper references that replay the episode being played (an exhaustive search on the same
    seed in a second environment: knowledge no agent has). ``bind(env)`` ties a copy to the environment that
    plays, whose ``reset`` records ``episode_run`` (the seed's run, to replay) and ``episode_count``;
    :meth:`hindsight` runs the subclass's ``_search(run)`` once per episode and returns what it found."""

    def __init__(self, config: Any, env: gym.Env | None = None) -> None:
        self.config, self.env = config, env
        self._episode: tuple[int, int] | None = None
        self._found: Any = None
        self.returns: dict[Any, float] = {}  # the last search's return per candidate

    def bind(self, env: gym.Env) -> HindsightOracle:
        return type(self)(self.config, env.unwrapped)

    def hindsight(self) -> Any:
        if self.env is None:
            raise RuntimeError(f"{type(self).__name__} replays the episode's seed: bind() it to its environment first")
        episode = (self.env.episode_run, self.env.episode_count)
        if episode != self._episode:
            self._episode, self._found = episode, self._search(self.env.episode_run)
        return self._found

    def _search(self, run: int) -> Any:
        raise NotImplementedError


def evaluate(env: gym.Env, policies: Mapping[str, Policy], seeds: Iterable[int]) -> pd.DataFrame:
    """Run every policy for one episode per seed (``env.reset(seed=s)``, :func:`play_episode`).

    Returns one row per (policy, seed): ``policy``, ``seed``, ``return`` (sum of rewards), ``steps``,
    and the mean over the episode's steps of every numeric info entry (named as in ``info``).
    """
    rows = []
    for name, policy in policies.items():
        policy = policy.bind(env) if hasattr(policy, "bind") else policy  # e.g. an agent that reads action masks
        for seed in seeds:
            total, infos = play_episode(env, policy, seed)
            means = pd.DataFrame(infos).mean(numeric_only=True).to_dict() if infos else {}
            rows.append({"policy": name, "seed": seed, "return": total, "steps": len(infos), **means})
    return pd.DataFrame(rows)

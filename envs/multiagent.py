"""PettingZoo's parallel API over ns6g environments with one agent per UE or device.

An environment that can be seen as several cooperating agents describes its split with an
:class:`AgentSplit` (``env.unwrapped.agent_split()``): the agents' names, each agent's observation and
action space, how the joint observation is cut into per-agent observations and how per-agent actions are
put together into the joint action. :class:`ParallelScenarioEnv` wraps the environment behind
PettingZoo's :class:`pettingzoo.ParallelEnv`; all agents share the environment's reward (a cooperative
team: the scenario's reward is a property of the whole network).

>>> from ns6g.envs.multiagent import parallel_env
>>> env = parallel_env("ns6g/SpectrumAllocation-v0", cells=1, ues=4, action_mode="share")
>>> observations, infos = env.reset(seed=1)
>>> observations, rewards, terminations, truncations, infos = env.step(
...     {agent: env.action_space(agent).sample() for agent in env.agents})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv


@dataclass(frozen=True)
class AgentSplit:
    """How a joint environment splits into agents.

    ``observe(joint_observation) -> {agent: observation}`` and ``act({agent: action}) -> joint_action``;
    ``act`` receives an action for every agent in ``agents``.
    """

    agents: Sequence[str]
    observation_spaces: Mapping[str, gym.Space]
    action_spaces: Mapping[str, gym.Space]
    observe: Callable[[Any], dict[str, Any]]
    act: Callable[[Mapping[str, Any]], Any]


def split_observations(
    joint: gym.spaces.Dict, agents: Sequence[str], own: Sequence[str]
) -> tuple[dict[str, gym.spaces.Dict], Callable[[Mapping[str, Any]], dict[str, Any]]]:
    """Per-agent observation spaces and the function that cuts a joint observation, for Dict observations
    whose entries in ``own`` have one row per agent (leading axis) and whose other entries every agent sees.

    Agent i gets row i of each ``own`` entry (a Box row as a Box of the row's shape, at least 1-D; a
    MultiDiscrete entry as Discrete) and the shared entries unchanged.
    """
    missing = [key for key in own if key not in joint.spaces]
    if missing:
        raise KeyError(f"no observation entry {missing[0]!r} (have {sorted(joint.spaces)})")

    def row_space(space: gym.Space, i: int) -> gym.Space:
        if isinstance(space, gym.spaces.MultiDiscrete):
            return gym.spaces.Discrete(int(space.nvec[i]))
        return gym.spaces.Box(np.atleast_1d(space.low[i]), np.atleast_1d(space.high[i]), dtype=space.dtype)

    spaces = {agent: gym.spaces.Dict({key: row_space(space, i) if key in own else space
                                      for key, space in joint.spaces.items()})
              for i, agent in enumerate(agents)}

    def observe(observation: Mapping[str, Any]) -> dict[str, Any]:
        cut = {}
        for i, agent in enumerate(agents):
            mine = {}
            for key, value in observation.items():
                if key not in own:
                    mine[key] = value
                elif isinstance(joint[key], gym.spaces.MultiDiscrete):
                    mine[key] = int(value[i])
                else:
                    mine[key] = np.atleast_1d(value[i]).astype(joint[key].dtype)
            cut[agent] = mine
        return cut

    return spaces, observe


class ParallelScenarioEnv(ParallelEnv):
    """A PettingZoo parallel environment over one ns6g scenario environment (see the module docstring)."""

    metadata = {"name": "ns6g_parallel_v0", "render_modes": []}

    def __init__(self, env: gym.Env) -> None:
        split_of = getattr(env.unwrapped, "agent_split", None)
        if split_of is None:
            raise TypeError(f"{type(env.unwrapped).__name__} has no agent_split(): it is not a multi-agent environment")
        self.env = env
        self.split: AgentSplit = split_of()
        self.possible_agents = list(self.split.agents)
        self.agents: list[str] = []
        self.render_mode = None

    def observation_space(self, agent: str) -> gym.Space:
        return self.split.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.Space:
        return self.split.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        # ns6g environments take no reset options; PettingZoo's API requires accepting (and its test
        # passes) arbitrary ones, so they are ignored here rather than refused.
        observation, info = self.env.reset(seed=seed)
        self.agents = list(self.possible_agents)
        return self.split.observe(observation), {agent: dict(info) for agent in self.agents}

    def step(self, actions: Mapping[str, Any]):
        if not self.agents:
            raise RuntimeError("the episode has ended: call reset() first")
        missing = [agent for agent in self.agents if agent not in actions]
        unknown = [agent for agent in actions if agent not in self.agents]
        if missing or unknown:
            raise ValueError(f"actions must name every live agent once: missing {missing}, unknown {unknown}")
        observation, reward, terminated, truncated, info = self.env.step(self.split.act(actions))
        agents = self.agents
        if terminated or truncated:
            self.agents = []
        return (self.split.observe(observation), {a: float(reward) for a in agents},
                {a: bool(terminated) for a in agents}, {a: bool(truncated) for a in agents},
                {a: dict(info) for a in agents})

    def close(self) -> None:
        self.env.close()


def parallel_env(env_id: str, **kwargs: Any) -> ParallelScenarioEnv:
    """``ParallelScenarioEnv(gym.make(env_id, **kwargs))`` (the ids are registered by ``ns6g.envs``, this
    module's package, so no import of it is needed here: that import was the multiagent <-> d2d_relay circle)."""
    return ParallelScenarioEnv(gym.make(env_id, **kwargs))

"""``ns6g/SplitInference-v0``: split each inference task between its device and an edge or cloud server.

Scenario: ``ns3_scenarios/mec-split.cc``. One 6G RAN cell (ns6g's RAN model, real UDP packets) with
``ues`` devices; the edge server sits behind the gNB, a cloud node behind the edge server on a WAN link.
Tasks (one inference of ``model`` at ``dtype``, batch 1) arrive at each device as a Poisson process of
``task_rate_hz``; at every arrival the agent decides for that task.

Action, ``MultiDiscrete([N + 1, 2])``: (cut k, target), k = 0..N of the layer profile (0: offload
everything, N: all on the device), target 0 = edge server, 1 = cloud (ignored at k = N).
Observation (Dict): ``cqi`` (1,) wideband uplink CQI of the deciding device; ``uplink_mbps`` (1,) an
estimate of its uplink rate; ``device_queue``, ``edge_queue``, ``cloud_queue`` (1,) tasks in each
processor; ``battery_fraction`` (1,); ``device`` Discrete(ues), the deciding device.
Reward: over the tasks that completed or failed during the step, the sum of
``-(latency_s + energy_weight * energy_j) - deadline_penalty * [latency > deadline_ms] - failure_penalty * [failed]``.
Info: ``latency_ms`` (mean over tasks completed in the step, NaN if none), ``energy_j``, ``completed``,
``failed``, ``deadline_violations``, ``infeasible``, ``timeouts``, and the parts of the last completed task:
``last_latency_ms``, ``device_compute_ms``, ``uplink_ms``, ``server_compute_ms``, ``downlink_ms``,
``last_cut``, ``last_target``, ``last_energy_j``.
Episodes are truncated after ``episode_steps`` decisions and terminate when a device battery is empty.
See docs/split-inference.md.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ns6g.bridge import Bridge
from ns6g.devices import DEVICES, catalogue_path
from ns6g.envs.base import ScenarioEnv
from ns6g.envs.mec_task import MecTaskConfig
from ns6g.policies import ConstantPolicy, Policy
from ns6g.split import available_models, greedy_split, load_profile, profile_path, profiles_dir

EDGE, CLOUD = 0, 1



class SplitInferenceConfig(MecTaskConfig):
    model: str = Field("resnet18_style", description="model of the shipped layer profiles (ns6g.split.available_models)")
    dtype: Literal["fp32", "int8"] = Field("fp32", description="profile precision")

    @field_validator("model")
    @classmethod
    def _known_model(cls, name: str) -> str:
        models = available_models()
        if name not in models:
            raise ValueError(f"unknown model {name!r}; models with shipped profiles are {', '.join(models)}")
        return name

    @model_validator(mode="after")
    def _profile_exists(self) -> SplitInferenceConfig:
        profile_path(self.model, self.dtype)  # ValueError listing the models if this dtype is missing
        return self


class GreedySplitPolicy:
    """Neurosurgeon-style: per task, the cut of least predicted latency on the edge server.

    Uses :func:`ns6g.split.greedy_split` with the observation's ``uplink_mbps`` (downlink assumed equal),
    the catalogue FLOP/s of the device and the edge server, and the device memory (only feasible cuts).
    """

    def __init__(self, config: SplitInferenceConfig) -> None:
        self.profile = load_profile(config.model, config.dtype)
        self.device_flops = float(DEVICES.loc[config.device, "flops"])
        self.server_flops = float(DEVICES.loc[config.edge_device, "flops"])
        self.memory = float(DEVICES.loc[config.device, "memory_bytes"])

    def __call__(self, observation: Any) -> np.ndarray:
        bps = max(float(np.asarray(observation["uplink_mbps"]).reshape(-1)[0]) * 1e6, 1e3)
        try:
            cut = greedy_split(self.profile, self.device_flops, self.server_flops, bps, bps,
                               device_memory_bytes=self.memory)
        except ValueError:  # no cut fits the device: offload everything
            cut = 0
        return np.array([cut, EDGE], dtype=np.int64)


class SplitInferenceEnv(ScenarioEnv):
    """Per-task split point and offload target (edge or cloud) of DNN inference over a 6G RAN."""

    scenario = "mec-split"
    config_class = SplitInferenceConfig

    def _launch(self) -> Bridge:
        # The data files travel with the package: their paths are not user settings.
        args = [*self.config.to_args(), f"--catalogue={catalogue_path()}", f"--profiles={profiles_dir()}"]
        return Bridge(self._binary, args, **self._bridge_options)

    @property
    def n_cuts(self) -> int:
        """N + 1: the number of cuts of the profile (cut N runs the whole model on the device)."""
        return int(self.action_space.nvec[0])

    def baseline_policies(self, seed: int = 0) -> dict[str, Policy]:
        """``all_local`` (cut N), ``all_edge`` (cut 0 on the edge), ``random`` and ``greedy`` (Neurosurgeon)."""
        last = self.n_cuts - 1
        return {
            "all_local": ConstantPolicy(np.array([last, EDGE], dtype=np.int64)),
            "all_edge": ConstantPolicy(np.array([0, EDGE], dtype=np.int64)),
            **super().baseline_policies(seed),
            "greedy": GreedySplitPolicy(self.config),
        }

"""``ns6g/SplitInference-v0``: split each inference task between its device and an edge server, a cloud
server or the device's D2D peer.

Scenario: ``ns3_scenarios/mec-split.cc``. One 6G RAN cell (ns6g's RAN model, real UDP packets) with
``ues`` devices; the edge server sits behind the gNB, a cloud node behind the edge server on a WAN link.
Every device has a neighbour of its own (``peer_device``, ``peer_distance_m`` away) reached over the D2D
sidelink (its own carrier: the ``sidelink_*`` fields).
Tasks (one inference of ``model`` at ``dtype``, batch 1) arrive at each device as a Poisson process of
``task_rate_hz``; at every arrival the agent decides for that task.

Action, ``MultiDiscrete([N + 1, 3])``: (cut k, target), k = 0..N of the layer profile (0: offload
everything, N: all on the device), target 0 = edge server, 1 = cloud, 2 = the D2D peer (ignored at k = N).
Observation (Dict): ``cqi`` (1,) wideband uplink CQI of the deciding device; ``uplink_mbps`` (1,) an
estimate of its uplink rate; ``device_queue``, ``edge_queue``, ``cloud_queue`` (1,) tasks in each
processor; ``battery_fraction`` (1,); ``device`` Discrete(ues), the deciding device; ``sidelink_mbps`` (1,)
an estimate of its sidelink rate to its peer; ``peer_queue`` (1,) tasks at its peer.
Reward (reward units: latency in s, energy in J, ``energy_weight`` in s/J), over the tasks that completed
or failed during the step: ``-(latency_s + energy_weight * energy_j) - deadline_penalty * [late]
- failure_penalty * [failed]``, a completed task late when its latency (arrival to result) exceeds
``deadline_ms``. A failed task (timeout, or an infeasible split refused at once) counts with the latency ``task_timeout_s`` and as late, so
failing never costs less than completing at the timeout. After the last decision no task arrives and the
last step runs until every decided task is done, so each counts. An episode a battery ends early is
charged ``task_timeout_s + deadline_penalty + failure_penalty`` for every task decided and not finished
and every decision it did not reach (info ``unserved``), so ending it early does not pay.
Info: ``latency_ms`` (mean over tasks completed in the step, NaN if none), ``energy_j``, ``completed``,
``failed``, ``deadline_violations`` (late or failed), ``infeasible``, ``timeouts``, ``unserved``, and the
parts of the last completed task:
``last_latency_ms``, ``device_compute_ms``, ``uplink_ms``, ``server_compute_ms``, ``downlink_ms``,
``last_cut``, ``last_target``, ``last_energy_j``; ``infeasible_peer`` (tasks refused because the peer
part did not fit the peer), ``sidelink_up_bytes`` / ``sidelink_down_bytes`` (bytes decoded on the
device -> peer / peer -> device sidelinks since the episode started); and, in Python,
``infeasible_reason`` (a sentence; empty when the step's task was feasible).
Episodes are truncated after ``episode_steps`` decisions and terminate when a device battery is empty.
See docs/split-inference.md.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ns6g.core.bridge import Bridge
from ns6g.compute.devices import DEVICES, catalogue_path, check_device, check_has_radio
from ns6g.envs.base import ScenarioEnv
from ns6g.envs.mec_task import MecTaskConfig
from ns6g.envs.policies import ConstantPolicy, Policy
from ns6g.compute.split import (SplitTarget, available_models, greedy_split_target, load_profile, peer_memory_bytes,
                        profile_path, profiles_dir)

EDGE, CLOUD, PEER = 0, 1, 2


class SplitInferenceConfig(MecTaskConfig):
    scenario_name = "mec-split"

    model: str = Field("resnet18_style", description="model of the shipped layer profiles (ns6g.compute.split.available_models)")
    dtype: Literal["fp32", "int8"] = Field("fp32", description="profile precision")
    peer_device: str = Field("smartphone", description="catalogue name of each device's D2D peer (must have a radio)")
    peer_distance_m: float = Field(20.0, ge=1, le=10_000, description="distance from a device to its peer (m), at least 1 m")
    sidelink_frequency_hz: float = Field(5.9e9, ge=0.5e9, le=100e9, description="sidelink carrier frequency (Hz)")
    sidelink_bandwidth_hz: float = Field(20e6, ge=180e3, le=2e9, description="sidelink carrier bandwidth (Hz), at least one RB of 12 x 15 kHz")
    sidelink_numerology: int = Field(1, ge=0, le=6, description="sidelink numerology mu")
    sidelink_subchannel_rbs: int = Field(10, ge=1, le=275, description="RBs per sidelink sub-channel")
    sidelink_mode: Literal["scheduled", "autonomous"] = Field(
        "scheduled", description="sidelink resource allocation: scheduled (mode 1, round robin) or autonomous (mode 2)")
    sidelink_tx_power_dbm: float = Field(23.0, ge=-30, le=40, description="UE sidelink transmit power (dBm)")

    @field_validator("peer_device")
    @classmethod
    def _peer_has_radio(cls, name: str) -> str:
        return check_has_radio("peer_device", check_device("peer_device", name))

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

    @model_validator(mode="after")
    def _sidelink_carrier(self) -> SplitInferenceConfig:
        from ns6g.radio.phy import carriers

        row = carriers(self.sidelink_bandwidth_hz, self.sidelink_numerology, self.sidelink_frequency_hz).iloc[0]
        if not bool(row["valid"]):
            raise ValueError(f"sidelink_bandwidth_hz / sidelink_numerology / sidelink_frequency_hz: {row['reason']}")
        if self.sidelink_subchannel_rbs > int(row["n_rb"]):
            raise ValueError(f"sidelink_subchannel_rbs: {self.sidelink_subchannel_rbs} RBs exceed the sidelink "
                             f"carrier's {int(row['n_rb'])} RBs")
        return self


def _rate_bps(observation: Any, key: str) -> float:
    """The observation's rate estimate ``key`` (Mbit/s) in bit/s, at least 1 kbit/s (a rate of 0 would
    make every offload infinitely slow; the latency model needs a positive rate)."""
    return max(float(np.asarray(observation[key]).reshape(-1)[0]) * 1e6, 1e3)


class GreedySplitPolicy:
    """Neurosurgeon-style: per task, the (cut, target) of least predicted latency, edge server or D2D peer.

    Uses :func:`ns6g.compute.split.greedy_split_target` with the edge at the observation's ``uplink_mbps`` and
    the peer at its ``sidelink_mbps`` (downlinks assumed equal to the uplinks), the catalogue FLOP/s of
    the device, the edge server and the peer, and the memory of the device and the peer (only feasible
    pairs). The cloud is not considered (its WAN delay is not observed). ``targets`` limits the choice
    (``(EDGE,)``: Neurosurgeon's own device-edge split).
    """

    def __init__(self, config: SplitInferenceConfig, targets: tuple[int, ...] = (EDGE, PEER)) -> None:
        if not targets or not set(targets) <= {EDGE, PEER}:
            raise ValueError(f"targets: a non-empty subset of (EDGE={EDGE}, PEER={PEER}) (got {targets})")
        self.targets = targets
        self.profile = load_profile(config.model, config.dtype)
        self.device_flops = float(DEVICES.loc[config.device, "flops"])
        self.edge_flops = float(DEVICES.loc[config.edge_device, "flops"])
        self.peer_flops = float(DEVICES.loc[config.peer_device, "flops"])
        self.memory = float(DEVICES.loc[config.device, "memory_bytes"])
        self.peer_memory = float(DEVICES.loc[config.peer_device, "memory_bytes"])

    def __call__(self, observation: Any) -> np.ndarray:
        up, side = _rate_bps(observation, "uplink_mbps"), _rate_bps(observation, "sidelink_mbps")
        targets = {EDGE: SplitTarget(self.edge_flops, up, up),
                   PEER: SplitTarget(self.peer_flops, side, side, memory_bytes=self.peer_memory)}
        targets = {t: targets[t] for t in self.targets}
        try:
            cut, target = greedy_split_target(self.profile, self.device_flops, targets, self.memory)
        except ValueError:  # no cut fits the device: offload everything to the edge
            cut, target = 0, EDGE
        return np.array([cut, target], dtype=np.int64)


class SplitInferenceEnv(ScenarioEnv):
    """Per-task split point and offload target (edge or cloud) of DNN inference over a 6G RAN."""

    scenario = "mec-split"
    config_class = SplitInferenceConfig
    reward_summary = "-(latency_s + energy_weight * energy_j) - deadline and failure penalties, per task"

    def _launch(self) -> Bridge:
        # The data files travel with the package: their paths are not user settings.
        args = [*self.config.to_args(), f"--catalogue={catalogue_path()}", f"--profiles={profiles_dir()}"]
        return Bridge(self._binary, args, **self._bridge_options)

    @property
    def n_cuts(self) -> int:
        """N + 1: the number of cuts of the profile (cut N runs the whole model on the device)."""
        return int(self.action_space.nvec[0])

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._in_flight is not None:  # started by step_send: that action is the one taken
            action = self._in_flight
        observation, reward, terminated, truncated, info = super().step(action)
        info["infeasible_reason"] = self._infeasible_reason(action) if info.get("infeasible", 0) > 0 else ""
        return observation, reward, terminated, truncated, info

    def _infeasible_reason(self, action: Any) -> str:
        """Why the step's decision was refused: which part did not fit which memory (bytes)."""
        cut, target = (int(x) for x in np.asarray(action).reshape(-1)[:2])
        profile = load_profile(self.config.model, self.config.dtype)
        device, peer = self.config.device, self.config.peer_device
        need = float(profile["device_memory_bytes"].iloc[cut])
        have = float(DEVICES.loc[device, "memory_bytes"])
        if need > have:
            return f"device part of cut {cut} needs {need:.0f} bytes; {device} has {have:.0f}"
        need = float(peer_memory_bytes(profile)[cut])
        have = float(DEVICES.loc[peer, "memory_bytes"])
        if target == PEER and need > have:
            return f"peer part of cut {cut} needs {need:.0f} bytes; the peer {peer} has {have:.0f}"
        return "infeasible"

    def baseline_policies(self, seed: int = 0) -> dict[str, Policy]:
        """``all_local`` (cut N), ``all_edge`` (cut 0 on the edge), ``random``, ``greedy`` (Neurosurgeon over the
        edge and the peer) and ``greedy_edge`` (Neurosurgeon's own device-edge split)."""
        last = self.n_cuts - 1
        return {
            "all_local": ConstantPolicy(np.array([last, EDGE], dtype=np.int64)),
            "all_edge": ConstantPolicy(np.array([0, EDGE], dtype=np.int64)),
            **super().baseline_policies(seed),
            "greedy": GreedySplitPolicy(self.config),
            "greedy_edge": GreedySplitPolicy(self.config, targets=(EDGE,)),
        }

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
``action_masks()``: the cuts that fit the device's memory (only ``agent_cuts`` where set) and every target.
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
from ns6g.radio.sidelink import SidelinkFields
from ns6g.envs.policies import ConstantPolicy, Contender, Policy
from ns6g.compute.split import (SplitTarget, check_model, feasible_cuts, greedy_split_target, load_profile,
                        peer_memory_bytes, predict_split_latency, profile_path, profiles_dir)

EDGE, CLOUD, PEER = 0, 1, 2
#: the scenario's fixed delays the observation does not carry (ns3_scenarios/mec-split.cc): the gNB-edge
#: backhaul (one way, s) and a RAN slot at numerology mu is 1 ms / 2**mu (a transfer waits about one slot for
#: its grant each way); the upper reference adds them, the agent and the reference rules do not know them.
BACKHAUL_DELAY_S = 1e-3


class SplitInferenceConfig(MecTaskConfig, SidelinkFields):
    scenario_name = "mec-split"

    model: str = Field("resnet18_style", description="model of the shipped layer profiles (ns6g.compute.split.available_models)")
    dtype: Literal["fp32", "int8"] = Field("fp32", description="profile precision")
    peer_device: str = Field("smartphone", description="catalogue name of each device's D2D peer (must have a radio)")
    peer_distance_m: float = Field(20.0, ge=1, le=10_000, description="distance from a device to its peer (m), at least 1 m")
    agent_cuts: tuple[int, ...] = Field(
        (), description="cuts an agent may choose (action_masks(), Python only): profile cut indices; empty: "
        "every cut whose device part fits the device's memory")

    #: Python's own: the masks an agent acts within, not a scenario option
    not_options = frozenset({"agent_cuts"})

    @field_validator("agent_cuts", mode="before")
    @classmethod
    def _cuts_as_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value  # YAML and JSON give lists

    @field_validator("peer_device")
    @classmethod
    def _peer_has_radio(cls, name: str) -> str:
        return check_has_radio("peer_device", check_device("peer_device", name))

    @field_validator("model")
    @classmethod
    def _known_model(cls, name: str) -> str:
        return check_model(name)

    @model_validator(mode="after")
    def _profile_exists(self) -> SplitInferenceConfig:
        profile_path(self.model, self.dtype)  # ValueError listing the models if this dtype is missing
        last = len(load_profile(self.model, self.dtype)) - 1
        bad = [cut for cut in self.agent_cuts if not 0 <= cut <= last]
        if bad:
            raise ValueError(f"agent_cuts: {bad} are not cuts of {self.model} (0..{last})")
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


def _queue(observation: Any, key: str) -> float:
    return float(np.asarray(observation[key]).reshape(-1)[0])


class QueueAwareSplitPolicy:
    """Neurosurgeon's latency model plus the wait behind the queues the observation shows: per task, the
    (cut, target) of least predicted latency, where each offloaded cut also waits ``edge_queue`` (or
    ``peer_queue``, ``cloud_queue``) whole tasks of the target's compute (a queued task's part is taken as
    the whole model at cut 0) and each cut with device work waits ``device_queue`` whole local inferences.

    ``targets``: the places considered beside the device (``(EDGE, PEER)``: the reference rule, which like
    ``greedy`` leaves out the cloud, whose WAN delay is not observed). ``rtt_s``: a fixed round trip per
    target (s) charged to every offloaded cut; the reference rule uses none (Neurosurgeon's model), the upper
    reference the scenario's backhaul, WAN and slot delays, which no observation carries.
    """

    def __init__(self, config: SplitInferenceConfig, targets: tuple[int, ...] = (EDGE, PEER),
                 rtt_s: dict[int, float] | None = None) -> None:
        if not targets or not set(targets) <= {EDGE, CLOUD, PEER}:
            raise ValueError(f"targets: a non-empty subset of (EDGE={EDGE}, CLOUD={CLOUD}, PEER={PEER}) (got {targets})")
        self.targets, self.rtt_s = targets, dict(rtt_s or {})
        self.profile = load_profile(config.model, config.dtype)
        self.device_flops = float(DEVICES.loc[config.device, "flops"])
        self.flops = {EDGE: float(DEVICES.loc[config.edge_device, "flops"]),
                      CLOUD: float(DEVICES.loc[config.cloud_device, "flops"]),
                      PEER: float(DEVICES.loc[config.peer_device, "flops"])}
        self.whole_flops = float(self.profile["server_flops"].iloc[0])  # the model, all of it, on a server
        self.device_ok = np.isin(self.profile["cut"].to_numpy(),
                                 feasible_cuts(self.profile, float(DEVICES.loc[config.device, "memory_bytes"])))
        self.peer_ok = peer_memory_bytes(self.profile) <= float(DEVICES.loc[config.peer_device, "memory_bytes"])
        self.queue_key = {EDGE: "edge_queue", CLOUD: "cloud_queue", PEER: "peer_queue"}

    def predicted_s(self, observation: Any) -> dict[int, np.ndarray]:
        """Per target, the predicted latency of every cut (s; inf where the cut does not fit)."""
        up, side = _rate_bps(observation, "uplink_mbps"), _rate_bps(observation, "sidelink_mbps")
        device_flops = self.profile["device_flops"].to_numpy(dtype=np.float64)
        device_wait = np.where(device_flops > 0,
                               _queue(observation, "device_queue") * device_flops[-1] / self.device_flops, 0.0)
        out = {}
        for target in self.targets:
            rate = side if target == PEER else up
            lat = predict_split_latency(self.profile, self.device_flops, self.flops[target], rate, rate,
                                        self.rtt_s.get(target, 0.0))["total_s"].to_numpy()
            server_wait = _queue(observation, self.queue_key[target]) * self.whole_flops / self.flops[target]
            total = lat + device_wait
            total[:-1] += server_wait
            ok = self.device_ok & (self.peer_ok if target == PEER else True)
            ok[-1] = self.device_ok[-1]
            out[target] = np.where(ok, total, np.inf)
        return out

    def __call__(self, observation: Any) -> np.ndarray:
        best = (np.inf, len(self.profile) - 1, self.targets[0])
        for target, totals in self.predicted_s(observation).items():
            cut = int(np.argmin(totals))
            if totals[cut] < best[0]:
                best = (float(totals[cut]), cut, target)
        cut, target = best[1], best[2]
        if not np.isfinite(best[0]):  # nothing fits the device: offload everything to the first target
            cut = 0
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

    def action_masks(self) -> np.ndarray:
        """Which values of each action entry an agent may choose, for sb3-contrib's MaskablePPO: a flat bool
        array of (N + 1) + 3 entries. Cuts: those whose device part fits the device's memory (the others
        fail at once), and only ``agent_cuts`` where it is set; targets: all three (whether the peer part
        fits depends on the cut, which a per-entry mask cannot say). The same at every step."""
        if getattr(self, "_masks", None) is None:
            self._masks = self._agent_masks()
        return self._masks.copy()

    def _agent_masks(self) -> np.ndarray:
        profile = load_profile(self.config.model, self.config.dtype)
        cuts = np.isin(profile["cut"].to_numpy(),
                       feasible_cuts(profile, float(DEVICES.loc[self.config.device, "memory_bytes"])))
        if self.config.agent_cuts:
            cuts &= np.isin(profile["cut"].to_numpy(), self.config.agent_cuts)
        if not cuts.any():
            raise ValueError(f"action_masks: none of agent_cuts {list(self.config.agent_cuts)} fits the memory of "
                             f"{self.config.device}")
        return np.concatenate([cuts, np.ones(3, dtype=bool)])

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

    def reference_policies(self, seed: int = 0) -> dict[str, Contender]:
        """Hand-written rules beyond the built-in baselines, for benchmark tables (``ns6g bench learn``):
        ``queue_aware`` (:class:`QueueAwareSplitPolicy` over the edge and the peer: Neurosurgeon that also
        waits behind the observed queues) and ``all_cloud`` (cut 0 in the cloud, a fixed rule)."""
        return {"queue_aware": Contender(QueueAwareSplitPolicy(self.config)),
                "all_cloud": Contender(ConstantPolicy(np.array([0, CLOUD], dtype=np.int64)))}

    def upper_reference_policies(self, seed: int = 0) -> dict[str, Contender]:
        """Rules with knowledge no agent observes (kind ``upper`` in ``ns6g bench learn``): ``oracle_delays``,
        :class:`QueueAwareSplitPolicy` over the edge, the cloud and the peer, charged the scenario's fixed round
        trips (the backhaul, the WAN's ``wan_delay_ms`` both ways and a slot's grant wait each way on the RAN
        or sidelink), which the observation does not carry. It is myopic (per task, no look-ahead), so it is
        a reference from above, not a bound."""
        slot_s = 1e-3 / 2 ** self.config.numerology
        side_slot_s = 1e-3 / 2 ** self.config.sidelink_numerology
        edge = 2 * BACKHAUL_DELAY_S + 2 * slot_s
        rtt = {EDGE: edge, CLOUD: edge + 2 * self.config.wan_delay_ms / 1e3, PEER: 2 * side_slot_s}
        return {"oracle_delays": Contender(QueueAwareSplitPolicy(self.config, (EDGE, CLOUD, PEER), rtt))}

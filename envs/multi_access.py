"""``ns6g/MultiAccessInference-v0``: a vehicle sends each inference task over the path it picks (its own
computer, the roadside unit over the cellular link, or a nearby vehicle over the V2V sidelink), and keeps
being served when the roadside unit fails.

Scenario: ``ns3_scenarios/multi-access.cc`` (paper 003 Section IV, multi-access collaborative inference).
A straight two-way highway (``road_length_m``, ``lanes`` per direction; ns6g.radio.mobility.highway_trace,
vehicles at constant speeds in ``speed_min_mps .. speed_max_mps`` turning round at the road's ends, the
trace drawn once per config from ``mobility_seed``). Vehicle 0 is the task vehicle; vehicles 1..``helpers``
are its neighbours, each with an on-board computer (``helper_device``). The roadside unit (RSU) stands
``rsu_offset_m`` beside the road's middle: a gNB of ns6g's RAN model with an edge server (``edge_device``)
behind it. Every vehicle carries a TR 37.885 V2V-Highway sidelink (its own carrier: the ``sidelink_*``
fields).
Tasks (one inference of ``model`` at ``dtype``, batch 1) arrive at the task vehicle as a Poisson process
of ``task_rate_hz``; at every arrival the agent picks its path. An offloaded task uploads ``frame_bytes``
(the camera frame; 0: the model's input tensor) as real UDP datagrams, the server runs the whole model and
sends the result (the model's output) back the same way.

Action, ``Discrete(2 + helpers)``: 0 = local (the task vehicle's own ``device``), 1 = the RSU over the
cellular uplink, 1 + k = vehicle k over the sidelink. A vehicle farther than ``v2v_range_m`` is
unreachable: ``action_masks()`` masks it and the scenario refuses it (the task fails at once, info
``rejected``). The RSU is never masked: the task vehicle cannot see a failure directly.
Observation (Dict): ``rsu_mbps`` (1,) the cellular uplink rate the channel supports (the link model's
estimate, blind to a failure); ``v2v_mbps`` (helpers,) the sidelink rate estimates; ``distance_m``
(1 + helpers,) to the RSU and to each vehicle; ``in_range`` (helpers,) 1 where the vehicle is within
``v2v_range_m``; ``recent_latency_ms`` (2 + helpers,) per path the latency of the last task that finished
on it (a failed task counts ``task_timeout_s``; 0 before any); ``oldest_in_flight_ms`` (2 + helpers,) per
path the age of its oldest unfinished task (0: none); ``in_flight`` (2 + helpers,) its unfinished tasks;
``rsu_ack_age_ms`` (1,) time since the last result came back from the RSU (or since the episode began).
What is observable of a failure: only what the task vehicle sees of its own tasks (results that stop
coming back), never the RSU's state.
Reward (units: latency in s, energy in J, ``energy_weight`` in s/J), over the tasks finished in the
step: ``-(latency_s + energy_weight * energy_j) - deadline_penalty * [late] - failure_penalty * [failed]``
(ns6g's MecTaskEngine: a failed task counts with the latency ``task_timeout_s``; the last step runs until
every decided task has finished).
RSU failure: at ``rsu_fail_at_s`` after the episode begins (0: no scripted failure), and at exponential
gaps of mean ``rsu_mtbf_s`` (0: none); a failure lasts ``rsu_down_s`` (0: for good). While failed the RSU
carries nothing: every packet to or from its edge server is dropped at the RSU, so tasks in flight there
time out and new ones sent to it fail; the task vehicle's uplink still transmits (it does not know).
Info: the engine's ``latency_ms`` (mean over the tasks completed in the step; 0 if none), ``energy_j``,
``completed``, ``failed``, ``deadline_violations``, ``timeouts``, ``unserved``; per path kind
``completed_local``, ``completed_rsu``, ``completed_v2v``, ``failed_local``, ``failed_rsu``, ``failed_v2v``
(tasks finished in the step); ``rejected`` (out-of-range choices); ``rsu_failed`` (1 while the RSU is
down: ground truth for plots and tests, not an observation); ``last_path`` (the path of the last completed
task; -1 before any); and, as in every environment, ``sim_time_s`` (simulated time of the decision). No
info value is NaN (equal runs give equal infos).
See docs/multi-access.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ns6g.compute.devices import catalogue_path, check_device, check_has_radio
from ns6g.compute.split import check_model, profile_path, profiles_dir
from ns6g.core.bridge import Bridge
from ns6g.core.config import BandwidthHz, FastFading, FrequencyHz, Numerology, RadioScenario, ScenarioConfig
from ns6g.envs.base import ScenarioEnv
from ns6g.envs.policies import ConstantPolicy, Contender, Policy
from ns6g.radio.sidelink import sidelink_fields

LOCAL, RSU = 0, 1
#: lane width of ns6g.radio.mobility.highway_trace's default (m)
LANE_WIDTH_M = 3.5


class MultiAccessConfig(ScenarioConfig, sidelink_fields(sidelink_bandwidth_hz=10e6)):
    """MultiAccessInference's settings. The six ``sidelink_*`` fields (the V2V carrier, its sub-channels,
    mode and power) are ns6g.radio.sidelink's, with their bounds and carrier check; only the carrier's
    default bandwidth is this scenario's own, 10 MHz (the challenge and docs/multi-access.md are measured
    with it), where SplitInference and fl-network keep the mixin's 20 MHz."""

    scenario_name = "multi-access"

    helpers: int = Field(3, ge=1, le=32, description="nearby vehicles that can serve tasks over the V2V sidelink")
    device: str = Field("raspberry-pi-4", description="catalogue name of the task vehicle's computer (must have a radio)")
    helper_device: str = Field("jetson-orin-nano",
                               description="catalogue name of the other vehicles' computers (must have a radio)")
    edge_device: str = Field("edge-gpu-server", description="catalogue name of the RSU's edge server")
    model: str = Field("resnet18_style", description="model of the shipped layer profiles (ns6g.compute.split.available_models)")
    dtype: Literal["fp32", "int8"] = Field("fp32", description="profile precision")
    frame_bytes: int = Field(100_000, ge=0, le=50_000_000,
                             description="bytes uploaded per offloaded task (a camera frame); 0: the model's input tensor")
    task_rate_hz: float = Field(10.0, ge=0.01, le=10_000, description="task arrival rate (1/s)")
    deadline_ms: float = Field(100.0, ge=0.1, le=1e7, description="task deadline (ms)")
    energy_weight: float = Field(1.0, ge=0, le=1e6, description="reward weight of the task vehicle's energy (s/J)")
    deadline_penalty: float = Field(1.0, ge=0, le=1e6, description="reward penalty per task over the deadline")
    failure_penalty: float = Field(5.0, ge=0, le=1e6, description="reward penalty per failed task")
    task_timeout_s: float = Field(0.5, ge=1e-3, le=3600, description="a task not complete after this long fails (s)")
    battery_j: float = Field(1000.0, ge=1e-3, le=1e9, description="battery of the task vehicle's computer (J)")
    episode_steps: int = Field(100, ge=1, le=10_000_000, description="decisions (tasks) per episode")
    road_length_m: float = Field(600.0, ge=50, le=20_000, description="length of the highway (m); the RSU is at its middle")
    lanes: int = Field(2, ge=1, le=8, description="lanes per direction (3.5 m wide)")
    speed_min_mps: float = Field(20.0, ge=0.1, le=150, description="least vehicle speed (m/s)")
    speed_max_mps: float = Field(35.0, ge=0.1, le=150, description="largest vehicle speed (m/s)")
    mobility_seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of the highway trace (lanes, positions, speeds)")
    rsu_offset_m: float = Field(20.0, ge=0, le=5000, description="distance of the RSU from the road's centre line (m)")
    v2v_range_m: float = Field(250.0, ge=1, le=10_000, description="vehicles farther than this cannot be reached (m)")
    rsu_fail_at_s: float = Field(0.0, ge=0, le=1e6,
                                 description="simulated time of the RSU's scripted failure (s); 0: no scripted failure")
    rsu_down_s: float = Field(0.0, ge=0, le=1e6, description="how long an RSU failure lasts (s); 0: for good")
    rsu_mtbf_s: float = Field(0.0, ge=0, le=1e7,
                              description="mean time between random RSU failures (s, exponential); 0: none")
    scenario: RadioScenario = "RMa"
    frequency_hz: FrequencyHz = 3.5e9
    bandwidth_hz: BandwidthHz = 20e6
    numerology: Numerology = 1
    fast_fading: FastFading = True

    @field_validator("device", "helper_device", "edge_device")
    @classmethod
    def _known_devices(cls, name: str, info: Any) -> str:
        check_device(info.field_name, name)
        return check_has_radio(info.field_name, name) if info.field_name != "edge_device" else name

    @field_validator("model")
    @classmethod
    def _known_model(cls, name: str) -> str:
        return check_model(name)

    @model_validator(mode="after")
    def _cross_fields(self) -> MultiAccessConfig:
        from ns6g.radio.phy import check_carrier

        profile_path(self.model, self.dtype)
        if self.speed_min_mps > self.speed_max_mps:
            raise ValueError(f"speed_min_mps: {self.speed_min_mps} m/s exceeds speed_max_mps ({self.speed_max_mps} m/s)")
        if self.rsu_offset_m <= self.lanes * LANE_WIDTH_M:
            raise ValueError(f"rsu_offset_m: {self.rsu_offset_m} m puts the RSU on the road ({self.lanes} lanes of "
                             f"{LANE_WIDTH_M} m each side of the centre line); use more than {self.lanes * LANE_WIDTH_M} m")
        if self.scenario == "RMa" and self.frequency_hz > 30e9:
            raise ValueError("frequency_hz: RMa is specified up to 30 GHz (TR 38.901)")
        if self.rsu_mtbf_s > 0 and self.rsu_down_s == 0:
            raise ValueError("rsu_down_s: random failures (rsu_mtbf_s > 0) need a repair time above 0")
        check_carrier(self.bandwidth_hz, self.numerology, self.frequency_hz)
        return self

    @property
    def paths(self) -> int:
        """Actions: local, the RSU, and one per helper vehicle."""
        return 2 + self.helpers

    @property
    def trace_duration_s(self) -> float:
        """How long the highway trace runs: the episode's expected length three times over, plus the last
        tasks' timeout (vehicles stop where the trace ends)."""
        return 3.0 * self.episode_steps / self.task_rate_hz + self.task_timeout_s + 10.0


def _vector(observation: Any, key: str) -> np.ndarray:
    return np.asarray(observation[key], dtype=np.float64).reshape(-1)


class _PathPolicy:
    """Shared part of the path baselines: only paths the masks allow (vehicles in range)."""

    def __init__(self, config: MultiAccessConfig) -> None:
        self.config = config

    @staticmethod
    def allowed(observation: Any) -> np.ndarray:
        return np.concatenate([[True, True], _vector(observation, "in_range") > 0.5])


class BestRatePolicy(_PathPolicy):
    """The offload path with the largest rate estimate (the RSU's cellular uplink or a vehicle's sidelink in
    range); never local."""

    def __call__(self, observation: Any) -> int:
        rates = np.concatenate([[-np.inf], _vector(observation, "rsu_mbps"), _vector(observation, "v2v_mbps")])
        rates[~self.allowed(observation)] = -np.inf
        return int(np.argmax(rates))


class LeastLatencyPolicy(_PathPolicy):
    """The path with the least latency recently seen: per path the larger of the last finished task's latency
    (``recent_latency_ms``; a failed task counts its time-out) and the age of its oldest unfinished task
    (``oldest_in_flight_ms``: a task still out has taken at least that long). A path not tried yet scores 0,
    so each is tried once; ties go to the lower path index (local first)."""

    def __call__(self, observation: Any) -> int:
        seen = np.maximum(_vector(observation, "recent_latency_ms"), _vector(observation, "oldest_in_flight_ms"))
        seen[~self.allowed(observation)] = np.inf
        return int(np.argmin(seen))


class BestVehiclePolicy(_PathPolicy):
    """The vehicle in range with the least latency recently seen (:class:`LeastLatencyPolicy`'s score over the
    V2V paths only; local when no vehicle is in range): never the RSU."""

    def __call__(self, observation: Any) -> int:
        seen = np.maximum(_vector(observation, "recent_latency_ms"), _vector(observation, "oldest_in_flight_ms"))
        seen[~self.allowed(observation)] = np.inf
        seen[[LOCAL, RSU]] = np.inf
        return int(np.argmin(seen)) if np.isfinite(seen).any() else LOCAL


class RsuFailoverPolicy(_PathPolicy):
    """The RSU while it answers, the best vehicle while it does not, and a probe to win it back: a reference
    rule for benchmark tables. The RSU counts as answering when its last finished task did not time out and
    none of its tasks has been out longer than ``suspect_ms`` (default half the deadline); otherwise the
    task goes to :class:`BestVehiclePolicy`'s vehicle, except that when no task is out at the RSU one is sent
    there, so that a repaired RSU is found again (about one probe per ``task_timeout_s`` while it is down)."""

    def __init__(self, config: MultiAccessConfig, suspect_ms: float | None = None) -> None:
        super().__init__(config)
        self.suspect_ms = config.deadline_ms / 2 if suspect_ms is None else suspect_ms
        self.fallback = BestVehiclePolicy(config)

    def __call__(self, observation: Any) -> int:
        recent, oldest = _vector(observation, "recent_latency_ms"), _vector(observation, "oldest_in_flight_ms")
        timed_out = recent[RSU] >= 1e3 * self.config.task_timeout_s
        if oldest[RSU] == 0 or (not timed_out and oldest[RSU] <= self.suspect_ms):
            return RSU  # answering, or nothing out there (a probe)
        return self.fallback(observation)


class MultiAccessEnv(ScenarioEnv):
    """Per-task path choice (local, roadside unit, nearby vehicle) of a vehicle's inference tasks."""

    scenario = "multi-access"
    config_class = MultiAccessConfig
    reward_summary = "-(latency_s + energy_weight * energy_j) - deadline and failure penalties, per task"

    def _launch(self) -> Bridge:
        args = [*self.config.to_args(), f"--catalogue={catalogue_path()}", f"--profiles={profiles_dir()}",
                f"--mobility-trace={self._trace()}"]
        return Bridge(self._binary, args, **self._bridge_options)

    def _trace(self) -> Path:
        """The highway trace of this configuration (vehicle 0 the task vehicle), written on first use."""
        from ns6g.radio.mobility import highway_trace

        c = self.config
        return self._scratch_file("highway.ns_movements", lambda path: highway_trace(
            path, 1 + c.helpers, length_m=c.road_length_m, lanes=c.lanes, lane_width_m=LANE_WIDTH_M,
            speed_mps=(c.speed_min_mps, c.speed_max_mps), duration_s=c.trace_duration_s, seed=c.mobility_seed))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        observation, info = super().reset(seed=seed, options=options)
        self._last_observation = observation
        return observation, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = super().step(action)
        self._last_observation = observation
        # No NaN in the info (0 / -1 where nothing completed), so that equal runs give equal infos.
        if info.get("completed", 0) == 0:
            info["latency_ms"] = 0.0
        if np.isnan(info.get("last_path", 0.0)):
            info["last_path"] = -1.0
        return observation, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """Which paths an agent may choose now, for sb3-contrib's MaskablePPO: local and the RSU always (a
        failure is not observed directly), vehicle k where ``in_range`` says it is within ``v2v_range_m``."""
        observation = getattr(self, "_last_observation", None)
        if observation is None:
            return np.ones(self.config.paths, dtype=bool)
        return _PathPolicy.allowed(observation)

    def baseline_policies(self, seed: int = 0) -> dict[str, Policy]:
        """``local_only``, ``always_rsu``, ``best_rate`` (:class:`BestRatePolicy`), ``least_latency``
        (:class:`LeastLatencyPolicy`), ``best_vehicle`` (:class:`BestVehiclePolicy`) and ``random``."""
        return {
            "local_only": ConstantPolicy(LOCAL),
            "always_rsu": ConstantPolicy(RSU),
            "best_rate": BestRatePolicy(self.config),
            "least_latency": LeastLatencyPolicy(self.config),
            "best_vehicle": BestVehiclePolicy(self.config),
            **super().baseline_policies(seed),
        }

    def reference_policies(self, seed: int = 0) -> dict[str, Contender]:
        """Hand-written rules beyond the built-in baselines, for benchmark tables (``ns6g bench learn``):
        ``rsu_failover`` (:class:`RsuFailoverPolicy`)."""
        return {"rsu_failover": Contender(RsuFailoverPolicy(self.config))}


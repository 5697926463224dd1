"""``ns6g/MecOffload-v0``: choose the offload target and uplink share of every task in a multi-cell MEC.

Scenario: ``ns3_scenarios/mec-offload.cc``. ``cells`` (1, 3 or 7) hexagonal 6G RAN sites, one edge server
node behind each gNB (its own catalogue Processor), the edge nodes joined by inter-edge links, a cloud
node behind the core on a WAN link, ``ues`` devices (static or random walk). Tasks (``task_flops`` FLOPs, ``task_input_bytes`` up,
``task_output_bytes`` down) arrive at each device as a Poisson process of ``task_rate_hz``; at every
arrival the agent decides for that task.

Action, ``MultiDiscrete([cells + 2, share_levels])``: (target, share level s); target 0 = run on the
device, i = 1..cells: edge server i - 1, cells + 1: the cloud; while the device uploads it gets the fraction (s + 1) / share_levels of its
serving cell's uplink RBGs (normalised when a cell's shares exceed 1; the rest stays unused).
Handover (``handover_policy``): a task at an edge server other than the device's new cell's either
finishes there and its result is relayed over the inter-edge link (``finish_at_old``) or its state
(``migration_bytes``) travels over the inter-edge link to the new cell's server, where its remaining work
runs (``migrate``); both are real packets, timed on the link.
Observation (Dict) of the deciding device: ``cqi`` (1,), ``uplink_mbps`` (1,), ``serving_cell``
Discrete(cells), ``edge_queues`` (cells,) tasks assigned to each edge server and not yet computed,
``cloud_queue`` (1,) the same for the cloud, ``device_queue`` (1,), ``battery_fraction`` (1,), ``device`` Discrete(ues).
Reward (reward units: latency in s, energy in J, ``energy_weight`` in s/J), over the tasks that completed
or failed during the step: ``-(latency_s + energy_weight * energy_j) - deadline_penalty * [late]
- failure_penalty * [failed]``, a completed task late when its latency (arrival to result) exceeds
``deadline_ms``. A failed task (timeout) counts with the latency ``task_timeout_s`` and as late, so
failing never costs less than completing at the timeout. After the last decision no task arrives and the
last step runs until every decided task is done, so each counts. An episode a battery ends early is
charged ``task_timeout_s + deadline_penalty + failure_penalty`` for every task decided and not finished
and every decision it did not reach (info ``unserved``), so ending it early does not pay.
Info: ``latency_ms``, ``energy_j``, ``completed``, ``failed``, ``deadline_violations`` (late or failed),
``timeouts``, ``unserved``,
``migrations``, ``migration_ms``, ``relay_ms``, ``relay_bytes``, ``result_relay_bytes``, ``handovers``, and of the last completed task
``last_latency_ms``, ``uplink_ms``, ``server_ms``, ``downlink_ms``, ``last_target``, ``last_share``,
``last_energy_j``. See docs/mec-offload.md.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from ns6g.core.bridge import Bridge
from ns6g.compute.devices import DEVICES, catalogue_path
from ns6g.envs.base import ScenarioEnv
from ns6g.envs.mec_task import MecTaskConfig
from ns6g.envs.policies import ConstantPolicy, Contender, HindsightOracle, Policy, play_episode

LOCAL = 0


def cloud_target(cells: int) -> int:
    """The action target of the cloud: after the local target and the ``cells`` edge servers."""
    return cells + 1


class MecOffloadConfig(MecTaskConfig):
    scenario_name = "mec-offload"

    cells: Literal[1, 3, 7] = Field(3, description="hexagonal sites (1, 3 or 7), one edge server per gNB")
    task_flops: float = Field(2e9, ge=1e3, le=1e18, description="work of one task (FLOPs), at least 1000")
    task_input_bytes: int = Field(100_000, ge=1, le=1_000_000_000, description="bytes uploaded per offloaded task")
    task_output_bytes: int = Field(1_000, ge=1, le=1_000_000_000, description="result bytes per offloaded task")
    share_levels: int = Field(4, ge=1, le=64,
                              description="uplink share levels: level s reserves (s+1)/share_levels of the RBGs")
    handover_policy: Literal["finish_at_old", "migrate"] = Field(
        "finish_at_old", description="what a handover does to a task at another cell's edge server")
    inter_edge_delay_ms: float = Field(5.0, ge=0, le=10_000, description="one-way delay of an inter-edge link (ms)")
    inter_edge_rate_mbps: float = Field(1000.0, ge=1e-3, le=1e6, description="inter-edge link rate (Mbit/s)")
    migration_bytes: int = Field(1_000_000, ge=0, le=100_000_000_000, description="task state moved per migration (bytes)")
    deadline_ms: float = Field(200.0, ge=0.1, le=1e7, description="task deadline (ms), at least 0.1 ms")
    mobility: Literal["static", "random_walk"] = Field("static", description="device mobility")
    speed_mps: float = Field(1.5, ge=0.1, le=200, description="device speed of random_walk (m/s), at least 0.1 m/s")
    handover_hysteresis_db: float = Field(3.0, ge=0, le=30, description="A3 handover hysteresis (dB)")
    time_to_trigger_ms: float = Field(40.0, ge=0, le=10_000, description="A3 time to trigger (ms)")


class NearestEdgePolicy:
    """Offload to the deciding device's serving cell's edge server with the full uplink share."""

    def __init__(self, share_levels: int) -> None:
        self.full = share_levels - 1

    def __call__(self, observation: Any) -> np.ndarray:
        cell = int(np.asarray(observation["serving_cell"]).reshape(-1)[0])
        return np.array([cell + 1, self.full], dtype=np.int64)


class LeastLoadedPolicy:
    """Offload to the edge server with the fewest tasks (``edge_queues``; ties: the serving cell's, then
    the lowest index) with the full uplink share."""

    def __init__(self, share_levels: int) -> None:
        self.full = share_levels - 1

    def __call__(self, observation: Any) -> np.ndarray:
        queues = np.asarray(observation["edge_queues"], dtype=float).reshape(-1)
        cell = int(np.asarray(observation["serving_cell"]).reshape(-1)[0])
        best = queues.min()
        server = cell if queues[cell] == best else int(np.argmin(queues))
        return np.array([server + 1, self.full], dtype=np.int64)


#: the scenario's fixed wired delays the observation does not carry (ns3_scenarios/mec-offload.cc): the
#: gNB-edge link and the gNB-core backhaul, 1 ms one way each (docs/mec-offload.md)
BACKHAUL_DELAY_S = 1e-3


def _entries(observation: Any, key: str) -> np.ndarray:
    return np.asarray(observation[key], dtype=np.float64).reshape(-1)


class EarliestFinishPolicy:
    """Reference rule: each task to the target where it is predicted to cost least, cloud included, with the
    full uplink share.

    Per target it predicts the task's latency from the observation and the public settings (the catalogue's
    FLOP/s, the configured links): the device: ``(device_queue + 1)`` tasks of its processor; edge server i:
    the upload at ``uplink_mbps`` (which already divides the carrier among the cell's uploading devices),
    the 1 ms wired hops there and back, the inter-edge link both ways when i is not the serving cell's, and
    ``edge_queues[i] + 1`` tasks of server i (every task assigned to it and not computed is ahead); the
    cloud: the upload, the core's hops, the WAN both ways (``wan_delay_ms``, its rate) and
    ``cloud_queue + 1`` tasks of the cloud. Cost = latency (capped at ``task_timeout_s``) +
    ``energy_weight`` x the device's energy (local: FLOPs x energy per FLOP, none when the task times out
    first, as the scenario charges it; offloaded: transmit power x upload time) + ``deadline_penalty`` if
    the latency exceeds ``deadline_ms`` + ``failure_penalty`` if it reaches the timeout. So when every
    server would miss the timeout too, a device that cannot finish in time keeps the task (it fails at
    the same cost without loading a server: admission control). ``cloud_margin_s`` is added to the
    cloud's prediction (0: none; the upper reference searches it). Myopic: it does not foresee the tasks
    that will follow."""

    def __init__(self, config: MecOffloadConfig, cloud_margin_s: float = 0.0) -> None:
        self.config, self.cloud_margin_s = config, float(cloud_margin_s)
        self.full = config.share_levels - 1
        flops = DEVICES["flops"].astype(float)
        self.device_s = config.task_flops / float(flops[config.device])
        self.edge_s = config.task_flops / float(flops[config.edge_device])
        self.cloud_s = config.task_flops / float(flops[config.cloud_device])
        self.local_j = config.task_flops * float(DEVICES.loc[config.device, "energy_per_flop_j"])
        self.tx_w = 10 ** (float(DEVICES.loc[config.device, "tx_power_dbm"]) / 10) / 1e3
        bits = config.task_input_bytes * 8.0
        self.bits = bits
        self.inter_edge_s = 2 * config.inter_edge_delay_ms / 1e3 + bits / (config.inter_edge_rate_mbps * 1e6)
        self.wan_s = 2 * config.wan_delay_ms / 1e3 + bits / (config.wan_rate_mbps * 1e6)

    def costs(self, observation: Any) -> np.ndarray:
        """The predicted cost of every target (0: the device, 1..cells: the edge servers, cells + 1: the cloud)."""
        c = self.config
        upload_s = self.bits / (max(float(_entries(observation, "uplink_mbps")[0]), 1e-3) * 1e6)
        cell = int(_entries(observation, "serving_cell")[0])
        edge_queues = _entries(observation, "edge_queues")
        upload_j = self.tx_w * upload_s
        wired_s = 2 * BACKHAUL_DELAY_S
        costs = np.empty(c.cells + 2)
        local_s = (float(_entries(observation, "device_queue")[0]) + 1) * self.device_s
        # The device's energy is charged when it finishes computing: a task that times out first costs none.
        costs[LOCAL] = self._cost(local_s, self.local_j if local_s < c.task_timeout_s else 0.0)
        for server in range(c.cells):
            latency = upload_s + wired_s + (edge_queues[server] + 1) * self.edge_s
            costs[server + 1] = self._cost(latency + (self.inter_edge_s if server != cell else 0.0), upload_j)
        latency = upload_s + wired_s + self.wan_s + (float(_entries(observation, "cloud_queue")[0]) + 1) * self.cloud_s
        costs[cloud_target(c.cells)] = self._cost(latency + self.cloud_margin_s, upload_j)
        return costs

    def _cost(self, latency_s: float, energy_j: float) -> float:
        c = self.config
        latency_s = min(latency_s, c.task_timeout_s)
        return (latency_s + c.energy_weight * energy_j + c.deadline_penalty * (latency_s > c.deadline_ms / 1e3)
                + c.failure_penalty * (latency_s >= c.task_timeout_s))

    def __call__(self, observation: Any) -> np.ndarray:
        return np.array([int(np.argmin(self.costs(observation))), self.full], dtype=np.int64)


class BestMarginInHindsight(HindsightOracle):
    """Upper reference: :class:`EarliestFinishPolicy` with the cloud margin that does best on the episode being
    played, found by replaying the episode's seed once per margin of ``MARGINS_S`` (0 among them) in a second
    scenario process, and then played. No agent knows an episode's outcome in advance; it is a reference
    from above (at least the rule's own return on every seed), not a bound."""

    MARGINS_S = (-0.03, -0.02, -0.01, 0.0, 0.01, 0.02, 0.04)

    def __call__(self, observation: Any) -> np.ndarray:
        return self.hindsight()(observation)

    def _search(self, run: int) -> EarliestFinishPolicy:
        with MecOffloadEnv(self.config) as replay:
            self.returns = {margin: play_episode(replay, EarliestFinishPolicy(self.config, margin), run)[0]
                            for margin in self.MARGINS_S}
        return EarliestFinishPolicy(self.config, max(self.returns, key=self.returns.get))


class MecOffloadEnv(ScenarioEnv):
    """Per-task offload target (device or one of several edge servers) and uplink share, with handovers."""

    scenario = "mec-offload"
    config_class = MecOffloadConfig
    reward_summary = "-(latency_s + energy_weight * energy_j) - deadline and failure penalties, per task"

    def _launch(self) -> Bridge:
        args = [*self.config.to_args(), f"--catalogue={catalogue_path()}"]
        return Bridge(self._binary, args, **self._bridge_options)

    def baseline_policies(self, seed: int = 0) -> dict[str, Policy]:
        """``all_local``, ``nearest_edge``, ``least_loaded``, ``all_cloud`` (the three with the full share)
        and ``random``."""
        levels = self.config.share_levels
        return {
            "all_local": ConstantPolicy(np.array([LOCAL, levels - 1], dtype=np.int64)),
            "all_cloud": ConstantPolicy(np.array([cloud_target(self.config.cells), levels - 1], dtype=np.int64)),
            "nearest_edge": NearestEdgePolicy(levels),
            "least_loaded": LeastLoadedPolicy(levels),
            **super().baseline_policies(seed),
        }

    def reference_policies(self, seed: int = 0) -> dict[str, Contender]:
        """Hand-written rules beyond the built-in baselines, for benchmark tables (``ns6g bench learn``):
        ``earliest_finish`` (:class:`EarliestFinishPolicy`: the predicted cheapest target, cloud included)."""
        return {"earliest_finish": Contender(EarliestFinishPolicy(self.config))}

    def upper_reference_policies(self, seed: int = 0) -> dict[str, Contender]:
        """Oracles for benchmark tables (kind ``upper``): ``best_margin_in_hindsight``
        (:class:`BestMarginInHindsight`, the reference rule tuned on the episode being played)."""
        return {"best_margin_in_hindsight": Contender(BestMarginInHindsight(self.config))}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        observation, info = super().reset(seed=seed, options=options)
        # The episode's ns-3 run number, for an oracle that replays it (BestMarginInHindsight).
        self.episode_run, self.episode_count = info["rng_run"], getattr(self, "episode_count", 0) + 1
        return observation, info

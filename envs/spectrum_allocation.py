"""``ns6g/SpectrumAllocation-v0``: allocate the downlink RBGs of a multi-cell 6G RAN.

Scenario: ``ns3_scenarios/ran-spectrum.cc`` on ns6g's RAN model (38.901 channel with ns-3 fast fading,
PHY abstraction with NR MCS tables, TBS, BLER and HARQ, real UDP packets from a server behind the gNBs;
see docs/ran-*.md). Every ``decision_slots`` slots the agent sets each cell's allocation.

Observation (Dict): ``cqi`` (ues, rbgs) subband CQI 0..15 on the serving cell; ``buffer_kbytes`` (ues);
``throughput_mbps`` (ues) over the last decision interval; ``serving_cell`` MultiDiscrete(cells) per UE.
Action: ``action_mode="rbg"``: MultiDiscrete of cells * rbgs entries (cell-major), value u < ues gives the
RBG to UE u (a UE the cell does not serve leaves it unused), value ues leaves it unused; :meth:`~SpectrumAllocationEnv.action_masks`
says which values are valid now (sb3-contrib's MaskablePPO reads it); ``"share"``: Box (cells, ues) in [0, 1],
each cell's RBGs shared among its own UEs in proportion.
Reward (``reward``), per decision interval; a UE's throughput is the payload bits its application
received in the interval divided by the interval (``decision_slots`` slots):

- ``sum_rate``: the sum of the UEs' throughputs, Mbit/s (serving the best UEs wins, fair or not);
- ``pf_utility``: sum over UEs of ln(throughput in bit/s + 1) (a starved UE adds 0, a served one ~16);
- ``jain``: Jain's index of the throughputs, 1/ues .. 1, and 0 when nothing was delivered (fairness only);
- ``deadline_violations``: minus the fraction of the packets due in the interval that missed their
  deadline, in [-1, 0]. A packet is due when its deadline (its send time at the server + ``deadline_ms``)
  passes, so each packet counts once, whatever became of it: delivered in time, or a violation when it
  was delivered late, is still queued, or was dropped. How many packets are due depends only on the
  traffic sources, so a policy that starves UEs or leaves RBGs unused scores near -1, never better
  by sending less. 0 while no packet is due (the first ``deadline_ms`` of an episode). UDP traffic only:
  refused with ``traffic="tcp_bulk"`` (its packets carry no send time) and with the default
  ``full_buffer`` (200 Mbit/s per UE, queues always full, seconds of queueing: nearly every packet misses
  under any policy, so the reward could not rank policies). Use it with a load the cell can carry
  (``cbr``, ``poisson``, ``ftp``).

Info: ``sum_throughput_mbps``, ``jain_index``, ``pf_utility``,
``deadline_violation_fraction`` and ``packets_due`` (as the reward counts them), ``mean_sinr_db``,
``mean_cqi``, ``rbg_utilization``, ``handovers``, ``dropped_kbytes``, ``sim_time_s``.
Baselines: ``scheduler="rr" | "pf" | "mr"`` runs ns6g's per-slot scheduler instead (the action is checked,
not applied); :meth:`SpectrumAllocationEnv.baseline_configs` lists them. Reference rule for benchmark tables
(:meth:`SpectrumAllocationEnv.reference_policies`): :class:`MaxWeightPolicy` (queue x CQI, through the action).
Mobility: ns-3's models, ``"trace"`` (the ns-2 movement file ``mobility_trace``: node i moves UE i),
or ``"highway"`` / ``"urban_grid"``: the environment writes such a trace once (seed 0, sized by ``isd_m``,
long enough for an episode) into a temporary folder it deletes on close, every vehicle at ``vehicle_speed_mps``
when set (500 km/h: docs/extremes.md); see docs/mobility.md.
With ``run_dir`` the run's ``radio`` table gets one row per UE per decision (with the ``episode`` and
``seed`` it belongs to) and ``events`` the handovers.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import Field, field_validator, model_validator

from ns6g.core.config import BandwidthHz, FastFading, FrequencyHz, GnbTxPowerDbm, Numerology, RadioScenario, ScenarioConfig, Shadowing
from ns6g.core.bridge import Bridge
from ns6g.envs.base import ScenarioEnv
from ns6g.envs.multiagent import AgentSplit, split_observations
from ns6g.envs.policies import Contender, RandomPolicy

RADIO_COLUMNS = {  # radio_sample field -> radio table column (units in the names)
    "ue": "ue", "cell": "cell", "sinr_db": "sinr_db", "cqi": "cqi", "mcs": "mcs", "rbgs": "rbgs", "rbs": "rbs",
    "throughput_bps": "throughput_bps", "buffer_bytes": "buffer_bytes", "x_m": "x_m", "y_m": "y_m",
}


MAX_COORDINATE_M = 100_000.0  # gNB positions lie within +-100 km of the origin


def parse_positions(text: str) -> np.ndarray:
    """The (cells, 2) gNB positions (m) of ``gnb_positions`` ('x,y;x,y;...'), all finite and within
    +-MAX_COORDINATE_M. Raises ValueError naming the entry it cannot use."""
    sites = []
    for entry in text.split(";"):
        try:
            x, y = (float(v) for v in entry.split(","))
        except ValueError:
            raise ValueError(f"gnb_positions: cannot read {entry!r} as x,y (m)") from None
        if not all(math.isfinite(v) and abs(v) <= MAX_COORDINATE_M for v in (x, y)):
            raise ValueError(f"gnb_positions: {entry!r} is not a finite position within +-{MAX_COORDINATE_M:g} m")
        sites.append((x, y))
    return np.array(sites)


class SpectrumAllocationConfig(ScenarioConfig):
    scenario_name = "ran-spectrum"
    not_options = frozenset({"vehicle_speed_mps"})  # the environment writes the trace with it

    cells: int = Field(1, ge=1, le=64, description="cells: 1, 3 or 7 on the hexagonal layout, any with gnb_positions")
    ues: int = Field(10, ge=1, le=10_000, description="number of UEs")
    scenario: RadioScenario = "UMi-StreetCanyon"
    frequency_hz: FrequencyHz = 7e9
    bandwidth_hz: BandwidthHz = 20e6
    numerology: Numerology = 1
    rbg_size: int = Field(0, ge=0, le=16, description="RBG size in RBs (0: TS 38.214 configuration 1)")
    mcs_table: Literal["256QAM", "1024QAM"] = Field("256QAM", description="MCS/CQI tables")
    scheduler: Literal["agent", "rr", "pf", "mr"] = Field("agent", description="who allocates the downlink")
    decision_slots: int = Field(10, ge=1, le=100_000, description="slots between decisions")
    episode_steps: int = Field(100, ge=1, le=10_000_000, description="decisions per episode")
    traffic: Literal["full_buffer", "cbr", "poisson", "ftp", "tcp_bulk"] = Field(
        "full_buffer", description="downlink traffic per UE (ftp: 3GPP FTP model 1; tcp_bulk: greedy TCP)")
    ue_rate_mbps: float = Field(200.0, ge=1e-3, le=100_000, description="offered downlink rate per UE (Mbit/s)")
    packet_bytes: int = Field(1200, ge=64, le=60_000, description="UDP payload per packet for cbr (bytes)")
    mobility: Literal["static", "random_walk", "random_waypoint", "gauss_markov", "constant_velocity", "trace",
                      "highway", "urban_grid"] = Field(
        "static", description="UE mobility (trace: mobility_trace; highway, urban_grid: generated vehicle traces)")
    speed_mps: float = Field(1.5, ge=0, le=300, description="UE speed (m/s)")
    vehicle_speed_mps: float = Field(0.0, ge=0, le=300,
                                     description="highway / urban_grid: every vehicle's speed (m/s, up to 300, "
                                                 "i.e. 1080 km/h; 500 km/h is 138.9); 0: the generators' ranges "
                                                 "(25..35 m/s highway, 8..14 m/s urban grid)")
    handover_interruption_ms: float = Field(0.0, ge=0, le=1000,
                                            description="after a handover the UE is not scheduled for this long "
                                                        "(ms; 0: handovers interrupt nothing)")
    reward: Literal["sum_rate", "pf_utility", "deadline_violations", "jain"] = Field(
        "sum_rate", description="reward")
    deadline_ms: float = Field(50.0, ge=0.01, le=1e6, description="packet delay deadline (ms), at least 10 us")
    isd_m: float = Field(200.0, ge=20, le=100_000, description="inter-site distance (m)")
    fast_fading: FastFading = True
    shadowing: Shadowing = True
    action_mode: Literal["rbg", "share"] = Field("rbg", description="RBG assignment or bandwidth shares")
    gnb_array_rows: int = Field(4, ge=1, le=64, description="gNB antenna array rows")
    gnb_array_columns: int = Field(4, ge=1, le=64, description="gNB antenna array columns")
    ue_array_rows: int = Field(1, ge=1, le=16, description="UE antenna array rows")
    ue_array_columns: int = Field(2, ge=1, le=16, description="UE antenna array columns")
    gnb_tx_power_dbm: GnbTxPowerDbm = 41.0
    ftp_file_bytes: int = Field(512_000, ge=1, le=10**9, description="file size of FTP model 1 traffic (bytes)")
    ue_distribution: Literal["uniform", "clusters"] = Field("uniform", description="how UEs are dropped")
    clusters: int = Field(3, ge=1, le=1000, description="number of UE clusters (ue_distribution='clusters')")
    cluster_radius_m: float = Field(20.0, ge=1, le=10_000,
                                    description="radius of a UE cluster (m), at least 1 m (co-located UEs have no "
                                                "TR 38.901 channel)")
    gnb_positions: str = Field("", max_length=100_000,
                               description="gNB positions 'x,y;x,y;...' in m, one per cell, each coordinate "
                                           f"within +-{MAX_COORDINATE_M:g} m (empty: hexagonal)")
    mobility_trace: str = Field("", max_length=4096,
                                description="ns-2 movement file for mobility='trace' (node i moves UE i)")

    @field_validator("mobility_trace")
    @classmethod
    def _absolute_trace_path(cls, value: str) -> str:
        return str(Path(value).expanduser().resolve()) if value else value

    @model_validator(mode="after")
    def _deadlines_need_send_times(self) -> SpectrumAllocationConfig:
        if self.reward == "deadline_violations" and self.traffic == "tcp_bulk":
            raise ValueError("reward: deadline_violations counts UDP packets by their send time; "
                             "tcp_bulk packets carry none (choose cbr, poisson or ftp traffic)")
        if self.reward == "deadline_violations" and self.traffic == "full_buffer":
            # Full-buffer queues stay full, so nearly every packet misses under any policy and the reward
            # cannot rank policies (serving one UE scored marginally best; docs/ran-system.md).
            raise ValueError("reward: deadline_violations needs a load the cell can carry; full_buffer keeps "
                             "every queue full, so every policy misses nearly every deadline (choose cbr, "
                             "poisson or ftp traffic)")
        return self

    @model_validator(mode="after")
    def _carrier_is_valid(self) -> SpectrumAllocationConfig:
        # The compiled PHY model decides (ns6g.radio asks it), so Python and C++ never disagree.
        from ns6g.radio.phy import check_carrier

        check_carrier(self.bandwidth_hz, self.numerology, self.frequency_hz, self.rbg_size)
        if not self.gnb_positions and self.cells not in (1, 3, 7):
            raise ValueError("cells: the hexagonal layout has 1, 3 or 7 cells; give gnb_positions for others")
        if self.gnb_positions:
            sites = parse_positions(self.gnb_positions)
            if len(sites) != self.cells:
                raise ValueError(f"gnb_positions: {len(sites)} positions for {self.cells} cells")
        if self.mobility == "trace" and not self.mobility_trace:
            raise ValueError("mobility_trace: mobility='trace' needs the path of an ns-2 movement file")
        if self.mobility_trace and self.mobility != "trace":
            raise ValueError(f"mobility_trace: only used with mobility='trace' (got mobility={self.mobility!r})")
        if self.vehicle_speed_mps and self.mobility not in ("highway", "urban_grid"):
            raise ValueError(f"vehicle_speed_mps: only used with mobility='highway' or 'urban_grid' "
                             f"(got mobility={self.mobility!r}; other models take speed_mps)")
        if self.mobility_trace:
            from ns6g.radio.mobility import TraceError, read_ns2_trace

            try:
                nodes = read_ns2_trace(self.mobility_trace)["node"].nunique()
            except (TraceError, OSError) as exc:
                raise ValueError(f"mobility_trace: {exc}") from None
            if nodes < self.ues:
                raise ValueError(f"mobility_trace: {self.mobility_trace} has {nodes} nodes, fewer than ues={self.ues}")
        if self.scenario == "RMa" and self.frequency_hz > 30e9:
            raise ValueError("frequency_hz: RMa is specified up to 30 GHz (TR 38.901)")
        return self


class MaxWeightPolicy:
    """The max-weight rule through the agent's action (``action_mode="rbg"``): each RBG of a cell goes to the
    UE it serves with the largest queue x subband CQI (``buffer_kbytes`` x ``cqi``); a UE's weight then falls
    by ``spread`` per RBG it got, so that the RBGs spread over the backlogged UEs. A UE with an empty queue
    gets none (the RBG stays unused). A classic delay-aware rule the built-in schedulers are not: they serve
    by channel (and average rate), not by queue."""

    def __init__(self, cells: int, ues: int, rbgs: int, spread: float = 0.3) -> None:
        self.cells, self.ues, self.rbgs, self.spread = cells, ues, rbgs, spread

    def __call__(self, observation: Mapping[str, Any]) -> np.ndarray:
        serving = np.asarray(observation["serving_cell"]).reshape(self.ues)
        queue = np.asarray(observation["buffer_kbytes"], dtype=np.float64).reshape(self.ues).copy()
        cqi = np.asarray(observation["cqi"], dtype=np.float64).reshape(self.ues, self.rbgs)
        action = np.full((self.cells, self.rbgs), self.ues, dtype=np.int64)
        for cell in range(self.cells):
            for rbg in range(self.rbgs):
                weight = np.where(serving == cell, queue * cqi[:, rbg], 0.0)
                ue = int(np.argmax(weight))
                if weight[ue] > 0:
                    action[cell, rbg] = ue
                    queue[ue] *= 1.0 - self.spread
        return action.reshape(-1)


class SpectrumAllocationEnv(ScenarioEnv):
    """RBG allocation of a multi-cell 6G RAN carrying real UDP traffic."""

    scenario = "ran-spectrum"
    config_class = SpectrumAllocationConfig

    @staticmethod
    def baseline_configs() -> dict[str, dict[str, Any]]:
        """Configuration overrides of the built-in schedulers to compare an agent with."""
        return {"round_robin": {"scheduler": "rr"}, "proportional_fair": {"scheduler": "pf"},
                "max_rate": {"scheduler": "mr"}}

    def baselines(self, seed: int = 0) -> dict[str, Contender]:
        """The built-in schedulers (:meth:`baseline_configs`). Under them the agent's action is checked but
        not applied, so a random policy stands in for it."""
        ignored = RandomPolicy(copy.deepcopy(self.action_space), seed)
        return {name: Contender(ignored, overrides) for name, overrides in self.baseline_configs().items()}

    def reference_policies(self, seed: int = 0) -> dict[str, Contender]:
        """Hand-written rules beyond the built-in schedulers, for benchmark tables (``ns6g bench learn``):
        ``max_weight`` (:class:`MaxWeightPolicy`, ``action_mode="rbg"`` only)."""
        if self.config.action_mode != "rbg":
            return {}
        return {"max_weight": Contender(MaxWeightPolicy(self.config.cells, self.config.ues,
                                                        len(self.action_space.nvec) // self.config.cells))}

    def action_masks(self) -> np.ndarray:
        """Which values of each action entry are valid now (``action_mode="rbg"``), for sb3-contrib's
        MaskablePPO: a flat bool array of sum(nvec) entries, cell-major as the action. Cell c's RBGs may go
        to the UEs it serves now (``serving_cell`` of the current observation) or stay unused (value
        ``ues``: it spares the neighbours' interference); an RBG given to another cell's UE would be wasted."""
        if self.config.action_mode != "rbg":
            raise ValueError("action_masks: only action_mode='rbg' has invalid actions ('share' weights every UE)")
        ues, cells = self.config.ues, self.config.cells
        serving = np.asarray(self.bridge.read_observation()["serving_cell"]).reshape(ues)
        rbgs = len(self.action_space.nvec) // cells
        per_cell = np.zeros((cells, ues + 1), dtype=bool)
        per_cell[serving, np.arange(ues)] = True
        per_cell[:, ues] = True
        return np.repeat(per_cell, rbgs, axis=0).reshape(-1)

    def agent_split(self) -> AgentSplit:
        """One agent per UE (``ue-<u>``) for :class:`ns6g.envs.multiagent.ParallelScenarioEnv`, in ``share`` mode.

        Agent u observes its own row of every observation entry (``cqi`` (rbgs,), ``buffer_kbytes`` (1,),
        ``throughput_mbps`` (1,), ``serving_cell`` Discrete(cells)) and acts with its share weight, Box (1,)
        in [0, 1]; the joint action gives UE u that weight in every cell (only its serving cell's counts).
        """
        if self.config.action_mode != "share":
            raise ValueError("agent_split: per-UE agents need action_mode='share' "
                             "(in 'rbg' mode an RBG is one decision of its cell, not of a UE)")
        ues, cells = self.config.ues, self.config.cells
        agents = [f"ue-{u}" for u in range(ues)]
        spaces, observe = split_observations(self.observation_space, agents, own=list(self.observation_space.spaces))

        def act(actions: Mapping[str, Any]) -> np.ndarray:
            weights = np.array([np.asarray(actions[a], dtype=np.float32).reshape(-1)[0] for a in agents])
            return np.tile(weights, (cells, 1)).astype(np.float32)

        return AgentSplit(agents, spaces, {a: gym.spaces.Box(0.0, 1.0, (1,), np.float32) for a in agents},
                          observe, act)

    def _launch(self) -> Bridge:
        args = self.config.to_args()
        if self.config.mobility in ("highway", "urban_grid"):
            args = [a for a in args if not a.startswith("--mobility=")]
            args += ["--mobility=trace", f"--mobility-trace={self._generated_trace()}"]
        return Bridge(self._binary, args, **self._bridge_options)

    def _generated_trace(self) -> Path:
        """The highway / urban-grid trace of this environment, written on first use (seed 0)."""
        from ns6g.radio.mobility import highway_trace, urban_grid_trace

        c = self.config
        # The area of the other models (+-2 isd_m) around the sites' centroid; the whole episode long.
        if c.gnb_positions:
            centre = tuple(parse_positions(c.gnb_positions).mean(axis=0))
        else:
            centre = (0.0, 0.0)
        duration_s = c.episode_steps * c.decision_slots * 1e-3 / 2**c.numerology + 1.0
        speeds = {"speed_mps": (c.vehicle_speed_mps, c.vehicle_speed_mps)} if c.vehicle_speed_mps else {}

        def write(path: Path) -> None:
            if c.mobility == "highway":
                highway_trace(path, c.ues, length_m=4 * c.isd_m, duration_s=duration_s, seed=0, centre_m=centre,
                              **speeds)
            else:
                urban_grid_trace(path, c.ues, blocks=(8, 8), block_m=c.isd_m / 2, duration_s=duration_s, seed=0,
                                 centre_m=centre, **speeds)

        return self._scratch_file(f"{c.mobility}.ns_movements", write)

    def radio_samples(self) -> np.ndarray:
        """Per UE, the radio numbers of the last decision interval (a structured array)."""
        records = np.zeros(1, dtype=self.bridge.record_dtypes["radio_poll"])
        return self.bridge.request("radio_poll", records)[1]

    def handover_events(self) -> np.ndarray:
        """Handovers since the last call (time_s, ue, from_cell, to_cell)."""
        records = np.zeros(1, dtype=self.bridge.record_dtypes["event_poll"])
        return self.bridge.request("event_poll", records)[1]

    def _record_step_extras(self, info: dict[str, Any]) -> None:
        samples = self.radio_samples()
        self.recorder.append_columns("radio", {
            "time_s": np.full(len(samples), info["sim_time_s"]),
            **{column: samples[field] for field, column in RADIO_COLUMNS.items()},
        })
        for event in self.handover_events():
            self.recorder.event("handover", f"cell {event['from_cell']} -> {event['to_cell']}",
                                float(event["time_s"]), int(event["ue"]))

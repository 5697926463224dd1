"""``ns6g/SpectrumAllocation-v0``: allocate the downlink RBGs of a multi-cell 6G RAN.

Scenario: ``ns3_scenarios/ran-spectrum.cc`` on ns6g's RAN model (38.901 channel with ns-3 fast fading,
PHY abstraction with NR MCS tables, TBS, BLER and HARQ, real UDP packets from a server behind the gNBs;
see docs/ran-*.md). Every ``decision_slots`` slots the agent sets each cell's allocation.

Observation (Dict): ``cqi`` (ues, rbgs) subband CQI 0..15 on the serving cell; ``buffer_kbytes`` (ues);
``throughput_mbps`` (ues) over the last decision interval; ``serving_cell`` MultiDiscrete(cells) per UE.
Action: ``action_mode="rbg"``: MultiDiscrete of cells * rbgs entries (cell-major), value u < ues gives the
RBG to UE u (a UE the cell does not serve leaves it unused), value ues leaves it unused; ``"share"``: Box (cells, ues) in [0, 1],
each cell's RBGs shared among its own UEs in proportion.
Reward (``reward``): ``sum_rate`` (Mbit/s), ``pf_utility``, ``jain``, ``deadline_violations``.
Baselines: ``scheduler="rr" | "pf" | "mr"`` runs ns6g's per-slot scheduler instead (the action is checked,
not applied); :meth:`SpectrumAllocationEnv.baseline_configs` lists them.
With ``run_dir`` the run's ``radio`` table gets one row per UE per decision and ``events`` the handovers.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from ns6g.config import ScenarioConfig
from ns6g.envs.base import ScenarioEnv

RADIO_COLUMNS = {  # radio_sample field -> radio table column (units in the names)
    "ue": "ue", "cell": "cell", "sinr_db": "sinr_db", "cqi": "cqi", "mcs": "mcs", "rbgs": "rbgs", "rbs": "rbs",
    "throughput_bps": "throughput_bps", "buffer_bytes": "buffer_bytes", "x_m": "x_m", "y_m": "y_m",
}


class SpectrumAllocationConfig(ScenarioConfig):
    cells: int = Field(1, ge=1, le=64, description="cells: 1, 3 or 7 on the hexagonal layout, any with gnb_positions")
    ues: int = Field(10, ge=1, le=10_000, description="number of UEs")
    scenario: Literal["UMi-StreetCanyon", "UMa", "RMa", "InH-OfficeMixed"] = Field(
        "UMi-StreetCanyon", description="TR 38.901 scenario")
    frequency_hz: float = Field(7e9, ge=0.5e9, le=300e9, description="carrier frequency (Hz)")
    bandwidth_hz: float = Field(20e6, gt=0, le=2e9, description="carrier bandwidth (Hz)")
    numerology: int = Field(1, ge=0, le=6, description="NR numerology mu (subcarrier spacing 15 kHz * 2^mu)")
    rbg_size: int = Field(0, ge=0, le=16, description="RBG size in RBs (0: TS 38.214 configuration 1)")
    mcs_table: Literal["256QAM", "1024QAM"] = Field("256QAM", description="MCS/CQI tables")
    scheduler: Literal["agent", "rr", "pf", "mr"] = Field("agent", description="who allocates the downlink")
    decision_slots: int = Field(10, ge=1, le=100_000, description="slots between decisions")
    episode_steps: int = Field(100, ge=1, le=10_000_000, description="decisions per episode")
    traffic: Literal["full_buffer", "cbr", "poisson", "ftp", "tcp_bulk"] = Field(
        "full_buffer", description="downlink traffic per UE (ftp: 3GPP FTP model 1; tcp_bulk: greedy TCP)")
    ue_rate_mbps: float = Field(200.0, ge=1e-3, le=100_000, description="offered downlink rate per UE (Mbit/s)")
    packet_bytes: int = Field(1200, ge=64, le=60_000, description="UDP payload per packet for cbr (bytes)")
    mobility: Literal["static", "random_walk", "random_waypoint", "gauss_markov", "constant_velocity"] = Field(
        "static", description="UE mobility")
    speed_mps: float = Field(1.5, ge=0, le=300, description="UE speed (m/s)")
    reward: Literal["sum_rate", "pf_utility", "deadline_violations", "jain"] = Field(
        "sum_rate", description="reward")
    deadline_ms: float = Field(50.0, gt=0, le=1e6, description="packet delay deadline (ms)")
    isd_m: float = Field(200.0, ge=20, le=100_000, description="inter-site distance (m)")
    fast_fading: bool = Field(True, description="3GPP fast fading on serving links")
    shadowing: bool = Field(True, description="38.901 shadowing")
    action_mode: Literal["rbg", "share"] = Field("rbg", description="RBG assignment or bandwidth shares")
    gnb_array_rows: int = Field(4, ge=1, le=64, description="gNB antenna array rows")
    gnb_array_columns: int = Field(4, ge=1, le=64, description="gNB antenna array columns")
    ue_array_rows: int = Field(1, ge=1, le=16, description="UE antenna array rows")
    ue_array_columns: int = Field(2, ge=1, le=16, description="UE antenna array columns")
    gnb_tx_power_dbm: float = Field(41.0, ge=-30, le=80, description="gNB transmit power (dBm)")
    ftp_file_bytes: int = Field(512_000, ge=1, le=10**9, description="file size of FTP model 1 traffic (bytes)")
    ue_distribution: Literal["uniform", "clusters"] = Field("uniform", description="how UEs are dropped")
    clusters: int = Field(3, ge=1, le=1000, description="number of UE clusters (ue_distribution='clusters')")
    cluster_radius_m: float = Field(20.0, gt=0, le=10_000, description="radius of a UE cluster (m)")
    gnb_positions: str = Field("", max_length=100_000,
                               description="gNB positions 'x,y;x,y;...' in m, one per cell (empty: hexagonal)")

    @model_validator(mode="after")
    def _carrier_is_valid(self) -> SpectrumAllocationConfig:
        # The compiled PHY model decides (ns6g.radio asks it), so Python and C++ never disagree.
        from ns6g.radio.phy import carriers

        row = carriers(self.bandwidth_hz, self.numerology, self.frequency_hz, self.rbg_size).iloc[0]
        if not bool(row["valid"]):
            raise ValueError(f"bandwidth_hz / numerology / frequency_hz: {row['reason']}")
        if not self.gnb_positions and self.cells not in (1, 3, 7):
            raise ValueError("cells: the hexagonal layout has 1, 3 or 7 cells; give gnb_positions for others")
        if self.gnb_positions:
            entries = self.gnb_positions.split(";")
            if len(entries) != self.cells:
                raise ValueError(f"gnb_positions: {len(entries)} positions for {self.cells} cells")
            for entry in entries:
                try:
                    x, y = (float(v) for v in entry.split(","))
                except ValueError:
                    raise ValueError(f"gnb_positions: cannot read {entry!r} as x,y (m)") from None
        if self.scenario == "RMa" and self.frequency_hz > 30e9:
            raise ValueError("frequency_hz: RMa is specified up to 30 GHz (TR 38.901)")
        return self


class SpectrumAllocationEnv(ScenarioEnv):
    """RBG allocation of a multi-cell 6G RAN carrying real UDP traffic."""

    scenario = "ran-spectrum"
    config_class = SpectrumAllocationConfig

    @staticmethod
    def baseline_configs() -> dict[str, dict[str, Any]]:
        """Configuration overrides of the built-in schedulers to compare an agent with."""
        return {"round_robin": {"scheduler": "rr"}, "proportional_fair": {"scheduler": "pf"},
                "max_rate": {"scheduler": "mr"}}

    def radio_samples(self) -> np.ndarray:
        """Per UE, the radio numbers of the last decision interval (a structured array)."""
        records = np.zeros(1, dtype=self.bridge.record_dtypes["radio_poll"])
        return self.bridge.request("radio_poll", records)[1]

    def handover_events(self) -> np.ndarray:
        """Handovers since the last call (time_s, ue, from_cell, to_cell)."""
        records = np.zeros(1, dtype=self.bridge.record_dtypes["event_poll"])
        return self.bridge.request("event_poll", records)[1]

    def _record_radio(self, sim_time_s: float) -> None:
        writer = self.recorder.writer
        samples = self.radio_samples()
        writer.append_columns("radio", {
            "time_s": np.full(len(samples), sim_time_s),
            **{column: samples[field] for field, column in RADIO_COLUMNS.items()},
        })
        for event in self.handover_events():
            self.recorder.event("handover", f"cell {event['from_cell']} -> {event['to_cell']}",
                                float(event["time_s"]), int(event["ue"]))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = super().reset(seed=seed, options=options)
        if self.recorder is not None:
            self._record_radio(info["sim_time_s"])
        return observation, info

    def step(self, action: Any):
        result = super().step(action)
        if self.recorder is not None:
            self._record_radio(result[4]["sim_time_s"])
        return result

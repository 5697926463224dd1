"""What the MEC task environments (SplitInference, MecOffload) configure alike: the devices, the edge and
cloud servers, the WAN to the cloud, their task stream, the reward terms and the cell's radio. Each
environment's config adds its own fields."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ns6g.core.config import BandwidthHz, FastFading, FrequencyHz, Numerology, RadioScenario, ScenarioConfig
from ns6g.compute.devices import check_device, check_has_radio
from ns6g.radio.phy import check_carrier


class MecTaskConfig(ScenarioConfig):
    ues: int = Field(4, ge=1, le=1000, description="number of devices (UEs)")
    device: str = Field("raspberry-pi-4", description="catalogue name of the devices (must have a radio)")
    edge_device: str = Field("edge-gpu-server", description="catalogue name of the edge server(s)")
    cloud_device: str = Field("cloud-gpu", description="catalogue name of the cloud server")
    wan_rate_mbps: float = Field(1000.0, ge=1e-3, le=1e6, description="WAN link rate to the cloud (Mbit/s)")
    wan_delay_ms: float = Field(20.0, ge=0, le=10_000, description="WAN link one-way delay to the cloud (ms)")
    task_rate_hz: float = Field(2.0, ge=0.01, le=10_000, description="task arrival rate per device (1/s), at least one "
                                "per 100 s")
    deadline_ms: float = Field(100.0, ge=0.1, le=1e7, description="task deadline (ms), at least 0.1 ms")
    energy_weight: float = Field(1.0, ge=0, le=1e6, description="reward weight of device energy (s/J)")
    deadline_penalty: float = Field(1.0, ge=0, le=1e6, description="reward penalty per task over the deadline")
    failure_penalty: float = Field(5.0, ge=0, le=1e6, description="reward penalty per failed task")
    task_timeout_s: float = Field(2.0, ge=1e-3, le=3600, description="a task not complete after this long fails (s)")
    battery_j: float = Field(1000.0, ge=1e-3, le=1e9, description="battery of each device (J)")
    episode_steps: int = Field(100, ge=1, le=10_000_000, description="decisions (tasks) per episode")
    fast_fading: FastFading = True
    bandwidth_hz: BandwidthHz = 20e6
    frequency_hz: FrequencyHz = 7e9
    numerology: Numerology = 1
    scenario: RadioScenario = "UMi-StreetCanyon"
    isd_m: float = Field(200.0, ge=20, le=100_000,
                         description="inter-site distance (m): devices lie within isd_m / sqrt(3) of a gNB")

    @field_validator("device", "edge_device", "cloud_device")
    @classmethod
    def _known_devices(cls, name: str, info: Any) -> str:
        return check_device(info.field_name, name)

    @model_validator(mode="after")
    def _radio_and_carrier(self) -> MecTaskConfig:
        check_has_radio("device", self.device)
        check_carrier(self.bandwidth_hz, self.numerology, self.frequency_hz)
        return self

"""The D2D sidelink's settings, declared once for every scenario that carries one (``SidelinkHelper`` in
``ns3_scenarios/ran/helper/sidelink-helper.h``; the model is docs/d2d-sidelink.md): SplitInference's device
-> peer links and fl-network's client -> client links (horizontal collaborative inference)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator


class SidelinkFields(BaseModel):
    """The sidelink carrier, its sub-channels, resource allocation mode and UE power (a config mixin)."""

    sidelink_frequency_hz: float = Field(5.9e9, ge=0.5e9, le=100e9, description="sidelink carrier frequency (Hz)")
    sidelink_bandwidth_hz: float = Field(20e6, ge=180e3, le=2e9,
                                         description="sidelink carrier bandwidth (Hz), at least one RB of 12 x 15 kHz")
    sidelink_numerology: int = Field(1, ge=0, le=6, description="sidelink numerology mu")
    sidelink_subchannel_rbs: int = Field(10, ge=1, le=275, description="RBs per sidelink sub-channel")
    sidelink_mode: Literal["scheduled", "autonomous"] = Field(
        "scheduled", description="sidelink resource allocation: scheduled (mode 1, round robin) or autonomous (mode 2)")
    sidelink_tx_power_dbm: float = Field(23.0, ge=-30, le=40, description="UE sidelink transmit power (dBm)")

    @model_validator(mode="after")
    def _sidelink_carrier(self) -> SidelinkFields:
        from ns6g.radio.phy import carriers

        row = carriers(self.sidelink_bandwidth_hz, self.sidelink_numerology, self.sidelink_frequency_hz).iloc[0]
        if not bool(row["valid"]):
            raise ValueError(f"sidelink_bandwidth_hz / sidelink_numerology / sidelink_frequency_hz: {row['reason']}")
        if self.sidelink_subchannel_rbs > int(row["n_rb"]):
            raise ValueError(f"sidelink_subchannel_rbs: {self.sidelink_subchannel_rbs} RBs exceed the sidelink "
                             f"carrier's {int(row['n_rb'])} RBs")
        return self

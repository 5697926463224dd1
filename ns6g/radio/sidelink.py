"""The D2D sidelink's settings, declared once for every scenario that carries one (``SidelinkHelper`` in
``ns3_scenarios/ran/helper/sidelink-helper.h``; the model is docs/d2d-sidelink.md): SplitInference's device
-> peer links and fl-network's client -> client links (horizontal collaborative inference)."""

from __future__ import annotations

import functools
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
        valid, reason, n_rb = _sidelink_carrier(self.sidelink_bandwidth_hz, self.sidelink_numerology,
                                                self.sidelink_frequency_hz)
        if not valid:
            raise ValueError(f"sidelink_bandwidth_hz / sidelink_numerology / sidelink_frequency_hz: {reason}")
        if self.sidelink_subchannel_rbs > n_rb:
            raise ValueError(f"sidelink_subchannel_rbs: {self.sidelink_subchannel_rbs} RBs exceed the sidelink "
                             f"carrier's {n_rb} RBs")
        return self


@functools.lru_cache(maxsize=64)
def _sidelink_carrier(bandwidth_hz: float, mu: int, frequency_hz: float) -> tuple[bool, str, int]:
    """The compiled PHY's verdict on a sidelink carrier and its RBs, kept for the process (every config that
    carries the sidelink fields checks it; a query process costs ~20 ms and is not left behind)."""
    from ns6g.radio._query import transient
    from ns6g.radio.phy import carriers

    with transient():
        row = carriers(bandwidth_hz, mu, frequency_hz).iloc[0]
    valid = bool(row["valid"])
    return valid, str(row["reason"]), int(row["n_rb"]) if valid else 0

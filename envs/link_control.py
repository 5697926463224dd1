"""``ns6g/LinkControl-v0``: pick the sending rate of a UDP flow over a real ns-3 bottleneck link.

Topology (``ns3_scenarios/link-control.cc``): one controlled UDP sender and ``n_cross`` on/off cross-traffic
senders share a point-to-point bottleneck with a drop-tail queue. Every ``step_ms`` of simulated time the
agent picks one of ``rate_levels`` sending rates.

Reward, dimensionless, per step: ``throughput / link_rate - delay_weight * delay_ms / 100 - loss_weight *
loss_fraction``: the controlled flow's UDP payload bit/s received in the step over the bottleneck rate,
its packets' mean one-way delay in ms (the previous step's when none arrived), and its packets missing
(sequence gaps) over missing + received. Every level sends (the lowest at ``link_rate_mbps *
max_rate_fraction / rate_levels``): too little forgoes throughput, too much fills the queue and drops,
and neither extreme beats a rate that fits the capacity the cross traffic leaves (tests/test_rewards.py).

Observation, ``Box(6,) float32``: throughput / link rate, delay (ms / 100), loss fraction, bottleneck queue
fill fraction, current rate / link rate, cross-traffic throughput / link rate.
Action, ``Discrete(rate_levels)``: level ``i`` sends at ``link_rate_mbps * max_rate_fraction * (i+1) / rate_levels``.
Info: ``throughput_mbps``, ``delay_ms``, ``loss_fraction``, ``queue_packets``, ``rate_mbps``,
``cross_throughput_mbps``, ``sim_time_s``.
Episodes are truncated after ``episode_steps`` decisions; they never terminate.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from ns6g.core.config import ScenarioConfig
from ns6g.envs.base import ScenarioEnv
from ns6g.envs.policies import ConstantPolicy, Policy


MAX_PACKETS_PER_STEP = 2_000_000  # about a minute of simulation per decision on one core


class LinkControlConfig(ScenarioConfig):
    """The ranges are the scenario's own (``ns3_scenarios/link-control.cc`` refuses the same values). One
    decision may offer at most MAX_PACKETS_PER_STEP packets (top sending rate plus every cross sender on,
    over step_ms): more would keep the scenario past any sensible step timeout."""

    scenario_name = "link-control"

    link_rate_mbps: float = Field(10.0, ge=1e-3, le=100_000, description="bottleneck rate (Mbit/s), 1 kbit/s .. 100 Gbit/s")
    link_delay_ms: float = Field(10.0, ge=0, le=10_000, description="bottleneck one-way propagation delay (ms)")
    queue_packets: int = Field(100, ge=1, le=1_000_000, description="bottleneck drop-tail queue size (packets)")
    packet_bytes: int = Field(1000, ge=64, le=65_000, description="UDP payload size (bytes)")
    n_cross: int = Field(2, ge=0, le=64, description="number of on/off cross-traffic senders")
    cross_rate_mbps: float = Field(4.0, ge=0, le=100_000, description="rate of each cross sender while on (Mbit/s); 0 or >= 1e-3")
    cross_on_s: float = Field(0.5, ge=1e-3, le=3600,
                              description="mean on period of cross traffic (s), at least 1 ms (shorter periods "
                                          "only make the on/off switching, not the traffic, costlier to simulate)")
    cross_off_s: float = Field(0.5, ge=1e-3, le=3600, description="mean off period of cross traffic (s), at least 1 ms")
    rate_levels: int = Field(8, ge=2, le=1024, description="number of discrete sending rates (actions)")
    max_rate_fraction: float = Field(1.2, ge=0.01, le=10,
                                     description="highest sending rate / link rate, 0.01 .. 10 (the lowest level "
                                                 "then still sends a packet at least every ~2 years of simulated time)")
    step_ms: float = Field(100.0, ge=1e-3, le=3_600_000, description="simulated time between decisions (ms)")
    episode_steps: int = Field(200, ge=1, le=10_000_000, description="decisions per episode before truncation")
    delay_weight: float = Field(0.5, ge=0, le=1000, description="reward penalty per 100 ms of one-way delay")
    loss_weight: float = Field(1.0, ge=0, le=1000, description="reward penalty per unit loss fraction")

    @model_validator(mode="after")
    def _bounded_work_per_step(self) -> LinkControlConfig:
        offered_mbps = self.link_rate_mbps * self.max_rate_fraction + self.n_cross * self.cross_rate_mbps
        packets = offered_mbps * 1e6 * self.step_ms * 1e-3 / (8 * self.packet_bytes)
        if packets > MAX_PACKETS_PER_STEP:
            raise ValueError(
                f"step_ms / link_rate_mbps / max_rate_fraction / n_cross / cross_rate_mbps / packet_bytes: up to "
                f"{packets:.3g} packets per decision, more than {MAX_PACKETS_PER_STEP:.0e} (one step would take "
                "minutes to simulate): shorten step_ms, lower the rates or send larger packets")
        return self

    @field_validator("cross_rate_mbps")
    @classmethod
    def _whole_bits(cls, value: float) -> float:
        # ns-3 rounds rates to whole bit/s; a tiny positive rate would become 0 and stall the sender.
        if 0 < value < 1e-3:
            raise ValueError("must be 0 (no cross traffic) or at least 1e-3 Mbit/s")
        return value


class LinkControlEnv(ScenarioEnv):
    """Rate control of one UDP flow over a shared ns-3 bottleneck link."""

    scenario = "link-control"
    config_class = LinkControlConfig
    reward_summary = "throughput / link_rate - delay and loss penalties"

    def rate_mbps(self, level: int) -> float:
        """Sending rate (Mbit/s) of action ``level``."""
        c = self.config
        return c.link_rate_mbps * c.max_rate_fraction * (level + 1) / c.rate_levels

    def baseline_policies(self, seed: int = 0) -> dict[str, Policy]:
        """Uniform random, and one constant-rate policy per level, named ``fixed-<rate>Mbps``."""
        fixed = {f"fixed-{self.rate_mbps(i):g}Mbps": ConstantPolicy(i) for i in range(self.config.rate_levels)}
        return {**super().baseline_policies(seed), **fixed}

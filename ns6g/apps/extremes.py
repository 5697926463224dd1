"""6G extremes (issue 18 part 7): mobility at 500 km/h and massive access. See docs/extremes.md.

The configurations are declared once, in ``ns6g/apps/presets/extremes.yml`` (:func:`load_extreme`), and
checked by their configuration classes (SpectrumAllocationConfig, :class:`MassiveAccessConfig`).

- :func:`fading_series`, :func:`fading_autocorrelation`, :func:`stale_cqi`: the compiled RanChannel's
  fast fading (ns-3's TR 38.901 model, with the Doppler of the UE's velocity) sampled in time, and what a
  CQI of a given age does to the block error rate, with the compiled PHY's link adaptation and BLER.
- :func:`high_speed_run`: the SpectrumAllocation environment with the ``high_speed_train`` configuration at
  a chosen speed: handovers per second, throughput, SINR, CQI.
- :func:`run_massive_access`: N devices sending small periodic uplink reports through fl-network's cell
  (the RAN model's uplink scheduler): delivered vs offered, access delay, loss, simulator speed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import Field, model_validator

from ns6g.core.config import BandwidthHz, ConfigError, FrequencyHz, Numerology, ScenarioConfig

PRESETS = Path(__file__).parent / "presets" / "extremes.yml"
SPEED_OF_LIGHT_MPS = 299_792_458.0
KMH = 1 / 3.6  # m/s per km/h


# ---------------------------------------------------------------------------------------------- presets
class MassiveAccessConfig(ScenarioConfig):
    """Many low-rate uplink devices in one cell of fl-network (``massive_access`` in extremes.yml)."""

    devices: int = Field(1000, ge=1, le=100_000, description="uplink devices in the cell")
    cell_radius_m: float = Field(50.0, ge=10, le=50_000, description="devices lie uniformly in this disk (m)")
    packet_bytes: int = Field(100, ge=1, le=65_000, description="payload of one report (bytes)")
    period_s: float = Field(0.1, ge=1e-3, le=3600, description="each device sends one report per period (s)")
    duration_s: float = Field(1.0, ge=1e-3, le=3600, description="offered traffic for this long (s)")
    deadline_s: float = Field(0.1, ge=1e-3, le=3600,
                              description="a report counts as delivered when it arrives within this delay (s); "
                                          "the run continues this long after the last report is offered")
    frequency_hz: FrequencyHz = 3.5e9
    bandwidth_hz: BandwidthHz = 20e6
    numerology: Numerology = 1
    fast_fading: bool = Field(False, description="3GPP fast fading on the serving links (slow for 1000s)")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of the network and of the report phases")

    @model_validator(mode="after")
    def _whole_periods(self) -> MassiveAccessConfig:
        if self.duration_s < self.period_s:
            raise ValueError(f"duration_s: {self.duration_s:g} s is shorter than one period_s ({self.period_s:g} s)")
        return self

    @property
    def periods(self) -> int:
        return int(math.floor(self.duration_s / self.period_s + 1e-9))

    @property
    def devices_per_km2(self) -> float:
        return self.devices / (math.pi * self.cell_radius_m**2 * 1e-6)


def _config_classes() -> dict[str, type[ScenarioConfig]]:
    from ns6g.envs.spectrum_allocation import SpectrumAllocationConfig

    return {"SpectrumAllocation": SpectrumAllocationConfig, "MassiveAccess": MassiveAccessConfig}


def load_extreme(name: str, **overrides: Any) -> ScenarioConfig:
    """The configuration ``name`` of extremes.yml (``high_speed_train``, ``massive_access``) with keyword
    overrides, validated by its class. Raises ConfigError naming an unknown entry or a refused key."""
    entries = yaml.safe_load(PRESETS.read_text())
    if name not in entries:
        raise ConfigError(f"{name!r} is not an extreme configuration of {PRESETS.name} (known: {', '.join(entries)})")
    entry = entries[name]
    cls = _config_classes()[entry["config"]]
    return cls.from_user(entry["kwargs"], **overrides)


# ---------------------------------------------------------------------------------------------- Doppler
def max_doppler_hz(speed_mps: float, frequency_hz: float) -> float:
    """f_D = v f / c."""
    return speed_mps * frequency_hz / SPEED_OF_LIGHT_MPS


def coherence_time_s(speed_mps: float, frequency_hz: float) -> float:
    """T_c = 0.423 / f_D (the 50 % correlation time of Clarke's model; infinite at rest)."""
    fd = max_doppler_hz(speed_mps, frequency_hz)
    return math.inf if fd == 0 else 0.423 / fd


def fading_series(speed_kmh: float, *, frequency_hz: float = 7e9, scenario: str = "RMa", links: int = 8,
                  duration_s: float = 0.04, step_s: float = 0.25e-3, d2d_m: float = 200.0) -> np.ndarray:
    """(links, times) fast-fading power gains (dB, one RB, isotropic 1x1 antennas, NLoS) of ``links``
    independent gNB-UE links whose UE moves at ``speed_kmh``, sampled every ``step_s`` (the channel's
    update period) within one realisation: ns-3's channel with the Doppler of the UE's velocity."""
    from ns6g.radio import channel

    if not 0 <= speed_kmh <= 1080:
        raise ValueError(f"speed_kmh: {speed_kmh} is outside 0..1080 km/h")
    times = np.arange(int(round(duration_s / step_s))) * step_s
    d2d = d2d_m + 0.37 * np.arange(links)[:, None]  # distinct links (one per distance)
    reply = channel.fast_fading(scenario, frequency_hz, d2d, 35.0 if scenario == "RMa" else 10.0, 1.5,
                                times[None, :], los=False, num_rbs=1, update_period_s=step_s,
                                realization_period_s=duration_s + 1.0, ue_speed_mps=speed_kmh * KMH)
    return np.asarray(reply["first_rb_gain_db"], dtype=np.float64).reshape(links, len(times))


def fading_autocorrelation(gains_db: np.ndarray, lag_steps: int) -> float:
    """The correlation coefficient of the linear power gain with itself ``lag_steps`` samples later,
    pooled over links (each link centred on its own mean)."""
    g = 10 ** (np.asarray(gains_db) / 10)
    g = g - g.mean(axis=1, keepdims=True)
    a, b = g[:, :-lag_steps or None], g[:, lag_steps:]
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def stale_cqi(gains_db: np.ndarray, lag_steps: int, mean_snr_db: float = 15.0) -> dict[str, float]:
    """Link adaptation on a CQI ``lag_steps`` samples old: the MCS is chosen (compiled PHY, 10 % BLER
    target) from the SNR a report saw, the block decodes (compiled BLER model) at the SNR when it is sent.
    Returns the mean BLER and goodput (bit/s/Hz) with that age and with a fresh CQI (lag 0)."""
    from ns6g.radio import phy

    snr = mean_snr_db + np.asarray(gains_db)
    out: dict[str, float] = {}
    for label, lag in (("fresh", 0), ("stale", lag_steps)):
        seen = snr[:, : snr.shape[1] - lag].reshape(-1)
        actual = snr[:, lag:].reshape(-1)
        la = phy.link_adaptation(seen)
        mcs = la["mcs"].to_numpy()
        bler = np.ones_like(actual)
        ok = mcs >= 0
        bler[ok] = np.asarray(phy.bler(actual[ok], mcs[ok]), dtype=np.float64)
        eff = la["spectral_efficiency"].to_numpy()
        out[f"{label}_bler"] = float(bler.mean())
        out[f"{label}_goodput"] = float(((1 - bler) * eff).mean())
    return out


# ------------------------------------------------------------------------------------------ high speed
def high_speed_run(speed_kmh: float, *, steps: int | None = None, seed: int = 0, **overrides: Any) -> dict[str, float]:
    """One episode of the ``high_speed_train`` configuration with every vehicle at ``speed_kmh``
    (``steps`` decisions, default the episode; ``overrides``: other settings, e.g. ``handover_interruption_ms``).
    Returns handovers (total, per second, per UE per second), mean sum throughput (Mbit/s), mean SINR (dB),
    mean CQI, dropped kbytes, the packets due and the fraction of them that missed ``deadline_ms``,
    simulated and wall seconds."""
    from ns6g.envs.spectrum_allocation import SpectrumAllocationEnv

    if not 0 < speed_kmh <= 1080:
        raise ValueError(f"speed_kmh: {speed_kmh} is outside (0, 1080] km/h")
    config = load_extreme("high_speed_train", vehicle_speed_mps=speed_kmh * KMH, **overrides)
    steps = config.episode_steps if steps is None else steps
    wall = time.perf_counter()
    env = SpectrumAllocationEnv(config)
    try:
        _, info = env.reset(seed=seed)
        start_s = info["sim_time_s"]
        action = np.zeros(env.action_space.shape, dtype=env.action_space.dtype)  # ignored under pf
        handovers, throughput, sinr, cqi, dropped, due, missed = 0, [], [], [], 0.0, 0.0, 0.0
        for _ in range(steps):
            _, _, terminated, truncated, info = env.step(action)
            handovers += int(info["handovers"])
            throughput.append(info["sum_throughput_mbps"])
            sinr.append(info["mean_sinr_db"])
            cqi.append(info["mean_cqi"])
            dropped += float(info["dropped_kbytes"])
            due += info["packets_due"]
            missed += info["deadline_violation_fraction"] * info["packets_due"]
            if terminated or truncated:
                break
        sim_s = info["sim_time_s"] - start_s
    finally:
        env.close()
    return {"speed_kmh": speed_kmh, "handovers": handovers, "handovers_per_s": handovers / sim_s,
            "handovers_per_ue_per_s": handovers / sim_s / config.ues,
            "throughput_mbps": float(np.mean(throughput)), "offered_mbps": config.ues * config.ue_rate_mbps,
            "mean_sinr_db": float(np.mean(sinr)), "mean_cqi": float(np.mean(cqi)), "dropped_kbytes": dropped,
            "packets_due": due, "deadline_miss_fraction": missed / due if due else 0.0,
            "sim_s": sim_s, "wall_s": time.perf_counter() - wall}


# --------------------------------------------------------------------------------------- massive access
def rach_collision_probability(reports_per_s: float, preambles: int = 54, occasion_period_s: float = 0.01) -> float:
    """Analytical, not simulated: the probability that a device's random-access attempt collides when each
    report needed one (slotted ALOHA over ``preambles`` contention preambles per PRACH occasion, one
    occasion per ``occasion_period_s``): 1 - exp(-attempts per occasion / preambles)."""
    return 1.0 - math.exp(-reports_per_s * occasion_period_s / preambles)


def run_massive_access(config: MassiveAccessConfig | Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """Offer ``devices`` x ``periods`` uplink reports (each device at its own random phase in the period)
    to fl-network's cell and measure what arrives. Runs ns-3: the transfers are UDP flows of the reports'
    bytes through the RAN model's uplink (its scheduler, link adaptation, HARQ and queues).

    Returns: offered, delivered (within ``deadline_s``), late (arrived after it), lost (failed or not
    arrived ``deadline_s`` after the last report was offered), delivered_fraction, loss_fraction, delay
    percentiles of the reports that arrived (ms), offered reports per slot against the carrier's RBGs (the
    most uplink grants one slot can hold), devices_per_km2, wall_s and sim_per_wall (simulated seconds per
    wall-clock second), and the analytical RACH collision probability if each report needed random access.
    """
    from ns6g.compute.devices import device
    from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
    from ns6g.learners.network import CLOUD, Compute, Transfer, client, edge
    from ns6g.radio.phy import carrier

    cfg = config if isinstance(config, MassiveAccessConfig) and not overrides else MassiveAccessConfig.from_user(
        config, **overrides)
    n, period = cfg.devices, cfg.period_s
    end_s = cfg.periods * period + cfg.deadline_s
    net_cfg = FlNetworkConfig(clients=n, cells=1, cell_radius_m=cfg.cell_radius_m, frequency_hz=cfg.frequency_hz,
                              bandwidth_hz=cfg.bandwidth_hz, numerology=cfg.numerology, fast_fading=cfg.fast_fading,
                              radio_link_failure_s=0.0, run_limit_s=end_s + 1.0)
    clock_flops = float(device(net_cfg.cloud_device)["flops"])
    client_flops = float(device(net_cfg.client_devices[0])["flops"])
    rng = np.random.default_rng(cfg.seed)
    phases = rng.uniform(0.0, period, n)
    starts: dict[int, float] = {}
    delays: list[float] = []
    failed = 0
    wall = time.perf_counter()
    with CoSimNetwork(net_cfg, seed=cfg.seed + 1) as net:
        reports: set[int] = set()

        def collect(done) -> None:
            nonlocal failed
            for c in done:
                if c.op_id in reports:
                    reports.discard(c.op_id)
                    if c.ok:
                        delays.append(c.end_s - c.start_s)
                    else:
                        failed += 1

        for _ in range(cfg.periods):
            # The period's clock: one computation of exactly `period` on the otherwise idle cloud.
            clock = net.submit([Compute(CLOUD, period * clock_flops, "clock")])[0]
            waits = net.submit([Compute(client(i), phases[i] * client_flops, "phase") for i in range(n)])
            ids = net.submit([Transfer(client(i), edge(0), cfg.packet_bytes, "report", after=(waits[i],))
                              for i in range(n)])
            reports.update(ids)
            collect(net.run(wait_for=[clock]))
        clock = net.submit([Compute(CLOUD, cfg.deadline_s * clock_flops, "clock")])[0]
        collect(net.run(wait_for=[clock]))
        sim_s = net.now_s()
        unfinished = len(reports)
    wall_s = time.perf_counter() - wall
    offered = n * cfg.periods
    d = np.array(delays)
    on_time = int((d <= cfg.deadline_s).sum())
    car = carrier(cfg.bandwidth_hz, cfg.numerology, cfg.frequency_hz)
    slots_per_s = 1000.0 * 2**cfg.numerology
    return {
        "devices": n, "devices_per_km2": cfg.devices_per_km2, "offered": offered, "delivered": on_time,
        "late": len(d) - on_time, "lost": failed + unfinished,
        "delivered_fraction": on_time / offered, "loss_fraction": (offered - on_time) / offered,
        "delay_p50_ms": float(np.percentile(d, 50) * 1e3) if len(d) else math.nan,
        "delay_p95_ms": float(np.percentile(d, 95) * 1e3) if len(d) else math.nan,
        "offered_per_slot": n / period / slots_per_s, "rbgs_per_slot": car.n_rbg,
        "offered_kbps": n * cfg.packet_bytes * 8 / period / 1e3,
        "rach_collision_probability": rach_collision_probability(n / period),
        "sim_s": sim_s, "wall_s": wall_s, "sim_per_wall": sim_s / wall_s,
    }

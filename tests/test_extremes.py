"""6G extremes (docs/extremes.md): the channel's Doppler follows the UE speed, the 500 km/h configuration
runs with handovers counted, the massive-access configuration delivers what it offers at a light load, and
bad values are refused by name. Real compiled models and ns-3 scenarios throughout (short runs)."""

from __future__ import annotations

import math

import pytest

from ns6g.apps import extremes
from ns6g.apps.extremes import MassiveAccessConfig, load_extreme
from ns6g.core.config import ConfigError
from ns6g.envs.spectrum_allocation import SpectrumAllocationConfig


def test_coherence_time_formula():
    # 500 km/h at 7 GHz: f_D = 138.9 * 7e9 / c = 3243 Hz, T_c = 0.423 / f_D = 0.130 ms
    assert extremes.max_doppler_hz(500 * extremes.KMH, 7e9) == pytest.approx(3243.0, rel=1e-3)
    assert extremes.coherence_time_s(500 * extremes.KMH, 7e9) == pytest.approx(1.304e-4, rel=1e-3)
    assert extremes.coherence_time_s(0.0, 7e9) == math.inf


def test_fading_decorrelates_faster_as_speed_rises():
    # ns-3's 38.901 channel with the UE's velocity: over 1 ms (4 samples of 0.25 ms) a pedestrian's fading
    # barely changes, a 500 km/h UE's (T_c 0.13 ms) is nearly independent.
    rho = {}
    for v in (3, 30, 500):
        g = extremes.fading_series(v, links=16, duration_s=0.04)
        assert g.shape == (16, 160)
        rho[v] = extremes.fading_autocorrelation(g, 4)
    assert rho[3] > 0.9
    # Clarke: J0^2(2 pi f_D 1 ms) = 0.45 at 30 km/h (f_D = 195 Hz), 0.03 at 500 km/h; 16 links of 40 ms
    # measured 0.54-0.73 and -0.04-0.07
    assert 0.2 < rho[30] < 0.85
    assert rho[500] < 0.2


def test_stale_cqi_breaks_link_adaptation_at_500_kmh():
    slow = extremes.stale_cqi(extremes.fading_series(3, links=8, duration_s=0.02), 4)
    fast = extremes.stale_cqi(extremes.fading_series(500, links=8, duration_s=0.02), 4)
    # A fresh CQI keeps the 10 % target at any speed; a 1 ms old one only while the channel holds still.
    for r in (slow, fast):
        assert r["fresh_bler"] < 0.15
    assert slow["stale_bler"] < 0.15
    assert fast["stale_bler"] > 0.2
    assert fast["stale_goodput"] < 0.85 * fast["fresh_goodput"]


def test_high_speed_train_loads_and_counts_handovers():
    config = load_extreme("high_speed_train")
    assert isinstance(config, SpectrumAllocationConfig)
    assert config.vehicle_speed_mps * 3.6 == pytest.approx(500.0)
    fast = extremes.high_speed_run(500, steps=200)   # 1 s: vehicles move 139 m
    slow = extremes.high_speed_run(3, steps=200)
    assert fast["sim_s"] == pytest.approx(1.0, rel=1e-6)
    assert fast["handovers"] > slow["handovers"]
    assert fast["handovers_per_s"] == pytest.approx(fast["handovers"] / fast["sim_s"])
    assert 0 < fast["throughput_mbps"] <= 1.2 * fast["offered_mbps"]
    # A handover that interrupts the UE for 200 ms makes packets miss their 20 ms deadline; the vehicles
    # drive the same trace, so the handovers are the same ones.
    cut = extremes.high_speed_run(500, steps=200, handover_interruption_ms=200.0)
    assert cut["handovers"] == fast["handovers"]
    assert cut["deadline_miss_fraction"] > fast["deadline_miss_fraction"] + 0.02


def test_generated_highway_trace_drives_at_vehicle_speed():
    from ns6g.envs.spectrum_allocation import SpectrumAllocationEnv
    from ns6g.radio.mobility import read_ns2_trace

    env = SpectrumAllocationEnv(load_extreme("high_speed_train", episode_steps=10))
    try:
        trace = read_ns2_trace(env._generated_trace())
    finally:
        env.close()
    moves = trace[trace["kind"] == "setdest"]
    assert trace["node"].nunique() == 21
    assert moves["speed_mps"].to_numpy() == pytest.approx(500 / 3.6)


def test_massive_access_delivers_a_light_load():
    r = extremes.run_massive_access(load_extreme("massive_access", devices=200, duration_s=0.3))
    assert r["offered"] == 600
    assert r["delivered"] + r["late"] + r["lost"] == r["offered"]
    assert r["devices_per_km2"] == pytest.approx(200 / (math.pi * 50**2 * 1e-6))
    assert r["delivered_fraction"] > 0.95      # 1 report per 0.5 ms slot on 13 RBGs: the cell keeps up
    assert r["delay_p95_ms"] < 100.0
    assert r["sim_s"] == pytest.approx(0.4, abs=1e-6)


def test_massive_access_breaks_when_reports_outnumber_grants():
    # 5 MHz at 30 kHz: 11 RBs in 6 RBGs, so a slot grants at most 6 devices; 1500 devices offer 7.5
    # reports per slot (12 kbit/s of payload a slot's worth of RBGs could carry): queues build, reports
    # miss 100 ms (measured: 87 % on time, median delay 60 ms against 2-3 ms below the limit).
    light = extremes.run_massive_access(load_extreme("massive_access", devices=300, bandwidth_hz=5e6,
                                                     duration_s=0.3))
    heavy = extremes.run_massive_access(load_extreme("massive_access", devices=1500, bandwidth_hz=5e6,
                                                     duration_s=0.3))
    assert light["rbgs_per_slot"] == heavy["rbgs_per_slot"] == 6
    assert light["offered_per_slot"] < 6 < heavy["offered_per_slot"]
    assert light["delivered_fraction"] > 0.95
    assert heavy["delivered_fraction"] < 0.95
    assert heavy["delay_p50_ms"] > 5 * light["delay_p50_ms"]


@pytest.mark.parametrize("kwargs, field", [
    ({"devices": 0}, "devices"),
    ({"period_s": 0.0}, "period_s"),
    ({"duration_s": 0.05, "period_s": 0.1}, "duration_s"),
    ({"cell_radius_m": 1.0}, "cell_radius_m"),
    ({"colour": 1}, "colour"),
])
def test_massive_access_refuses_bad_values_by_name(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        MassiveAccessConfig.from_user(kwargs)


def test_high_speed_refuses_bad_values_by_name():
    with pytest.raises(ConfigError, match="vehicle_speed_mps"):
        load_extreme("high_speed_train", vehicle_speed_mps=400.0)   # above 300 m/s
    with pytest.raises(ConfigError, match="vehicle_speed_mps"):
        load_extreme("high_speed_train", mobility="constant_velocity")  # the speed would be ignored
    with pytest.raises(ConfigError, match="handover_interruption_ms"):
        load_extreme("high_speed_train", handover_interruption_ms=-1.0)
    with pytest.raises(ConfigError, match="supersonic_train"):
        load_extreme("supersonic_train")
    with pytest.raises(ValueError, match="speed_kmh"):
        extremes.high_speed_run(2000)
    with pytest.raises(ValueError, match="speed_kmh"):
        extremes.fading_series(-1)

"""The D2D sidelink model (ns3_scenarios/ran/model/ran-sidelink.*) seen through ns6g/D2DRelay-v0: rates
fall with distance, co-channel links interfere, mode 2 collides and mode 1 does not."""

import numpy as np
import pytest

from ns6g.envs.d2d_relay import D2DRelayEnv

# Deterministic UE-UE loss (always LOS, no shadowing), no RAN fast fading: only geometry matters.
DETERMINISTIC = dict(sidelink_condition="los", shadowing=False, fast_fading=False)


def test_sidelink_rate_estimate_falls_with_distance():
    # Relays spread from close to far, so remote-relay distances range widely (>= 3x).
    rates, distances = [], []
    with D2DRelayEnv(**DETERMINISTIC, remotes=3, relays=6, relay_min_m=20.0, relay_max_m=400.0,
                     remote_min_m=300.0, remote_max_m=400.0, episode_steps=1,
                     sidelink_bandwidth_hz=10e6, sidelink_tx_power_dbm=0.0) as env:
        for seed in (1, 2):
            obs, _ = env.reset(seed=seed)
            rates.append(obs["sidelink_mbps"].ravel())
            distances.append(obs["distance_m"].ravel())
    rate, distance = np.concatenate(rates), np.concatenate(distances)
    order = np.argsort(distance)
    assert distance.max() > 3 * distance.min()
    # Non-increasing with distance (exactly: same power, same loss law), and strictly lower at the far end.
    assert np.all(np.diff(rate[order]) <= 1e-6)
    assert rate[order][-1] < rate[order][0]


def _two_links(subchannels, remote_rate_mbps=40.0):
    """Remote 0 -> relay 0 and remote 1 -> relay 1 on the given sub-channels; per-step infos after warm-up."""
    with D2DRelayEnv(**DETERMINISTIC, remotes=2, relays=2, remote_rate_mbps=remote_rate_mbps,
                     episode_steps=12) as env:
        env.reset(seed=3)
        infos = [env.step(np.array([1, 2, *subchannels]))[4] for _ in range(12)]
    return infos[2:]


def test_links_on_one_subchannel_interfere_and_on_two_do_not():
    shared, apart = _two_links((0, 0)), _two_links((0, 1))
    sinr_shared = np.mean([i["sidelink_sinr_db"] for i in shared])
    sinr_apart = np.mean([i["sidelink_sinr_db"] for i in apart])
    kbytes_shared = sum(i["sidelink_kbytes"] for i in shared)
    kbytes_apart = sum(i["sidelink_kbytes"] for i in apart)
    # Same sub-channel: every transmission collides, SINR drops by more than 3 dB and goodput falls by
    # more than 10 %; different sub-channels: no collisions.
    assert all(i["collisions"] > 0 for i in shared)
    assert all(i["collisions"] == 0 for i in apart)
    assert sinr_shared < sinr_apart - 3.0
    assert kbytes_shared < 0.9 * kbytes_apart


def _collisions(**overrides):
    with D2DRelayEnv(remotes=4, relays=4, remote_rate_mbps=10.0, episode_steps=15, **overrides) as env:
        policy = env.baseline_policies()["nearest_relay"]
        obs, _ = env.reset(seed=4)
        total, transmissions = 0.0, 0.0
        for _ in range(15):
            obs, _, _, _, info = env.step(policy(obs))
            total += info["collisions"]
            transmissions += info["sidelink_transmissions"]
    assert transmissions > 100  # the links were busy
    return total


@pytest.mark.parametrize("mode, scheduler, collides", [
    ("autonomous", "agent", True),   # mode 2: UEs pick sub-channels themselves (the scheduler is unused)
    ("scheduled", "rr", False),      # mode 1, the gNB's round robin
    ("scheduled", "agent", False),   # mode 1, the agent's distinct grants (the baseline spreads them)
])
def test_mode_two_collides_and_mode_one_does_not(mode, scheduler, collides):
    # 4 transmitters on 5 sub-channels: random mode-2 choices collide (P(no clash) = 0.19 per joint
    # reselection); the mode-1 schedulers give distinct sub-channels.
    collisions = _collisions(sidelink_mode=mode, sidelink_scheduler=scheduler)
    assert (collisions > 0) == collides


def test_los_loss_is_tr37885_urban_formula():
    # TR 37.885 Table 6.2.1-1, V2V urban LOS: PL = 38.77 + 16.7 log10(d3D) + 18.2 log10(fc / GHz); the
    # observation's SNR = 23 dBm over 10 RBs - PL - (-174 dBm/Hz + 10 log10(360 kHz) + 9 dB), written out
    # here independently of the C++ model (UEs at equal heights: d3D = distance_m). Float32: 1e-3 dB.
    with D2DRelayEnv(**DETERMINISTIC, remotes=3, relays=3, episode_steps=1, sidelink_frequency_hz=5.9e9) as env:
        obs, _ = env.reset(seed=6)
    distance = obs["distance_m"].astype(float)
    loss = 38.77 + 16.7 * np.log10(distance) + 18.2 * np.log10(5.9)
    noise_dbm = -174.0 + 10 * np.log10(12 * 30e3) + 9.0
    expected = 23.0 - 10 * np.log10(10) - loss - noise_dbm
    assert np.abs(obs["sidelink_snr_db"] - expected).max() < 1e-3

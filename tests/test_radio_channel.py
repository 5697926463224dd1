"""The compiled RAN channel model (ns3_scenarios/ran/model/ran-channel.*) against TR 38.901 and ITU-R P.676.

The 38.901 formulas below are written out here, independently of the C++ model, from TR 38.901 V17
Table 7.4.1-1 (path loss) and Table 7.4.2-1 (LoS probability); ns6g.radio.channel returns what the
compiled ns-3 models compute.
"""

import math

import numpy as np
import pytest

from ns6g.core.bridge import ScenarioError
from ns6g.radio import channel

C_38901 = 3.0e8  # TR 38.901's speed of light in the breakpoint distances (m/s)
C = 299_792_458.0  # free-space loss (m/s)


# ------------------------------------------------------------------------------------------------
# TR 38.901 Table 7.4.1-1, written out (fc in GHz in the log terms, in Hz in the breakpoints)


def _d3(d2, h_bs, h_ut):
    return np.hypot(d2, h_bs - h_ut)


def umi_los(f, d2, h_bs, h_ut):
    d3, fc = _d3(d2, h_bs, h_ut), f / 1e9
    d_bp = 4 * (h_bs - 1.0) * (h_ut - 1.0) * f / C_38901
    pl1 = 32.4 + 21 * np.log10(d3) + 20 * np.log10(fc)
    pl2 = 32.4 + 40 * np.log10(d3) + 20 * np.log10(fc) - 9.5 * np.log10(d_bp**2 + (h_bs - h_ut) ** 2)
    return np.where(d2 <= d_bp, pl1, pl2)


def umi_nlos(f, d2, h_bs, h_ut):
    d3, fc = _d3(d2, h_bs, h_ut), f / 1e9
    pl_prime = 35.3 * np.log10(d3) + 22.4 + 21.3 * np.log10(fc) - 0.3 * (h_ut - 1.5)
    return np.maximum(umi_los(f, d2, h_bs, h_ut), pl_prime)


def uma_los(f, d2, h_bs, h_ut):  # h_ut < 13 m: h_E = 1 m
    d3, fc = _d3(d2, h_bs, h_ut), f / 1e9
    d_bp = 4 * (h_bs - 1.0) * (h_ut - 1.0) * f / C_38901
    pl1 = 28.0 + 22 * np.log10(d3) + 20 * np.log10(fc)
    pl2 = 28.0 + 40 * np.log10(d3) + 20 * np.log10(fc) - 9 * np.log10(d_bp**2 + (h_bs - h_ut) ** 2)
    return np.where(d2 <= d_bp, pl1, pl2)


def uma_nlos(f, d2, h_bs, h_ut):
    d3, fc = _d3(d2, h_bs, h_ut), f / 1e9
    pl_prime = 13.54 + 39.08 * np.log10(d3) + 20 * np.log10(fc) - 0.6 * (h_ut - 1.5)
    return np.maximum(uma_los(f, d2, h_bs, h_ut), pl_prime)


RMA_H, RMA_W = 5.0, 20.0  # default average building height and street width (m)


def rma_los(f, d2, h_bs, h_ut, h=RMA_H):
    d3, fc = _d3(d2, h_bs, h_ut), f / 1e9
    d_bp = 2 * math.pi * h_bs * h_ut * f / C_38901

    def pl1(d):
        return (
            20 * np.log10(40 * math.pi * d * fc / 3)
            + min(0.03 * h**1.72, 10) * np.log10(d)
            - min(0.044 * h**1.72, 14.77)
            + 0.002 * math.log10(h) * d
        )

    return np.where(d2 <= d_bp, pl1(d3), pl1(d_bp) + 40 * np.log10(d3 / d_bp))


def rma_nlos(f, d2, h_bs, h_ut, h=RMA_H, w=RMA_W):
    d3, fc = _d3(d2, h_bs, h_ut), f / 1e9
    pl_prime = (
        161.04
        - 7.1 * math.log10(w)
        + 7.5 * math.log10(h)
        - (24.37 - 3.7 * (h / h_bs) ** 2) * np.log10(h_bs)
        + (43.42 - 3.1 * np.log10(h_bs)) * (np.log10(d3) - 3)
        + 20 * np.log10(fc)
        - (3.2 * np.log10(11.75 * h_ut) ** 2 - 4.97)
    )
    return np.maximum(rma_los(f, d2, h_bs, h_ut), pl_prime)


def inh_los(f, d2, h_bs, h_ut):
    return 32.4 + 17.3 * np.log10(_d3(d2, h_bs, h_ut)) + 20 * np.log10(f / 1e9)


def inh_nlos(f, d2, h_bs, h_ut):
    pl_prime = 38.3 * np.log10(_d3(d2, h_bs, h_ut)) + 17.30 + 24.9 * np.log10(f / 1e9)
    return np.maximum(inh_los(f, d2, h_bs, h_ut), pl_prime)


FORMULAS = {"UMi-StreetCanyon": (umi_los, umi_nlos), "UMa": (uma_los, uma_nlos), "RMa": (rma_los, rma_nlos),
            "InH-OfficeMixed": (inh_los, inh_nlos)}

# Scenario: frequencies (Hz), 2D distances (m) within the validity range (both sides of the breakpoint),
# (h_BS, h_UT) pairs (m).
GRID = {
    "UMi-StreetCanyon": ([3.5e9, 7e9, 15e9, 28e9, 39e9, 60e9, 100e9], [10, 35, 120, 300, 800, 2000, 4500],
                         [(10, 1.5), (10, 4.0), (10, 8.0)]),
    "UMa": ([3.5e9, 7e9, 15e9, 28e9, 39e9, 60e9, 100e9], [10, 50, 200, 700, 1500, 3000, 5000],
            [(25, 1.5), (25, 6.0), (25, 12.0)]),
    "RMa": ([0.7e9, 3.5e9, 7e9, 15e9, 28e9, 30e9], [10, 100, 600, 1500, 4000, 5000],
            [(35, 1.5), (10, 1.0), (150, 10.0)]),
    "InH-OfficeMixed": ([3.5e9, 7e9, 15e9, 28e9, 39e9, 60e9, 100e9], [1, 3, 10, 40, 90, 149],
                        [(3, 1.0), (3, 1.5)]),
}


@pytest.mark.parametrize("scenario", list(GRID))
@pytest.mark.parametrize("los", [True, False])
def test_pathloss_equals_tr38901_table_7_4_1_1(scenario, los):
    freqs, dists, heights = GRID[scenario]
    f, d2, hh = np.meshgrid(np.array(freqs), np.array(dists, dtype=float), np.arange(len(heights)), indexing="ij")
    h_bs = np.array([h[0] for h in heights], dtype=float)[hh]
    h_ut = np.array([h[1] for h in heights], dtype=float)[hh]
    got = channel.pathloss_db(scenario, f, d2, h_bs, h_ut, los)
    want = FORMULAS[scenario][0 if los else 1](f, d2, h_bs, h_ut)
    assert got.shape == f.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_breakpoint_regimes_are_both_exercised():
    # UMi at 3.5 GHz, h_UT 1.5 m: d'BP = 4 * 9 * 0.5 * 3.5e9 / 3e8 = 210 m. Just either side.
    d = np.array([209.0, 211.0])
    got = channel.pathloss_db("UMi", 3.5e9, d, 10, 1.5, True)
    d3 = _d3(d, 10, 1.5)
    assert got[0] == pytest.approx(32.4 + 21 * math.log10(d3[0]) + 20 * math.log10(3.5), abs=1e-9)
    assert got[1] == pytest.approx(
        32.4 + 40 * math.log10(d3[1]) + 20 * math.log10(3.5) - 9.5 * math.log10(210.0**2 + 8.5**2), abs=1e-9
    )
    # RMa: PL2 starts from PL1 at the breakpoint, so the curve is almost continuous there (the standard
    # switches on d2D but evaluates PL1 at d3D, hence a step of about 1e-4 dB).
    d_bp = 2 * math.pi * 35 * 1.5 * 3.5e9 / C_38901
    a, b = channel.pathloss_db("RMa", 3.5e9, [d_bp - 1e-6, d_bp + 1e-6], 35, 1.5, True)
    assert abs(a - b) < 1e-3


def test_scalar_inputs_give_a_float_and_aliases_match():
    pl = channel.pathloss_db("UMi", 28e9, 100.0, 10.0, 1.5, False)
    assert isinstance(pl, float)
    assert pl == channel.pathloss_db("UMi-StreetCanyon", 28e9, 100.0, 10.0, 1.5, False)
    assert channel.pathloss_db("InH", 28e9, 10.0, 3.0, 1.0, True) == channel.pathloss_db(
        "InH-OfficeMixed", 28e9, 10.0, 3.0, 1.0, True
    )
    many = channel.pathloss_db(["UMi", "UMa"], 28e9, [[100.0], [200.0]], [10.0, 25.0], 1.5, True)
    assert many.shape == (2, 2)
    assert channel.pathloss_db("UMi", 3.5e9, np.zeros(0), 10, 1.5, True).shape == (0,)


# ------------------------------------------------------------------------------------------------
# LoS probability, TR 38.901 Table 7.4.2-1


def plos_rma(d):
    return np.where(d <= 10, 1.0, np.exp(-(d - 10) / 1000))


def plos_umi(d):
    d = np.maximum(d, 1e-9)  # the d <= 18 m branch holds there; avoids 18 / 0 in the other
    return np.where(d <= 18, 1.0, 18 / d + np.exp(-d / 36) * (1 - 18 / d))


def plos_uma(d, h_ut):
    d = np.maximum(d, 1e-9)
    c = np.where(h_ut <= 13, 0.0, ((h_ut - 13) / 10) ** 1.5)
    p = (18 / d + np.exp(-d / 63) * (1 - 18 / d)) * (1 + c * 5 / 4 * (d / 100) ** 3 * np.exp(-d / 150))
    return np.where(d <= 18, 1.0, p)


def plos_inh_mixed(d):
    return np.where(d <= 1.2, 1.0, np.where(d < 6.5, np.exp(-(d - 1.2) / 4.7), np.exp(-(d - 6.5) / 32.6) * 0.32))


DISTANCES = np.array([0.0, 1.0, 1.2, 3.0, 6.4, 6.6, 10.0, 18.0, 25.0, 50.0, 100.0, 300.0, 1000.0, 5000.0])


def test_los_probability_curves_match_table_7_4_2_1():
    np.testing.assert_allclose(channel.los_probability("RMa", DISTANCES), plos_rma(DISTANCES), rtol=0, atol=1e-12)
    np.testing.assert_allclose(channel.los_probability("UMi", DISTANCES), plos_umi(DISTANCES), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        channel.los_probability("InH", DISTANCES), plos_inh_mixed(DISTANCES), rtol=0, atol=1e-12
    )
    for h_ut in (1.5, 13.0, 15.0, 18.5, 22.5):
        np.testing.assert_allclose(
            channel.los_probability("UMa", DISTANCES, h_ut), plos_uma(DISTANCES, h_ut), rtol=0, atol=1e-12
        )
    # The UT height only matters for UMa.
    assert channel.los_probability("UMi", 100.0, 1.5) == channel.los_probability("UMi", 100.0, 8.0)
    assert channel.los_probability("UMa", 100.0, 20.0) > channel.los_probability("UMa", 100.0, 1.5)


# ------------------------------------------------------------------------------------------------
# Above 100 GHz: free space + ITU-R P.676 gaseous absorption


def fspl(f, d3):
    return 20 * np.log10(4 * math.pi * d3 * f / C)


def test_sub_thz_los_is_free_space_plus_absorption():
    f = np.array([100.5e9, 140e9, 183.31e9, 220e9, 300e9])
    for scenario, h_bs, h_ut, d2 in (("UMi", 10, 1.5, np.array([10.0, 50.0, 200.0])),
                                     ("InH", 3, 1.0, np.array([2.0, 20.0, 100.0]))):
        ff, dd = np.meshgrid(f, d2, indexing="ij")
        d3 = _d3(dd, h_bs, h_ut)
        want = fspl(ff, d3) + channel.gaseous_absorption_db_per_km(ff) * d3 / 1000
        np.testing.assert_allclose(channel.pathloss_db(scenario, ff, dd, h_bs, h_ut, True), want, rtol=0, atol=1e-9)


def test_sub_thz_nlos_adds_the_38901_nlos_excess_at_100_ghz():
    d2 = np.array([10.0, 80.0, 400.0])
    for scenario, h_bs, h_ut in (("UMi-StreetCanyon", 10, 1.5), ("UMa", 25, 1.5), ("InH-OfficeMixed", 3, 1.0)):
        d3 = _d3(d2, h_bs, h_ut) if scenario != "InH-OfficeMixed" else _d3(d2 / 4, h_bs, h_ut)
        dd = d2 if scenario != "InH-OfficeMixed" else d2 / 4
        excess = np.maximum(0, FORMULAS[scenario][1](100e9, dd, h_bs, h_ut) - fspl(100e9, d3))
        want = fspl(140e9, d3) + channel.gaseous_absorption_db_per_km(140e9) * d3 / 1000 + excess
        np.testing.assert_allclose(channel.pathloss_db(scenario, 140e9, dd, h_bs, h_ut, False), want, atol=1e-9)
        assert np.all(excess > 0)


def test_gaseous_absorption_table_follows_itu_r_p676():
    g = channel.gaseous_absorption_db_per_km
    # Lines: water vapour at 22.235 and 183.31 GHz, oxygen around 60 GHz and at 118.75 GHz.
    assert g(183.31e9) > 20 * g(140e9)
    assert g(183.31e9) > g(175e9) and g(183.31e9) > g(190e9)
    assert g(60e9) > 10 * g(40e9) and g(60e9) > 10 * g(80e9)
    assert g(118.75e9) > g(100e9) and g(118.75e9) > g(140e9)
    assert g(22.235e9) > g(15e9) and g(22.235e9) > g(30e9)
    # Values of the P.676-12 Annex 1 line-by-line model at sea level (1013.25 hPa, 15 degC, 7.5 g/m^3; the
    # curve of its Figure 1), computed with ITU-Rpy (docs/ran-channel.md): the table within 5 %, at its own
    # samples and between them (57.5, 150.5, 250.25 and 0.6 GHz are not samples).
    for f_ghz, db_per_km in ((1.0, 0.005361), (22.235, 0.1934), (60.0, 14.656), (100.0, 0.4540),
                             (118.75, 1.9436), (140.0, 0.9154), (183.31, 28.257), (300.0, 5.2031),
                             (57.5, 11.375), (150.5, 1.1266), (250.25, 3.0780), (0.6, 0.003666)):
        assert g(f_ghz * 1e9) == pytest.approx(db_per_km, rel=0.05), f_ghz
    # Interpolation between samples is monotone between neighbours and positive everywhere.
    f = np.linspace(0.5e9, 300e9, 3001)
    values = g(f)
    assert np.all(values > 0) and np.all(np.isfinite(values))


def test_sub_thz_loss_grows_with_the_water_line():
    d3 = _d3(200.0, 10, 1.5)
    pl = channel.pathloss_db("UMi", np.array([140e9, 183.31e9]), 200.0, 10, 1.5, True)
    # 183 GHz pays 20*log10(183.31/140) more spreading loss plus ~27 dB/km more absorption.
    extra = pl[1] - pl[0]
    assert extra == pytest.approx(
        20 * math.log10(183.31 / 140) + (channel.gaseous_absorption_db_per_km(183.31e9)
                                         - channel.gaseous_absorption_db_per_km(140e9)) * d3 / 1000, abs=1e-9
    )
    assert extra > 2.3 + 5


# ------------------------------------------------------------------------------------------------
# Bad configuration is refused with a clear message, and the query process survives


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(freq_hz=0.1e9), "frequency_hz = 1e+08 Hz (0.1 GHz) is outside the supported range 0.5-300 GHz"),
        (dict(freq_hz=400e9), "frequency_hz = 4e+11 Hz (400 GHz) is outside the supported range 0.5-300 GHz"),
        (dict(freq_hz=float("nan")), "frequency_hz = nan"),
        (dict(d2d_m=-5.0), "d2d_m = -5 m: the 2D distance must be finite and >= 0"),
        (dict(h_ut_m=0.0), "h_ut_m = 0 m"),
        (dict(h_ut_m=30.0), "h_ut_m = 30 m is outside UMi-StreetCanyon's UT height range 1.5-22.5 m"),
        (dict(scenario="RMa", freq_hz=39e9, h_bs_m=35.0), "is outside RMa's range 0.5-30 GHz"),
        (dict(scenario="UMa", h_bs_m=10.0, h_ut_m=20.0), "h_ut_m = 20 m is above h_bs_m = 10 m"),
    ],
)
def test_bad_values_are_refused_naming_field_and_value(kwargs, message):
    args = dict(scenario="UMi", freq_hz=3.5e9, d2d_m=100.0, h_bs_m=10.0, h_ut_m=1.5, los=True)
    args.update(kwargs)
    with pytest.raises(ScenarioError, match="pathloss record 0: ") as info:
        channel.pathloss_db(**args)
    assert message in str(info.value)
    # The scenario lives on.
    assert channel.pathloss_db("UMi", 3.5e9, 100.0, 10.0, 1.5, True) == pytest.approx(
        float(umi_los(3.5e9, 100.0, 10.0, 1.5)), abs=1e-9
    )


def test_the_failing_record_is_named_in_a_batch():
    with pytest.raises(ScenarioError, match=r"pathloss record 2: d2d_m = -1 m"):
        channel.pathloss_db("UMi", 3.5e9, [10.0, 20.0, -1.0], 10.0, 1.5, True)


def test_unknown_scenario_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown scenario 'UMx'; valid names: UMi-StreetCanyon \(or UMi\), "
                                         r"UMa, RMa, InH-OfficeMixed \(or InH\)"):
        channel.pathloss_db("UMx", 3.5e9, 100.0, 10.0, 1.5, True)
    with pytest.raises(ValueError, match="unknown scenario"):
        channel.los_probability(["UMi", "V2V"], 10.0)
    with pytest.raises(ValueError, match="los must be a bool"):
        channel.pathloss_db("UMi", 3.5e9, 100.0, 10.0, 1.5, 2)


def test_other_queries_refuse_bad_values():
    with pytest.raises(ScenarioError, match="gaseous_absorption record 1: frequency_hz = 4e\\+11 Hz"):
        channel.gaseous_absorption_db_per_km([60e9, 400e9])
    with pytest.raises(ScenarioError, match="los_probability record 0: d2d_m = -3 m"):
        channel.los_probability("UMa", -3.0)
    with pytest.raises(ScenarioError, match="h_ut_m = 30 m is above 23 m"):
        channel.los_probability("UMa", 100.0, 30.0)


# ------------------------------------------------------------------------------------------------
# RanChannel: fast fading from ns-3's 3GPP channel model, cached per link


def test_fast_fading_averages_to_the_single_antenna_gain():
    # 1x1 isotropic antennas: the 3GPP cluster powers sum to one, so the RB-averaged linear gain averages
    # to 0 dB over independent realisations.
    t = 0.005 + np.arange(300) * 0.01
    for scenario, los in (("UMi", False), ("UMa", True)):
        r = channel.fast_fading(scenario, 7e9, 120.0, 10.0 if scenario == "UMi" else 25.0, 1.5, t, los=los,
                                realization_period_s=0.01)
        linear = 10 ** (r["mean_gain_db"] / 10)
        assert 10 * math.log10(linear.mean()) == pytest.approx(0.0, abs=0.6)
        assert np.unique(r["realization"]).size == t.size  # one realisation per time
        assert np.std(r["mean_gain_db"]) > 0.1  # realisations differ
        assert np.all(r["max_gain_db"] > r["min_gain_db"])  # frequency-selective across 52 RBs
        assert np.all(r["los"] == (1 if los else 0))


def test_fast_fading_is_constant_within_a_period_and_redrawn_after():
    r = channel.fast_fading("UMi", 3.5e9, 100.0, 10.0, 1.5, [0.0, 0.004, 0.009, 0.099, 0.1, 0.15, 0.25], los=False,
                            update_period_s=0.01, realization_period_s=0.1)
    rb0 = r["first_rb_gain_db"]
    assert list(r["realization"] - r["realization"][0]) == [0, 0, 0, 0, 1, 1, 2]
    assert rb0[0] == rb0[1] == rb0[2] == rb0[3]  # a static link keeps its channel within a realisation
    assert rb0[4] == rb0[5]
    assert len({rb0[0], rb0[4], rb0[6]}) == 3  # and draws a new one in each realisation
    # Shadowing and LoS state are large-scale: kept across realisations for a static UE.
    assert np.all(r["large_scale_loss_db"] == r["large_scale_loss_db"][0])


def test_moving_ue_fades_within_a_realization():
    # 10 m/s at 28 GHz: Doppler up to 930 Hz, re-evaluated every update period (1 ms).
    r = channel.fast_fading("UMi", 28e9, 60.0, 10.0, 1.5, [0.0, 0.0005, 0.001, 0.002], los=False,
                            update_period_s=0.001, realization_period_s=1.0, ue_speed_mps=10.0)
    assert np.all(r["realization"] == r["realization"][0])
    rb0 = r["first_rb_gain_db"]
    assert rb0[0] == rb0[1]  # same update period
    assert rb0[1] != rb0[2] and rb0[2] != rb0[3]  # the Doppler phases moved on


def test_beamforming_gain_of_arrays():
    # Without fading, the gain is the array gain of the LoS path: N elements pointed at each other, times
    # the 3GPP element pattern (8 dBi, 65 deg, 30 dB; TR 38.901 Table 7.3-1) off its boresight.
    d2, h_bs, h_ut = 100.0, 25.0, 1.5
    r = channel.fast_fading("UMa", 28e9, d2, h_bs, h_ut, 0.0, los=True, gnb_array=(4, 4), ue_array=(1, 2),
                            isotropic=False, fading=False)
    theta_off = math.degrees(math.atan2(h_bs - h_ut, d2))  # below the horizontal boresight
    element = 8.0 - min(12 * (theta_off / 65) ** 2, 30)
    want = 10 * math.log10(16) + element + 10 * math.log10(2)
    assert r["mean_gain_db"] == pytest.approx(want, abs=1e-6)
    assert r["min_gain_db"] == r["max_gain_db"]
    # With fading, the beams pointed at each other collect most of a LoS channel's power: over
    # realisations the mean gain of a 4x4 isotropic gNB array is close to 10 log10(16).
    t = 0.005 + np.arange(150) * 0.01
    r = channel.fast_fading("UMi", 28e9, 50.0, 10.0, 1.5, t, los=True, gnb_array=(4, 4), realization_period_s=0.01)
    mean = 10 * math.log10(np.mean(10 ** (r["mean_gain_db"] / 10)))
    assert 9.5 < mean < 12.5


def test_sub_thz_and_rma_fast_fading_run():
    r = channel.fast_fading("InH", 140e9, 10.0, 3.0, 1.0, [0.0, 2.0], los=None, gnb_array=(4, 4), ue_array=(1, 2))
    assert np.all(np.isfinite(r["mean_gain_db"]))
    r = channel.fast_fading("RMa", 28e9, 500.0, 35.0, 1.5, [0.0, 2.0], los=None)
    assert np.all(np.isfinite(r["mean_gain_db"]))
    with pytest.raises(ScenarioError, match="fast_fading record 0: frequency_hz = 3.9e\\+10 Hz"):
        channel.fast_fading("RMa", 39e9, 500.0, 35.0, 1.5, 0.0)


def test_refresh_cost_query_on_a_small_layout():
    cost = channel.channel_refresh_cost(ues_per_cell=3, updates=4, update_period_s=0.01, realization_period_s=0.02)
    assert cost["links"] == 21
    assert cost["realization_refresh_s"] > 0 and cost["per_link_realization_us"] > 0
    # Static UEs: only realisation refreshes evaluate the 3GPP model (2 of the 4 counted refreshes).
    assert cost["evaluations"] == 2 * 21
    cost = channel.channel_refresh_cost(ues_per_cell=2, updates=2, all_links=True)
    assert cost["links"] == 7 * 14

"""The RAN PHY abstraction (ran-phy.h) through ns6g.radio.phy: numerologies, carriers, noise, TBS, link
adaptation, BLER, HARQ, and the Shannon bound the later throughput checks rely on."""

import math

import numpy as np
import pytest

from ns6g.core.bridge import ScenarioError
from ns6g.radio import phy, query

SINR_DB = np.round(np.arange(-10.0, 40.0 + 1e-9, 0.05), 4)


# ---------------------------------------------------------------------------------------------------
# Numerology and carriers


@pytest.mark.parametrize("mu", range(7))
def test_numerology_table(mu):
    scs = 15e3 * 2**mu
    c = phy.carrier(bandwidth_hz=10 * 12 * scs, mu=mu, frequency_hz=150e9)  # 10 whole RBs
    assert c.scs_hz == scs
    assert c.slot_s == pytest.approx(1e-3 / 2**mu, rel=1e-12)
    assert c.rb_bandwidth_hz == 12 * scs
    assert c.n_rb == 10 and not c.standard_bandwidth and c.guard_band_hz == 0.0


@pytest.mark.parametrize(
    "frequency_hz, bandwidth_hz, mu, n_rb",
    [
        (3.5e9, 100e6, 1, 273),  # TS 38.101-1 Table 5.3.2-1
        (3.5e9, 20e6, 0, 106),
        (3.5e9, 40e6, 1, 106),
        (3.5e9, 5e6, 0, 25),
        (3.5e9, 100e6, 2, 135),
        (12e9, 100e6, 1, 273),  # FR3: 30 kHz is only in the FR1 table, which is used
        (28e9, 100e6, 2, 132),  # TS 38.101-2 Table 5.3.2-1 (FR2-1): 60 kHz differs from FR1's 135
        (28e9, 400e6, 3, 264),
        (28e9, 50e6, 3, 32),
        (60e9, 400e6, 5, 66),  # FR2-2
        (140e9, 2e9, 6, 148),
        (140e9, 1.6e9, 5, 248),
    ],
)
def test_standard_channel_bandwidths(frequency_hz, bandwidth_hz, mu, n_rb):
    c = phy.carrier(bandwidth_hz, mu, frequency_hz)
    assert c.n_rb == n_rb and c.standard_bandwidth
    assert c.transmission_bandwidth_hz == n_rb * 12 * c.scs_hz <= bandwidth_hz
    # 38.101's guard band: (BW - N_RB * 12 * SCS) / 2 - SCS / 2, and never negative.
    assert c.guard_band_hz == pytest.approx((bandwidth_hz - c.transmission_bandwidth_hz) / 2 - c.scs_hz / 2)
    assert c.guard_band_hz > 0


def test_whole_rb_bandwidths_have_no_guard_band():
    c = phy.carrier(99e6, 1, 3.5e9)  # 275 x 360 kHz
    assert (c.n_rb, c.standard_bandwidth, c.guard_band_hz) == (275, False, 0.0)
    c = phy.carrier(87 * 12 * 960e3, 6, 140e9)  # 1.00224 GHz
    assert c.n_rb == 87 and c.transmission_bandwidth_hz == pytest.approx(c.bandwidth_hz)


@pytest.mark.parametrize(
    "n_rb_bandwidth, mu, rbg_size",
    [((10e6, 1), 1, 2), ((20e6, 1), 1, 4), ((40e6, 1), 1, 8), ((100e6, 1), 1, 16), ((20e6, 0), 0, 8)],
)
def test_rbg_size_configuration_1(n_rb_bandwidth, mu, rbg_size):
    # TS 38.214 Table 5.1.2.2.1-1, configuration 1: 2 / 4 / 8 / 16 for 1-36 / 37-72 / 73-144 / 145-275 RBs.
    c = phy.carrier(n_rb_bandwidth[0], mu)
    assert c.rbg_size == rbg_size
    assert c.n_rbg == math.ceil(c.n_rb / rbg_size)
    assert sum(c.rbg_rb_counts()) == c.n_rb and 1 <= c.last_rbg_size <= rbg_size


def test_configured_rbg_size_and_last_rbg():
    c = phy.carrier(100e6, 1, rbg_size=5)  # 273 = 54 x 5 + 3
    assert (c.rbg_size, c.n_rbg, c.last_rbg_size) == (5, 55, 3)
    c = phy.carrier(20e6, 0)  # 106 = 13 x 8 + 2
    assert (c.n_rbg, c.last_rbg_size) == (14, 2)


def test_carriers_table_broadcasts_and_flags_invalid_rows():
    df = phy.carriers(bandwidth_hz=[20e6, 100e6, 101e6], mu=[[0], [1]], frequency_hz=3.5e9)
    assert len(df) == 6
    assert list(df["valid"]) == [True, False, False, True, True, False]  # 100 MHz at 15 kHz is no 38.101 bandwidth
    assert df.loc[4, "n_rb"] == 273 and df.loc[0, "n_rb"] == 106 and df.loc[3, "n_rb"] == 51
    assert (df.loc[~df["valid"], "reason"].str.len() > 0).all() and (df.loc[df["valid"], "reason"] == "").all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(bandwidth_hz=100e6, mu=7), r"numerology mu=7 is out of range 0\.\.6"),
        (dict(bandwidth_hz=100e6, mu=-1), r"numerology mu=-1 is out of range"),
        (dict(bandwidth_hz=200e6, mu=1, frequency_hz=3.5e9), r"200 MHz is above the band's limit of 100 MHz"),
        (dict(bandwidth_hz=800e6, mu=3, frequency_hz=28e9), r"800 MHz is above the band's limit of 400 MHz"),
        (dict(bandwidth_hz=3e9, mu=6, frequency_hz=140e9), r"3 GHz is above the band's limit of 2 GHz"),
        (dict(bandwidth_hz=99.9e6, mu=1), r"99\.9 MHz is not a multiple of the RB bandwidth 360 kHz \(12 x 30 kHz"),
        (dict(bandwidth_hz=100e6, mu=0), r"not a multiple of the RB bandwidth 180 kHz.*99\.9 MHz \(555 RBs\)"),
        (dict(bandwidth_hz=1e9, mu=6, frequency_hz=140e9), r"not a multiple of the RB bandwidth 11\.52 MHz"),
        (dict(bandwidth_hz=0.0, mu=1), r"bandwidth 0 Hz must be positive"),
        (dict(bandwidth_hz=20e6, mu=1, frequency_hz=-1.0), r"center frequency -1 Hz must be positive"),
        (dict(bandwidth_hz=10e6, mu=1, rbg_size=25), r"RBG size 25 is larger than the carrier's 24 RBs"),
    ],
)
def test_refused_carriers_say_why(kwargs, message):
    with pytest.raises(ValueError, match=message):
        phy.carrier(**kwargs)


def test_raw_carrier_query_refuses_with_invalid_request():
    with pytest.raises(ScenarioError, match=r"carrier row 1: numerology mu=9 is out of range"):
        query("carrier", {"frequency_hz": 3.5e9, "bandwidth_hz": 100e6, "mu": [1, 9]})
    ok = query("carrier", {"frequency_hz": 3.5e9, "bandwidth_hz": 100e6, "mu": 1})  # the bridge lives on
    assert ok["valid"][0] == 1 and ok["n_rb"][0] == 273


# ---------------------------------------------------------------------------------------------------
# Noise and SINR


def test_thermal_noise_per_rb():
    assert phy.noise_dbm(1.0, 0.0) == pytest.approx(-174.0)
    assert phy.noise_dbm(180e3, 0.0) == pytest.approx(-174 + 10 * math.log10(180e3))  # -121.45 dBm
    got = phy.noise_dbm(np.array([180e3, 360e3, 11.52e6]), [9.0, 5.0, 10.0])
    assert got == pytest.approx(-174 + 10 * np.log10([180e3, 360e3, 11.52e6]) + [9.0, 5.0, 10.0])
    with pytest.raises(ValueError, match="must be positive"):
        phy.noise_dbm(0.0, 5.0)


def test_rb_sinr_counts_interference_only_where_it_is():
    noise = phy.noise_dbm(360e3, 7.0)
    assert phy.rb_sinr_db(noise + 20.0, noise) == pytest.approx(20.0)  # an RB no other cell uses
    i_mw = 10 ** (noise / 10)  # interference as strong as the noise: SINR drops by 3 dB
    assert phy.rb_sinr_db(noise + 20.0, noise, i_mw) == pytest.approx(20.0 - 10 * math.log10(2))


def test_effective_sinr_is_mean_capacity():
    assert phy.effective_sinr_db([7.0] * 5) == pytest.approx(7.0)
    sinr_db = np.array([-3.0, 0.0, 12.0, 25.0])
    lin = 10 ** (sinr_db / 10)
    eff = phy.effective_sinr_db(sinr_db)
    assert math.log2(1 + 10 ** (eff / 10)) == pytest.approx(np.mean(np.log2(1 + lin)))
    assert sinr_db.min() < eff < 10 * math.log10(lin.mean())
    grouped = phy.effective_sinr_db([0.0, 20.0, 5.0, 5.0], groups=[1, 1, 2, 2])
    assert grouped[2] == grouped[3] == pytest.approx(5.0) and grouped[0] == pytest.approx(eff_two(0.0, 20.0))


def eff_two(a_db, b_db):
    c = (math.log2(1 + 10 ** (a_db / 10)) + math.log2(1 + 10 ** (b_db / 10))) / 2
    return 10 * math.log10(2**c - 1)


# ---------------------------------------------------------------------------------------------------
# Transport block size (TS 38.214 5.1.3.2)


@pytest.mark.parametrize(
    "args, expected",
    [
        # MCS 0 (QPSK, 120/1024), 1 RB, 14 symbols, 12 DMRS REs: N_RE = 156, N_info = 36.5625;
        # n = max(3, 5 - 6) = 3, N_info' = 8 * floor(36.56 / 8) = 32; table -> 32.
        (dict(mcs=0, n_rb=1), 32),
        # MCS 4 (QPSK, 602), 10 RBs, 12 symbols: N_RE' = 132, N_RE = 1320, N_info = 1552.03;
        # n = 4, N_info' = 16 * 97 = 1552; smallest table entry >= 1552 is 1608.
        (dict(mcs=4, n_rb=10, n_symbols=12), 1608),
        # MCS 10 (16QAM, 658), 20 RBs: N_RE = 3120, N_info = 8019.375 > 3824; n = 12 - 5 = 7,
        # N_info' = 128 * round(7995.375 / 128) = 128 * 62 = 7936; R > 1/4, N_info' <= 8424:
        # 8 * ceil(7960 / 8) - 24 = 7936.
        (dict(mcs=10, n_rb=20), 7936),
        # MCS 1 (QPSK, 193 <= 256: R <= 1/4), 100 RBs: N_RE = 15600, N_info = 5880.47; n = 7,
        # N_info' = 128 * round(45.75) = 5888; C = ceil(5912 / 3816) = 2; 16 * ceil(5912 / 16) - 24 = 5896.
        (dict(mcs=1, n_rb=100), 5896),
        # MCS 27 (256QAM, 948), 273 RBs, 4 layers: N_info = 42588 * 948/1024 * 8 * 4 = 1261669.5;
        # n = 20 - 5 = 15, N_info' = 32768 * round(38.502) = 1277952; C = ceil(1277976 / 8424) = 152;
        # 1216 * ceil(1277976 / 1216) - 24 = 1216 * 1051 - 24 = 1277992 (NR's largest single-codeword TBS).
        (dict(mcs=27, n_rb=273, n_layers=4), 1277992),
        # 1024-QAM MCS 26 (Q_m 10, 948), 50 RBs, 2 layers: N_info = 7800 * 948/1024 * 20 = 144421.875;
        # n = 17 - 5 = 12, N_info' = 4096 * round(35.25) = 143360; C = ceil(143384 / 8424) = 18;
        # 144 * ceil(143384 / 144) - 24 = 144 * 996 - 24 = 143400.
        (dict(mcs=26, n_rb=50, n_layers=2, table="1024qam"), 143400),
        # Overhead: 12 x 14 - 12 - 18 = 138 REs per RB, 5 RBs, MCS 9 (16QAM, 616): N_info = 1660.3125;
        # n = 4, N_info' = 1648; table -> 1672.
        (dict(mcs=9, n_rb=5, overhead_re_per_rb=18), 1672),
        # No DMRS: N_RE' = 168 is capped at 156 per RB.
        (dict(mcs=0, n_rb=1, dmrs_re_per_rb=0), 32),
    ],
)
def test_tbs_hand_computed(args, expected):
    assert phy.tbs_bits(**args) == expected


TBS_TABLE = [
    24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128, 136, 144, 152, 160, 168, 176, 184, 192, 208, 224,
    240, 256, 272, 288, 304, 320, 336, 352, 368, 384, 408, 432, 456, 480, 504, 528, 552, 576, 608, 640, 672, 704,
    736, 768, 808, 848, 888, 928, 984, 1032, 1064, 1128, 1160, 1192, 1224, 1256, 1288, 1320, 1352, 1416, 1480,
    1544, 1608, 1672, 1736, 1800, 1864, 1928, 2024, 2088, 2152, 2216, 2280, 2408, 2472, 2536, 2600, 2664, 2728,
    2792, 2856, 2976, 3104, 3240, 3368, 3496, 3624, 3752, 3824,
]


def spec_tbs(qm, r1024, n_rb, n_symbols, n_layers, dmrs=12, overhead=0):
    """TS 38.214 5.1.3.2 written out independently of the model, in exact fractions."""
    from fractions import Fraction

    n_re = min(156, 12 * n_symbols - dmrs - overhead) * n_rb
    n_info = n_re * Fraction(r1024).limit_denominator(2) / 1024 * qm * n_layers
    if n_info <= 3824:
        n = max(3, math.floor(math.log2(n_info)) - 6)
        n_info_q = max(24, 2**n * math.floor(n_info / 2**n))
        return next(t for t in TBS_TABLE if t >= n_info_q)
    n = math.floor(math.log2(n_info - 24)) - 5
    n_info_q = max(3840, 2**n * math.floor((n_info - 24) / 2**n + Fraction(1, 2)))
    if Fraction(r1024).limit_denominator(2) <= 256:
        c = math.ceil((n_info_q + 24) / 3816)
        return 8 * c * math.ceil((n_info_q + 24) / (8 * c)) - 24
    if n_info_q > 8424:
        c = math.ceil((n_info_q + 24) / 8424)
        return 8 * c * math.ceil((n_info_q + 24) / (8 * c)) - 24
    return 8 * math.ceil((n_info_q + 24) / 8) - 24


@pytest.mark.parametrize("table", ["256qam", "1024qam"])
def test_tbs_matches_the_spec_over_a_grid(table):
    mcs = phy.mcs_table(table)
    n_rb = np.array([1, 2, 3, 5, 8, 13, 24, 51, 106, 133, 273, 1111])
    n_symbols = np.array([2, 4, 7, 12, 14])
    layers = np.array([1, 2, 4])
    m, r, s, v = np.meshgrid(mcs["mcs"], n_rb, n_symbols, layers, indexing="ij")
    got = phy.tbs_bits(m, r, s, v, table=table)
    qm = mcs["qm"].to_numpy()[m]
    r1024 = mcs["code_rate_x1024"].to_numpy()[m]
    want = np.vectorize(spec_tbs)(qm, r1024, r, s, v)
    assert np.array_equal(got, want)


def test_tbs_refusals():
    with pytest.raises(ValueError, match=r"MCS 28 is out of range 0\.\.27 of the 256-QAM table"):
        phy.tbs_bits(28, 10)
    with pytest.raises(ValueError, match=r"MCS 27 is out of range 0\.\.26 of the 1024-QAM table"):
        phy.tbs_bits(27, 10, table="1024qam")
    with pytest.raises(ValueError, match="number of layers 5"):
        phy.tbs_bits(5, 10, n_layers=5)
    with pytest.raises(ValueError, match="no resource elements left"):
        phy.tbs_bits(5, 10, n_symbols=1)
    with pytest.raises(ValueError, match="whole number"):
        phy.tbs_bits(2.5, 10)


def test_bad_table_names():
    for call in (lambda: phy.link_adaptation(10.0, table="64qam"), lambda: phy.tbs_bits(1, 1, table="qam256"),
                 lambda: phy.bler(1.0, 1, table=1), lambda: phy.mcs_table("")):
        with pytest.raises(ValueError, match=r"unknown MCS table .*'256qam', '1024qam'"):
            call()
    assert len(phy.link_adaptation(10.0, table="1024QAM")) == 1  # case does not matter


# ---------------------------------------------------------------------------------------------------
# MCS / CQI tables and link adaptation


def test_mcs_tables_are_the_standards():
    t2 = phy.mcs_table("256qam")
    assert len(t2) == 28 and list(t2["qm"]) == [2] * 5 + [4] * 6 + [6] * 9 + [8] * 8
    assert t2.loc[20, "code_rate_x1024"] == 682.5 and t2.loc[27, "spectral_efficiency"] == 7.4063
    t4 = phy.mcs_table("1024qam")
    assert len(t4) == 27 and list(t4["qm"]) == [2] * 3 + [4] * 3 + [6] * 9 + [8] * 8 + [10] * 4
    assert list(t4["code_rate_x1024"].tail(4)) == [805.5, 853, 900.5, 948]
    for t in (t2, t4):
        # Tabulated efficiency is Q_m x R rounded to 4 decimals, and rises with the index.
        assert np.allclose(t["spectral_efficiency"], np.round(t["qm"] * t["code_rate_x1024"] / 1024, 4), atol=1.1e-4)
        assert np.all(np.diff(t["spectral_efficiency"]) > 0)
        assert np.all(np.diff(t["required_sinr_db"]) > 0)


@pytest.mark.parametrize("table", ["256qam", "1024qam"])
def test_cqi_and_mcs_never_decrease_with_sinr(table):
    la = phy.link_adaptation(SINR_DB, table)
    assert np.all(np.diff(la["cqi"]) >= 0) and np.all(np.diff(la["mcs"]) >= 0)
    assert la["cqi"].iloc[0] == 0 and la["mcs"].iloc[0] == -1  # -10 dB: nothing decodable
    assert la["cqi"].iloc[-1] == 15 and la["mcs"].iloc[-1] == (27 if table == "256qam" else 26)


@pytest.mark.parametrize("table", ["256qam", "1024qam"])
def test_cqi_maps_to_the_highest_mcs_within_its_efficiency(table):
    la = phy.link_adaptation(SINR_DB, table)
    mcs = phy.mcs_table(table)
    for cqi, group in la.groupby("cqi"):
        chosen = set(group["mcs"])
        assert len(chosen) == 1
        m = chosen.pop()
        se = group["cqi_spectral_efficiency"].iloc[0]
        if cqi == 0:
            assert m == -1
        elif cqi == 1:
            assert m == 0  # CQI 1 (0.1523) lies below every MCS: the lowest one is used
        else:
            fits = mcs.loc[mcs["spectral_efficiency"] <= se + 1e-9, "mcs"]
            assert m == fits.max()
            assert (group["bler"] <= 0.1).all()  # the CQI's BLER target holds for its MCS


@pytest.mark.parametrize("table", ["256qam", "1024qam"])
def test_chosen_mcs_never_beats_shannon(table):
    la = phy.link_adaptation(SINR_DB, table)
    shannon = np.log2(1 + 10 ** (SINR_DB / 10))
    goodput = la["spectral_efficiency"].to_numpy() * (1 - la["bler"].to_numpy())
    assert np.all(goodput <= shannon)
    # The model does not throw efficiency away either: above 0 dB it reaches at least half of Shannon.
    high = SINR_DB >= 0
    assert np.all(goodput[high] >= 0.5 * shannon[high] - 0.25)


@pytest.mark.parametrize("table", ["256qam", "1024qam"])
def test_every_mcs_never_beats_shannon_on_its_allocation(table):
    """What the later per-UE throughput check relies on: for any MCS, allocation and SINR, the bits a
    transport block delivers per slot, TBS x (1 - BLER), stay below the Shannon bits of the REs it uses,
    and so below the allocation's bound n_rb x 12 x SCS x slot x log2(1 + SINR) = n_rb x 180 x log2(1 + SINR)."""
    mcs = phy.mcs_table(table)["mcs"].to_numpy()
    sinr = np.arange(-10.0, 40.01, 0.25)
    for n_rb, n_symbols, dmrs in [(1, 14, 12), (1, 2, 0), (1, 1, 0), (3, 4, 12), (20, 14, 12), (273, 14, 0), (5, 7, 6)]:
        d = phy.tbs_details(mcs, n_rb, n_symbols, 1, table, dmrs_re_per_rb=dmrs)
        s, m = np.meshgrid(sinr, mcs, indexing="ij")
        tbs = d["tbs_bits"].to_numpy()[m]
        uses = d["n_re"].to_numpy()[m]
        b = phy.bler(s, m, table, tbs_bits=tbs, channel_uses=uses)
        capacity = np.log2(1 + 10 ** (s / 10))
        assert np.all(tbs * (1 - b) <= uses * capacity), (n_rb, n_symbols, dmrs)
        assert np.all(tbs * (1 - b) <= n_rb * 180 * capacity)
    # Without the allocation, the nominal efficiency applies: full-slot allocations stay below Shannon.
    d = phy.tbs_details(mcs, 50, 14, 1, table)
    assert np.all(d["tbs_bits"] <= 50 * 180 * phy.mcs_table(table)["spectral_efficiency"])


def test_1024qam_reaches_higher_efficiency_at_high_sinr():
    sinr = np.arange(32.0, 40.01, 0.5)
    a = phy.link_adaptation(sinr, "256qam")["spectral_efficiency"]
    b = phy.link_adaptation(sinr, "1024qam")["spectral_efficiency"]
    assert (a == 7.4063).all() and (b > a).all() and b.iloc[-1] == 9.2578


# ---------------------------------------------------------------------------------------------------
# BLER and HARQ


@pytest.mark.parametrize("table", ["256qam", "1024qam"])
@pytest.mark.parametrize("tbs", [24, 200, 1000, 3824, None, 60000, 1277992])
def test_bler_falls_with_sinr_and_rises_with_mcs(table, tbs):
    mcs = phy.mcs_table(table)["mcs"].to_numpy()
    s, m = np.meshgrid(SINR_DB, mcs, indexing="ij")
    b = phy.bler(s, m, table, tbs_bits=tbs)
    assert np.all((0 <= b) & (b <= 1))
    assert np.all(np.diff(b, axis=0) <= 0)  # non-increasing in SINR
    assert np.all(np.diff(b, axis=1) >= 0)  # non-decreasing in MCS
    assert np.all(b[0] == 1.0) or tbs == 24  # -10 dB decodes nothing (but a tiny block at MCS 0)
    assert np.all(b[-1, :] < 1e-3)  # 40 dB decodes everything


def test_longer_blocks_have_steeper_waterfalls():
    sinr = np.arange(0.0, 12.0, 0.01)
    widths = []
    for tbs in (40, 400, 8424):
        b = phy.bler(sinr, 5, tbs_bits=tbs)
        widths.append(sinr[np.argmax(b < 0.01)] - sinr[np.argmax(b < 0.9)])
    assert widths[0] > widths[1] > widths[2] > 0


def test_harq_chase_combining_lowers_bler():
    sinr = np.arange(0.0, 20.0, 0.25)
    first = phy.bler(sinr, 12)
    second = phy.bler(sinr, 12, transmissions=2)
    assert np.all(second <= first) and np.any(second < first - 0.5)
    h = phy.harq(sinr, 12, max_transmissions=4)
    assert np.all(h["residual_bler"] <= h["first_bler"]) and np.all(h["expected_transmissions"] <= 4)
    assert np.allclose(h["first_bler"], first)
    # Three dB short of MCS 12's threshold: the first transmission always fails, the second (+3 dB) decodes.
    need = phy.mcs_table()["required_sinr_db"][12]
    one = phy.harq(need - 2.0, 12, n_trials=20000, seed=7).iloc[0]
    assert one["first_bler"] == pytest.approx(1.0, abs=1e-6)
    assert one["residual_bler"] < 1e-6 and one["expected_transmissions"] == pytest.approx(2.0, abs=1e-3)
    assert one["simulated_mean_transmissions"] == pytest.approx(2.0, abs=1e-3)


def test_harq_process_simulation_agrees_with_expectation():
    sinr_db = phy.mcs_table()["required_sinr_db"][8]  # 10% BLER on the first transmission
    h = phy.harq(sinr_db, 8, n_trials=200000, seed=3, max_transmissions=1).iloc[0]
    assert h["first_bler"] == pytest.approx(0.1, abs=2e-3)
    assert h["simulated_residual_bler"] == pytest.approx(h["residual_bler"], abs=4e-3)
    far = phy.harq(-5.0, 20, max_transmissions=3, n_trials=1000).iloc[0]  # hopeless: every try fails
    assert far["residual_bler"] == 1.0 and far["simulated_residual_bler"] == 1.0
    assert far["simulated_mean_transmissions"] == 3.0 and far["expected_transmissions"] == 3.0

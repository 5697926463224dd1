"""RanChannel's own fast-fading arithmetic (FastFadingPath "ns6g") against ns-3's spectrum model ("ns3").

The ``fading_path_check`` query of the ``ran-query`` scenario runs two RanChannels that differ only in
FastFadingPath, on the same random streams, over the same moving links (serving beams and, with
``interference``, gNB beams pointed at another UE), update period after update period across realisation
boundaries, and counts the RB gains and per-band PSDs whose bits differ. The ns6g path (RanChannel's
arithmetic, and EpochChannelModel's channel matrices) must give ns-3's values exactly: zero unequal values,
not merely small differences.

A reverse-direction channel (ns-3's IsReverse) cannot occur in RanChannel: it always asks for the channel
with the gNB as ``a`` and the UE as ``b``, so every channel matrix is drawn in that direction.
"""

import pytest

from ns6g.core.bridge import ScenarioError
from ns6g.radio import _query
from ns6g.radio._query import query
from ns6g.radio.channel import scenario_code

# 7 GHz and 100 MHz as `ns6g bench ran`, 273 RBs of 360 kHz in groups of 4 (69 bands, the last of 1 RB).
BASE = dict(frequency_hz=7e9, rb_bandwidth_hz=360e3, num_rbs=273, rb_group_size=4, max_distance_m=200.0,
            ue_speed_mps=3.0, update_period_s=0.01, realization_period_s=0.05, ues=6, updates=12, stream=17,
            gnb_rows=4, gnb_columns=4, ue_rows=1, ue_columns=2, interference=1)


def _has_avx() -> int:
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "").split()
    return int("avx" in flags)


def _check(scenario="UMi", **kwargs):
    columns = {**BASE, **kwargs, "scenario": scenario_code(scenario)}
    return query("fading_path_check", columns)[0]


def _assert_identical(r):
    assert r["gains_compared"] > 0 and r["psd_compared"] > 0
    assert r["evaluations"] == r["evaluations_ns3"] > 0
    assert r["matrices"] == r["matrices_ns3"] > 0  # each channel computed its own matrices
    assert r["unequal_los"] == 0
    assert (r["unequal_gains"], r["unequal_psd"]) == (0, 0), (
        f"{r['unequal_gains']} RB gains (max |diff| {r['max_abs_diff_db']} dB) and {r['unequal_psd']} band "
        f"PSDs (max |diff| {r['max_abs_diff_psd']}) differ")
    assert r["max_abs_diff_db"] == 0.0 and r["max_abs_diff_psd"] == 0.0


@pytest.mark.parametrize("los", [0, 1], ids=["nlos", "los"])
@pytest.mark.parametrize("gnb_isotropic,ue_isotropic", [(0, 1), (1, 1), (0, 0)],
                         ids=["3gpp-gnb", "isotropic", "3gpp-both"])
def test_ns6g_path_equals_ns3_bit_for_bit(los, gnb_isotropic, ue_isotropic):
    r = _check(los=los, gnb_isotropic=gnb_isotropic, ue_isotropic=ue_isotropic)
    _assert_identical(r)
    assert r["avx_kernels"] == _has_avx()  # the kernels ran wherever they can
    # 12 periods of 10 ms from a boundary of 50 ms realisations: three realisations, two boundaries.
    assert r["realizations"] == 3
    assert (r["los_links"], r["nlos_links"]) == ((12, 0) if los else (0, 12))
    # Moving UEs: every link and beam target is evaluated in every period, through both paths alike.
    assert r["evaluations"] == 12 * 6 * 2 * 2
    # ns-3 asks again for every link's first matrix of the run (arrays never asked before are "out of
    # date"): those reuse their scattered clusters, and the gains above are still ns-3's bit for bit.
    assert r["matrices_reused"] == 6 * 2


@pytest.fixture
def scalar_kernels(monkeypatch):
    """A query process started with NS6G_RAN_SCALAR=1 (the scalar loops instead of the AVX kernels), closed
    afterwards so that later queries start an ordinary one."""
    monkeypatch.setenv("NS6G_RAN_SCALAR", "1")
    _query._close()
    yield
    _query._close()


def test_scalar_loops_equal_ns3_too(scalar_kernels):
    # The band sums and long terms run per AVX instruction wherever the processor has AVX; the scalar loops
    # that run elsewhere must give ns-3's values as well.
    r = _check(los=1, gnb_isotropic=0, ue_isotropic=0)
    assert r["avx_kernels"] == 0
    _assert_identical(r)


def test_drawn_los_scatterers_static_ues_and_link_streams():
    # 38.901's drawn LoS state (both states occur), UMa, a static layout fading through moving scatterers.
    r = _check("UMa", los=2, ue_speed_mps=0.0, scatterer_speed_mps=10.0, ues=10, max_distance_m=300.0,
               link_fading_streams=1)
    _assert_identical(r)
    assert r["los_links"] > 0 and r["nlos_links"] > 0
    # Static UEs without scatterers: gains are cached within a realisation, in both channels alike.
    r = _check(los=2, ue_speed_mps=0.0, updates=6, realization_period_s=0.03)
    _assert_identical(r)
    assert r["evaluations"] == 2 * 6 * 2 * 2


def test_other_arrays_bands_and_fast_ues():
    _assert_identical(_check(gnb_rows=8, gnb_columns=8, ue_rows=2, ue_columns=2, ue_speed_mps=30.0,
                             frequency_hz=28e9, rb_bandwidth_hz=1.44e6, num_rbs=66, rb_group_size=1))
    _assert_identical(_check("InH", los=2, max_distance_m=40.0, gnb_rows=1, gnb_columns=1, ue_rows=1,
                             ue_columns=1, frequency_hz=3.5e9, num_rbs=51, rb_group_size=3))


def test_bad_requests_are_refused():
    with pytest.raises(ScenarioError, match="fading_path_check record 0: ues 1..200"):
        _check(ues=0)
    with pytest.raises(ScenarioError, match="fading_path_check record 0: los = 3"):
        _check(los=3)

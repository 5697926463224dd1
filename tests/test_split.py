"""Split-computing profiles read by C++ (mec/model/layer-profile.*, asked through the profile_load query)
and the analytical split model of ns6g.compute.split (docs/split.md)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ns6g.core.bridge import ScenarioError
from ns6g.compute.devices import device
from ns6g.learners.profiles import COLUMNS, read_profile
from ns6g.radio._query import query
from ns6g.compute.split import (
    LATENCY_COLUMNS,
    SplitTarget,
    available_models,
    device_energy_j,
    feasible_cuts,
    greedy_split,
    greedy_split_target,
    load_profile,
    peer_memory_bytes,
    predict_split_latency,
    profiles_dir,
)

SHIPPED = sorted(profiles_dir().glob("*.csv"))
_NUMERIC = [c for c in COLUMNS if c not in ("cut", "layer")]


def cpp_profile(path="", model="", dtype="") -> pd.DataFrame:
    reply = query(
        "profile_load",
        {
            "path": np.array([str(path).encode()], dtype="S256"),
            "model": np.array([model.encode()], dtype="S64"),
            "dtype": np.array([dtype.encode()], dtype="S8"),
        },
    )
    df = pd.DataFrame({f: reply[f] for f in reply.dtype.names})
    df["layer"] = df["layer"].str.decode("utf-8")
    return df


# ---------------------------------------------------------------------------------------------------
# C++ reader


def test_every_model_and_dtype_is_shipped():
    assert len(SHIPPED) == 8
    assert available_models() == ["mobilenet_v2_style", "resnet18_style", "small_cnn", "small_transformer"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_cpp_reads_every_shipped_profile_like_python(path):
    py = read_profile(path)
    cpp = cpp_profile(path)
    assert (cpp["request"] == 0).all()
    assert cpp["cut"].tolist() == py["cut"].tolist()
    assert cpp["layer"].tolist() == py["layer"].tolist()
    for col in _NUMERIC:
        assert cpp[col].to_numpy().tolist() == py[col].astype(np.float64).tolist(), col


def test_cpp_finds_a_model_in_a_folder():
    cpp = cpp_profile(profiles_dir(), "resnet18_style", "int8")
    py = load_profile("resnet18_style", "int8")
    assert cpp["transfer_bytes"].tolist() == py["transfer_bytes"].astype(float).tolist()


def test_several_requests_in_one_query():
    paths = [str(p).encode() for p in SHIPPED[:3]]
    reply = query("profile_load", {"path": np.array(paths, dtype="S256")})
    sizes = [len(read_profile(p)) for p in SHIPPED[:3]]
    assert np.bincount(reply["request"]).tolist() == sizes


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad-fp32.csv"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = (profiles_dir() / "small_cnn-fp32.csv").read_text(encoding="utf-8")


def test_good_copy_is_read(tmp_path):
    assert len(cpp_profile(_write(tmp_path, GOOD))) == 7


@pytest.mark.parametrize(
    "old, new, needles",
    [
        ("ns6g-profile-version=1", "ns6g-profile-version=2", ["line 4", "version"]),
        ("cut,layer,device_flops", "cut,layer,server_flops", ["line 5", "header row"]),
        ("\n2,pool1,225792,", "\n2,pool1,225792.5,", ["line 8", "device_flops", "225792.5"]),
        ("\n3,conv2,2032128,403968,19200,", "\n3,conv2,2032128,403968,x,", ["line 9", "device_param_bytes"]),
        ("\n4,pool2,", "\n5,pool2,", ["line 10", "cut"]),
        ("# dtype=fp32\n", "", ["line 2", "dtype"]),
        ("# dtype=fp32", "# dtype=fp16", ["line 2", "dtype", "fp16"]),
    ],
)
def test_cpp_refuses_malformed_profiles_naming_the_line(tmp_path, old, new, needles):
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ScenarioError) as info:
        cpp_profile(path)
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message


def test_cpp_refuses_a_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="cannot open"):
        cpp_profile(tmp_path / "nope.csv")


def test_unknown_model_is_refused_listing_the_models():
    with pytest.raises(ScenarioError) as info:
        cpp_profile(profiles_dir(), "vgg16", "fp32")
    for name in available_models():
        assert name in str(info.value)
    with pytest.raises(ValueError) as info:
        load_profile("vgg16")
    for name in available_models():
        assert name in str(info.value)
    with pytest.raises(ScenarioError, match="dtype"):
        cpp_profile(profiles_dir(), "small_cnn", "fp16")


# ---------------------------------------------------------------------------------------------------
# Analytical model


def test_latency_parts_sum_exactly():
    prof = load_profile("mobilenet_v2_style")
    lat = predict_split_latency(prof, 1.2e10, 3.03e13, 2e7, 5e7, rtt_s=0.004)
    assert list(lat.columns) == LATENCY_COLUMNS
    parts = lat["device_compute_s"] + lat["uplink_s"] + lat["server_compute_s"] + lat["downlink_s"] + lat["rtt_s"]
    assert (lat["total_s"] == parts).all()
    n = len(prof) - 1
    # the parts themselves
    assert lat["device_compute_s"].tolist() == (prof["device_flops"] / 1.2e10).tolist()
    assert lat["uplink_s"].iloc[0] == prof["transfer_bytes"].iloc[0] * 8 / 2e7
    assert lat["downlink_s"].iloc[0] == prof["transfer_bytes"].iloc[n] * 8 / 5e7
    assert (lat["rtt_s"].iloc[:n] == 0.004).all()
    # the last cut runs locally: nothing crosses the network
    last = lat.iloc[n]
    assert last["uplink_s"] == last["server_compute_s"] == last["downlink_s"] == last["rtt_s"] == 0.0
    assert last["total_s"] == last["device_compute_s"]
    # result size override
    lat2 = predict_split_latency(prof, 1.2e10, 3.03e13, 2e7, 5e7, result_cut_bytes=1000)
    assert lat2["downlink_s"].iloc[0] == 1000 * 8 / 5e7


def test_latency_refuses_bad_rates():
    prof = load_profile("small_cnn")
    with pytest.raises(ValueError, match="uplink_bps"):
        predict_split_latency(prof, 1e9, 1e12, 0.0, 1e6)
    with pytest.raises(ValueError, match="rtt_s"):
        predict_split_latency(prof, 1e9, 1e12, 1e6, 1e6, rtt_s=-1)


def test_greedy_split_moves_to_the_device_as_the_uplink_slows():
    prof = load_profile("small_cnn")
    pi, server = device("raspberry-pi-4"), device("edge-gpu-server")
    rates = np.geomspace(1e9, 1e5, 41)
    cuts = [greedy_split(prof, pi["flops"], server["flops"], r, 1e8) for r in rates]
    n = len(prof) - 1
    assert all(a <= b for a, b in zip(cuts, cuts[1:])), cuts
    assert cuts[0] < n  # fast uplink: something is offloaded
    assert cuts[-1] == n  # 100 kbit/s: everything local


def test_greedy_tie_goes_to_the_device():
    prof = pd.DataFrame(
        {
            "cut": [0, 1, 2],
            "layer": ["input", "a", "b"],
            "device_flops": [0, 0, 100],
            "server_flops": [100, 100, 0],
            "transfer_bytes": [10, 10, 1],
            "device_memory_bytes": [10, 10, 20],
        }
    )
    # cuts 0 and 1 tie exactly (pool-like block without FLOPs and same output size)
    assert greedy_split(prof, 1.0, 1e6, 1.0, 1e9) == 1


def test_device_energy():
    prof = load_profile("small_cnn")
    pi = device("raspberry-pi-4")
    n = len(prof) - 1
    assert device_energy_j(prof, n, pi, 1e6) == prof["device_flops"].iloc[n] * pi["energy_per_flop_j"]
    e = device_energy_j(prof, 3, "raspberry-pi-4", 1e6)
    tx_w = 10 ** ((20 - 30) / 10)  # 20 dBm = 0.1 W
    expected = prof["device_flops"].iloc[3] * pi["energy_per_flop_j"] + tx_w * prof["transfer_bytes"].iloc[3] * 8 / 1e6
    assert e == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="no radio"):
        device_energy_j(prof, 0, "cortex-m7", 1e6)
    assert device_energy_j(prof, n, "cortex-m7", 1e6) > 0


def test_feasible_cuts_on_a_microcontroller():
    prof = load_profile("small_cnn")
    m4 = device("cortex-m4")
    ok = feasible_cuts(prof, m4["memory_bytes"])
    assert ok == [c for c in prof["cut"] if prof["device_memory_bytes"].iloc[c] <= m4["memory_bytes"]]
    assert 0 in ok and len(prof) - 1 not in ok  # the fully connected layers do not fit 256 KB
    assert max(ok) < 5
    assert feasible_cuts(prof, device("raspberry-pi-4")["memory_bytes"]) == list(range(len(prof)))
    big = load_profile("resnet18_style")
    assert len(prof) - 1 not in feasible_cuts(big, m4["memory_bytes"])
    # greedy restricted to feasible cuts
    cut = greedy_split(prof, m4["flops"], 3.03e13, 1e5, 1e5, device_memory_bytes=m4["memory_bytes"])
    assert cut in ok


EDGE, PEER = 0, 2


def test_peer_memory_is_the_rest_weights_plus_its_largest_tensor():
    p = load_profile("resnet18_style", "fp32")
    need = peer_memory_bytes(p)
    assert need.shape == (len(p),) and need[-1] == 0
    for k in range(len(p) - 1):
        assert need[k] == p.server_param_bytes[k] + p.transfer_bytes[k:].max()
    # The rest shrinks as the cut moves to the device (fewer weights left).
    assert need[0] > need[len(p) // 2] > need[-1]


def test_greedy_target_picks_the_peer_when_the_uplink_is_slow_and_the_sidelink_fast():
    p = load_profile("resnet18_style", "fp32")
    rpi, phone, edge = (float(device(n)["flops"]) for n in ("raspberry-pi-4", "smartphone", "edge-gpu-server"))
    slow_up, fast_side = 0.2e6, 50e6
    cut, target = greedy_split_target(p, rpi, {EDGE: SplitTarget(edge, slow_up, slow_up),
                                               PEER: SplitTarget(phone, fast_side, fast_side)})
    assert target == PEER
    # It is the argmin over both targets' predicted totals (exact: the same sums).
    peer_total = predict_split_latency(p, rpi, phone, fast_side, fast_side)["total_s"]
    edge_total = predict_split_latency(p, rpi, edge, slow_up, slow_up)["total_s"]
    assert peer_total[cut] == min(peer_total.min(), edge_total.min())
    # Swap the rates: the edge (faster compute) wins.
    _, target = greedy_split_target(p, rpi, {EDGE: SplitTarget(edge, fast_side, fast_side),
                                             PEER: SplitTarget(phone, slow_up, slow_up)})
    assert target == EDGE


def test_greedy_target_skips_cuts_the_peer_cannot_hold():
    p = load_profile("resnet18_style", "fp32")
    rpi, phone = float(device("raspberry-pi-4")["flops"]), float(device("smartphone")["flops"])
    need = peer_memory_bytes(p)
    memory = float(need[len(p) // 2])  # only cuts from the middle on fit the peer
    cut, target = greedy_split_target(p, rpi, {PEER: SplitTarget(phone, 1e9, 1e9, memory_bytes=memory)})
    assert target == PEER and need[cut] <= memory and cut >= len(p) // 2
    # Unconstrained, the fast link would send everything (cut 0).
    assert greedy_split_target(p, rpi, {PEER: SplitTarget(phone, 1e9, 1e9)})[0] == 0
    with pytest.raises(ValueError, match="no \\(cut, target\\) pair"):
        greedy_split_target(p, rpi, {PEER: SplitTarget(phone, 1e9, 1e9)}, device_memory_bytes=0.0)
    with pytest.raises(ValueError, match="targets is empty"):
        greedy_split_target(p, rpi, {})


def test_greedy_target_with_one_target_matches_greedy_split():
    p = load_profile("resnet18_style", "fp32")
    rpi, edge = float(device("raspberry-pi-4")["flops"]), float(device("edge-gpu-server")["flops"])
    for mbps in (0.1, 1.0, 10.0, 100.0):
        bps = mbps * 1e6
        assert greedy_split_target(p, rpi, {EDGE: SplitTarget(edge, bps, bps)}) == (
            greedy_split(p, rpi, edge, bps, bps), EDGE)

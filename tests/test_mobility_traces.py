"""Mobility traces (ns6g.radio.mobility): ns-2 parsing, SUMO FCD conversion, generators, the environment's use."""

import numpy as np
import pytest

from ns6g.core.config import ConfigError
from ns6g.envs.spectrum_allocation import SpectrumAllocationEnv
from ns6g.radio.mobility import (TraceError, highway_trace, positions_at, read_ns2_trace, sumo_fcd_to_ns2,
                           urban_grid_trace)

GOOD = """\
# a hand-written trace
$node_(0) set X_ 10.0
$node_(0) set Y_ 20.5
$node_(0) set Z_ 1.5

$node_(1) set X_ -5
$node_(1) set Y_ 0
$ns_ at 2.0 "$node_(0) setdest 40.0 20.5 3.0"
$ns_ at 0.5 "$node_(1) setdest -5 8 4"
"""


def write(tmp_path, text, name="trace.ns_movements"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_a_hand_written_trace(tmp_path):
    trace = read_ns2_trace(write(tmp_path, GOOD))
    assert list(trace.columns) == ["node", "time_s", "x_m", "y_m", "z_m", "speed_mps", "kind"]
    assert trace["kind"].tolist() == ["initial", "setdest", "initial", "setdest"]
    first = trace.iloc[0]
    assert (first["node"], first["x_m"], first["y_m"], first["z_m"]) == (0, 10.0, 20.5, 1.5)
    move = trace.iloc[1]
    assert (move["time_s"], move["x_m"], move["y_m"], move["z_m"], move["speed_mps"]) == (2.0, 40.0, 20.5, 1.5, 3.0)
    assert trace.iloc[2][["x_m", "y_m", "z_m"]].tolist() == [-5.0, 0.0, 0.0]  # Z_ defaults to 0
    # node 0 waits until 2 s, then 3 m/s for 10 s; node 1 goes 8 m at 4 m/s from 0.5 s
    np.testing.assert_allclose(positions_at(trace, 1.0), [[10, 20.5, 1.5], [-5, 2, 0]])
    np.testing.assert_allclose(positions_at(trace, 7.0), [[25, 20.5, 1.5], [-5, 8, 0]])
    np.testing.assert_allclose(positions_at(trace, 100.0), [[40, 20.5, 1.5], [-5, 8, 0]])


@pytest.mark.parametrize("bad_line, what", [
    ("$node_(a) set X_ 1.0", "bad node reference"),
    ("$node(0) set X_ 1.0", "bad node reference"),
    ("$node_(1) set Z_ ten", "Z_ is not a number"),
    ('$ns_ at 1.0 "$node_(0) setdest 1.0 abc 2.0"', "not a number"),
    ('$ns_ at 1.0 "$node_(0) setdest 1.0 2.0 -3.0"', "speed is negative"),
    ('$ns_ at -1.0 "$node_(0) setdest 1.0 2.0 3.0"', "time is negative"),
    ('$ns_ at 1.0 "$node_(0) teleport 1.0 2.0"', "unknown command"),
    ("$god_ set-dist 0 1 2", "unknown command"),
], ids=["node_syntax", "node_name", "coordinate", "setdest_coordinate", "negative_speed", "negative_time",
        "unknown_at_command", "unknown_command"])
def test_malformed_lines_name_the_file_and_line(tmp_path, bad_line, what):
    lines = GOOD.splitlines()
    lines.insert(5, bad_line)  # line 6
    path = write(tmp_path, "\n".join(lines) + "\n", "broken.ns2")
    with pytest.raises(TraceError, match=what) as info:
        read_ns2_trace(path)
    message = str(info.value)
    assert message.startswith(f"{path}:6: ") and bad_line in message, message


def test_node_ids_must_be_contiguous_and_positioned(tmp_path):
    with pytest.raises(TraceError, match=r"broken.ns2:3: .*node 1 is missing"):
        read_ns2_trace(write(tmp_path, "$node_(0) set X_ 0\n$node_(0) set Y_ 0\n$node_(2) set X_ 0\n", "broken.ns2"))
    with pytest.raises(TraceError, match=r"broken.ns2:2: node 1 has no initial Y_"):
        read_ns2_trace(write(tmp_path, "$node_(0) set X_ 0\n$node_(1) set X_ 0\n$node_(0) set Y_ 0\n",
                             "broken.ns2"))


FCD = """\
<?xml version="1.0" encoding="UTF-8"?>
<fcd-export>
    <timestep time="0.00">
        <vehicle id="carB" x="100.00" y="50.00" angle="90.00" type="DEFAULT_VEHTYPE" speed="0.00" lane="e_0"/>
    </timestep>
    <timestep time="1.00">
        <vehicle id="carB" x="110.00" y="50.00" speed="10.00"/>
        <vehicle id="carA" x="0.00" y="0.00" speed="0.00"/>
    </timestep>
    <timestep time="2.50">
        <vehicle id="carB" x="110.00" y="65.00" speed="10.00"/>
        <vehicle id="carA" x="3.00" y="4.00" speed="3.33"/>
    </timestep>
    <timestep time="3.00">
        <vehicle id="carA" x="3.00" y="4.00" speed="0.00"/>
    </timestep>
    <timestep time="4.00">
        <vehicle id="carA" x="-0.123456" y="7.654321" speed="5.00"/>
    </timestep>
</fcd-export>
"""


def test_sumo_fcd_conversion_round_trips(tmp_path):
    out = tmp_path / "fcd.ns2"
    assert sumo_fcd_to_ns2(write(tmp_path, FCD, "fcd.xml"), out) == 2
    trace = read_ns2_trace(out)
    expected = {  # time -> {node: (x, y)}; carB is node 0 (appears first), carA node 1
        0.0: {0: (100, 50)}, 1.0: {0: (110, 50), 1: (0, 0)}, 2.5: {0: (110, 65), 1: (3, 4)},
        3.0: {1: (3, 4)}, 4.0: {1: (-0.123456, 7.654321)},
    }
    for time_s, where in expected.items():
        positions = positions_at(trace, time_s)
        for node, xy in where.items():
            np.testing.assert_allclose(positions[node, :2], xy, atol=1e-6, rtol=0)
    np.testing.assert_allclose(positions_at(trace, 0.5)[1, :2], [0, 0])  # held at its first position
    np.testing.assert_allclose(positions_at(trace, 9.0)[0, :2], [110, 65])  # held after it left
    assert positions_at(trace, 0)[:, 2].tolist() == [1.5, 1.5]  # no z attribute: 1.5 m
    assert sumo_fcd_to_ns2(tmp_path / "fcd.xml", tmp_path / "one.ns2", max_nodes=1) == 1
    assert read_ns2_trace(tmp_path / "one.ns2")["node"].nunique() == 1


@pytest.mark.parametrize("old, new, line, what", [
    ('<vehicle id="carA" x="3.00" y="4.00" speed="0.00"/>', '<vehicle id="carA" y="4.00" speed="0.00"/>', 15,
     "without the x attribute"),
    ('x="110.00" y="65.00"', 'x="110.00" y="6S.00"', 11, "y is not a number"),
    ('x="3.00" y="4.00" speed="0.00"', 'x="3.00" y="4.00"speed="0.00"', 15, "malformed XML"),
    ('<timestep time="4.00">', '<timestep time="2.00">', 17, "not after the previous"),
], ids=["missing_x", "bad_number", "malformed_xml", "time_backwards"])
def test_malformed_fcd_names_the_line(tmp_path, old, new, line, what):
    assert FCD.count(old) == 1
    path = write(tmp_path, FCD.replace(old, new), "bad_fcd.xml")
    with pytest.raises(TraceError, match=what) as info:
        sumo_fcd_to_ns2(path, tmp_path / "out.ns2")
    assert str(info.value).startswith(f"{path}:{line}: "), str(info.value)


def test_highway_is_deterministic_and_stays_on_its_lanes(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for path, seed in ((a, 3), (b, 3), (c, 4)):
        highway_trace(path, 10, length_m=500, lanes=2, lane_width_m=3.5, duration_s=60, seed=seed)
    assert a.read_text() == b.read_text() != c.read_text()
    trace = read_ns2_trace(a)
    assert trace["node"].nunique() == 10
    lanes = np.array([-5.25, -1.75, 1.75, 5.25])
    assert np.abs(trace["y_m"].to_numpy()[:, None] - lanes).min(axis=1).max() < 1e-6
    assert trace["x_m"].abs().max() <= 250 + 1e-6
    moves = trace[trace["kind"] == "setdest"]
    assert moves["speed_mps"].between(25, 35).all() and moves["time_s"].max() < 60
    # every vehicle is still on the road, moving, at the end
    start, end = positions_at(trace, 0.0), positions_at(trace, 60.0)
    assert np.abs(end[:, 0]).max() <= 250 + 1e-6 and np.all(np.abs(end - start).max(axis=1) > 1)


def test_urban_grid_is_deterministic_and_stays_on_streets(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for path, seed in ((a, 1), (b, 1), (c, 2)):
        urban_grid_trace(path, 12, blocks=(4, 3), block_m=100, duration_s=120, seed=seed)
    assert a.read_text() == b.read_text() != c.read_text()
    trace = read_ns2_trace(a)
    x, y = trace["x_m"].to_numpy(), trace["y_m"].to_numpy()

    def on_line(v, origin):
        return np.abs((v - origin) / 100 - np.round((v - origin) / 100)) * 100 < 1e-6

    assert np.all(on_line(x, -200) | on_line(y, -150))
    assert np.all((np.abs(x) <= 200 + 1e-6) & (np.abs(y) <= 150 + 1e-6))
    # positions in between waypoints are on streets too, and vehicles turn (both axes change)
    for t in np.linspace(0, 120, 25):
        p = positions_at(trace, t)
        assert np.all(on_line(p[:, 0], -200) | on_line(p[:, 1], -150))
    moved = np.abs(positions_at(trace, 120) - positions_at(trace, 0))
    assert np.any(moved[:, 0] > 1) and np.any(moved[:, 1] > 1)


def _positions(env, steps):
    env.reset(seed=1)
    out = []
    for _ in range(steps):
        env.step(env.action_space.sample())
        radio = env.radio_samples()
        out.append(np.c_[radio["x_m"], radio["y_m"]])
    return np.stack(out)


def test_environment_with_highway_mobility_moves_ues():
    with SpectrumAllocationEnv(ues=4, episode_steps=20, decision_slots=200, scheduler="pf",
                               mobility="highway") as env:
        trace_path = env._generated_trace()
        assert trace_path.exists()
        positions = _positions(env, 20)
    assert not trace_path.parent.exists()  # the environment's folder is gone after close
    assert np.abs(positions[-1] - positions[0]).max() > 10  # 1.9 s at 25..35 m/s
    assert np.abs(positions[:, :, 1]).max() <= 3 * 3.5 + 1e-6  # on the lanes


def test_environment_follows_a_given_trace(tmp_path):
    path = tmp_path / "ues.ns2"
    urban_grid_trace(path, 5, blocks=(3, 3), block_m=80, duration_s=30, seed=7)
    trace = read_ns2_trace(path)
    with SpectrumAllocationEnv(ues=4, episode_steps=10, decision_slots=200, scheduler="pf", mobility="trace",
                               mobility_trace=str(path)) as env:
        samples = [(env.reset(seed=2)[1]["sim_time_s"], env.radio_samples())]  # reset runs one interval
        for _ in range(3):
            samples.append((env.step(env.action_space.sample())[4]["sim_time_s"], env.radio_samples()))
    for time_s, radio in samples:
        np.testing.assert_allclose(np.c_[radio["x_m"], radio["y_m"]], positions_at(trace, time_s)[:4, :2],
                                   atol=1e-6, rtol=0)
    assert samples[-1][0] > samples[0][0] > 0


def test_environment_starts_ues_at_the_initial_positions(tmp_path):
    path = tmp_path / "start.ns2"
    lines = [f"$node_({i}) set {a} {v}" for i in range(3) for a, v in (("X_", 10.0 * i - 7.25), ("Y_", 3.0 + i),
                                                                        ("Z_", 1.5))]
    lines.append('$ns_ at 5.0 "$node_(0) setdest 50 50 10"')
    path.write_text("\n".join(lines) + "\n")
    with SpectrumAllocationEnv(ues=3, episode_steps=5, scheduler="pf", mobility="trace",
                               mobility_trace=str(path)) as env:
        env.reset(seed=0)  # the samples of the first decision interval (0.005 s): still at the start
        radio = env.radio_samples()
    initial = positions_at(read_ns2_trace(path), 0.0)
    np.testing.assert_allclose(np.c_[radio["x_m"], radio["y_m"]], initial[:, :2], atol=1e-6, rtol=0)


def test_trace_configuration_errors_are_refused(tmp_path):
    path = tmp_path / "two.ns2"
    highway_trace(path, 2, duration_s=5)
    with pytest.raises(ConfigError, match=r"mobility_trace: .*has 2 nodes, fewer than ues=3"):
        SpectrumAllocationEnv(ues=3, mobility="trace", mobility_trace=str(path))
    with pytest.raises(ConfigError, match="mobility_trace: mobility='trace' needs"):
        SpectrumAllocationEnv(ues=2, mobility="trace")
    with pytest.raises(ConfigError, match="mobility_trace: only used with mobility='trace'"):
        SpectrumAllocationEnv(ues=2, mobility="static", mobility_trace=str(path))
    broken = write(tmp_path, "$node_(0) set X_ 1\n$node_(0) set Y_ nope\n", "broken.ns2")
    with pytest.raises(ConfigError, match=r"mobility_trace: .*broken.ns2:2: Y_ is not a number"):
        SpectrumAllocationEnv(ues=1, mobility="trace", mobility_trace=str(broken))
    with pytest.raises(ConfigError, match="mobility_trace: .*No such file"):
        SpectrumAllocationEnv(ues=1, mobility="trace", mobility_trace=str(tmp_path / "missing.ns2"))

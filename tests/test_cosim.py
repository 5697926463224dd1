"""ns6g.learners.cosim: learner operations on the fl-network scenario (ns-3 owns the clock).

Profile-free op patterns only (N downloads, N computes, N uploads); every scenario runs a few simulated
seconds at most. Simulated times have a 1 ns resolution; tolerances are stated where they apply."""

import math
import os
import subprocess

import numpy as np
import pytest

from ns6g.core.bridge import ScenarioError
from ns6g.core.config import ConfigError
from ns6g.compute.devices import DEVICES
from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig, round_timeline
from ns6g.learners.network import CLOUD, Compute, Network, Transfer, client, edge
from ns6g.core.runs import RunWriter
from ns6g.analysis import load_run

NS = 1e-9  # one ns-3 time step (s)
SLOT = 0.5e-3  # slot of numerology 1 (s)
SLOW_RADIO = dict(fast_fading=False)  # fewer events; results still depend on the seed (shadowing)


def round_ops(n: int, nbytes: int, flops: float, start_id: int = 1) -> list:
    """One FedAvg-like round without profiles: n downloads, n computes after them, n uploads after those.
    Ids are start_id, start_id + 1, ... in list order."""
    down = [Transfer(edge(0), client(i), nbytes, "model_down") for i in range(n)]
    train = [Compute(client(i), flops, "train", after=(start_id + i,)) for i in range(n)]
    up = [Transfer(client(i), edge(0), nbytes, "model_up", after=(start_id + n + i,)) for i in range(n)]
    return down + train + up


def by_id(done):
    return {c.op_id: c for c in done}


def test_is_a_network_and_runs_a_round_in_dependency_order():
    with CoSimNetwork(FlNetworkConfig(clients=3, **SLOW_RADIO), seed=1) as net:
        assert isinstance(net, Network)
        assert net.clients == 3 and net.now_s() == 0.0
        ids = net.submit(round_ops(3, 200_000, 1e9))
        assert ids == list(range(1, 10))
        done = net.run()
        assert sorted(c.op_id for c in done) == ids and all(c.ok for c in done)
        ends = [c.end_s for c in done]
        assert ends == sorted(ends)  # completion order
        c = by_id(done)
        for i in range(3):
            down, train, up = c[1 + i], c[4 + i], c[7 + i]
            assert down.start_s == 0.0 and down.end_s > 0.0
            assert train.start_s == pytest.approx(down.end_s, abs=NS)  # starts when its dependency ends
            assert up.start_s == pytest.approx(train.end_s, abs=NS)
            assert up.end_s > up.start_s
        assert net.now_s() == max(ends)
        # A later call starts from the current time.
        (later,) = net.submit([Transfer(edge(0), client(0), 1000, "ping")])
        (again,) = net.run()
        assert again.op_id == later and again.start_s == pytest.approx(max(ends), abs=NS)


def test_several_dependencies_wait_for_the_last():
    with CoSimNetwork(FlNetworkConfig(clients=2, **SLOW_RADIO), seed=1) as net:
        a, b = net.submit([Compute(edge(0), 3.03e13, "a"), Compute(CLOUD, 6.7e13 * 2, "b")])  # 1 s, 2 s
        (joined,) = net.submit([Transfer(edge(0), CLOUD, 1000, "x", after=(a, b))])
        c = by_id(net.run())
        assert c[a].end_s == pytest.approx(1.0, abs=NS) and c[b].end_s == pytest.approx(2.0, abs=NS)
        assert c[joined].start_s == pytest.approx(2.0, abs=NS)


@pytest.mark.parametrize("node,device", [("client/0", "smartphone"), ("edge/0", "edge-gpu-server"),
                                         ("cloud", "cloud-gpu")])
def test_compute_takes_flops_over_device_flops_and_costs_flops_times_energy_per_flop(node, device):
    flops_per_s = float(DEVICES.loc[device, "flops"])
    joules_per_flop = float(DEVICES.loc[device, "energy_per_flop_j"])
    work = 2.5 * flops_per_s  # 2.5 s
    with CoSimNetwork(FlNetworkConfig(clients=1, **SLOW_RADIO), seed=1) as net:
        first, second = net.submit([Compute(node, work, "a"), Compute(node, work, "b")])
        c = by_id(net.run())
    # Tolerance: ns-3's 1 ns clock (rounding of each event time).
    assert c[first].end_s - c[first].start_s == pytest.approx(2.5, abs=2 * NS)
    assert c[first].energy_j == pytest.approx(work * joules_per_flop, rel=1e-12)
    # One FIFO core: the second waits for the first (it was submitted at 0 and ends at 5 s).
    assert c[second].end_s == pytest.approx(5.0, abs=3 * NS)


def test_heterogeneous_clients_compute_at_their_own_device_speed():
    config = FlNetworkConfig(clients=2, client_devices=("smartphone", "raspberry-pi-4"), **SLOW_RADIO)
    with CoSimNetwork(config, seed=1) as net:
        ids = net.submit([Compute(client(0), 1.2e10, "t"), Compute(client(1), 1.2e10, "t")])
        c = by_id(net.run())
    assert c[ids[0]].end_s == pytest.approx(1.2e10 / 2.0e12, abs=2 * NS)
    assert c[ids[1]].end_s == pytest.approx(1.0, abs=2 * NS)  # raspberry-pi-4: 12 GFLOP/s


def transfer_time(config: dict, op: Transfer, seed: int = 1) -> float:
    with CoSimNetwork(FlNetworkConfig(**config), seed=seed) as net:
        net.submit([op])
        (c,) = net.run()
        assert c.ok
        return c.end_s - c.start_s


def test_more_radio_bandwidth_completes_the_same_bytes_sooner():
    up = Transfer(client(0), edge(0), 2_000_000, "model_up")
    narrow = transfer_time(dict(clients=1, bandwidth_hz=20e6, **SLOW_RADIO), up)
    wide = transfer_time(dict(clients=1, bandwidth_hz=40e6, **SLOW_RADIO), up)
    assert wide < 0.75 * narrow  # twice the RBs; the margin leaves room for the fixed delays


def test_more_wan_bandwidth_completes_the_same_bytes_sooner_and_delays_add_up():
    up = Transfer(edge(0), CLOUD, 10_000_000, "to_cloud")
    slow = transfer_time(dict(clients=1, wan_rate_mbps=100.0, **SLOW_RADIO), up)
    fast = transfer_time(dict(clients=1, wan_rate_mbps=1000.0, **SLOW_RADIO), up)
    assert fast < slow
    # Store-and-forward of 60 000-byte datagrams over edge link then WAN: serialisation on the
    # bottleneck + propagation (0.1 + 20 ms) + one datagram on the faster link. Tolerance 1 ms
    # (IP/UDP/PPP headers add 0.1 % of the bytes).
    expected = 10_000_000 * 8 / 100e6 + 0.0201 + 60_000 * 8 / 10e9
    assert slow == pytest.approx(expected, abs=1e-3)


def test_uplinks_of_many_clients_share_the_cell():
    nbytes = 300_000
    with CoSimNetwork(FlNetworkConfig(clients=8, **SLOW_RADIO), seed=2) as net:
        (alone,) = net.submit([Transfer(client(0), edge(0), nbytes, "up")])
        (a,) = net.run()
        t0 = net.now_s()
        ids = net.submit([Transfer(client(i), edge(0), nbytes, "up") for i in range(8)])
        together = by_id(net.run())
    single = a.end_s - a.start_s
    last = max(together[i].end_s for i in ids) - t0
    assert all(together[i].ok for i in ids)
    # Eight uploads through one cell: the last ends well after one alone would (at least 3x; the
    # clients' channels differ, so not exactly 8x).
    assert last > 3 * single
    # Energy: tx power x air time, so positive and at most 0.2 W x the transfer's duration (to a slot).
    for i in ids:
        c = together[i]
        assert 0 < c.energy_j <= 0.2 * (c.end_s - c.start_s + SLOT)


def test_uplink_shares_give_the_larger_share_the_earlier_finish():
    nbytes = 500_000
    with CoSimNetwork(FlNetworkConfig(clients=2, **SLOW_RADIO), seed=3) as net:
        even = by_id(net.run(net.submit([Transfer(client(i), edge(0), nbytes, "up") for i in range(2)])))
        t0 = net.now_s()
        net.set_uplink_shares({0: 0.1, 1: 0.9})
        ids = net.submit([Transfer(client(i), edge(0), nbytes, "up") for i in range(2)])
        skewed = by_id(net.run(ids))
        net.set_uplink_shares({0: None, 1: None})
    assert all(c.ok for c in [*even.values(), *skewed.values()])
    slow, fast = skewed[ids[0]].end_s - t0, skewed[ids[1]].end_s - t0
    even_1 = even[2].end_s
    assert fast < even_1  # 90 % of the RBGs beats half of them
    assert slow > fast


def test_downlink_energy_is_zero_and_client_to_client_goes_through_the_gnb():
    with CoSimNetwork(FlNetworkConfig(clients=2, **SLOW_RADIO), seed=1) as net:
        down, c2c, same, far = net.submit([Transfer(edge(0), client(0), 100_000, "model_down"),
                                           Transfer(client(0), client(1), 100_000, "d2d"),
                                           Transfer(edge(0), edge(0), 100_000, "local"),
                                           Transfer(CLOUD, client(1), 100_000, "model_down")])
        c = by_id(net.run())
    assert c[down].energy_j == 0.0 and c[far].energy_j == 0.0  # wired senders
    assert c[far].end_s > 0.020 + 0.001  # WAN (20 ms) and backhaul (1 ms) delays, then the radio
    assert c[c2c].energy_j > 0.0 and c[c2c].end_s > 0.001  # up and down the radio
    assert c[same] == type(c[same])(same, 0.0, 0.0, 0.0, True)  # a node to itself: at once


def test_disconnect_mid_round_fails_that_clients_ops_and_the_rest_complete():
    n = 4
    with CoSimNetwork(FlNetworkConfig(clients=n, **SLOW_RADIO), seed=1) as net:
        ids = net.submit(round_ops(n, 300_000, 4e12))  # training: 2 s on a smartphone
        net.disconnect(1, at_s=1.0)  # client 1 leaves while it trains
        c = by_id(net.run())
        assert sorted(c) == ids
        down, train, up = c[2], c[2 + n], c[2 + 2 * n]
        assert down.ok and not train.ok and not up.ok
        assert train.end_s == pytest.approx(1.0, abs=NS) and up.end_s == pytest.approx(1.0, abs=NS)
        assert up.start_s == up.end_s  # never started
        others = [c[k] for k in ids if k not in (2 + n, 2 + 2 * n)]
        assert all(o.ok for o in others)
        assert max(o.end_s for o in others) > 2.0  # the round still completes
        # Later operations involving it fail at once; others still run.
        late, fine = net.submit([Transfer(edge(0), client(1), 1000, "model_down"),
                                 Transfer(edge(0), client(0), 1000, "model_down")])
        c2 = by_id(net.run())
        assert not c2[late].ok and c2[fine].ok


def test_disconnect_during_an_upload_fails_it_and_its_dependants():
    with CoSimNetwork(FlNetworkConfig(clients=2, **SLOW_RADIO), seed=1) as net:
        up, agg = net.submit([Transfer(client(0), edge(0), 20_000_000, "model_up"),
                              Compute(edge(0), 1e9, "aggregate", after=(1,))])
        (other,) = net.submit([Transfer(client(1), edge(0), 100_000, "model_up")])
        net.disconnect(0, at_s=0.05)
        c = by_id(net.run())
    assert not c[up].ok and c[up].end_s == pytest.approx(0.05, abs=NS)
    assert 0 < c[up].energy_j <= 0.2 * (0.05 + SLOT)  # air time until it left (to a slot)
    assert not c[agg].ok and c[agg].end_s == pytest.approx(0.05, abs=NS)
    assert c[other].ok


def test_run_any_of_returns_at_the_first_completion():
    with CoSimNetwork(FlNetworkConfig(clients=1, **SLOW_RADIO), seed=1) as net:
        quick, slow = net.submit([Compute(CLOUD, 6.7e13, "q"), Compute(edge(0), 3.03e13 * 3, "s")])
        first = net.run([quick, slow], any_of=True)
        assert [c.op_id for c in first] == [quick] and net.now_s() == pytest.approx(1.0, abs=NS)
        rest = net.run()
        assert [c.op_id for c in rest] == [slow] and net.now_s() == pytest.approx(3.0, abs=NS)
        assert net.run() == []  # nothing left: time does not move
        assert net.now_s() == pytest.approx(3.0, abs=NS)


def completions(seed: int) -> list:
    with CoSimNetwork(FlNetworkConfig(clients=4), seed=seed) as net:  # fast fading on
        net.submit(round_ops(4, 200_000, 1e10))
        return net.run()


def test_same_seed_gives_identical_times_and_another_seed_other_times():
    first, again, other = completions(5), completions(5), completions(6)
    assert first == again
    assert [c.end_s for c in first] != [c.end_s for c in other]


def test_flows_table_gets_one_row_per_transfer(tmp_path):
    with RunWriter(tmp_path / "run", kind="learner") as writer:
        with CoSimNetwork(FlNetworkConfig(clients=2, **SLOW_RADIO), seed=1, writer=writer) as net:
            ids = net.submit(round_ops(2, 50_000, 1e9))
            net.disconnect(1, at_s=0.0)
            done = by_id(net.run())
    flows = load_run(tmp_path / "run").flows.sort_values("flow_id")
    transfers = [i for i in ids if i not in (3, 4)]
    assert flows["flow_id"].tolist() == transfers
    assert flows["src"].tolist() == [2, 2, 0, 1] and flows["dst"].tolist() == [0, 1, 2, 2]  # edge/0 is node 2
    assert flows["kind"].tolist() == ["model_down"] * 2 + ["model_up"] * 2
    assert flows["size_bytes"].tolist() == [50_000] * 4
    row = flows.set_index("flow_id").loc[1]
    assert row["end_s"] == done[1].end_s and row["energy_j"] == 0.0
    assert math.isnan(flows.set_index("flow_id").loc[2, "end_s"])  # to the disconnected client


def test_bad_input_is_refused_with_a_message_naming_the_problem():
    with pytest.raises(ConfigError, match="clients: Input should be greater than or equal to 1"):
        CoSimNetwork({"clients": 0})  # refused before any process starts
    with pytest.raises(ConfigError, match="cells"):
        FlNetworkConfig.from_user(cells=2)
    with pytest.raises(ConfigError, match="has no radio"):
        FlNetworkConfig.from_user(client_devices=("edge-gpu-server",))
    with pytest.raises(ConfigError, match="bandwidht_hz: unknown key"):
        FlNetworkConfig.from_user({"bandwidht_hz": 1e6})
    with CoSimNetwork(FlNetworkConfig(clients=2, **SLOW_RADIO), seed=1) as net:
        with pytest.raises(ValueError, match="unknown node 'client/2'"):
            net.submit([Transfer(edge(0), client(2), 10, "x")])
        with pytest.raises(ValueError, match="unknown node 'edge/1'"):
            net.submit([Compute(edge(1), 10, "x")])
        with pytest.raises(ValueError, match="nbytes must be in"):
            net.submit([Transfer(edge(0), client(0), -1, "x")])
        with pytest.raises(ValueError, match="nbytes must be an int"):
            net.submit([Transfer(edge(0), client(0), 1.5, "x")])
        with pytest.raises(ValueError, match="flops must be finite"):
            net.submit([Compute(client(0), math.nan, "x")])
        with pytest.raises(ValueError, match="dependency 7 is not the id of an earlier operation"):
            net.submit([Compute(client(0), 1, "x", after=(7,))])
        with pytest.raises(ValueError, match="dependency 1 is not the id"):
            net.submit([Compute(client(0), 1, "x", after=(1,))])  # itself
        with pytest.raises(TypeError, match="Transfer or a Compute"):
            net.submit(["train"])
        with pytest.raises(ValueError, match="not the id of a submitted operation"):
            net.run([1])
        with pytest.raises(ValueError, match="share of client 0 must be in"):
            net.set_uplink_shares({0: 0.0})
        with pytest.raises(ValueError, match="client index must be in 0..1"):
            net.disconnect(5, at_s=1.0)
        # Nothing was sent by the refused calls: ids still start at 1.
        assert net.submit([Compute(client(0), 1, "ok")]) == [1]
        net.run()
        with pytest.raises(ValueError, match="at_s must be a finite time >= now"):
            net.disconnect(0, at_s=-1.0)
        # The scenario checks too (a client bypassing Python's checks), and lives on.
        records = np.zeros(1, dtype=net.bridge.record_dtypes["op"])
        records[0]["id"], records[0]["kind"], records[0]["node"] = 9, 1, 0
        with pytest.raises(ScenarioError, match="ids must continue the sequence"):
            net.bridge.request("op", records)
        records[0]["id"], records[0]["node"] = 2, 99
        with pytest.raises(ScenarioError, match="node index out of range"):
            net.bridge.request("op", records)
        assert net.submit([Compute(client(1), 1, "ok")]) == [2] and net.run()[0].ok


def test_closing_leaves_no_process_behind():
    net = CoSimNetwork(FlNetworkConfig(clients=1, **SLOW_RADIO), seed=1)
    pid = net.bridge.pid
    net.close()
    net.close()
    assert subprocess.run(["ps", "-p", str(pid)], capture_output=True).returncode != 0
    with pytest.raises(RuntimeError, match="closed"):
        net.submit([Compute(client(0), 1, "x")])
    assert os.path.exists("/proc/self")  # (segments: checked by conftest's autouse fixture)


def test_a_thousand_clients_in_seven_cells_complete_a_round():
    n = 1000
    config = FlNetworkConfig(clients=n, cells=7, fast_fading=False)
    with CoSimNetwork(config, seed=1) as net:
        ids = net.submit(round_ops(n, 10_000, 1e9))
        done = net.run()
    assert sorted(c.op_id for c in done) == ids and all(c.ok for c in done)
    ups = [c for c in done if c.op_id > 2 * n]
    assert len(ups) == n and all(c.energy_j > 0 for c in ups)


def test_round_timeline_splits_each_devices_round_into_compute_transfers_and_waiting():
    n = 3
    ops = round_ops(n, 200_000, 1e10)
    with CoSimNetwork(FlNetworkConfig(clients=n, **SLOW_RADIO), seed=1) as net:
        ids = net.submit(ops)
        done = net.run()
    by_op = dict(zip(ids, ops, strict=True))
    timeline = round_timeline(by_op, done)
    c = by_id(done)
    span = max(x.end_s for x in done)
    assert set(timeline) == {*(client(i) for i in range(n)), edge(0)}
    for i in range(n):
        t = timeline[client(i)]
        down, train, up = c[1 + i], c[1 + n + i], c[1 + 2 * n + i]
        assert t.downlink_s == pytest.approx(down.end_s - down.start_s)
        assert t.compute_s == pytest.approx(0.005, abs=2 * NS)  # 1e10 FLOPs at 2 TFLOP/s
        assert t.uplink_s == pytest.approx(up.end_s - up.start_s)
        # Its ops run back to back from 0: the rest of the span is waiting.
        assert t.waiting_s == pytest.approx(span - up.end_s, abs=3 * NS)
        assert t.energy_j == pytest.approx(train.energy_j + up.energy_j)
    # the downloads overlap: the edge sends while any of them is in flight
    downloads = [c[1 + i] for i in range(n)]
    in_flight = max(d.end_s for d in downloads) - min(d.start_s for d in downloads)
    assert timeline[edge(0)].uplink_s == pytest.approx(in_flight)
    assert timeline[edge(0)].energy_j == 0.0
    with pytest.raises(ValueError, match="op 1 has no operation"):
        round_timeline({}, done)


def test_a_run_over_its_simulated_time_limit_fails_clearly_and_the_network_goes_on():
    with CoSimNetwork(FlNetworkConfig(clients=1, run_limit_s=0.5, **SLOW_RADIO), seed=1) as net:
        (long,) = net.submit([Compute(edge(0), 3.03e13, "1 s")])
        with pytest.raises(ScenarioError, match="did not complete within run-limit-s"):
            net.run()
        (done,) = net.run()  # the next run picks up where the last stopped (0.5 s)
        assert done.op_id == long and done.end_s == pytest.approx(1.0, abs=NS)


def test_any_node_reaches_any_node_with_several_cells_and_edges():
    config = FlNetworkConfig(clients=6, cells=3, edges=2, **SLOW_RADIO)
    nodes = [client(0), client(5), edge(0), edge(1), CLOUD]
    pairs = [(a, b) for a in nodes for b in nodes if a != b]
    with CoSimNetwork(config, seed=4) as net:
        assert [net.node_index(n) for n in nodes] == [0, 5, 6, 7, 8]
        ids = net.submit([Transfer(a, b, 150_000, "x") for a, b in pairs])
        c = by_id(net.run())
    assert all(c[i].ok for i in ids)
    for i, (a, b) in zip(ids, pairs, strict=True):
        if CLOUD in (a, b):
            assert c[i].end_s - c[i].start_s > 0.020  # the WAN's 20 ms one way
        assert (c[i].energy_j > 0) == a.startswith("client/")  # only radio senders pay


def test_the_background_start_raises_at_first_use_and_close_leaves_nothing(tmp_path):
    missing = tmp_path / "no-such-scenario"
    net = CoSimNetwork(FlNetworkConfig(clients=1, **SLOW_RADIO), seed=1, binary=missing)  # starting meanwhile
    with pytest.raises(FileNotFoundError, match="no-such-scenario"):
        net.run()
    with pytest.raises(RuntimeError, match="closed"):
        net.start()
    # Closed while the scenario is still starting: the start is waited for and its process stopped.
    net = CoSimNetwork(FlNetworkConfig(clients=1, **SLOW_RADIO), seed=1)
    net.close()
    assert net._bridge is None  # the autouse leak check then finds no segment or process of ours

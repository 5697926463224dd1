"""Horizontal collaborative inference over D2D neighbours (ns6g.learners.horizontal, docs/horizontal-inference.md):
short runs on the fl-network scenario with its sidelink."""

import pytest

from ns6g.core.config import ConfigError
from ns6g.learners.horizontal import REQUESTER, HorizontalConfig, run_horizontal, sidelink_packet_bytes

# small tasks: 8 frames of ResNet-18 from a Raspberry Pi 4 to smartphones within 30 m
BASE = {"frames": 8, "tasks": 1, "radius_m": 30.0, "neighbour_devices": ("smartphone",), "task_period_s": 0.2}


def latency(**kw) -> float:
    run = run_horizontal({**BASE, **kw}, seed=3)
    (task,) = run.tasks
    assert task.merged_frames == task.frames
    return task.latency_s


def test_latency_falls_as_neighbours_are_added_until_the_sidelink_saturates():
    # 16 frames for Jetson Nanos (4.7 ms a frame): compute is worth sharing, the 12 KB inputs cross the
    # sidelink in about 1 ms each, and the requester sends one transmission per slot
    kw = {"frames": 16, "neighbour_devices": ("jetson-nano",), "partitioner": "equal", "requester_computes": False}
    local = latency(**{**kw, "neighbours": 1, "partitioner": "local"})
    assert local == pytest.approx(16 * 1110845440 / 12e9, rel=1e-6)  # on the Raspberry Pi 4 alone
    by_k = {k: latency(**kw, neighbours=k) for k in (1, 2, 4, 8)}
    assert by_k[1] < local / 10
    assert by_k[1] > by_k[2] > by_k[4] > by_k[8]
    # the gains shrink: every input still crosses the requester's one sidelink transmitter
    assert by_k[1] - by_k[2] > by_k[2] - by_k[4] > by_k[4] - by_k[8]
    run = run_horizontal({**BASE, **kw, "neighbours": 8}, seed=3)
    airtime = 16 * 12288 * 8 / run.rates_bps[(REQUESTER, 1)]
    assert by_k[8] > airtime


def test_bytes_on_each_link_are_the_subtask_sizes():
    run = run_horizontal({**BASE, "neighbours": 3, "partitioner": "equal", "requester_computes": False}, seed=2)
    (task,) = run.tasks
    assert task.assignment == {1: 3, 2: 3, 3: 2} and sum(task.assignment.values()) == 8
    for node, frames in task.assignment.items():
        up, down = frames * 12288, frames * 40  # ResNet-18 input and logits per frame (fp32)
        assert task.payload_bytes[(REQUESTER, node)] == up
        assert task.payload_bytes[(node, REQUESTER)] == down
        # what ns-3 decoded on each sidelink: those bytes in their datagrams (task, UDP and IP headers)
        assert task.sidelink_bytes[(REQUESTER, node)] == sidelink_packet_bytes(up)
        assert task.sidelink_bytes[(node, REQUESTER)] == sidelink_packet_bytes(down)
    assert task.energy_j[REQUESTER] > 0 and all(task.energy_j[n] > 0 for n in (1, 2, 3))


def test_a_neighbour_leaving_mid_subtask_is_reassigned_and_the_task_completes():
    # neighbour 1 leaves 2 ms into the task, while its input is still on the sidelink
    cfg = {**BASE, "neighbours": 2, "partitioner": "equal", "requester_computes": False,
           "churn": "scripted", "script": ((1, 0.002, "leave"),)}
    run = run_horizontal(cfg, seed=3)
    (task,) = run.tasks
    (moved,) = task.reassignments
    assert moved.lost_from == 1 and moved.to == 2 and moved.frames == 4
    assert moved.at_s == pytest.approx(0.002) and moved.stage == "input"
    assert task.merged_frames == 8
    assert task.payload_bytes[(REQUESTER, 2)] == 8 * 12288  # its own 4 frames and the 4 reassigned
    assert (REQUESTER, 1) not in task.payload_bytes and task.lost_bytes[(REQUESTER, 1)] == 4 * 12288
    assert task.latency_s > latency(neighbours=2, partitioner="equal", requester_computes=False)


def test_a_neighbour_that_joins_is_used_for_later_tasks():
    cfg = {**BASE, "neighbours": 2, "tasks": 3, "partitioner": "equal", "requester_computes": False,
           "churn": "scripted", "script": ((2, 0.0, "leave"), (2, 0.3, "join"))}
    run = run_horizontal(cfg, seed=3)
    assert [sorted(t.assignment) for t in run.tasks] == [[1], [1], [1, 2]]
    assert all(t.merged_frames == 8 and not t.reassignments for t in run.tasks)


def test_same_seed_same_results_and_exponential_churn_reassigns():
    cfg = {**BASE, "neighbours": 3, "tasks": 4, "task_period_s": 0.05, "churn": "exponential",
           "mean_on_s": 0.03, "mean_off_s": 0.03}
    a, b = run_horizontal(cfg, seed=5), run_horizontal(cfg, seed=5)
    assert a.table().equals(b.table()) and a.presence == b.presence
    assert sum(len(t.reassignments) for t in a.tasks) > 0
    assert all(t.merged_frames == 8 for t in a.tasks)


@pytest.mark.parametrize("bad, field", [
    ({"neighbours": -1}, "neighbours"), ({"frames": 0}, "frames"), ({"partitioner": "random"}, "partitioner"),
    ({"neighbour_devices": ("edge-gpu-server",)}, "neighbour_devices"), ({"mean_on_s": 0.0}, "mean_on_s"),
    ({"requester_device": "cortex-m4"}, "does not fit cortex-m4"), ({"radius_m": float("nan")}, "radius_m"),
    ({"churn": "scripted", "script": ((7, 1.0, "leave"),)}, "script"), ({"script": ((1, 1.0, "leave"),)}, "script"),
    ({"churn": "scripted", "script": ((1, 1.0, "leave"), (1, 1.0, "join"))}, "script"),
    ({"sidelink_subchannel_rbs": 300}, "sidelink_subchannel_rbs"), ({"unknown": 1}, "unknown")])
def test_bad_config_is_refused_by_name(bad, field):
    with pytest.raises(ConfigError, match=field):
        HorizontalConfig.from_user(bad)


def test_client_transfers_cross_the_sidelink_only_when_the_network_has_one():
    from ns6g.core.bridge import ScenarioError
    from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
    from ns6g.learners.network import CLOUD, Compute, Transfer, client

    with CoSimNetwork(FlNetworkConfig(clients=2, fast_fading=False), seed=1) as net:
        with pytest.raises(ScenarioError, match="no sidelink"):
            net.sidelink_state([(0, 1)])
    with CoSimNetwork(FlNetworkConfig(clients=2, fast_fading=False, sidelink=True, cell_radius_m=30), seed=1) as net:
        net.disconnect(1, 0.0)
        net.reconnect(1, 0.01)
        (early,) = net.submit([Transfer(client(0), client(1), 50_000, "x")])
        (c,) = net.run([early])
        assert not c.ok and c.failure == "disconnected"  # client 1 is away until 10 ms
        (wait,) = net.submit([Compute(CLOUD, 0.02 * 6.7e13, "wait")])  # 20 ms on the cloud-gpu
        net.run([wait])
        (late,) = net.submit([Transfer(client(0), client(1), 50_000, "x")])
        (c,) = net.run([late])
        assert c.ok and c.energy_j == 0.0  # over the sidelink: no RAN uplink slots to charge
        state = net.sidelink_state([(0, 1), (1, 0)])
        assert list(state["delivered_bytes"]) == [sidelink_packet_bytes(50_000), 0]
        assert state["transmissions"][0] > 0 and state["rate_bps"][0] > 1e6

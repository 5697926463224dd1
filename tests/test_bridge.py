"""Bridge round trips, liveness both ways and cleanup."""

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from ns6g.core import bridge as bridge_module
from ns6g.core.bridge import (
    Bridge,
    ScenarioCrashed,
    ScenarioError,
    ScenarioNotResponding,
    reap_stale_segments,
    scenario_environment,
)
from tests.conftest import pid_gone, shm_entries


def _leaves_equal(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _leaves_equal(a[k], b[k])
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def test_every_space_type_round_trips_bit_exact(echo_binary):
    with Bridge(echo_binary, ["--spaces=all"]) as b:
        space = b.action_space
        assert set(space.spaces) == {"box_f32", "box_f64", "box_i32", "box_u8", "disc", "multi_disc", "multi_bin", "nested"}
        assert b.observation_space == space
        b.reset(3)
        assert space.contains(b.read_observation())
        space.seed(0)
        for _ in range(50):
            action = space.sample()
            b.step(action)
            obs = b.read_observation()
            for key in ("box_f32", "box_f64", "box_i32", "box_u8", "multi_disc", "multi_bin"):
                _leaves_equal(obs[key], action[key])
            assert obs["disc"] == action["disc"] and obs["nested"]["k"] == action["nested"]["k"]
            _leaves_equal(obs["nested"]["x"], action["nested"]["x"])
        assert b.outcome().info == {"steps": 50.0, "sim_time_s": 0.0}


def test_shapes_dtypes_and_large_observation(echo_binary):
    with Bridge(echo_binary, ["--obs-size=300000", "--act-size=8"]) as b:
        assert b.observation_space.shape == (300000,) and b.observation_space.dtype == np.float32
        b.reset(1)
        action = np.arange(8, dtype=np.float32) * 1.5
        r = b.step(action)
        obs = b.read_observation()
        assert obs.dtype == np.float32 and obs.shape == (300000,)
        assert np.array_equal(obs, np.tile(action, 300000 // 8))
        assert r.reward == 1.0 and not r.terminated and not r.truncated


def test_scenarios_start_with_malloc_on_huge_pages(echo_binary, monkeypatch):
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    with Bridge(echo_binary, []) as b:
        environ = open(f"/proc/{b._res.proc.pid}/environ", "rb").read().split(b"\0")
    assert b"GLIBC_TUNABLES=glibc.malloc.hugetlb=1" in environ


def test_a_users_glibc_tunables_are_kept():
    kept = scenario_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "HOME": "/h"})
    assert kept == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1", "HOME": "/h"}
    # The user's own hugetlb setting wins.
    assert scenario_environment({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}) == {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}


def test_message_channel_grows_past_arena(echo_binary):
    with Bridge(echo_binary) as b:
        b.reset(1)  # messages talk to an episode's simulation
        dtype = b.record_dtypes["transfer"]
        records = np.zeros(20000, dtype=dtype)  # 640 KB: more than the initial 64 KiB arena
        records["id"] = np.arange(20000)
        records["bytes"] = 1000
        records["start_s"] = 2.0
        kind, reply = b.request("transfer", records)
        assert kind == "completion" and len(reply) == 20000
        assert np.array_equal(reply["id"], records["id"])
        assert np.allclose(reply["end_s"], 2.0 + 8000 / 1e9)
        with pytest.raises(ScenarioError, match="takes 'transfer'"):
            b.request("completion", np.zeros(1, dtype=b.record_dtypes["completion"]))
        with pytest.raises(ValueError, match="dtype"):
            b.request("transfer", np.zeros(1, dtype=np.float64))


def test_invalid_actions_raise(echo_binary):
    with Bridge(echo_binary) as b:
        b.reset(1)
        with pytest.raises(ValueError, match="NaN"):
            b.step(np.full(8, np.nan, dtype=np.float32))
        with pytest.raises(ValueError, match="outside"):
            b.step(np.full(8, 1e12, dtype=np.float32))
        with pytest.raises(ValueError, match="shape"):
            b.step(np.zeros(3, dtype=np.float32))
        b.step(np.zeros(8, dtype=np.float32))  # still usable


def test_scenario_killed_mid_step_raises_with_signal(echo_binary):
    b = Bridge(echo_binary, ["--hang-after=2"])
    b.reset(1)
    b.step(np.zeros(8, np.float32))
    pid = b.pid
    b.write_action(np.zeros(8, np.float32))
    b.post(1)
    time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(ScenarioCrashed, match="SIGKILL"):
        b.wait()
    assert time.monotonic() - t0 < 5
    assert pid_gone(pid)
    b.close()


def test_scenario_exit_reports_code_and_output(echo_binary):
    with Bridge(echo_binary, ["--exit-after=1"]) as b:
        b.reset(1)
        with pytest.raises(ScenarioCrashed, match=r"exited with code 3(.|\n)*exiting on step 1"):
            b.step(np.zeros(8, np.float32))


def test_frozen_scenario_is_detected(echo_binary):
    b = Bridge(echo_binary, hang_timeout_s=1.0)
    b.reset(1)
    os.kill(b.pid, signal.SIGSTOP)
    pid = b.pid
    with pytest.raises(ScenarioNotResponding, match="heartbeat"):
        b.step(np.zeros(8, np.float32))
    assert pid_gone(pid)


def test_step_timeout_kills_a_busy_scenario(echo_binary):
    b = Bridge(echo_binary, ["--hang-after=1"], step_timeout_s=1.0)
    b.reset(1)
    with pytest.raises(ScenarioNotResponding, match="did not answer within 1 s"):
        b.step(np.zeros(8, np.float32))
    assert not b.alive


@pytest.mark.parametrize("how", ["sigkill", "sigterm", "sigint", "exception", "gc"])
def test_python_side_death_leaves_nothing(echo_binary, tmp_path, how):
    script = textwrap.dedent(f"""
        import gc, os, signal, sys, time
        import numpy as np
        from ns6g.core.bridge import Bridge
        # Python leaves SIGINT ignored when it started ignored (a background job): restore Ctrl-C.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        b = Bridge({str(echo_binary)!r})
        b.reset(1); b.step(np.zeros(8, np.float32))
        print(b.pid, flush=True)
        how = {how!r}
        if how == "exception":
            raise RuntimeError("boom")
        if how == "gc":
            del b; gc.collect(); print("collected", flush=True); time.sleep(60)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    scenario_pid = int(proc.stdout.readline())
    if how == "gc":
        assert proc.stdout.readline().strip() == "collected"
        assert pid_gone(scenario_pid)
        proc.kill()
    elif how in ("sigkill", "sigterm", "sigint"):
        proc.send_signal({"sigkill": signal.SIGKILL, "sigterm": signal.SIGTERM, "sigint": signal.SIGINT}[how])
    proc.wait(timeout=30)  # generous: a loaded 2-core machine is slow to unwind; the script sleeps 60 s
    assert pid_gone(scenario_pid), "scenario outlived its Python process"
    assert not shm_entries(proc.pid)


def test_stale_segments_are_reaped(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    path = f"/dev/shm/ns6g-{dead.pid}-deadbeef"
    with open(path, "wb") as f:
        f.write(b"\0" * 4096)
    assert f"ns6g-{dead.pid}-deadbeef" in reap_stale_segments()
    assert not os.path.exists(path)


def test_segment_is_owner_only_until_unlinked(echo_binary, monkeypatch):
    seen = {}
    real_popen = subprocess.Popen

    def spy(args, **kw):
        name = next(a for a in args if a.startswith("--ns6g-shm=")).split("=", 1)[1]
        st = os.stat("/dev/shm" + name)
        seen["mode"] = st.st_mode & 0o777
        seen["name"] = name
        return real_popen(args, **kw)

    monkeypatch.setattr(subprocess, "Popen", spy)
    with Bridge(echo_binary) as b:
        assert seen["mode"] == 0o600 and seen["name"].startswith("/ns6g-")
        assert not os.path.exists("/dev/shm" + seen["name"])  # unlinked once both sides mapped it


# -- waiting: spin only while spinning can win, else sleep on the futex -----------------------------------
@contextlib.contextmanager
def pinned(cpu: int):
    """Run this thread (and the processes it starts) on ``cpu`` only."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def test_sleeping_waiters_are_woken_by_every_answer(echo_binary, monkeypatch):
    # spin_us=0: both sides sleep on the futex in every exchange, so every answer must wake its waiter. The
    # liveness slice is made long (10 s): a lost wake-up shows as a slice that timed out.
    monkeypatch.setattr(bridge_module, "SLICE_NS", 10 * 10**9)
    with Bridge(echo_binary, spin_us=0) as b:
        b.reset(1)
        for i in range(100):
            action = np.full(8, i, np.float32)
            b.step(action)
            assert np.array_equal(b.read_observation(), np.tile(action, 8))
            assert b.wait_stats()["sleep_timeouts"] == 0, f"exchange {i}: the answer did not wake the waiter"
        waits = b.wait_stats()
    assert waits["spins_won"] == waits["spins_lost"] == 0 and waits["sleeps"] > 0


def test_a_waiter_asleep_on_the_futex_notices_the_scenario_dying(echo_binary):
    b = Bridge(echo_binary, ["--hang-after=1"], spin_us=0)
    b.reset(1)
    pid = b.pid
    b.write_action(np.zeros(8, np.float32))
    b.post(1)  # the scenario takes the step and never answers
    threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()  # while this thread sleeps in wait()
    with pytest.raises(ScenarioCrashed, match=rf"\(pid {pid}\) was killed by SIGKILL"):
        b.wait()
    waits = b.wait_stats()
    assert waits["sleeps"] >= 1 and waits["sleep_timeouts"] >= 1  # it was asleep, and woke to check
    assert pid_gone(pid)


def test_a_waiter_never_spins_for_a_scenario_on_its_own_cpu(echo_binary):
    # Both processes on one CPU: while the waiter runs, the scenario cannot, so a spin could only hold the
    # CPU the scenario needs (issue 17: shm 56-64 us against the socket's 18 us).
    # Steps of 100 us (a sleep) make this thread reach its wait before the answer, on any scheduler.
    with pinned(min(os.sched_getaffinity(0))):
        with Bridge(echo_binary, ["--step-us=100"]) as b:
            b.reset(1)
            for _ in range(200):
                b.step(np.zeros(8, np.float32))
            waits = b.wait_stats()
    assert waits["spins_won"] == waits["spins_lost"] == 0
    assert waits["skipped_same_cpu"] > 0


@pytest.mark.parametrize("obs_size, moves_apart", [(64, True), (65536, False)])
def test_the_scenario_moves_off_pythons_cpu_for_small_observations(echo_binary, obs_size, moves_apart):
    # Once both sides share a CPU, Linux tends to keep them together (each futex wake-up lands the woken
    # side where its waker runs) and every round trip costs two context switches: the scenario moves itself
    # apart. Not for observations above 64 KiB (256 KB here), which cost less to read from a CPU's caches.
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs")
    with pinned(cpus[0]):
        with Bridge(echo_binary, [f"--obs-size={obs_size}"]) as b:  # started on cpus[0] only: they share it
            b.reset(1)
            for _ in range(50):
                b.step(np.zeros(8, np.float32))
            assert b.scenario_moves() == 0  # no other CPU allowed: it stays (and keeps answering)
            os.sched_setaffinity(b.pid, set(cpus))  # now it may run anywhere; Python stays on cpus[0]
            scenario_cpu = b._u32(bridge_module.OFF_SCENARIO_CPU)  # the CPU it answered from, plus one
            apart = 0
            for i in range(1000):
                b.step(np.ones(8, np.float32))
                apart += i >= 800 and int(scenario_cpu[()]) != cpus[0] + 1
            moves = b.scenario_moves()
            assert np.array_equal(b.read_observation(), np.ones(obs_size, np.float32))
    if moves_apart:
        # Apart for most of the last 200 exchanges: by its own moves, or the scheduler's if it acted first.
        assert apart >= 150, f"on Python's CPU in {200 - apart} of the last 200 exchanges ({moves} moves)"
    else:
        assert moves == 0


def test_spinning_backs_off_while_the_scenario_runs_long_steps(echo_binary):
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs: one for each side")
    with pinned(cpus[0]):
        with Bridge(echo_binary, ["--step-us=2000"], spin_us=50) as b:
            os.sched_setaffinity(b.pid, {cpus[1]})  # never on this thread's CPU: only the backoff applies
            b.reset(1)  # (the scenario's first answer may still come from this thread's CPU)
            before = b.wait_stats()
            for _ in range(100):
                b.step(np.zeros(8, np.float32))
            waits = {k: v - before[k] for k, v in b.wait_stats().items()}
    assert waits["skipped_same_cpu"] == 0
    assert waits["spins_lost"] >= 1
    assert waits["skipped_backoff"] > waits["spins_lost"] + waits["spins_won"]  # most waits did not spin


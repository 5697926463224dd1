"""Benchmarks behind ``ns6g bench``: every ratio is measured side by side in one run.

- ``bridge``: round trip of one step exchange (action of 8 float32 values, observation of 8 to 65536
  float32 values) through the shared-memory bridge with a zero-copy read (``read_observation(copy=False)``,
  the bridge's figure), through the same bridge with the observation copied out (``read_observation()``,
  what Gymnasium envs return) and through a socket transport (a Unix socket with length-prefixed messages,
  as socket-based bridges frame them, received into a reused buffer and read as a numpy view of it), all
  against the same C++ peer, and a plain copy of the largest observation (the memory-copy limit),
  optionally beside N busy processes.
- ``reset``: episode reset of the first scenario (LinkControl) inside the running process, against a
  relaunch of the process (what socket bridges do per episode), both in one run.
- ``parallel``: aggregate steps/s of 1, 2, 4 and 8 LinkControl scenarios stepped in lockstep the way a
  vector environment steps them (post every request, then wait for every answer).
- ``trace``: LinkControl episodes with and without a run directory, alternating, at one detail level.
- ``load``: ``load_run(...).flows`` of a run with a 1-million-row flows table.
- ``ran``: SpectrumAllocation's simulated seconds per wall second at 10, 100 and 1000 UEs and the cost
  exponent, beside issue 17's targets.
- ``speed``: the suite's speed gate measurement (:func:`ran_speed`: the RAN workload against a fixed ns-3
  reference workload, alternating, normalised) quiet and beside N busy processes.
- ``fl``: learner jobs on the co-simulation clock: the wall-time overhead of CoSimNetwork against
  NoNetwork for the same training job, profile-mode rounds per wall second for 10, 100 and 1000 clients,
  and the exponent of cost against client count.
- ``learn``: the preset agent trained on each environment's challenge configuration within a wall-time budget,
  against every heuristic and reference rule on the same held-out seeds (docs/benchmarks.md).
- ``ray``: training environments as Ray actors (``RayVecEnv``, ``ns6g train --backend ray``) against the same
  environments stepped from one process (``BridgeVecEnv``), 1, 2 and 4 workers: sampling steps/s with random
  actions and PPO training steps/s (docs/performance.md).
- ``soak``: 8 environments in Gymnasium's AsyncVectorEnv with random actions and periodic resets for a
  configured time: steps/s, RSS and open file descriptors of every process (main, workers, scenarios)
  after the warm-up and at the end, and what is left after close (segments, processes).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import mmap
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from tqdm import tqdm

from ns6g.core.bridge import CMD_STEP, Bridge
from ns6g.core.build import scenario_binary

BRIDGE_SIZES = (8, 64, 1024, 65536)
ACTION_SIZE = 8
HEADLINE_SIZE = 64
COPY_SIZE = BRIDGE_SIZES[-1]  # the observation compared with a plain memory copy of the same bytes
# Issue 17's targets for `bench bridge`, printed beside the figures: (what, result key, limit, at most?).
BRIDGE_TARGETS = (
    # The shm figures are the zero-copy read's; the copy-out ratio is printed beside copy_ratio, untargeted.
    ("N=64 shm median (us)", "shm_rtt_us_median", 2.0, True),
    ("N=64 shm p99 (us)", "shm_rtt_us_p99", 10.0, True),
    ("N=64 speedup over the socket (x)", "speedup_median", 40.0, False),
    (f"N={COPY_SIZE} shm median / memcpy of the same bytes (x)", "copy_ratio", 2.0, True),
    ("slowest speedup over the socket, any N (x)", "speedup_min", 1.0, False),
)


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    us = np.asarray(samples_ns, dtype=np.float64) / 1000.0
    return float(np.median(us)), float(np.percentile(us, 99))


class _SocketPeer:
    """The echo scenario serving the socket transport on a Unix socket."""

    def __init__(self, binary: Path, obs_size: int) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="ns6g-bench-")
        path = os.path.join(self._dir.name, "peer.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(1)
        self._listener.settimeout(30)
        self._proc = subprocess.Popen(
            [str(binary), f"--socket={path}", f"--obs-size={obs_size}", f"--act-size={ACTION_SIZE}"],
            stdin=subprocess.DEVNULL,
        )
        self.conn, _ = self._listener.accept()
        self.conn.settimeout(30)
        self._reply = bytearray(4 + 4 * obs_size)  # reused: the kernel's copy into it is the transport's own
        self._view = memoryview(self._reply)
        self._obs = np.frombuffer(self._reply, dtype=np.float32, offset=4)

    def exchange(self, message: bytes) -> np.ndarray:
        """Send ``message``; the reply's observation as a view of the reused receive buffer (no copy beyond
        the kernel's, as the shm side's zero-copy read; overwritten by the next exchange)."""
        self.conn.sendall(message)
        got, want = 0, len(self._reply)
        while got < want:
            n = self.conn.recv_into(self._view[got:], want - got)
            if n == 0:
                raise ConnectionError("socket peer closed the connection")
            got += n
        return self._obs

    def close(self) -> None:
        self.conn.close()
        self._listener.close()
        self._proc.wait(timeout=5)
        self._dir.cleanup()


@contextlib.contextmanager
def _busy_processes(count: int, new_session: bool = False) -> Iterator[list[subprocess.Popen]]:
    """``count`` processes that spin on a CPU each until the block ends (contention beside a benchmark);
    ``new_session``: each in a session of its own, as an unrelated program would be (with the kernel's
    autogroup scheduling, processes of one session share one group's CPU time)."""
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(count):
            procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL,
                                          start_new_session=new_session))
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def _no_waits(bridge: Bridge) -> dict[str, int]:
    """A zero count for every cumulative wait statistic of ``bridge`` (``backoff`` is a state, not a count)."""
    return {k: 0 for k in bridge.wait_stats() if k != "backoff"}


def bench_bridge(iterations: int = 20_000, contention: int = 0, progress: bool = True) -> dict[str, Any]:
    """Median and p99 round trip (us) per observation size of the shm bridge read without a copy (the
    bridge's figure: ``shm_*``), of the shm bridge with the observation copied out (``shm_copy_*``) and of
    the socket transport, with a plain copy of the largest observation's bytes measured in the same run,
    and ``contention`` busy processes running beside the benchmark."""
    binary = scenario_binary("bridge-echo")
    action = np.arange(ACTION_SIZE, dtype=np.float32)
    message = np.uint32(4 * ACTION_SIZE).tobytes() + action.tobytes()
    # Page-aligned (anonymous mappings): np.copyto between heap buffers whose page offsets differ by 0-63
    # bytes ran 10-18x slower here (4K aliasing in numpy's copy loop), which would flatter the ratio.
    copy_src, copy_dst = (np.frombuffer(mmap.mmap(-1, 4 * COPY_SIZE), dtype=np.float32) for _ in range(2))
    copy_src[:] = 1.0
    copy_ns: list[int] = []
    cases = []
    bar = tqdm(BRIDGE_SIZES, desc="bench bridge", disable=not progress, leave=False)
    with _busy_processes(contention):
        for size in bar:
            n = iterations if size <= 1024 else max(1000, iterations // 10)
            block = min(1000, n)
            shm_ns: list[int] = []
            shm_copy_ns: list[int] = []
            sock_ns: list[int] = []
            with Bridge(binary, [f"--obs-size={size}", f"--act-size={ACTION_SIZE}"]) as bridge:
                peer = _SocketPeer(binary, size)
                try:
                    bridge.reset(1)
                    views = bridge.action_views
                    exchange = bridge.exchange
                    read = bridge.read_observation

                    def shm_once() -> np.ndarray:
                        views[...] = action
                        exchange(CMD_STEP)
                        return read(copy=False)  # read-only views over the segment

                    def shm_copy_once() -> np.ndarray:
                        views[...] = action
                        exchange(CMD_STEP)
                        return read()  # an owned copy, as Gymnasium envs return

                    def sock_once() -> np.ndarray:
                        return peer.exchange(message)

                    def copy_once() -> None:
                        np.copyto(copy_dst, copy_src)

                    for fn in (shm_once, shm_copy_once, sock_once):  # warm-up; all peers answer alike
                        for _ in range(200):
                            obs = fn()
                        assert obs[-1] == action[(size - 1) % ACTION_SIZE], "peer answered wrongly"
                    # Python's waits, counted apart for the zero-copy and the copy-out blocks.
                    waits = {"zero": _no_waits(bridge), "copy": _no_waits(bridge)}
                    timed = [(shm_once, shm_ns, "zero"), (shm_copy_once, shm_copy_ns, "copy"),
                             (sock_once, sock_ns, None)]
                    if size == COPY_SIZE:
                        timed.append((copy_once, copy_ns, None))
                    # Alternate blocks so that every contender sees the same machine conditions.
                    for _ in range(n // block):
                        for fn, out, counted in timed:
                            before = bridge.wait_stats()
                            clock = time.perf_counter_ns
                            for _ in range(block):
                                t0 = clock()
                                fn()
                                out.append(clock() - t0)
                            if counted:
                                after = bridge.wait_stats()
                                for k in waits[counted]:
                                    waits[counted][k] += after[k] - before[k]
                    moves = bridge.scenario_moves()
                finally:
                    peer.close()
            shm_med, shm_p99 = _percentiles(shm_ns)
            shm_copy_med, shm_copy_p99 = _percentiles(shm_copy_ns)
            sock_med, sock_p99 = _percentiles(sock_ns)
            cases.append(
                {
                    "obs_values": size,
                    "action_values": ACTION_SIZE,
                    "samples": len(shm_ns),  # per contender
                    "shm_rtt_us_median": shm_med,  # zero-copy read
                    "shm_rtt_us_p99": shm_p99,
                    "shm_copy_rtt_us_median": shm_copy_med,  # observation copied out
                    "shm_copy_rtt_us_p99": shm_copy_p99,
                    "socket_rtt_us_median": sock_med,
                    "socket_rtt_us_p99": sock_p99,
                    "speedup_median": sock_med / shm_med,
                    "copy_speedup_median": sock_med / shm_copy_med,
                    "python_waits": waits["zero"],  # how Python's waits for the answer went (counts, zero-copy blocks)
                    "slept_share": waits["zero"]["sleeps"] / len(shm_ns),
                    "shm_copy_python_waits": waits["copy"],
                    "shm_copy_slept_share": waits["copy"]["sleeps"] / len(shm_copy_ns),
                    "scenario_moves": moves,  # times the scenario moved off Python's CPU (docs/bridge.md#waiting)
                }
            )
    headline = next(c for c in cases if c["obs_values"] == HEADLINE_SIZE)
    copy_med, copy_p99 = _percentiles(copy_ns)
    largest = next(c for c in cases if c["obs_values"] == COPY_SIZE)
    result = {
        "benchmark": "bridge",
        "contention": contention,
        "cpus": len(os.sched_getaffinity(0)),
        **{k: headline[k] for k in ("shm_rtt_us_median", "shm_rtt_us_p99", "shm_copy_rtt_us_median",
                                    "shm_copy_rtt_us_p99", "socket_rtt_us_median", "socket_rtt_us_p99",
                                    "speedup_median", "copy_speedup_median")},
        "memcpy_us_median": copy_med,
        "memcpy_us_p99": copy_p99,
        "copy_ratio": largest["shm_rtt_us_median"] / copy_med,  # zero-copy read: the target's figure
        "copy_out_ratio": largest["shm_copy_rtt_us_median"] / copy_med,  # with the copy out, beside it
        "speedup_min": min(c["speedup_median"] for c in cases),
        "copy_speedup_min": min(c["copy_speedup_median"] for c in cases),
        "cases": cases,
    }
    result["targets"] = [
        {"target": what, "value": result[key], "limit": limit, "at_most": at_most,
         "met": result[key] <= limit if at_most else result[key] >= limit}
        for what, key, limit, at_most in BRIDGE_TARGETS
    ]
    return result


def format_bridge(result: dict[str, Any]) -> str:
    lines = [
        f"bridge round trip (action 8 float32; observation N float32), microseconds; "
        f"{result['contention']} busy processes beside it on {result['cpus']} CPUs",
        f"{'N':>7}  {'shm med':>8}  {'shm p99':>8}  {'shm+copy':>8}  {'p99':>8}  {'sock med':>9}  {'sock p99':>9}  "
        f"{'speedup':>7}  {'slept':>6}  {'moves':>5}",
    ]
    for c in result["cases"]:
        lines.append(
            f"{c['obs_values']:>7}  {c['shm_rtt_us_median']:>8.2f}  {c['shm_rtt_us_p99']:>8.2f}  "
            f"{c['shm_copy_rtt_us_median']:>8.2f}  {c['shm_copy_rtt_us_p99']:>8.2f}  "
            f"{c['socket_rtt_us_median']:>9.2f}  {c['socket_rtt_us_p99']:>9.2f}  {c['speedup_median']:>6.1f}x  "
            f"{100 * c['slept_share']:>5.1f}%  {c['scenario_moves']:>5}"
        )
    lines.append(f"memcpy of {4 * COPY_SIZE // 1024} KB (np.copyto): median {result['memcpy_us_median']:.2f} us, "
                 f"p99 {result['memcpy_us_p99']:.2f} us; N={COPY_SIZE} over it: zero-copy read "
                 f"{result['copy_ratio']:.2f}x, with the copy out {result['copy_out_ratio']:.2f}x")
    lines.append("shm: write the action, exchange, read_observation(copy=False) (read-only views over the segment); "
                 "shm+copy: the same with read_observation() (an owned copy, what Gymnasium envs return); "
                 "sock: a Unix socket, received into a reused buffer and read as a view of it")
    lines.append("speedup: socket over zero-copy shm; slept: share of zero-copy shm exchanges in which Python slept "
                 "on the futex instead of spinning; moves: times the scenario moved off Python's CPU")
    lines.append("targets (issue 17):")
    for t in result["targets"]:
        sign = "<=" if t["at_most"] else ">="
        lines.append(f"  {t['target']:<58} {t['value']:>8.2f}  {sign} {t['limit']:<5g} "
                     f"{'met' if t['met'] else 'MISSED'}")
    return "\n".join(lines)


# -- reset -------------------------------------------------------------------------------------------
def _link_control_args(**overrides: Any) -> tuple[Path, list[str]]:
    from ns6g.envs.link_control import LinkControlConfig

    return scenario_binary("link-control"), LinkControlConfig.from_user(None, **overrides).to_args()


def bench_reset(resets: int = 200, relaunches: int = 20, progress: bool = True) -> dict[str, Any]:
    """Median and p99 time (ms) of an in-process episode reset and of a process relaunch plus reset.

    Every reset uses a new RngRun and is followed by one step, so that a reset which left work for the
    first step would show.
    """
    binary, args = _link_control_args()
    bar = tqdm(total=resets + relaunches, desc="bench reset", disable=not progress, leave=False)
    in_process: list[int] = []
    with Bridge(binary, args) as bridge:
        bridge.reset(1)  # warm-up: first touch of code and pages
        for run in range(2, resets + 2):
            t0 = time.perf_counter_ns()
            bridge.reset(run)
            in_process.append(time.perf_counter_ns() - t0)
            bridge.step(0)
            bar.update()
    relaunch: list[int] = []
    for run in range(relaunches):
        t0 = time.perf_counter_ns()
        with Bridge(binary, args) as bridge:
            bridge.reset(run + 2)
            relaunch.append(time.perf_counter_ns() - t0)
            bridge.step(0)
        bar.update()
    bar.close()
    reset_med, reset_p99 = (v / 1000 for v in _percentiles(in_process))
    relaunch_med, relaunch_p99 = (v / 1000 for v in _percentiles(relaunch))
    return {
        "benchmark": "reset",
        "scenario": "link-control",
        "reset_ms_median": reset_med,
        "reset_ms_p99": reset_p99,
        "relaunch_ms_median": relaunch_med,
        "relaunch_ms_p99": relaunch_p99,
        "speedup_median": relaunch_med / reset_med,
        "resets": len(in_process),
        "relaunches": len(relaunch),
    }


def format_reset(result: dict[str, Any]) -> str:
    return (
        "episode reset of link-control, milliseconds\n"
        f"  in-process reset : median {result['reset_ms_median']:7.2f}  p99 {result['reset_ms_p99']:7.2f}"
        f"  ({result['resets']} resets)\n"
        f"  process relaunch : median {result['relaunch_ms_median']:7.2f}  p99 {result['relaunch_ms_p99']:7.2f}"
        f"  ({result['relaunches']} relaunches)\n"
        f"headline: reset median {result['reset_ms_median']:.2f} ms, "
        f"{result['speedup_median']:.1f}x faster than a relaunch (target: <= 20 ms)"
    )


# -- parallel ----------------------------------------------------------------------------------------
PARALLEL_COUNTS = (1, 2, 4, 8)


def _lockstep_rate(bridges: list[Bridge], seconds: float) -> tuple[int, float]:
    """Step every bridge in lockstep for about ``seconds``; return (steps, elapsed seconds)."""
    rng = np.random.default_rng(0)
    levels = int(bridges[0].action_space.n)
    steps, start = 0, time.perf_counter()
    while True:
        actions = rng.integers(0, levels, size=len(bridges))
        for bridge, action in zip(bridges, actions):
            bridge.write_action(int(action))
            bridge.post(CMD_STEP)
        for bridge in bridges:
            bridge.wait()
        steps += len(bridges)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps, elapsed


def bench_parallel(seconds: float = 4.0, rounds: int = 10, progress: bool = True) -> dict[str, Any]:
    """Aggregate steps/s of N = 1, 2, 4, 8 LinkControl scenarios on this machine's cores.

    All 15 scenarios start up front; the counts then take turns for ``rounds`` slices of
    ``seconds / rounds`` each, so that a slow spell of a shared machine hits every count alike, and each
    count reports the median of its slices. Idle scenarios sleep on their futex and cost no CPU.
    Episodes are long enough (``episode_steps`` = 10**7) that no reset falls inside the measurement.
    """
    binary, args = _link_control_args(episode_steps=10_000_000)
    groups: dict[int, list[Bridge]] = {}
    rates: dict[int, list[float]] = {n: [] for n in PARALLEL_COUNTS}
    steps: dict[int, int] = dict.fromkeys(PARALLEL_COUNTS, 0)
    bar = tqdm(total=rounds * len(PARALLEL_COUNTS), desc="bench parallel", disable=not progress, leave=False)
    try:
        run = 1
        for n in PARALLEL_COUNTS:
            groups[n] = []
            for _ in range(n):
                groups[n].append(Bridge(binary, args))
                groups[n][-1].reset(run)
                run += 1
            _lockstep_rate(groups[n], min(0.3, seconds / rounds))  # warm-up
        for _ in range(rounds):
            for n in PARALLEL_COUNTS:
                done, elapsed = _lockstep_rate(groups[n], seconds / rounds)
                rates[n].append(done / elapsed)
                steps[n] += done
                bar.update()
    finally:
        bar.close()
        for bridges in groups.values():
            for bridge in bridges:
                bridge.close()
    cases = [{"envs": n, "steps": steps[n], "steps_per_s": float(np.median(rates[n])),
              "steps_per_s_slices": rates[n]} for n in PARALLEL_COUNTS]
    median = {c["envs"]: c["steps_per_s"] for c in cases}
    return {
        "benchmark": "parallel",
        "scenario": "link-control",
        "cores": os.cpu_count(),
        "rounds": rounds,
        "cases": cases,
        "ratio_8_over_2": median[8] / median[2],
    }


def format_parallel(result: dict[str, Any]) -> str:
    lines = [f"aggregate steps/s of link-control in lockstep, {result['cores']} cores, "
             f"median of {result['rounds']} interleaved slices",
             f"{'envs':>5}  {'steps/s':>9}  {'min':>7}  {'max':>7}  {'steps':>7}"]
    for c in result["cases"]:
        lo, hi = min(c["steps_per_s_slices"]), max(c["steps_per_s_slices"])
        lines.append(f"{c['envs']:>5}  {c['steps_per_s']:>9.0f}  {lo:>7.0f}  {hi:>7.0f}  {c['steps']:>7}")
    lines.append(f"headline: 8 envs / 2 envs = {result['ratio_8_over_2']:.2f} (target: >= 1.0)")
    return "\n".join(lines)


# -- ray ---------------------------------------------------------------------------------------------
RAY_WORKERS = (1, 2, 4)
RAY_ROLLOUT = 512  # PPO steps per rollout over all workers, the same for every count: the same learner work


def _sampling_rate(venv: Any, seconds: float) -> tuple[int, float]:
    """Step ``venv`` with seeded random actions for about ``seconds``; (steps over all envs, seconds)."""
    venv.action_space.seed(0)
    venv.reset()
    steps, start = 0, time.perf_counter()
    while True:
        venv.step(np.stack([venv.action_space.sample() for _ in range(venv.num_envs)]))
        steps += venv.num_envs
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps, elapsed


def bench_ray(env_id: str = "ns6g/LinkControl-v0", workers: tuple[int, ...] = RAY_WORKERS, seconds: float = 4.0,
              train_steps: int = 2048, address: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Steps/s of ``env_id`` with 1, 2 and 4 environment workers, local (``BridgeVecEnv``) against Ray actors
    (``RayVecEnv`` on ``address``; None: a Ray instance on this machine with a CPU per worker of the largest
    count), both made by ``ns6g train``'s own factories: random-action sampling for ``seconds`` and PPO learning
    ``train_steps`` steps (rollouts of :data:`RAY_ROLLOUT` steps over all workers, 64-step batches, 4 epochs)."""
    import torch
    from stable_baselines3 import PPO

    from ns6g.apps.training import TrainConfig, make_training_env, plan_training, silent_logger
    from ns6g.envs.ray_vec_env import check_address, import_ray

    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        check_address(address)
        ray.init(address=address, num_cpus=max(workers) if address is None else None, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    torch.set_num_threads(1)
    cases = []
    bar = tqdm(total=2 * len(workers), desc="bench ray", disable=not progress, leave=False)
    try:
        nodes = len([n for n in ray.nodes() if n.get("Alive")])
        for n in workers:
            algo_kwargs = {"n_steps": RAY_ROLLOUT // n, "batch_size": 64, "n_epochs": 4}
            for backend in ("local", "ray"):
                plan = plan_training(TrainConfig(env_id, algo="ppo", n_envs=n, seed=0, algo_kwargs=algo_kwargs,
                                                 use_preset=False, backend=backend,
                                                 address=address if backend == "ray" else None))
                made = time.perf_counter()
                venv = make_training_env(plan, 0, {})
                try:
                    start_s = time.perf_counter() - made
                    _sampling_rate(venv, min(0.5, seconds / 4))  # warm-up
                    steps, elapsed = _sampling_rate(venv, seconds)
                    model = PPO("MlpPolicy", venv, seed=0, device="cpu", verbose=0, **algo_kwargs)
                    model.set_logger(silent_logger())
                    began = time.perf_counter()
                    model.learn(total_timesteps=train_steps)
                    learn_s = time.perf_counter() - began
                finally:
                    venv.close()
                cases.append({"workers": n, "backend": backend, "start_s": start_s, "sample_steps": steps,
                              "sample_steps_per_s": steps / elapsed, "train_steps": model.num_timesteps,
                              "train_steps_per_s": model.num_timesteps / learn_s})
                bar.update()
    finally:
        bar.close()
        if started:
            ray.shutdown()
    return {"benchmark": "ray", "env_id": env_id, "cores": os.cpu_count(), "ray_nodes": nodes,
            "address": address, "seconds": seconds, "rollout": RAY_ROLLOUT, "cases": cases}


def format_ray(result: dict[str, Any]) -> str:
    lines = [f"{result['env_id']}: environment workers local (BridgeVecEnv) and as Ray actors (RayVecEnv) on "
             f"{result['ray_nodes']} Ray node(s), {result['cores']} cores here; sampling with random actions for "
             f"{result['seconds']:g} s, PPO learning with rollouts of {result['rollout']} steps",
             f"{'workers':>7}  {'backend':>7}  {'start s':>7}  {'sample steps/s':>14}  {'PPO steps/s':>11}"]
    for c in result["cases"]:
        lines.append(f"{c['workers']:>7}  {c['backend']:>7}  {c['start_s']:>7.1f}  {c['sample_steps_per_s']:>14.0f}  "
                     f"{c['train_steps_per_s']:>11.0f}")
    return "\n".join(lines)


# -- trace -------------------------------------------------------------------------------------------
def bench_trace(episodes: int = 20, detail: str = "summary", progress: bool = True) -> dict[str, Any]:
    """Wall time of LinkControl episodes with and without a run directory, alternating episode by episode.

    Both environments run the same seeds and the same fixed action, so the only difference is tracing.
    """
    import gymnasium as gym

    import ns6g.envs  # noqa: F401

    seconds = {"plain": 0.0, "traced": 0.0}
    steps = 0
    with tempfile.TemporaryDirectory(prefix="ns6g-bench-trace-") as tmp:
        envs = {"plain": gym.make("ns6g/LinkControl-v0"),
                "traced": gym.make("ns6g/LinkControl-v0", run_dir=Path(tmp) / "run", trace_detail=detail)}
        try:
            for episode in tqdm(range(episodes + 1), desc="bench trace", disable=not progress, leave=False):
                for name in ("plain", "traced") if episode % 2 else ("traced", "plain"):
                    env = envs[name]
                    t0 = time.perf_counter()
                    env.reset(seed=episode)
                    done, n = False, 0
                    while not done:
                        _, _, terminated, truncated, _ = env.step(3)
                        done, n = terminated or truncated, n + 1
                    if episode > 0:  # episode 0 warms both up
                        seconds[name] += time.perf_counter() - t0
                        steps += n if name == "plain" else 0
        finally:
            for env in envs.values():
                env.close()
        rows = sum(pq.read_metadata(p).num_rows for p in (Path(tmp) / "run" / "steps").glob("part-*.parquet"))
    return {
        "benchmark": "trace",
        "scenario": "link-control",
        "detail": detail,
        "episodes": episodes,
        "steps_per_variant": steps,
        "rows_written": rows,
        "plain_s": seconds["plain"],
        "traced_s": seconds["traced"],
        "overhead_fraction": seconds["traced"] / seconds["plain"] - 1.0,
    }


def format_trace(result: dict[str, Any]) -> str:
    return (
        f"link-control, {result['episodes']} episodes ({result['steps_per_variant']} steps) each way, "
        f"alternating\n"
        f"  without a run directory : {result['plain_s']:7.3f} s\n"
        f"  with detail {result['detail']!r:<11} : {result['traced_s']:7.3f} s  "
        f"({result['rows_written']} step rows written)\n"
        f"headline: tracing overhead {100 * result['overhead_fraction']:+.1f}% (target: <= 10%)"
    )


# -- load --------------------------------------------------------------------------------------------
def bench_load(rows: int = 1_000_000, chunk_rows: int = 10_000, repeats: int = 3, progress: bool = True) -> dict[str, Any]:
    """Time ``load_run(...).flows`` on a run whose flows table has ``rows`` rows in ``chunk_rows`` chunks."""
    from ns6g.analysis import load_run
    from ns6g.core.runs import RunWriter

    rng = np.random.default_rng(0)
    kinds = np.array(["weights", "activations", "gradients", "traffic"])
    with tempfile.TemporaryDirectory(prefix="ns6g-bench-load-") as tmp:
        t0 = time.perf_counter()
        with RunWriter(Path(tmp) / "run", kind="bench", chunk_rows=chunk_rows) as run:
            for first in tqdm(range(0, rows, chunk_rows), desc="bench load: write", disable=not progress, leave=False):
                n = min(chunk_rows, rows - first)
                start = rng.uniform(0, 100, n)
                run.append_columns("flows", {
                    "flow_id": np.arange(first, first + n), "kind": kinds[rng.integers(0, 4, n)],
                    "src": rng.integers(0, 64, n), "dst": rng.integers(0, 64, n),
                    "size_bytes": rng.integers(100, 10**8, n), "start_s": start, "end_s": start + rng.exponential(0.1, n),
                })
        write_s = time.perf_counter() - t0
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            flows = load_run(Path(tmp) / "run").flows
            times.append(time.perf_counter() - t0)
            assert len(flows) == rows
    return {"benchmark": "load", "rows": rows, "chunks": -(-rows // chunk_rows), "write_s": write_s,
            "load_s_median": float(np.median(times)), "load_s_all": times}


def format_load(result: dict[str, Any]) -> str:
    return (f"flows table of {result['rows']} rows in {result['chunks']} Parquet chunks: written in "
            f"{result['write_s']:.2f} s\nheadline: load_run(...).flows median {result['load_s_median']:.2f} s "
            f"(target: <= 2 s)")


# -- ran ---------------------------------------------------------------------------------------------
RAN_UES = (10, 100, 1000)
# Issue 17 item 1's targets for `bench ran` (2 cores, this configuration, fast fading on), printed beside the
# figures: (what, UEs or None for the cost exponent, bound, at most?).
RAN_TARGETS = (
    ("sim-s/wall-s at 100 UEs", 100, 2.0, False),
    ("sim-s/wall-s at 1000 UEs", 1000, 0.5, False),
    ("cost exponent", None, 0.9, True),
)
RAN_SEED = 1  # ns-3 RngRun of every RAN benchmark episode


def _ran_config(ues: int) -> Any:
    """The workload of ``bench ran`` and of the suite's speed gate for ``ues`` UEs."""
    from ns6g.envs.spectrum_allocation import SpectrumAllocationConfig

    cells = 7
    # Full buffer at twice a UE's fair share of ~600 Mbit/s per cell: backlogged queues without
    # generating datagrams that are only dropped.
    rate = max(1.0, 2 * cells * 600 / ues)
    return SpectrumAllocationConfig.from_user(
        None, cells=cells, ues=ues, frequency_hz=7e9, bandwidth_hz=100e6, numerology=1, scheduler="pf",
        decision_slots=10, episode_steps=10_000_000, traffic="full_buffer", ue_rate_mbps=rate,
        mobility="random_walk", speed_mps=1.5, fast_fading=True)


@contextlib.contextmanager
def _ran_running(ues: int, binary: Path | None = None) -> Iterator[tuple[Bridge, np.ndarray, float]]:
    """The RAN workload's scenario (``binary``, default the built ran-spectrum), reset (RngRun RAN_SEED) and
    past its first step (the first channel realisation of every link): (bridge, the fixed action, seconds
    the reset took)."""
    with Bridge(binary or scenario_binary("ran-spectrum"), _ran_config(ues).to_args()) as bridge:
        t0 = time.perf_counter()
        bridge.reset(RAN_SEED)
        setup_s = time.perf_counter() - t0
        action = bridge.action_space.sample()
        bridge.step(action)
        yield bridge, action, setup_s


def _ran_window(bridge: Bridge, action: np.ndarray, sim_seconds: float) -> tuple[int, float, float]:
    """Step until ``sim_seconds`` more are simulated: (steps, simulated s, wall s)."""
    steps, sim0, t0 = 0, bridge.outcome().sim_time_s, time.perf_counter()
    while bridge.outcome().sim_time_s - sim0 < sim_seconds:
        bridge.write_action(action)
        bridge.exchange(CMD_STEP)
        bridge.read_observation()
        steps += 1
    return steps, bridge.outcome().sim_time_s - sim0, time.perf_counter() - t0


def _ran_timed(bridge: Bridge, action: np.ndarray, start_s: float,
               sim_seconds: float) -> tuple[float, int, float, float]:
    """Step untimed up to ``start_s`` simulated s, then time ``sim_seconds``: (window start s, steps,
    simulated s, wall s)."""
    warmup = start_s - bridge.outcome().sim_time_s
    if warmup > 0:
        _ran_window(bridge, action, warmup)
    window_start_s = bridge.outcome().sim_time_s
    return (window_start_s, *_ran_window(bridge, action, sim_seconds))


def _ran_case(ues: int, sim_seconds: float, start_s: float) -> dict[str, Any]:
    config = _ran_config(ues)
    with _ran_running(ues) as (bridge, action, setup_s):
        window_start_s, steps, sim, wall = _ran_timed(bridge, action, start_s, sim_seconds)
        obs_values = int(sum(np.prod(s.shape) for s in bridge.observation_space.spaces.values()))
    # The bridge's share: an echo exchange of the same observation size, against the step's time.
    with Bridge(scenario_binary("bridge-echo"), [f"--obs-size={obs_values}", "--act-size=8"]) as echo:
        echo.reset(1)
        samples = []
        for _ in range(200):
            t = time.perf_counter_ns()
            echo.exchange(CMD_STEP)
            echo.read_observation()
            samples.append(time.perf_counter_ns() - t)
    bridge_s = float(np.median(samples)) / 1e9
    return {"ues": ues, "cells": config.cells, "bandwidth_mhz": config.bandwidth_hz / 1e6,
            "frequency_ghz": config.frequency_hz / 1e9, "steps": steps,
            "window_start_s": window_start_s, "sim_seconds": sim, "wall_seconds": wall, "setup_seconds": setup_s,
            "sim_s_per_wall_s": sim / wall, "steps_per_s": steps / wall,
            "bridge_share": bridge_s / (wall / steps), "offered_mbps_per_ue": config.ue_rate_mbps}


def bench_ran(ues: tuple[int, ...] = RAN_UES, sim_seconds: float = 1.0, start_s: float = 0.5,
              progress: bool = True) -> dict[str, Any]:
    """Simulated seconds per wall second and env steps/s of SpectrumAllocation for 10, 100, 1000 UEs.

    7 cells (UMi street canyon, 200 m inter-site distance), 100 MHz at 7 GHz (FR3), numerology 1,
    proportional fair, 3GPP fast fading, UEs on a random walk at 1.5 m/s, a decision every 10 slots.
    Timed: ``sim_seconds`` simulated from ``start_s`` (default 0.5 to 1.5 s), so that the window holds
    what a long run holds per second: every slot, and one realisation boundary where every link's fast
    fading is drawn anew (RanChannel's RealizationPeriod, 1 s); the start-up (the first draws, and
    ns-3's second request for every link's first matrix) falls before it.
    The cost exponent is the slope of log(wall time per simulated second) against log(UEs).
    """
    cases = [_ran_case(n, sim_seconds, start_s)
             for n in tqdm(ues, desc="bench ran", disable=not progress, leave=False)]
    x = np.log([c["ues"] for c in cases])
    y = np.log([1.0 / c["sim_s_per_wall_s"] for c in cases])
    exponent = float(np.polyfit(x, y, 1)[0]) if len(cases) > 1 else float("nan")
    return {"benchmark": "ran", "scenario": "ran-spectrum", "cases": cases, "cost_exponent": exponent,
            "targets": [{"what": what, "ues": n, "bound": bound, "at_most": at_most}
                        for what, n, bound, at_most in RAN_TARGETS]}


def format_ran(result: dict[str, Any]) -> str:
    lines = ["SpectrumAllocation: 7 cells, 100 MHz at 7 GHz, fast fading, random walk, PF, decision every 10 slots",
             f"{'UEs':>5}  {'sim-s/wall-s':>12}  {'steps/s':>8}  {'bridge share':>12}  {'setup s':>7}"]
    for c in result["cases"]:
        lines.append(f"{c['ues']:>5}  {c['sim_s_per_wall_s']:>12.3f}  {c['steps_per_s']:>8.1f}  "
                     f"{100 * c['bridge_share']:>11.2f}%  {c['setup_seconds']:>7.2f}")
    first = result["cases"][0]
    lines.append(f"timed: {first['window_start_s']:.2f} to {first['window_start_s'] + first['sim_seconds']:.2f} "
                 f"simulated s (every link's fast fading is drawn anew once a simulated second)")
    lines.append(f"cost exponent (log wall per simulated s vs log UEs): {result['cost_exponent']:.2f}")
    by_ues = {c["ues"]: c["sim_s_per_wall_s"] for c in result["cases"]}
    lines.append("targets (issue 17 item 1, 2 cores)    target  measured")
    for what, ues, bound, at_most in RAN_TARGETS:
        value = result["cost_exponent"] if ues is None else by_ues.get(ues)
        op = "<=" if at_most else ">="
        if value is None or not math.isfinite(value):
            shown, verdict = "-", "n/a (not measured)"
        else:
            shown, verdict = f"{value:.3g}", "met" if (value <= bound if at_most else value >= bound) else "NOT met"
        lines.append(f"  {what:<32} {op} {bound:>4.1f}  {shown:>8}  {verdict}")
    return "\n".join(lines)


# -- the speed gate's measurement --------------------------------------------------------------------
REFERENCE_SCENARIO = "speed-reference"  # the fixed ns-3 program (ns3_scenarios/speed-reference.cc)
REFERENCE_WINDOW_S = 0.1  # simulated seconds of the reference per window
# The reference is stepped like the RAN workload: one round trip to this process per 5 ms simulated (the
# RAN's decision interval, 10 slots of 0.5 ms), so a loaded machine's wake-up delays weigh on both alike.
REFERENCE_STEP_S = 0.005
# RAN windows of a measurement and their simulated length (the suite's speed cases take these as defaults).
SPEED_ROUNDS = 7
SPEED_WINDOW_S = 0.1


class _Reference:
    """The fixed reference workload (ns3_scenarios/speed-reference.cc, ns-3 only), one process that
    simulates a window more each time it is asked."""

    def __init__(self) -> None:
        # A session of its own, as the Bridge starts every scenario: with the kernel's autogroup scheduling a
        # session shares one group's CPU time, so both workloads must stand in the same kind of group.
        self.process = subprocess.Popen([str(scenario_binary(REFERENCE_SCENARIO))], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                                        start_new_session=True)

    def window(self, sim_seconds: float) -> tuple[float, float]:
        """(simulated s, wall s) of one more window, stepped REFERENCE_STEP_S at a time."""
        assert self.process.stdin is not None and self.process.stdout is not None
        sim, t0 = 0.0, time.perf_counter()
        for _ in range(max(1, round(sim_seconds / REFERENCE_STEP_S))):
            self.process.stdin.write(f"{REFERENCE_STEP_S!r}\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline().split()
            if len(line) != 3:
                self.process.kill()
                raise RuntimeError(f"{REFERENCE_SCENARIO} failed (exit {self.process.wait()}): "
                                   f"{self.process.stderr.read().strip() if self.process.stderr else ''}")
            sim += float(line[0])
        return sim, time.perf_counter() - t0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.process.stdin:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def ran_speed(ues: int, window_s: float = SPEED_WINDOW_S, rounds: int = SPEED_ROUNDS) -> dict[str, Any]:
    """The RAN workload's speed against a fixed reference workload measured in the same run.

    ``bench ran``'s workload for ``ues`` UEs and the fixed ns-3 program ``speed-reference`` (no ns6g
    code) run alternately, each in its own process: reference, RAN, reference, RAN, ..., reference
    (``rounds`` RAN windows of ``window_s`` simulated s after the first step and a warm-up window, which
    runs 2-3x slower than the later ones; reference windows of REFERENCE_WINDOW_S after a warm-up one).
    Round i's ratio is the RAN window's simulated s per wall s over the geometric mean of the two
    reference windows around it; ``normalised_speed`` is the median ratio. A slower or loaded machine
    slows both workloads alike, so the ratio moves far less than either rate.
    """
    if not (isinstance(rounds, int) and rounds >= 1):
        raise ValueError(f"rounds must be a whole number >= 1 (got {rounds!r})")
    if not window_s > 0:
        raise ValueError(f"window_s must be > 0 simulated seconds (got {window_s!r})")
    reference = _Reference()
    try:
        reference.window(REFERENCE_WINDOW_S)  # warm-up: the first packets, routes and allocations
        t0 = time.perf_counter()
        with _ran_running(ues) as (bridge, action, setup_s):
            _ran_window(bridge, action, window_s)  # warm-up: the first windows after reset run slower
            ref_rates, ran_rates = [], []
            sim, wall = reference.window(REFERENCE_WINDOW_S)
            ref_rates.append(sim / wall)
            for _ in range(rounds):
                _, sim, wall = _ran_window(bridge, action, window_s)
                ran_rates.append(sim / wall)
                sim, wall = reference.window(REFERENCE_WINDOW_S)
                ref_rates.append(sim / wall)
        total_s = time.perf_counter() - t0
    finally:
        reference.close()
    ratios = [ran / math.sqrt(before * after) for ran, before, after in zip(ran_rates, ref_rates, ref_rates[1:])]
    return {"ues": ues, "window_s": window_s, "rounds": rounds, "reference_window_s": REFERENCE_WINDOW_S,
            "normalised_speed": float(np.median(ratios)), "sim_s_per_wall_s": float(np.median(ran_rates)),
            "reference_sim_s_per_wall_s": float(np.median(ref_rates)), "ratios": ratios,
            "ran_rates": ran_rates, "reference_rates": ref_rates, "setup_seconds": setup_s, "wall_seconds": total_s}


def bench_speed(ues: int = 100, contention: int = 2, repeats: int = 3, progress: bool = True) -> dict[str, Any]:
    """The speed gate's measurement (:func:`ran_speed`) alone and beside ``contention`` busy processes,
    alternating, ``repeats`` times each: how far the raw rates move under a uniform slowdown, and how far
    the normalised speed moves."""
    runs: dict[str, list[dict[str, Any]]] = {"quiet": [], "loaded": []}
    for _ in tqdm(range(repeats), desc="bench speed", disable=not progress, leave=False):
        runs["quiet"].append(ran_speed(ues))
        with _busy_processes(contention, new_session=True):
            runs["loaded"].append(ran_speed(ues))

    def median(kind: str, key: str) -> float:
        return float(np.median([r[key] for r in runs[kind]]))

    keys = ("sim_s_per_wall_s", "reference_sim_s_per_wall_s", "normalised_speed")
    change = {k: median("loaded", k) / median("quiet", k) - 1 for k in keys}
    return {"benchmark": "speed", "ues": ues, "contention": contention, "repeats": repeats, "runs": runs,
            "median": {kind: {k: median(kind, k) for k in keys} for kind in runs}, "change": change}


def format_speed(result: dict[str, Any]) -> str:
    lines = [f"speed gate measurement, RAN workload at {result['ues']} UEs against the reference (ns-3 only); "
             f"quiet and beside {result['contention']} busy processes, alternating, {result['repeats']} each",
             f"{'run':>8}  {'RAN sim-s/wall-s':>16}  {'reference':>9}  {'normalised':>10}"]
    for kind in ("quiet", "loaded"):
        for r in result["runs"][kind]:
            lines.append(f"{kind:>8}  {r['sim_s_per_wall_s']:>16.3f}  {r['reference_sim_s_per_wall_s']:>9.3f}  "
                         f"{r['normalised_speed']:>10.3f}")
    c = result["change"]
    lines.append(f"loaded against quiet (medians): RAN {c['sim_s_per_wall_s']:+.0%}, reference "
                 f"{c['reference_sim_s_per_wall_s']:+.0%}, normalised {c['normalised_speed']:+.0%}")
    return "\n".join(lines)


# -- split -------------------------------------------------------------------------------------------
SPLIT_ISDS_M = (200.0, 1000.0, 1500.0, 2000.0)


def _mean_latency_ms(env: Any, policy: Any, seed: int, tasks: int) -> tuple[float, list[int], int]:
    """Mean latency (ms) of `tasks` tasks under `policy`, the cuts it chose, and the steps taken."""
    observation, _ = env.reset(seed=seed)
    latencies, cuts, steps = [], [], 0
    while len(latencies) < tasks and steps < 20 * tasks:
        action = policy(observation)
        cuts.append(int(action[0]))
        observation, _, terminated, truncated, info = env.step(action)
        steps += 1
        if info["completed"] > 0:
            latencies.append(info["latency_ms"])
        if terminated or truncated:
            observation, _ = env.reset(seed=seed + steps)
    return float(np.mean(latencies)) if latencies else float("nan"), cuts, steps


def bench_split(model: str = "resnet18_style", device: str = "raspberry-pi-4", tasks: int = 5,
                progress: bool = True) -> dict[str, Any]:
    """Latency of every split of `model` on `device` with an edge GPU, as the uplink rate falls.

    One device in one UMa cell at 3.5 GHz with 5 MHz (numerology 0), tasks at 0.5 Hz, the uplink rate
    falling as the cell grows (inter-site distance 200 m to 2 km; the device is dropped at the same
    relative place). For each size every cut runs `tasks` tasks on the same seed; the best split is the
    one of least mean latency, against the greedy (Neurosurgeon) baseline's choice.
    """
    import gymnasium as gym

    import ns6g.envs  # noqa: F401
    from ns6g.envs.policies import ConstantPolicy

    cases, total_steps, total_s = [], 0, 0.0
    bar = tqdm(SPLIT_ISDS_M, desc="bench split", disable=not progress, leave=False)
    for isd in bar:
        env = gym.make("ns6g/SplitInference-v0", ues=1, task_rate_hz=0.5, model=model, device=device,
                       scenario="UMa", frequency_hz=3.5e9, bandwidth_hz=5e6, numerology=0, isd_m=isd,
                       episode_steps=10_000, fast_fading=False)
        try:
            unwrapped = env.unwrapped
            n_cuts = unwrapped.n_cuts
            latency = {}
            t0 = time.perf_counter()
            for cut in range(n_cuts):
                latency[cut], _, steps = _mean_latency_ms(env, ConstantPolicy(np.array([cut, 0])), 1, tasks)
                total_steps += steps
            # The device-edge greedy: "best" below is found by trying every cut on the edge too.
            greedy_ms, greedy_cuts, steps = _mean_latency_ms(env, unwrapped.baseline_policies()["greedy_edge"], 1, tasks)
            total_steps += steps
            total_s += time.perf_counter() - t0
            # The uplink rate the device saw: its observation's estimate at the first decision.
            observation, _ = env.reset(seed=1)
            uplink_mbps = float(np.asarray(observation["uplink_mbps"]).reshape(-1)[0])
        finally:
            env.close()
        best = min(latency, key=lambda k: latency[k])
        cases.append({
            "isd_m": isd, "uplink_mbps": uplink_mbps,
            "best_split": best, "best_latency_ms": latency[best],
            "greedy_split": int(np.bincount(greedy_cuts).argmax()), "greedy_latency_ms": greedy_ms,
            "local_latency_ms": latency[n_cuts - 1], "edge_latency_ms": latency[0],
            "latency_ms_by_split": [latency[k] for k in range(n_cuts)],
        })
    return {"benchmark": "split", "model": model, "device": device, "edge": "edge-gpu-server",
            "cases": cases, "steps_per_s": total_steps / total_s}


def format_split(result: dict[str, Any]) -> str:
    lines = [f"{result['model']} on {result['device']} with an edge GPU: mean task latency (ms) by split",
             f"{'uplink Mbit/s':>13}  {'best':>4}  {'best ms':>8}  {'greedy':>6}  {'greedy ms':>9}  "
             f"{'local ms':>8}  {'edge ms':>8}"]
    for c in result["cases"]:
        lines.append(f"{c['uplink_mbps']:>13.1f}  {c['best_split']:>4}  {c['best_latency_ms']:>8.2f}  "
                     f"{c['greedy_split']:>6}  {c['greedy_latency_ms']:>9.2f}  {c['local_latency_ms']:>8.2f}  "
                     f"{c['edge_latency_ms']:>8.2f}")
    lines.append(f"env steps/s: {result['steps_per_s']:.0f}")
    return "\n".join(lines)


# -- fl --------------------------------------------------------------------------------------------
FL_CLIENTS = (10, 100, 1000, 10_000)
#: issue 17 item 3's targets (2 cores): profile-mode rounds/s at 1000 clients, the cost exponent over the
#: client counts, the share of a split job's wall time spent in network calls, FedAvg's co-simulation overhead
FL_TARGETS = {"rounds_per_s_1000": 2.0, "cost_exponent": 1.0, "split_network_share": 0.10, "cosim_overhead": 0.03}


class _TimedNetwork:
    """A :class:`~ns6g.learners.network.Network` that adds the wall time of every call made from the
    thread that made it to ``seconds`` (calls a job makes on its helper thread while it trains ahead are
    not waited for: the job counts the part it waited for them in ``FlJob.overlap_wait_s``)."""

    def __init__(self, network: Any) -> None:
        self.network = network
        self.seconds = 0.0
        self._owner = threading.get_ident()
        self.runs_apart = getattr(network, "runs_apart", False)

    def _timed(self, name: str, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return getattr(self.network, name)(*args, **kwargs)
        finally:
            if threading.get_ident() == self._owner:
                self.seconds += time.perf_counter() - t

    @property
    def clients(self) -> int:
        return self.network.clients

    @property
    def next_id(self) -> int | None:
        """The wrapped network's (FlJob then submits a flush's layers in one call), or None."""
        return getattr(self.network, "next_id", None)

    def now_s(self) -> float:
        return self._timed("now_s")

    def submit(self, ops: Any) -> list[int]:
        return self._timed("submit", ops)

    def run(self, wait_for: Any = None, *, any_of: bool = False) -> Any:
        return self._timed("run", wait_for, any_of=any_of)

    def node_index(self, node: str) -> int:
        return self.network.node_index(node)

    def close(self) -> None:
        self.network.close()


def _timed_job(job: dict[str, Any], network: str, overlap: bool | None = None) -> dict[str, float]:
    """One job over ``network`` ("cosim" / "none"): total wall s (network start and stop included), the
    wall s of starting and stopping the network and the wall s spent waiting on the network (inside its
    calls, or for a run the job overlapped with its training: ``FlJob.overlap_wait_s``); ``overlap``:
    FlJob's (default: where the network runs apart)."""
    from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
    from ns6g.learners.engine import FlJob
    from ns6g.learners.no_network import NoNetwork

    t = time.perf_counter()
    inner = (CoSimNetwork(FlNetworkConfig(clients=job["clients"]), seed=1) if network == "cosim"
             else NoNetwork(job["clients"]))
    start_s = time.perf_counter() - t
    net = _TimedNetwork(inner)
    try:
        fl_job = FlJob(job, network=net, overlap=overlap)
        result = fl_job.run()
    finally:
        t_close = time.perf_counter()
        net.close()
        start_s += time.perf_counter() - t_close  # start and stop: the one-time cost
    return {"wall_s": time.perf_counter() - t, "start_s": start_s, "network_s": net.seconds + fl_job.overlap_wait_s,
            "accuracy": result.final_accuracy}


def fl_overhead(job: dict[str, Any], repeats: int = 3) -> dict[str, Any]:
    """Wall time of ``job`` over CoSimNetwork against NoNetwork, after one uncounted warm-up run, runs
    interleaved ``repeats`` times (alternating which goes first).

    ``overhead``: the extra wall time the network costs over the co-simulation clock - starting and
    stopping it (ns-3 process launch, network build, exit) plus its calls (ns-3 simulating, bridge
    exchanges) - as a fraction of the NoNetwork job's wall time: ``(start_s + network_s)(cosim) -
    (start_s + network_s)(none)`` over ``wall_s(none)`` (medians); ``round_overhead``: the same without
    the start and stop (what a longer job tends to). It is measured call by call because on a shared machine the A/B difference of whole
    runs is mostly noise; the A/B ratio ``wall_s(cosim) / wall_s(none) - 1`` is reported beside it
    (``ab_overhead``). PyTorch runs on one thread meanwhile, so that ns-3 has a core of its own."""
    import torch

    runs: dict[str, list[dict[str, float]]] = {"none": [], "cosim": []}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core trains, the other is free for ns-3 (a 2-core machine)
    try:
        _timed_job(job, "none")  # warm-up, not counted: imports, data loading, the FLOP-count cache
        for k in range(repeats):
            for network in (("none", "cosim") if k % 2 == 0 else ("cosim", "none")):
                runs[network].append(_timed_job(job, network))
    finally:
        torch.set_num_threads(threads)

    def median(network: str, key: str) -> float:
        return float(np.median([r[key] for r in runs[network]]))

    none_wall = median("none", "wall_s")
    calls = median("cosim", "network_s") - median("none", "network_s")
    start = median("cosim", "start_s") - median("none", "start_s")
    return {
        "job": job, "repeats": repeats,
        "none_wall_s": none_wall, "cosim_wall_s": median("cosim", "wall_s"),
        "none_network_s": median("none", "network_s"), "cosim_network_s": median("cosim", "network_s"),
        "cosim_start_s": median("cosim", "start_s"),
        "overhead": (calls + start) / none_wall, "round_overhead": calls / none_wall,
        "ab_overhead": median("cosim", "wall_s") / none_wall - 1.0,
        "same_accuracy": runs["none"][0]["accuracy"] == runs["cosim"][0]["accuracy"],
    }


def _profile_case(clients: int, rounds: int, protocol: str) -> dict[str, Any]:
    """Profile-mode rounds of ``protocol`` over the fl-network scenario (up to 100 clients: paper 003's
    one cell with fast fading; more: seven cells, fast fading off). The first round is timed apart
    (``first_round_seconds``: it includes the process's one-time start of PyTorch's meta kernels and
    the FLOP counts, ~2 s); ``rounds_per_s`` and ``round_wall_seconds`` are over the ``rounds - 1`` after it,
    ``network_share`` the part of their wall time spent in the network's calls (ns-3 simulating, the bridge)."""
    from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
    from ns6g.learners.engine import FlJob

    if rounds < 2:
        raise ValueError(f"a profile case needs rounds >= 2 (the first is timed apart), got {rounds}")
    cells, fading = (1, True) if clients <= 100 else (7, False)
    t0 = time.perf_counter()
    with CoSimNetwork(FlNetworkConfig(clients=clients, cells=cells, fast_fading=fading), seed=1) as inner:
        net = _TimedNetwork(inner)
        job = FlJob({"protocol": protocol, "clients": clients, "rounds": rounds, "mode": "profile",
                     "batch_size": 32, "seed": 1}, network=net, **_digits_for(clients))
        setup_s = time.perf_counter() - t0
        t = time.perf_counter()
        job.run_round()
        first = time.perf_counter() - t
        sim_first, network_first = inner.now_s(), net.seconds
        t = time.perf_counter()
        for _ in range(rounds - 1):
            job.run_round()
        wall = time.perf_counter() - t
        sim = inner.now_s() - sim_first
        ops = len(job.transfer_log())
    steady = rounds - 1
    return {"clients": clients, "rounds": rounds, "protocol": protocol, "cells": cells, "fast_fading": fading,
            "setup_seconds": setup_s, "first_round_seconds": first, "round_wall_seconds": wall / steady,
            "rounds_per_s": steady / wall, "network_share": (net.seconds - network_first) / wall,
            "round_sim_seconds": sim / steady, "sim_s_per_wall_s": sim / wall, "transfers_per_round": ops / rounds}


def _digits_for(clients: int) -> dict[str, Any]:
    """FlJob's data arguments for ``clients`` profile-mode clients: none (the digits data set) up to 1000
    clients; beyond, the digits images repeated ``ceil(clients / 1000)`` times as one's own data, so that
    every client holds one or two samples as at 1000 (digits has 1438 training samples; profile mode reads
    only their shape)."""
    if clients <= 1000:
        return {}
    from torch.utils.data import TensorDataset

    from ns6g.learners.data import load_dataset

    digits, copies = load_dataset("digits"), math.ceil(clients / 1000)
    return {"train_data": TensorDataset(digits.x.repeat(copies, 1, 1, 1), digits.y.repeat(copies))}


def split_network_share(job: dict[str, Any]) -> dict[str, Any]:
    """The share of a train-mode split job's wall time (ns-3 start and stop left out) spent waiting on
    the network (its calls, and runs the job overlapped with training but still had to wait for; one
    warm-up run of the job with no network first); ``sequential_share``: the same job without overlap
    (FlJob's ``overlap=False``: every wait blocks), run after it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as fl_overhead: one core trains, the other is ns-3's
    try:
        _timed_job(job, "none")  # warm-up: imports, data, FLOP counts
        run = _timed_job(job, "cosim")
        sequential = _timed_job(job, "cosim", overlap=False)
    finally:
        torch.set_num_threads(threads)
    return {"job": job, **run, "share": run["network_s"] / (run["wall_s"] - run["start_s"]),
            "sequential_share": sequential["network_s"] / (sequential["wall_s"] - sequential["start_s"]),
            "same_accuracy": run["accuracy"] == sequential["accuracy"]}


def bench_fl(clients: tuple[int, ...] = FL_CLIENTS, protocol: str = "splitfed-v1", rounds: int = 4,
             overhead_protocol: str = "fedavg", overhead_rounds: int = 10, repeats: int = 3,
             split_protocol: str = "splitfed-v1", split_rounds: int = 3, progress: bool = True) -> dict[str, Any]:
    """``cosim_overhead`` (:func:`fl_overhead` of a ``overhead_rounds``-round ``overhead_protocol`` job,
    4 clients on the digits data), ``split``: :func:`split_network_share` of a ``split_rounds``-round
    ``split_protocol`` job (the same 4 clients, small CNN), ``cases``: profile-mode rounds per wall second
    of ``protocol`` for each client count (``rounds`` rounds, 2 for 10 000 clients or more; the first timed
    apart), ``cost_exponent``: slope of log(wall s per round) against log(clients); ``targets``: FL_TARGETS."""
    bar = tqdm(total=2 + len(clients), desc="bench fl", disable=not progress, leave=False)
    with bar:
        small = {"clients": 4, "seed": 1, "torch_device": "cpu"}
        overhead = fl_overhead({"protocol": overhead_protocol, "rounds": overhead_rounds, **small}, repeats)
        bar.update()
        split = split_network_share({"protocol": split_protocol, "rounds": split_rounds, **small})
        bar.update()
        cases = []
        for n in clients:
            cases.append(_profile_case(n, rounds if n < 10_000 else 2, protocol))
            bar.update()
    x = np.log([c["clients"] for c in cases])
    y = np.log([c["round_wall_seconds"] for c in cases])
    exponent = float(np.polyfit(x, y, 1)[0]) if len(cases) > 1 else float("nan")
    return {"benchmark": "fl", "scenario": "fl-network", "cosim_overhead": overhead["overhead"],
            "overhead": overhead, "split": split, "cases": cases, "cost_exponent": exponent,
            "targets": dict(FL_TARGETS)}


def format_fl(result: dict[str, Any]) -> str:
    o = result["overhead"]
    lines = [
        f"co-simulation overhead ({o['job']['protocol']}, {o['job']['clients']} clients, {o['job']['rounds']} rounds, "
        f"median of {o['repeats']}): {100 * result['cosim_overhead']:.1f} % "
        f"(ns-3 start and stop {o['cosim_start_s']:.2f} s, network calls {o['cosim_network_s']:.2f} s over ns-3 vs "
        f"{o['none_network_s']:.3f} s with no network, {100 * o['round_overhead']:.1f} % without the start; "
        f"job {o['none_wall_s']:.1f} s; whole-run A/B {100 * o['ab_overhead']:+.0f} %)",
        f"split job in network calls ({result['split']['job']['protocol']}, 4 clients, "
        f"{result['split']['job']['rounds']} rounds, train mode): {100 * result['split']['share']:.1f} % of its wall time "
        f"({100 * result['split'].get('sequential_share', math.nan):.1f} % without overlap)",
        "profile mode over fl-network (20 MHz at 3.5 GHz); rounds after the first",
        f"{'clients':>7}  {'protocol':>12}  {'cells':>5}  {'round sim-s':>11}  {'round wall-s':>12}  "
        f"{'rounds/s':>8}  {'in network':>10}  {'sim-s/wall-s':>12}  {'1st round s':>11}  {'setup s':>7}",
    ]
    for c in result["cases"]:
        lines.append(f"{c['clients']:>7}  {c['protocol']:>12}  {c['cells']:>5}  {c['round_sim_seconds']:>11.3f}  "
                     f"{c['round_wall_seconds']:>12.3f}  {c['rounds_per_s']:>8.3f}  {100 * c['network_share']:>9.0f}%  "
                     f"{c['sim_s_per_wall_s']:>12.3f}  {c['first_round_seconds']:>11.2f}  {c['setup_seconds']:>7.2f}")
    lines.append(f"cost exponent (log wall per round vs log clients): {result['cost_exponent']:.2f}")
    lines += ["targets (issue 17 item 3, 2 cores)       target     measured", *_fl_target_lines(result)]
    return "\n".join(lines)


def _fl_target_lines(result: dict[str, Any]) -> list[str]:
    """One line per target: its bound, the measured figure, met or not (n/a when not measured)."""
    t = result["targets"]
    by_clients = {c["clients"]: c for c in result["cases"]}
    rows = [
        ("rounds/s at 1000 clients", ">=", t["rounds_per_s_1000"],
         by_clients[1000]["rounds_per_s"] if 1000 in by_clients else None, "{:.2f}"),
        ("cost exponent", "<=", t["cost_exponent"], result["cost_exponent"], "{:.2f}"),
        ("split job in network calls", "<=", t["split_network_share"], result["split"]["share"], "{:.1%}"),
        ("FedAvg co-simulation overhead", "<=", t["cosim_overhead"], result["cosim_overhead"], "{:.1%}"),
    ]
    lines = []
    for name, op, bound, value, fmt in rows:
        if value is None or not math.isfinite(value):
            verdict, shown = "n/a", "-"
        else:
            verdict, shown = ("met" if (value >= bound if op == ">=" else value <= bound) else "NOT met"), fmt.format(value)
        lines.append(f"  {name:<36} {op} {fmt.format(bound):>6}  {shown:>8}  {verdict}")
    big = [c for c in result["cases"] if c["clients"] >= 10_000]
    lines += [f"  {c['clients']} clients run (figure)               {c['rounds_per_s']:>17.3f} rounds/s" for c in big]
    return lines


# -- soak ---------------------------------------------------------------------------------------------------

SOAK_ENV = "ns6g/LinkControl-v0"
SOAK_RESET_EVERY = 250  # vector steps between forced resets of all; LinkControl episodes (200 steps) also autoreset


def _rss_kb(pid: int) -> int | None:
    """Resident set size (kB) of a live process, from /proc/<pid>/status; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc/<pid>/task/*/children)."""
    try:
        return sorted(int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                      for child in (task / "children").read_text().split())
    except OSError:
        return []


def _running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _soak_processes(envs: Any) -> list[tuple[str, int]]:
    """(role, pid) of this process, every worker of the vector env and every scenario each worker runs."""
    found = [("main", os.getpid())]
    for process in envs.processes:
        found.append(("worker", process.pid))
        found += [("scenario", child) for child in _children(process.pid)]
    return found


def bench_soak(seconds: float = 60.0, envs: int = 8, env_id: str = SOAK_ENV, warmup_s: float | None = None,
               reset_every: int = SOAK_RESET_EVERY, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Step ``envs`` environments in an AsyncVectorEnv (forkserver workers) with random actions for
    ``seconds`` of wall time, resetting all every ``reset_every`` vector steps (episodes that end reset
    themselves: autoreset), and measure what a long run would leak.

    The first ``warmup_s`` seconds (default: a fifth of the run, at most 10 s) are warm-up: steps/s counts
    the steps after it, and every process's RSS (kB) and open file descriptors are taken when it ends and
    again before close. After close, the /dev/shm/ns6g-* segments named after the workers and the
    processes still running are listed; ``failures`` says what went wrong (an environment error, a
    process left, a segment left, a scenario relaunched), empty when nothing did.
    """
    import gymnasium as gym

    from ns6g.apps.evaluation import make_env
    from ns6g.envs.ids import resolve_env_id

    if seconds <= 0 or envs < 1 or reset_every < 1:
        raise ValueError(f"soak needs seconds > 0, envs >= 1 and reset_every >= 1 (got {seconds}, {envs}, {reset_every})")
    resolve_env_id(env_id)  # here, not in a worker
    warmup_s = min(10.0, seconds / 5) if warmup_s is None else warmup_s
    make = functools.partial(make_env, env_id)  # make_env resolves (imports the id's module) in each worker
    vector = gym.vector.AsyncVectorEnv([make] * envs, context="forkserver")
    rng = np.random.default_rng(seed)
    vector.action_space.seed(seed)
    failures: list[str] = []
    steps = resets = episodes = 0
    start_snapshot: dict[int, tuple[int | None, int | None]] = {}
    processes: list[tuple[str, int]] = []
    bar = tqdm(total=round(seconds), desc="bench soak", unit="s", disable=not progress, leave=False)
    try:
        vector.reset(seed=int(rng.integers(2**31)))
        processes = _soak_processes(vector)
        began = time.perf_counter()
        measured_from = None
        vector_steps = 0
        while (elapsed := time.perf_counter() - began) < seconds:
            if measured_from is None and elapsed >= warmup_s:
                measured_from = time.perf_counter()
                processes = _soak_processes(vector)
                start_snapshot = {pid: (_rss_kb(pid), _open_fds(pid)) for _, pid in processes}
            _, _, terminated, truncated, _ = vector.step(vector.action_space.sample())
            vector_steps += 1
            episodes += int(np.count_nonzero(terminated | truncated))
            if measured_from is not None:
                steps += envs
            if vector_steps % reset_every == 0:
                vector.reset(seed=int(rng.integers(2**31)))
                resets += 1
            if int(elapsed) > bar.n:
                bar.update(int(elapsed) - bar.n)
                bar.set_postfix_str(f"{vector_steps * envs / max(elapsed, 1e-9):.0f} steps/s")
        measured_s = time.perf_counter() - measured_from if measured_from is not None else 0.0
        end_processes = _soak_processes(vector)
        end_snapshot = {pid: (_rss_kb(pid), _open_fds(pid)) for _, pid in end_processes}
        relaunched = {pid for _, pid in end_processes} - {pid for _, pid in processes}
        if relaunched:
            failures.append(f"scenario processes changed during the run (relaunched: {sorted(relaunched)})")
    except Exception as exc:  # noqa: BLE001 (the soak reports what broke, then still checks the cleanup)
        failures.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        measured_s, end_snapshot = 0.0, {}
    finally:
        bar.close()
        workers = [process.pid for process in vector.processes]
        vector.close()
    time.sleep(0.2)  # orphaned scenarios exit within about 50 ms of their worker
    left = [f"{role} {pid}" for role, pid in processes if role != "main" and _running(pid)]
    segments = sorted(entry.name for pid in workers for entry in Path("/dev/shm").glob(f"ns6g-{pid}-*"))
    if left:
        failures.append(f"processes still running after close: {', '.join(left)}")
    if segments:
        failures.append(f"shared-memory segments left after close: {', '.join(segments)}")
    rows = []
    for role, pid in processes:
        rss_start, fds_start = start_snapshot.get(pid, (None, None))
        rss_end, fds_end = end_snapshot.get(pid, (None, None))
        rows.append({"role": role, "pid": pid, "rss_start_kb": rss_start, "rss_end_kb": rss_end,
                     "rss_growth_kb": None if rss_start is None or rss_end is None else rss_end - rss_start,
                     "fds_start": fds_start, "fds_end": fds_end})
    growth = [r["rss_growth_kb"] for r in rows if r["rss_growth_kb"] is not None]
    return {
        "benchmark": "soak",
        "env_id": env_id,
        "envs": envs,
        "seconds": seconds,
        "warmup_s": warmup_s,
        "reset_every": reset_every,
        "steps": steps,
        "measured_s": measured_s,
        "steps_per_s": steps / measured_s if measured_s > 0 else 0.0,
        "resets": resets,
        "episodes_ended": episodes,
        "processes": rows,
        "rss_growth_kb_max": max(growth, default=None),
        "rss_growth_kb_per_min_max": (max(growth) / measured_s * 60) if growth and measured_s > 0 else None,
        "fds_growth_max": max((r["fds_end"] - r["fds_start"] for r in rows
                               if r["fds_start"] is not None and r["fds_end"] is not None), default=None),
        "segments_left": segments,
        "processes_left": left,
        "failures": failures,
    }


def format_soak(result: dict[str, Any]) -> str:
    def num(value: Any, signed: bool = False) -> str:
        return "-" if value is None else f"{value:+d}" if signed else str(value)

    lines = [
        f"soak: {result['envs']} x {result['env_id']} in AsyncVectorEnv for {result['seconds']:g} s "
        f"(warm-up {result['warmup_s']:g} s), random actions, every env reset each {result['reset_every']} steps",
        f"steps/s after warm-up: {result['steps_per_s']:.0f} ({result['steps']} steps in {result['measured_s']:.1f} s; "
        f"{result['resets']} forced resets, {result['episodes_ended']} episodes ended)",
        f"{'process':>8}  {'pid':>7}  {'RSS start kB':>12}  {'RSS end kB':>10}  {'growth kB':>9}  {'fds start':>9}  "
        f"{'fds end':>7}",
    ]
    for r in result["processes"]:
        lines.append(f"{r['role']:>8}  {r['pid']:>7}  {num(r['rss_start_kb']):>12}  {num(r['rss_end_kb']):>10}  "
                     f"{num(r['rss_growth_kb'], True):>9}  {num(r['fds_start']):>9}  {num(r['fds_end']):>7}")
    per_min = result["rss_growth_kb_per_min_max"]
    lines.append(f"largest RSS growth: {num(result['rss_growth_kb_max'], True)} kB"
                 + (f" ({per_min:.0f} kB/min)" if per_min is not None else "")
                 + f"; largest fd growth: {num(result['fds_growth_max'], True)}")
    lines.append(f"after close: {len(result['segments_left'])} /dev/shm/ns6g-* segments and "
                 f"{len(result['processes_left'])} processes left (goal: 0 and 0)")
    lines += [f"FAILED: {failure}" for failure in result["failures"]]
    return "\n".join(lines)


def _learn_folder(env_id: str) -> str:
    """The folder name of ``env_id`` under ``bench learn``'s output (``ns6g/X-v0`` -> ``X-v0``)."""
    return env_id.replace(":", "_").split("/")[-1]


def learn_challenge(challenge: Any, out: Path, timesteps: int | None = None, budget_s: float | None = None,
                    eval_seeds: int | None = None, seed: int = 0, checkpoints: int = 0,
                    n_envs: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Train ``challenge``'s preset agent (a :class:`ns6g.apps.presets.Challenge`) into the run directory ``out``
    for ``timesteps`` (default: the challenge's, else the preset's) or ``budget_s`` wall seconds, whichever
    comes first, on ``n_envs`` scenario processes (default: the preset's), then evaluate the agent, every
    baseline, every reference rule and every upper reference of the environment on the same ``eval_seeds``
    held-out seeds (default: the challenge's, else 20: ``Challenge.held_out_count``); return the table (see
    :func:`bench_learn`)."""
    import pandas as pd

    from ns6g.analysis import load_run
    from ns6g.analysis.compare import paired_difference
    from ns6g.analysis.questions import training_curve
    from ns6g.apps.evaluation import confidence_table, evaluate_contenders, make_env
    from ns6g.apps.training import TrainConfig, eval_seeds as held_out, train
    from ns6g.core.runs import EPISODES_FILE

    out = Path(out)
    eval_seeds = challenge.held_out_count(eval_seeds)
    config = TrainConfig(challenge.env_id, timesteps=timesteps or challenge.n_timesteps, n_envs=n_envs, seed=seed, out=out,
                         env_kwargs=challenge.env_kwargs, algo_kwargs=challenge.algo_kwargs, eval_seeds=eval_seeds,
                         checkpoints=checkpoints, budget_s=budget_s)
    summary = train(config, progress=progress)
    seeds = held_out(seed, eval_seeds)
    episodes = pd.read_csv(out / EPISODES_FILE)
    probe = make_env(challenge.env_id, **challenge.env_kwargs)
    try:
        none = lambda seed: {}  # noqa: E731 (an environment without such contenders)
        references = getattr(probe.unwrapped, "reference_policies", none)(min(seeds))
        uppers = getattr(probe.unwrapped, "upper_reference_policies", none)(min(seeds))
    finally:
        probe.close()
    if references or uppers:
        episodes = pd.concat([episodes, evaluate_contenders(challenge.env_id, challenge.env_kwargs,
                                                            {**references, **uppers}, seeds, out=out,
                                                            progress=progress)],
                             ignore_index=True)
        episodes.to_csv(out / EPISODES_FILE, index=False)
    table = confidence_table(episodes, ["return"])
    kinds = {name: "agent" if name == "agent" else "reference" if name in references
             else "upper" if name in uppers else "baseline" for name in table.index}
    rows = [{"policy": name, "kind": kinds[name], "return": float(table.loc[name, "return"]),
             "return_ci": float(table.loc[name, "return_ci"]), "episodes": int(table.loc[name, "episodes"])}
            for name in table.index]
    heuristics = [r for r in rows if r["kind"] in ("baseline", "reference")]
    best = max(heuristics, key=lambda r: r["return"])
    upper = max((r for r in rows if r["kind"] == "upper"), key=lambda r: r["return"], default=None)
    paired = paired_difference(episodes, "agent", best["policy"])  # the seed's share of the spread cancels
    agent = next(r for r in rows if r["kind"] == "agent")
    frame, figure = training_curve(load_run(out), plot=True)
    figure.savefig(out / "learning_curve.png", dpi=120)
    return {
        "env_id": challenge.env_id, "env_kwargs": challenge.env_kwargs, "algo_kwargs": challenge.algo_kwargs,
        "why": challenge.why,
        "algo": summary["algo"], "timesteps_run": summary["timesteps_run"],
        "train_seconds": summary["train_seconds"], "sim_seconds": float(frame.groupby("env")["sim_time_total_s"].max().sum())
        if not frame.empty else 0.0, "seeds": seeds, "rows": rows, "best_heuristic": best["policy"],
        "agent_ahead": agent["return"] - agent["return_ci"] > best["return"] + best["return_ci"],
        "paired_vs_best": paired, "agent_ahead_paired": paired["mean"] - paired["ci"] > 0,
        "upper_bound": challenge.upper_bound, "upper_bound_why": challenge.upper_bound_why,
        "upper_reference": upper["policy"] if upper else None, "folder": str(out)}


def bench_learn(env_ids: list[str] | None = None, budget_min: float = 30.0, out: Path = Path("runs/bench-learn"),
                eval_seeds: int | None = None, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Train each environment's preset agent on its challenge configuration (``challenges.yml``) for the
    challenge's (else the preset's) steps or ``budget_min`` minutes of wall time, whichever comes first, then evaluate the agent,
    every baseline and every reference rule of the environment on the same held-out seeds (``eval_seeds``
    each; default: the challenge's own count, else 20; :func:`learn_challenge`).

    Writes ``out/<env>/`` (the training run of ``ns6g train``, with ``learning_curve.png``: return against
    training steps and simulated time), ``out/learn.csv`` (one row per env and contender: mean return and
    its 95 % interval) and ``out/learn.json`` (this result). Nothing is trained when a challenge is missing
    or ``out/<env>`` already holds a run.

    Contenders come from the environment: its baselines (``ns6g train`` evaluates them), its
    ``reference_policies(seed)`` (hand-written rules acting through the agent's action: kind ``reference``,
    counted as heuristics) and its ``upper_reference_policies(seed)`` (oracles with knowledge no agent has,
    e.g. the future channel or an exhaustive search: kind ``upper``, a ceiling, never the best heuristic)."""
    import pandas as pd

    from ns6g.apps.presets import challenge_ids, load_challenge
    from ns6g.apps.training import TrainingError
    from ns6g.core.outputs import check_run_dir

    if not (isinstance(budget_min, (int, float)) and budget_min > 0):
        raise TrainingError(f"budget_min must be a positive number of minutes (got {budget_min!r})")
    challenges = [load_challenge(env_id) for env_id in (env_ids or challenge_ids())]
    out = Path(out)
    for challenge in challenges:
        check_run_dir(out / _learn_folder(challenge.env_id), False)
    results = [learn_challenge(challenge, out / _learn_folder(challenge.env_id), budget_s=budget_min * 60.0,
                               eval_seeds=eval_seeds, seed=seed, progress=progress)
               for challenge in challenges]
    result = {"benchmark": "learn", "budget_min": budget_min, "eval_seeds": eval_seeds, "seed": seed,
              "envs": results}
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{"env_id": r["env_id"], **row} for r in results for row in r["rows"]]).to_csv(
        out / "learn.csv", index=False)
    (out / "learn.json").write_text(json.dumps(result, indent=2, default=str))
    return result


def format_learn(result: dict[str, Any]) -> str:
    """Per environment: every contender's mean return ± 95 % interval, the agent against the best heuristic,
    the best upper reference (an oracle's return) and the upper bound."""
    lines = []
    for env in result["envs"]:
        lines.append(f"{env['env_id']} (challenge: {', '.join(f'{k}={v}' for k, v in env['env_kwargs'].items())})")
        lines.append(f"  {env['algo']} trained {env['timesteps_run']} steps in {env['train_seconds']:.0f} s "
                     f"(budget {result['budget_min']:g} min); {len(env['seeds'])} held-out seeds, mean return ± 95 % interval:")
        for row in sorted(env["rows"], key=lambda r: -r["return"]):
            mark = ("  <- best heuristic" if row["policy"] == env["best_heuristic"]
                    else "  <- upper reference" if row["policy"] == env.get("upper_reference") else "")
            lines.append(f"  {row['policy']:<20} {row['kind']:<10} {row['return']:10.3f} ± {row['return_ci']:.3f}{mark}")
        if env["upper_bound"] is not None:
            lines.append(f"  {'upper bound':<20} {'':<10} {env['upper_bound']:10.3f}  ({env['upper_bound_why']})")
        best = env["best_heuristic"]
        if env["agent_ahead"]:
            lines.append(f"  agent AHEAD of the best heuristic ({best}): the 95 % intervals do not overlap")
        else:
            lines.append(f"  agent NOT ahead of the best heuristic ({best}): its 95 % interval is not wholly above")
        paired = env["paired_vs_best"]
        lines.append(f"  paired on the same seeds: agent - {best} = {paired['mean']:+.3f} ± {paired['ci']:.3f} "
                     f"(better on {paired['better']} of {paired['seeds']} seeds; "
                     f"{'ahead' if env['agent_ahead_paired'] else 'not ahead'} by the paired 95 % interval)")
    return "\n".join(lines)

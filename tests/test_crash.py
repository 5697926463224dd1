"""Crash semantics: a dead scenario is reported by the first call that touches it and by every later one,
naming the original process; only reset (or an explicit relaunch) starts a new one. Out-of-order commands
get a protocol error from every scenario, never a crash."""

import atexit
import functools
import os
import re
import shutil
import signal
import tempfile
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ClosedEnvironmentError
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv

from ns6g.core.bridge import (
    CMD_CLOSE, CMD_MESSAGE, CMD_RESET, CMD_STEP, OFF_REQ_ARENA_LEN, OFF_REQ_SEED, Bridge, ScenarioCrashed,
    ScenarioError, ScenarioNotResponding,
)
from ns6g.core.build import scenario_binary
from ns6g.compute.devices import catalogue_path
from ns6g.envs.bridge_echo import BridgeEchoConfig, BridgeEchoEnv
from ns6g.envs.d2d_relay import D2DRelayConfig
from ns6g.envs.multi_access import MultiAccessConfig
from ns6g.envs.link_control import LinkControlConfig, LinkControlEnv
from ns6g.envs.mec_offload import MecOffloadConfig
from ns6g.envs.spectrum_allocation import SpectrumAllocationConfig
from ns6g.envs.split_inference import SplitInferenceConfig, profiles_dir
from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
from ns6g.learners.network import Transfer, client, edge
from ns6g.radio import _query
from ns6g.envs.vec_env import BridgeVecEnv
from tests.conftest import pid_gone

ITERATIONS = 20
DEATHS = ["SIGKILL", "SIGSEGV", "SIGTERM", "exit"]


def visibly_dead(pid: int, within_s: float = 10.0) -> None:
    """Wait until ``pid`` is gone or a zombie (our child, not yet reaped): it can answer nothing."""
    assert pid_gone(pid, within_s), f"process {pid} still runs {within_s} s after it was killed"


def children(parent: int | None = None, name: str | None = None) -> set[int]:
    """Live (not zombie) processes whose parent is ``parent`` (default: this one), optionally by name."""
    parent = os.getpid() if parent is None else parent
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1].split()
        if int(rest[1]) == parent and rest[0] != "Z" and (name is None or comm == name[:15]):
            found.add(int(entry))
    return found


def kill(bridge: Bridge, how: str) -> int:
    """End the scenario behind the caller's back: a signal, or (``exit``) a CLOSE it obeys, exiting 0."""
    pid = bridge.pid
    if how == "exit":
        bridge.post(CMD_CLOSE)
    else:
        os.kill(pid, getattr(signal, how))
    return pid


def death_pattern(binary: str, pid: int, how: str) -> str:
    cause = "exited with code 0" if how == "exit" else f"killed by {how}"
    return rf"scenario {re.escape(binary)} \(pid {pid}\) (was )?{cause}"


# -- ScenarioEnv -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", DEATHS)
def test_death_between_steps_is_raised_every_time_and_reset_relaunches(how):
    env = LinkControlEnv(episode_steps=1000)
    try:
        for i in range(ITERATIONS):
            env.reset(seed=i + 1)
            env.step(0)
            pid = kill(env.bridge, how)
            visibly_dead(pid)
            for _ in range(2):  # the first call that touches it, and every later one, name the original
                with pytest.raises(ScenarioCrashed, match=death_pattern("link-control", pid, how)):
                    env.step(1)
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # reported already: relaunches without a warning
                env.reset(seed=i + 1)
            assert env.bridge.pid != pid and env.bridge.alive
            env.step(2)
    finally:
        env.close()


@pytest.mark.parametrize("how", DEATHS)
def test_death_during_a_step_is_raised_every_time_and_reset_relaunches(how):
    # Step 2 hangs (the scenario sleeps, heartbeat alive) or exits with code 3 by itself.
    knob = {"exit_after": 2} if how == "exit" else {"hang_after": 2}
    env = BridgeEchoEnv(**knob)
    action = np.zeros(8, np.float32)
    try:
        for i in range(ITERATIONS):
            env.reset(seed=i + 1)
            env.step(action)
            pid = env.bridge.pid
            env.step_send(action)
            if how != "exit":
                os.kill(pid, getattr(signal, how))
            pattern = death_pattern("bridge-echo", pid, how).replace("code 0", "code 3")
            for _ in range(2):
                with pytest.raises(ScenarioCrashed, match=pattern):
                    env.step(action)
            env.reset(seed=i + 1)
            assert env.bridge.pid != pid
            env.step(action)
    finally:
        env.close()


@pytest.mark.parametrize("env_id", ["SpectrumAllocation", "MecOffload", "SplitInference", "D2DRelay",
                                    "MultiAccessInference"])
def test_every_environment_raises_a_death_between_steps_and_reset_relaunches(env_id):
    env = gym.make(f"ns6g/{env_id}-v0").unwrapped
    try:
        policy = next(iter(env.baseline_policies().values()))
        observation, _ = env.reset(seed=1)
        observation = env.step(policy(observation))[0]
        pid = kill(env.bridge, "SIGKILL")
        visibly_dead(pid)
        for _ in range(2):
            with pytest.raises(ScenarioCrashed, match=death_pattern(env.scenario, pid, "SIGKILL")):
                env.step(policy(observation))
        observation, _ = env.reset(seed=1)
        assert env.bridge.pid != pid
        env.step(policy(observation))
    finally:
        env.close()


def test_fsl_orchestration_raises_its_networks_death_and_reset_relaunches():
    from ns6g.envs.fsl_orchestration import FslOrchestrationEnv

    env = FslOrchestrationEnv({"clients": 2, "episode_rounds": 3, "batch_size": 64})
    try:
        env.action_space.seed(0)
        env.reset(seed=1)
        env.step(env.action_space.sample())
        pid = kill(env._net.bridge, "SIGKILL")
        visibly_dead(pid)
        for _ in range(2):
            with pytest.raises(ScenarioCrashed, match=death_pattern("fl-network", pid, "SIGKILL")):
                env.step(env.action_space.sample())
        env.reset(seed=1)
        assert env._net.bridge.pid != pid
        env.step(env.action_space.sample())
    finally:
        env.close()


def test_frozen_scenario_is_raised_every_time_and_reset_relaunches():
    env = LinkControlEnv(bridge_options={"hang_timeout_s": 0.5})
    try:
        for i in range(3):
            env.reset(seed=i + 1)
            pid = env.bridge.pid
            os.kill(pid, signal.SIGSTOP)
            for _ in range(2):
                with pytest.raises(ScenarioNotResponding, match=rf"link-control \(pid {pid}\) stopped answering"):
                    env.step(0)
            visibly_dead(pid)  # killed when found frozen
            env.reset(seed=i + 1)
            assert env.bridge.pid != pid
            env.step(0)
    finally:
        env.close()


def test_death_unseen_before_reset_warns_and_is_in_the_trace(tmp_path):
    from ns6g.analysis import load_run

    env = LinkControlEnv(run_dir=tmp_path / "run")
    env.reset(seed=1)
    pid = kill(env.bridge, "SIGKILL")
    visibly_dead(pid)
    with pytest.warns(RuntimeWarning, match=rf"pid {pid}\) was killed by SIGKILL.*; starting a new"):
        env.reset(seed=2)
    env.step(0)
    env.close()
    events = load_run(tmp_path / "run").events
    crashes = events[events["kind"] == "crash"]
    assert len(crashes) == 1 and f"pid {pid}" in crashes["detail"].iloc[0]


def test_step_and_reset_after_close_raise_and_start_nothing():
    env = LinkControlEnv()
    env.reset(seed=1)
    env.close()
    before = children(name="link-control")
    with pytest.raises(ClosedEnvironmentError, match="LinkControlEnv is closed"):
        env.step(0)
    with pytest.raises(ClosedEnvironmentError, match="closed"):
        env.reset(seed=1)
    with pytest.raises(ClosedEnvironmentError):
        env.check_alive()
    assert children(name="link-control") == before
    env.close()  # twice is fine


def test_fsl_orchestration_after_close_raises_and_starts_no_network():
    from ns6g.envs.fsl_orchestration import FslOrchestrationEnv

    env = FslOrchestrationEnv({"clients": 2, "episode_rounds": 3, "batch_size": 64})
    env.reset(seed=1)
    env.close()
    before = children(name="fl-network")
    with pytest.raises(ClosedEnvironmentError, match="FslOrchestrationEnv is closed"):
        env.reset(seed=1)
    with pytest.raises(ClosedEnvironmentError, match="closed"):
        env.step(env.action_space.sample())
    assert children(name="fl-network") == before
    env.close()


def test_bridge_refuses_every_call_after_death_naming_the_process(echo_binary):
    b = Bridge(echo_binary)
    b.reset(1)
    pid = kill(b, "SIGKILL")
    visibly_dead(pid)
    for call in (lambda: b.step(np.zeros(8, np.float32)), lambda: b.reset(2),
                 lambda: b.request("transfer", np.zeros(1, b.record_dtypes["transfer"])), b.check_alive):
        with pytest.raises(ScenarioCrashed, match=rf"bridge-echo \(pid {pid}\) was killed by SIGKILL"):
            call()
    b.close()
    with pytest.raises(ScenarioCrashed, match=f"pid {pid}"):  # close() does not hide how it ended
        b.reset(1)


# -- out-of-order commands --------------------------------------------------------------------------------
@functools.cache
def highway_trace_file() -> Path:
    """multi-access's vehicle trace as its environment writes it (the default configuration's)."""
    from ns6g.radio.mobility import highway_trace

    c = MultiAccessConfig()
    folder = tempfile.mkdtemp(prefix="ns6g-test-trace-")
    atexit.register(shutil.rmtree, folder, True)
    path = Path(folder) / "highway.ns_movements"
    highway_trace(path, 1 + c.helpers, length_m=c.road_length_m, lanes=c.lanes,
                  speed_mps=(c.speed_min_mps, c.speed_max_mps), duration_s=c.trace_duration_s, seed=c.mobility_seed)
    return path


def scenario_args(name: str) -> list[str]:
    """Realistic options: the environment's default configuration and the data files its env adds."""
    catalogue = f"--catalogue={catalogue_path()}"
    return {
        "bridge-echo": lambda: BridgeEchoConfig().to_args(),
        "link-control": lambda: LinkControlConfig().to_args(),
        "ran-spectrum": lambda: SpectrumAllocationConfig().to_args(),
        "mec-offload": lambda: [*MecOffloadConfig().to_args(), catalogue],
        "mec-split": lambda: [*SplitInferenceConfig().to_args(), catalogue, f"--profiles={profiles_dir()}"],
        "d2d-relay": lambda: D2DRelayConfig().to_args(),
        "multi-access": lambda: [*MultiAccessConfig().to_args(), catalogue, f"--profiles={profiles_dir()}",
                                 f"--mobility-trace={highway_trace_file()}"],
        "fl-network": lambda: FlNetworkConfig(clients=2).to_args(),
        "ran-query": lambda: [],
    }[name]()


SCENARIOS = ["bridge-echo", "link-control", "ran-spectrum", "mec-offload", "mec-split", "d2d-relay", "multi-access",
             "fl-network", "ran-query"]


def raw(b: Bridge, command: int) -> None:
    b.post(command)
    b.wait()


@pytest.mark.parametrize("name", SCENARIOS)
def test_out_of_order_commands_get_a_protocol_error(name):
    with Bridge(scenario_binary(name), scenario_args(name)) as b:
        # A message service (fl-network, ran-query) takes no STEP at all, episode or not.
        step_refusal = ("STEP: this scenario is a message service" if b.is_service
                        else "STEP needs an episode: send RESET first .no RESET")
        with pytest.raises(ScenarioError, match=step_refusal):
            raw(b, CMD_STEP)
        b._u64(OFF_REQ_ARENA_LEN)[()] = 16
        with pytest.raises(ScenarioError, match="MESSAGE needs an episode"):
            raw(b, CMD_MESSAGE)
        with pytest.raises(ScenarioError, match="unknown command 99"):
            raw(b, 99)
        assert b.alive
        b.reset(1)
        if not b.record_dtypes:  # a message to a scenario that takes none
            b._u64(OFF_REQ_ARENA_LEN)[()] = 16
            with pytest.raises(ScenarioError, match="record type"):
                raw(b, CMD_MESSAGE)
        if b.is_service:
            with pytest.raises(ScenarioError, match="STEP: this scenario is a message service"):
                raw(b, CMD_STEP)
        else:
            b.action_space.seed(0)
            try:
                b.step(b.action_space.sample())
            except ScenarioError:
                pass  # the scenario may refuse a random action; it must stay alive
        with pytest.raises(ScenarioError, match="unknown command 0"):
            raw(b, 0)
        assert b.alive
        b.reset(2)  # still usable


def test_step_after_the_episode_ended_gets_a_protocol_error():
    with Bridge(scenario_binary("link-control"), LinkControlConfig(episode_steps=2).to_args()) as b:
        b.reset(1)
        assert not b.step(0).truncated and b.step(0).truncated
        with pytest.raises(ScenarioError, match="STEP after the episode ended"):
            b.step(0)
        b._u64(OFF_REQ_SEED)[()] = 1
        raw(b, CMD_RESET)
        b.step(0)  # a new episode steps again


# -- vector environments -----------------------------------------------------------------------------------
def test_bridge_vec_env_raises_the_death_and_reset_relaunches():
    venv = make_vec_env("ns6g.envs:ns6g/LinkControl-v0", n_envs=3, seed=1, vec_env_cls=BridgeVecEnv)
    try:
        for _ in range(3):
            venv.reset()
            venv.step(np.zeros(3, dtype=np.int64))
            pid = kill(venv.envs[1].unwrapped.bridge, "SIGKILL")
            visibly_dead(pid)
            for _ in range(2):
                with pytest.raises(ScenarioCrashed, match=death_pattern("link-control", pid, "SIGKILL")):
                    venv.step(np.zeros(3, dtype=np.int64))
            venv.reset()
            assert venv.envs[1].unwrapped.bridge.pid != pid
    finally:
        venv.close()


def test_async_vector_env_raises_the_death_naming_the_process():
    venv = gym.vector.AsyncVectorEnv([lambda: gym.make("ns6g/LinkControl-v0")] * 2)
    try:
        venv.reset(seed=1)
        venv.step(np.zeros(2, dtype=np.int64))
        (pid,) = children(venv.processes[0].pid, "link-control")
        (other,) = children(venv.processes[1].pid, "link-control")
        os.kill(pid, signal.SIGKILL)
        visibly_dead(pid)
        with pytest.raises(ScenarioCrashed, match=death_pattern("link-control", pid, "SIGKILL")):
            venv.step(np.zeros(2, dtype=np.int64))
    finally:
        venv.close()
    visibly_dead(other)  # the surviving worker's scenario goes with it


def test_subproc_vec_env_fails_instead_of_stepping_a_new_scenario(capfd):
    # SB3's worker does not send exceptions back: the worker dies on ScenarioCrashed (printing it) and
    # the parent sees its pipe close. It must never return a step from a relaunched scenario.
    venv = make_vec_env("ns6g.envs:ns6g/LinkControl-v0", n_envs=2, seed=1, vec_env_cls=SubprocVecEnv,
                        vec_env_kwargs={"start_method": "fork"})
    try:
        venv.reset()
        (pid,) = children(venv.processes[0].pid, "link-control")
        (other,) = children(venv.processes[1].pid, "link-control")
        os.kill(pid, signal.SIGKILL)
        visibly_dead(pid)
        with pytest.raises((EOFError, ConnectionError)):
            venv.step(np.zeros(2, dtype=np.int64))
        venv.processes[0].join(timeout=30)
        assert re.search(death_pattern("link-control", pid, "SIGKILL"), capfd.readouterr().err)
    finally:
        for process in venv.processes:  # SB3's close() cannot talk to the dead worker
            process.kill()
            process.join(timeout=30)
    visibly_dead(other)  # the surviving worker's scenario went with its worker (watchdog)


# -- co-simulated network ------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["SIGKILL", "exit"])
def test_cosim_network_raises_the_death_until_reset(how):
    round_ = [Transfer(edge(0), client(0), 10_000, "down")]
    with CoSimNetwork(FlNetworkConfig(clients=2, fast_fading=False), seed=1) as net:
        for i in range(3):
            net.submit(round_)
            net.run()
            pid = kill(net.bridge, how)
            visibly_dead(pid)
            pattern = death_pattern("fl-network", pid, how)
            for call in (lambda: net.submit(round_), net.run, net.channel_state):
                with pytest.raises(ScenarioCrashed, match=pattern):
                    call()
            net.reset(i + 2)
            assert net.bridge.pid != pid
            assert [c.ok for c in (net.submit(round_), net.run())[1]] == [True]


def test_cosim_network_raises_a_death_during_a_run():
    import threading

    with CoSimNetwork(FlNetworkConfig(clients=2, fast_fading=False), seed=1) as net:
        for i in range(3):
            net.submit([Transfer(client(0), edge(0), 2**30, "huge")])  # minutes of simulated uplink
            pid = net.bridge.pid
            threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
            with pytest.raises(ScenarioCrashed, match=death_pattern("fl-network", pid, "SIGKILL")):
                net.run()
            with pytest.raises(ScenarioCrashed, match=death_pattern("fl-network", pid, "SIGKILL")):
                net.channel_state()
            net.reset(i + 2)
            assert net.bridge.pid != pid


def test_reset_right_after_a_kill_relaunches_every_time():
    # No wait for the death to show: the process may still be exiting (a zombie leader whose threads are
    # still going cannot be reaped yet) when reset asks it; reset must still relaunch, warning of it.
    env = LinkControlEnv(episode_steps=1000)
    try:
        for i in range(ITERATIONS):
            env.reset(seed=i + 1)
            env.step(0)
            pid = kill(env.unwrapped._bridge, "SIGKILL")
            with pytest.warns(RuntimeWarning, match=rf"pid {pid}\) was killed by SIGKILL.*; starting a new"):
                env.reset(seed=i + 1)
            assert env.unwrapped._bridge.pid != pid
            env.step(0)
    finally:
        env.close()
    with CoSimNetwork(FlNetworkConfig(clients=2, fast_fading=False), seed=1) as net:
        for i in range(5):
            pid = kill(net.bridge, "SIGKILL")
            with pytest.warns(RuntimeWarning, match=rf"pid {pid}\) was killed by SIGKILL.*; starting a new"):
                net.reset(i + 2)
            assert net.bridge.pid != pid


def test_cosim_reset_warns_of_a_death_it_finds():
    with CoSimNetwork(FlNetworkConfig(clients=2, fast_fading=False), seed=1) as net:
        pid = kill(net.bridge, "SIGKILL")
        visibly_dead(pid)
        with pytest.warns(RuntimeWarning, match=rf"pid {pid}\) was killed by SIGKILL.*; starting a new"):
            net.reset(3)
        net.submit([Transfer(edge(0), client(1), 1000, "x")])
        assert net.run()[0].ok


# -- ns6g.radio ------------------------------------------------------------------------------------------------
def test_radio_reports_a_dead_query_process_once_then_starts_a_new_one():
    from ns6g import radio

    expected = radio.noise_dbm(20e6, 7.0)
    for _ in range(3):
        with _query._live_bridge() as bridge:
            pid = bridge.pid
        os.kill(pid, signal.SIGKILL)
        visibly_dead(pid)
        with pytest.raises(ScenarioCrashed, match=rf"ran-query \(pid {pid}\) was killed by SIGKILL(.|\n)*"
                                                  "the next query starts a new ran-query process"):
            radio.noise_dbm(20e6, 7.0)
        assert radio.noise_dbm(20e6, 7.0) == expected
        with _query._live_bridge() as bridge:
            assert bridge.pid != pid


@pytest.mark.parametrize("bandwidth_hz", [20e6, 1e9])  # valid, and refused (over 3.5 GHz's limit)
def test_config_validation_leaves_no_query_process(bandwidth_hz):
    _query._close()
    if bandwidth_hz > 100e6:
        with pytest.raises(ValueError, match="bandwidth"):
            SpectrumAllocationConfig(bandwidth_hz=bandwidth_hz)
    else:
        SpectrumAllocationConfig(bandwidth_hz=bandwidth_hz)
    assert _query._bridge is None and not children(name="ran-query")


def test_config_validation_keeps_a_query_process_that_was_running():
    from ns6g import radio

    radio.noise_dbm(20e6, 7.0)
    with _query._live_bridge() as bridge:
        pid = bridge.pid
    with pytest.raises(ValueError, match="bandwidth"):
        SpectrumAllocationConfig(bandwidth_hz=1e9)
    with _query._live_bridge() as bridge:
        assert bridge.pid == pid and bridge.alive


def test_a_failed_relaunch_keeps_naming_the_original_death(monkeypatch):
    env = LinkControlEnv()
    try:
        env.reset(seed=1)
        pid = kill(env.bridge, "SIGKILL")
        visibly_dead(pid)
        with pytest.raises(ScenarioCrashed, match=f"pid {pid}"):
            env.step(0)

        def no_launch():
            raise OSError("cannot start the scenario")

        monkeypatch.setattr(env, "_launch", no_launch)
        with pytest.raises(OSError, match="cannot start"):
            env.reset(seed=2)
        with pytest.raises(ScenarioCrashed, match=f"pid {pid}"):  # not "closed", not a new process
            env.step(0)
        monkeypatch.undo()
        env.reset(seed=2)
        env.step(0)
    finally:
        env.close()


def test_a_forked_child_starts_its_own_query_process():
    # A vector environment's worker forked while this process holds a query process: the inherited
    # one is the parent's, neither dead nor the child's to use.
    from ns6g import radio

    expected = radio.noise_dbm(20e6, 7.0)
    with _query._live_bridge() as bridge:
        pid = bridge.pid
    child = os.fork()
    if child == 0:
        ok = False
        try:
            SpectrumAllocationConfig()
            with _query._live_bridge() as bridge:
                ok = radio.noise_dbm(20e6, 7.0) == expected and bridge.pid != pid
        finally:
            os._exit(0 if ok else 1)
    assert os.waitpid(child, 0)[1] == 0
    with _query._live_bridge() as bridge:
        assert bridge.pid == pid and bridge.alive
    assert radio.noise_dbm(20e6, 7.0) == expected


def test_a_forked_child_cannot_use_its_parents_bridge(echo_binary):
    with Bridge(echo_binary) as b:
        b.reset(1)
        child = os.fork()
        if child == 0:
            code = 1
            try:
                b.step(np.zeros(8, np.float32))
            except BaseException as exc:  # the child reports through its exit code
                code = 0 if f"belongs to process {os.getppid()}" in str(exc) else 2
            finally:
                os._exit(code)
        assert os.waitpid(child, 0)[1] == 0
        b.step(np.zeros(8, np.float32))  # the parent's bridge is untouched

"""Every ``ns6g`` command answers a bad argument or an unusable path with one line naming the problem and a
non-zero exit, never a traceback; a run directory left by a failed job can be retried."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ns6g.analysis import load_run
from ns6g.apps.cli import main
from ns6g.core.outputs import OutputError, check_run_dir, claim_run_dir
from ns6g.core.runs import RunWriter

LINK = "ns6g/LinkControl-v0"
# A training job small enough for a test: one scenario, 20-step episodes, no checkpoints, one evaluation seed.
TINY_TRAIN = ["--timesteps", "40", "--n-envs", "1", "--eval-seeds", "1", "--checkpoints", "0", "--env",
              "episode_steps=20", "--algo-arg", "n_steps=20", "--algo-arg", "batch_size=20", "--quiet"]


@pytest.fixture
def paths(tmp_path) -> dict[str, str]:
    """Placeholders of the cases: a file, an empty folder, a folder holding a failed run, a finished run."""
    (tmp_path / "file.txt").write_text("x = [\n")  # not TOML, not JSON, not a folder
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError), RunWriter(tmp_path / "failed", kind="train"):
        raise RuntimeError("the scenario died")  # a real failed run directory
    with RunWriter(tmp_path / "run", kind="env") as run:
        run.append("events", {"kind": "reset", "wall_time_s": 0.0})
    return {"file": str(tmp_path / "file.txt"), "empty": str(tmp_path / "empty"), "failed": str(tmp_path / "failed"),
            "run": str(tmp_path / "run"), "missing": str(tmp_path / "missing")}


def run_main(capsys, argv: list[str]) -> tuple[int, str]:
    """``ns6g ARGV`` in this process: (exit status, stderr)."""
    try:
        status = main(argv)
    except SystemExit as exc:  # the argument parser exits
        status = exc.code
    return status, capsys.readouterr().err


def assert_one_line_error(status: int, err: str, command: str, *needles: str) -> None:
    assert status not in (0, None), err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{command}: error: "), err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


# (arguments, the command named in the message, what the message must name). {file}, {empty}, {failed},
# {run} and {missing} are paths of the `paths` fixture.
CASES = [
    # build
    ("build --jobs 0", "ns6g build", "argument --jobs: must be >= 1, got 0"),
    ("build --jobs many", "ns6g build", "argument --jobs: expected a whole number, got 'many'"),
    # bench
    ("bench nonsense", "ns6g bench", "invalid choice: 'nonsense'"),
    ("bench bridge --iterations 0", "ns6g bench", "argument --iterations: must be >= 1"),
    ("bench bridge --contention 65", "ns6g bench", "argument --contention: must be between 0 and 64, got 65"),
    ("bench parallel --seconds -1", "ns6g bench", "argument --seconds: must be a finite number > 0, got -1"),
    ("bench parallel --seconds inf", "ns6g bench", "argument --seconds", "inf"),
    ("bench trace --detail everything", "ns6g bench", "argument --detail: invalid choice: 'everything'"),
    ("bench ran --ues 4", "ns6g bench", "unrecognized arguments: --ues 4"),
    ("bench suite --jobs -1", "ns6g bench", "argument --jobs: must be >= 1, got -1"),
    ("bench suite --jobs 0", "ns6g bench", "argument --jobs: must be >= 1, got 0"),
    ("bench suite --config {missing}.toml", "ns6g bench suite", "cannot read the suite {missing}.toml"),
    ("bench suite --config {file}", "ns6g bench suite", "{file}: not valid TOML"),
    ("bench suite --baseline {missing}.json", "ns6g bench suite", "cannot read the baseline {missing}.json"),
    ("bench suite --out {file}", "ns6g bench", "argument --out: {file} is a file, not a folder"),
    ("bench suite --write-baseline {empty}", "ns6g bench", "argument --write-baseline: {empty} is a folder"),
    ("bench suite --write-baseline {file}/b.json", "ns6g bench", "cannot write {file}/b.json: {file} is a file"),
    ("bench suite --backend slurm", "ns6g bench", "argument --backend: invalid choice: 'slurm'"),
    # demo
    ("demo nope", "ns6g demo", "invalid choice: 'nope'"),
    ("demo --timesteps 0", "ns6g demo", "argument --timesteps: must be >= 1"),
    ("demo link --n-envs 0", "ns6g demo", "argument --n-envs: must be >= 1"),
    ("demo --seed -1", "ns6g demo", "argument --seed: must be between 0 and"),
    ("demo --eval-seeds 0", "ns6g demo", "argument --eval-seeds: must be >= 1"),
    ("demo --fl-rounds 0", "ns6g demo", "argument --fl-rounds: must be >= 1"),
    ("demo --out {file}", "ns6g demo", "argument --out: {file} is a file"),
    ("demo link --out {failed}", "ns6g demo", "{failed} already holds a failed run", "--overwrite"),
    ("demo --out {failed}", "ns6g demo", "{failed} already holds a failed run", "--overwrite"),
    # envs, version
    ("envs extra", "ns6g envs", "unrecognized arguments: extra"),
    ("version --verbose", "ns6g version", "unrecognized arguments: --verbose"),
    # train
    ("train ns6g/Nope-v0", "ns6g train", "unknown environment 'ns6g/Nope-v0'"),
    (f"train {LINK} --env rate_levels", "ns6g train", "argument --env: expected KEY=VALUE, got 'rate_levels'"),
    (f"train {LINK} --env nonsense=1", "ns6g train", "nonsense: unknown key"),
    (f"train {LINK} --env rate_levels=1", "ns6g train", "rate_levels"),
    (f"train {LINK} --timesteps 0", "ns6g train", "argument --timesteps: must be >= 1, got 0"),
    (f"train {LINK} --timesteps -5", "ns6g train", "argument --timesteps: must be >= 1, got -5"),
    (f"train {LINK} --n-envs 0", "ns6g train", "argument --n-envs/--workers: must be >= 1, got 0"),
    (f"train {LINK} --algo td3", "ns6g train", "unknown algorithm 'td3'"),
    (f"train {LINK} --algo sac", "ns6g train", "sac cannot act in the action space Discrete"),
    (f"train {LINK} --algo-arg n_steps=-3", "ns6g train", "PPO refuses the arguments n_steps=-3", "n_steps"),
    (f"train {LINK} --algo-arg foo=1", "ns6g train", "PPO has no argument 'foo'", "n_steps"),
    (f"train {LINK} --algo-arg learning_rate=fast", "ns6g train", "learning_rate='fast'"),
    (f"train {LINK} --algo-arg batch_size=0", "ns6g train", "PPO refuses the arguments batch_size=0"),
    (f"train {LINK} --algo-arg gamma=2", "ns6g train", "PPO argument gamma must be a number in [0.0, 1.0]"),
    (f"train {LINK} --algo dqn --algo-arg exploration_fraction=-1", "ns6g train", "DQN argument exploration_fraction"),
    (f"train {LINK} --algo-arg n_epochs=0", "ns6g train", "PPO argument n_epochs must be a number >= 1"),
    (f"train {LINK} --algo-arg seed=1", "ns6g train", "'seed' is set by ns6g train (from --seed)"),
    (f"train {LINK} --device tpu", "ns6g train", "unknown device 'tpu'", "cpu, cuda, auto"),
    ("train CartPole-v1", "ns6g train", "CartPole-v1 is a Gymnasium environment but not an ns6g one",
     "takes no run_dir and trace_detail"),
    (f"train {LINK} --algo-arg device=cuda", "ns6g train", "'device' is set by ns6g train"),
    (f"train {LINK} --seed -1", "ns6g train", "argument --seed: must be between 0 and 2147483647, got -1"),
    (f"train {LINK} --seed 1.5", "ns6g train", "argument --seed: expected a whole number, got '1.5'"),
    (f"train {LINK} --checkpoints -1", "ns6g train", "argument --checkpoints: must be >= 0"),
    (f"train {LINK} --eval-seeds 0", "ns6g train", "argument --eval-seeds: must be >= 1"),
    (f"train {LINK} --out {{file}}", "ns6g train", "argument --out: {file} is a file, not a folder"),
    (f"train {LINK} --out {{file}}/sub", "ns6g train", "cannot create {file}/sub: {file} is a file"),
    (f"train {LINK} --out /proc/ns6g-test", "ns6g train", "cannot write in /proc"),
    (f"train {LINK} --out {{failed}}", "ns6g train", "{failed} already holds a failed run", "--overwrite"),
    # fl
    ("fl --rounds 1", "ns6g fl", "the following arguments are required: --protocol"),
    ("fl --protocol nope --quiet", "ns6g fl", "unknown protocol 'nope'"),
    ("fl --protocol fedavg --rounds 0", "ns6g fl", "argument --rounds: must be >= 1"),
    ("fl --protocol fedavg --clients 0", "ns6g fl", "argument --clients: must be >= 1"),
    ("fl --protocol fedavg --seed -1", "ns6g fl", "argument --seed: must be between 0"),
    ("fl --protocol fedavg --network wifi", "ns6g fl", "argument --network: invalid choice: 'wifi'"),
    ("fl --protocol fedavg --scenario atlantis --quiet", "ns6g fl", "unknown scenario 'atlantis'", "paper003"),
    ("fl --protocol fedavg --scenario {file} --quiet", "ns6g fl", "unknown scenario '{file}'"),
    ("fl --protocol fedavg --set cut", "ns6g fl", "argument --set: expected KEY=VALUE, got 'cut'"),
    ("fl --protocol fedavg --set batch_size=-1 --quiet", "ns6g fl", "batch_size"),
    ("fl --protocol fedavg --set nonsense=1 --quiet", "ns6g fl", "nonsense: unknown key"),
    ("fl --protocol fedavg --out {file}/x --quiet", "ns6g fl", "cannot create {file}/x: {file} is a file"),
    ("fl --protocol fedavg --out /proc/ns6g-test --quiet", "ns6g fl", "cannot write in /proc"),
    ("fl --protocol fedavg --network none --out {failed} --quiet", "ns6g fl", "{failed} already holds a failed run"),
    # evaluate
    ("evaluate /nonexistent", "ns6g evaluate", "no agent at /nonexistent"),
    ("evaluate {empty}", "ns6g evaluate", "no agent at {empty}"),
    ("evaluate {file}", "ns6g evaluate", "no agent.json beside the agent {file}"),
    ("evaluate {missing} --seeds 0", "ns6g evaluate", "argument --seeds: must be >= 1"),
    ("evaluate {missing} --out {file}", "ns6g evaluate", "argument --out: {file} is a file"),
    ("evaluate {missing} --env ues", "ns6g evaluate", "argument --env: expected KEY=VALUE"),
    # report
    ("report {missing}", "ns6g report", "{missing} is not a run directory"),
    ("report {empty}", "ns6g report", "{empty} is not a run directory (it has no manifest.json)"),
    ("report {run} --out {file}", "ns6g report", "argument --out: {file} is a file"),
    ("report {run} --out {file}/sub", "ns6g report", "cannot create {file}/sub: {file} is a file"),
    ("report {run} --out /proc/ns6g-test", "ns6g report", "cannot write in /proc"),
    ("report", "ns6g report", "the following arguments are required: RUN"),
    # no command
    ("", "ns6g", "the following arguments are required: COMMAND"),
    ("launch", "ns6g", "argument COMMAND: invalid choice: 'launch'"),
]


@pytest.mark.parametrize("argv, command, needles", [(c[0], c[1], c[2:]) for c in CASES],
                         ids=[case[0] or "(none)" for case in CASES])
def test_bad_arguments_get_one_line(argv, command, needles, paths, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default output folder (runs/train, ...) would land here
    status, err = run_main(capsys, [arg.format(**paths) for arg in argv.split()])
    assert_one_line_error(status, err, command, *(needle.format(**paths) for needle in needles))
    assert not Path(paths["missing"]).exists() and not (tmp_path / "runs").exists()
    assert load_run(paths["failed"]).status == "failed"  # what was there is untouched


def test_a_failed_build_exits_1_with_its_message(monkeypatch, capsys):
    """A request that cannot run exits 2; a build (or a scenario) that failed exits 1."""
    import ns6g.core.build

    def failing_build(**_):
        raise ns6g.core.build.BuildError("g++ failed on link-control.cc:12: expected ';'\n(full log: build.log)")

    monkeypatch.setattr(ns6g.core.build, "build", failing_build)
    status, err = run_main(capsys, ["build"])
    assert_one_line_error(status, err, "ns6g build", "link-control.cc:12: expected ';'; (full log: build.log)")
    assert status == 1


# The reproducers of issue 12, through the installed command: a fresh process, its real exit status.
REPRODUCERS = [
    (f"train {LINK} --algo-arg n_steps=-3 --out {{missing}}", "ns6g train", "n_steps=-3"),
    (f"train {LINK} --seed -1 --out {{missing}}", "ns6g train", "argument --seed"),
    (f"train {LINK} --out {{file}}", "ns6g train", "{file} is a file"),
    (f"train {LINK} --out /proc/ns6g-test", "ns6g train", "cannot write in /proc"),
    ("report {run} --out {file}", "ns6g report", "{file} is a file"),
    ("report {run} --out /sys/ns6g-test", "ns6g report", "cannot write in /sys"),
    ("fl --protocol fedavg --out /proc/ns6g-test", "ns6g fl", "cannot write in /proc"),
    ("bench suite --jobs -1", "ns6g bench", "argument --jobs: must be >= 1, got -1"),
    ("evaluate /nonexistent", "ns6g evaluate", "no agent at /nonexistent:"),
]


def ns6g_command() -> list[str]:
    script = Path(sys.executable).parent / "ns6g"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ns6g.apps.cli"]


@pytest.mark.parametrize("argv, command, needle", REPRODUCERS, ids=[case[0] for case in REPRODUCERS])
def test_reproducers_from_the_shell(argv, command, needle, paths, tmp_path):
    done = subprocess.run(ns6g_command() + [arg.format(**paths) for arg in argv.split()], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "NS6G_DEBUG": ""}, cwd=tmp_path)
    assert_one_line_error(done.returncode, done.stderr, command, needle.format(**paths))
    assert done.returncode == 2
    assert not Path(paths["missing"]).exists()


def test_debug_shows_the_traceback(paths):
    argv = ["train", LINK, "--algo", "td3", "--out", paths["missing"]]
    for debug_argv in (["--debug"] + argv, argv + ["--debug"]):
        done = subprocess.run(ns6g_command() + debug_argv, capture_output=True, text=True, timeout=120)
        assert done.returncode != 0 and "Traceback" in done.stderr, done.stderr
        assert "TrainingError: unknown algorithm" in done.stderr
    done = subprocess.run(ns6g_command() + argv, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NS6G_DEBUG": "1"})
    assert "Traceback" in done.stderr


def test_an_unexpected_error_keeps_its_traceback(monkeypatch):
    """The handler answers the project's errors only: anything else is a bug and must show where it is."""
    import ns6g.apps.cli

    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(ns6g.apps.cli, "_cmd_envs", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["envs"])


# -- retrying a failed run -------------------------------------------------------------------------------
def test_a_failed_train_is_refused_then_replaced_with_overwrite(tmp_path, monkeypatch, capsys):
    """The issue's last reproducer: a train that fails after training leaves a failed run (kept: it holds
    the traced steps); the same command is refused naming --overwrite, and --overwrite replaces it."""
    from stable_baselines3 import PPO

    out = tmp_path / "train"
    learn = PPO.learn

    def learn_then_fill_the_disk(self, *args, **kwargs):
        learn(self, *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "agent.zip"))

    with monkeypatch.context() as patch:
        patch.setattr(PPO, "learn", learn_then_fill_the_disk)
        status, err = run_main(capsys, ["train", LINK, "--out", str(out), *TINY_TRAIN])
    assert_one_line_error(status, err, "ns6g train", f"No space left on device: {out / 'agent.zip'}")
    assert load_run(out).status == "failed" and len(load_run(out / "train" / "env-0").steps) > 0

    status, err = run_main(capsys, ["train", LINK, "--out", str(out), *TINY_TRAIN])
    assert_one_line_error(status, err, "ns6g train", f"{out} already holds a failed run", "--overwrite")
    assert load_run(out).status == "failed"  # refused: nothing touched

    assert run_main(capsys, ["train", LINK, "--out", str(out), "--overwrite", *TINY_TRAIN])[0] == 0
    assert load_run(out).status == "finished" and (out / "agent.zip").is_file()


def test_a_train_that_fails_before_its_first_step_leaves_nothing(tmp_path, monkeypatch, capsys):
    from stable_baselines3 import PPO

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "t" / "tensorboard"))

    monkeypatch.setattr(PPO, "learn", no_space)
    status, err = run_main(capsys, ["train", LINK, "--out", str(tmp_path / "t"), *TINY_TRAIN])
    assert_one_line_error(status, err, "ns6g train", "No space left on device")
    assert not (tmp_path / "t").exists()  # the same command can simply run again

    # A folder that was there before keeps what it held; only what the job created goes.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    status, err = run_main(capsys, ["train", LINK, "--out", str(tmp_path / "mine"), *TINY_TRAIN])
    assert status == 2
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


def test_fl_failed_before_its_first_round_leaves_nothing_and_overwrite_replaces(tmp_path, monkeypatch, capsys):
    from ns6g.learners.engine import FlJob

    out = tmp_path / "fl"
    argv = ["fl", "--protocol", "fedavg", "--rounds", "1", "--clients", "2", "--network", "none", "--mode", "profile",
            "--out", str(out), "--quiet"]
    def no_space(self, clients=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "rounds"))

    with monkeypatch.context() as patch:
        patch.setattr(FlJob, "run_round", no_space)
        status, err = run_main(capsys, argv)
    assert_one_line_error(status, err, "ns6g fl", "No space left on device")
    assert not out.exists()
    assert run_main(capsys, argv)[0] == 0
    assert_one_line_error(*run_main(capsys, argv), "ns6g fl", f"{out} already holds a finished run")
    assert run_main(capsys, argv + ["--overwrite"])[0] == 0
    assert load_run(out).status == "finished"


# -- ns6g.core.outputs ----------------------------------------------------------------------------------------
def test_overwrite_replaces_only_a_run_and_never_one_being_written(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    claim = claim_run_dir(mine, overwrite=True)  # not a run: nothing is removed
    assert (mine / "notes.txt").is_file()
    (mine / "part").mkdir()
    claim.release()
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]

    # An unfinished run whose writer is alive on this host is not replaced, even with overwrite.
    live = tmp_path / "live"
    live.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        (live / "manifest.json").write_text(json.dumps(
            {"status": "unfinished", "pid": sleeper.pid, "host": socket.gethostname()}))
        with pytest.raises(OutputError, match=f"process {sleeper.pid} is still writing"):
            check_run_dir(live, overwrite=True)
    finally:
        sleeper.kill()
        sleeper.wait()
    # Its writer is gone (killed): an unfinished run like any other.
    with pytest.raises(OutputError, match="already holds an unfinished run"):
        check_run_dir(live)
    claim_run_dir(live, overwrite=True).release()
    assert not live.exists()


def test_the_library_refuses_what_the_command_refuses():
    """The same ranges hold for callers of the Python API (the argument types only say it earlier)."""
    from ns6g.apps.demo import DemoConfig
    from ns6g.apps.flagship import FlagshipConfig
    from ns6g.apps.suite import SuiteError, run_tasks
    from ns6g.apps.training import TrainConfig, TrainingError

    with pytest.raises(TrainingError, match="seed must be >= 0"):
        TrainConfig(env_id=LINK, seed=-1)
    with pytest.raises(TrainingError, match="n_envs must be >= 1"):
        DemoConfig(n_envs=0)
    with pytest.raises(TrainingError, match="fl_rounds must be >= 1"):
        FlagshipConfig(fl_rounds=0)
    with pytest.raises(ValueError, match="unknown demo 'nope'"):
        DemoConfig(demo="nope")
    with pytest.raises(SuiteError, match="jobs must be a whole number >= 1"):
        run_tasks([], jobs=-1, progress=False)


def test_train_on_cuda_is_refused_where_torch_sees_no_gpu(tmp_path, capsys):
    """--device cuda on a machine without a GPU (CI's) is one clear line, before anything is written; on a GPU
    machine the device check script (docs/training.md, "On a GPU") trains there instead."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    status, err = run_main(capsys, ["train", LINK, "--device", "cuda", "--out", str(tmp_path / "t"), *TINY_TRAIN])
    assert_one_line_error(status, err, "ns6g train", "device 'cuda'", "no GPU")
    assert not (tmp_path / "t").exists()


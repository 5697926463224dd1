"""Environment ids from anywhere: ``module:Name-vN`` and ``ns6g.envs`` entry points, resolved by one function
(ns6g.envs.ids.resolve_env_id) before ``ns6g train``, ``ns6g evaluate`` or ``ns6g bench suite`` start or write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gymnasium.envs.registration import registry

from ns6g.apps.cli import main
from ns6g.apps.suite import SuiteError, load_suite
from ns6g.envs import ids
from ns6g.envs.ids import EnvIdError, resolve_env_id

NS6G = Path(sys.executable).parent / "ns6g"

# A user's module outside the package: importing it registers an id that wraps ns6g's bridge echo.
USER_MODULE = """
from gymnasium.envs.registration import register

register(id="{env_id}", entry_point="ns6g.envs.bridge_echo:BridgeEchoEnv", max_episode_steps=16,
         kwargs={{"obs_size": 4, "act_size": 2}})
"""


def write_module(folder: Path, name: str, env_id: str) -> None:
    (folder / f"{name}.py").write_text(USER_MODULE.format(env_id=env_id))


def write_distribution(folder: Path, dist: str, entry_point: str) -> None:
    """A fake installed distribution: a dist-info folder whose entry_points.txt has an ns6g.envs group."""
    info = folder / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[ns6g.envs]\n{entry_point}\n")


def ns6g(*args: str, path: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([str(NS6G), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture
def fresh(monkeypatch):
    """Entry points loaded anew, and the ids a test registers removed afterwards."""
    monkeypatch.setattr(ids, "_from_entry_points", None)
    before = set(registry)
    yield
    for env_id in set(registry) - before:
        del registry[env_id]


def test_train_evaluate_and_suite_take_a_module_id(tmp_path):
    write_module(tmp_path, "mymod", "my/Echo-v0")
    out = tmp_path / "run"
    train = ns6g("train", "mymod:my/Echo-v0", "--timesteps", "128", "--n-envs", "1", "--eval-seeds", "1",
                 "--algo-arg", "n_steps=64", "--algo-arg", "batch_size=64", "--out", str(out), "--quiet",
                 path=tmp_path, cwd=tmp_path)
    assert train.returncode == 0, train.stderr
    assert json.loads((out / "agent.json").read_text())["env_id"] == "mymod:my/Echo-v0"
    assert (out / "agent.zip").exists() and (out / "summary.json").exists()

    evaluate = ns6g("evaluate", str(out / "agent.zip"), "--seeds", "1", "--quiet", path=tmp_path, cwd=tmp_path)
    assert evaluate.returncode == 0, evaluate.stderr
    assert "mymod:my/Echo-v0: ppo agent against the baselines" in evaluate.stdout

    suite = tmp_path / "suite.toml"
    suite.write_text('seeds = [1]\n[[case]]\nname = "mine"\nenv = "mymod:my/Echo-v0"\ncontenders = ["random"]\n')
    bench = ns6g("bench", "suite", "--config", str(suite), "--jobs", "1", "--out", str(tmp_path / "suite"),
                 path=tmp_path, cwd=tmp_path)
    assert bench.returncode == 0, bench.stderr
    assert "| mine" in (tmp_path / "suite" / "results.md").read_text()


@pytest.mark.parametrize("env_id, message", [
    ("nomod_xyz:my/Echo-v0", r"cannot import module 'nomod_xyz' \(ModuleNotFoundError: No module named 'nomod_xyz'\)"),
    ("mymod2:my/Echho-v0", r"unknown environment 'my/Echho-v0' after importing 'mymod2': did you mean my/Echo2-v0"),
    ("ns6g/LinkControl-v9", r"unknown environment 'ns6g/LinkControl-v9': did you mean ns6g/LinkControl-v0"),
    ("a:b:c-v0", r"malformed environment id 'a:b:c-v0'"),
    ("my mod:x-v0", r"malformed environment id"),
])
def test_bad_ids_are_refused_naming_the_problem_before_anything_is_written(env_id, message, tmp_path, monkeypatch,
                                                                            capsys, fresh):
    write_module(tmp_path, "mymod2", "my/Echo2-v0")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(EnvIdError, match=message):
        resolve_env_id(env_id)
    out = tmp_path / "run"
    assert main(["train", env_id, "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "ns6g train:" not in captured.out  # refused before the plan header
    assert captured.err.startswith("ns6g train: error:") and env_id.split(":")[-1] in captured.err
    assert not out.exists()
    suite = tmp_path / "suite.toml"
    suite.write_text(f'seeds = [1]\n[[case]]\nname = "x"\nenv = "{env_id}"\ncontenders = ["random"]\n')
    with pytest.raises(SuiteError, match=message):
        load_suite(suite)


def test_an_entry_point_registers_a_packages_environments(tmp_path, monkeypatch, fresh):
    write_module(tmp_path, "epmod", "ep/Echo-v0")
    (tmp_path / "epcall.py").write_text(
        "def register_all():\n    from gymnasium.envs.registration import register\n"
        "    register(id='ep/Called-v0', entry_point='ns6g.envs.bridge_echo:BridgeEchoEnv')\n")
    write_distribution(tmp_path, "my_envs", "mine = epmod\ncalled = epcall:register_all")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "ep/Echo-v0" not in registry
    assert resolve_env_id("ep/Echo-v0") == "ep/Echo-v0"  # no module: prefix needed
    assert resolve_env_id("ep/Called-v0") == "ep/Called-v0"
    assert ids.load_entry_points() == {"ep/Called-v0": "my_envs: called = epcall:register_all",
                                       "ep/Echo-v0": "my_envs: mine = epmod"}
    listed = ns6g("envs", path=tmp_path, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "ep/Echo-v0" in listed.stdout and "(entry point my_envs: mine = epmod)" in listed.stdout


def test_a_broken_entry_point_is_an_error_naming_it(tmp_path, monkeypatch, capsys, fresh):
    write_distribution(tmp_path, "broken_envs", "bad = no_such_module_xyz")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(EnvIdError, match=r"entry point 'broken_envs: bad = no_such_module_xyz' failed: "
                                         r"ModuleNotFoundError"):
        resolve_env_id("ns6g/LinkControl-v0")
    out = tmp_path / "run"
    assert main(["train", "ns6g/LinkControl-v0", "--out", str(out), "--quiet"]) == 2
    assert "broken_envs: bad = no_such_module_xyz" in capsys.readouterr().err
    assert not out.exists()

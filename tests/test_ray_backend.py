"""``ns6g train --backend ray``: environment workers as Ray actors on a local two-node Ray cluster
(``ray.cluster_utils.Cluster``): a saved agent, the same result as the local backend for the same seed,
nothing left behind after success or an environment error, and bad requests refused before anything runs."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ns6g.analysis import load_run
from ns6g.apps.cli import main
from ns6g.apps.training import TrainConfig, TrainingError, load_agent, train
from ns6g.core.bridge import ScenarioCrashed
from ns6g.core.build import cache_dir

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

LINK = "ns6g/LinkControl-v0"
MARK = "NS6G_RAY_TEST_MARK"  # in the environment of every process of this module's cluster


@pytest.fixture(scope="module")
def cluster():
    """A head node and a second node, 2 CPUs each; every Ray process (and so every actor and scenario
    process) inherits a marker in its environment, by which the tests find what this cluster started."""
    from ray.cluster_utils import Cluster

    os.environ[MARK] = str(os.getpid())
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    try:
        nodes.add_node(num_cpus=2)
        nodes.wait_for_nodes()
        yield nodes
    finally:
        nodes.shutdown()
        del os.environ[MARK]


def _ours() -> dict[str, set[int]]:
    """Live processes started under this module's cluster: Ray actors holding environments (``workers``) and
    scenario processes (``scenarios``: binaries of the build cache)."""
    mark, cache = f"{MARK}={os.getpid()}".encode(), cache_dir().resolve()
    found: dict[str, set[int]] = {"workers": set(), "scenarios": set()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if mark not in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                continue
            if Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                continue
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            exe = Path(os.readlink(f"/proc/{entry}/exe"))
        except OSError:
            continue
        if b"_EnvWorker" in cmdline:
            found["workers"].add(int(entry))
        elif exe.is_relative_to(cache):
            found["scenarios"].add(int(entry))
    return found


def _nothing_left(within_s: float = 30.0) -> dict[str, set[int]]:
    """What is still running of ours after ``within_s`` (killed actors' scenarios end by their watchdog)."""
    deadline = time.monotonic() + within_s
    while (left := _ours()) != {"workers": set(), "scenarios": set()} and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _config(out: Path, **overrides) -> TrainConfig:
    settings = {"env_id": LINK, "algo": "ppo", "timesteps": 256, "n_envs": 2, "seed": 11, "out": out,
                "eval_seeds": 1, "checkpoints": 1, "env_kwargs": {"episode_steps": 20},
                "algo_kwargs": {"n_steps": 64, "batch_size": 64, "n_epochs": 2}}
    return TrainConfig(**{**settings, **overrides})


def _parameters(run: Path) -> dict:
    return {k: v.detach().clone() for k, v in load_agent(run / "agent.zip").policy.state_dict().items()}


def test_ray_training_on_two_nodes_equals_local_training(cluster, tmp_path):
    """The same seed gives the same agent on both backends, bit for bit: the environments are made by the
    same factories with the same seeds, each scenario is deterministic given its seed, and the learner
    (in this process either way) sees the same observations in the same order (step_wait gathers the
    workers' results in environment order, whatever order they finish in)."""
    local = train(_config(tmp_path / "local"), progress=False)
    on_ray = train(_config(tmp_path / "ray", backend="ray", address=cluster.address), progress=False)
    assert (tmp_path / "ray" / "agent.zip").is_file() and list((tmp_path / "ray" / "checkpoints").glob("*.zip"))
    manifest = load_run(tmp_path / "ray").manifest
    assert manifest["status"] == "finished"
    assert (manifest["config"]["backend"], manifest["config"]["address"]) == ("ray", cluster.address)
    workers = load_run(tmp_path / "ray").events.query("kind == 'workers'")["detail"].iloc[0]
    assert workers.startswith("2 Ray actors on 2 nodes")  # spread over both nodes of the cluster
    assert on_ray["timesteps_run"] == local["timesteps_run"] == 256
    ours, theirs = _parameters(tmp_path / "local"), _parameters(tmp_path / "ray")
    assert ours.keys() == theirs.keys() and all((ours[k] == theirs[k]).all() for k in ours)
    wall_clock = ["time/fps", "time/time_elapsed"]  # the only columns that may differ: seconds of wall time
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "local" / "progress.csv").drop(columns=wall_clock, errors="ignore"),
                                  pd.read_csv(tmp_path / "ray" / "progress.csv").drop(columns=wall_clock, errors="ignore"),
                                  check_exact=False, rtol=0, atol=0, check_like=True)
    # Each worker traced its environment as locally: 256 steps over 2 environments of 20-step episodes.
    assert all(len(load_run(tmp_path / "ray" / "train" / f"env-{i}").steps) >= 100 for i in range(2))
    assert _nothing_left() == {"workers": set(), "scenarios": set()}


def test_an_environment_error_ends_training_and_leaves_nothing(cluster, tmp_path):
    """A scenario that exits mid-training (BridgeEcho's exit_after knob: a real exit, code 3) is raised in
    the driver as the ScenarioCrashed it is in the worker; every actor is killed and no scenario is left."""
    config = TrainConfig(env_id="ns6g/BridgeEcho-v0", algo="ppo", timesteps=512, n_envs=2, seed=0,
                         out=tmp_path / "crash", checkpoints=0, use_preset=False, env_kwargs={"exit_after": 30},
                         algo_kwargs={"n_steps": 64, "batch_size": 64}, backend="ray", address=cluster.address)
    with pytest.raises(ScenarioCrashed, match=r"scenario bridge-echo \(pid \d+\) exited with code 3"):
        train(config, progress=False)
    assert load_run(tmp_path / "crash").manifest["status"] == "failed"
    assert _nothing_left() == {"workers": set(), "scenarios": set()}


def test_masks_attributes_and_seeds_reach_the_workers(cluster):
    """MaskablePPO's env_method("action_masks") and the VecEnv attribute calls work through the actors."""
    from functools import partial

    from ns6g.apps.training import _training_env
    from ns6g.envs.ray_vec_env import RayVecEnv

    spectrum = "ns6g/SpectrumAllocation-v0"
    venv = RayVecEnv([partial(_training_env, spectrum, {}, i) for i in range(2)], address=cluster.address)
    try:
        venv.seed(3)
        first = venv.reset()
        masks = venv.env_method("action_masks")
        assert len(masks) == 2 and all(m.dtype == bool and m.any() for m in masks)
        assert venv.env_is_wrapped(__import__("stable_baselines3").common.monitor.Monitor) == [True, True]
        assert venv.get_attr("spec", indices=[1])[0].id == spectrum
        venv.seed(3)
        again = venv.reset()  # the same seeds give the same first observations (a Dict of arrays here)
        assert again.keys() == first.keys() and all((again[k] == first[k]).all() for k in first)
        assert len(set(venv.scenario_pids)) == 2 and len(set(venv.nodes)) == 2
        # what the cleanup checks look for is found while it runs: they are not vacuous
        assert _ours() == {"workers": {w["pid"] for w in venv.worker_info}, "scenarios": set(venv.scenario_pids)}
    finally:
        venv.close()
    assert _nothing_left() == {"workers": set(), "scenarios": set()}


def test_several_environments_per_worker_step_as_locally(cluster):
    """Two actors of two environments each (one per node) answer what a local BridgeVecEnv of the same
    factories answers: observations, rewards, dones, episode restarts and masks of chosen environments."""
    from functools import partial

    import numpy as np

    from ns6g.apps.training import _training_env
    from ns6g.envs.ray_vec_env import RayVecEnv
    from ns6g.envs.vec_env import BridgeVecEnv

    fns = [partial(_training_env, "ns6g/SpectrumAllocation-v0", {"episode_steps": 3}, i) for i in range(4)]
    local, remote = BridgeVecEnv(fns), None
    try:
        remote = RayVecEnv(fns, address=cluster.address, envs_per_worker=2)
        assert len(remote.actors) == 2 and len(set(remote.nodes)) == 2 and len(set(remote.scenario_pids)) == 4
        local.seed(5), remote.seed(5)
        ours, theirs = local.reset(), remote.reset()
        assert all((ours[k] == theirs[k]).all() for k in ours)
        space, ended = local.action_space, False
        space.seed(0)
        for _ in range(4):  # across an episode's end (3 steps): the restarted episodes match too
            masks = local.env_method("action_masks")
            assert all((a == b).all() for a, b in zip(masks, remote.env_method("action_masks"), strict=True))
            actions = np.stack([space.sample() for _ in range(4)])
            (o1, r1, d1, _), (o2, r2, d2, i2) = local.step(actions), remote.step(actions)
            assert all((o1[k] == o2[k]).all() for k in o1) and (r1 == r2).all() and (d1 == d2).all()
            ended = ended or (d2.all() and all("terminal_observation" in info for info in i2))
        assert ended  # the third step ended every episode, and the fourth ran in the next ones
        picked = remote.env_method("action_masks", indices=[3, 0])
        assert [m.tolist() for m in picked] == [m.tolist() for m in local.env_method("action_masks", indices=[3, 0])]
    finally:
        local.close()
        if remote is not None:
            remote.close()
    assert _nothing_left() == {"workers": set(), "scenarios": set()}


def test_bad_backend_requests_are_refused_before_anything_runs(tmp_path, capsys, monkeypatch):
    out = tmp_path / "t"
    assert main(["train", LINK, "--backend", "ray", "--address", "127.0.0.1:1", "--out", str(out), "--quiet"]) == 2
    assert "no Ray cluster answers at 127.0.0.1:1" in capsys.readouterr().err
    assert main(["train", LINK, "--backend", "ray", "--address", "head-node", "--out", str(out), "--quiet"]) == 2
    assert "'head-node' is not a Ray cluster address" in capsys.readouterr().err
    assert main(["train", LINK, "--address", "auto", "--out", str(out), "--quiet"]) == 2
    assert "is for the ray backend: add --backend ray" in capsys.readouterr().err
    assert main(["train", LINK, "--backend", "dask", "--out", str(out), "--quiet"]) == 2
    assert "unknown backend 'dask': choose one of local, ray" in capsys.readouterr().err
    assert main(["train", LINK, "--envs-per-worker", "2", "--out", str(out), "--quiet"]) == 2
    assert "envs_per_worker (2) is for the ray backend: add --backend ray" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["train", LINK, "--backend", "ray", "--out", str(out), "--quiet"]) == 2
    assert "needs Ray, which is not installed: pip install 'ns6g[ray]'" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(TrainingError, match="is for the ray backend"):
        TrainConfig(env_id=LINK, address="auto")

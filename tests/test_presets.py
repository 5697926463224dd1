"""Training presets (rl-zoo3 format), VecNormalize saved with the agent, action masks, ``--timesteps`` as run,
``ns6g evaluate --env`` overriding one setting, and ``ns6g tune``."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import yaml

from ns6g.apps.cli import main
from ns6g.apps.evaluation import make_env
from ns6g.apps.presets import FOLDER, LinearSchedule, PresetError, load_preset, model_kwargs, read_preset_file
from ns6g.apps.training import (
    NORMALIZER_FILE, TrainConfig, TrainingError, evaluate_agent, load_agent, load_normalizer, plan_training, train)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPECTRUM = "ns6g/SpectrumAllocation-v0"
# Settings that keep each environment's episodes short for a test (the preset's hyperparameters stay).
SMALL = {
    "ns6g/LinkControl-v0": {"episode_steps": 20},
    SPECTRUM: {"cells": 3, "ues": 6, "episode_steps": 20},
    "ns6g/SplitInference-v0": {"episode_steps": 20},
    "ns6g/MecOffload-v0": {"episode_steps": 20},
    "ns6g/D2DRelay-v0": {"episode_steps": 20},
    "ns6g/MultiAccessInference-v0": {"episode_steps": 20, "helpers": 2},
    "ns6g/FslOrchestration-v0": {"clients": 2, "episode_rounds": 2, "batch_size": 128},
}
SHIPPED = [key for key in read_preset_file(FOLDER / "ppo.yml") if key != "default"]


def test_every_preset_has_test_settings():
    assert sorted(SHIPPED) == sorted(SMALL)


@pytest.mark.parametrize("env_id", SHIPPED)
def test_every_preset_loads_and_trains(env_id, tmp_path):
    """The shipped preset drives training: the model carries its arguments, observations and rewards are
    normalised with statistics saved beside the agent, and the evaluation runs with them."""
    config = TrainConfig(env_id=env_id, n_envs=1, timesteps=200, seed=1, out=tmp_path / "run", eval_seeds=1,
                         checkpoints=0, env_kwargs=SMALL[env_id])
    plan = plan_training(config)
    preset = plan.preset
    assert preset.source.endswith(f"ppo.yml:{env_id}")
    masked = (SPECTRUM, "ns6g/SplitInference-v0", "ns6g/MultiAccessInference-v0")
    assert plan.algo == ("maskable_ppo" if env_id in masked else "ppo")
    summary = train(config, progress=False, plan=plan)
    model = load_agent(tmp_path / "run")
    for key in ("n_steps", "batch_size", "gamma", "n_epochs"):
        if key in preset.algo_kwargs:
            assert getattr(model, key) == preset.algo_kwargs[key], key
    assert summary["timesteps_run"] == model.num_timesteps == plan.timesteps_planned >= 200
    assert (tmp_path / "run" / NORMALIZER_FILE).is_file()
    assert "agent" in summary["mean_return"] and len(summary["mean_return"]) > 1


def test_preset_entries_overrides_and_errors(tmp_path):
    spectrum = load_preset("ppo", SPECTRUM)
    assert spectrum.n_envs == 4 and spectrum.n_timesteps == 100_000 and spectrum.normalize == {}
    assert load_preset("maskable_ppo", SPECTRUM).algo_kwargs == spectrum.algo_kwargs  # MaskablePPO shares them
    fallback = load_preset("ppo", "ns6g/BridgeEcho-v0")
    assert fallback.source.endswith("ppo.yml:default") and fallback.algo_kwargs["n_steps"] == 256
    assert load_preset("a2c", SPECTRUM).source == "none"  # no a2c presets: SB3's defaults

    changed = spectrum.with_overrides({"learning_rate": 1e-3, "normalize": False})
    assert changed.algo_kwargs["learning_rate"] == 1e-3 and changed.algo_kwargs["n_steps"] == 128
    assert changed.normalize is None
    with pytest.raises(PresetError, match="n_envs is not an algorithm argument: give --n-envs"):
        spectrum.with_overrides({"n_envs": 2})

    kwargs = model_kwargs({"learning_rate": "lin_1e-3", "policy_kwargs": {"activation_fn": "relu"}})
    assert kwargs["learning_rate"](0.5) == pytest.approx(5e-4) and isinstance(kwargs["learning_rate"], LinearSchedule)
    assert kwargs["policy_kwargs"]["activation_fn"].__name__ == "ReLU"
    with pytest.raises(PresetError, match="activation_fn: 'swish'"):
        model_kwargs({"policy_kwargs": {"activation_fn": "swish"}})

    # rl-zoo3's own spellings are read: n_timesteps as a float, normalize as a Python-dict string.
    file = tmp_path / "zoo.yml"
    file.write_text(f"{SPECTRUM}:\n  n_timesteps: !!float 2e4\n  normalize: \"{{'norm_obs': True, 'norm_reward': False}}\"\n"
                    "  policy: 'MultiInputPolicy'\n  n_steps: 64\n")
    zoo = load_preset("ppo", SPECTRUM, file)
    assert zoo.n_timesteps == 20_000 and zoo.normalize == {"norm_obs": True, "norm_reward": False}
    assert zoo.algo_kwargs == {"n_steps": 64}
    with pytest.raises(PresetError, match=f"has no entry for ns6g/LinkControl-v0 \\(it has {SPECTRUM}\\)"):
        load_preset("ppo", "ns6g/LinkControl-v0", file)
    file.write_text("a: [unclosed\n")
    with pytest.raises(PresetError, match="not YAML"):
        load_preset("ppo", SPECTRUM, file)
    file.write_text(f"{SPECTRUM}:\n  normalize: {{norm_obs: true, norm_everything: true}}\n")
    with pytest.raises(PresetError, match="VecNormalize has no setting 'norm_everything'"):
        load_preset("ppo", SPECTRUM, file)
    file.write_text(f"{SPECTRUM}:\n  n_envs: 0\n")
    with pytest.raises(PresetError, match="n_envs must be a whole number >= 1"):
        load_preset("ppo", SPECTRUM, file)
    file.write_text(f"{SPECTRUM}:\n  n_step: 64\n")
    with pytest.raises(TrainingError, match="MaskablePPO has no argument 'n_step'"):
        plan_training(TrainConfig(env_id=SPECTRUM, preset=file, env_kwargs={"ues": 2}))


def test_action_masks_allow_only_the_cells_own_ues_and_a_masked_action_wastes_nothing():
    env = make_env(SPECTRUM, cells=3, ues=6, episode_steps=5)
    try:
        spectrum = env.unwrapped
        nvec = env.action_space.nvec
        observation, _ = env.reset(seed=3)
        rng = np.random.default_rng(0)
        for _ in range(3):
            masks = spectrum.action_masks()
            assert masks.shape == (int(nvec.sum()),) and masks.dtype == bool
            serving = observation["serving_cell"]
            entries = np.split(masks, np.cumsum(nvec)[:-1])
            rbgs = len(nvec) // 3
            for i, allowed in enumerate(entries):
                assert set(np.flatnonzero(allowed)) == {u for u in range(6) if serving[u] == i // rbgs} | {6}
            # Every RBG to one of its cell's UEs: every RBG-slot of the interval is used, by that UE.
            action = np.array([rng.choice(np.flatnonzero(allowed[:-1])) for allowed in entries])
            observation, *_ = env.step(action)
            used = spectrum.radio_samples()["rbgs"]
            slots = spectrum.config.decision_slots
            assert used.tolist() == [float(np.sum(action == u) * slots) for u in range(6)]
        # What the masks forbid is wasted: RBGs given to other cells' UEs are not used at all.
        entries = np.split(spectrum.action_masks(), np.cumsum(nvec)[:-1])
        env.step(np.array([rng.choice(np.flatnonzero(~allowed)) for allowed in entries]))
        assert spectrum.radio_samples()["rbgs"].sum() == 0
    finally:
        env.close()
    share = make_env(SPECTRUM, ues=2, action_mode="share")
    try:
        share.reset(seed=0)
        with pytest.raises(ValueError, match="only action_mode='rbg'"):
            share.unwrapped.action_masks()
    finally:
        share.close()


@pytest.fixture(scope="module")
def masked_agent(tmp_path_factory):
    """MaskablePPO (the default here) on three cells: 300 steps asked, rollouts of 2 x 64."""
    out = tmp_path_factory.mktemp("presets") / "spectrum"
    config = TrainConfig(env_id=SPECTRUM, timesteps=300, n_envs=2, seed=3, out=out, eval_seeds=2, checkpoints=1,
                         env_kwargs={"cells": 3, "ues": 3, "episode_steps": 10},
                         algo_kwargs={"n_steps": 64, "batch_size": 64})
    return out, train(config, progress=False)


def test_timesteps_run_whole_rollouts_and_the_run_says_so(masked_agent, tmp_path, capsys):
    out, summary = masked_agent
    assert summary["timesteps"] == 300 and summary["timesteps_run"] == 384  # 3 rollouts of 128
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["timesteps"] == 300 and manifest["config"]["timesteps_planned"] == 384
    assert manifest["config"]["rollout_steps"] == 128 and manifest["fields"]["timesteps_run"] == 384
    assert json.loads((out / "agent.json").read_text())["timesteps_run"] == 384
    # The command line says so before it starts.
    status = main(["train", SPECTRUM, "--timesteps", "300", "--n-envs", "2", "--env", "ues=2", "--algo-arg",
                   "n_steps=64", "--out", str(tmp_path / "cli"), "--eval-seeds", "1", "--checkpoints", "0", "--quiet"])
    printed = capsys.readouterr().out
    assert status == 0
    assert "300 steps asked, 384 run: MaskablePPO learns from whole rollouts of 128 steps (64 per environment x 2" in printed
    assert "preset " in printed and "ppo.yml:ns6g/SpectrumAllocation-v0" in printed and "n_steps=64" in printed
    assert "trained 384 steps" in printed


def test_vecnormalize_statistics_are_saved_and_used_at_evaluation(masked_agent):
    out, summary = masked_agent
    normalizer = load_normalizer(out)
    # Updated by every training step of both environments and their first resets, then frozen.
    assert normalizer.obs_rms["cqi"].count == pytest.approx(summary["timesteps_run"] + 2, abs=1e-3)
    assert not normalizer.training and not normalizer.norm_reward
    assert set(normalizer.obs_rms) == {"cqi", "buffer_kbytes", "throughput_mbps"}  # the Box entries
    assert (out / "checkpoints" / "agent_vecnormalize_384_steps.pkl").is_file()
    # The saved agent, evaluated again, acts exactly as at the end of training: same returns.
    again = evaluate_agent(out, seeds=summary["seeds"], progress=False)
    assert again["mean_return"] == pytest.approx(summary["mean_return"])
    # Its statistics are what it needs: without them it is refused, not run on raw observations.
    (out / NORMALIZER_FILE).rename(out / "moved.pkl")
    try:
        with pytest.raises(TrainingError, match="no vecnormalize.pkl beside the agent"):
            evaluate_agent(out, seeds=[1], progress=False)
    finally:
        (out / "moved.pkl").rename(out / NORMALIZER_FILE)
    with open(out / NORMALIZER_FILE, "rb") as handle:
        assert pickle.load(handle).obs_rms["cqi"].mean.shape == (3, 13)


def test_the_evaluated_agent_sees_normalised_observations_and_acts_within_the_masks(masked_agent):
    from ns6g.envs.policies import SB3Policy

    out, _ = masked_agent
    model, normalizer = load_agent(out), load_normalizer(out)
    env = make_env(SPECTRUM, cells=3, ues=3, episode_steps=10)
    try:
        policy, raw = SB3Policy(model, normalizer).bind(env), SB3Policy(model).bind(env)
        observation, _ = env.reset(seed=11)
        differs = False
        for _ in range(5):
            masks = env.unwrapped.action_masks()
            action = policy(observation)
            expected, _ = model.predict(normalizer.normalize_obs(observation), deterministic=True, action_masks=masks)
            assert np.array_equal(action, expected)
            offsets = np.concatenate([[0], np.cumsum(env.action_space.nvec)[:-1]])
            assert masks[offsets + action].all()  # every entry's value is one the masks allow
            differs |= not np.array_equal(action, raw(observation))
            observation, *_ = env.step(action)
        assert differs  # raw observations would have made it act otherwise
        with pytest.raises(RuntimeError, match="bind"):
            SB3Policy(model, normalizer)(observation)
    finally:
        env.close()


def test_evaluate_overrides_one_setting_and_refuses_shape_changes(masked_agent, capsys):
    out, _ = masked_agent
    summary = evaluate_agent(out, env_kwargs={"mobility": "random_walk"}, seeds=[5], progress=False, out=out / "ev")
    assert summary["env_kwargs"] == {"cells": 3, "ues": 3, "episode_steps": 10, "mobility": "random_walk"}
    manifest = json.loads((out / "ev" / "eval" / "agent" / "manifest.json").read_text())
    assert manifest["config"]["ues"] == 3 and manifest["config"]["mobility"] == "random_walk"
    assert manifest["config"]["cells"] == 3

    with pytest.raises(TrainingError, match=r"--env ues=4 changes the shape") as refused:
        evaluate_agent(out, env_kwargs={"ues": 4, "mobility": "random_walk"}, seeds=[5], progress=False)
    assert "mobility" not in str(refused.value)  # only the setting that changes a shape is named
    assert main(["evaluate", str(out), "--env", "cells=1", "--seeds", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cells=1" in err and "agent was trained on" in err and len(err.strip().splitlines()) == 1
    assert main(["evaluate", str(out), "--env", "speed_mps=3", "--seeds", "1", "--quiet"]) == 0
    assert "the training ones with speed_mps=3" in capsys.readouterr().out


def test_tune_writes_a_preset_that_train_uses(tmp_path, capsys):
    preset = tmp_path / "link.yml"
    status = main(["tune", "ns6g/LinkControl-v0", "--trials", "2", "--timesteps", "128", "--n-envs", "1",
                   "--eval-seeds", "1", "--env", "episode_steps=16", "--out", str(preset), "--quiet"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "best trial" in printed and preset.is_file()
    entry = yaml.safe_load(preset.read_text())["ns6g/LinkControl-v0"]
    trials = (tmp_path / "link.yml.trials.csv").read_text().splitlines()
    assert len(trials) == 1 + 2
    assert entry["n_envs"] == 1 and entry["n_steps"] in (16, 32, 64) and entry["normalize"] is True
    plan = plan_training(TrainConfig(env_id="ns6g/LinkControl-v0", preset=preset, env_kwargs={"episode_steps": 16}))
    assert plan.preset.algo_kwargs["learning_rate"] == entry["learning_rate"]
    assert plan.n_envs == 1 and plan.timesteps == entry["n_timesteps"]
    assert plan.model_kwargs["policy_kwargs"]["net_arch"] == entry["policy_kwargs"]["net_arch"]


@pytest.mark.parametrize("argv, needle", [
    (["tune", "ns6g/LinkControl-v0", "--algo", "a2c"], "ns6g tune samples PPO's arguments"),
    (["tune", "ns6g/Nope-v0"], "unknown environment 'ns6g/Nope-v0'"),
    (["train", "ns6g/LinkControl-v0", "--preset", "{missing}"], "cannot read the preset file {missing}"),
    (["train", "ns6g/LinkControl-v0", "--preset", "{missing}", "--no-preset"], "a preset file and no preset"),
    (["train", "ns6g/LinkControl-v0", "--algo", "maskable_ppo"], "maskable_ppo needs an environment that masks"),
    (["train", "ns6g/LinkControl-v0", "--algo-arg", "n_envs=2"], "n_envs is not an algorithm argument: give --n-envs"),
    (["train", "ns6g/LinkControl-v0", "--algo-arg", "normalize=sometimes"], "normalize: expected true, false or a mapping"),
])
def test_preset_and_tune_requests_that_cannot_run_are_refused_in_one_line(argv, needle, tmp_path, capsys):
    missing = str(tmp_path / "missing.yml")
    argv = [a.replace("{missing}", missing) for a in argv] + ["--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle.replace("{missing}", missing) in err, err
    assert not (tmp_path / "out").exists()


def test_a_tune_whose_trials_all_fail_says_why_and_writes_nothing(tmp_path, monkeypatch, capsys):
    import ns6g.apps.tuning

    def diverging(trial, rollouts, n_envs):  # the first update turns the policy into NaN
        trial.suggest_categorical("n_steps", rollouts)
        return {"n_steps": 16, "batch_size": 16, "ent_coef": float("nan")}

    monkeypatch.setattr(ns6g.apps.tuning, "sample_ppo", diverging)
    preset = tmp_path / "link.yml"
    status = main(["tune", "ns6g/LinkControl-v0", "--trials", "2", "--timesteps", "96", "--n-envs", "1",
                   "--eval-seeds", "1", "--env", "episode_steps=16", "--out", str(preset), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and "no trial of 2 completed (0 pruned, 2 failed: " in err, err
    assert len(err.strip().splitlines()) == 1 and "found invalid values" in err  # the NaN logits
    assert not preset.exists()

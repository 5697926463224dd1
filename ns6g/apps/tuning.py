"""``ns6g tune ENV``: search an environment's hyperparameters with Optuna and write a preset file.

Each trial trains the algorithm (PPO or MaskablePPO) for ``timesteps`` steps with arguments sampled from
rl-zoo3's PPO search space (its ``hyperparams_opt.sample_ppo_params``, with the discount reaching 0.5: ns6g's
rewards mostly follow their decision at once, and rollouts that fit a short trial) on top of the
environment's preset (its normalisation included). A trial is scored halfway (Optuna's median pruner stops
the unpromising ones, as rl-zoo3's ``TrialEvalCallback`` does) and at its end by the agent's mean return over
``eval_seeds`` tuning seeds ``20000 + seed + k``, apart from the training seeds (``seed + i``) and the
evaluation seeds of ``ns6g train`` (``10000 + ...``). The best trial is written as a preset file in rl-zoo3's
format (:mod:`ns6g.apps.presets`; ``ns6g train ENV --preset FILE`` trains with it), the trials beside it
(``<file>.trials.csv``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ns6g.apps.training import TrainConfig, TrainingError, check_counts, plan_training

TUNE_SEED_BASE = 20_000
NET_ARCHS = {"tiny": [64], "small": [64, 64], "medium": [256, 256]}  # rl-zoo3's sizes (same for pi and vf)


@dataclass(frozen=True)
class TuneConfig:
    env_id: str
    algo: str | None = None  # as ns6g train: maskable_ppo where the env masks its actions, else ppo
    trials: int = 10
    timesteps: int = 5_000  # training steps per trial
    n_envs: int | None = None  # default: the preset's
    eval_seeds: int = 3
    seed: int = 0
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    out: Path = Path("preset.yml")

    def __post_init__(self) -> None:
        check_counts(self, trials=1, timesteps=1, eval_seeds=1, seed=0)
        if self.algo not in (None, "ppo", "maskable_ppo"):
            raise TrainingError(f"ns6g tune samples PPO's arguments: --algo ppo or maskable_ppo (got {self.algo!r})")


def sample_ppo(trial: Any, rollout_choices: list[int], n_envs: int) -> dict[str, Any]:
    """PPO arguments for one trial, as a preset writes them (rl-zoo3's ranges; ``n_steps`` among
    ``rollout_choices``; the batch size as a number of minibatches per rollout, so that it divides it)."""
    n_steps = trial.suggest_categorical("n_steps", rollout_choices)
    minibatches = trial.suggest_categorical("minibatches", [1, 2, 4, 8])
    return {
        "n_steps": n_steps,
        "batch_size": max(8, n_steps * n_envs // minibatches),
        "gamma": round(1 - trial.suggest_float("one_minus_gamma", 1e-4, 0.5, log=True), 6),
        "gae_lambda": round(1 - trial.suggest_float("one_minus_gae_lambda", 1e-4, 0.1, log=True), 6),
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 2e-3, log=True),
        "ent_coef": trial.suggest_float("ent_coef", 1e-8, 0.1, log=True),
        "clip_range": trial.suggest_categorical("clip_range", [0.1, 0.2, 0.3, 0.4]),
        "n_epochs": trial.suggest_categorical("n_epochs", [1, 5, 10, 20]),
        "max_grad_norm": trial.suggest_float("max_grad_norm", 0.3, 2.0),
        "policy_kwargs": {"net_arch": NET_ARCHS[trial.suggest_categorical("net_arch", list(NET_ARCHS))],
                          "activation_fn": trial.suggest_categorical("activation_fn", ["tanh", "relu"])},
    }


def tune(config: TuneConfig, progress: bool = True) -> dict[str, Any]:
    """Run the study and write the preset file; return ``best_value``, ``best`` (the preset entry),
    ``preset`` (its path), ``counts`` (complete / pruned / failed trials) and ``trials`` (one row each)."""
    import optuna
    import pandas as pd
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    from ns6g.apps.evaluation import make_env
    from ns6g.envs.policies import SB3Policy, evaluate
    from ns6g.apps.presets import write_preset
    from ns6g.apps.training import _algorithm_class, make_training_env, silent_logger

    base = TrainConfig(env_id=config.env_id, algo=config.algo, timesteps=config.timesteps, n_envs=config.n_envs,
                       seed=config.seed, env_kwargs=dict(config.env_kwargs))
    base_plan = plan_training(base)  # the environment, its settings and the preset, checked once
    n_envs = base_plan.n_envs
    # Rollouts a trial can learn from at least twice.
    rollouts = [n for n in (16, 32, 64, 128, 256, 512) if 2 * n * n_envs <= config.timesteps] or [16]
    seeds = list(range(TUNE_SEED_BASE + config.seed, TUNE_SEED_BASE + config.seed + config.eval_seeds))
    torch.set_num_threads(1)

    def score(model: Any, normalizer: Any) -> float:
        env = make_env(config.env_id, **dict(config.env_kwargs))
        try:
            return float(evaluate(env, {"agent": SB3Policy(model, normalizer)}, seeds)["return"].mean())
        finally:
            env.close()

    class HalfwayScore(BaseCallback):
        """Reports the score halfway through a trial; stops the trial if the pruner says so."""

        def __init__(self, trial: Any) -> None:
            super().__init__()
            self.trial, self.pruned, self.scored = trial, False, False

        def _on_step(self) -> bool:
            if self.scored or self.num_timesteps < config.timesteps // 2:
                return True
            self.scored = True
            normalizer = self.training_env if base_plan.normalize is not None else None
            self.trial.report(score(self.model, normalizer), self.num_timesteps)
            self.pruned = self.trial.should_prune()
            return not self.pruned

    def objective(trial: Any) -> float:
        try:
            return run_trial(trial)
        except ValueError as exc:  # kept with the trial (Optuna would only log it) and shown at the end
            trial.set_user_attr("error", (str(exc).splitlines() or [type(exc).__name__])[0][:300])
            raise

    def run_trial(trial: Any) -> float:
        sampled = sample_ppo(trial, rollouts, n_envs)
        plan = plan_training(replace(base, algo=base_plan.algo, n_envs=n_envs, algo_kwargs=sampled))
        torch.manual_seed(config.seed)
        venv = make_training_env(plan, config.seed, dict(config.env_kwargs))
        try:
            model = _algorithm_class(plan.algo)(plan.policy, venv, seed=config.seed, device="cpu", verbose=0,
                                                **plan.model_kwargs)
            model.set_logger(silent_logger())
            halfway = HalfwayScore(trial)
            model.learn(total_timesteps=plan.timesteps, callback=halfway)
            if halfway.pruned:
                raise optuna.TrialPruned()
            return score(model, venv if plan.normalize is not None else None)
        finally:
            venv.close()

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial is counted and its error kept instead
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    # A trial whose sampled arguments diverge (NaN in the policy: ValueError) fails alone and is counted.
    study.optimize(objective, n_trials=config.trials, catch=(ValueError,), show_progress_bar=progress)
    states = [t.state for t in study.trials]
    TrialState = optuna.trial.TrialState
    counts = {"complete": states.count(TrialState.COMPLETE), "pruned": states.count(TrialState.PRUNED),
              "failed": states.count(TrialState.FAIL)}
    if counts["complete"] == 0:
        reasons = {t.user_attrs.get("error", "") for t in study.trials if t.state == TrialState.FAIL}
        raise TrainingError(f"no trial of {config.trials} completed ({counts['pruned']} pruned, {counts['failed']} "
                            f"failed{': ' + '; '.join(sorted(r for r in reasons if r))[:500] if any(reasons) else ''})")
    best = replace(base_plan.preset.with_overrides(sample_ppo(optuna.trial.FixedTrial(study.best_params), rollouts, n_envs)),
                   n_envs=n_envs)  # n_steps is per environment: the rollout was tuned with this many
    trials = study.trials_dataframe(attrs=("number", "value", "state", "params", "user_attrs"))
    out = Path(config.out)
    settings = ", ".join(f"{k}={v!r}" for k, v in dict(config.env_kwargs).items()) or "its defaults"
    write_preset(out, best, comment=(
        f"Written by ns6g tune: {config.trials} trials of {config.timesteps} steps of {base_plan.algo} on "
        f"{config.env_id} ({settings}), {n_envs} envs, seed {config.seed}.\n"
        f"Best: trial {study.best_trial.number}, mean return {study.best_value:.6g} over tuning seeds {seeds}; "
        f"{counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed.\n"
        f"Based on {base_plan.preset.source}. Train with: ns6g train {config.env_id} --preset {out.name}"))
    trials_file = out.with_name(out.name + ".trials.csv")
    trials.to_csv(trials_file, index=False)
    return {"env_id": config.env_id, "algo": base_plan.algo, "best_value": study.best_value,
            "best_trial": study.best_trial.number, "best": best.entry(), "preset": str(out),
            "trials_file": str(trials_file), "counts": counts,
            "trials": pd.DataFrame(trials).to_dict(orient="records")}


def format_tuning(result: Mapping[str, Any]) -> str:
    import pandas as pd

    trials = pd.DataFrame(result["trials"])
    shown = trials[[c for c in ("number", "value", "state", "params_n_steps", "params_learning_rate",
                                "params_one_minus_gamma", "params_net_arch", "user_attrs_error") if c in trials]]
    counts = result["counts"]
    return "\n".join([
        shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
        f"{counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed; best trial "
        f"{result['best_trial']}: mean return {result['best_value']:.4g}",
        f"preset: {result['preset']} (trials: {result['trials_file']}); train with: "
        f"ns6g train {result['env_id']} --preset {result['preset']}",
    ])

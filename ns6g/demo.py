"""``ns6g demo``: train PPO briefly on LinkControl and compare it with the baselines on held-out seeds.

Training runs ``n_envs`` scenario processes in parallel (SB3 ``SubprocVecEnv``); evaluation runs every
policy for one episode on each evaluation seed, seeds the training never used. The output folder is a run
directory (kind ``demo``: manifest with the summary, ``events`` for the phases) holding the agent,
``episodes.csv``, ``summary.json``, one environment run per evaluated policy under ``eval/<policy>``, and
an HTML report (``report/index.html``) comparing PPO, the best fixed rate and random.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

ENV_ID = "ns6g/LinkControl-v0"
SUMMARY_COLUMNS = ["return", "throughput_mbps", "delay_ms", "loss_fraction"]


@dataclass(frozen=True)
class DemoConfig:
    timesteps: int = 30_000
    n_envs: int = 4
    seed: int = 0
    eval_seeds: int = 5
    out: Path | None = None  # default: runs/demo-<UTC date and time>


def default_out() -> Path:
    return Path("runs") / f"demo-{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}"


def _make_env():
    import gymnasium as gym

    # "module:id" makes Gymnasium import ns6g.envs (which registers the ids) in the worker process too.
    return gym.make(f"ns6g.envs:{ENV_ID}")


def run_demo(config: DemoConfig, progress: bool = True) -> dict[str, Any]:
    """Train, evaluate, save the agent and a summary under ``config.out``; return the summary."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    import ns6g.envs  # noqa: F401
    from ns6g.policies import SB3Policy, evaluate

    from ns6g.analysis import write_report
    from ns6g.runs import RunWriter

    if config.out is None:
        config = replace(config, out=default_out())
    out = Path(config.out)
    seeds = list(range(10_000 + config.seed, 10_000 + config.seed + config.eval_seeds))
    torch.manual_seed(config.seed)
    torch.set_num_threads(1)  # the scenario processes want the other core
    with RunWriter(out, kind="demo", config={"env_id": ENV_ID, **asdict(config)},
                   seeds=[config.seed, *seeds]) as run:
        run.append("events", {"kind": "train-start", "wall_time_s": run.wall_time_s,
                              "detail": f"PPO, {config.n_envs} envs, {config.timesteps} steps"})
        venv = make_vec_env(_make_env, n_envs=config.n_envs, seed=config.seed, vec_env_cls=SubprocVecEnv)
        try:
            model = PPO("MlpPolicy", venv, n_steps=256, batch_size=256, learning_rate=1e-3, gamma=0.9,
                        ent_coef=0.01, seed=config.seed, device="cpu", verbose=0)
            model.learn(total_timesteps=config.timesteps, progress_bar=progress)
        finally:
            venv.close()
        train_s = run.wall_time_s
        model.save(out / "ppo_link_control.zip")
        run.append("events", {"kind": "train-end", "wall_time_s": train_s, "detail": "agent saved"})

        # Evaluation seeds start far from the training seeds (SB3 seeds env i with seed + i). Each
        # policy runs in its own environment so that each writes its own run directory.
        probe = gym.make(ENV_ID)
        try:
            policies = {"ppo": SB3Policy(model), **probe.unwrapped.baseline_policies(seed=config.seed)}
        finally:
            probe.close()
        frames = []
        for name, policy in policies.items():
            env = gym.make(ENV_ID, run_dir=out / "eval" / name)
            try:
                frames.append(evaluate(env, {name: policy}, seeds))
            finally:
                env.close()
        episodes = pd.concat(frames, ignore_index=True)
        run.append("events", {"kind": "eval-end", "wall_time_s": run.wall_time_s,
                              "detail": f"{len(policies)} policies x {len(seeds)} seeds"})
        table = episodes.groupby("policy", sort=False)[SUMMARY_COLUMNS].mean()
        fixed = table[table.index.str.startswith("fixed-")]
        best_fixed = fixed["return"].idxmax()
        shown = table.loc[["ppo", best_fixed, "random"]]
        episodes.to_csv(out / "episodes.csv", index=False)

        summary = {
            "env_id": ENV_ID,
            "config": {k: str(v) for k, v in asdict(config).items()},
            "train_seconds": train_s,
            "eval_seeds": seeds,
            "episode_steps": int(episodes["steps"].iloc[0]),
            "best_fixed_policy": best_fixed,
            "mean_return": shown["return"].to_dict(),
            "ppo_over_best_fixed": float(shown.loc["ppo", "return"] / shown.loc[best_fixed, "return"]),
            "table": shown.reset_index().to_dict(orient="records"),
            "agent": str(out / "ppo_link_control.zip"),
            "run_dir": str(out),
        }
        report = write_report([out / "eval" / name for name in shown.index], out / "report", progress=False)
        summary["report"] = str(report)
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        run.set(**{k: summary[k] for k in ("best_fixed_policy", "mean_return", "ppo_over_best_fixed", "train_seconds")})
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    table = pd.DataFrame(summary["table"]).set_index("policy")
    table.columns = ["return", "throughput Mbit/s", "delay ms", "loss"]
    return "\n".join(
        [
            f"{summary['env_id']}: PPO trained {summary['config']['timesteps']} steps on "
            f"{summary['config']['n_envs']} scenarios in {summary['train_seconds']:.0f} s; "
            f"mean over {len(summary['eval_seeds'])} held-out seeds "
            f"(one {summary['episode_steps']}-step episode each):",
            table.to_string(float_format=lambda v: f"{v:.3f}"),
            f"PPO return / best fixed rate ({summary['best_fixed_policy']}, chosen in hindsight): "
            f"{summary['ppo_over_best_fixed']:.2f}",
            f"agent: {summary['agent']}; episodes: {Path(summary['agent']).parent / 'episodes.csv'}",
            f"report: {summary['report']}",
        ]
    )

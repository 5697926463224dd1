"""``ns6g demo``: train PPO briefly, then compare it with the environment's baselines on held-out seeds.

Two demos share one engine:
- ``link`` (default): ``ns6g/LinkControl-v0``; baselines are every fixed sending rate and a random policy;
  the headline compares PPO with the best fixed rate chosen in hindsight.
- ``ran``: ``ns6g/SpectrumAllocation-v0`` (one cell, 4 UEs, 20 MHz at 7 GHz, sum-rate reward); baselines
  are ns6g's per-slot round-robin, proportional-fair and max-rate schedulers on the same seeds.
- ``split``: ``ns6g/SplitInference-v0`` (4 Raspberry-Pi-class devices running ResNet-18-style inference in
  a 5 MHz UMa cell of 1.5 km inter-site distance, an edge GPU, a cloud GPU); baselines all-local,
  all-edge, random and the greedy Neurosurgeon split.

Training runs ``n_envs`` scenario processes in parallel (``ns6g.envs.vec_env.BridgeVecEnv``, one Python process); evaluation runs every
contender for one episode on each evaluation seed, seeds the training never used. The output folder is a
run directory (kind ``demo``: manifest with the summary, ``events`` for the phases) holding the agent,
``episodes.csv``, ``summary.json``, one traced environment run per contender under ``eval/<name>``, and
an HTML report (``report/index.html``) with the figures.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ns6g.apps.training import check_counts, silent_logger


@dataclass(frozen=True)
class DemoSpec:
    """What one demo trains on and what it compares against."""

    env_id: str
    env_kwargs: dict[str, Any]
    policy: str  # SB3 policy class name
    ppo_kwargs: dict[str, Any]
    summary_columns: list[str]
    # The baselines shown beside PPO (from the evaluated table): name of the one in the headline, others.
    shown: Callable[[pd.DataFrame], tuple[str, list[str]]]


def _link_shown(table: pd.DataFrame) -> tuple[str, list[str]]:
    fixed = table[table.index.str.startswith("fixed-")]
    return str(fixed["return"].idxmax()), ["random"]


def _ran_shown(table: pd.DataFrame) -> tuple[str, list[str]]:
    return "proportional_fair", ["round_robin", "max_rate"]


def _split_shown(table: pd.DataFrame) -> tuple[str, list[str]]:
    return "greedy", ["all_local", "all_edge", "random"]


DEMOS: dict[str, DemoSpec] = {
    "link": DemoSpec(
        env_id="ns6g/LinkControl-v0",
        env_kwargs={},
        policy="MlpPolicy",
        ppo_kwargs=dict(n_steps=256, batch_size=256, learning_rate=1e-3, gamma=0.9, ent_coef=0.01),
        summary_columns=["return", "throughput_mbps", "delay_ms", "loss_fraction"],
        shown=_link_shown,
    ),
    "ran": DemoSpec(
        env_id="ns6g/SpectrumAllocation-v0",
        env_kwargs=dict(cells=1, ues=4, bandwidth_hz=20e6, frequency_hz=7e9, decision_slots=10, episode_steps=50,
                        reward="sum_rate", traffic="full_buffer", ue_rate_mbps=100.0),
        policy="MultiInputPolicy",
        ppo_kwargs=dict(n_steps=256, batch_size=256, learning_rate=3e-4, gamma=0.5, ent_coef=0.0),
        summary_columns=["return", "sum_throughput_mbps", "jain_index", "mean_cqi"],
        shown=_ran_shown,
    ),
    "split": DemoSpec(
        env_id="ns6g/SplitInference-v0",
        env_kwargs=dict(ues=4, model="resnet18_style", device="raspberry-pi-4", scenario="UMa", frequency_hz=3.5e9,
                        bandwidth_hz=5e6, numerology=0, isd_m=1500.0, task_rate_hz=2.0, episode_steps=50,
                        fast_fading=False),
        policy="MultiInputPolicy",
        ppo_kwargs=dict(n_steps=256, batch_size=256, learning_rate=3e-4, gamma=0.9, ent_coef=0.01),
        summary_columns=["return", "latency_ms", "energy_j", "failed"],
        shown=_split_shown,
    ),
}


@dataclass(frozen=True)
class DemoConfig:
    demo: Literal["link", "ran", "split"] = "link"
    timesteps: int = 30_000
    n_envs: int = 4
    seed: int = 0
    eval_seeds: int = 5
    out: Path | None = None  # default: runs/demo-<demo>-<UTC date and time>
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # on top of the demo's own
    overwrite: bool = False  # replace a run already in ``out`` (else it is refused)

    def __post_init__(self) -> None:
        if self.demo not in DEMOS:
            raise ValueError(f"unknown demo {self.demo!r}: choose one of {', '.join(DEMOS)}")
        check_counts(self, timesteps=1, n_envs=1, eval_seeds=1, seed=0)


def default_out(demo: str) -> Path:
    return Path("runs") / f"demo-{demo}-{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}"


def run_demo(config: DemoConfig, progress: bool = True) -> dict[str, Any]:
    """Train, evaluate, save the agent, a summary and a report under ``config.out``; return the summary."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    import ns6g.envs  # noqa: F401
    from ns6g.analysis import write_report
    from ns6g.apps.evaluation import baselines, evaluate_contenders, make_env
    from ns6g.core.outputs import claim_run_dir
    from ns6g.envs.policies import Contender, SB3Policy
    from ns6g.core.runs import RunWriter
    from ns6g.envs.vec_env import BridgeVecEnv

    spec = DEMOS[config.demo]
    if config.out is None:
        config = replace(config, out=default_out(config.demo))
    out = Path(config.out)
    env_kwargs = {**spec.env_kwargs, **config.env_kwargs}
    seeds = list(range(10_000 + config.seed, 10_000 + config.seed + config.eval_seeds))
    torch.manual_seed(config.seed)
    torch.set_num_threads(1)  # the scenario processes want the other core
    manifest_config = {"env_id": spec.env_id, **{k: str(v) for k, v in asdict(config).items()}, "env": env_kwargs}
    claim = claim_run_dir(out, config.overwrite)
    model = None
    try:
        with RunWriter(out, kind="demo", config=manifest_config, seeds=[config.seed, *seeds]) as run:
            run.append("events", {"kind": "train-start", "wall_time_s": run.wall_time_s,
                                  "detail": f"PPO, {config.n_envs} envs, {config.timesteps} steps"})
            make = functools.partial(make_env, spec.env_id, **env_kwargs)
            venv = make_vec_env(make, n_envs=config.n_envs, seed=config.seed, vec_env_cls=BridgeVecEnv)
            try:
                model = PPO(spec.policy, venv, seed=config.seed, device="cpu", verbose=0, **spec.ppo_kwargs)
                model.set_logger(silent_logger())
                model.learn(total_timesteps=config.timesteps, progress_bar=progress)
            finally:
                venv.close()
            train_s = run.wall_time_s
            model.save(out / "ppo.zip")
            run.append("events", {"kind": "train-end", "wall_time_s": train_s, "detail": "agent saved"})

            # Evaluation seeds start far from the training seeds (SB3 seeds env i with seed + i). Each
            # contender runs in its own environment so that each writes its own run directory.
            contenders = {"ppo": Contender(SB3Policy(model)), **baselines(spec.env_id, env_kwargs, config.seed)}
            episodes = evaluate_contenders(spec.env_id, env_kwargs, contenders, seeds, out=out)
            run.append("events", {"kind": "eval-end", "wall_time_s": run.wall_time_s,
                                  "detail": f"{len(contenders)} contenders x {len(seeds)} seeds"})
            table = episodes.groupby("policy", sort=False)[spec.summary_columns].mean()
            headline, others = spec.shown(table)
            shown = table.loc[["ppo", headline, *others]]
            episodes.to_csv(out / "episodes.csv", index=False)
            report = write_report([out / "eval" / name for name in shown.index], out / "report", progress=False)

            summary = {
                "demo": config.demo,
                "env_id": spec.env_id,
                "env_kwargs": env_kwargs,
                "config": {k: str(v) for k, v in asdict(config).items()},
                "train_seconds": train_s,
                "eval_seeds": seeds,
                "episode_steps": int(episodes["steps"].iloc[0]),
                "headline_baseline": headline,
                "mean_return": shown["return"].to_dict(),
                "ppo_minus_headline": float(shown.loc["ppo", "return"] - shown.loc[headline, "return"]),
                "table": shown.reset_index().to_dict(orient="records"),
                "agent": str(out / "ppo.zip"),
                "run_dir": str(out),
                "report": str(report),
            }
            (out / "summary.json").write_text(json.dumps(summary, indent=2))
            run.set(**{k: summary[k]
                       for k in ("headline_baseline", "mean_return", "ppo_minus_headline", "train_seconds")})
    except BaseException:
        if model is None or model.num_timesteps == 0:
            claim.release()  # nothing was trained: leave nothing that blocks the same command again
        raise
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    table = pd.DataFrame(summary["table"]).set_index("policy")
    config = summary["config"]
    return "\n".join(
        [
            f"{summary['env_id']}: PPO trained {config['timesteps']} steps on {config['n_envs']} scenarios in "
            f"{summary['train_seconds']:.0f} s; mean over {len(summary['eval_seeds'])} held-out seeds "
            f"(one {summary['episode_steps']}-step episode each):",
            table.to_string(float_format=lambda v: f"{v:.3f}"),
            f"PPO mean return {summary['mean_return']['ppo']:.3f} against {summary['headline_baseline']} "
            f"{summary['mean_return'][summary['headline_baseline']]:.3f}",
            f"agent: {summary['agent']}; episodes: {Path(summary['agent']).parent / 'episodes.csv'}",
            f"report: {summary['report']}",
        ]
    )

"""``ns6g train`` and ``ns6g evaluate``: Stable-Baselines3 agents on ns6g scenarios.

``train`` runs ``n_envs`` scenario processes in parallel (:class:`ns6g.vec_env.BridgeVecEnv`), logs to
TensorBoard, saves checkpoints, and then evaluates the agent against the environment's baselines on
held-out seeds. The output folder is a run directory (kind ``train``; see docs/training.md)::

    OUT/manifest.json, events/          the job (phases in ``events``; the summary in the manifest)
    OUT/agent.zip, OUT/agent.json       the agent and what it was trained on (read by ``evaluate``)
    OUT/checkpoints/agent_<steps>_steps.zip
    OUT/tensorboard/<ALGO>_1/           TensorBoard event files
    OUT/train/env-<i>/                  the traced run of training environment i (its learning curve)
    OUT/eval/<policy>/                  one traced evaluation run per contender
    OUT/episodes.csv, OUT/summary.json  per-episode evaluation results; means with 95 % intervals
    OUT/comparison.png                  mean return per policy with its 95 % interval
"""

from __future__ import annotations

import functools
import inspect
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import pandas as pd

Algorithm = Literal["ppo", "a2c", "dqn", "sac"]
ALGORITHMS: dict[str, str] = {"ppo": "PPO", "a2c": "A2C", "dqn": "DQN", "sac": "SAC"}
# Action spaces each algorithm can act in (Stable-Baselines3's support table).
_SUPPORTED: dict[str, tuple[type[gym.Space], ...]] = {
    "ppo": (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary),
    "a2c": (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary),
    "dqn": (gym.spaces.Discrete,),
    "sac": (gym.spaces.Box,),
}
AGENT_FILE = "agent.zip"
AGENT_INFO = "agent.json"
EVAL_SEED_BASE = 10_000  # evaluation seeds start far from the training seeds (SB3 seeds env i with seed + i)


class TrainingError(ValueError):
    """A training or evaluation request that cannot run (unknown algorithm, unsupported space, bad agent)."""


def check_counts(config: Any, **lowest: int) -> None:
    """Raise :class:`TrainingError` naming the first field of ``config`` that is not a whole number at least
    its lowest value (``timesteps=1, seed=0``...)."""
    for name, low in lowest.items():
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise TrainingError(f"{name} must be >= {low} (a whole number; got {value!r})")


def check_algorithm(algo: str, action_space: gym.Space) -> None:
    """Raise :class:`TrainingError` unless ``algo`` is known and can act in ``action_space``."""
    if algo not in ALGORITHMS:
        raise TrainingError(f"unknown algorithm {algo!r}: choose one of {', '.join(ALGORITHMS)}")
    if not isinstance(action_space, _SUPPORTED[algo]):
        fits = [name for name, spaces in _SUPPORTED.items() if isinstance(action_space, spaces)]
        raise TrainingError(
            f"{algo} cannot act in the action space {action_space} "
            f"(it takes {', '.join(s.__name__ for s in _SUPPORTED[algo])}); use {' or '.join(fits) or 'another env'}")


def policy_name(observation_space: gym.Space) -> str:
    """The SB3 policy for an observation space: ``MultiInputPolicy`` for Dict spaces, else ``MlpPolicy``."""
    return "MultiInputPolicy" if isinstance(observation_space, gym.spaces.Dict) else "MlpPolicy"


def _algorithm_class(algo: str):
    import stable_baselines3

    return getattr(stable_baselines3, ALGORITHMS[algo])


@dataclass(frozen=True)
class TrainConfig:
    """One training job. ``env_kwargs`` configure the environment (validated by its config class)."""

    env_id: str
    algo: Algorithm = "ppo"
    timesteps: int = 10_000
    n_envs: int = 4
    seed: int = 0
    out: Path = Path("runs/train")
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    algo_kwargs: Mapping[str, Any] = field(default_factory=dict)
    eval_seeds: int = 5
    checkpoints: int = 5  # agents saved during training, evenly spaced
    trace_detail: str = "summary"  # of the training environments' run directories
    overwrite: bool = False  # replace a run already in ``out`` (else it is refused)

    def __post_init__(self) -> None:
        check_counts(self, timesteps=1, n_envs=1, eval_seeds=1, checkpoints=0, seed=0)
        if self.algo not in ALGORITHMS:
            raise TrainingError(f"unknown algorithm {self.algo!r}: choose one of {', '.join(ALGORITHMS)}")


# Arguments ``train`` passes itself; an algorithm argument may not set them.
_SET_BY_TRAIN = {"policy": "the observation space", "env": "env_id", "seed": "--seed", "device": "torch",
                 "verbose": "ns6g", "tensorboard_log": "--out"}


# Ranges of algorithm arguments that Stable-Baselines3 takes unchecked and fails on deep inside learn()
# (gamma=2 gives NaN logits, n_epochs=0 an UnboundLocalError): (lowest, highest), None for no bound.
_ARGUMENT_RANGES: dict[str, tuple[float | None, float | None]] = {
    "gamma": (0.0, 1.0), "gae_lambda": (0.0, 1.0), "tau": (0.0, 1.0), "exploration_fraction": (0.0, 1.0),
    "exploration_initial_eps": (0.0, 1.0), "exploration_final_eps": (0.0, 1.0), "n_epochs": (1, None),
    "max_grad_norm": (0.0, None), "vf_coef": (0.0, None), "target_update_interval": (1, None),
}


class _SpacesOnly(gym.Env):
    """Carries an environment's spaces and nothing else: enough to construct an algorithm."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space


def check_algo_kwargs(algo: str, algo_kwargs: Mapping[str, Any], observation_space: gym.Space,
                      action_space: gym.Space, n_envs: int) -> None:
    """Raise :class:`TrainingError` unless the algorithm accepts ``algo_kwargs`` with ``n_envs`` environments.

    Checked by constructing the algorithm once on stand-ins that carry only the spaces, so that a bad
    value is refused before any scenario starts or file is written (Stable-Baselines3 checks its
    arguments with assertions, e.g. ``n_steps * n_envs > 1``)."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    cls = _algorithm_class(algo)
    for key in algo_kwargs:
        if key in _SET_BY_TRAIN:
            raise TrainingError(f"algorithm argument {key!r} is set by ns6g train (from {_SET_BY_TRAIN[key]})")
    known = set(inspect.signature(cls.__init__).parameters) - {"self", "_init_setup_model", *_SET_BY_TRAIN}
    unknown = sorted(set(algo_kwargs) - known)
    if unknown:
        raise TrainingError(f"{cls.__name__} has no argument {unknown[0]!r}; it takes {', '.join(sorted(known))}")
    for key, value in algo_kwargs.items():
        if key in _ARGUMENT_RANGES:
            low, high = _ARGUMENT_RANGES[key]
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not number or (low is not None and value < low) or (high is not None and value > high):
                bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
                raise TrainingError(f"{cls.__name__} argument {key} must be a number {bounds} (got {value!r})")
    stand_in = DummyVecEnv([lambda: _SpacesOnly(observation_space, action_space)] * n_envs)
    try:
        cls(policy_name(observation_space), stand_in, device="cpu", **dict(algo_kwargs))
    except (AssertionError, TypeError, ValueError) as exc:
        settings = ", ".join(f"{k}={v!r}" for k, v in algo_kwargs.items())
        raise TrainingError(f"{cls.__name__} refuses the arguments {settings}: {exc}") from None


def eval_seeds(seed: int, count: int) -> list[int]:
    """The held-out evaluation seeds of a job seeded ``seed``."""
    return list(range(EVAL_SEED_BASE + seed, EVAL_SEED_BASE + seed + count))


def train(config: TrainConfig, progress: bool = True) -> dict[str, Any]:
    """Train, save and evaluate an agent; return the summary (also in ``OUT/summary.json``)."""
    import torch
    from stable_baselines3.common.callbacks import CheckpointCallback
    from stable_baselines3.common.env_util import make_vec_env

    import ns6g.envs  # noqa: F401  (registers the ids)
    from ns6g.evaluation import make_env
    from ns6g.outputs import check_run_dir, claim_run_dir
    from ns6g.runs import RunWriter
    from ns6g.vec_env import BridgeVecEnv

    # Everything is checked before a file is written: the output folder, the environment and its settings,
    # the algorithm and its arguments.
    out = check_run_dir(config.out, config.overwrite)
    env_kwargs = dict(config.env_kwargs)
    if config.env_id not in gym.registry:
        raise TrainingError(f"unknown environment {config.env_id!r}: `ns6g envs` lists them")
    probe = make_env(config.env_id, **env_kwargs)  # validates env_kwargs
    try:
        check_algorithm(config.algo, probe.action_space)
        policy = policy_name(probe.observation_space)
        check_algo_kwargs(config.algo, config.algo_kwargs, probe.observation_space, probe.action_space,
                          config.n_envs)
    finally:
        probe.close()

    torch.manual_seed(config.seed)
    torch.set_num_threads(1)  # the scenario processes want the other cores
    manifest = {**asdict(config), "out": str(config.out), "env_kwargs": env_kwargs,
                "algo_kwargs": dict(config.algo_kwargs)}
    claim = claim_run_dir(out, config.overwrite)
    model = None
    try:
        with RunWriter(out, kind="train", config=manifest, seeds=[config.seed]) as run:
            run.append("events", {"kind": "train-start", "wall_time_s": run.wall_time_s,
                                  "detail": f"{config.algo}, {config.n_envs} envs, {config.timesteps} steps"})
            counter = iter(range(config.n_envs))

            def make(**_: Any):
                # Each training environment writes its own traced run: its learning curve.
                return make_env(config.env_id, **env_kwargs, run_dir=out / "train" / f"env-{next(counter)}",
                                trace_detail=config.trace_detail)

            venv = make_vec_env(make, n_envs=config.n_envs, seed=config.seed, vec_env_cls=BridgeVecEnv)
            try:
                model = _algorithm_class(config.algo)(
                    policy, venv, seed=config.seed, device="auto", verbose=0,
                    tensorboard_log=str(out / "tensorboard"), **dict(config.algo_kwargs))
                callbacks = []
                if config.checkpoints:
                    every = max(1, config.timesteps // (config.checkpoints * config.n_envs))
                    callbacks.append(CheckpointCallback(every, str(out / "checkpoints"), name_prefix="agent"))
                model.learn(total_timesteps=config.timesteps, callback=callbacks, progress_bar=progress,
                            tb_log_name=ALGORITHMS[config.algo])
            finally:
                venv.close()
            train_s = run.wall_time_s
            model.save(out / AGENT_FILE)
            (out / AGENT_INFO).write_text(json.dumps(
                {"algo": config.algo, "env_id": config.env_id, "env_kwargs": env_kwargs, "seed": config.seed,
                 "timesteps": config.timesteps}, indent=2, default=str))
            run.append("events", {"kind": "train-end", "wall_time_s": train_s,
                                  "detail": f"agent saved to {AGENT_FILE}"})

            summary = evaluate_agent(out / AGENT_FILE, seeds=eval_seeds(config.seed, config.eval_seeds), out=out,
                                     progress=progress, model=model)
            summary["train_seconds"] = train_s
            (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
            run.append("events", {"kind": "eval-end", "wall_time_s": run.wall_time_s,
                                  "detail": f"{len(summary['table'])} contenders x {config.eval_seeds} seeds"})
            run.set(train_seconds=train_s, mean_return=summary["mean_return"])
    except BaseException:
        if model is None or model.num_timesteps == 0:
            claim.release()  # nothing was trained: leave nothing that blocks the same command again
        raise
    return summary


def _agent_file(path: str | Path) -> Path:
    """The ``agent.zip`` of ``path`` (the file or its run directory); TrainingError naming ``path`` if none."""
    path = Path(path)
    file = path / AGENT_FILE if path.is_dir() else path
    if not file.is_file():
        raise TrainingError(f"no agent at {path}: give the {AGENT_FILE} written by ns6g train, or its run directory")
    return file


def load_agent(path: str | Path):
    """Load an agent saved by :func:`train`; the algorithm comes from ``agent.json`` beside it."""
    path = _agent_file(path)
    info = agent_info(path)
    try:
        return _algorithm_class(info["algo"]).load(path, device="auto")
    except Exception as exc:  # a zip SB3 cannot read: say which file
        raise TrainingError(f"cannot load the {info['algo']} agent {path}: {exc}") from exc


def agent_info(path: str | Path) -> dict[str, Any]:
    """What the agent at ``path`` (``agent.zip`` or its folder) was trained on: ``agent.json`` beside it."""
    file = _agent_file(path)
    info_path = file.parent / AGENT_INFO
    if not info_path.is_file():
        raise TrainingError(f"no {AGENT_INFO} beside the agent {file}: it names the algorithm and environment "
                            f"the agent was trained on")
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as exc:
        raise TrainingError(f"{info_path}: not JSON ({exc})") from None
    if info.get("algo") not in ALGORITHMS or not isinstance(info.get("env_id"), str):
        raise TrainingError(f"{info_path}: needs 'algo' (one of {', '.join(ALGORITHMS)}) and 'env_id'")
    return info


def evaluate_agent(
    agent: str | Path,
    env_id: str | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    seeds: Sequence[int] = tuple(eval_seeds(0, 5)),
    out: Path | None = None,
    progress: bool = True,
    model: Any = None,
) -> dict[str, Any]:
    """Evaluate a saved agent and the environment's baselines on ``seeds``.

    ``env_id`` and ``env_kwargs`` default to what the agent was trained on. With ``out``, writes the
    evaluation runs (``out/eval/<policy>``) and ``out/episodes.csv``. Returns a summary: ``env_id``,
    ``seeds``, ``mean_return`` per policy, and ``table`` (per policy: mean and 95 % interval half-width
    ``<column>_ci`` of the return and of every numeric info entry).
    """
    from ns6g.evaluation import baselines, comparison_figure, confidence_table, evaluate_contenders
    from ns6g.policies import Contender, SB3Policy

    info = agent_info(agent)
    env_id = env_id or info["env_id"]
    env_kwargs = dict(info.get("env_kwargs", {}) if env_kwargs is None else env_kwargs)
    model = model if model is not None else load_agent(agent)
    contenders = {"agent": Contender(SB3Policy(model)), **baselines(env_id, env_kwargs, seed=min(seeds))}
    episodes = evaluate_contenders(env_id, env_kwargs, contenders, list(seeds), out=out, progress=progress)
    table = confidence_table(episodes)
    if out is not None:
        episodes.to_csv(Path(out) / "episodes.csv", index=False)
        comparison_figure(table, title=f"{env_id}: {info['algo']} agent against the baselines").savefig(
            Path(out) / "comparison.png", dpi=120)
    return {
        "env_id": env_id,
        "env_kwargs": env_kwargs,
        "algo": info["algo"],
        "agent": str(agent),
        "seeds": list(seeds),
        "mean_return": table["return"].to_dict(),
        "table": table.reset_index().to_dict(orient="records"),
    }


def format_evaluation(summary: Mapping[str, Any]) -> str:
    """The evaluation table (mean ± 95 % interval of the return and the first few info entries)."""
    from ns6g.evaluation import format_confidence_table

    table = pd.DataFrame(summary["table"]).set_index("policy")
    columns = ["return"] + [c for c in table.columns if not c.endswith("_ci") and c not in ("return", "episodes")][:3]
    best = max((p for p in table.index if p != "agent"), key=lambda p: table.loc[p, "return"], default=None)
    lines = [f"{summary['env_id']}: {summary['algo']} agent against the baselines, one episode on each of "
             f"{len(summary['seeds'])} held-out seeds (mean ± 95 % interval):",
             format_confidence_table(table, columns)]
    if best is not None:
        lines.append(f"agent return {table.loc['agent', 'return']:.3f}; best baseline {best} "
                     f"{table.loc[best, 'return']:.3f}")
    return "\n".join(lines)

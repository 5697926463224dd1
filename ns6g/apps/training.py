"""``ns6g train`` and ``ns6g evaluate``: Stable-Baselines3 agents on ns6g scenarios.

``train`` resolves the job against the environment's preset (:mod:`ns6g.apps.presets`, :func:`plan_training`),
runs ``n_envs`` scenario processes in parallel (:class:`ns6g.envs.vec_env.BridgeVecEnv`, under VecNormalize when
the preset normalises; MaskablePPO reads the environment's ``action_masks()``), logs to
TensorBoard, saves checkpoints, and then evaluates the agent against the environment's baselines on
held-out seeds. The output folder is a run directory (kind ``train``; see docs/training.md)::

    OUT/manifest.json, events/          the job (phases in ``events``; the summary in the manifest)
    OUT/agent.zip, OUT/agent.json       the agent and what it was trained on (read by ``evaluate``)
    OUT/vecnormalize.pkl                VecNormalize's statistics (when the preset normalises)
    OUT/checkpoints/agent_<steps>_steps.zip
    OUT/tensorboard/<ALGO>_1/           TensorBoard event files
    OUT/progress.csv                    the same log as CSV: losses and mean episode return per update
    OUT/train/env-<i>/                  the traced run of training environment i (its learning curve)
    OUT/eval/<policy>/                  one traced evaluation run per contender
    OUT/episodes.csv, OUT/summary.json  per-episode evaluation results; means with 95 % intervals
    OUT/comparison.png                  mean return per policy with its 95 % interval
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import pandas as pd

Algorithm = Literal["ppo", "maskable_ppo", "a2c", "dqn", "sac"]
Backend = Literal["local", "ray"]
Device = Literal["cpu", "cuda", "auto"]
DEVICES: dict[str, str] = {
    "cpu": "the learner on the CPU (default: ns6g's policies are small MLPs, which a GPU does not speed up)",
    "cuda": "the learner on the GPU (refused where PyTorch sees none)",
    "auto": "the GPU where PyTorch sees one, else the CPU",
}
BACKENDS: dict[str, str] = {
    "local": "scenario processes stepped in parallel from this process (BridgeVecEnv)",
    "ray": "one Ray actor per environment, each with its own scenario process, on a Ray cluster (RayVecEnv)",
}
ALGORITHMS: dict[str, str] = {"ppo": "PPO", "maskable_ppo": "MaskablePPO", "a2c": "A2C", "dqn": "DQN", "sac": "SAC"}
_MODULES = {"maskable_ppo": "sb3_contrib"}  # the others are Stable-Baselines3's
_DISCRETE = (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)
# Action spaces each algorithm can act in (Stable-Baselines3's and sb3-contrib's support tables).
_SUPPORTED: dict[str, tuple[type[gym.Space], ...]] = {
    "ppo": (gym.spaces.Box, *_DISCRETE),
    "maskable_ppo": _DISCRETE,
    "a2c": (gym.spaces.Box, *_DISCRETE),
    "dqn": (gym.spaces.Discrete,),
    "sac": (gym.spaces.Box,),
}
AGENT_FILE = "agent.zip"
AGENT_INFO = "agent.json"
NORMALIZER_FILE = "vecnormalize.pkl"  # VecNormalize's statistics, beside the agent (rl-zoo3's name)
EVAL_SEED_BASE = 10_000  # evaluation seeds start far from the training seeds (SB3 seeds env i with seed + i)
DEFAULT_TIMESTEPS, DEFAULT_N_ENVS = 10_000, 4  # without a preset that sets them


class TrainingError(ValueError):
    """A training or evaluation request that cannot run (unknown algorithm, unsupported space, bad agent)."""


def check_counts(config: Any, **lowest: int) -> None:
    """Raise :class:`TrainingError` naming the first field of ``config`` that is not a whole number at least
    its lowest value (``timesteps=1, seed=0``...)."""
    for name, low in lowest.items():
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise TrainingError(f"{name} must be >= {low} (a whole number; got {value!r})")


def masks_actions(env: gym.Env) -> bool:
    """Whether ``env`` says which actions are valid (``action_masks()``, as sb3-contrib's MaskablePPO reads)
    in a space masks apply to."""
    return callable(getattr(env.unwrapped, "action_masks", None)) and isinstance(env.action_space, _DISCRETE)


def default_algorithm(env: gym.Env) -> str:
    """``maskable_ppo`` for an environment that masks its actions, else ``ppo``."""
    return "maskable_ppo" if masks_actions(env) else "ppo"


def check_algorithm(algo: str, action_space: gym.Space) -> None:
    """Raise :class:`TrainingError` unless ``algo`` is known and can act in ``action_space``."""
    if algo not in ALGORITHMS:
        raise TrainingError(f"unknown algorithm {algo!r}: choose one of {', '.join(ALGORITHMS)}")
    if not isinstance(action_space, _SUPPORTED[algo]):
        # maskable_ppo is not suggested: it fits only environments that mask their actions (then the default)
        fits = [name for name, spaces in _SUPPORTED.items() if isinstance(action_space, spaces) and name != "maskable_ppo"]
        raise TrainingError(
            f"{algo} cannot act in the action space {action_space} "
            f"(it takes {', '.join(s.__name__ for s in _SUPPORTED[algo])}); use {' or '.join(fits) or 'another env'}")


def policy_name(observation_space: gym.Space) -> str:
    """The SB3 policy for an observation space: ``MultiInputPolicy`` for Dict spaces, else ``MlpPolicy``."""
    return "MultiInputPolicy" if isinstance(observation_space, gym.spaces.Dict) else "MlpPolicy"


def _algorithm_class(algo: str):
    import importlib

    return getattr(importlib.import_module(_MODULES.get(algo, "stable_baselines3")), ALGORITHMS[algo])


@dataclass(frozen=True)
class TrainConfig:
    """One training job. ``env_kwargs`` configure the environment (validated by its config class).

    ``algo``, ``timesteps`` and ``n_envs`` left as None come from the preset (:mod:`ns6g.apps.presets`): the
    algorithm is ``maskable_ppo`` for an environment that masks its actions, else ``ppo``. ``algo_kwargs``
    override the preset's settings (``normalize`` too); ``preset`` is a preset file to use instead of the
    shipped one (``ns6g tune`` writes one); ``use_preset=False`` trains with Stable-Baselines3's defaults.

    ``backend``: where the ``n_envs`` environments run (:data:`BACKENDS`): ``local`` (default) or ``ray``, one
    Ray actor per ``envs_per_worker`` environments (default 1) on the cluster at ``address`` (None: a Ray
    instance started on this machine; ``"auto"``, ``HOST:PORT`` or ``ray://HOST:PORT``: a running cluster). The
    learner, its checkpoints and the evaluation stay in this process.

    ``device``: where the learner's PyTorch work runs (:data:`DEVICES`; ``cpu`` by default); the scenarios
    run on the CPU whatever it is. A saved agent loads on the CPU for evaluation.
    """

    env_id: str
    algo: Algorithm | None = None
    timesteps: int | None = None
    n_envs: int | None = None
    seed: int = 0
    out: Path = Path("runs/train")
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    algo_kwargs: Mapping[str, Any] = field(default_factory=dict)
    eval_seeds: int = 5
    checkpoints: int = 5  # agents saved during training, evenly spaced
    trace_detail: str = "summary"  # of the training environments' run directories
    overwrite: bool = False  # replace a run already in ``out`` (else it is refused)
    preset: Path | None = None
    use_preset: bool = True
    budget_s: float | None = None  # wall-clock budget of learning (s): it stops at the first step past it
    backend: Backend = "local"
    address: str | None = None  # the Ray cluster (backend "ray" only)
    envs_per_worker: int = 1  # environments per Ray actor, stepped together there (backend "ray" only)
    device: Device = "cpu"

    def __post_init__(self) -> None:
        given = {"timesteps": 1, "n_envs": 1, "eval_seeds": 1, "checkpoints": 0, "seed": 0, "envs_per_worker": 1}
        check_counts(self, **{name: low for name, low in given.items() if getattr(self, name) is not None})
        if self.algo is not None and self.algo not in ALGORITHMS:
            raise TrainingError(f"unknown algorithm {self.algo!r}: choose one of {', '.join(ALGORITHMS)}")
        if self.preset is not None and not self.use_preset:
            raise TrainingError("a preset file and no preset: give one or the other")
        if self.budget_s is not None and not (isinstance(self.budget_s, (int, float)) and self.budget_s > 0
                                              and math.isfinite(self.budget_s)):
            raise TrainingError(f"budget_s must be a positive number of seconds (got {self.budget_s!r})")
        if self.backend not in BACKENDS:
            raise TrainingError(f"unknown backend {self.backend!r}: choose one of {', '.join(BACKENDS)}")
        if self.address is not None and self.backend != "ray":
            raise TrainingError(f"an address ({self.address!r}) is for the ray backend: add --backend ray")
        if self.envs_per_worker != 1 and self.backend != "ray":
            raise TrainingError(f"envs_per_worker ({self.envs_per_worker}) is for the ray backend: add --backend ray")
        if self.device not in DEVICES:
            raise TrainingError(f"unknown device {self.device!r}: choose one of {', '.join(DEVICES)}")
        if self.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise TrainingError("device 'cuda' was asked for but PyTorch sees no GPU here "
                                    f"(torch {torch.__version__}); use --device cpu or auto")


# Arguments ``train`` passes itself; an algorithm argument may not set them.
_SET_BY_TRAIN = {"policy": "the observation space", "env": "env_id", "seed": "--seed", "device": "--device",
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
                      action_space: gym.Space, n_envs: int, given: Sequence[str] = (), preset: str = "") -> Any:
    """Raise :class:`TrainingError` unless the algorithm accepts ``algo_kwargs`` with ``n_envs`` environments;
    return the algorithm so constructed (on stand-ins: it cannot learn).

    Checked by constructing the algorithm once on stand-ins that carry only the spaces, so that a bad
    value is refused before any scenario starts or file is written (Stable-Baselines3 checks its
    arguments with assertions, e.g. ``n_steps * n_envs > 1``). A refusal names the ``given`` arguments (the
    caller's; all if none) and the ``preset`` the others come from."""
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
        return cls(policy_name(observation_space), stand_in, device="cpu", **dict(algo_kwargs))
    except (AssertionError, TypeError, ValueError) as exc:
        shown = [k for k in algo_kwargs if k in given] or list(algo_kwargs)
        settings = ", ".join(f"{k}={algo_kwargs[k]!r}" for k in shown)
        rest = f" (the others from the preset {preset})" if preset and len(shown) < len(algo_kwargs) else ""
        raise TrainingError(f"{cls.__name__} refuses the arguments {settings}{rest}: {exc}") from None


def eval_seeds(seed: int, count: int) -> list[int]:
    """The held-out evaluation seeds of a job seeded ``seed``."""
    return list(range(EVAL_SEED_BASE + seed, EVAL_SEED_BASE + seed + count))


def silent_logger():
    """A Stable-Baselines3 logger that writes nothing. A model learning without one (verbose 0, no
    ``tensorboard_log``) makes an empty ``SB3-<date>`` folder in the system's temporary directory on every
    ``learn`` call; the commands that need no learner log set this one instead."""
    from stable_baselines3.common.logger import Logger

    return Logger(None, [])


def rollout_steps(model: Any, n_envs: int) -> int:
    """Steps ``model.learn`` takes at a time: an on-policy algorithm learns from whole rollouts of ``n_steps``
    per environment, an off-policy one collects ``train_freq`` steps per environment between updates."""
    if hasattr(model, "n_steps"):
        return model.n_steps * n_envs
    freq = model.train_freq
    return (freq.frequency if freq.unit.value == "step" else 1) * n_envs


@dataclass(frozen=True)
class TrainPlan:
    """What a :class:`TrainConfig` resolves to once its preset and environment are known."""

    env_id: str
    algo: str
    preset: Any  # ns6g.apps.presets.Preset, with the config's algo_kwargs applied
    n_envs: int
    timesteps: int  # as asked (or the preset's)
    timesteps_planned: int  # what learn() will run: whole rollouts
    rollout: int  # steps per rollout (all environments)
    policy: str
    normalize: dict[str, Any] | None  # VecNormalize's arguments, None for none
    backend: str = "local"  # where the environments run (TrainConfig.backend)
    address: str | None = None  # the Ray cluster, for backend "ray"
    envs_per_worker: int = 1  # environments per Ray actor, for backend "ray"

    @property
    def model_kwargs(self) -> dict[str, Any]:
        from ns6g.apps.presets import model_kwargs

        return model_kwargs(self.preset.algo_kwargs)


def normalize_kwargs(normalize: Mapping[str, Any], observation_space: gym.Space, gamma: float) -> dict[str, Any]:
    """VecNormalize's arguments for a preset's ``normalize`` settings: observations are normalised where they
    are Box (the Box entries of a Dict), rewards with the algorithm's discount (as rl-zoo3 does)."""
    kwargs = {"gamma": gamma, **normalize}
    if isinstance(observation_space, gym.spaces.Dict):
        boxes = [k for k, space in observation_space.spaces.items() if isinstance(space, gym.spaces.Box)]
        kwargs.setdefault("norm_obs_keys", boxes)
        if not boxes:
            kwargs["norm_obs"] = False
    elif not isinstance(observation_space, gym.spaces.Box):
        kwargs["norm_obs"] = False
    return kwargs


def traces_runs(env: gym.Env) -> bool:
    """Whether ``env``'s class takes the ``run_dir`` and ``trace_detail`` that ns6g gives every environment it
    traces (ns6g's environments do; CartPole does not)."""
    parameters = inspect.signature(type(env.unwrapped).__init__).parameters.values()
    return ({"run_dir", "trace_detail"} <= {p.name for p in parameters}
            or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters))


def plan_training(config: TrainConfig) -> TrainPlan:
    """Resolve ``config`` against the environment and its preset; raise :class:`TrainingError` (or
    ``ns6g.apps.presets.PresetError``, a ValueError naming the file) for anything that cannot run, before any file
    is written."""
    from ns6g.apps.evaluation import make_env
    from ns6g.apps.presets import Preset, load_preset, model_kwargs
    from ns6g.envs.ids import resolve_env_id

    resolve_env_id(config.env_id)  # EnvIdError (a ValueError) naming the problem
    if config.backend == "ray":  # Ray installed and the cluster reachable, before a scenario starts
        from ns6g.envs.ray_vec_env import check_address, import_ray

        import_ray()
        check_address(config.address)
    probe = make_env(config.env_id, **dict(config.env_kwargs))  # validates env_kwargs
    try:
        if not traces_runs(probe):
            raise TrainingError(
                f"{config.env_id} is a Gymnasium environment but not an ns6g one ({type(probe.unwrapped).__name__} "
                f"takes no run_dir and trace_detail): ns6g train traces every environment's run and compares the "
                f"agent with its baselines; build it on ns6g.envs.base.ScenarioEnv (docs/extending.md) or train "
                f"it with Stable-Baselines3 directly")
        algo = config.algo or default_algorithm(probe)
        check_algorithm(algo, probe.action_space)
        if algo == "maskable_ppo" and not masks_actions(probe):
            raise TrainingError(f"maskable_ppo needs an environment that masks its actions (action_masks()); "
                                f"{config.env_id} does not: use ppo")
        observation_space, action_space = probe.observation_space, probe.action_space
    finally:
        probe.close()
    preset = load_preset(algo, config.env_id, config.preset) if config.use_preset else Preset(algo, config.env_id, "off")
    preset = preset.with_overrides(config.algo_kwargs)
    n_envs = config.n_envs or preset.n_envs or DEFAULT_N_ENVS
    timesteps = config.timesteps or preset.n_timesteps or DEFAULT_TIMESTEPS
    stand_in = check_algo_kwargs(algo, model_kwargs(preset.algo_kwargs), observation_space, action_space, n_envs,
                                 given=list(config.algo_kwargs), preset=preset.source)
    rollout = rollout_steps(stand_in, n_envs)
    normalize = None if preset.normalize is None else normalize_kwargs(preset.normalize, observation_space,
                                                                       stand_in.gamma)
    return TrainPlan(config.env_id, algo, preset, n_envs, timesteps, math.ceil(timesteps / rollout) * rollout,
                     rollout, policy_name(observation_space), normalize, config.backend, config.address,
                     config.envs_per_worker)


def format_plan(plan: TrainPlan, out: Path) -> str:
    """What ``ns6g train`` prints before it starts: algorithm, preset, and the steps it will run and why."""
    from ns6g.apps.presets import describe

    where = "" if plan.backend == "local" else f" (Ray actors on {plan.address or 'a local Ray instance'})"
    lines = [f"ns6g train: {plan.algo} on {plan.env_id}, {plan.n_envs} scenario processes{where}, "
             f"{plan.timesteps_planned} steps -> {out}", describe(plan.preset)]
    if plan.timesteps_planned != plan.timesteps:
        lines.append(f"{plan.timesteps} steps asked, {plan.timesteps_planned} run: {ALGORITHMS[plan.algo]} learns "
                     f"from whole rollouts of {plan.rollout} steps ({plan.rollout // plan.n_envs} per environment x "
                     f"{plan.n_envs} environments)")
    return "\n".join(lines)


def _training_env(env_id: str, env_kwargs: Mapping[str, Any], action_seed: int, **traced: Any) -> gym.Env:
    """Training environment i, as Stable-Baselines3's ``make_vec_env`` makes it (action space seeded
    ``seed + i``, under ``Monitor``); a module-level function, so a Ray actor can be sent it by name."""
    from stable_baselines3.common.monitor import Monitor

    from ns6g.apps.evaluation import make_env

    env = make_env(env_id, **env_kwargs, **traced)
    env.action_space.seed(action_seed)
    return Monitor(env)


def make_training_env(plan: TrainPlan, seed: int, env_kwargs: Mapping[str, Any],
                      run_dirs: Sequence[Path] | None = None, trace_detail: str = "summary"):
    """The vector of ``plan.n_envs`` scenario environments an agent learns in (env i seeded ``seed + i``,
    tracing to ``run_dirs[i]`` if given), under VecNormalize when the plan normalises. ``plan.backend``
    "local": a ``BridgeVecEnv`` in this process; "ray": a ``RayVecEnv`` of Ray actors on ``plan.address``.
    Both are made from the same factories, so the same seed gives the same environments."""
    from functools import partial

    from stable_baselines3.common.vec_env import VecNormalize

    env_fns = [partial(_training_env, plan.env_id, dict(env_kwargs), seed + i,
                       **({} if run_dirs is None else {"run_dir": run_dirs[i], "trace_detail": trace_detail}))
               for i in range(plan.n_envs)]
    if plan.backend == "ray":
        from ns6g.envs.ray_vec_env import RayVecEnv

        venv = RayVecEnv(env_fns, address=plan.address, envs_per_worker=plan.envs_per_worker)
    else:
        from ns6g.envs.vec_env import BridgeVecEnv

        venv = BridgeVecEnv(env_fns)
    venv.seed(seed)
    if plan.normalize is None:
        return venv
    try:
        return VecNormalize(venv, **plan.normalize)
    except BaseException:
        venv.close()
        raise


def _wall_budget(budget_s: float):
    """A callback that stops learning at the first step after ``budget_s`` wall seconds (an on-policy
    algorithm drops that unfinished rollout; ``num_timesteps`` counts the steps run)."""
    import time

    from stable_baselines3.common.callbacks import BaseCallback

    class WallBudget(BaseCallback):
        def _on_training_start(self) -> None:
            self.deadline = time.monotonic() + budget_s

        def _on_step(self) -> bool:
            return time.monotonic() < self.deadline

    return WallBudget()


def train(config: TrainConfig, progress: bool = True, plan: TrainPlan | None = None) -> dict[str, Any]:
    """Train, save and evaluate an agent; return the summary (also in ``OUT/summary.json``). ``plan`` is
    :func:`plan_training` of ``config`` when the caller has it already."""
    import torch
    from stable_baselines3.common.callbacks import CheckpointCallback

    from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat

    from ns6g.core.outputs import check_run_dir, claim_run_dir
    from ns6g.core.runs import PROGRESS_FILE, TRAIN_RUNS, RunWriter

    # Everything is checked before a file is written: the output folder, the environment and its settings,
    # the algorithm, its preset and its arguments.
    out = check_run_dir(config.out, config.overwrite)
    plan = plan or plan_training(config)
    env_kwargs = dict(config.env_kwargs)

    torch.manual_seed(config.seed)
    torch.set_num_threads(1)  # the scenario processes want the other cores
    trained_on = {"algo": plan.algo, "env_id": plan.env_id, "env_kwargs": env_kwargs, "seed": config.seed,
                  "n_envs": plan.n_envs, "timesteps": plan.timesteps, "preset_source": plan.preset.source,
                  "preset": plan.preset.entry(), "normalize": plan.normalize}
    manifest = {**trained_on, "out": str(config.out), "timesteps_planned": plan.timesteps_planned,
                "rollout_steps": plan.rollout, "eval_seeds": config.eval_seeds, "checkpoints": config.checkpoints,
                "trace_detail": config.trace_detail, "overwrite": config.overwrite, "budget_s": config.budget_s,
                "backend": plan.backend, "address": plan.address, "envs_per_worker": plan.envs_per_worker,
                "device": config.device}
    claim = claim_run_dir(out, config.overwrite)
    model = None
    try:
        with RunWriter(out, kind="train", config=manifest, seeds=[config.seed]) as run:
            run.append("events", {"kind": "train-start", "wall_time_s": run.wall_time_s,
                                  "detail": f"{plan.algo}, {plan.n_envs} envs, {plan.timesteps_planned} steps "
                                            f"({plan.timesteps} asked; rollouts of {plan.rollout})"})
            # Each training environment writes its own traced run: its learning curve.
            venv = make_training_env(plan, config.seed, env_kwargs,
                                     [out / TRAIN_RUNS / f"env-{i}" for i in range(plan.n_envs)], config.trace_detail)
            if plan.backend == "ray":
                nodes = venv.unwrapped.nodes  # through VecNormalize
                run.append("events", {"kind": "workers", "wall_time_s": run.wall_time_s,
                                      "detail": f"{len(nodes)} Ray actors on {len(set(nodes))} nodes "
                                                f"({plan.n_envs} environments): "
                                                + ", ".join(n[:8] for n in nodes)})
            # The learner's log (losses, mean episode return) to TensorBoard and, for ns6g report, to CSV.
            logger = Logger(None, [TensorBoardOutputFormat(str(out / "tensorboard" / f"{ALGORITHMS[plan.algo]}_1")),
                                   CSVOutputFormat(str(out / PROGRESS_FILE))])
            try:
                model = _algorithm_class(plan.algo)(
                    plan.policy, venv, seed=config.seed, device=config.device, verbose=0, **plan.model_kwargs)
                model.set_logger(logger)
                callbacks = []
                if config.checkpoints:
                    every = max(1, plan.timesteps_planned // (config.checkpoints * plan.n_envs))
                    callbacks.append(CheckpointCallback(every, str(out / "checkpoints"), name_prefix="agent",
                                                        save_vecnormalize=True))
                if config.budget_s is not None:
                    callbacks.append(_wall_budget(config.budget_s))
                model.learn(total_timesteps=plan.timesteps, callback=callbacks, progress_bar=progress)
                if logger.name_to_value:  # SB3 writes an update's losses at the next rollout: the last one's now
                    logger.record("time/total_timesteps", model.num_timesteps)
                    logger.dump(model.num_timesteps)
                if plan.normalize is not None:
                    venv.save(str(out / NORMALIZER_FILE))
            finally:
                logger.close()
                venv.close()
            train_s = run.wall_time_s
            model.save(out / AGENT_FILE)
            (out / AGENT_INFO).write_text(json.dumps({**trained_on, "timesteps_run": model.num_timesteps},
                                                     indent=2, default=str))
            run.append("events", {"kind": "train-end", "wall_time_s": train_s,
                                  "detail": f"{model.num_timesteps} steps; agent saved to {AGENT_FILE}"})

            summary = evaluate_agent(out / AGENT_FILE, seeds=eval_seeds(config.seed, config.eval_seeds), out=out,
                                     progress=progress, model=model)
            summary["train_seconds"] = train_s
            summary["timesteps"] = plan.timesteps
            summary["timesteps_run"] = model.num_timesteps
            (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
            run.append("events", {"kind": "eval-end", "wall_time_s": run.wall_time_s,
                                  "detail": f"{len(summary['table'])} contenders x {config.eval_seeds} seeds"})
            run.set(train_seconds=train_s, mean_return=summary["mean_return"], timesteps_run=model.num_timesteps)
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
        return _algorithm_class(info["algo"]).load(path, device="cpu")
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


def load_normalizer(path: str | Path):
    """The VecNormalize statistics the agent at ``path`` was trained under (``vecnormalize.pkl`` beside it,
    frozen: evaluation does not update them), or None for an agent trained without normalisation."""
    import pickle

    file = _agent_file(path)
    if agent_info(file).get("normalize") is None:
        return None
    stats = file.parent / NORMALIZER_FILE
    if not stats.is_file():
        raise TrainingError(f"no {NORMALIZER_FILE} beside the agent {file}: it was trained on normalised "
                            "observations and cannot act without their statistics")
    with open(stats, "rb") as handle:
        normalizer = pickle.load(handle)  # VecNormalize pickles itself without its environments
    normalizer.training = False
    normalizer.norm_reward = False
    return normalizer


def agent_policy(agent: str | Path, model: Any = None):
    """The agent saved at ``agent`` (``agent.zip`` or its run directory) as a policy: deterministic actions,
    observations normalised with its frozen VecNormalize statistics, masked actions for a masking agent.
    ``model``: the agent already loaded, if the caller has it."""
    from ns6g.envs.policies import SB3Policy

    return SB3Policy(model if model is not None else load_agent(agent), load_normalizer(agent))


def _shapes(space: gym.Space) -> Any:
    """What an agent's network is built for: the shape of a Box, the sizes of a discrete space, per Dict key."""
    if isinstance(space, gym.spaces.Dict):
        return {key: _shapes(sub) for key, sub in space.spaces.items()}
    if isinstance(space, gym.spaces.Discrete):
        return ("Discrete", int(space.n))
    if isinstance(space, gym.spaces.MultiDiscrete):
        return ("MultiDiscrete", tuple(int(n) for n in space.nvec.ravel()), space.nvec.shape)
    return (type(space).__name__, tuple(space.shape))


def _spaces_of(env_id: str, env_kwargs: Mapping[str, Any]) -> tuple[Any, Any]:
    from ns6g.apps.evaluation import make_env

    probe = make_env(env_id, **env_kwargs)
    try:
        return _shapes(probe.observation_space), _shapes(probe.action_space)
    finally:
        probe.close()


def check_fits_agent(model: Any, env_id: str, base: Mapping[str, Any], overrides: Mapping[str, Any],
                     given_as: str = "--env") -> None:
    """Raise :class:`TrainingError` unless the agent can act in ``env_id`` configured with ``base`` and then
    ``overrides``: its observation and action spaces must keep the shapes the agent was built for. The
    message names the overrides that change them (``ues``, ``cells``, ...), as given by ``given_as``."""
    trained = (_shapes(model.observation_space), _shapes(model.action_space))
    if _spaces_of(env_id, {**base, **overrides}) == trained:
        return
    culprits = []
    for key in overrides:
        try:
            if _spaces_of(env_id, {**base, key: overrides[key]}) != trained:
                culprits.append(key)
        except ValueError:
            pass  # valid only with the other overrides (gnb_positions with cells): named with them below
    named = ", ".join(f"{key}={overrides[key]!r}" for key in (culprits or overrides))
    if not named:
        raise TrainingError(f"the agent cannot act in {env_id}: its observation or action space differs from "
                            "the one the agent was trained in")
    raise TrainingError(f"{given_as} {named} changes the shape of the observation or action space the agent was trained "
                        f"on: a trained agent cannot act there (train one on that setting)")


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

    ``env_id`` defaults to the environment the agent was trained on, and ``env_kwargs`` override its
    training settings one by one (on another environment id they override that environment's defaults).
    Settings that change the shape of the observation or action space are refused
    (:func:`check_fits_agent`). The agent sees observations normalised as in training
    (:func:`load_normalizer`) and, if it masks actions, acts within the environment's ``action_masks()``.
    With ``out``, writes the evaluation runs (``out/eval/<policy>``, one episode per seed: their ``steps``
    and ``radio`` rows carry ``episode`` and ``seed``), ``out/episodes.csv`` and ``out/comparison.png`` (its
    title names the environment, the reward and the seeds). Returns a summary: ``env_id``, ``reward`` (the
    reward optimised, in a few words: the environment's ``reward_name``), ``env_kwargs`` (all settings
    used), ``overrides``, ``seeds``, ``mean_return`` per policy, and ``table`` (per policy: mean and 95 % interval half-width ``<column>_ci`` of the return and of
    every numeric info entry).
    """
    from ns6g.apps.evaluation import (
        baselines_and_reward,
        comparison_figure,
        comparison_title,
        confidence_table,
        evaluate_contenders,
    )
    from ns6g.core.runs import EPISODES_FILE
    from ns6g.envs.ids import resolve_env_id
    from ns6g.envs.policies import Contender

    info = agent_info(agent)
    same_env = env_id is None or env_id == info["env_id"]
    env_id = env_id or info["env_id"]
    resolve_env_id(env_id)  # EnvIdError naming the problem, before anything runs
    base = dict(info.get("env_kwargs", {})) if same_env else {}
    overrides = dict(env_kwargs or {})
    model = model if model is not None else load_agent(agent)
    check_fits_agent(model, env_id, base, overrides)
    env_kwargs = {**base, **overrides}
    others, reward = baselines_and_reward(env_id, env_kwargs, seed=min(seeds))
    contenders = {"agent": Contender(agent_policy(agent, model)), **others}
    episodes = evaluate_contenders(env_id, env_kwargs, contenders, list(seeds), out=out, progress=progress)
    table = confidence_table(episodes)
    if out is not None:
        episodes.to_csv(Path(out) / EPISODES_FILE, index=False)
        title = comparison_title(env_id, reward, seeds, agent=f"{info['algo']} agent")
        comparison_figure(table, title=title).savefig(Path(out) / "comparison.png", dpi=120)
    return {
        "env_id": env_id,
        "reward": reward,
        "env_kwargs": env_kwargs,
        "overrides": overrides,
        "algo": info["algo"],
        "agent": str(agent),
        "seeds": list(seeds),
        "mean_return": table["return"].to_dict(),
        "table": table.reset_index().to_dict(orient="records"),
    }


def format_evaluation(summary: Mapping[str, Any]) -> str:
    """The evaluation table: a header naming the environment, the reward optimised and the seeds; then per
    policy the mean ± 95 % interval of the return (the reward summed over an episode: the column the agent
    optimises, first), of the info entry named like the reward if there is one, and of the next few."""
    from ns6g.apps.evaluation import format_confidence_table, seeds_text

    table = pd.DataFrame(summary["table"]).set_index("policy")
    reward = summary.get("reward", "the environment's reward")
    others = [c for c in table.columns if not c.endswith("_ci") and c not in ("return", "episodes")]
    columns = ["return", *[c for c in others if c == reward], *[c for c in others if c != reward][:3]]
    best = max((p for p in table.index if p != "agent"), key=lambda p: table.loc[p, "return"], default=None)
    lines = [f"{summary['env_id']}: {summary['algo']} agent against the baselines, one episode on each of "
             f"{seeds_text(summary['seeds'])} (mean ± 95 % interval)",
             f"optimised reward: {reward}; 'return' is its sum over an episode (higher is better)",
             format_confidence_table(table, columns)]
    if best is not None:
        lines.append(f"agent return {table.loc['agent', 'return']:.3f}; best baseline {best} "
                     f"{table.loc[best, 'return']:.3f}")
    return "\n".join(lines)

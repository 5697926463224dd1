"""Training presets per environment, in rl-zoo3's hyperparameter format.

One YAML file per algorithm in this folder (``ppo.yml``; MaskablePPO uses PPO's), keyed by environment id,
as rl-zoo3's ``hyperparams/<algo>.yml``; an id without an entry gets the ``default`` entry. An entry holds the
algorithm's keyword arguments and rl-zoo3's own keys:

- ``n_envs``, ``n_timesteps``: the default ``--n-envs`` and ``--timesteps`` of ``ns6g train``;
- ``normalize``: ``true`` (observations and rewards), ``false``, or VecNormalize's keyword arguments
  (``{norm_obs: true, norm_reward: false, clip_obs: 10.0}``); Dict observations normalise their Box entries;
- ``policy``: optional, ``MlpPolicy`` or ``MultiInputPolicy`` (ns6g picks the one the observation needs);
- ``policy_kwargs``: a mapping (``net_arch``, ``activation_fn`` by name: ``tanh``, ``relu``, ``elu``,
  ``leaky_relu``), where rl-zoo3 also takes a ``dict(...)`` string;
- ``learning_rate``, ``clip_range``: a number, or ``lin_<number>``: a schedule falling linearly from it to 0.

``ns6g tune`` writes a file of the same format holding one entry (``--preset FILE`` trains with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FOLDER = Path(__file__).parent
DEFAULT_KEY = "default"
# rl-zoo3 keys that are not algorithm arguments (the rest of an entry is passed to the algorithm).
ZOO_KEYS = ("n_envs", "n_timesteps", "normalize", "policy")
# Algorithms that take another's arguments and share its presets (sb3-contrib's MaskablePPO is PPO with masks).
SHARES_PRESETS = {"maskable_ppo": "ppo"}
ACTIVATIONS = ("tanh", "relu", "elu", "leaky_relu")
SCHEDULED = ("learning_rate", "clip_range")


class PresetError(ValueError):
    """A preset file or entry that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Preset:
    """One environment's entry of one algorithm's preset file (empty when the file has none)."""

    algo: str
    env_id: str
    source: str  # "<file>:<key>"; "none" (no preset for it) or "off" (presets not used): SB3's defaults
    n_envs: int | None = None
    n_timesteps: int | None = None
    normalize: dict[str, Any] | None = None  # VecNormalize keyword arguments; None: no normalisation
    algo_kwargs: dict[str, Any] = field(default_factory=dict)  # as written (YAML values)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Preset:
        """This preset with ``--algo-arg`` overrides (algorithm arguments, or ``normalize``)."""
        overrides = dict(overrides)
        for key, option in (("n_envs", "--n-envs"), ("n_timesteps", "--timesteps")):
            if key in overrides:
                raise PresetError(f"{key} is not an algorithm argument: give {option}")
        normalize = self.normalize
        if "normalize" in overrides:
            normalize = _normalize(overrides.pop("normalize"), "--algo-arg normalize")
        if "policy" in overrides:
            raise PresetError("policy is set by ns6g train (from the observation space)")
        return Preset(self.algo, self.env_id, self.source, self.n_envs, self.n_timesteps, normalize,
                      {**self.algo_kwargs, **overrides})

    def entry(self) -> dict[str, Any]:
        """The rl-zoo3 entry of this preset (what :func:`write_preset` writes)."""
        entry: dict[str, Any] = {}
        if self.n_envs is not None:
            entry["n_envs"] = self.n_envs
        if self.n_timesteps is not None:
            entry["n_timesteps"] = self.n_timesteps
        entry["normalize"] = True if self.normalize == {} else self.normalize or False
        return {**entry, **self.algo_kwargs}


def preset_file(algo: str) -> Path:
    """The shipped preset file of ``algo`` (it may not exist: then there are no presets for it)."""
    return FOLDER / f"{SHARES_PRESETS.get(algo, algo)}.yml"


def read_preset_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """The entries of a preset file, by key; PresetError naming the file when it cannot be used."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise PresetError(f"cannot read the preset file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise PresetError(f"{path}: not YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise PresetError(f"{path}: a preset file maps environment ids to mappings of settings "
                          "(rl-zoo3's hyperparams format)")
    return data


def load_preset(algo: str, env_id: str, path: str | Path | None = None) -> Preset:
    """``env_id``'s preset for ``algo`` from ``path`` (default: the shipped file), falling back on the
    file's ``default`` entry; an empty preset if neither exists. A given ``path`` must hold one of them."""
    file = Path(path) if path is not None else preset_file(algo)
    if path is None and not file.is_file():
        return Preset(algo, env_id, "none")
    entries = read_preset_file(file)
    key = env_id if env_id in entries else DEFAULT_KEY if DEFAULT_KEY in entries else None
    if key is None:
        if path is not None:
            raise PresetError(f"{file} has no entry for {env_id} (it has {', '.join(entries) or 'none'})")
        return Preset(algo, env_id, "none")
    return parse_entry(algo, env_id, entries[key], f"{file}:{key}")


def parse_entry(algo: str, env_id: str, entry: Mapping[str, Any], source: str) -> Preset:
    """A :class:`Preset` from one rl-zoo3 entry; PresetError naming ``source`` and the key it cannot use."""
    entry = dict(entry)
    counts = {}
    for key in ("n_envs", "n_timesteps"):
        value = entry.pop(key, None)
        if value is not None:
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # rl-zoo3 writes n_timesteps: !!float 1e5
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise PresetError(f"{source}: {key} must be a whole number >= 1 (got {value!r})")
        counts[key] = value
    entry.pop("policy", None)  # ns6g picks the policy the observation space needs
    normalize = _normalize(entry.pop("normalize", False), f"{source}: normalize")
    return Preset(algo, env_id, source, counts["n_envs"], counts["n_timesteps"], normalize, entry)


def _normalize(value: Any, where: str) -> dict[str, Any] | None:
    if isinstance(value, str):  # rl-zoo3 also writes "{'norm_obs': True, 'norm_reward': False}"
        try:
            value = yaml.safe_load(value.replace("True", "true").replace("False", "false"))
        except yaml.YAMLError:
            raise PresetError(f"{where}: cannot read {value!r}") from None
    if value is True:
        return {}
    if value is False or value is None:
        return None
    if isinstance(value, dict):
        from stable_baselines3.common.vec_env import VecNormalize

        import inspect

        known = set(inspect.signature(VecNormalize.__init__).parameters) - {"self", "venv", "gamma", "norm_obs_keys"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise PresetError(f"{where}: VecNormalize has no setting {unknown[0]!r} (it takes {', '.join(sorted(known))})")
        return dict(value)
    raise PresetError(f"{where}: expected true, false or a mapping of VecNormalize settings (got {value!r})")


def model_kwargs(algo_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Algorithm keyword arguments from a preset's values: ``lin_<x>`` schedules and activation names become
    the objects Stable-Baselines3 takes."""
    kwargs = dict(algo_kwargs)
    for key in SCHEDULED:
        value = kwargs.get(key)
        if isinstance(value, str) and value.startswith("lin_"):
            try:
                start = float(value[4:])
            except ValueError:
                raise PresetError(f"{key}: cannot read the schedule {value!r} (lin_<number>)") from None
            kwargs[key] = LinearSchedule(start)
    policy_kwargs = kwargs.get("policy_kwargs")
    if policy_kwargs is not None:
        if not isinstance(policy_kwargs, Mapping):
            raise PresetError(f"policy_kwargs must be a mapping (got {policy_kwargs!r})")
        policy_kwargs = dict(policy_kwargs)
        activation = policy_kwargs.get("activation_fn")
        if isinstance(activation, str):
            if activation not in ACTIVATIONS:
                raise PresetError(f"policy_kwargs.activation_fn: {activation!r} is not one of {', '.join(ACTIVATIONS)}")
            from torch import nn

            policy_kwargs["activation_fn"] = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU,
                                              "leaky_relu": nn.LeakyReLU}[activation]
        kwargs["policy_kwargs"] = policy_kwargs
    return kwargs


@dataclass(frozen=True)
class LinearSchedule:
    """rl-zoo3's ``lin_<start>``: ``start`` at the beginning of training falling to 0 at its end."""

    start: float

    def __call__(self, progress_remaining: float) -> float:
        return progress_remaining * self.start


def write_preset(path: str | Path, preset: Preset, comment: str = "") -> None:
    """Write ``preset`` as a one-entry rl-zoo3 preset file (``comment`` lines first, as YAML comments)."""
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    Path(path).write_text(header + yaml.safe_dump({preset.env_id: preset.entry()}, sort_keys=False))


def describe(preset: Preset) -> str:
    """One line: where the preset comes from and what it sets (printed by ``ns6g train`` at start)."""
    norm = "off" if preset.normalize is None else (
        "observations and rewards" if not preset.normalize else
        ", ".join(f"{k}={v}" for k, v in preset.normalize.items()))
    settings = ", ".join(f"{k}={v}" for k, v in preset.algo_kwargs.items())
    if preset.source in ("none", "off"):
        why = "presets off" if preset.source == "off" else f"no {preset.algo} preset for {preset.env_id}"
        return f"{why}: Stable-Baselines3's defaults" + (f" with {settings}" if settings else "") + \
            f"; VecNormalize {norm}"
    return f"preset {preset.source}: {settings or 'no arguments'}; VecNormalize {norm}"


CHALLENGES_FILE = FOLDER / "challenges.yml"
EVAL_SEEDS = 20  # held-out seeds per contender where a challenge declares none (episodes vary much with the drop)


@dataclass(frozen=True)
class Challenge:
    """An environment's challenge configuration (``challenges.yml``): settings where its heuristics are
    structurally wrong, why, and the upper bound of the return where one is known."""

    env_id: str
    env_kwargs: dict[str, Any]
    why: str
    algo_kwargs: dict[str, Any] = field(default_factory=dict)  # preset settings the challenge changes
    n_timesteps: int | None = None  # training steps (None: the preset's); a wall budget may stop it sooner
    upper_bound: float | None = None
    upper_bound_why: str = ""
    eval_seeds: int | None = None  # held-out seeds per contender (None: EVAL_SEEDS), declared before measuring

    def held_out_count(self, given: int | None = None) -> int:
        """Held-out seeds per contender: ``given``, else the challenge's own count, else ``EVAL_SEEDS``."""
        return given or self.eval_seeds or EVAL_SEEDS


def challenge_ids(path: str | Path = CHALLENGES_FILE) -> list[str]:
    """The environment ids that have a challenge configuration, in the file's order."""
    return list(read_preset_file(path))


def load_challenge(env_id: str, path: str | Path = CHALLENGES_FILE) -> Challenge:
    """``env_id``'s challenge configuration; PresetError naming the file and the key it cannot use."""
    entries = read_preset_file(path)
    if env_id not in entries:
        raise PresetError(f"{path} has no challenge for {env_id} (it has {', '.join(entries) or 'none'})")
    entry = dict(entries[env_id])
    unknown = sorted(set(entry) - {"env_kwargs", "why", "algo_kwargs", "n_timesteps", "upper_bound", "upper_bound_why",
                                "eval_seeds"})
    if unknown:
        raise PresetError(f"{path}:{env_id}: unknown key {unknown[0]!r}")
    if not isinstance(entry.get("env_kwargs"), dict) or not isinstance(entry.get("why"), str):
        raise PresetError(f"{path}:{env_id}: needs env_kwargs (a mapping) and why (text)")
    if not isinstance(entry.get("algo_kwargs", {}), dict):
        raise PresetError(f"{path}:{env_id}: algo_kwargs must be a mapping of preset settings")
    bound = entry.get("upper_bound")
    if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))):
        raise PresetError(f"{path}:{env_id}: upper_bound must be a number or null (got {bound!r})")
    steps = entry.get("n_timesteps")
    if isinstance(steps, float) and steps.is_integer():
        steps = int(steps)  # !!float 3e5
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise PresetError(f"{path}:{env_id}: n_timesteps must be a whole number >= 1 (got {steps!r})")
    seeds = entry.get("eval_seeds")
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 2):
        raise PresetError(f"{path}:{env_id}: eval_seeds must be a whole number >= 2 (got {seeds!r})")
    return Challenge(env_id, dict(entry["env_kwargs"]), entry["why"], dict(entry.get("algo_kwargs", {})), steps,
                     None if bound is None else float(bound),
                     str(entry.get("upper_bound_why", "")), seeds)

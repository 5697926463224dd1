"""The Gymnasium base environment: one running ns-3 scenario behind a shared-memory bridge.

A concrete environment names its scenario binary and its configuration class; everything else (start-up,
validated configuration, seeding, reset without relaunch, crash reporting and relaunch on reset, checks on
actions) is here.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym

from gymnasium.error import ClosedEnvironmentError

from ns6g.core.bridge import CMD_STEP, Bridge, ScenarioCrashed, ScenarioNotResponding
from ns6g.core.build import scenario_binary
from ns6g.core.config import ScenarioConfig
from ns6g.envs.policies import Contender, Policy, RandomPolicy
from ns6g.core.runs import RunWriter
from ns6g.core.step_trace import StepRecorder


class ScenarioEnv(gym.Env):
    """Base class of ns6g environments.

    Subclasses set ``scenario`` (the binary's name, the stem of ``<scenario folder>/<name>.cc``) and
    ``config_class``; an environment of a scenario of one's own also sets ``scenario_source``, the folder
    of its ``.cc`` (usually ``Path(__file__).parent / "scenarios"``), built on first use against the
    package's scenarios (ns6g.core.build). Keyword arguments of ``gym.make`` become configuration overrides.

    Args:
        config: a mapping of settings or a ``config_class`` instance.
        render_mode: accepted for the Gymnasium API and ignored: ns6g environments do not render (their
            pictures are the run directory's figures). Stable-Baselines3's ``make_vec_env`` passes
            ``"rgb_array"``; Gymnasium warns that it is not a declared mode.
        bridge_options: keyword arguments for :class:`ns6g.core.bridge.Bridge` (timeouts, spin time).
        run_dir: if given, the environment writes a run directory there (``steps`` and ``events``
            tables; see docs/traces.md), closed by ``close()``. It must not already hold a run.
        trace_detail: ``"summary"`` (default: observations as min/mean/max), ``"full"`` (every
            observation value) or ``"off"`` (manifest only).
        **overrides: configuration settings, validated with ``config``.

    Seeding: ``reset(seed=s)`` runs the episode with ns-3 ``RngRun = s`` (``RngSeed`` stays 1), so the
    episode is reproducible in a plain ns-3 run too; ``reset()`` without a seed draws the next run number
    from the environment's generator. Reset rebuilds the simulation inside the running scenario process.

    Crashes: a scenario process that died (crashed, was killed, exited or hung; during a step or between
    two) is reported by the first call that touches it: ``step`` raises
    :class:`~ns6g.core.bridge.ScenarioCrashed` or :class:`~ns6g.core.bridge.ScenarioNotResponding`, naming that
    process (binary, pid) and its signal or exit code, and so does every later ``step``. Only ``reset``
    starts a new process (and warns if the death had not been reported yet); nothing relaunches behind
    the caller's back. The run directory gets a ``crash`` event. After ``close()``, ``step`` and ``reset``
    raise ``gymnasium.error.ClosedEnvironmentError``.
    """

    scenario: ClassVar[str]
    config_class: ClassVar[type[ScenarioConfig]]
    #: the scenario's source folder; None: the package's ns3_scenarios/
    scenario_source: ClassVar[Path | None] = None
    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    #: the reward, in a few words (its full definition is in the module's docstring); see :attr:`reward_name`
    reward_summary: ClassVar[str] = "the environment's reward"

    def __init__(
        self,
        config: Mapping[str, Any] | ScenarioConfig | None = None,
        *,
        render_mode: str | None = None,
        bridge_options: Mapping[str, Any] | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        trace_detail: str = "summary",
        **overrides: Any,
    ) -> None:
        self.render_mode = render_mode
        self.config = self.config_class.from_user(config, **overrides)  # before any process starts
        self._bridge_options = dict(bridge_options or {})
        self._binary = scenario_binary(self.scenario, self.scenario_source)
        self._bridge: Bridge | None = None
        self.recorder: StepRecorder | None = None
        writer = None
        if run_dir is not None:  # before the launch: a taken run_dir is refused before any process starts
            writer = RunWriter(run_dir, kind="env", detail=trace_detail, config={
                "env": type(self).__name__, "scenario": self.scenario, **self.config.model_dump()})
        try:
            self._bridge = self._launch()
        except BaseException as exc:
            if writer is not None:
                writer.close("failed", f"{type(exc).__name__}: {exc}")
            raise
        self.observation_space = self._bridge.observation_space
        self.action_space = self._bridge.action_space
        self._needs_reset = True
        self._in_flight: Any = None
        self._death_reported = False  # the current bridge's death reached the caller (or the trace)
        if writer is not None:
            self.recorder = StepRecorder(writer, self.observation_space, self.action_space)

    @property
    def reward_name(self) -> str:
        """The reward an agent optimises here, in a few words, named by the results of ``ns6g train`` and
        ``ns6g evaluate``: the configuration's ``reward`` setting where it has one (SpectrumAllocation's
        ``deadline_violations``...), else the class's :attr:`reward_summary`."""
        return str(getattr(self.config, "reward", None) or self.reward_summary)

    def _launch(self) -> Bridge:
        return Bridge(self._binary, self.config.to_args(), **self._bridge_options)

    @property
    def bridge(self) -> Bridge:
        """The bridge to the running scenario. Never relaunches: raises as :meth:`check_alive` does."""
        self.check_alive()
        return self._bridge

    def check_alive(self) -> None:
        """Raise ``ClosedEnvironmentError`` after ``close()``, and ScenarioCrashed / ScenarioNotResponding
        (naming the process) if the scenario died."""
        if self._bridge is None:
            raise ClosedEnvironmentError(f"{type(self).__name__} is closed: make a new environment")
        try:
            self._bridge.check_alive()
        except (ScenarioCrashed, ScenarioNotResponding) as exc:
            self._on_death(exc)
            raise

    def _on_death(self, exc: Exception) -> None:
        """The caller hears of the scenario's death now: no step until reset(); one ``crash`` event."""
        self._needs_reset = True
        self._in_flight = None
        if not self._death_reported and self.recorder is not None:
            self.recorder.event("crash", str(exc).splitlines()[0])
        self._death_reported = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        if options:
            raise ValueError(f"{type(self).__name__}.reset takes no options (got {sorted(options)})")
        run = seed if seed is not None else int(self.np_random.integers(1, 2**63))
        if self._bridge is None:
            raise ClosedEnvironmentError(f"{type(self).__name__} is closed: make a new environment")
        if self._in_flight is not None:  # a step that was sent and never completed: let it finish
            self._in_flight = None
            try:
                self._bridge.wait()
            except (ScenarioCrashed, ScenarioNotResponding):
                pass  # the scenario died meanwhile: relaunched below
        bridge = self._bridge
        try:
            bridge.check_alive()
            result = bridge.reset(run)  # a process found dying only here is still the old one's death
        except (ScenarioCrashed, ScenarioNotResponding) as exc:
            bridge = self._relaunch(exc)
            try:
                result = bridge.reset(run)
            except (ScenarioCrashed, ScenarioNotResponding) as again:
                self._on_death(again)
                raise
        self._needs_reset = False
        info = {**result.info, "sim_time_s": result.sim_time_s, "rng_run": run}
        observation = bridge.read_observation()
        if self.recorder is not None:
            self.recorder.on_reset(observation, info, run)
            self._record_step_extras(info)
        return observation, info

    def _relaunch(self, death: Exception) -> Bridge:
        """A new scenario process in place of the dead one (the one place that relaunches)."""
        if not self._death_reported:  # died unseen (e.g. after the episode's last step): say so once
            self._on_death(death)
            warnings.warn(f"{type(self).__name__}.reset: {str(death).splitlines()[0]}; starting a new scenario "
                          "process", RuntimeWarning, stacklevel=3)
        self._bridge = self._launch()  # if this fails, the dead bridge stays: later calls still name it
        self._death_reported = False
        return self._bridge

    def step_send(self, action: Any) -> None:
        """Start a step without waiting for it: the scenario simulates while the caller does other work
        (e.g. starts the other environments of a vector). The next ``step(action)`` completes it."""
        bridge = self.bridge  # raises if closed, or (every time) if the scenario died
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (and after the episode ended)")
        if self._in_flight is not None:
            raise RuntimeError("a step is already in flight: complete it with step() first")
        try:
            bridge.write_action(action)  # checks the action first
            bridge.post(CMD_STEP)
        except (ScenarioCrashed, ScenarioNotResponding) as exc:
            self._on_death(exc)
            raise
        self._in_flight = action

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._in_flight is None:
            self.step_send(action)
        action, self._in_flight = self._in_flight, None
        bridge = self._bridge
        try:
            bridge.wait()
        except (ScenarioCrashed, ScenarioNotResponding) as exc:
            self._on_death(exc)
            raise
        result = bridge.outcome()
        info = {**result.info, "sim_time_s": result.sim_time_s}
        self._needs_reset = result.terminated or result.truncated
        observation = bridge.read_observation()
        if self.recorder is not None:
            self.recorder.on_step(action, observation, result.reward, result.terminated, result.truncated, info)
            self._record_step_extras(info)
        return observation, float(result.reward), result.terminated, result.truncated, info

    def _record_step_extras(self, info: dict[str, Any]) -> None:
        """Hook for subclasses that write more tables (e.g. radio) after each reset and step."""

    def baseline_policies(self, seed: int = 0) -> dict[str, Policy]:
        """Policies an agent should beat on this environment, by name (here: uniform random)."""
        return {"random": RandomPolicy(copy.deepcopy(self.action_space), seed)}

    def baselines(self, seed: int = 0) -> dict[str, Contender]:
        """Everything an agent is compared with on this environment: :meth:`baseline_policies` as
        contenders without overrides (environments with built-in schedulers add configuration overrides)."""
        return {name: Contender(policy) for name, policy in self.baseline_policies(seed).items()}

    def close(self) -> None:
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = None
        if self.recorder is not None:
            self.recorder.writer.close()
        cleanup = getattr(self, "_scratch_cleanup", None)
        if cleanup is not None:
            cleanup()
        super().close()

    def _scratch_file(self, name: str, write: Callable[[Path], None]) -> Path:
        """A file this environment writes once (``write(path)``, e.g. a mobility trace its scenario reads) and
        reuses: it lies in the environment's own temporary folder, removed at ``close()`` or when the
        environment is collected (after a close, the next call writes it again)."""
        files = self.__dict__.setdefault("_scratch_files", {})
        path = files.get(name)
        if path is not None and path.exists():
            return path
        cleanup = getattr(self, "_scratch_cleanup", None)
        if cleanup is None or not cleanup.alive:
            folder = tempfile.mkdtemp(prefix=f"ns6g-{type(self).__name__}-")
            self._scratch_folder = Path(folder)
            self._scratch_cleanup = weakref.finalize(self, shutil.rmtree, folder, True)
        path = self._scratch_folder / name
        write(path)
        files[name] = path
        return path


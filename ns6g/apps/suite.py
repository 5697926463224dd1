"""``ns6g bench suite``: a headless benchmark suite of cases x seeds with a regression gate.

A suite (TOML, see ``ns6g/apps/suites/default.toml`` and docs/suite.md) lists *cases* of two kinds: an
``env`` case names an environment, its settings and the contenders to run (baselines of the environment by
name, and agents saved by ``ns6g train``, each under a name of its own); an ``fl`` case names a network
(``FlNetworkConfig`` fields), a learner job (``FlJobConfig`` fields) and the protocols to run over it; a ``speed`` case times the RAN workload of
``ns6g bench ran`` against a fixed reference workload in the same run (the speed gate). Every (case, contender, seed) is one *task*: one episode on ns-3
``RngRun = seed``, or one learner job seeded ``seed`` over the co-simulated network. Tasks run
in a local process pool (default) or on Ray (``backend="ray"``); each task is deterministic, so both give
the same table for the same seeds. Speed tasks are the exception: they measure wall time, so they run
after the others, one at a time, in the suite's own process.

Results: one row per (case, contender) with the mean of every metric over the seeds, written as CSV, JSON
and Markdown. A baseline file (JSON) states expected values with tolerances; :func:`compare` lists every
metric that is worse than its baseline by more than its tolerance, and the command exits non-zero naming
them.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import (BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from ns6g.apps.bench import RAN_SEED, SPEED_ROUNDS, SPEED_WINDOW_S, ran_speed

DEFAULT_SUITE = Path(__file__).parent / "suites" / "default.toml"


class SuiteError(ValueError):
    """A suite, baseline or backend request that cannot run; the message names the problem."""


NAME = r"^[A-Za-z0-9_.-]+$"


class EnvCase(BaseModel):
    """One environment configuration and the contenders compared on it: baselines of the environment and
    trained agents, all on the same seeds and settings (``env_kwargs``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["env"] = "env"
    name: str = Field(pattern=NAME, description="case name (letters, digits, _ . -)")
    env: str = Field(description="environment id, e.g. ns6g/LinkControl-v0")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="environment settings")
    contenders: list[str] = Field(default_factory=list,
                                  description="baseline names of the environment (its baselines())")
    agents: dict[Annotated[str, Field(pattern=NAME)], Path] = Field(
        default_factory=dict, description="contender name -> agent saved by ns6g train (its agent.zip or run "
                                          "directory; a relative path is relative to the suite file)")
    metrics: list[str] = Field(default_factory=lambda: ["return"],
                               description="columns of ns6g.envs.policies.evaluate to report (return, steps, info entries)")

    @model_validator(mode="before")
    @classmethod
    def _one_agent(cls, data: Any) -> Any:
        """``agent = "path"``, the short form for one agent: the contender named ``agent``."""
        if isinstance(data, dict) and "agent" in data:
            data = dict(data)
            path = data.pop("agent")
            if "agent" in (data.get("agents") or {}):
                raise ValueError("agent and agents.agent name the same contender: keep one")
            data["agents"] = {**(data.get("agents") or {}), "agent": path}
        return data

    @field_validator("env")
    @classmethod
    def _resolvable(cls, env: str) -> str:
        """Refuse an id that cannot be made when the suite is read, not in a worker."""
        from ns6g.envs.ids import resolve_env_id

        resolve_env_id(env)
        return env

    @model_validator(mode="after")
    def _agents_trained_here(self, info: ValidationInfo) -> EnvCase:
        """Every contender named once; every agent's files there and trained on this environment (read from
        its agent.json: cheap). :func:`check_agents` loads the agents before a suite runs."""
        from ns6g.apps.training import TrainingError, agent_info
        from ns6g.envs.ids import resolve_env_id

        if not self.contenders and not self.agents:
            raise ValueError("no contenders: name baselines in contenders or trained agents in agents")
        both = sorted(set(self.contenders) & set(self.agents)) or \
            sorted({c for c in self.contenders if self.contenders.count(c) > 1})
        if both:
            raise ValueError(f"contender {both[0]!r} is named twice")
        root = Path((info.context or {}).get("suite_dir", "."))
        for name, path in self.agents.items():
            path = self.agents[name] = (root / path).absolute()  # workers need not share the cwd
            try:
                trained_on = agent_info(path)["env_id"]
            except TrainingError as exc:
                raise ValueError(f"agent {name} ({path}): {exc}") from None
            if resolve_env_id(trained_on) != resolve_env_id(self.env):
                raise ValueError(f"agent {name} ({path}) was trained on {trained_on}, not on {self.env}: "
                                 "it cannot act there")
        return self


# Deterministic for a seed (no wall-clock times), so every backend gives the same table.
FL_METRICS = ("final_accuracy", "sim_time_s", "round_time_s", "client_energy_j", "uplink_mbytes")


class FlCase(BaseModel):
    """Learner protocols compared over one co-simulated network (ns6g.learners.cosim)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["fl"]
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="case name (letters, digits, _ . -)")
    network: dict[str, Any] = Field(default_factory=dict, description="FlNetworkConfig fields (clients, cells, ...)")
    job: dict[str, Any] = Field(default_factory=dict,
                                description="FlJobConfig fields other than protocol and seed (rounds, model, ...)")
    contenders: list[str] = Field(min_length=1, description="protocol names (ns6g.learners.protocols.PROTOCOLS)")
    metrics: list[Literal[FL_METRICS]] = Field(default_factory=lambda: ["final_accuracy", "sim_time_s"],  # type: ignore[valid-type]
                                               description=f"job metrics to report: {', '.join(FL_METRICS)}")


# The speed gate (docs/suite.md): what a speed case reports, and how far below its baseline the normalised
# speed may fall before the gate fails (written into the baseline by baseline_from).
SPEED_METRICS = ("normalised_speed", "sim_s_per_wall_s", "reference_sim_s_per_wall_s")
SPEED_TOLERANCE = 0.25


class SpeedCase(BaseModel):
    """The RAN workload of ``ns6g bench ran`` timed against a fixed reference workload (ns-3 only) in the
    same run, alternating: its simulated seconds per wall second divided by the reference's
    (``ns6g.apps.bench.ran_speed``). One contender per UE count, named ``<n>-ues``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["speed"]
    name: str = Field(pattern=NAME, description="case name (letters, digits, _ . -)")
    ues: list[Annotated[int, Field(ge=1, le=10_000)]] = Field(default_factory=lambda: [100], min_length=1,
                                                             description="UE counts of the RAN workload")
    window_s: float = Field(SPEED_WINDOW_S, gt=0, le=10, description="simulated seconds of each RAN window")
    rounds: int = Field(SPEED_ROUNDS, ge=1, le=100, description="RAN windows, each between two reference windows")
    metrics: list[Literal[SPEED_METRICS]] = Field(default_factory=lambda: ["normalised_speed"],  # type: ignore[valid-type]
                                                  description=f"what to report: {', '.join(SPEED_METRICS)} "
                                                              "(only normalised_speed is comparable across runs)")

    @property
    def contenders(self) -> list[str]:
        return [f"{n}-ues" for n in self.ues]

    @field_validator("ues")
    @classmethod
    def _distinct(cls, ues: list[int]) -> list[int]:
        if len(set(ues)) != len(ues):
            raise ValueError(f"ues repeats a count ({ues})")
        return ues


def _case_kind(value: Any) -> str:
    return value.get("kind", "env") if isinstance(value, dict) else getattr(value, "kind", "env")


Case = Annotated[Annotated[EnvCase, Tag("env")] | Annotated[FlCase, Tag("fl")] | Annotated[SpeedCase, Tag("speed")],
                 Discriminator(_case_kind)]


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seeds: list[int] = Field(min_length=1, description="ns-3 RngRun of each episode; seed of each learner job")
    cases: list[Case] = Field(min_length=1, alias="case")

    @model_validator(mode="after")
    def _unique_names(self) -> Suite:
        names = [case.name for case in self.cases]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"case names must be unique (repeated: {', '.join(duplicated)})")
        return self


def load_suite(path: str | Path = DEFAULT_SUITE) -> Suite:
    """Read and validate a suite file (TOML)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise SuiteError(f"cannot read the suite {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path}: not valid TOML ({exc})") from None
    try:
        return Suite.model_validate(data, context={"suite_dir": path.parent})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        if len(loc) >= 3 and loc[0] == "case" and loc[2] in ("env", "fl", "speed"):  # the union's tag, not a field
            named = data["case"][loc[1]].get("name") if isinstance(data["case"][loc[1]], dict) else None
            case = f"case {named}" if isinstance(named, str) else f"case {loc[1]}"
            where = f"{case} ({loc[2]} case)" + "".join(f".{p}" for p in loc[3:])
        else:
            where = ".".join(str(p) for p in loc)
        raise SuiteError(f"{path}: {where}: {first['msg'].removeprefix('Value error, ')}") from None


def check_agents(suite: Suite) -> None:
    """Load every agent of the suite and check that it can act in its case's environment with the case's
    settings (the shapes of its observation and action spaces); :class:`SuiteError` naming the case, the
    agent and its path otherwise. :func:`run_suite` calls it before any task starts."""
    from ns6g.apps.training import TrainingError, agent_info, check_fits_agent, load_agent, load_normalizer

    for case in suite.cases:
        for name, path in getattr(case, "agents", {}).items():
            try:
                check_fits_agent(load_agent(path), case.env, {}, case.env_kwargs, given_as="env_kwargs")
                load_normalizer(path)
            except TrainingError as exc:
                trained = agent_info(path).get("env_kwargs")
                raise SuiteError(f"case {case.name}: agent {name} ({path}): {exc} "
                                 f"(it was trained with env_kwargs {trained})") from None


@dataclass(frozen=True)
class Task:
    case: EnvCase | FlCase | SpeedCase
    contender: str
    seed: int

    @property
    def timed(self) -> bool:
        """A speed task: it measures wall time, so it runs alone (:func:`run_suite`)."""
        return isinstance(self.case, SpeedCase)


def tasks_of(suite: Suite) -> list[Task]:
    """Every (case, contender, seed); a speed case runs its fixed workload once per contender (its
    seed column is the workload's RngRun, bench.RAN_SEED, not the suite's seeds)."""
    return [Task(c, name, seed) for c in suite.cases for name in [*c.contenders, *getattr(c, "agents", {})]
            for seed in ([RAN_SEED] if isinstance(c, SpeedCase) else suite.seeds)]


def run_task(task: Task) -> dict[str, Any]:
    """One task; returns its row (case, contender, seed, then the case's metrics)."""
    case = task.case
    if isinstance(case, SpeedCase):
        return _row(task, _run_speed_task(case, task))
    return _row(task, _run_env_task(case, task) if isinstance(case, EnvCase) else _run_fl_task(case, task))


def _row(task: Task, measured: Mapping[str, Any]) -> dict[str, Any]:
    case = task.case
    missing = [m for m in case.metrics if m not in measured]
    if missing:
        raise SuiteError(f"case {case.name}: no metric {missing[0]!r} (the task has {', '.join(sorted(measured))})")
    return {"case": case.name, "contender": task.contender, "seed": task.seed,
            **{m: float(measured[m]) for m in case.metrics}}


def _run_env_task(case: EnvCase, task: Task) -> dict[str, Any]:
    """One episode of one baseline or agent on ns-3 RngRun = seed."""
    from ns6g.apps.evaluation import evaluate_contenders

    contender = _env_contender(case, task)
    return evaluate_contenders(case.env, case.env_kwargs, {task.contender: contender}, [task.seed]).iloc[0].to_dict()


def _env_contender(case: EnvCase, task: Task):
    """The agent or baseline ``task.contender`` of ``case``."""
    from ns6g.apps.evaluation import baselines
    from ns6g.envs.policies import Contender

    if task.contender in case.agents:
        import torch

        from ns6g.apps.training import agent_policy

        torch.set_num_threads(1)  # tasks run side by side: one thread each
        return Contender(agent_policy(case.agents[task.contender]))
    contenders = baselines(case.env, case.env_kwargs, task.seed)
    if task.contender not in contenders:
        raise SuiteError(f"case {case.name}: {case.env} has no contender {task.contender!r} "
                         f"(it has {', '.join(contenders)})")
    return contenders[task.contender]


def _run_fl_task(case: FlCase, task: Task) -> dict[str, Any]:
    """One learner job of protocol ``task.contender`` seeded ``task.seed`` over the co-simulated network."""
    from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
    from ns6g.learners.engine import FlJob, FlJobConfig
    from ns6g.learners.protocols import PROTOCOLS

    import torch

    torch.set_num_threads(1)  # tasks run side by side: one thread each (several threads per task thrash)
    if task.contender not in PROTOCOLS:
        raise SuiteError(f"case {case.name}: no protocol {task.contender!r} (valid: {', '.join(PROTOCOLS)})")
    try:
        job = FlJobConfig.from_user({**case.job, "protocol": task.contender, "seed": task.seed})
        network = FlNetworkConfig.from_user({"clients": job.clients, **case.network})
    except ValueError as exc:
        raise SuiteError(f"case {case.name}: {exc}") from None
    with CoSimNetwork(network, seed=task.seed + 1) as net:
        result = FlJob(job, network=net).run()
    return {
        "final_accuracy": result.final_accuracy,
        "sim_time_s": result.sim_time_s,
        "round_time_s": result.sim_time_s / len(result.rounds),
        "client_energy_j": result.client_energy_j,
        "uplink_mbytes": result.uplink_bytes / 1e6,
    }


def _run_speed_task(case: SpeedCase, task: Task) -> dict[str, Any]:
    """The RAN workload at the contender's UE count against the reference workload (bench.ran_speed)."""
    return ran_speed(ues=case.ues[case.contenders.index(task.contender)], window_s=case.window_s,
                     rounds=case.rounds)


Backend = Literal["process", "ray"]


def run_tasks(tasks: Sequence[Task], backend: Backend = "process", jobs: int | None = None,
              address: str | None = None, progress: bool = True) -> pd.DataFrame:
    """Run every task; one row per task in the order given, whatever the backend."""
    from tqdm.auto import tqdm

    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise SuiteError(f"jobs must be a whole number >= 1 (got {jobs!r})")

    bar = tqdm(total=len(tasks), desc="suite", unit="task", disable=not progress)
    if backend == "process":
        import multiprocessing

        # forkserver: workers start clean (no inherited bridges or threads of the parent).
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("forkserver")) as pool:
            futures = [pool.submit(run_task, task) for task in tasks]
            for future in futures:
                future.add_done_callback(lambda _: bar.update())
            rows = [future.result() for future in futures]
    elif backend == "ray":
        rows = _run_on_ray(tasks, jobs, address, lambda: bar.update())
    else:
        raise SuiteError(f"unknown backend {backend!r}: choose process or ray")
    bar.close()
    return pd.DataFrame(rows)


def _run_on_ray(tasks: Sequence[Task], jobs: int | None, address: str | None, tick: Callable[[], None]) -> list[dict]:
    try:
        import ray
    except ImportError:
        raise SuiteError("backend 'ray' needs Ray: pip install 'ns6g[ray]'") from None
    started = not ray.is_initialized()
    if started:
        # address=None starts a local instance; "auto" or "ray://host:port" joins a running cluster.
        ray.init(address=address, num_cpus=jobs if address is None else None, include_dashboard=False,
                 log_to_driver=False, ignore_reinit_error=True)
    try:
        remote = ray.remote(num_cpus=1)(run_task)
        pending = {remote.remote(task): i for i, task in enumerate(tasks)}
        rows: list[dict | None] = [None] * len(tasks)
        waiting = list(pending)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            rows[pending[done[0]]] = ray.get(done[0])
            tick()
        return rows  # type: ignore[return-value]
    finally:
        if started:
            ray.shutdown()


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean of every metric over the seeds, one row per (case, contender) in suite order."""
    metrics = [c for c in rows.columns if c not in ("case", "contender", "seed")]
    table = rows.groupby(["case", "contender"], sort=False)[metrics].mean().reset_index()
    table.insert(2, "seeds", rows.groupby(["case", "contender"], sort=False)["seed"].count().to_numpy())
    return table


def metric_values(table: pd.DataFrame) -> dict[str, float]:
    """``{"<case>/<contender>/<metric>": value}`` of every reported (non-NaN) metric."""
    values = {}
    for row in table.to_dict(orient="records"):
        for key, value in row.items():
            if key not in ("case", "contender", "seeds") and not (isinstance(value, float) and math.isnan(value)):
                values[f"{row['case']}/{row['contender']}/{key}"] = float(value)
    return values


@dataclass(frozen=True)
class Regression:
    metric: str
    value: float
    baseline: float
    tolerance: float
    higher_is_better: bool
    detail: str = ""  # what else was measured (speed metrics: both workloads' rates)

    def __str__(self) -> str:
        direction = "below" if self.higher_is_better else "above"
        return (f"{self.metric}: {self.value:.6g} is {direction} the baseline {self.baseline:.6g} "
                f"by more than {self.tolerance:.0%}" + (f" ({self.detail})" if self.detail else ""))


class BaselineMetric(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: float
    higher_is_better: bool = True
    tolerance: float | None = Field(None, ge=0, description="relative tolerance (0.05 = 5 %); default: the file's")


class BaselineFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tolerance: float = Field(0.05, ge=0, description="default relative tolerance")
    metrics: dict[str, BaselineMetric] = Field(min_length=1)


def load_baseline(path: str | Path) -> BaselineFile:
    path = Path(path)
    try:
        return BaselineFile.model_validate(json.loads(path.read_text()))
    except OSError as exc:
        raise SuiteError(f"cannot read the baseline {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}: not JSON ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SuiteError(f"{path}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None


def compare(values: Mapping[str, float], baseline: BaselineFile) -> list[Regression]:
    """Metrics worse than the baseline by more than their tolerance (relative to the baseline's magnitude).

    A baseline metric the results do not have is refused (SuiteError naming it): a renamed or removed
    metric must not pass silently.
    """
    unknown = sorted(set(baseline.metrics) - set(values))
    if unknown:
        raise SuiteError(f"the baseline names metrics the suite did not report: {', '.join(unknown[:5])}"
                         f"{' ...' if len(unknown) > 5 else ''} (reported: {', '.join(sorted(values)[:5])} ...)")
    regressions = []
    for name, expected in baseline.metrics.items():
        tolerance = baseline.tolerance if expected.tolerance is None else expected.tolerance
        allowed = tolerance * max(abs(expected.value), 1e-12)
        worse = expected.value - values[name] if expected.higher_is_better else values[name] - expected.value
        if worse > allowed:
            regressions.append(Regression(name, values[name], expected.value, tolerance, expected.higher_is_better))
    return regressions


def write_results(table: pd.DataFrame, rows: pd.DataFrame, out: Path) -> dict[str, Path]:
    """``results.csv`` (per case and contender), ``tasks.csv`` (per seed), ``results.json``, ``results.md``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "results.csv", "tasks": out / "tasks.csv", "json": out / "results.json",
             "markdown": out / "results.md"}
    table.to_csv(paths["csv"], index=False)
    rows.to_csv(paths["tasks"], index=False)
    paths["json"].write_text(json.dumps({"results": table.to_dict(orient="records"),
                                         "metrics": metric_values(table)}, indent=2))
    paths["markdown"].write_text(table.to_markdown(index=False, floatfmt=".4g") + "\n")
    return paths


def run_suite(suite: Suite, out: Path | None = None, backend: Backend = "process", jobs: int | None = None,
              address: str | None = None, baseline: BaselineFile | None = None,
              progress: bool = True) -> tuple[pd.DataFrame, list[Regression]]:
    """Run a suite (its agents checked first, :func:`check_agents`), write its results under ``out`` and
    compare with ``baseline``."""
    check_agents(suite)
    tasks = tasks_of(suite)
    untimed = [t for t in tasks if not t.timed]
    rows = run_tasks(untimed, backend=backend, jobs=jobs, address=address, progress=progress) \
        if untimed else pd.DataFrame()
    # Speed tasks measure wall time: after the others, one at a time, here (not beside other tasks).
    speeds = [(t, _run_speed_task(t.case, t)) for t in tasks if t.timed]  # type: ignore[arg-type]
    if speeds:
        timed = pd.DataFrame([_row(t, speed) for t, speed in speeds])
        rows = pd.concat([rows, timed], ignore_index=True) if len(rows) else timed
    table = summarise(rows)
    measured = {f"{t.case.name}/{t.contender}": speed for t, speed in speeds}
    if out is not None:
        write_results(table, rows, Path(out))
        if measured:
            (Path(out) / "speed.json").write_text(json.dumps(measured, indent=2))
    regressions = compare(metric_values(table), baseline) if baseline is not None else []
    return table, [replace(r, detail=_speed_detail(measured[r.metric.rsplit("/", 1)[0]]))
                   if r.metric.rsplit("/", 1)[0] in measured else r for r in regressions]


def _speed_detail(speed: Mapping[str, Any]) -> str:
    return (f"RAN {speed['ues']} UEs {speed['sim_s_per_wall_s']:.3g} sim-s/wall-s, reference "
            f"{speed['reference_sim_s_per_wall_s']:.3g} sim-s/wall-s, medians of {speed['rounds']} rounds; "
            f"ratios {', '.join(f'{r:.3g}' for r in speed['ratios'])}")


def baseline_from(table: pd.DataFrame, tolerance: float = 0.05, lower_is_better: Iterable[str] = (),
                  suite: Suite | None = None) -> dict:
    """A baseline file's content from a results table (every metric higher-is-better unless its name, or
    its column, is in ``lower_is_better``); the metrics of the speed cases of ``suite`` get
    SPEED_TOLERANCE."""
    lower = set(lower_is_better)
    speed = {c.name for c in suite.cases if isinstance(c, SpeedCase)} if suite is not None else set()

    def entry(name: str, value: float) -> dict:
        metric = {"value": value, "higher_is_better": not (name in lower or name.rsplit("/", 1)[-1] in lower)}
        return {**metric, "tolerance": SPEED_TOLERANCE} if name.split("/", 1)[0] in speed else metric

    return {"tolerance": tolerance, "metrics": {name: entry(name, value) for name, value in metric_values(table).items()}}

"""The ``ns6g`` command line."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

DESCRIPTION = """\
ns6g: an ns-3-coupled network emulation testbed for 6G edge learning.

commands:
  build      compile the ns-3 scenarios against the installed ns3 wheel (cached; a repeat is a no-op);
             build DIR: a folder of scenarios of your own, against ns6g's
  new-scenario  write a project for a scenario of your own (ns-3 .cc, config, environment, test, README)
  bench      benchmarks: bridge (vs a socket transport), reset (vs a relaunch), parallel (1-8 envs),
             trace (run directory overhead), load (1M-row table into pandas),
             ran (6G RAN speed for 10-1000 UEs), split (best DNN split vs the greedy one),
             fl (co-simulation overhead, profile-mode rounds/s for 10-1000 clients),
             suite (cases x contenders x seeds with a regression gate)
  demo       flagship (default): an agent on D2DRelay's challenge against every heuristic, federated split
             learning over the emulated cell, one report; link / ran / split: PPO on one environment
  envs       list the registered Gymnasium environments
  fl         run a learner job (FedAvg, split learning, FSL, ...) over the co-simulated network
  train      train a Stable-Baselines3 agent (ppo, maskable_ppo, a2c, dqn, sac) on an environment with its
             preset (ns6g/presets) and evaluate it
  tune       search an environment's hyperparameters with Optuna and write a preset file
  evaluate   evaluate a saved agent against the environment's baselines on held-out seeds
  report     write an HTML report (figures and tables) of one or more run directories
  version    print the versions of ns6g, ns-3, Python, gymnasium, stable-baselines3 and torch

Bad arguments and unusable paths end with one line `ns6g COMMAND: error: ...` and exit status 2 (1 for a
failed build or scenario); --debug (or NS6G_DEBUG=1) shows the traceback instead.
"""

# Seeds of every command: NumPy's legacy seeding (Stable-Baselines3) takes < 2**32, and jobs add offsets
# (env i gets seed + i, evaluation seeds 10000 + seed + k).
MAX_SEED = 2**31 - 1
MESSAGE_LIMIT = 1000  # characters of an error message shown
DEBUG_HELP = "show the traceback of an error instead of one line (also NS6G_DEBUG=1)"


# -- argument types: every range and path is checked before a command starts ----------------------------
def _whole_number(low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


positive_int = _whole_number(1)
non_negative_int = _whole_number(0)
seed = _whole_number(0, MAX_SEED)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def output_dir(text: str) -> Path:
    """A folder that exists or can be created, and can be written (ns6g.core.outputs.check_output_dir)."""
    from ns6g.core.outputs import OutputError, check_output_dir

    try:
        return check_output_dir(text)
    except OutputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def output_file(text: str) -> Path:
    from ns6g.core.outputs import OutputError, check_output_file

    try:
        return check_output_file(text)
    except OutputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def setting(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` to ``(key, value)``; the value is read as JSON when it parses (numbers, true, lists),
    else kept as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _cmd_build(args: argparse.Namespace) -> int:
    from ns6g.core.build import build

    result = build(source_dir=args.dir, force=args.force, jobs=args.jobs)
    state = f"built in {result.seconds:.1f} s" if result.built else "up to date"
    print(f"{len(result.scenarios)} scenarios {state}: {', '.join(result.scenarios)}")
    print(f"binaries: {result.bin_dir}")
    return 0


def _cmd_new_scenario(args: argparse.Namespace) -> int:
    from ns6g.apps.scaffold import new_scenario

    project = new_scenario(args.name, args.dir)
    print(f"wrote {project} (see its README.md); from there:")
    package = project.name.replace("-", "_")
    print(f"  ns6g build {package}/scenarios\n  PYTHONPATH=. python -m pytest tests")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from ns6g.apps import bench

    if args.which == "suite":
        return _bench_suite(args)
    if args.env_id is not None and args.which != "learn":
        raise SystemExit(f"ns6g bench {args.which}: takes no environment id (only bench learn does)")
    progress = not args.json
    run, fmt = {
        "bridge": (lambda: bench.bench_bridge(iterations=args.iterations, contention=args.contention,
                                              progress=progress), bench.format_bridge),
        "reset": (lambda: bench.bench_reset(progress=progress), bench.format_reset),
        "parallel": (lambda: bench.bench_parallel(seconds=4.0 if args.seconds is None else args.seconds,
                                                  progress=progress), bench.format_parallel),
        "trace": (lambda: bench.bench_trace(detail=args.detail, progress=progress), bench.format_trace),
        "load": (lambda: bench.bench_load(progress=progress), bench.format_load),
        "ran": (lambda: bench.bench_ran(progress=progress), bench.format_ran),
        "speed": (lambda: bench.bench_speed(contention=2 if args.contention == 0 else args.contention,
                                            progress=progress), bench.format_speed),
        "split": (lambda: bench.bench_split(progress=progress), bench.format_split),
        "fl": (lambda: bench.bench_fl(progress=progress), bench.format_fl),
        "soak": (lambda: bench.bench_soak(seconds=60.0 if args.seconds is None else args.seconds, envs=args.envs,
                                          env_id=args.env, progress=progress), bench.format_soak),
        "ray": (lambda: bench.bench_ray(env_id=args.env, seconds=4.0 if args.seconds is None else args.seconds,
                                        address=args.address, progress=progress), bench.format_ray),
        "learn": (lambda: bench.bench_learn([args.env_id] if args.env_id else None, budget_min=args.budget_min,
                                            out=args.out or Path("runs/bench-learn"),
                                            eval_seeds=args.eval_seeds, progress=progress),
                  bench.format_learn),
    }[args.which]
    if args.which == "fl":
        freeze_imports()
    result = run()
    print(json.dumps(result) if args.json else fmt(result))
    return 1 if result.get("failures") else 0


def _bench_suite(args: argparse.Namespace) -> int:
    from ns6g.apps.suite import DEFAULT_SUITE, baseline_from, load_baseline, load_suite, metric_values, run_suite

    suite = load_suite(args.config or DEFAULT_SUITE)
    baseline = load_baseline(args.baseline) if args.baseline else None
    table, regressions = run_suite(suite, out=args.out, backend=args.backend, jobs=args.jobs,
                                   address=args.address, baseline=baseline, progress=not args.json)
    if args.write_baseline:
        args.write_baseline.parent.mkdir(parents=True, exist_ok=True)
        args.write_baseline.write_text(json.dumps(baseline_from(table, suite=suite), indent=2) + "\n")
    if args.json:
        print(json.dumps({"results": table.to_dict(orient="records"), "metrics": metric_values(table),
                          "regressions": [str(r) for r in regressions]}))
    else:
        print(table.to_markdown(index=False, floatfmt=".4g"))
        if args.out:
            print(f"results: {args.out}/results.csv, results.json, results.md, tasks.csv")
    for regression in regressions:
        print(f"REGRESSION {regression}", file=sys.stderr)
    if baseline is not None and not regressions:
        print(f"no regression against {args.baseline} ({len(baseline.metrics)} metrics)", file=sys.stderr)
    return 1 if regressions else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    # Settings left out take the demo's own defaults (FlagshipConfig, DemoConfig).
    given = {k: v for k, v in (("timesteps", args.timesteps), ("n_envs", args.n_envs),
                               ("eval_seeds", args.eval_seeds)) if v is not None}
    if args.which == "flagship":
        from ns6g.apps.flagship import FlagshipConfig, format_flagship, run_flagship

        from ns6g.apps.presets import load_challenge

        config = FlagshipConfig(seed=args.seed, fl_rounds=args.fl_rounds, out=args.out, overwrite=args.overwrite,
                                **given)
        seeds = load_challenge(config.challenge).held_out_count(config.eval_seeds)
        print(f"ns6g demo: the preset agent on {config.challenge}'s challenge for {config.timesteps} steps against "
              f"every heuristic and the upper reference on {seeds} held-out seeds, then SplitFed V1 "
              f"and FedAvg over the emulated 6G cell for {config.fl_rounds} rounds, then one report")
        summary = run_flagship(config, progress=not args.quiet)
        print(format_flagship(summary))
        print(f"run directory: {summary['run_dir']} (summary.json; agent/, fsl/, report/)")
        return 0

    from ns6g.apps.demo import DemoConfig, format_summary, run_demo

    config = DemoConfig(demo=args.which, seed=args.seed, out=args.out, overwrite=args.overwrite, **given)
    print(f"ns6g demo {config.demo}: PPO on {config.n_envs} scenario processes for {config.timesteps} steps, "
          f"then evaluation against the baselines on {config.eval_seeds} held-out seeds")
    summary = run_demo(config, progress=not args.quiet)
    print(format_summary(summary))
    print(f"run directory: {summary['run_dir']} (summary.json; evaluation runs in eval/<policy>)")
    return 0


def parse_settings(pairs: Sequence[str], what: str) -> dict[str, object]:
    """``KEY=VALUE`` pairs to a dict (see :func:`setting`); ValueError naming ``what`` for a malformed pair."""
    try:
        return dict(setting(pair) for pair in pairs)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _cmd_train(args: argparse.Namespace) -> int:
    from ns6g.core.outputs import check_run_dir
    from ns6g.apps.training import TrainConfig, format_evaluation, format_plan, plan_training, train

    config = TrainConfig(env_id=args.env_id, algo=args.algo, timesteps=args.timesteps, n_envs=args.n_envs,
                         seed=args.seed, out=args.out, eval_seeds=args.eval_seeds, checkpoints=args.checkpoints,
                         env_kwargs=dict(args.env), algo_kwargs=dict(args.algo_arg), overwrite=args.overwrite,
                         preset=args.preset, use_preset=not args.no_preset, backend=args.backend,
                         address=args.address, envs_per_worker=args.envs_per_worker, device=args.device)
    check_run_dir(config.out, config.overwrite)  # a run in the way is refused before the environment starts
    plan = plan_training(config)
    print(format_plan(plan, config.out))
    summary = train(config, progress=not args.quiet, plan=plan)
    print(format_evaluation(summary))
    print(f"trained {summary['timesteps_run']} steps in {summary['train_seconds']:.0f} s; run directory {config.out} "
          f"(agent.zip, tensorboard/, checkpoints/, train/, eval/, summary.json)")
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    from ns6g.apps.tuning import TuneConfig, format_tuning, tune

    config = TuneConfig(env_id=args.env_id, algo=args.algo, trials=args.trials, timesteps=args.timesteps,
                        n_envs=args.n_envs, eval_seeds=args.eval_seeds, seed=args.seed, env_kwargs=dict(args.env),
                        out=args.out)
    print(f"ns6g tune: {config.trials} trials of {config.timesteps} steps on {config.env_id} -> {config.out}")
    result = tune(config, progress=not args.quiet)
    print(format_tuning(result))
    return 0


def freeze_imports() -> None:
    """Leave the objects that exist now out of the cyclic garbage collector's scans (``gc.freeze``, after
    a collection, so no garbage is kept), once what a learner job's first round imports is imported (a
    FLOP count on meta tensors loads PyTorch's meta kernels, torch._dynamo, sympy, ...): ~330 000 objects
    that live as long as the process, and every full collection walks them all (~0.2 s), which a
    1000-client profile-mode job, with its ~20 000 new records a round, triggers every round or two.
    For the commands that run learner jobs (``ns6g fl``, ``ns6g bench fl``); changes no result."""
    import gc

    import torch
    from torch import nn

    from ns6g.learners.engine import _training_flops

    with torch.random.fork_rng(devices=[]):  # the tiny model's initialisation draws nothing from the job's RNG
        tiny = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))
        for device in ("cpu", "meta"):  # (a meta module cannot go back)
            _training_flops(tiny.to(device), torch.zeros(1, 1, 4, 4, device=device), with_loss=True,
                            input_grad=True)
    gc.collect()
    gc.freeze()


def _cmd_fl(args: argparse.Namespace) -> int:
    from ns6g.apps.fl import format_summary, run_fl

    freeze_imports()

    job = {"protocol": args.protocol, "rounds": args.rounds, "clients": args.clients, "mode": args.mode,
           "seed": args.seed, **dict(args.set)}
    for key, value in (("model", args.model), ("dataset", args.data)):
        if value is not None:
            job[key] = value
    if args.model_path is not None:  # the PEFT protocols' option
        from ns6g.learners.protocols import PROTOCOLS

        takers = [n for n, p in PROTOCOLS.items() if p.options is not None and "model_path" in p.options.model_fields]
        if args.protocol not in takers:
            raise ValueError(f"--model-path is for the protocols with a base language model ({', '.join(takers)}), "
                             f"not {args.protocol!r}")
        job["protocol_options"] = {**dict(job.get("protocol_options") or {}), "model_path": args.model_path}
    summary = run_fl(job, scenario=args.scenario, network=args.network, out=args.out, progress=not args.quiet,
                     overwrite=args.overwrite)
    print(json.dumps(summary) if args.json else format_summary(summary))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ns6g.apps.training import eval_seeds, evaluate_agent, format_evaluation

    summary = evaluate_agent(args.agent, env_id=args.env_id, env_kwargs=dict(args.env),
                             seeds=eval_seeds(args.seed, args.seeds), out=args.out, progress=not args.quiet)
    changed = ", ".join(f"{k}={v!r}" for k, v in summary["overrides"].items())
    print(f"settings: {'the training ones' if not changed else 'the training ones with ' + changed}")
    print(format_evaluation(summary))
    if args.json:
        print(json.dumps(summary, default=str))
    return 0


def _cmd_envs(args: argparse.Namespace) -> int:
    import gymnasium as gym

    import ns6g.envs
    from ns6g.envs.ids import load_entry_points

    for env_id in ns6g.envs.ENV_IDS:
        spec = gym.spec(env_id)
        print(f"{env_id:<28} {spec.entry_point}")
    for env_id, where in load_entry_points().items():  # ids registered by installed packages
        print(f"{env_id:<28} {gym.spec(env_id).entry_point}  (entry point {where})")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    import warnings

    from ns6g.analysis import DamagedRunWarning, write_report

    # NotARunError, RunSchemaError, DamagedRunError: one line from main(), exit 2
    with warnings.catch_warnings(record=True) as caught:  # a skipped damaged part: one stderr line
        warnings.simplefilter("always", DamagedRunWarning)
        index = write_report(args.runs, args.out, skip_damaged=args.skip_damaged)
    for warning in caught:
        print(f"ns6g report: warning: {warning.message}", file=sys.stderr)
    print(index)
    return 0


def _cmd_version(args: argparse.Namespace) -> int:
    from ns6g.core.versions import versions

    for name, version in versions().items():
        print(f"{name:<18} {version}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ns6g", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("build", help="compile the ns-3 scenarios (cached by a hash of sources and flags)")
    p.add_argument("dir", nargs="?", type=Path, default=None,
                   help="a folder of scenarios of your own (one <scenario>.cc each, e.g. <package>/scenarios of a "
                        "`ns6g new-scenario` project), built against ns6g's; default: ns6g's scenarios")
    p.add_argument("--force", action="store_true", help="rebuild even if the cache is up to date")
    p.add_argument("--jobs", type=positive_int, default=None, help="parallel compile jobs (default: cores)")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser(
        "new-scenario",
        help="write a project for a scenario of your own, outside ns6g",
        description="Writes DIR/NAME/: a small Python package with the ns-3 scenario <package>/scenarios/NAME.cc "
        "(a UDP flow over a point-to-point link whose rate the agent picks, on ns6g's ServeScenario skeleton), "
        "its options declared once in a pydantic config class (the C++ header generated from it), a Gymnasium "
        "environment registering <Name>-v0, a test and a README saying how to build, test and train. "
        "It builds and passes check_env as written; NAME is kebab-case (my-link: package my_link, MyLink-v0).",
    )
    p.add_argument("name", help="scenario name, kebab-case, e.g. my-link")
    p.add_argument("--dir", type=Path, default=Path("."), help="folder to write NAME/ into (default: here)")
    p.set_defaults(func=_cmd_new_scenario)

    p = sub.add_parser(
        "bench",
        help="benchmarks, each measured side by side in one run",
        description="bridge: step round trip, shared memory (zero-copy read, and with the copy out) vs a Unix "
        "socket, 8 to 65536 float32 values, and a plain copy of 256 KB, beside --contention busy processes; "
        "reset: in-process episode reset vs a process relaunch; "
        "parallel: aggregate steps/s of 1, 2, 4, 8 scenarios in lockstep; "
        "trace: episodes with and without a run directory; "
        "load: load_run of a 1-million-row flows table; "
        "ran: simulated seconds per wall second of the 6G RAN for 10, 100 and 1000 UEs and the cost exponent, beside "
        "issue 17's targets; "
        "split: task latency of every DNN split as the uplink rate falls, best against greedy; "
        "fl: co-simulation overhead of a training job against no network, a split job's share in network calls, "
        "profile-mode rounds/s for 10, 100, 1000 and 10 000 clients and the cost exponent, beside issue 17's targets; "
        "soak: --envs environments in AsyncVectorEnv with random actions and periodic resets for --seconds: "
        "steps/s, RSS and open fds of every process after warm-up and at the end, segments and processes left "
        "(exit 1 if anything is left or fails); "
        "learn [ENV]: trains the preset agent on each environment's challenge configuration (every one that has "
        "a challenge, or ENV) for --budget-min minutes at most, then prints agent, every heuristic and the upper "
        "bound on held-out seeds with 95 % intervals, into --out (default runs/bench-learn; docs/benchmarks.md); "
        "ray: environment workers as Ray actors (ns6g train --backend ray) against the same environments stepped "
        "from one process, 1, 2 and 4 workers: sampling and PPO steps/s (--env, --seconds, --address); "
        "speed: the suite's speed gate measurement (RAN workload against a fixed ns-3 reference, normalised) "
        "quiet and beside --contention busy processes (default 2), alternating; "
        "suite: a suite of cases x contenders x seeds (default: ns6g/apps/suites/default.toml) with a results table "
        "and a regression gate (exit 1 naming every metric worse than --baseline by more than its tolerance)",
    )
    p.add_argument("which", choices=["bridge", "reset", "parallel", "trace", "load", "ran", "split", "fl", "soak", "suite",
                                     "learn", "ray", "speed"],
                   help="which benchmark to run")
    p.add_argument("env_id", nargs="?", default=None,
                   help="learn: the environment id (default: every environment with a challenge configuration)")
    p.add_argument("--budget-min", type=positive_float, default=30.0,
                   help="learn: wall-clock minutes of training per environment at most (default 30)")
    p.add_argument("--eval-seeds", type=positive_int, default=None,
                   help="learn: held-out seeds per contender (default: the challenge's eval_seeds, else 20)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--iterations", type=positive_int, default=20_000, help="bridge: exchanges per size (default 20000)")
    p.add_argument("--contention", type=_whole_number(0, 64), default=0,
                   help="bridge: busy processes (one spinning loop each) running beside the benchmark (default 0); "
                        "speed: beside the loaded runs (default 2)")
    p.add_argument("--seconds", type=positive_float, default=None,
                   help="parallel: seconds per count (default 4); ray: sampling seconds per count and backend (default 4); soak: seconds of the whole run (default 60)")
    p.add_argument("--envs", type=positive_int, default=8, help="soak: environments in the vector (default 8)")
    p.add_argument("--env", default="ns6g/LinkControl-v0", help="soak, ray: environment id (default ns6g/LinkControl-v0)")
    p.add_argument("--detail", choices=["summary", "full"], default="summary",
                   help="trace: detail level of the traced run (default summary)")
    p.add_argument("--config", type=Path, default=None, help="suite: the suite file (TOML; default: the shipped one)")
    p.add_argument("--baseline", type=Path, default=None, help="suite: baseline file (JSON) to compare with")
    p.add_argument("--write-baseline", type=output_file, default=None,
                   help="suite: write the results as a baseline file")
    p.add_argument("--out", type=output_dir, default=None, help="suite: folder for results.csv/.json/.md and tasks.csv; learn: the output folder")
    p.add_argument("--backend", choices=["process", "ray"], default="process",
                   help="suite: local process pool (default) or Ray (pip install 'ns6g[ray]')")
    p.add_argument("--address", default=None,
                   help="suite with --backend ray, and bench ray: cluster to join ('auto', 'ray://host:10001'); default: start a local instance")
    p.add_argument("--jobs", type=positive_int, default=None, help="suite: parallel tasks (default: cores)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser(
        "demo",
        help="train an agent briefly on a scenario and print how it compares with the heuristics",
        description="flagship (default, what `make demo` runs): the preset agent trained for about ten minutes on "
        "D2DRelay's challenge configuration (challenges.yml) against every heuristic and the upper reference on "
        "held-out seeds (as `ns6g bench learn`), SplitFed V1 and FedAvg over the emulated 6G cell, and one HTML "
        "report. "
        "link: PPO on ns6g/LinkControl-v0 (UDP rate control over a real ns-3 "
        "bottleneck shared with on/off cross traffic) against every fixed sending rate and a random policy. "
        "ran: PPO on ns6g/SpectrumAllocation-v0 (RBG allocation in a 6G cell) against round-robin, "
        "proportional-fair and max-rate scheduling. split: PPO on ns6g/SplitInference-v0 (DNN split and "
        "offload target per task) against all-local, all-edge, random and the greedy Neurosurgeon split. All evaluate on held-out seeds and write the agent, "
        "per-episode results, a summary, traced evaluation runs and an HTML report to --out.",
    )
    p.add_argument("which", nargs="?", choices=["flagship", "link", "ran", "split"], default="flagship",
                   help="which demo (default flagship)")
    p.add_argument("--timesteps", type=positive_int, default=None,
                   help="training steps (default: the demo's own, printed at its start)")
    p.add_argument("--fl-rounds", type=positive_int, default=5, help="flagship: rounds of each learner job (default 5)")
    p.add_argument("--n-envs", type=positive_int, default=None,
                   help="parallel scenario processes for training (default: flagship the preset's, the others 4)")
    p.add_argument("--seed", type=seed, default=0, help="seed of training and evaluation (default 0)")
    p.add_argument("--eval-seeds", type=positive_int, default=None,
                   help="held-out evaluation episodes (default: the demo's own, printed at its start)")
    p.add_argument("--out", type=output_dir, default=None,
                   help="run directory to create (default runs/demo-<demo>-<UTC date-time>)")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "train",
        help="train an agent on a scenario, with checkpoints, TensorBoard and an evaluation against baselines",
        description="Trains a Stable-Baselines3 agent with the environment's preset (ns6g/apps/presets/ppo.yml, rl-zoo3's "
        "format; printed at start, with the steps it will run: whole rollouts) on K scenario processes stepped in "
        "parallel, under VecNormalize where the preset says so (saved as OUT/vecnormalize.pkl), logs to "
        "TensorBoard (OUT/tensorboard), saves checkpoints (OUT/checkpoints) and the agent (OUT/agent.zip), "
        "traces every training environment (OUT/train/env-<i>), then evaluates the agent and the environment's "
        "baselines on held-out seeds (OUT/eval/<policy>, OUT/summary.json) and prints means with 95 % intervals.",
    )
    p.add_argument("env_id", help="environment id, e.g. ns6g/LinkControl-v0 (`ns6g envs` lists them)")
    p.add_argument("--algo", default=None,
                   help="ppo, maskable_ppo (sb3-contrib; Discrete/MultiDiscrete actions of an env with action_masks(): "
                        "the default there), a2c, dqn (Discrete actions) or sac (Box actions); default ppo")
    p.add_argument("--timesteps", type=positive_int, default=None,
                   help="training steps over all envs (default: the preset's n_timesteps, else 10000); on-policy "
                        "algorithms run whole rollouts, so this is rounded up to one (said at start, recorded)")
    p.add_argument("--n-envs", "--workers", type=positive_int, default=None,
                   help="parallel scenario processes (default: the preset's n_envs, else 4); with --backend ray, the "
                        "environments on the Ray actors (--envs-per-worker each)")
    p.add_argument("--preset", type=Path, default=None,
                   help="a preset file in rl-zoo3's format (written by ns6g tune) instead of the shipped one")
    p.add_argument("--no-preset", action="store_true",
                   help="no preset: Stable-Baselines3's default arguments, no normalisation")
    p.add_argument("--seed", type=seed, default=0, help="seed of training and of the evaluation seeds (default 0)")
    p.add_argument("--out", type=output_dir, default=Path("runs/train"),
                   help="run directory to create (default runs/train)")
    p.add_argument("--backend", default="local", metavar="local|ray",
                   help="where the --n-envs environments run: local (default; scenario processes stepped from this "
                        "process) or ray (one Ray actor per environment, each with its own scenario process, spread "
                        "over the nodes of a Ray cluster; pip install 'ns6g[ray]'; docs/training.md)")
    p.add_argument("--address", default=None,
                   help="ray: the cluster to join ('auto', HOST:PORT as `ray start --head` prints it, or "
                        "ray://HOST:10001); default: start a Ray instance on this machine")
    p.add_argument("--envs-per-worker", type=positive_int, default=1,
                   help="ray: environments per Ray actor, stepped together there (one call per actor and step; "
                        "default 1)")
    p.add_argument("--device", default="cpu", metavar="cpu|cuda|auto",
                   help="where the learner's PyTorch work runs (default cpu; cuda is refused where PyTorch sees no "
                        "GPU; auto: the GPU if there is one); the scenarios run on the CPU")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (a failed one, say)")
    p.add_argument("--eval-seeds", type=positive_int, default=5,
                   help="held-out evaluation episodes per policy (default 5)")
    p.add_argument("--checkpoints", type=non_negative_int, default=5,
                   help="agents saved during training (default 5; 0: none)")
    p.add_argument("--env", action="append", type=setting, default=[], metavar="KEY=VALUE",
                   help="environment setting (repeatable), e.g. --env ues=8 --env scenario=UMa")
    p.add_argument("--algo-arg", action="append", type=setting, default=[], metavar="KEY=VALUE",
                   help="algorithm argument overriding the preset's (repeatable), e.g. --algo-arg learning_rate=1e-3 "
                        "--algo-arg n_steps=256 --algo-arg normalize=false")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "fl",
        help="run a learner job (FedAvg, split learning, FSL, ...) over the co-simulated network and trace it",
        description="Runs PROTOCOL for N rounds, shows progress, writes the run directory (rounds, flows, "
        "manifest) with --out and prints the final accuracy, simulated time and energy.",
    )
    p.add_argument("--protocol", required=True, help="learning protocol (ns6g.learners.protocols.PROTOCOLS)")
    p.add_argument("--scenario", default="default",
                   help="network: a preset (default, paper003, three-cell) or a .toml/.json file of "
                        "FlNetworkConfig fields (default: default)")
    p.add_argument("--rounds", type=positive_int, default=3, help="rounds (default 3)")
    p.add_argument("--clients", type=positive_int, default=4, help="clients (default 4)")
    p.add_argument("--network", choices=["cosim", "none"], default="cosim",
                   help="cosim: ns-3 fl-network scenario; none: transfers take no time (default cosim)")
    p.add_argument("--mode", choices=["train", "profile"], default="train",
                   help="train: real PyTorch training; profile: the same traffic without training")
    p.add_argument("--seed", type=seed, default=0, help="seed of the job (ns-3 RngRun = seed + 1)")
    p.add_argument("--out", type=output_dir, default=None, help="run directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument("--model", default=None, metavar="MODEL",
                   help="a zoo model (small_cnn, ...) or your own model factory 'pkg.module:factory' (importable, "
                        "e.g. via PYTHONPATH; returns an nn.Sequential or a module with cut_points)")
    p.add_argument("--data", default=None, metavar="DATA",
                   help="digits, mnist, cifar10 or your own data factory 'pkg.module:factory' (returns (train, test) "
                        "map-style data sets of (x, int label) items, or one set split by test_fraction)")
    p.add_argument("--model-path", default=None, metavar="DIR",
                   help="PEFT protocols: a Hugging Face causal-LM folder on local disk (config, weights, tokenizer) "
                        "as the base model; nothing is downloaded")
    p.add_argument("--set", action="append", type=setting, default=[], metavar="KEY=VALUE",
                   help="more FlJobConfig fields, e.g. --set model=resnet18_style --set cut=3 (repeatable)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_fl)

    p = sub.add_parser(
        "tune",
        help="search hyperparameters with Optuna and write a preset file (rl-zoo3 format) for ns6g train --preset",
        description="Runs --trials Optuna trials (TPE sampler, median pruner on a mid-training evaluation); each "
        "trains the algorithm for --timesteps steps with sampled arguments (rl-zoo3's PPO ranges) on top of the "
        "environment's preset and scores the mean return over --eval-seeds tuning seeds (20000 + ..., apart from "
        "training and evaluation seeds). Writes the best trial as a preset file (--out) and prints the trials.",
    )
    p.add_argument("env_id", help="environment id (`ns6g envs` lists them)")
    p.add_argument("--algo", default=None, help="ppo or maskable_ppo (default: as ns6g train)")
    p.add_argument("--trials", type=positive_int, default=10, help="trial budget (default 10)")
    p.add_argument("--timesteps", type=positive_int, default=5_000, help="training steps per trial (default 5000)")
    p.add_argument("--n-envs", type=positive_int, default=None, help="scenario processes (default: the preset's)")
    p.add_argument("--eval-seeds", type=positive_int, default=3, help="episodes scoring a trial (default 3)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the sampler and of every trial (default 0)")
    p.add_argument("--env", action="append", type=setting, default=[], metavar="KEY=VALUE",
                   help="environment setting (repeatable), as for ns6g train")
    p.add_argument("--out", type=output_file, default=Path("preset.yml"),
                   help="preset file to write (default preset.yml)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("evaluate", help="evaluate a saved agent against the environment's baselines")
    p.add_argument("agent", type=Path, help="agent.zip written by `ns6g train` (or its run directory)")
    p.add_argument("env_id", nargs="?", default=None, help="environment id (default: the one it was trained on)")
    p.add_argument("--env", action="append", type=setting, default=[], metavar="KEY=VALUE",
                   help="one environment setting overriding the training one (repeatable), e.g. "
                        "--env mobility=random_walk; settings that change the observation or action shape "
                        "(ues, cells, ...) are refused")
    p.add_argument("--seeds", type=positive_int, default=5, help="evaluation episodes per policy (default 5)")
    p.add_argument("--seed", type=seed, default=0, help="first evaluation seed is 10000 + SEED (default 0)")
    p.add_argument("--out", type=output_dir, default=None, help="write traced evaluation runs to OUT/eval/<policy>")
    p.add_argument("--json", action="store_true", help="also print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("envs", help="list the registered Gymnasium environments")
    p.set_defaults(func=_cmd_envs)

    p = sub.add_parser(
        "report",
        help="write an HTML report of run directories and print the path of its index.html",
        description="Answers the usual questions (learning curve, round latency CDF, per-UE throughput, "
        "allocation heatmap, split layers, energy per device) for every run given, saves the figures as PNG "
        "files and writes index.html. Questions without data in the runs are listed, not errors.",
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run directories (several are compared)")
    p.add_argument("--out", type=output_dir, default=None,
                   help="report folder (default RUN/report for one run, ./ns6g-report for several)")
    p.add_argument("--skip-damaged", action="store_true",
                   help="report what can be read when a Parquet part cannot, saying what is missing "
                   "(default: refuse, naming the part)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("version", help="print the versions of ns6g and what it runs on")
    p.set_defaults(func=_cmd_version)

    for p in sub.choices.values():
        p.set_defaults(command_parser=p)  # so that main() names the command of an unknown argument
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


class _Parser(argparse.ArgumentParser):
    """An argument error is one line (``ns6g train: error: argument --seed: must be ...``), not the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _exit_status(exc: Exception) -> int | None:
    """Exit status of an error whose message is the whole answer: 2 for a request that cannot run (a bad
    setting, a path that cannot be read or written, a run directory in the way), 1 for a build or a
    scenario that failed. None for anything else: a bug, which keeps its traceback."""
    from ns6g.core.bridge import BridgeError
    from ns6g.core.build import BuildError, UnknownScenarioError
    from ns6g.core.runs import RunError

    if isinstance(exc, (BuildError, BridgeError)):
        return 1
    if isinstance(exc, (ValueError, OSError, RunError, UnknownScenarioError)):  # ConfigError & co. are ValueErrors
        return 2
    return None


def _message(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.strerror or exc}: {exc.filename}"
    elif isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    else:
        text = str(exc) or type(exc).__name__
    text = "; ".join(line.strip() for line in text.splitlines() if line.strip())
    if len(text) > MESSAGE_LIMIT:  # a tensor or a table in a message: the start says what happened
        text = f"{text[:MESSAGE_LIMIT]} ... ({len(text) - MESSAGE_LIMIT} more characters: --debug shows them)"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args, unknown = make_parser().parse_known_args(argv)
    if unknown:
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    debug = args.debug or os.environ.get("NS6G_DEBUG", "") not in ("", "0")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        status = _exit_status(exc)
        if status is None or debug:
            raise  # an unexpected error is a bug: its traceback is the report
        command = f"ns6g {args.command}" + (f" {args.which}" if args.command == "bench" else "")
        print(f"{command}: error: {_message(exc)}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())

"""The ``ns6g`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

DESCRIPTION = """\
ns6g: an ns-3-coupled network emulation testbed for 6G edge learning.

commands:
  build      compile the ns-3 scenarios against the installed ns3 wheel (cached; a repeat is a no-op)
  bench      benchmarks: bridge (vs a socket transport), reset (vs a relaunch), parallel (1-8 envs),
             trace (run directory overhead), load (1M-row table into pandas),
             ran (6G RAN speed for 10-1000 UEs), split (best DNN split vs the greedy one),
             fl (co-simulation overhead, profile-mode rounds/s for 10-1000 clients),
             suite (cases x contenders x seeds with a regression gate)
  demo       flagship (default): PPO on the 6G RAN against its schedulers, federated split learning over
             the emulated cell, one report; link / ran / split: PPO on one environment against its baselines
  envs       list the registered Gymnasium environments
  fl         run a learner job (FedAvg, split learning, FSL, ...) over the co-simulated network
  train      train a Stable-Baselines3 agent (ppo, a2c, dqn, sac) on an environment and evaluate it
  evaluate   evaluate a saved agent against the environment's baselines on held-out seeds
  report     write an HTML report (figures and tables) of one or more run directories
  version    print the versions of ns6g, ns-3, Python, gymnasium, stable-baselines3 and torch
"""


def _cmd_build(args: argparse.Namespace) -> int:
    from ns6g.build import BuildError, build

    try:
        result = build(force=args.force, jobs=args.jobs)
    except BuildError as exc:
        print(exc, file=sys.stderr)
        return 1
    state = f"built in {result.seconds:.1f} s" if result.built else "up to date"
    print(f"{len(result.scenarios)} scenarios {state}: {', '.join(result.scenarios)}")
    print(f"binaries: {result.bin_dir}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from ns6g import bench

    if args.which == "suite":
        return _bench_suite(args)
    progress = not args.json
    run, fmt = {
        "bridge": (lambda: bench.bench_bridge(iterations=args.iterations, progress=progress), bench.format_bridge),
        "reset": (lambda: bench.bench_reset(progress=progress), bench.format_reset),
        "parallel": (lambda: bench.bench_parallel(seconds=4.0 if args.seconds is None else args.seconds,
                                                  progress=progress), bench.format_parallel),
        "trace": (lambda: bench.bench_trace(detail=args.detail, progress=progress), bench.format_trace),
        "load": (lambda: bench.bench_load(progress=progress), bench.format_load),
        "ran": (lambda: bench.bench_ran(progress=progress), bench.format_ran),
        "split": (lambda: bench.bench_split(progress=progress), bench.format_split),
        "fl": (lambda: bench.bench_fl(progress=progress), bench.format_fl),
        "soak": (lambda: bench.bench_soak(seconds=60.0 if args.seconds is None else args.seconds, envs=args.envs,
                                          env_id=args.env, progress=progress), bench.format_soak),
    }[args.which]
    result = run()
    print(json.dumps(result) if args.json else fmt(result))
    return 1 if result.get("failures") else 0


def _bench_suite(args: argparse.Namespace) -> int:
    from ns6g.suite import DEFAULT_SUITE, SuiteError, baseline_from, load_baseline, load_suite, metric_values, run_suite

    try:
        suite = load_suite(args.config or DEFAULT_SUITE)
        baseline = load_baseline(args.baseline) if args.baseline else None
        table, regressions = run_suite(suite, out=args.out, backend=args.backend, jobs=args.jobs,
                                       address=args.address, baseline=baseline, progress=not args.json)
    except SuiteError as exc:
        print(f"ns6g bench suite: {exc}", file=sys.stderr)
        return 2
    if args.write_baseline:
        args.write_baseline.write_text(json.dumps(baseline_from(table), indent=2) + "\n")
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
    if args.which == "flagship":
        from ns6g.flagship import FlagshipConfig, format_flagship, run_flagship

        config = FlagshipConfig(timesteps=args.timesteps or 20_000, n_envs=args.n_envs, seed=args.seed,
                                eval_seeds=args.eval_seeds, fl_rounds=args.fl_rounds, out=args.out)
        print(f"ns6g demo: PPO on the 6G RAN for {config.timesteps} steps against RR/PF/MR, then SplitFed V1 and "
              f"FedAvg over the emulated 6G cell for {config.fl_rounds} rounds, then one report")
        summary = run_flagship(config, progress=not args.quiet)
        print(format_flagship(summary))
        print(f"run directory: {summary['run_dir']} (summary.json; agent/, fsl/, report/)")
        return 0

    from ns6g.demo import DemoConfig, format_summary, run_demo

    config = DemoConfig(demo=args.which, timesteps=args.timesteps or 30_000, n_envs=args.n_envs, seed=args.seed,
                        eval_seeds=args.eval_seeds, out=args.out)
    print(f"ns6g demo {config.demo}: PPO on {config.n_envs} scenario processes for {config.timesteps} steps, "
          f"then evaluation against the baselines on {config.eval_seeds} held-out seeds")
    summary = run_demo(config, progress=not args.quiet)
    print(format_summary(summary))
    print(f"run directory: {summary['run_dir']} (summary.json; evaluation runs in eval/<policy>)")
    return 0


def parse_settings(pairs: Sequence[str], what: str) -> dict[str, object]:
    """``KEY=VALUE`` pairs to a dict; a value is read as JSON when it parses (numbers, true, lists), else
    kept as a string."""
    settings: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{what}: expected KEY=VALUE, got {pair!r}")
        try:
            settings[key] = json.loads(text)
        except json.JSONDecodeError:
            settings[key] = text
    return settings


def _cmd_train(args: argparse.Namespace) -> int:
    from ns6g.runs import RunError
    from ns6g.training import TrainConfig, TrainingError, format_evaluation, train

    try:
        config = TrainConfig(env_id=args.env_id, algo=args.algo, timesteps=args.timesteps, n_envs=args.n_envs,
                             seed=args.seed, out=args.out, eval_seeds=args.eval_seeds, checkpoints=args.checkpoints,
                             env_kwargs=parse_settings(args.env, "--env"),
                             algo_kwargs=parse_settings(args.algo_arg, "--algo-arg"))
        print(f"ns6g train: {config.algo} on {config.env_id}, {config.n_envs} scenario processes, "
              f"{config.timesteps} steps -> {config.out}")
        summary = train(config, progress=not args.quiet)
    except (ValueError, TypeError, RunError) as exc:  # TrainingError, ConfigError: ValueErrors
        print(f"ns6g train: {exc}", file=sys.stderr)
        return 2
    print(format_evaluation(summary))
    print(f"trained in {summary['train_seconds']:.0f} s; run directory {config.out} "
          f"(agent.zip, tensorboard/, checkpoints/, train/, eval/, summary.json)")
    return 0


def _cmd_fl(args: argparse.Namespace) -> int:
    from ns6g.fl import format_summary, run_fl
    from ns6g.runs import RunError

    job = {"protocol": args.protocol, "rounds": args.rounds, "clients": args.clients, "mode": args.mode,
           "seed": args.seed}
    try:
        job.update(parse_settings(args.set, "--set"))
        summary = run_fl(job, scenario=args.scenario, network=args.network, out=args.out, progress=not args.quiet)
    except (ValueError, TypeError, RunError) as exc:  # ConfigError is a ValueError
        print(f"ns6g fl: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary) if args.json else format_summary(summary))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ns6g.runs import RunError
    from ns6g.training import TrainingError, eval_seeds, evaluate_agent, format_evaluation

    try:
        env_kwargs = parse_settings(args.env, "--env") if args.env else None
        summary = evaluate_agent(args.agent, env_id=args.env_id, env_kwargs=env_kwargs,
                                 seeds=eval_seeds(args.seed, args.seeds), out=args.out, progress=not args.quiet)
    except (ValueError, TypeError, RunError) as exc:  # TrainingError, ConfigError: ValueErrors
        print(f"ns6g evaluate: {exc}", file=sys.stderr)
        return 2
    print(format_evaluation(summary))
    if args.json:
        print(json.dumps(summary, default=str))
    return 0


def _cmd_envs(args: argparse.Namespace) -> int:
    import gymnasium as gym

    import ns6g.envs

    for env_id in ns6g.envs.ENV_IDS:
        spec = gym.spec(env_id)
        print(f"{env_id:<28} {spec.entry_point}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    import warnings

    from ns6g.analysis import DamagedRunWarning, write_report
    from ns6g.runs import RunError

    try:
        with warnings.catch_warnings(record=True) as caught:  # a skipped damaged part: one stderr line
            warnings.simplefilter("always", DamagedRunWarning)
            index = write_report(args.runs, args.out, skip_damaged=args.skip_damaged)
    except RunError as exc:  # NotARunError, RunSchemaError, DamagedRunError: one line, no traceback
        print(f"ns6g report: {exc}", file=sys.stderr)
        return 2
    for warning in caught:
        print(f"ns6g report: warning: {warning.message}", file=sys.stderr)
    print(index)
    return 0


def _cmd_version(args: argparse.Namespace) -> int:
    from ns6g.versions import versions

    for name, version in versions().items():
        print(f"{name:<18} {version}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ns6g", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("build", help="compile the ns-3 scenarios (cached by a hash of sources and flags)")
    p.add_argument("--force", action="store_true", help="rebuild even if the cache is up to date")
    p.add_argument("--jobs", type=int, default=None, help="parallel compile jobs (default: cores)")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser(
        "bench",
        help="benchmarks, each measured side by side in one run",
        description="bridge: step round trip, shared memory vs a Unix socket, 8 to 65536 float32 values; "
        "reset: in-process episode reset vs a process relaunch; "
        "parallel: aggregate steps/s of 1, 2, 4, 8 scenarios in lockstep; "
        "trace: episodes with and without a run directory; "
        "load: load_run of a 1-million-row flows table; "
        "ran: simulated seconds per wall second of the 6G RAN for 10, 100 and 1000 UEs; "
        "split: task latency of every DNN split as the uplink rate falls, best against greedy; "
        "fl: co-simulation overhead of a training job against no network, profile-mode rounds/s for 10, 100, "
        "1000 clients and the cost exponent; "
        "soak: --envs environments in AsyncVectorEnv with random actions and periodic resets for --seconds: "
        "steps/s, RSS and open fds of every process after warm-up and at the end, segments and processes left "
        "(exit 1 if anything is left or fails); "
        "suite: a suite of cases x contenders x seeds (default: ns6g/suites/default.toml) with a results table "
        "and a regression gate (exit 1 naming every metric worse than --baseline by more than its tolerance)",
    )
    p.add_argument("which", choices=["bridge", "reset", "parallel", "trace", "load", "ran", "split", "fl", "soak", "suite"],
                   help="which benchmark to run")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--iterations", type=int, default=20_000, help="bridge: exchanges per size (default 20000)")
    p.add_argument("--seconds", type=float, default=None,
                   help="parallel: seconds per count (default 4); soak: seconds of the whole run (default 60)")
    p.add_argument("--envs", type=int, default=8, help="soak: environments in the vector (default 8)")
    p.add_argument("--env", default="ns6g/LinkControl-v0", help="soak: environment id (default ns6g/LinkControl-v0)")
    p.add_argument("--detail", choices=["summary", "full"], default="summary",
                   help="trace: detail level of the traced run (default summary)")
    p.add_argument("--config", type=Path, default=None, help="suite: the suite file (TOML; default: the shipped one)")
    p.add_argument("--baseline", type=Path, default=None, help="suite: baseline file (JSON) to compare with")
    p.add_argument("--write-baseline", type=Path, default=None, help="suite: write the results as a baseline file")
    p.add_argument("--out", type=Path, default=None, help="suite: folder for results.csv/.json/.md and tasks.csv")
    p.add_argument("--backend", choices=["process", "ray"], default="process",
                   help="suite: local process pool (default) or Ray (pip install 'ns6g[ray]')")
    p.add_argument("--address", default=None,
                   help="suite, ray: cluster to join ('auto', 'ray://host:10001'); default: start a local instance")
    p.add_argument("--jobs", type=int, default=None, help="suite: parallel tasks (default: cores)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser(
        "demo",
        help="train PPO briefly on a scenario and print how it compares with the baselines",
        description="flagship (default, what `make demo` runs): PPO on the 6G RAN (SpectrumAllocation) against "
        "RR/PF/MR, SplitFed V1 and FedAvg over the emulated 6G cell, and one HTML report. "
        "link: PPO on ns6g/LinkControl-v0 (UDP rate control over a real ns-3 "
        "bottleneck shared with on/off cross traffic) against every fixed sending rate and a random policy. "
        "ran: PPO on ns6g/SpectrumAllocation-v0 (RBG allocation in a 6G cell) against round-robin, "
        "proportional-fair and max-rate scheduling. split: PPO on ns6g/SplitInference-v0 (DNN split and "
        "offload target per task) against all-local, all-edge, random and the greedy Neurosurgeon split. All evaluate on held-out seeds and write the agent, "
        "per-episode results, a summary, traced evaluation runs and an HTML report to --out.",
    )
    p.add_argument("which", nargs="?", choices=["flagship", "link", "ran", "split"], default="flagship",
                   help="which demo (default flagship)")
    p.add_argument("--timesteps", type=int, default=None,
                   help="PPO training steps (default 20000 for flagship, 30000 for the others)")
    p.add_argument("--fl-rounds", type=int, default=5, help="flagship: rounds of each learner job (default 5)")
    p.add_argument("--n-envs", type=int, default=4, help="parallel scenario processes for training (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of training and evaluation (default 0)")
    p.add_argument("--eval-seeds", type=int, default=5, help="held-out evaluation episodes (default 5)")
    p.add_argument("--out", type=Path, default=None,
                   help="run directory to create (default runs/demo-<demo>-<UTC date-time>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "train",
        help="train an agent on a scenario, with checkpoints, TensorBoard and an evaluation against baselines",
        description="Trains a Stable-Baselines3 agent on K scenario processes stepped in parallel, logs to "
        "TensorBoard (OUT/tensorboard), saves checkpoints (OUT/checkpoints) and the agent (OUT/agent.zip), "
        "traces every training environment (OUT/train/env-<i>), then evaluates the agent and the environment's "
        "baselines on held-out seeds (OUT/eval/<policy>, OUT/summary.json) and prints means with 95 % intervals.",
    )
    p.add_argument("env_id", help="environment id, e.g. ns6g/LinkControl-v0 (`ns6g envs` lists them)")
    p.add_argument("--algo", default="ppo", help="ppo (default), a2c, dqn (Discrete actions) or sac (Box actions)")
    p.add_argument("--timesteps", type=int, default=10_000, help="training steps over all envs (default 10000)")
    p.add_argument("--n-envs", type=int, default=4, help="parallel scenario processes (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of training and of the evaluation seeds (default 0)")
    p.add_argument("--out", type=Path, default=Path("runs/train"), help="run directory to create (default runs/train)")
    p.add_argument("--eval-seeds", type=int, default=5, help="held-out evaluation episodes per policy (default 5)")
    p.add_argument("--checkpoints", type=int, default=5, help="agents saved during training (default 5; 0: none)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="environment setting (repeatable), e.g. --env ues=8 --env scenario=UMa")
    p.add_argument("--algo-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="algorithm argument (repeatable), e.g. --algo-arg learning_rate=1e-3 --algo-arg n_steps=256")
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
    p.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    p.add_argument("--clients", type=int, default=4, help="clients (default 4)")
    p.add_argument("--network", choices=["cosim", "none"], default="cosim",
                   help="cosim: ns-3 fl-network scenario; none: transfers take no time (default cosim)")
    p.add_argument("--mode", choices=["train", "profile"], default="train",
                   help="train: real PyTorch training; profile: the same traffic without training")
    p.add_argument("--seed", type=int, default=0, help="seed of the job (ns-3 RngRun = seed + 1)")
    p.add_argument("--out", type=Path, default=None, help="run directory to write (must not hold a run)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="more FlJobConfig fields, e.g. --set model=resnet18_style --set cut=3 (repeatable)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_fl)

    p = sub.add_parser("evaluate", help="evaluate a saved agent against the environment's baselines")
    p.add_argument("agent", type=Path, help="agent.zip written by `ns6g train` (or its run directory)")
    p.add_argument("env_id", nargs="?", default=None, help="environment id (default: the one it was trained on)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="environment settings replacing the training ones (repeatable)")
    p.add_argument("--seeds", type=int, default=5, help="evaluation episodes per policy (default 5)")
    p.add_argument("--seed", type=int, default=0, help="first evaluation seed is 10000 + SEED (default 0)")
    p.add_argument("--out", type=Path, default=None, help="write traced evaluation runs to OUT/eval/<policy>")
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
    p.add_argument("--out", type=Path, default=None,
                   help="report folder (default RUN/report for one run, ./ns6g-report for several)")
    p.add_argument("--skip-damaged", action="store_true",
                   help="report what can be read when a Parquet part cannot, saying what is missing "
                   "(default: refuse, naming the part)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("version", help="print the versions of ns6g and what it runs on")
    p.set_defaults(func=_cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

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
             cosim (learner rounds/s on the co-simulation clock for 10-1000 clients)
  demo       train PPO briefly (link: LinkControl; ran: SpectrumAllocation; split: SplitInference) and
             compare it with baselines
  envs       list the registered Gymnasium environments
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

    progress = not args.json
    run, fmt = {
        "bridge": (lambda: bench.bench_bridge(iterations=args.iterations, progress=progress), bench.format_bridge),
        "reset": (lambda: bench.bench_reset(progress=progress), bench.format_reset),
        "parallel": (lambda: bench.bench_parallel(seconds=args.seconds, progress=progress), bench.format_parallel),
        "trace": (lambda: bench.bench_trace(detail=args.detail, progress=progress), bench.format_trace),
        "load": (lambda: bench.bench_load(progress=progress), bench.format_load),
        "ran": (lambda: bench.bench_ran(progress=progress), bench.format_ran),
        "split": (lambda: bench.bench_split(progress=progress), bench.format_split),
        "cosim": (lambda: bench.bench_cosim(progress=progress), bench.format_cosim),
    }[args.which]
    result = run()
    print(json.dumps(result) if args.json else fmt(result))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ns6g.demo import DemoConfig, format_summary, run_demo

    config = DemoConfig(demo=args.which, timesteps=args.timesteps, n_envs=args.n_envs, seed=args.seed,
                        eval_seeds=args.eval_seeds, out=args.out)
    print(f"ns6g demo {config.demo}: PPO on {config.n_envs} scenario processes for {config.timesteps} steps, "
          f"then evaluation against the baselines on {config.eval_seeds} held-out seeds")
    summary = run_demo(config, progress=not args.quiet)
    print(format_summary(summary))
    print(f"run directory: {summary['run_dir']} (summary.json; evaluation runs in eval/<policy>)")
    return 0


def _cmd_envs(args: argparse.Namespace) -> int:
    import gymnasium as gym

    import ns6g.envs

    for env_id in ns6g.envs.ENV_IDS:
        spec = gym.spec(env_id)
        print(f"{env_id:<28} {spec.entry_point}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from ns6g.analysis import write_report
    from ns6g.runs import RunError

    try:
        index = write_report(args.runs, args.out)
    except RunError as exc:  # NotARunError, RunSchemaError: one line, no traceback
        print(f"ns6g report: {exc}", file=sys.stderr)
        return 2
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
        "cosim: FedAvg-like rounds per wall second of the co-simulation clock for 10, 100, 1000 clients",
    )
    p.add_argument("which", choices=["bridge", "reset", "parallel", "trace", "load", "ran", "split", "cosim"], help="which benchmark to run")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--iterations", type=int, default=20_000, help="bridge: exchanges per size (default 20000)")
    p.add_argument("--seconds", type=float, default=4.0, help="parallel: seconds per count (default 4)")
    p.add_argument("--detail", choices=["summary", "full"], default="summary",
                   help="trace: detail level of the traced run (default summary)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser(
        "demo",
        help="train PPO briefly on a scenario and print how it compares with the baselines",
        description="link (default): PPO on ns6g/LinkControl-v0 (UDP rate control over a real ns-3 "
        "bottleneck shared with on/off cross traffic) against every fixed sending rate and a random policy. "
        "ran: PPO on ns6g/SpectrumAllocation-v0 (RBG allocation in a 6G cell) against round-robin, "
        "proportional-fair and max-rate scheduling. split: PPO on ns6g/SplitInference-v0 (DNN split and "
        "offload target per task) against all-local, all-edge, random and the greedy Neurosurgeon split. All evaluate on held-out seeds and write the agent, "
        "per-episode results, a summary, traced evaluation runs and an HTML report to --out.",
    )
    p.add_argument("which", nargs="?", choices=["link", "ran", "split"], default="link",
                   help="which demo (default link)")
    p.add_argument("--timesteps", type=int, default=30_000, help="PPO training steps (default 30000)")
    p.add_argument("--n-envs", type=int, default=4, help="parallel scenario processes for training (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of training and evaluation (default 0)")
    p.add_argument("--eval-seeds", type=int, default=5, help="held-out evaluation episodes (default 5)")
    p.add_argument("--out", type=Path, default=None,
                   help="run directory to create (default runs/demo-<demo>-<UTC date-time>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_demo)

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

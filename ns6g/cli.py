"""The ``ns6g`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

DESCRIPTION = """\
ns6g: an ns-3-coupled network emulation testbed for 6G edge learning.

commands:
  build      compile the ns-3 scenarios against the installed ns3 wheel (cached; a repeat is a no-op)
  bench      measure the bridge against a socket transport (bridge)
  envs       list the registered Gymnasium environments
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

    run, fmt = {
        "bridge": (lambda: bench.bench_bridge(iterations=args.iterations, progress=not args.json), bench.format_bridge),
    }[args.which]
    result = run()
    print(json.dumps(result) if args.json else fmt(result))
    return 0


def _cmd_envs(args: argparse.Namespace) -> int:
    import gymnasium as gym

    import ns6g.envs

    for env_id in ns6g.envs.ENV_IDS:
        spec = gym.spec(env_id)
        print(f"{env_id:<24} {spec.entry_point}")
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

    p = sub.add_parser("bench", help="benchmarks: bridge round trip against a socket transport")
    p.add_argument("which", choices=["bridge"], help="which benchmark to run")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--iterations", type=int, default=20_000, help="bridge: exchanges per size (default 20000)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("envs", help="list the registered Gymnasium environments")
    p.set_defaults(func=_cmd_envs)

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

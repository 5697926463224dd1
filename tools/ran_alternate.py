"""Side-by-side speed of ran-spectrum binaries on ``ns6g bench ran``'s workload, alternated so that every
binary sees the same machine.

    python tools/ran_alternate.py --rounds 3 --start 0.5 --window 1.0 --ues 100,1000 before=PATH after=PATH

Each round runs every binary in turn (the order reversed every other round) for every UE count: reset
with the bench's seed, the first step, steps up to ``--start`` simulated s, then ``--window`` simulated s
timed. Prints every run's simulated s per wall s and the median per binary.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ns6g.apps.bench import _ran_running, _ran_timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binaries", nargs="+", metavar="NAME=PATH", help="ran-spectrum binaries to compare")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--start", type=float, default=0.5, help="simulated s before the timed window")
    parser.add_argument("--window", type=float, default=1.0, help="simulated s timed")
    parser.add_argument("--ues", default="100,1000", help="comma-separated UE counts")
    args = parser.parse_args()
    binaries = dict(b.split("=", 1) for b in args.binaries)
    ues = [int(n) for n in args.ues.split(",")]
    rates: dict[tuple[int, str], list[float]] = {}
    for r in range(args.rounds):
        order = list(binaries) if r % 2 == 0 else list(binaries)[::-1]
        for n in ues:
            for name in order:
                with _ran_running(n, Path(binaries[name])) as (bridge, action, _):
                    _, _, sim, wall = _ran_timed(bridge, action, args.start, args.window)
                rates.setdefault((n, name), []).append(sim / wall)
                print(f"round {r} ues {n} {name}: {sim / wall:.3f}", flush=True)
    for (n, name), v in sorted(rates.items()):
        print(f"{n:>5} {name:>10}: median {np.median(v):.3f}  all {' '.join(f'{x:.3f}' for x in v)}")


if __name__ == "__main__":
    main()

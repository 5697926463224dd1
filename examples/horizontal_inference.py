"""Decentralised horizontal collaborative inference over D2D neighbours (paper 003 Section IV): task
latency against the number of neighbours for the partitioners, and latency, deadline misses and
reassignments against the churn rate. Writes docs/figures/horizontal-inference.png and prints the tables
of docs/horizontal-inference.md.

    nice -n 10 python examples/horizontal_inference.py [--frames 32] [--max-neighbours 8] [--seeds 1,2,3]
        [--out docs/figures/horizontal-inference.png]

A Raspberry Pi 4 requester, neighbours cycling through Jetson Nano, smartphone and Raspberry Pi 4, all
within 50 m, ResNet-18 (fp32) on every node; the sidelink at its defaults (5.9 GHz, 20 MHz, mode 1).
Every input and result crosses the ns-3 sidelink as a flow of its true size. Same seeds, same numbers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ns6g.learners.horizontal import run_horizontal

DEVICES = ("jetson-nano", "smartphone", "raspberry-pi-4")
PARTITIONERS = ("local", "equal", "proportional")


def mean_over_seeds(cfg: dict, seeds: list[int]) -> dict[str, float]:
    tables = [run_horizontal(cfg, seed=s).table() for s in seeds]
    rows = [row for t in tables for _, row in t.iterrows()]
    return {"latency_ms": 1e3 * float(np.mean([r["latency_s"] for r in rows])),
            "p95_ms": 1e3 * float(np.percentile([r["latency_s"] for r in rows], 95)),
            "missed": float(np.mean([r["missed"] for r in rows])),
            "reassigned": float(np.mean([r["reassigned"] for r in rows])),
            "requester_j": float(np.mean([r["requester_energy_j"] for r in rows])),
            "neighbours_j": float(np.mean([r["neighbour_energy_j"] for r in rows]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--max-neighbours", type=int, default=8)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--out", default="docs/figures/horizontal-inference.png")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    # tasks 4 s apart: even local inference (about 3 s for 32 frames) is done before the next arrives
    base = {"frames": args.frames, "neighbour_devices": DEVICES, "tasks": 3, "task_period_s": 4.0,
            "deadline_s": 0.1, "requester_computes": False}

    ks = list(range(1, args.max_neighbours + 1))
    by_k: dict[str, list[float]] = {p: [] for p in PARTITIONERS}
    print("| neighbours | " + " | ".join(f"{p} (ms)" for p in PARTITIONERS) + " | proportional: requester / "
          "neighbours energy (J) |")
    print("|---|" + "---|" * len(PARTITIONERS) + "---|")
    for k in ks:
        cells = []
        for p in PARTITIONERS:
            m = mean_over_seeds({**base, "neighbours": k, "partitioner": p}, seeds)
            by_k[p].append(m["latency_ms"])
            cells.append(f"{m['latency_ms']:.1f}")
        print(f"| {k} | " + " | ".join(cells) + f" | {m['requester_j']:.3f} / {m['neighbours_j']:.3f} |", flush=True)

    # churn: 4 neighbours, each leaving at `rate` per second of presence and absent a quarter as long on
    # average (present 80 % of the time at every rate); a task every 0.5 s
    rates = [0.0, 0.3, 1.0, 3.0, 10.0, 30.0]
    # (Jetson Nanos and smartphones only: a Raspberry Pi neighbour's equal share alone outlasts the period)
    churned = {**base, "neighbours": 4, "tasks": 20, "task_period_s": 0.5, "neighbour_devices": DEVICES[:2]}
    by_rate: dict[str, dict[str, list[float]]] = {p: {"latency_ms": [], "p95_ms": [], "missed": [], "reassigned": []}
                                                  for p in ("equal", "proportional")}
    print("\n| leaves per neighbour-second | partitioner | mean latency (ms) | p95 (ms) | deadline missed | "
          "reassigned subtasks per task |")
    print("|---|---|---|---|---|---|")
    for rate in rates:
        churn = {"churn": "none"} if rate == 0 else {"churn": "exponential", "mean_on_s": 1 / rate,
                                                             "mean_off_s": 0.25 / rate}
        for p in by_rate:
            m = mean_over_seeds({**churned, **churn, "partitioner": p}, seeds)
            for key in by_rate[p]:
                by_rate[p][key].append(m[key])
            print(f"| {rate:g} | {p} | {m['latency_ms']:.1f} | {m['p95_ms']:.1f} | {m['missed']:.2f} | "
                  f"{m['reassigned']:.2f} |", flush=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_k, ax_c, ax_f) = plt.subplots(1, 3, figsize=(15, 4.4))
    colour = {"local": "C0", "equal": "C1", "proportional": "C2"}
    for p, marker in zip(PARTITIONERS, "os^"):
        ax_k.plot(ks, by_k[p], marker=marker, color=colour[p], label=p)
    ax_k.set_xlabel("D2D neighbours (requester sends all frames; local: it runs them)")
    ax_k.set_ylabel("task latency (ms, mean)")
    ax_k.set_yscale("log")
    x = [max(r, 0.1) for r in rates]
    for p, marker in zip(by_rate, "s^"):
        ax_c.plot(x, by_rate[p]["latency_ms"], marker=marker, color=colour[p], label=f"{p}: mean")
        ax_c.plot(x, by_rate[p]["p95_ms"], marker=marker, color=colour[p], linestyle="--",
                  label=f"{p}: 95th percentile")
        ax_f.plot(x, by_rate[p]["missed"], marker=marker, color=colour[p], label=f"{p}: deadline missed (fraction)")
        ax_f.plot(x, by_rate[p]["reassigned"], marker=marker, color=colour[p], linestyle="--",
                  label=f"{p}: reassigned subtasks / task")
    ax_f.set_yscale("symlog", linthresh=0.1)
    for ax in (ax_c, ax_f):
        ax.set_xscale("log")
        ax.set_xlabel("churn: leaves per neighbour-second, 80 % presence (0 at 0.1)")
    ax_c.set_ylabel("task latency (ms)")
    ax_c.set_yscale("log")
    ax_f.set_ylabel("per task")
    for ax in (ax_k, ax_c, ax_f):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Horizontal inference: ResNet-18, {args.frames} frames per task, Raspberry Pi 4 requester, "
                 f"neighbours {', '.join(DEVICES)} in turn (churn: 4, the first two kinds),\n"
                 f"D2D sidelink 20 MHz at 5.9 GHz (mode 1), all within 50 m; deadline 100 ms; seeds {args.seeds}",
                 fontsize=10)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

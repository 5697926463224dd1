"""Multi-hop split learning over the co-simulated network: simulated time per inner iteration against the
number of segments K and the micro-batches M (plain M = 1, pipelined M > 1), and test accuracy against
simulated time, plain against pipelined. Writes docs/figures/multihop-split.png and prints the tables of
docs/multihop-split.md.

    nice -n 10 python examples/multihop_split.py [--rounds 4] [--out docs/figures/multihop-split.png]

Left panel: profile mode (the same operations as training, no PyTorch work), 2 clients, mini-batches of
240 samples (3 inner iterations per round), the sequential schedule. Right panel: training, K = 3
segments (client -> edge/0 -> regional), parallel schedule, 2 clients, mini-batches of 64. Every network
setting is FlNetworkConfig's default (docs/cosim.md) except where the table says so; ns-3 seed 1.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
from ns6g.learners.engine import FlJob

CHAINS = {2: [2], 3: [2, 4], 4: [2, 4, 5]}  # segments K -> cuts of small_cnn (client, edge/0, regional, cloud)
MICRO = (1, 2, 4, 8)
BASE = {"protocol": "multihop-sl", "clients": 2, "seed": 0, "torch_device": "cpu"}


def time_per_iteration(segments: int, micro: int, net_config: FlNetworkConfig) -> float:
    """Simulated seconds per inner iteration (the round's time over its iterations; the round's model
    upload and download included), profile mode."""
    config = {**BASE, "batch_size": 240, "rounds": 1, "mode": "profile",
              "protocol_options": {"cuts": CHAINS[segments], "pipeline": micro, "schedule": "sequential"}}
    with CoSimNetwork(net_config, seed=1) as net:
        job = FlJob(config, network=net)
        record = job.run_round()
        iterations = max(len(job.batches(c, 0)) for c in range(BASE["clients"]))
    return record.duration_s / iterations


def accuracy_curve(micro: int, rounds: int, net_config: FlNetworkConfig) -> list[tuple[float, float]]:
    config = {**BASE, "batch_size": 64, "rounds": rounds,
              "protocol_options": {"cuts": CHAINS[3], "pipeline": micro, "schedule": "parallel"}}
    with CoSimNetwork(net_config, seed=1) as net:
        result = FlJob(config, network=net).run()
    return [(0.0, math.nan)] + [(r.end_s, r.test_accuracy) for r in result.rounds]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--out", default="docs/figures/multihop-split.png")
    args = ap.parse_args()
    torch.set_num_threads(1)
    networks = {
        "default links": FlNetworkConfig(clients=BASE["clients"], edges=1),
        "slow server links (20 Mbit/s regional, WAN)": FlNetworkConfig(
            clients=BASE["clients"], edges=1, regional_link_rate_mbps=20.0, wan_rate_mbps=20.0),
    }
    times: dict[tuple[str, int], list[float]] = {}
    print("simulated time per inner iteration (ms), sequential schedule, 2 clients, batch 240")
    print(f"{'network':44s} {'K':>2s} " + " ".join(f"{'M=' + str(m):>8s}" for m in MICRO))
    for name, net_config in networks.items():
        for segments in CHAINS:
            times[name, segments] = [time_per_iteration(segments, m, net_config) for m in MICRO]
            print(f"{name:44s} {segments:2d} " + " ".join(f"{1e3 * t:8.1f}" for t in times[name, segments]))
    net_config = networks["slow server links (20 Mbit/s regional, WAN)"]
    curves = {m: accuracy_curve(m, args.rounds, net_config) for m in (1, 4)}
    print("\ntest accuracy against simulated time, K = 3, parallel schedule, batch 64, slow server links")
    for m, curve in curves.items():
        print(f"M={m}: " + ", ".join(f"{t:.2f} s: {a:.3f}" for t, a in curve[1:]))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.8))
    styles = {"default links": "-", "slow server links (20 Mbit/s regional, WAN)": "--"}
    for (name, segments), values in times.items():
        left.plot(MICRO, [1e3 * v for v in values], styles[name], marker="o",
                  label=f"K={segments}, {name}", color=f"C{segments - 2}")
    left.set_xscale("log", base=2)
    left.set_xticks(list(MICRO), [str(m) for m in MICRO])
    left.set_yscale("log")
    left.set_xlabel("micro-batches M per mini-batch (1 = plain)")
    left.set_ylabel("simulated time per inner iteration (ms)")
    left.set_title("sequential multi-hop SL, 2 clients, batch 240", fontsize=9)
    left.grid(alpha=0.3, which="both")
    left.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    for m, curve in curves.items():
        right.plot([t for t, _ in curve[1:]], [a for _, a in curve[1:]], marker="o",
                   label="plain (M=1)" if m == 1 else f"pipelined (M={m})")
    right.set_xlabel("simulated time (s)")
    right.set_ylabel("test accuracy")
    right.set_title("K=3 (client, edge/0, regional), parallel, 2 clients, batch 64,\nslow server links; "
                    "one point per round", fontsize=9)
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

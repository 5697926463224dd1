"""Compression that changes bytes on the wire: FedAvg on digits with each method of
ns6g.learners.wire (int8, top-k, magnitude pruning, low-rank updates, partial updates, distillation),
test accuracy against the bytes sent and against simulated time. Writes docs/figures/compression.png
and prints the table of docs/compression.md.

    nice -n 10 python examples/compression.py [--rounds 10] [--clients 4] [--seed 0] [--network cosim|none]
        [--out docs/figures/compression.png]

``--network cosim`` (default): the ns-3 co-simulation (one 20 MHz cell, FlNetworkConfig defaults), where
bytes take air time; ``none``: NoNetwork (transfers take no time; simulated time is compute only).
Same seed, same numbers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from ns6g.learners.engine import FlJob

BASE = {"protocol": "fedavg", "batch_size": 16, "learning_rate": 0.05, "momentum": 0.9, "torch_device": "cpu"}


def student(num_classes: int, in_channels: int, image_size: int) -> nn.Sequential:
    """The distillation student: one hidden layer of 32 units (9.6 kB against small_cnn's 90 kB)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, 32), nn.ReLU(),
                         nn.Linear(32, num_classes))


#: label -> the job's compression settings
METHODS: dict[str, dict] = {
    "fp32 (none)": {},
    "int8": {"quantization": "int8"},
    "top-k 10%": {"topk_fraction": 0.1},
    "prune 50%": {"compression": {"prune_fraction": 0.5}},
    "prune 80% + int8": {"quantization": "int8", "compression": {"prune_fraction": 0.8}},
    "low-rank r=2": {"compression": {"lowrank_rank": 2}},
    "low-rank 90% energy + int8": {"quantization": "int8", "compression": {"lowrank_energy": 0.9}},
    "partial: last 2 layers": {"compression": {"partial_last": 2}},
    "distil: 32-unit MLP student": {"compression": {"distill_student": "__main__:student"}},
}


def network_for(kind: str, clients: int):
    if kind == "none":
        return None
    from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig

    return CoSimNetwork(FlNetworkConfig(clients=clients, edges=1), seed=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--network", choices=["none", "cosim"], default="cosim")
    ap.add_argument("--out", default="docs/figures/compression.png")
    args = ap.parse_args()
    torch.set_num_threads(1)
    curves: dict[str, tuple[list[float], list[float], list[float]]] = {}
    print(f"| method | final accuracy | uplink kB per round | downlink kB per round | simulated s ({args.rounds} rounds) |")
    print("|---|---|---|---|---|")
    for label, settings in METHODS.items():
        net = network_for(args.network, args.clients)
        try:
            cfg = {**BASE, **settings, "clients": args.clients, "rounds": args.rounds, "seed": args.seed}
            result = FlJob(cfg, network=net).run()
        finally:
            if net is not None:
                net.close()
        rounds = result.rounds
        sent, total = [], 0
        for r in rounds:
            total += r.uplink_bytes + r.downlink_bytes
            sent.append(total / 1e6)
        curves[label] = ([r.test_accuracy for r in rounds], sent, [r.end_s for r in rounds])
        up = sum(r.uplink_bytes for r in rounds) / len(rounds) / 1e3
        down = sum(r.downlink_bytes for r in rounds) / len(rounds) / 1e3
        print(f"| {label} | {rounds[-1].test_accuracy:.3f} | {up:.1f} | {down:.1f} | {rounds[-1].end_s:.3f} |",
              flush=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_b, ax_t) = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    markers = "os^vDP*Xh"
    for (label, (acc, sent, time_s)), marker in zip(curves.items(), markers):
        ax_b.plot(sent, acc, marker=marker, markersize=4, label=label)
        ax_t.plot(time_s, acc, marker=marker, markersize=4, label=label)
    ax_b.set_xscale("log")
    ax_b.set_xlabel("bytes on the wire so far, up + down (MB, log)")
    ax_t.set_xlabel("simulated time (s)" + ("" if args.network == "cosim" else ", compute only (no network)"))
    ax_b.set_ylabel("test accuracy")
    where = "ns-3 cell, 20 MHz" if args.network == "cosim" else "NoNetwork"
    fig.suptitle(f"FedAvg, small_cnn on digits, {args.clients} clients, {args.rounds} rounds, {where}, seed {args.seed}",
                 fontsize=10)
    for ax in (ax_b, ax_t):
        ax.grid(alpha=0.3)
    ax_t.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

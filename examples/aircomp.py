"""Over-the-air aggregation against digital uplinks: FedAvg on digits over the ns-3 cell with its uploads
as ns-3 flows (``fedavg``) or as one analog AirComp sum (``fedavg-aircomp``) at several receive SNRs;
test accuracy against rounds and against simulated time, and the simulated round time against the number
of clients (profile mode). Writes docs/figures/aircomp.png and prints the tables of docs/aircomp.md.

    nice -n 10 python examples/aircomp.py [--rounds 10] [--clients 8] [--snrs -30,-20,-10,0,20] [--seed 0]
        [--sizes 2,4,8,16,32] [--out docs/figures/aircomp.png]

The cell is FlNetworkConfig's default (one 20 MHz cell at 3.5 GHz, radius 100 m, UMi, clients at
23 dBm); the AirComp upload uses all 51 RBs. Same seed, same numbers.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch

from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
from ns6g.learners.engine import FlJob

BASE = {"batch_size": 16, "learning_rate": 0.05, "momentum": 0.9, "torch_device": "cpu"}


def run(protocol: str, clients: int, rounds: int, seed: int, options: dict | None = None,
        mode: str = "train") -> list:
    cfg = {**BASE, "protocol": protocol, "clients": clients, "rounds": rounds, "seed": seed, "mode": mode}
    if options is not None:
        cfg["protocol_options"] = options
    with CoSimNetwork(FlNetworkConfig(clients=clients, edges=1), seed=seed + 1) as net:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # rounds with every client truncated: in the table
            return FlJob(cfg, network=net).run().rounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--snrs", default="-30,-20,-10,0,20", help="AirComp receive SNRs (dB), comma-separated")
    ap.add_argument("--sizes", default="2,4,8,16,32", help="client counts of the round-time panel")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/figures/aircomp.png")
    args = ap.parse_args()
    torch.set_num_threads(1)
    snrs = [float(s) for s in args.snrs.split(",")]
    curves: dict[str, list] = {"FedAvg, digital uplinks": run("fedavg", args.clients, args.rounds, args.seed)}
    for snr in snrs:
        curves[f"AirComp, SNR {snr:g} dB"] = run("fedavg-aircomp", args.clients, args.rounds, args.seed,
                                                  {"snr_db": snr})
    print(f"| uplink | final accuracy | mean round (s) | uplink air time per round (ms) | transmitting / truncated "
          f"clients per round |")
    print("|---|---|---|---|---|")
    for label, rounds in curves.items():
        mean_round = np.mean([r.duration_s for r in rounds])
        if rounds[0].extras:
            air = f"{1e3 * np.mean([r.extras['air_time_s'] for r in rounds]):.1f}"
            who = (f"{np.mean([r.extras['transmitting_clients'] for r in rounds]):.2f} / "
                   f"{np.mean([r.extras['truncated_clients'] for r in rounds]):.2f}")
        else:
            air = f"{1e3 * np.mean([max(d.uplink_s for n, d in r.devices.items() if n.startswith('client/')) for r in rounds]):.1f}"
            who = f"{np.mean([len(r.participants) for r in rounds]):.2f} / 0"
        print(f"| {label} | {rounds[-1].test_accuracy:.3f} | {mean_round:.4f} | {air} | {who} |", flush=True)

    sizes = [int(s) for s in args.sizes.split(",")]
    air_label = f"AirComp, SNR {snrs[-1]:g} dB"
    round_time: dict[str, list[float]] = {"FedAvg, digital uplinks": [], air_label: []}
    upload_time: dict[str, list[float]] = {"FedAvg, digital uplinks": [], air_label: []}
    print("\n| clients | FedAvg round (s) | FedAvg upload phase (ms) | AirComp round (s) | AirComp air time (ms) |")
    print("|---|---|---|---|---|")
    for n in sizes:
        digital = run("fedavg", n, 2, args.seed, mode="profile")
        analog = run("fedavg-aircomp", n, 2, args.seed, {"snr_db": snrs[-1]}, mode="profile")
        round_time["FedAvg, digital uplinks"].append(float(np.mean([r.duration_s for r in digital])))
        round_time[air_label].append(float(np.mean([r.duration_s for r in analog])))
        # the upload phase: FedAvg's longest client upload (they share the cell's uplink), AirComp's air time
        upload_time["FedAvg, digital uplinks"].append(float(np.mean(
            [max(d.uplink_s for k, d in r.devices.items() if k.startswith("client/")) for r in digital])))
        upload_time[air_label].append(float(np.mean([r.extras["air_time_s"] for r in analog])))
        print(f"| {n} | {round_time['FedAvg, digital uplinks'][-1]:.4f} | "
              f"{1e3 * upload_time['FedAvg, digital uplinks'][-1]:.1f} | {round_time[air_label][-1]:.4f} | "
              f"{1e3 * upload_time[air_label][-1]:.1f} |", flush=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_r, ax_t, ax_n) = plt.subplots(1, 3, figsize=(15, 4.4))
    markers = "os^vDP*X"
    for (label, rounds), marker in zip(curves.items(), markers):
        acc = [r.test_accuracy for r in rounds]
        ax_r.plot([r.round + 1 for r in rounds], acc, marker=marker, markersize=4, label=label)
        ax_t.plot([r.end_s for r in rounds], acc, marker=marker, markersize=4, label=label)
    ax_r.set_xlabel("round")
    ax_t.set_xlabel("simulated time (s)")
    ax_t.set_xscale("log")
    for ax in (ax_r, ax_t):
        ax.set_ylabel("test accuracy")
    for (label, times), marker, color in zip(round_time.items(), "os", ("C0", "k")):
        ax_n.plot(sizes, times, marker=marker, color=color, label=f"{label}: round")
        ax_n.plot(sizes, upload_time[label], marker=marker, color=color, linestyle="--",
                  label=f"{label}: upload" + (" (air time)" if "AirComp" in label else " (longest client)"))
    ax_n.set_xscale("log", base=2)
    ax_n.set_yscale("log")
    ax_n.set_xlabel("clients")
    ax_n.set_ylabel("simulated time per round (s, profile mode)")
    for ax in (ax_r, ax_t, ax_n):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"FedAvg vs AirComp, small_cnn on digits, ns-3 cell (20 MHz, 3.5 GHz, UMi, r = 100 m), "
                 f"{args.clients} clients, {args.rounds} rounds, seed {args.seed}", fontsize=10)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

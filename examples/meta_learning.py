"""Federated meta-learning on new clients: accuracy after k local SGD steps (k = 0, 1, 2, 5, 10) from the
initialisation learned by Reptile, TinyReptile (serial) and FedAvg, on label-skewed digits clients that
never took part in training. Writes docs/figures/meta-learning.png and prints the table of
docs/meta-learning.md.

    nice -n 10 python examples/meta_learning.py [--seeds 3] [--rounds 30] [--network none|cosim]
        [--out docs/figures/meta-learning.png]

Every number comes from ns6g.learners.adaptation.train_and_adapt; same seeds, same numbers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ns6g.learners.adaptation import DEFAULT_STEPS, train_and_adapt

CLIENTS, HELD_OUT = 20, 5  # clients 15..19 never train
BASE = {"clients": CLIENTS, "partition": "shards", "shards_per_client": 2, "batch_size": 16,
        "learning_rate": 0.05, "momentum": 0.9, "torch_device": "cpu"}
#: protocol -> (label, the job's own settings); each client does 5 local steps per round in all three
CONTENDERS = {
    "fedavg": ("FedAvg (1 epoch = 4-5 steps)", {"local_epochs": 1}),
    "reptile": ("Reptile (k=5, epsilon 1 -> 0.25)",
                {"protocol_options": {"inner_steps": 5, "meta_step": 1.0, "meta_step_final": 0.25}}),
    "tinyreptile": ("TinyReptile, serial (k=5, epsilon 0.5 -> 0.05)",
                    {"protocol_options": {"inner_steps": 5, "meta_step": 0.5, "meta_step_final": 0.05}}),
}


def network_for(kind: str):
    if kind == "none":
        return None
    from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig

    return CoSimNetwork(FlNetworkConfig(clients=CLIENTS, edges=1), seed=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--network", choices=["none", "cosim"], default="none")
    ap.add_argument("--out", default="docs/figures/meta-learning.png")
    args = ap.parse_args()
    torch.set_num_threads(1)
    curves: dict[str, np.ndarray] = {}
    print(f"{'protocol':12s} " + " ".join(f"k={k:<5d}" for k in DEFAULT_STEPS) + " global_test_acc sim_time_s")
    for protocol, (_, settings) in CONTENDERS.items():
        rows = []
        for seed in range(args.seeds):
            net = network_for(args.network)
            try:
                res = train_and_adapt({**BASE, **settings, "protocol": protocol, "rounds": args.rounds, "seed": seed},
                                      HELD_OUT, DEFAULT_STEPS, network=net)
            finally:
                if net is not None:
                    net.close()
            rows.append([res.mean[k] for k in DEFAULT_STEPS])
            print(f"{protocol:12s} " + " ".join(f"{v:7.3f}" for v in rows[-1])
                  + f" {res.job.rounds[-1].test_accuracy:15.3f} {res.job.rounds[-1].end_s:10.3f}  (seed {seed})")
        curves[protocol] = np.array(rows)
        mean = curves[protocol].mean(axis=0)
        print(f"{protocol:12s} " + " ".join(f"{v:7.3f}" for v in mean) + "  (mean over seeds)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for protocol, (label, _) in CONTENDERS.items():
        c = curves[protocol]
        ax.errorbar(DEFAULT_STEPS, c.mean(axis=0), yerr=c.std(axis=0), marker="o", capsize=3, label=label)
    ax.set_xlabel("local SGD steps k on the new client's support set")
    ax.set_ylabel("query accuracy on new clients")
    ax.set_title(f"digits, {CLIENTS - HELD_OUT} training + {HELD_OUT} new label-skewed clients, "
                 f"{args.rounds} rounds\n(mean +- std over {args.seeds} seeds)", fontsize=9)
    ax.set_xticks(list(DEFAULT_STEPS))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

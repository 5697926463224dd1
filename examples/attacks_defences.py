"""Attacks and defences: FedAvg's test accuracy under poisoning by 30 % of the clients for each aggregation
rule, the server's reconstruction of SplitFed's smashed data against the cut layer, and FedAvg's accuracy
against the epsilon of client-level differential privacy. Writes docs/figures/attacks-defences.png,
docs/figures/inversion-vs-cut.png and docs/figures/dp-accuracy-epsilon.png and prints the tables of
docs/robustness.md.

    nice -n 10 python examples/attacks_defences.py [--seeds 3] [--rounds 10] [--parts attacks,inversion,dp]
        [--out-dir docs/figures]

Every number comes from FlJob (ns6g.learners.robust) and ns6g.learners.inversion; same seeds, same numbers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ns6g.learners.engine import FlJob
from ns6g.learners.inversion import psnr, smashed_data_inversion, ssim

CLIENTS = 10
BASE = {"protocol": "fedavg", "clients": CLIENTS, "batch_size": 16, "learning_rate": 0.05, "momentum": 0.9,
        "torch_device": "cpu"}
ATTACKS = {
    "no attack": None,
    "label flip": {"kind": "label_flip", "fraction": 0.3},
    "sign flip (x4)": {"kind": "sign_flip", "fraction": 0.3, "sign_scale": 4.0},
    "model replacement": {"kind": "model_replacement", "fraction": 0.3},
}
DEFENCES = {
    "mean (FedAvg)": {"aggregator": "mean"},
    "median": {"aggregator": "median"},
    "trimmed mean (beta 0.3)": {"aggregator": "trimmed_mean", "trim_beta": 0.3},
    "Krum (f 3)": {"aggregator": "krum", "krum_f": 3},
    "multi-Krum (f 3, m 5)": {"aggregator": "multi_krum", "krum_f": 3, "multi_krum_m": 5},
    "norm clip (0.5)": {"aggregator": "norm_clip", "clip_norm": 0.5},
}
INVERSION = {"protocol": "splitfed-v1", "clients": 4, "rounds": 3, "torch_device": "cpu"}
CUTS = (1, 2, 3, 4, 5)  # small_cnn: conv1 | pool1 | conv2 | pool2 | fc1 | fc2
CUT_NAMES = {1: "conv1+ReLU\n16x8x8", 2: "pool1\n16x4x4", 3: "conv2+ReLU\n32x4x4", 4: "pool2\n32x2x2",
             5: "fc1+ReLU\n128"}


def attack_table(seeds: int, rounds: int) -> np.ndarray:
    """acc[attack, defence, seed]: final test accuracy."""
    acc = np.zeros((len(ATTACKS), len(DEFENCES), seeds))
    print(f"{'attack':20s} " + " ".join(f"{d[:14]:>14s}" for d in DEFENCES))
    for i, attack in enumerate(ATTACKS.values()):
        for j, defence in enumerate(DEFENCES.values()):
            for s in range(seeds):
                cfg = {**BASE, "rounds": rounds, "seed": s, "defence": defence}
                if attack is not None:
                    cfg["attack"] = attack
                acc[i, j, s] = FlJob(cfg).run().final_accuracy
        name = list(ATTACKS)[i]
        print(f"{name:20s} " + " ".join(f"{m:8.3f}+-{sd:.3f}" for m, sd in zip(acc[i].mean(1), acc[i].std(1))))
    return acc


def inversion_table(seeds: int, samples: int, steps: int):
    """(psnr[cut, seed], ssim[cut, seed], baseline psnr, baseline ssim, images per cut of seed 0)."""
    p = np.zeros((len(CUTS), seeds))
    q = np.zeros((len(CUTS), seeds))
    images = {}
    base_p, base_q = [], []
    for i, cut in enumerate(CUTS):
        for s in range(seeds):
            job = FlJob({**INVERSION, "cut": cut, "seed": s})
            acc = job.run().final_accuracy
            res = smashed_data_inversion(job, samples=samples, steps=steps)
            p[i, s], q[i, s] = res.psnr_db, res.ssim
            if s == 0:
                images[cut] = (res.originals, res.reconstructions)
            if i == 0:  # no information: the data's mean (zero after standardisation), the attack's start
                x = res.originals
                rng = float(x.max() - x.min())
                base_p.append(psnr(x, torch.zeros_like(x), rng))
                base_q.append(ssim(x, torch.zeros_like(x), rng))
            print(f"cut {cut} seed {s}: test accuracy {acc:.3f}  PSNR {res.psnr_db:7.2f} dB  SSIM {res.ssim:.3f}")
    return p, q, float(np.mean(base_p)), float(np.mean(base_q)), images


NOISE = (0.0, 0.3, 0.6, 1.0, 2.0, 4.0)  # noise multipliers z of the DP sweep
DP_CLIP = 0.5


def dp_table(seeds: int, rounds: int) -> tuple[np.ndarray, list[float]]:
    """(acc[z, seed], epsilon per z at delta 1e-5)."""
    acc = np.zeros((len(NOISE), seeds))
    eps = []
    for i, z in enumerate(NOISE):
        for s in range(seeds):
            cfg = {**BASE, "rounds": rounds, "seed": s}
            if z > 0:
                cfg["privacy"] = {"noise_multiplier": z, "clip_norm": DP_CLIP, "delta": 1e-5}
            job = FlJob(cfg)
            acc[i, s] = job.run().final_accuracy
            e = job.protocol.epsilon(job)
        eps.append(e)
        print(f"z {z:4.1f}  clip {DP_CLIP}  epsilon {e:9.2f} (delta 1e-5)  accuracy {acc[i].mean():.3f} +- {acc[i].std():.3f}")
    return acc, eps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--samples", type=int, default=32, help="test images reconstructed per cut")
    ap.add_argument("--steps", type=int, default=500, help="Adam steps of the inversion")
    ap.add_argument("--parts", default="attacks,inversion,dp", help="comma-separated: attacks, inversion, dp")
    ap.add_argument("--out-dir", default="docs/figures")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    torch.set_num_threads(1)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "attacks" in parts:
        attack_figure(plt, args, out)
    if "inversion" in parts:
        inversion_figure(plt, args, out)
    if "dp" in parts:
        dp_figure(plt, args, out)


def dp_figure(plt, args, out: Path) -> None:
    acc, eps = dp_table(args.seeds, args.rounds)
    fig, ax = plt.subplots(figsize=(6, 4))
    finite = [i for i, z in enumerate(NOISE) if z > 0]
    ax.errorbar([eps[i] for i in finite], acc[finite].mean(1), yerr=acc[finite].std(1), marker="o", capsize=3,
                label=f"clip {DP_CLIP}, noise z on the mean")
    for i in finite:
        ax.annotate(f"z={NOISE[i]}", (eps[i], acc[i].mean()), textcoords="offset points", xytext=(5, 5), fontsize=7)
    ax.axhline(acc[0].mean(), color="grey", ls="--", lw=1, label="no DP (epsilon = inf)")
    ax.set_xscale("log")
    ax.set_xlabel("epsilon after the last round (delta 1e-5, opacus RDP accountant)")
    ax.set_ylabel(f"test accuracy after {args.rounds} rounds")
    ax.set_title(f"FedAvg with client-level DP, digits, {CLIENTS} clients (mean +- std over {args.seeds} seeds)",
                 fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "dp-accuracy-epsilon.png", dpi=120)
    print(f"wrote {out / 'dp-accuracy-epsilon.png'}")


def attack_figure(plt, args, out: Path) -> None:
    acc = attack_table(args.seeds, args.rounds)
    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.8 / len(DEFENCES)
    xs = np.arange(len(ATTACKS))
    for j, name in enumerate(DEFENCES):
        ax.bar(xs + (j - (len(DEFENCES) - 1) / 2) * width, acc[:, j].mean(1), width, yerr=acc[:, j].std(1),
               capsize=2, label=name)
    ax.set_xticks(xs, list(ATTACKS))
    ax.set_ylabel(f"test accuracy after {args.rounds} rounds")
    ax.set_ylim(0, 1)
    ax.axhline(0.1, color="grey", lw=0.8, ls=":")
    ax.set_title(f"FedAvg on digits, {CLIENTS} clients, 3 of them attackers (mean +- std over {args.seeds} seeds)",
                 fontsize=9)
    ax.legend(fontsize=7, ncol=3, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "attacks-defences.png", dpi=120)
    print(f"wrote {out / 'attacks-defences.png'}")


def inversion_figure(plt, args, out: Path) -> None:
    p, q, base_p, base_q, images = inversion_table(args.seeds, args.samples, args.steps)
    for i, cut in enumerate(CUTS):
        print(f"cut {cut}: PSNR {p[i].mean():7.2f} +- {p[i].std():.2f} dB  SSIM {q[i].mean():.3f} +- {q[i].std():.3f}")
    print(f"no information (the data mean): PSNR {base_p:.2f} dB  SSIM {base_q:.3f}")
    fig = plt.figure(figsize=(10, 4.2))
    grid = fig.add_gridspec(1, 2, width_ratios=[1.5, 1])
    ax = fig.add_subplot(grid[0])
    ax.errorbar(CUTS, q.mean(1), yerr=q.std(1), marker="o", capsize=3, color="C0", label="SSIM")
    ax.axhline(base_q, color="C0", ls=":", lw=1, label="SSIM of the data mean (no information)")
    ax.set_ylabel("SSIM (1: identical)", color="C0")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xticks(CUTS, [CUT_NAMES[c] for c in CUTS], fontsize=7)
    ax.set_xlabel("cut layer (smashed data the server sees)")
    cap = 50.0
    ax2 = ax.twinx()
    shown = np.minimum(p.mean(1), cap)
    ax2.plot(CUTS, shown, marker="s", color="C3", label="PSNR")
    ax.plot([], [], marker="s", color="C3", label="PSNR (right axis; dotted: the data mean's)")
    for c, v in zip(CUTS, p.mean(1)):
        if v > cap:
            ax2.annotate(f"{v:.0f} dB", (c, cap), textcoords="offset points", xytext=(6, -4), fontsize=7, color="C3")
    ax2.axhline(base_p, color="C3", ls=":", lw=1)
    ax2.set_ylabel(f"PSNR (dB, shown up to {cap:.0f})", color="C3")
    ax2.set_ylim(0, cap + 3)
    ax.set_title(f"white-box inversion of SplitFed V1 smashed data\n(digits, {args.samples} test images, "
                 f"{args.steps} Adam steps, mean +- std over {args.seeds} seeds)", fontsize=8)
    ax.legend(fontsize=7, loc="lower left")
    show = 4
    sub = grid[1].subgridspec(len(CUTS) + 1, show, hspace=0.15, wspace=0.05)
    originals = images[CUTS[0]][0]
    rows = [("input", originals)] + [(f"cut {c}", images[c][1]) for c in CUTS]
    lo, hi = float(originals.min()), float(originals.max())
    for r, (label, imgs) in enumerate(rows):
        for k in range(show):
            a = fig.add_subplot(sub[r, k])
            a.imshow(imgs[k, 0].numpy(), cmap="gray", vmin=lo, vmax=hi)
            a.set_xticks([])
            a.set_yticks([])
            if k == 0:
                a.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.tight_layout()
    fig.savefig(out / "inversion-vs-cut.png", dpi=120)
    print(f"wrote {out / 'inversion-vs-cut.png'}")


if __name__ == "__main__":
    main()

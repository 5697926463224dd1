"""Large-model inference split by transformer blocks across device / edge / cloud (ns6g.compute.transformer,
profile mode: no weights). Per token decode latency and device energy by placement for GPT-2 small and a
LLaMA-like 7B, and decode latency of a MoE GPT-2 against the experts active per token (A3SMoE's
resource-conditional activation). Writes docs/figures/llm-split.png and prints the tables of docs/llm-split.md.

    python examples/llm_split.py [--device smartphone] [--prompt 128] [--out docs/figures/llm-split.png]

Links are PlacementLinks' defaults (30 Mbit/s radio each way, 1.5 ms access delay, WAN 1000 Mbit/s and
20 ms one way; edge-gpu-server and cloud-gpu). Seconds of CPU; deterministic.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ns6g.compute.transformer import (
    conditional_top_k,
    evaluate_placement,
    parameter_count,
    placements,
    transformer_config,
)


def fmt_row(r: pd.Series) -> str:
    return (f"| {r.device_blocks}/{r.edge_blocks}/{r.cloud_blocks} | {1e3 * r.decode_s:.1f} | "
            f"{1e3 * r.prefill_s:.1f} | {1e3 * r.device_energy_j:.3g} | {r.device_memory_bytes / 2**30:.2f} | "
            f"{'yes' if r.fits else 'no: ' + r.infeasible.split(' (')[0]} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="smartphone")
    ap.add_argument("--prompt", type=int, default=128, help="prompt tokens (decode at the next position)")
    ap.add_argument("--out", default="docs/figures/llm-split.png")
    args = ap.parse_args()
    links = {"device": args.device}

    tables = {}
    for name in ("gpt2-small", "llama-7b"):
        cfg = transformer_config(name)
        df = placements(cfg, links, prompt_tokens=args.prompt)
        tables[name] = df
        print(f"\n{name}: {parameter_count(cfg) / 1e6:.1f} M parameters, {cfg.dtype_bytes} bytes each; "
              f"{len(df)} placements, {int(df.fits.sum())} fit (device {args.device})")
        print("| device/edge/cloud blocks | decode (ms/token) | prefill (ms) | device energy (mJ/token) | "
              "device memory (GiB) | fits |")
        print("|---|---|---|---|---|---|")
        L = cfg.layers
        picks = [(0, L), (0, 0), (L // 4, L), (L // 2, L), (L // 2, L // 2), (3 * L // 4, L), (L, L)]
        for a, b in picks:
            print(fmt_row(df[(df.device_blocks == a) & (df.edge_blocks == b - a)].iloc[0]))
        best = df[df.fits].sort_values(["decode_s", "device_energy_j"]).iloc[0]
        print(f"fastest feasible: {best.device_blocks}/{best.edge_blocks}/{best.cloud_blocks} at "
              f"{1e3 * best.decode_s:.1f} ms/token")

    moe = transformer_config("gpt2-small-moe8", top_k=8)  # every expert may be active; k lowered per node
    ks = list(range(1, moe.experts + 1))
    moe_rows = {}
    print("\ngpt2-small-moe8 (8 experts per block), all 12 blocks on the device: decode at position "
          f"{args.prompt}")
    print("| device | active experts | decode (ms/token) | device GFLOP/token | device energy (mJ/token) | "
          "expert capacity used (proxy) |")
    print("|---|---|---|---|---|---|")
    for dev in ("smartphone", "raspberry-pi-4"):
        rows = [evaluate_placement(moe, {"device_blocks": 12, "device_top_k": k}, {"device": dev},
                                   prompt_tokens=args.prompt) for k in ks]
        moe_rows[dev] = rows
        for k, r in zip(ks, rows):
            if k in (1, 2, 4, 8):
                print(f"| {dev} | {k} | {1e3 * r['decode_s']:.1f} | {r['device_flops'] / 1e9:.3f} | "
                      f"{1e3 * r['device_energy_j']:.3f} | {r['expert_capacity_used']:.3f} |")
        for budget_ms in (20.0, 200.0):
            k = conditional_top_k(moe, {"device_blocks": 12}, {"device": dev}, budget_s=budget_ms * 1e-3,
                                  prompt_tokens=args.prompt)
            print(f"  {dev}: latency budget {budget_ms:g} ms/token -> k = {k}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_l, ax_e, ax_m) = plt.subplots(1, 3, figsize=(16, 4.6))
    styles = {"gpt2-small": "tab:blue", "llama-7b": "tab:red"}
    for name, df in tables.items():
        L = int(df.device_blocks.max())
        for rest, ls, label in (("edge", "-", "rest on the edge"), ("cloud", "--", "rest in the cloud")):
            sel = df[df.cloud_blocks == 0] if rest == "edge" else df[df.edge_blocks == 0]
            sel = sel.sort_values("device_blocks")
            x = sel.device_blocks / L
            ax_l.plot(x, 1e3 * sel.decode_s, ls, color=styles[name], label=f"{name}, {label}")
            bad = sel[~sel.fits]
            ax_l.plot(bad.device_blocks / L, 1e3 * bad.decode_s, "x", color=styles[name])
        sel = df[df.cloud_blocks == 0].sort_values("device_blocks")
        ax_e.plot(sel.device_blocks / L, 1e3 * sel.device_energy_j, "-", color=styles[name], label=name)
        bad = sel[~sel.fits]
        if len(bad):
            ax_e.plot(bad.device_blocks / L, 1e3 * bad.device_energy_j, "x", color=styles[name],
                      label=f"{name}: does not fit the {args.device}")
    ax_l.set(xlabel="fraction of blocks on the device", ylabel="decode latency (ms / token)", yscale="log",
             title=f"per token latency by placement ({args.device}; x: does not fit)")
    ax_l.legend(fontsize=7)
    ax_e.set(xlabel="fraction of blocks on the device (rest on the edge)",
             ylabel="device energy (mJ / token)", yscale="log", title="device energy per token (compute + radio)")
    ax_e.legend(fontsize=7)
    for dev, rows in moe_rows.items():
        ax_m.plot(ks, [1e3 * r["decode_s"] for r in rows], "o-", label=f"{dev}: decode latency")
    ax_m.set(xlabel="active experts per token on the device (k)", ylabel="decode latency (ms / token)", yscale="log",
             title="MoE GPT-2 (8 experts), all blocks on the device")
    ax2 = ax_m.twinx()
    ax2.plot(ks, [r["expert_capacity_used"] for r in moe_rows["smartphone"]], "k:", label="expert capacity used (proxy)")
    ax2.set_ylabel("fraction of expert capacity used (quality proxy)")
    h1, l1 = ax_m.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax_m.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

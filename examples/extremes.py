"""6G extremes (docs/extremes.md): what breaks first at 500 km/h and with thousands of uplink devices.

    nice -n 10 python examples/extremes.py mobility [--speeds 3,30,120,300,500] [--steps 400]
        [--out docs/figures/extreme-mobility.png]
    nice -n 10 python examples/extremes.py massive [--devices 100,300,1000,2000,2500,3000,5000,8000] [--out docs/figures/massive-access.png]

mobility: (a) the compiled channel's fading autocorrelation against lag at each speed (7 GHz, RMa NLoS,
ns-3's Doppler) with the coherence time 0.423 / f_D; (b) BLER and goodput of link adaptation on a CQI
1 and 5 ms old against a fresh one (compiled PHY); (c) the high_speed_train configuration in the
SpectrumAllocation environment: handovers per second against speed, and the packets that miss their 20 ms
deadline when each handover interrupts the UE for 0, 30 or 100 ms. massive: the
massive_access configuration for each device count: delivered / offered, access delay, offered reports
per slot against the RBGs a slot holds, simulator speed. Configurations: ns6g/apps/presets/extremes.yml.
Same seed, same numbers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ns6g.apps import extremes  # noqa: E402

INTERRUPTIONS_MS = (0.0, 30.0, 100.0)  # handover interruption (assumed values: the model has none by default)
FREQ, STEP = 7e9, 0.1e-3  # 0.1 ms samples: the CQI ages of 1 and 5 ms are 10 and 50 samples


def mobility(args: argparse.Namespace) -> None:
    speeds = [float(s) for s in args.speeds.split(",")]
    lags = np.arange(1, 101)
    print("| speed (km/h) | f_D (Hz) | T_c (ms) | corr. 1 ms | BLER fresh CQI | BLER CQI 1 ms old | BLER 5 ms old "
          "| goodput fresh / 5 ms old (bit/s/Hz) | handovers/s | per UE per s | throughput / offered (Mbit/s) "
          "| mean SINR (dB) | packets missing 20 ms, interruption " + " / ".join(f"{t:g}" for t in INTERRUPTIONS_MS)
          + " ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    rows = []
    for v in speeds:
        g = extremes.fading_series(v, frequency_hz=FREQ, links=16, duration_s=0.06, step_s=STEP)
        rho = [extremes.fading_autocorrelation(g, int(k)) for k in lags]
        tc = extremes.coherence_time_s(v * extremes.KMH, FREQ)
        ax[0].plot(lags * STEP * 1e3, rho, label=f"{v:g} km/h (T_c {tc * 1e3:.2g} ms)")
        s1, s5 = extremes.stale_cqi(g, 10), extremes.stale_cqi(g, 50)
        runs = [extremes.high_speed_run(v, steps=args.steps, handover_interruption_ms=t) for t in INTERRUPTIONS_MS]
        run = runs[0]
        rows.append((v, s1, s5, run, runs))
        print(f"| {v:g} | {extremes.max_doppler_hz(v * extremes.KMH, FREQ):.0f} | {tc * 1e3:.3g} | {rho[9]:.2f} "
              f"| {s1['fresh_bler']:.3f} | {s1['stale_bler']:.3f} | {s5['stale_bler']:.3f} "
              f"| {s5['fresh_goodput']:.2f} / {s5['stale_goodput']:.2f} | {run['handovers_per_s']:.1f} "
              f"| {run['handovers_per_ue_per_s']:.2f} | {run['throughput_mbps']:.1f} / {run['offered_mbps']:.0f} "
              f"| {run['mean_sinr_db']:.1f} | " + " / ".join(f"{r['deadline_miss_fraction']:.3f}" for r in runs)
              + " |", flush=True)
    ax[0].axhline(0.5, color="grey", lw=0.5)
    ax[0].axvline(0.5, color="grey", ls=":", lw=1)
    ax[0].text(0.55, 0.9, "slot (0.5 ms)", fontsize=8)
    ax[0].set(xlabel="lag (ms)", ylabel="power-gain autocorrelation", title="(a) fading at 7 GHz (ns-3 38.901, RMa NLoS)")
    ax[0].legend(fontsize=8)
    v = [r[0] for r in rows]
    ax[1].plot(v, [r[1]["fresh_bler"] for r in rows], "o-", label="fresh CQI")
    ax[1].plot(v, [r[1]["stale_bler"] for r in rows], "s-", label="CQI 1 ms old")
    ax[1].plot(v, [r[2]["stale_bler"] for r in rows], "^-", label="CQI 5 ms old")
    ax[1].axhline(0.1, color="grey", lw=0.5)
    ax[1].set(xlabel="speed (km/h)", ylabel="first-transmission BLER", title="(b) stale CQI (10 % target)")
    ax[1].legend(fontsize=8)
    ax2 = ax[2].twinx()
    ax[2].plot(v, [r[3]["handovers_per_s"] for r in rows], "o-", color="k", label="handovers/s (21 UEs)")
    for k, t in enumerate(INTERRUPTIONS_MS):
        ax2.plot(v, [100 * r[4][k]["deadline_miss_fraction"] for r in rows], "s--", color=f"C{k}",
                 label=f"missed 20 ms, interruption {t:g} ms")
    ax[2].set(xlabel="speed (km/h)", ylabel="handovers per second", title="(c) high_speed_train, 7 cells, 2 s")
    ax2.set_ylabel("packets missing their 20 ms deadline (%)")
    ax[2].legend(loc="upper left", fontsize=8)
    ax2.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


def massive(args: argparse.Namespace) -> None:
    counts = [int(s) for s in args.devices.split(",")]
    print("| devices | devices/km^2 | offered reports/slot | RBGs/slot | delivered in 100 ms | late | lost "
          "| delay p50 / p95 (ms) | RACH collision (analytical) | sim s per wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for n in counts:
        r = extremes.run_massive_access(extremes.load_extreme("massive_access", devices=n))
        rows.append(r)
        print(f"| {n} | {r['devices_per_km2']:.3g} | {r['offered_per_slot']:.2f} | {r['rbgs_per_slot']} "
              f"| {r['delivered_fraction']:.3f} | {r['late']} | {r['lost']} | {r['delay_p50_ms']:.1f} / "
              f"{r['delay_p95_ms']:.1f} | {r['rach_collision_probability']:.2f} | {r['sim_per_wall']:.3g} |",
              flush=True)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    n = np.array(counts)
    ax[0].plot(n, [r["delivered_fraction"] for r in rows], "o-", label="delivered within 100 ms")
    ax[0].plot(n, [r["rach_collision_probability"] for r in rows], "s--", label="RACH collision (analytical)")
    ax[0].set(xscale="log", xlabel="devices in the cell", ylabel="fraction", ylim=(-0.02, 1.02),
              title="(a) delivered / offered")
    ax[0].legend(fontsize=8)
    ax[1].plot(n, [r["delay_p50_ms"] for r in rows], "o-", label="median")
    ax[1].plot(n, [r["delay_p95_ms"] for r in rows], "s-", label="95th percentile")
    ax[1].set(xscale="log", yscale="log", xlabel="devices in the cell", ylabel="access delay (ms)",
              title="(b) report delay (arrived reports)")
    ax[1].legend(fontsize=8)
    ax[2].plot(n, [r["offered_per_slot"] for r in rows], "o-", label="offered reports per slot")
    ax[2].axhline(rows[0]["rbgs_per_slot"], color="C3", ls="--", label="RBGs per slot (max grants)")
    ax3 = ax[2].twinx()
    ax3.plot(n, [r["sim_per_wall"] for r in rows], "^:", color="C2", label="simulated s per wall s")
    ax3.set_ylabel("simulated s per wall-clock s")
    ax3.set_yscale("log")
    ax[2].set(xscale="log", yscale="log", xlabel="devices in the cell", title="(c) grants needed vs held; simulator speed")
    ax[2].legend(loc="upper left", fontsize=8)
    ax3.legend(loc="lower left", fontsize=8)
    fig.suptitle("massive_access: 100-byte reports every 100 ms per device, one 20 MHz cell at 3.5 GHz of radius 50 m "
                 f"({counts[-1]} devices = {rows[-1]['devices_per_km2']:.2g} devices/km$^2$)", fontsize=10)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    m = sub.add_parser("mobility")
    m.add_argument("--speeds", default="3,30,120,300,500")
    m.add_argument("--steps", type=int, default=400, help="decisions of 5 ms per speed")
    m.add_argument("--out", default="docs/figures/extreme-mobility.png")
    a = sub.add_parser("massive")
    a.add_argument("--devices", default="100,300,1000,2000,2500,3000,5000,8000")
    a.add_argument("--out", default="docs/figures/massive-access.png")
    args = ap.parse_args()
    (mobility if args.what == "mobility" else massive)(args)


if __name__ == "__main__":
    main()

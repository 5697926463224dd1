"""Draw docs/validation.md's figures from the fl-network scenario (about a minute on 2 cores):

    .venv/bin/python docs/figures/validation.py

Each figure sets what the network does beside what the 3GPP formulas or the configuration imply."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
from ns6g.learners.network import Transfer, client, edge
from ns6g.radio.phy import carrier, tbs_bits

OUT = Path(__file__).resolve().parent
SLOT_S = 0.5e-3
CARRIER = carrier(20e6, 1, 3.5e9)


def upload_alone(net: CoSimNetwork, i: int, nbytes: int):
    (done,) = net.run(net.submit([Transfer(client(i), edge(0), nbytes, "up")]))
    return done


def rate_against_rsrp() -> None:
    """Rated and achieved uplink goodput of clients from the cell centre to beyond its edge."""
    rsrp, rated, achieved, failed = [], [], [], []
    for seed in tqdm(range(1, 5), desc="rate against RSRP"):
        with CoSimNetwork(FlNetworkConfig(clients=30, cell_radius_m=2000), seed=seed) as net:
            state = net.channel_state()
            for i in range(30):
                done = upload_alone(net, i, 50_000)
                rsrp.append(state["rsrp_dbm"][i])
                rated.append(state["uplink_rate_bps"][i])
                achieved.append(50_000 * 8 / (done.end_s - done.start_s) if done.ok else np.nan)
                failed.append(not done.ok)
    rsrp, rated, achieved, failed = map(np.asarray, (rsrp, rated, achieved, failed))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.axhline(tbs_bits(27, CARRIER.n_rb) / SLOT_S / 1e6, color="k", ls="--", lw=1,
               label="TS 38.214 bound: MCS 27 on all 51 RBs")
    ax.axhline(tbs_bits(0, CARRIER.rbg_size) / SLOT_S / 1e6, color="grey", ls=":", lw=1,
               label="MCS 0 on one RBG")
    ax.scatter(rsrp, rated / 1e6, s=14, marker="o", facecolors="none", edgecolors="C0", label="rated (channel_state)")
    ax.scatter(rsrp[~failed], achieved[~failed] / 1e6, s=8, color="C1", label="achieved, 50 kB alone")
    if failed.any():
        ax.scatter(rsrp[failed], np.full(failed.sum(), 0.01), marker="x", color="C3", label="radio link failure")
    ax.set(xlabel="RSRP (dBm)", ylabel="uplink goodput (Mbit/s)", yscale="log",
           title="Uplink goodput from cell centre to edge (UMi, 3.5 GHz, 20 MHz)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(OUT / "validation-rate-vs-rsrp.png", dpi=120)


def time_against_size() -> None:
    sizes = np.geomspace(10_000, 10_000_000, 7).astype(int)
    fig, ax = plt.subplots(figsize=(6, 4))
    for radius, colour in ((100, "C0"), (400, "C1")):
        times, rate = [], None
        for nbytes in tqdm(sizes, desc=f"time against size, {radius} m"):
            with CoSimNetwork(FlNetworkConfig(clients=1, cell_radius_m=radius, fast_fading=False), seed=1) as net:
                rate = net.channel_state()["uplink_rate_bps"][0]
                done = upload_alone(net, 0, int(nbytes))
                times.append(done.end_s - done.start_s)
        ax.loglog(sizes, times, "o", color=colour, label=f"measured, {radius} m cell")
        ax.loglog(sizes, sizes * 8 / rate + 2.5e-3, "-", color=colour, lw=1,
                  label=f"size / rated {rate / 1e6:.1f} Mbit/s + 2.5 ms")
    ax.set(xlabel="upload size (bytes)", ylabel="upload time (s)", title="Time against size (one client)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "validation-time-vs-size.png", dpi=120)


def sharing_and_energy() -> None:
    """Clients 10 m from the gNB uploading 500 kB together: the last finish against N x one alone, and
    client 0's energy per bit with and without power control as its share of the RBGs shrinks."""
    counts = [1, 2, 4, 8]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for power_control, marker in ((True, "o"), (False, "s")):
        last, per_bit = [], []
        for n in tqdm(counts, desc=f"sharing, power control {power_control}"):
            with CoSimNetwork(FlNetworkConfig(clients=n, cell_radius_m=10, ul_power_control=power_control), seed=1) as net:
                done = net.run(net.submit([Transfer(client(i), edge(0), 500_000, "up") for i in range(n)]))
            last.append(max(c.end_s for c in done))
            per_bit.append(min(done, key=lambda c: c.op_id).energy_j / (500_000 * 8))
        if power_control:
            left.plot(counts, last, "o", label="measured: last finish")
            left.plot(counts, [last[0] * n for n in counts], "-", lw=1, label="N x one alone")
        right.semilogy(counts, np.asarray(per_bit) * 1e9, marker + "-",
                       label="power control (TS 38.213)" if power_control else "always 23 dBm")
    left.set(xlabel="clients uploading together", ylabel="time (s)", title="Sharing one cell")
    right.set(xlabel="clients uploading together (RBGs each: 13 / N)", ylabel="client 0's energy per bit (nJ)",
              title="Energy per bit against allocation")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "validation-sharing-energy.png", dpi=120)


if __name__ == "__main__":
    warnings.simplefilter("ignore", RuntimeWarning)  # radio link failures are drawn, not warned about
    rate_against_rsrp()
    time_against_size()
    sharing_and_energy()
    print("wrote", *sorted(p.name for p in OUT.glob("validation-*.png")))

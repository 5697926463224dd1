"""Multi-access failover (docs/multi-access.md): tasks completed per path over time when the roadside unit
fails, for two baselines of ns6g/MultiAccessInference-v0.

    nice -n 10 python examples/multi_access_failover.py [--seeds 5] [--steps 150] [--fail-at 6]
        [--policies always_rsu,least_latency] [--out docs/figures/multi-access-failover.png]
    nice -n 10 python examples/multi_access_failover.py --returns [--seeds 5] [--steps 150]
    nice -n 10 python examples/multi_access_failover.py --paths [--steps 60]

Each policy plays one episode per seed (seeds 1..N) with the RSU failing for good at --fail-at s. Tasks are
binned (0.5 s) by the simulated time of the decision that reports them finishing (within one task gap of
the finish); per bin the mean over seeds of tasks completed over the RSU, over V2V and locally, and of
tasks failed. Prints a table of the same counts before and after the failure. Same seeds, same numbers.
--returns: instead, the return (mean ± sd over the seeds) and the tasks completed and failed per episode
of every baseline with no failure, with the RSU failing for good at --fail-at s, and with random failures
(rsu_mtbf_s 5, rsu_down_s 2). --paths: per path, the median and 90th percentile latency of the tasks it
completed and the tasks that failed when every task takes it (one episode, seed 3, no failure; a vehicle
out of range at a decision sends that task to the RSU).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ns6g.envs.multi_access import MultiAccessEnv  # noqa: E402

BIN_S = 0.5
KINDS = (("completed_rsu", "completed: RSU", "tab:blue"), ("completed_v2v", "completed: V2V", "tab:green"),
         ("completed_local", "completed: local", "tab:orange"), ("failed", "failed", "tab:red"))


def episode(env: MultiAccessEnv, policy, seed: int) -> tuple[list[dict], float]:
    """One episode's step infos and its return."""
    observation, _ = env.reset(seed=seed)
    rows, total = [], 0.0
    while True:
        observation, reward, terminated, truncated, info = env.step(policy(observation))
        rows.append(info)
        total += reward
        if terminated or truncated:
            return rows, total


def returns_table(args: argparse.Namespace) -> None:
    configurations = [("no failure", {}), (f"RSU fails at {args.fail_at:g} s", {"rsu_fail_at_s": args.fail_at}),
                      ("`rsu_mtbf_s` 5, `rsu_down_s` 2", {"rsu_mtbf_s": 5.0, "rsu_down_s": 2.0})]
    print("| configuration | policy | return | completed | failed |")
    print("|---|---|---|---|---|")
    for label, overrides in configurations:
        with MultiAccessEnv(episode_steps=args.steps, **overrides) as env:
            for name in env.baseline_policies():
                totals = []
                for seed in range(1, args.seeds + 1):
                    rows, total = episode(env, env.baseline_policies(seed)[name], seed)
                    totals.append((total, sum(r["completed"] for r in rows), sum(r["failed"] for r in rows)))
                t = np.array(totals)
                print(f"| {label} | {name} | {t[:, 0].mean():.1f} ± {t[:, 0].std():.1f} | {t[:, 1].mean():.1f} "
                      f"| {t[:, 2].mean():.1f} |", flush=True)


def path_latencies(args: argparse.Namespace) -> None:
    print("| path | median latency (ms) | p90 (ms) | completed | failed |")
    print("|---|---|---|---|---|")
    with MultiAccessEnv(episode_steps=args.steps) as env:
        names = ["local", "RSU"] + [f"vehicle {k}" for k in range(1, env.config.helpers + 1)]
        for path, name in enumerate(names):
            env.reset(seed=3)
            latencies, completed, failed = [], 0, 0
            while True:
                action = path if env.action_masks()[path] else 1
                _, _, terminated, truncated, info = env.step(action)
                completed += info["completed"]
                failed += info["failed"]
                if info["completed"] > 0:
                    latencies.append(info["latency_ms"])
                if terminated or truncated:
                    break
            print(f"| {name} | {np.median(latencies):.1f} | {np.percentile(latencies, 90):.1f} | {completed:.0f} "
                  f"| {failed:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--fail-at", type=float, default=6.0)
    parser.add_argument("--policies", default="always_rsu,least_latency")
    parser.add_argument("--out", type=Path, default=Path("docs/figures/multi-access-failover.png"))
    parser.add_argument("--returns", action="store_true", help="print every baseline's returns instead of the figure")
    parser.add_argument("--paths", action="store_true", help="print each path's latencies instead of the figure")
    args = parser.parse_args()
    if args.returns:
        returns_table(args)
        return
    if args.paths:
        path_latencies(args)
        return
    policies = args.policies.split(",")
    horizon = args.steps / 10.0 * 1.3  # task_rate_hz 10 (the default)
    edges = np.arange(0.0, horizon + BIN_S, BIN_S)
    fig, axes = plt.subplots(1, len(policies), figsize=(6.5 * len(policies), 4.2), sharey=True, squeeze=False)
    print("| policy | window | completed RSU | completed V2V | completed local | failed | mean return (episode) |")
    print("|---|---|---|---|---|---|---|")
    with MultiAccessEnv(rsu_fail_at_s=args.fail_at, episode_steps=args.steps) as env:
        for ax, name in zip(axes[0], policies):
            counts = {key: np.zeros(len(edges) - 1) for key, _, _ in KINDS}
            totals = {w: {key: 0.0 for key, _, _ in KINDS} for w in ("before", "after")}
            returns, last_s = [], 0.0
            for seed in range(1, args.seeds + 1):
                policy = env.baseline_policies(seed)[name]
                rows, total = episode(env, policy, seed)
                returns.append(total)
                last_s = max(last_s, rows[-1]["sim_time_s"])
                for info in rows:
                    b = np.searchsorted(edges, info["sim_time_s"], side="right") - 1
                    window = "before" if info["sim_time_s"] < args.fail_at else "after"
                    for key, _, _ in KINDS:
                        if 0 <= b < len(counts[key]):
                            counts[key][b] += info[key] / args.seeds
                        totals[window][key] += info[key] / args.seeds
            for window in ("before", "after"):
                t = totals[window]
                ret = f"{np.mean(returns):.1f}" if window == "before" else ""
                print(f"| {name} | {window} {args.fail_at:g} s | {t['completed_rsu']:.1f} | {t['completed_v2v']:.1f} "
                      f"| {t['completed_local']:.1f} | {t['failed']:.1f} | {ret} |")
            centres = (edges[:-1] + edges[1:]) / 2
            for key, label, colour in KINDS:
                ax.plot(centres, counts[key], label=label, color=colour, lw=1.8 if key != "failed" else 1.2,
                        ls="-" if key != "failed" else "--")
            ax.set_xlim(0.0, last_s + BIN_S)
            ax.axvline(args.fail_at, color="black", ls=":", lw=1)
            ax.text(args.fail_at, ax.get_ylim()[1] * 0.95, " RSU fails", va="top", fontsize=9)
            ax.set_title(f"{name}")
            ax.set_xlabel("simulated time (s)")
            ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"tasks per {BIN_S:g} s (mean of {args.seeds} seeds)")
    axes[0][-1].legend(loc="center right", fontsize=9)
    fig.suptitle(f"MultiAccessInference-v0: tasks per path around an RSU failure at {args.fail_at:g} s "
                 f"(10 tasks/s, 3 vehicles, timeout 0.5 s)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Flame graphs of `perf record --call-graph` profiles as PNG, side by side (e.g. before and after a change).

    python tools/flamegraph.py --out docs/figures/ran-flame-1000.png --hz 499 --title "..." \\
        --from "ns6g::Bridge::Handle" before=before.data after=after.data

Each panel is one profile: a bar per call path, as wide as its samples, callers below their callees (a
call path's children sit on top of it). All panels share one scale (CPU seconds, samples / ``--hz``), so a
faster profile is a narrower graph. ``--from`` starts every stack at its outermost frame of
that name (dropping the start-up frames below it; stacks without it are kept whole). Frame names lose
their argument lists and template arguments; a bar is labelled where it is wide enough. Colours: ns6g's
code orange, ns-3's blue, the C and maths libraries grey, the rest green.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402


def short_name(symbol: str) -> str:
    """``ns3::Ptr<X>::operator->() const [clone .isra.0]`` -> ``ns3::Ptr::operator->``."""
    symbol = re.sub(r"\s*\[clone [^\]]*\]", "", symbol)
    depth, out = 0, []
    for ch in symbol:  # drop template arguments
        if ch == "<":
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    name = "".join(out)
    if "(" in name and not name.startswith("("):
        name = name[: name.index("(")]  # drop the argument list
    return name.strip() or symbol


def folded_stacks(data: Path, start: str | None) -> Counter[tuple[str, ...]]:
    """Samples per call path (outermost frame first) of a perf.data file."""
    text = subprocess.run(["perf", "script", "-i", str(data), "-F", "ip,sym"], capture_output=True,
                          text=True, check=True).stdout
    stacks: Counter[tuple[str, ...]] = Counter()
    frames: list[str] = []
    for line in text.splitlines() + [""]:
        parts = line.split(None, 1)
        if parts:
            frames.append(short_name(parts[1]) if len(parts) > 1 else "[unknown]")
            continue
        if frames:
            path = frames[::-1]
            if start and start in path:
                path = path[path.index(start):]
            stacks[tuple(path)] += 1
            frames = []
    return stacks


def colour(name: str) -> str:
    if name.startswith("ns6g::") or name.startswith("(anonymous namespace)"):
        return "#f4a259"
    if name.startswith("ns3::") or name.startswith("std::"):
        return "#7fb3d5"
    if name.startswith("__") or name in ("malloc", "cfree", "_int_malloc", "_int_free", "operator new"):
        return "#bfbfbf"
    return "#9bc995"


def draw(ax, stacks: Counter[tuple[str, ...]], title: str, max_depth: int, hz: float, width_s: float) -> None:
    total = sum(stacks.values())
    # Samples under every call path prefix (up to max_depth frames).
    widths: Counter[tuple[str, ...]] = Counter()
    for path, n in stacks.items():
        for d in range(1, min(len(path), max_depth) + 1):
            widths[path[:d]] += n
    # Parents before children, siblings in name order: each child starts where its previous sibling
    # ended, the first at its parent's start.
    start: dict[tuple[str, ...], float] = {(): 0.0}
    cursor: dict[tuple[str, ...], float] = {}
    for prefix in sorted(widths, key=lambda p: (len(p), p)):
        parent = prefix[:-1]
        x = cursor.get(parent, start[parent])
        start[prefix] = x
        cursor[parent] = x + widths[prefix] / hz
        w = widths[prefix] / hz
        y = len(prefix) - 1
        ax.add_patch(Rectangle((x, y), w, 0.95, facecolor=colour(prefix[-1]), edgecolor="white", linewidth=0.3))
        if w > 0.05 * width_s:
            label = prefix[-1]
            room = int(w / width_s * 250)
            ax.text(x + 0.003, y + 0.45, label if len(label) <= room else label[: max(room - 2, 1)] + "..",
                    fontsize=6, va="center", ha="left", clip_on=True)
    ax.set_xlim(0, width_s)
    ax.set_ylim(0, max_depth)
    ax.set_yticks([])
    ax.set_xlabel("CPU s of the profiled process", fontsize=8)
    ax.set_title(f"{title}: {total / hz:.2f} CPU s ({total} samples)", fontsize=9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profiles", nargs="+", metavar="NAME=PERF_DATA")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--title", default="")
    parser.add_argument("--from", dest="start", help="start stacks at this frame (e.g. ns6g::Bridge::Handle)")
    parser.add_argument("--depth", type=int, default=24, help="frames shown from the start (default 24)")
    parser.add_argument("--hz", type=float, required=True, help="perf record's sampling frequency (-F)")
    args = parser.parse_args()
    profiles = [p.split("=", 1) for p in args.profiles]
    fig, axes = plt.subplots(len(profiles), 1, figsize=(14, 0.28 * args.depth * len(profiles) + 1), squeeze=False)
    stacks = [folded_stacks(Path(data), args.start) for _, data in profiles]
    width_s = max(sum(s.values()) for s in stacks) / args.hz
    for ax, (name, _), profile in zip(axes[:, 0], profiles, stacks):
        draw(ax, profile, name, args.depth, args.hz, width_s)
    if args.title:
        fig.suptitle(args.title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

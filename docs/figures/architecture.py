"""Draw docs/architecture.md's picture of the layers (a second):

    .venv/bin/python docs/figures/architecture.py

The Python layers and their order come from the layers contract in .importlinter and the modules of each
from the package folders (pyproject.toml's package-dir), so the picture shows the tree as it is."""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "architecture-layers.png"


def python_layers() -> list[list[str]]:
    """The layers contract's packages, top (apps) first; each layer a list of independent siblings."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    lines = config["importlinter:contract:layers"]["layers"].split("\n")
    return [[p.strip() for p in line.split("|")] for line in lines if line.strip()]


def modules_of(package: str) -> list[str]:
    """The modules and subpackages of one ns6g package, read from its folder."""
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    folder = ROOT / dirs.get(package, dirs["ns6g"] + "/" + package.removeprefix("ns6g.").replace(".", "/"))
    if folder.with_suffix(".py").is_file():  # a single module
        return ["(module)"]
    names = [p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")]
    names += [p.name for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").is_file()]
    return sorted(names)


def cpp_parts() -> list[tuple[str, str]]:
    """(title, contents) of the C++ side: scenarios, then each model folder, then the bridge headers."""
    src = ROOT / "ns3_scenarios"
    parts = [("scenarios (one binary each)", ", ".join(sorted(p.stem for p in src.glob("*.cc"))))]
    for folder in ("ran", "mec", "fl"):
        subs = sorted(p.name for p in (src / folder).iterdir() if p.is_dir())
        parts.append((f"{folder}/", ", ".join(f"{s}/" for s in subs)))
    parts.append(("options/ (generated)", "one header per scenario"))
    parts.append(("bridge/", ", ".join(sorted(p.name for p in (src / "bridge").glob("*.h")))))
    return parts


def wrap(words: list[str], width: int) -> str:
    lines, line = [], ""
    for word in words:
        if line and len(line) + len(word) + 2 > width:
            lines.append(line + ",")
            line = word
        else:
            line = f"{line}, {word}" if line else word
    return "\n".join([*lines, line])


def box(ax, x, y, w, h, title, body, colour):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.01,rounding_size=0.015", fc=colour,
                                ec="0.3", lw=0.8))
    ax.text(x + 0.01, y + h - 0.012, title, ha="left", va="top", fontsize=8.5, weight="bold")
    ax.text(x + 0.01, y + h - 0.04, body, ha="left", va="top", fontsize=6.8, family="monospace")


def main() -> None:
    layers = python_layers()
    fig, ax = plt.subplots(figsize=(11, 7.2))
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    h, gap, top = 0.1, 0.02, 0.9
    colours = plt.cm.Blues([0.15 + 0.5 * i / max(1, len(layers) - 1) for i in range(len(layers))])
    for i, siblings in enumerate(layers):
        y = top - (i + 1) * h - i * gap
        # the first package spans the column; independent siblings (single modules) sit to its right
        box(ax, 0.02, y, 0.5, h, siblings[0], wrap(modules_of(siblings[0]), 62), colours[i])
        for k, package in enumerate(siblings[1:]):
            box(ax, 0.53 + k * 0.085, y, 0.075, h, package.replace("ns6g.", "ns6g.\n"),
                "\n\n" + wrap(modules_of(package), 10), colours[i])
        if i:
            # imports point down: the layer above uses this one
            ax.annotate("", xy=(0.27, y + h), xytext=(0.27, y + h + gap),
                        arrowprops=dict(arrowstyle="->", color="0.2", lw=1.0))
    ax.text(0.02, 0.975, "Python: each layer imports only those below it\n(.importlinter, checked by make test)",
            fontsize=9.5, weight="bold", va="top")

    parts = cpp_parts()
    ph = (top - 0.02) / len(parts) - 0.014
    for i, (title, body) in enumerate(parts):
        y = top - (i + 1) * (ph + 0.014)
        box(ax, 0.62, y, 0.36, ph, title, wrap(body.split(", "), 46), "#f3e3c3")
    ax.text(0.62, 0.975, "C++ (ns3_scenarios/), ns-3 style:\nmodel / helper / query per folder", fontsize=9.5, weight="bold",
            va="top")

    core_y = top - len(layers) * (h + gap) + gap + h / 2
    ax.add_patch(FancyArrowPatch((0.52, core_y), (0.62, 0.06 + ph / 2), arrowstyle="<->", mutation_scale=12,
                                 color="firebrick", lw=1.4))
    ax.text(0.57, min(core_y, 0.06 + ph / 2) - 0.075, "shared memory\n(one segment\nper instance)",
            ha="center", fontsize=7.5, color="firebrick")
    fig.savefig(OUT, dpi=130, bbox_inches="tight")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

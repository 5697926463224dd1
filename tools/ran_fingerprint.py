"""Fingerprint SpectrumAllocation's results: one SHA-256 per configuration, to show that a speed change of
the RAN model left every result bit for bit the same.

    python tools/ran_fingerprint.py [--binaries DIR] [--save OUT.pkl] [CASE ...]

Each case runs SpectrumAllocation with fixed seeds and actions and hashes everything it returns: the
flattened observations, rewards, terminations, infos, the radio samples of every step and the handover
events. Run it on the build before a change and on the build after it (``--binaries`` takes a folder
holding a saved copy of the scenario binaries, e.g. ``$NS6G_CACHE_DIR/build/<hash>/bin`` copied aside
before rebuilding) and compare the printed hashes: any difference is a changed result.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
from pathlib import Path

import gymnasium as gym


def _use_binaries(folder: Path) -> None:
    """Every scenario from ``folder`` instead of the build cache (the modules bound the function at import)."""
    import ns6g.envs.base
    import ns6g.core.build
    import ns6g.radio._query

    def binary(name: str, source_dir: Path | None = None) -> Path:
        return folder / name

    for module in (ns6g.core.build, ns6g.envs.base, ns6g.radio._query):
        module.scenario_binary = binary


def _run(config, steps: int, seed: int) -> list:
    from ns6g.envs.spectrum_allocation import SpectrumAllocationEnv

    out = []
    with SpectrumAllocationEnv(config) as env:
        obs, info = env.reset(seed=seed)
        out.append(("reset", gym.spaces.flatten(env.observation_space, obs).tobytes(),
                    json.dumps(info, sort_keys=True, default=str)))
        env.action_space.seed(seed)
        for _ in range(steps):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            out.append((gym.spaces.flatten(env.observation_space, obs).tobytes(), repr(reward), terminated,
                        truncated, json.dumps(info, sort_keys=True, default=str), env.radio_samples().tobytes()))
        out.append(("handovers", env.handover_events().tobytes()))
    return out


def cases() -> dict[str, tuple]:
    """(configuration, steps, seed) by name: the bench workload at 100 and 1000 UEs (one run crossing the
    1 s realisation boundary) and configurations covering the traffic models, rewards and action modes."""
    from ns6g.apps.bench import _ran_config

    return {
        "bench100": (_ran_config(100), 30, 7),
        "bench100_long": (_ran_config(100), 230, 8),
        "bench1000": (_ran_config(1000), 10, 7),
        "default": (None, 100, 3),
        "default_agent_share": ({"action_mode": "share", "cells": 3, "ues": 12}, 60, 5),
        "ftp_deadline": ({"traffic": "ftp", "reward": "deadline_violations", "ues": 8, "ue_rate_mbps": 20}, 80, 2),
        "poisson_deadline": ({"traffic": "poisson", "reward": "deadline_violations", "ues": 8,
                              "ue_rate_mbps": 20}, 80, 4),
        "poisson_deadline_long": ({"traffic": "poisson", "reward": "deadline_violations", "ues": 6,
                                   "ue_rate_mbps": 10, "deadline_ms": 30, "episode_steps": 1000}, 150, 9),
        "cbr_many": ({"traffic": "cbr", "ues": 40, "cells": 7, "ue_rate_mbps": 5, "episode_steps": 1000}, 60, 11),
        "tcp": ({"traffic": "tcp_bulk", "ues": 4}, 40, 6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--binaries", type=Path, help="folder of scenario binaries to run instead of the build")
    parser.add_argument("--save", type=Path, help="also pickle every case's raw results here")
    args = parser.parse_args()
    if args.binaries:
        _use_binaries(args.binaries.resolve())
    table = cases()
    unknown = sorted(set(args.cases) - set(table))
    if unknown:
        parser.error(f"unknown cases {unknown}; known: {sorted(table)}")
    results = {}
    for name in args.cases or list(table):
        results[name] = _run(*table[name])
        print(f"{name:<24} {hashlib.sha256(pickle.dumps(results[name])).hexdigest()}", flush=True)
    if args.save:
        args.save.write_bytes(pickle.dumps(results))


if __name__ == "__main__":
    main()

"""The pinned outputs of small profile-mode jobs (tests/test_profile_pins.py): what every profiling
protocol submits and when it completes (rounds and transfer log, canonical JSON), kept as a SHA-256 per job
beside its simulated end time and bytes, so that a difference names the job and its first visible effect.
``python -m tests.profile_pins`` rewrites tests/data/profile_pins.json (only when a change of results is
meant; the pins were first written by the code before the profile-mode speed-ups of issue 17)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

PINS = Path(__file__).parent / "data" / "profile_pins.json"
CLIENTS, ROUNDS = 20, 2


def canonical(value: Any) -> Any:
    """Floats as their repr (exact, NaN comparable), dataclasses and tuples as dicts and lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # a round's extras enter only when a protocol has some (the pins predate the field)
        return {f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name != "config" and not (f.name == "extras" and not getattr(value, f.name))}
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    return value


def job_outputs(protocol: str, network: Any = None, clients: int = CLIENTS, rounds: int = ROUNDS) -> dict[str, Any]:
    """Rounds and transfer log of a ``clients`` x ``rounds`` profile-mode job of ``protocol`` (seed 1)."""
    from ns6g.learners.engine import FlJob

    job = FlJob({"protocol": protocol, "clients": clients, "rounds": rounds, "mode": "profile", "batch_size": 32,
                 "seed": 1, "edges": 3}, network=network)
    result = job.run()
    full = json.dumps({"rounds": canonical(result.rounds), "transfers": canonical(result.transfers)}, sort_keys=True)
    return {"end_s": repr(result.rounds[-1].end_s), "bytes": sum(t.nbytes for t in result.transfers),
            "transfers": len(result.transfers), "sha256": hashlib.sha256(full.encode()).hexdigest()}


def cosim_outputs() -> dict[str, Any]:
    from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig

    with CoSimNetwork(FlNetworkConfig(clients=CLIENTS, edges=3), seed=1) as net:
        return job_outputs("splitfed-v1", net)


#: the network of ``ns6g bench fl`` beyond 100 clients (7 cells, no fast fading), 70 clients for 12 rounds:
#: 1.3 simulated s, across the channel's 1 s realisation period (pinned by the code before the issue 17
#: speed-ups of that configuration: the channel's and the RBGs' gain caches, the uplink scheduler's)
SEVEN_CELLS_CLIENTS, SEVEN_CELLS_ROUNDS = 70, 12


def cosim_seven_cells_outputs(binary: Any = None) -> dict[str, Any]:
    from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig

    config = FlNetworkConfig(clients=SEVEN_CELLS_CLIENTS, cells=7, fast_fading=False, edges=3)
    with CoSimNetwork(config, seed=1, binary=binary) as net:
        return job_outputs("splitfed-v1", net, SEVEN_CELLS_CLIENTS, SEVEN_CELLS_ROUNDS)


def all_outputs() -> dict[str, Any]:
    from ns6g.learners.protocols import PROTOCOLS

    out = {name: job_outputs(name) for name, cls in PROTOCOLS.items() if cls.profiles}
    out["cosim/splitfed-v1"] = cosim_outputs()
    out["cosim-7-cells-no-fading/splitfed-v1"] = cosim_seven_cells_outputs()
    return out


if __name__ == "__main__":
    PINS.write_text(json.dumps(all_outputs(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {PINS} ({PINS.stat().st_size} bytes)")

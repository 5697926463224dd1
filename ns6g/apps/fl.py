"""``ns6g fl``: run one learner job (FedAvg, split learning, FSL, ...) over a network and trace it.

:func:`run_fl` builds the network (:func:`network_config` from a preset name or a TOML/JSON file of
:class:`~ns6g.learners.cosim.FlNetworkConfig` fields), runs the job round by round with a progress bar,
writes the run directory (``rounds`` and ``flows`` tables, manifest; docs/traces.md) and returns a
summary: final accuracy, simulated time and energy. See docs/learners.md and docs/fsl-orchestration.md.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
from ns6g.learners.engine import FlJob, FlJobConfig, own_inputs
from ns6g.learners.records import JobResult
from ns6g.learners.network import Network
from ns6g.learners.no_network import NoNetwork
from ns6g.core.outputs import claim_run_dir
from ns6g.core.runs import RunWriter

__all__ = ["NETWORK_PRESETS", "format_summary", "network_config", "run_fl"]

#: Named networks (FlNetworkConfig fields; clients come from the job).
NETWORK_PRESETS: dict[str, dict[str, Any]] = {
    # FlNetworkConfig's defaults
    "default": {},
    # paper 003: one cell of radius 100 m, 20 MHz, UEs at 23 dBm (spelled out: the defaults may change)
    "paper003": {"cells": 1, "cell_radius_m": 100.0, "bandwidth_hz": 20e6, "ue_tx_power_dbm": 23.0},
    # three sites, two edge servers (hierarchical FSL: clients report to edge i % 2)
    "three-cell": {"cells": 3, "edges": 2},
}


def network_config(scenario: str, clients: int, edges: int = 1) -> FlNetworkConfig:
    """The network of ``scenario``: a preset name (:data:`NETWORK_PRESETS`) or the path of a TOML or
    JSON file of FlNetworkConfig fields. ``clients`` is the job's; ``edges`` is a lower bound (the
    servers the protocol needs). ValueError naming the presets for an unknown name."""
    if scenario in NETWORK_PRESETS:
        fields = dict(NETWORK_PRESETS[scenario])
    else:
        path = Path(scenario)
        if path.suffix not in (".toml", ".json") or not path.is_file():
            raise ValueError(f"unknown scenario {scenario!r}: give a preset ({', '.join(NETWORK_PRESETS)}) "
                             f"or an existing .toml/.json file of FlNetworkConfig fields")
        text = path.read_text()
        try:
            fields = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"scenario file {path}: {exc}") from None
        if not isinstance(fields, Mapping):
            raise ValueError(f"scenario file {path}: expected a table of FlNetworkConfig fields")
        fields = dict(fields)
    if "clients" in fields and fields["clients"] != clients:
        raise ValueError(f"scenario {scenario!r} sets clients={fields['clients']}, the job has {clients} (--clients)")
    fields["clients"] = clients
    fields["edges"] = max(int(fields.get("edges", 1)), edges)
    return FlNetworkConfig.from_user(fields)


def run_fl(
    job: Mapping[str, Any],
    scenario: str = "default",
    network: str = "cosim",
    out: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run the job ``job`` (FlJobConfig fields) on ``network`` ("cosim": the ``fl-network`` ns-3
    scenario of ``scenario``; "none": :class:`NoNetwork`), tracing into ``out`` when given. A ``model`` or
    ``dataset`` of the form ``pkg.module:factory`` is imported (and the data factory called) first.

    A run already in ``out`` is refused, or replaced with ``overwrite``; a job that fails before its first
    round is over leaves no run directory (:mod:`ns6g.core.outputs`).

    Returns the summary (JSON-serialisable): protocol, mode, rounds, clients, final accuracy (NaN in
    profile mode), simulated seconds, client and total energy (J), bytes up and down, wall seconds."""
    config = FlJobConfig.from_user(job)
    if network not in ("cosim", "none"):
        raise ValueError(f"unknown network {network!r}; valid: cosim, none")
    own = own_inputs(config)  # your own model and data ('pkg.module:factory'): imported before anything starts
    edges = config.edges if config.protocol == "hierarchical-fsl" else 1
    net_config = network_config(scenario, config.clients, edges)
    writer = claim = None
    if out is not None:
        claim = claim_run_dir(out, overwrite)
        writer = RunWriter(out, kind="learner", seeds=[config.seed], config={
            "job": config.model_dump(), "network": network,
            "scenario": scenario, "network_config": net_config.model_dump() if network == "cosim" else None})
    net: Network | None = None
    rounds_done = 0
    try:
        if network == "cosim":
            net = CoSimNetwork(net_config, seed=config.seed + 1)  # ns-3 RngRun >= 1
        else:
            net = NoNetwork(config.clients, edges=net_config.edges)
        fl = FlJob(config, network=net, run=writer, **own)
        bar = tqdm(total=config.rounds, desc=f"ns6g fl {config.protocol}", disable=not progress, leave=False)
        with bar:
            for _ in range(config.rounds):
                record = fl.run_round()
                bar.set_postfix(acc=f"{record.test_accuracy:.3f}", sim_s=f"{record.end_s:.2f}")
                bar.update()
                rounds_done += 1
        result = fl.result()
    except BaseException as exc:
        if writer is not None:
            writer.close("failed", f"{type(exc).__name__}: {exc}")
            if rounds_done == 0:
                claim.release()  # nothing was learned: leave nothing that blocks the same command again
        raise
    finally:
        if net is not None:
            net.close()
    summary = summarise(result, network, scenario)
    if writer is not None:
        writer.manifest["summary"] = summary
        writer.close()
        summary["run_dir"] = str(out)
    return summary


def summarise(result: JobResult, network: str, scenario: str) -> dict[str, Any]:
    """The figures ``ns6g fl`` prints, from a finished job."""
    cfg = result.config
    return {
        "protocol": cfg.protocol, "mode": cfg.mode, "network": network, "scenario": scenario,
        "rounds": len(result.rounds), "clients": cfg.clients, "seed": cfg.seed,
        "final_accuracy": result.final_accuracy, "final_test_loss": result.rounds[-1].test_loss,
        "sim_time_s": result.sim_time_s, "client_energy_j": result.client_energy_j,
        "total_energy_j": result.total_energy_j, "uplink_bytes": result.uplink_bytes,
        "downlink_bytes": result.downlink_bytes,
        "wall_s": result.wall_time_s,
    }


def format_summary(summary: Mapping[str, Any]) -> str:
    accuracy = summary["final_accuracy"]
    shown = "n/a (profile mode)" if math.isnan(accuracy) else f"{accuracy:.4f}"
    lines = [
        f"{summary['protocol']} ({summary['mode']}), {summary['clients']} clients, {summary['rounds']} rounds, "
        f"network {summary['network']} ({summary['scenario']})",
        f"final accuracy:   {shown}",
        f"simulated time:   {summary['sim_time_s']:.3f} s",
        f"energy:           {summary['client_energy_j']:.3f} J on clients, {summary['total_energy_j']:.3f} J in all",
        f"bytes up / down:  {summary['uplink_bytes']} / {summary['downlink_bytes']}",
        f"wall time:        {summary['wall_s']:.1f} s",
    ]
    if "run_dir" in summary:
        lines.append(f"run directory:    {summary['run_dir']}")
    return "\n".join(lines)

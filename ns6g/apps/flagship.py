"""``ns6g demo flagship`` (what ``make demo`` runs): the testbed's journeys in one command.

1. Train a PPO agent briefly on the 6G RAN (``ns6g/SpectrumAllocation-v0``: one cell, 4 UEs, 20 MHz at
   7 GHz) with :func:`ns6g.apps.training.train`, and evaluate it against round robin, proportional fair and max
   rate on held-out seeds.
2. Run federated split learning over the emulated traffic: SplitFed V1 and, for comparison, FedAvg train a
   small CNN on the digits data with 8 clients in a 6G cell (``fl-network``: every model, activation and
   gradient transfer is a real ns-3 flow of its exact size; compute takes FLOPs / FLOP/s of the device).
3. Write one HTML report of everything (``OUT/report/index.html``) and print the headline numbers.

Layout of ``OUT`` (a run directory of kind ``demo``)::

    OUT/agent/            the ns6g train run (agent, checkpoints, tensorboard, train/, eval/<policy>/, comparison.png)
    OUT/fsl/<protocol>/   one run directory per learner job (rounds, flows)
    OUT/report/           the HTML report and its figures
    OUT/summary.json      the headline numbers
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ns6g.apps.training import check_counts

RAN_ENV = "ns6g/SpectrumAllocation-v0"
RAN_KWARGS = dict(cells=1, ues=4, bandwidth_hz=20e6, frequency_hz=7e9, decision_slots=10, episode_steps=50,
                  reward="sum_rate", traffic="full_buffer", ue_rate_mbps=100.0)
PPO_KWARGS = dict(n_steps=256, batch_size=256, learning_rate=3e-4, gamma=0.5, ent_coef=0.0)
FSL_PROTOCOLS = ("splitfed-v1", "fedavg")


@dataclass(frozen=True)
class FlagshipConfig:
    timesteps: int = 20_000  # PPO training steps
    n_envs: int = 4
    seed: int = 0
    eval_seeds: int = 5
    fl_rounds: int = 5
    fl_clients: int = 8
    out: Path | None = None  # default runs/flagship-<UTC date-time>
    overwrite: bool = False  # replace a run already in ``out`` (else it is refused)

    def __post_init__(self) -> None:
        check_counts(self, timesteps=1, n_envs=1, seed=0, eval_seeds=1, fl_rounds=1, fl_clients=1)


def run_flagship(config: FlagshipConfig, progress: bool = True) -> dict[str, Any]:
    """Run the three parts and return the summary (also in ``OUT/summary.json``)."""
    from ns6g.analysis import write_report
    from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
    from ns6g.learners.engine import FlJob
    from ns6g.core.outputs import claim_run_dir
    from ns6g.core.runs import RunWriter
    from ns6g.apps.training import TrainConfig, train

    out = Path(config.out or Path("runs") / f"flagship-{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}")
    claim = claim_run_dir(out, config.overwrite)
    try:
        with RunWriter(out, kind="demo", config={k: str(v) for k, v in config.__dict__.items()},
                       seeds=[config.seed]) as run:
            # 1. The agent on the 6G RAN.
            agent = train(TrainConfig(env_id=RAN_ENV, algo="ppo", timesteps=config.timesteps, n_envs=config.n_envs,
                                      seed=config.seed, out=out / "agent", env_kwargs=RAN_KWARGS,
                                      algo_kwargs=PPO_KWARGS, eval_seeds=config.eval_seeds, checkpoints=2),
                          progress=progress)
            run.append("events", {"kind": "agent-done", "wall_time_s": run.wall_time_s,
                                  "detail": "ppo trained and evaluated"})

            # 2. Federated split learning over the emulated 6G cell (same network, same seed for every protocol).
            jobs = {}
            for protocol in FSL_PROTOCOLS:
                job_config = dict(protocol=protocol, rounds=config.fl_rounds, clients=config.fl_clients,
                                  model="small_cnn", dataset="digits", cut=2, seed=config.seed)
                with RunWriter(out / "fsl" / protocol, kind="fl", config=job_config, seeds=[config.seed]) as job_run, \
                        CoSimNetwork(FlNetworkConfig(clients=config.fl_clients), seed=config.seed + 1) as network:
                    result = FlJob(job_config, network=network, run=job_run).run()
                    job_run.set(final_accuracy=result.final_accuracy, sim_time_s=result.sim_time_s)
                jobs[protocol] = {
                    "final_accuracy": result.final_accuracy,
                    "sim_time_s": result.sim_time_s,
                    "wall_time_s": result.wall_time_s,
                    "energy_j": result.client_energy_j,
                    "uplink_mbytes": result.uplink_bytes / 1e6,
                }
                run.append("events", {"kind": "fsl-done", "wall_time_s": run.wall_time_s, "detail": protocol})

            # 3. One report of the agent's and the baselines' evaluation runs and the learner jobs.
            runs = [out / "agent" / "eval" / name for name in agent["mean_return"]] + \
                   [out / "fsl" / protocol for protocol in FSL_PROTOCOLS]
            report = write_report(runs, out / "report", progress=False)
            returns = agent["mean_return"]
            best = max((p for p in returns if p != "agent"), key=returns.get)
            summary = {
                "agent": {"env_id": RAN_ENV, "timesteps": config.timesteps, "train_seconds": agent["train_seconds"],
                          "mean_return": returns, "best_baseline": best},
                "fsl": jobs,
                "report": str(report),
                "run_dir": str(out),
            }
            (out / "summary.json").write_text(json.dumps(summary, indent=2))
            run.set(report=str(report))
    except BaseException:
        if not (out / "agent").exists():  # train() removed it: nothing was trained
            claim.release()
        raise
    return summary


def format_flagship(summary: dict[str, Any]) -> str:
    agent = summary["agent"]
    returns = agent["mean_return"]
    best = agent["best_baseline"]
    lines = [
        f"1. PPO on {agent['env_id']} ({agent['timesteps']} steps, {agent['train_seconds']:.0f} s): mean return "
        f"{returns['agent']:.1f} against {best} {returns[best]:.1f} "
        f"({', '.join(f'{p} {v:.1f}' for p, v in returns.items() if p not in ('agent', best))})",
        "2. Federated split learning over the emulated 6G cell:",
    ]
    for protocol, job in summary["fsl"].items():
        lines.append(f"   {protocol:<12} accuracy {job['final_accuracy']:.3f}, simulated {job['sim_time_s']:.2f} s, "
                     f"client energy {job['energy_j']:.2f} J, client uplink {job['uplink_mbytes']:.1f} MB, "
                     f"wall {job['wall_time_s']:.1f} s")
    lines.append(f"3. report: {summary['report']}")
    return "\n".join(lines)

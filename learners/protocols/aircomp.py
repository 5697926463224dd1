"""``fedavg-aircomp``: FedAvg whose uploads are one over-the-air analog sum (:mod:`ns6g.radio.aircomp`).

Per round, with ``server`` = ``config.server``:

1. ``model_down``    server -> client   the global model, a real (digital) transfer as in FedAvg
2. ``train``         compute on client  ``local_epochs`` passes over its data
3. ``aircomp_up``    clients -> server  every client whose channel clears the truncation threshold sends
   its update ``w_k - w`` (scaled by ``n_k / mean(n)`` so that the mean is FedAvg's sample-weighted one)
   as analog symbols, all at once on the same RBs; the server gets the noisy mean and adds it to the model.

The analog upload is not a network transfer: its air time (:meth:`AirCompPhy.air_time_s`, from the update's
size and the RBs, the same for any number of clients) is held on the job's clock (:meth:`FlJob.hold`), and
the round's ``extras`` record it with the number of transmitting and truncated clients.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch

from ns6g.learners.network import client
from ns6g.learners.protocols.base import RoundOutcome
from ns6g.learners.protocols.federated import FedAvg
from ns6g.radio.aircomp import AirCompOptions, AirCompPhy

if TYPE_CHECKING:
    from ns6g.learners.engine import FlJob

__all__ = ["FedAvgAirComp"]

#: the cell a job on a network without one (NoNetwork) is assumed to be in: FlNetworkConfig's defaults
_CELL_DEFAULTS = {"scenario": "UMi-StreetCanyon", "frequency_hz": 3.5e9, "bandwidth_hz": 20e6, "numerology": 1,
                  "cell_radius_m": 100.0}


class FedAvgAirComp(FedAvg):
    """FedAvg with digital downloads and one analog over-the-air upload per round (``protocol_options``:
    :class:`~ns6g.radio.aircomp.AirCompOptions`)."""

    name = "fedavg-aircomp"
    options = AirCompOptions
    # The server receives only the channel's sum, never a client's model: no robust aggregator can apply, and
    # the round below does not go through FedAvg's upload_state / combine hooks: attacks, defences and
    # privacy are refused by name (FlJobConfig) instead of being silently ignored.
    robust = False

    def setup(self, job: FlJob) -> None:
        cfg = job.config
        c = cfg.compression
        if cfg.topk_fraction < 1 or c.prune_fraction or c.lowrank or c.partial:
            raise ValueError("fedavg-aircomp: the update goes over the air as analog symbols, so topk_fraction, "
                             "compression.prune_fraction, lowrank_* and partial_* do not apply to it; leave them off "
                             "(quantization applies to the digital download only)")
        net_config = getattr(job.network, "config", None)
        cell = {k: getattr(net_config, k, v) for k, v in _CELL_DEFAULTS.items()}
        if getattr(net_config, "cells", 1) != 1:
            raise ValueError(f"fedavg-aircomp models one cell; the network has cells={net_config.cells}")  # type: ignore[union-attr]
        super().setup(job)
        self.phy = AirCompPhy(self.settings(cfg), clients=cfg.clients, seed=cfg.seed, rounds=cfg.rounds,
                              fading=bool(getattr(net_config, "fast_fading", True)), **cell)

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        server = job.config.server
        global_state = job.state_of(self.model)
        trained: dict[int, tuple[int, torch.nn.Module, list[torch.Tensor], float]] = {}
        for c in job.round_clients:  # FedAvg's download and local training; the upload is the analog sum below
            down, local, train, loss = self.client_train(job, c, round_index)
            trained[c] = (train, local, down.tensors, loss)
        job.wait([t for t, _, _, _ in trained.values()])
        ready = [c for c, (t, _, _, _) in trained.items() if job.ok(t)]
        dropped = tuple(c for c in trained if c not in ready)
        plan = self.phy.plan(round_index, ready)
        sending = plan.transmitting
        n_values = sum(t.numel() for t in global_state)
        air_s = self.phy.air_time_s(n_values) if sending else 0.0
        extras = {"air_time_s": air_s, "transmitting_clients": float(len(sending)),
                  "truncated_clients": float(len(plan.truncated)), "snr_db": plan.snr_db,
                  "max_tx_power_dbm": float(np.max(plan.max_tx_power_dbm)) if sending else -math.inf}
        if not sending:
            warnings.warn(f"fedavg-aircomp round {round_index}: all {len(ready)} clients are below the truncation "
                          f"threshold ({self.phy.threshold_db:.1f} dB); the model is unchanged", RuntimeWarning,
                          stacklevel=2)
            return RoundOutcome(math.nan, (), dropped, extras)
        if job.profile:  # shapes only: the air time and the plan, no values
            powers = plan.max_tx_power_dbm[plan.transmits]
        else:
            weights = np.array([job.samples(c) for c in sending], dtype=np.float64)
            weights /= weights.mean()
            vectors = []
            for c, w in zip(sending, weights):
                _, local, start, _ = trained[c]
                update = torch.cat([(u - s).reshape(-1).double() for u, s in zip(job.state_of(local), start)])
                vectors.append(w * update.cpu().numpy())
            mean, powers = self.phy.receive(plan, vectors)
            flat = torch.as_tensor(mean, dtype=torch.float64)
            new_state, at = [], 0
            for t in global_state:
                new_state.append((t.double() + flat[at: at + t.numel()].reshape(t.shape).to(t.device)).to(t.dtype))
                at += t.numel()
            job.load_state(self.model, new_state)
            extras["max_tx_power_dbm"] = float(np.max(powers))
        energy = {client(c): 10 ** ((p - 30) / 10) * air_s for c, p in zip(sending, powers)}
        job.hold(air_s, "aircomp_up", energy, server)
        loss = float(np.mean([trained[c][3] for c in sending]))
        return RoundOutcome(loss, sending, dropped, extras)

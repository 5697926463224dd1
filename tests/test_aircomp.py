"""AirComp (ns6g.radio.aircomp) and the protocol fedavg-aircomp: the air time follows from the model's size
and the RBs and not from the number of clients; the analog mean is FedAvg's mean when noise vanishes and
worse as the SNR falls; truncated clients are counted; power never exceeds 23 dBm; bad options are refused
by name; the same seed gives the same numbers; a train-mode job runs over the ns-3 cell."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from ns6g.core.config import ConfigError
from ns6g.learners.engine import FlJob
from ns6g.radio.aircomp import RE_PER_RB_SLOT, AirCompOptions, AirCompPhy

BASE = {"clients": 4, "rounds": 2, "seed": 3, "batch_size": 32, "torch_device": "cpu"}


def aircomp_job(options: dict | None = None, **fields) -> FlJob:
    return FlJob({**BASE, "protocol": "fedavg-aircomp", "protocol_options": options or {}, **fields})


def state(job: FlJob) -> list[torch.Tensor]:
    return job.state_of(job.protocol.model)


# -- air time ------------------------------------------------------------------------------------------
def test_air_time_follows_model_size_and_rbs_not_clients():
    phy = AirCompPhy(clients=4, seed=0)  # 20 MHz, numerology 1: 51 RBs, 0.5 ms slots
    assert phy.rbs == 51 and phy.carrier.slot_s == 5e-4
    per_slot = 2 * 51 * RE_PER_RB_SLOT  # real values one slot carries on every RB
    assert phy.air_time_s(per_slot) == pytest.approx(5e-4)
    assert phy.air_time_s(10 * per_slot) == pytest.approx(10 * phy.air_time_s(per_slot))  # proportional to size
    assert phy.air_time_s(per_slot + 1) == pytest.approx(1e-3)  # whole slots
    half = AirCompPhy({"rbs": 17}, clients=4, seed=0)
    assert half.air_time_s(30 * per_slot) == pytest.approx(3 * phy.air_time_s(30 * per_slot))  # inverse in RBs
    assert AirCompPhy(clients=64, seed=0).air_time_s(12345) == phy.air_time_s(12345)

    times = {}
    for clients in (2, 8):
        job = aircomp_job(clients=clients, mode="profile")
        rounds = job.run().rounds
        n_values = sum(t.numel() for t in state(job))
        times[clients] = [r.extras["air_time_s"] for r in rounds]
        assert times[clients][0] == pytest.approx(phy.air_time_s(n_values))
    assert times[2] == times[8]


def test_the_air_time_is_in_simulated_time_and_the_timelines():
    """The round ends the air time after the last client's training; the transmitting clients' timelines
    count it as uplink time (their transmit energy with it), the server's as downlink time."""
    job = aircomp_job(clients=3, rounds=1)
    record = job.run_round()
    trains = [c for c in job._done.values() if c.op_id > 0]
    air = record.extras["air_time_s"]
    assert air > 0 and record.extras["transmitting_clients"] == 3
    assert record.end_s == pytest.approx(max(c.end_s for c in trains) + air)
    for c in range(3):
        timeline = record.devices[f"client/{c}"]
        assert timeline.uplink_s == pytest.approx(air)
        assert timeline.energy_j > 0
    assert record.devices["edge/0"].downlink_s == pytest.approx(air)
    job.run_round()
    assert job.rounds[1].start_s == pytest.approx(record.end_s)  # the next round starts after the held time


# -- the aggregate -------------------------------------------------------------------------------------
def test_at_very_high_snr_the_aggregate_is_fedavgs_mean():
    """With the noise 140 dB below each client's signal (and no misalignment) the analog mean of the updates is
    FedAvg's sample-weighted mean: the models agree to float tolerance."""
    fedavg = FlJob({**BASE, "protocol": "fedavg", "partition": "dirichlet"})
    air = aircomp_job({"truncation_gain_db": -200}, partition="dirichlet")  # nobody truncated
    air.protocol.phy.noise_w = air.protocol.phy.rho_w * 1e-14  # SNR 140 dB
    for _ in range(2):
        fedavg.run_round()
        record = air.run_round()
        assert record.extras["transmitting_clients"] == 4
    assert len({fedavg.samples(c) for c in range(4)}) > 1  # unequal shares: the weighting matters
    for a, b in zip(state(fedavg), state(air)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_the_aggregate_error_grows_as_the_snr_falls_and_with_misalignment():
    rng = np.random.default_rng(0)
    vectors = [rng.standard_normal(5000) for _ in range(6)]
    truth = np.mean(vectors, axis=0)

    def error(**options) -> float:
        phy = AirCompPhy(options, clients=6, seed=1, cell_radius_m=20.0)
        plan = phy.plan(0, range(6))
        assert plan.transmitting == tuple(range(6))
        estimate, _ = phy.receive(plan, vectors)
        return float(np.mean((estimate - truth) ** 2))

    errors = [error(snr_db=snr) for snr in (30, 20, 10, 0, -10)]
    assert all(a < b for a, b in zip(errors, errors[1:]))
    assert errors[0] < 1e-3 * np.mean(truth**2) * 10
    assert error(snr_db=30, misalignment_phase_std_deg=10) > 5 * errors[0]
    assert error(snr_db=30, misalignment_amplitude_std=0.1) > 5 * errors[0]


def test_snr_lowers_accuracy_of_the_trained_model():
    """Training end to end: at -20 dB the model is far from FedAvg's; at 30 dB close to it."""
    fedavg = FlJob({**BASE, "protocol": "fedavg"})
    fedavg.run()
    distance = {}
    for snr in (30, -20):
        job = aircomp_job({"snr_db": snr})
        job.protocol.phy = AirCompPhy({"snr_db": snr}, clients=4, seed=BASE["seed"], cell_radius_m=20.0)  # all send
        rounds = job.run().rounds
        assert all(r.extras["transmitting_clients"] == 4 for r in rounds)
        distance[snr] = sum(float(((a - b) ** 2).sum()) for a, b in zip(state(fedavg), state(job)))
    assert distance[-20] > 10 * distance[30]


# -- truncation and power ------------------------------------------------------------------------------
def test_truncation_drops_the_weak_clients_and_the_records_count_them():
    gains = AirCompPhy(clients=6, seed=BASE["seed"]).gains_db(0)
    threshold = float(np.median(gains))
    job = aircomp_job({"truncation_gain_db": threshold}, clients=6, rounds=1)
    record = job.run_round()
    weak = tuple(int(c) for c in np.flatnonzero(gains < threshold))
    assert 0 < len(weak) < 6
    assert record.extras["truncated_clients"] == len(weak)
    assert record.extras["transmitting_clients"] == 6 - len(weak)
    assert set(record.participants) == set(range(6)) - set(weak)
    for c in weak:  # a truncated client sends nothing: no uplink time, no transmit energy
        assert record.devices[f"client/{c}"].uplink_s == 0


def test_a_round_where_nobody_clears_the_threshold_says_so():
    job = aircomp_job({"truncation_gain_db": -1}, rounds=1)
    before = [t.clone() for t in state(job)]
    with pytest.warns(RuntimeWarning, match="all 4 clients are below the truncation threshold"):
        record = job.run_round()
    assert record.extras["transmitting_clients"] == 0 and record.extras["truncated_clients"] == 4
    assert record.participants == ()
    for a, b in zip(before, state(job)):
        assert torch.equal(a, b)


def test_power_never_exceeds_23_dbm():
    rng = np.random.default_rng(1)
    vectors = [rng.standard_normal(1000) * (c + 1) for c in range(20)]
    for options in ({}, {"snr_db": 40}, {"snr_db": 0}, {"truncation_gain_db": -150}, {"tx_power_dbm": 10}):
        phy = AirCompPhy(options, clients=20, seed=2)
        limit = phy.options.tx_power_dbm
        for r in range(3):
            plan = phy.plan(r, range(20))
            assert np.all(plan.max_tx_power_dbm <= limit + 1e-9)
            if plan.transmitting:
                _, powers = phy.receive(plan, [vectors[c] for c in plan.transmitting])
                assert np.all(powers <= limit + 1e-9)
    with pytest.raises(ConfigError, match="tx_power_dbm"):
        AirCompOptions.from_user({"tx_power_dbm": 24})


# -- refusals ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, name", [
    ({"snr_db": "high"}, "snr_db"),
    ({"tx_power_dbm": 30}, "tx_power_dbm"),
    ({"misalignment_phase_std_deg": 200}, "misalignment_phase_std_deg"),
    ({"misalignment_amplitude_std": -0.1}, "misalignment_amplitude_std"),
    ({"rbs": -1}, "rbs"),
    ({"truncation_gain_db": 3}, "truncation_gain_db"),
    ({"noise_figure": 5}, "noise_figure"),
])
def test_bad_options_are_refused_by_name(options, name):
    with pytest.raises(ConfigError, match=name):
        aircomp_job(options)


def test_settings_that_cannot_apply_are_refused():
    with pytest.raises(ValueError, match="rbs: 60 RBs asked for, the carrier .* has 51"):
        aircomp_job({"rbs": 60})
    with pytest.raises(ValueError, match="fedavg-aircomp: the update goes over the air"):
        aircomp_job(topk_fraction=0.1)


# -- reproducibility -----------------------------------------------------------------------------------
def test_same_seed_same_numbers():
    def numbers(seed: int):
        job = aircomp_job({"snr_db": 5, "misalignment_phase_std_deg": 5}, seed=seed)
        rounds = job.run().rounds
        return [(r.test_accuracy, r.end_s, tuple(sorted(r.extras.items()))) for r in rounds], state(job)

    first, model_a = numbers(3)
    again, model_b = numbers(3)
    assert first == again
    for a, b in zip(model_a, model_b):
        assert torch.equal(a, b)
    assert not np.array_equal(AirCompPhy(clients=4, seed=3).gains_db(0), AirCompPhy(clients=4, seed=4).gains_db(0))


# -- over the ns-3 cell --------------------------------------------------------------------------------
def test_a_train_mode_job_over_the_cosimulated_cell(tmp_path):
    import pandas as pd

    from ns6g.core.runs import RunWriter
    from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig

    with CoSimNetwork(FlNetworkConfig(clients=3, edges=1), seed=2) as net, warnings.catch_warnings(), \
            RunWriter(tmp_path / "run", kind="test") as writer:
        warnings.simplefilter("error", RuntimeWarning)
        job = FlJob({**BASE, "protocol": "fedavg-aircomp", "clients": 3}, network=net, run=writer)
        result = job.run()
        assert job.now_s() == pytest.approx(net.now_s() + sum(r.extras["air_time_s"] for r in result.rounds))
    table = pd.read_parquet(tmp_path / "run" / "rounds")  # the extras are columns of the rounds table
    assert list(table.groupby("round")["air_time_s"].first()) == [r.extras["air_time_s"] for r in result.rounds]
    assert list(table.groupby("round")["transmitting_clients"].first()) == [
        r.extras["transmitting_clients"] for r in result.rounds]
    assert [t.tag for t in result.transfers] == ["model_down"] * 6  # the upload is analog: no transfer
    assert all(t.ok and t.end_s > t.start_s for t in result.transfers)
    for r in result.rounds:
        assert r.extras["transmitting_clients"] + r.extras["truncated_clients"] == 3
        assert r.extras["air_time_s"] > 0 and r.duration_s > r.extras["air_time_s"]
        assert r.uplink_bytes == 0 and r.downlink_bytes > 0
        assert math.isfinite(r.test_accuracy)
    assert result.rounds[1].start_s == pytest.approx(result.rounds[0].end_s)
    assert result.final_accuracy > 0.3

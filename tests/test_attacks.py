"""Attacks and defences (issue 18 part 5): poisoning by a fraction of the clients, robust aggregation
(ns6g.learners.robust) and model inversion of SplitFed's smashed data (ns6g.learners.inversion).
small_cnn on scikit-learn's digits throughout (chance: 0.1)."""

from __future__ import annotations

import math

import pytest
import torch

from ns6g.core.config import ConfigError
from ns6g.learners.engine import FlJob, FlJobConfig
from ns6g.learners.inversion import invert_activations, psnr, smashed_data_inversion, ssim
from ns6g.learners.robust import AttackOptions, DefenceOptions, attackers, robust_aggregate

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# 10 clients, 30 % of them attackers (3), a few rounds of FedAvg
POISON = {"protocol": "fedavg", "clients": 10, "rounds": 8, "batch_size": 16, "seed": 0, "torch_device": "cpu"}
SIGN_FLIP = {"kind": "sign_flip", "fraction": 0.3, "sign_scale": 4.0}


def t(*values: float) -> list[torch.Tensor]:
    """A model state of one tensor holding ``values``."""
    return [torch.tensor(values, dtype=torch.float32)]


# -- the aggregators on hand-made tensors --------------------------------------------------------------------
def test_median_of_one_two_hundred_is_two():
    out = robust_aggregate(DefenceOptions(aggregator="median"), [t(1.0), t(2.0), t(100.0)], [1, 1, 1], t(0.0))
    assert out[0].tolist() == [2.0]


def test_trimmed_mean_drops_the_extremes_of_every_coordinate():
    states = [t(1.0, -50.0), t(2.0, 0.0), t(3.0, 1.0), t(4.0, 2.0), t(100.0, 3.0)]
    out = robust_aggregate(DefenceOptions(aggregator="trimmed_mean", trim_beta=0.2), states, [1] * 5, t(0.0, 0.0))
    assert out[0].tolist() == pytest.approx([3.0, 1.0])  # mean of the middle three, per coordinate
    plain = robust_aggregate(DefenceOptions(aggregator="mean"), states, [1] * 5, t(0.0, 0.0))
    assert plain[0].tolist() == pytest.approx([22.0, -8.8])


def test_krum_picks_a_clustered_upload_not_the_outlier():
    states = [t(1.0, 1.0), t(1.1, 0.9), t(0.9, 1.0), t(1.0, 1.1), t(1.05, 1.0), t(-40.0, 60.0)]
    out = robust_aggregate(DefenceOptions(aggregator="krum", krum_f=1), states, [1] * 6, t(0.0, 0.0))
    chosen = out[0].tolist()
    assert any(chosen == pytest.approx(s[0].tolist()) for s in states[:5])
    assert chosen[0] > 0  # not the outlier
    multi = robust_aggregate(DefenceOptions(aggregator="multi_krum", krum_f=1, multi_krum_m=3), states, [1] * 6,
                             t(0.0, 0.0))
    assert 0.85 < multi[0][0] < 1.15 and 0.85 < multi[0][1] < 1.15  # a mean of three clustered uploads


def test_norm_clip_bounds_every_update_around_the_reference():
    ref = t(1.0, 1.0)
    states = [t(1.0, 1.0), t(4.0, 5.0), t(1.3, 1.4)]  # updates of norm 0, 5 and 0.5
    out = robust_aggregate(DefenceOptions(aggregator="norm_clip", clip_norm=1.0), states, [1, 1, 2], ref)
    # clipped updates: (0, 0), (0.6, 0.8), (0.3, 0.4) weighted 1, 1, 2 -> (1.2, 1.6) / 4
    assert out[0].tolist() == pytest.approx([1.3, 1.4])


def test_mean_is_weighted_by_samples():
    out = robust_aggregate(DefenceOptions(), [t(0.0), t(3.0)], [1, 2], t(0.0))
    assert out[0].tolist() == pytest.approx([2.0])


# -- bad options, refused by name ----------------------------------------------------------------------------
@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_attack_fraction_outside_zero_one_is_refused(fraction):
    with pytest.raises(ConfigError, match="fraction"):
        FlJobConfig.from_user({**POISON, "attack": {"kind": "sign_flip", "fraction": fraction}})


def test_attack_kind_and_fraction_must_agree():
    with pytest.raises(ConfigError, match="fraction"):
        AttackOptions.from_user({"kind": "none", "fraction": 0.3})
    with pytest.raises(ConfigError, match="fraction"):
        AttackOptions.from_user({"kind": "label_flip"})
    with pytest.raises(ConfigError, match="fraction"):  # 0.02 of 10 clients is no one
        FlJobConfig.from_user({**POISON, "attack": {"kind": "label_flip", "fraction": 0.02}})
    with pytest.raises(ConfigError, match="kind"):
        AttackOptions.from_user({"kind": "backdoor", "fraction": 0.3})


@pytest.mark.parametrize("beta", [0.5, 0.7])
def test_trimmed_mean_beta_of_a_half_or_more_is_refused(beta):
    with pytest.raises(ConfigError, match="trim_beta"):
        FlJobConfig.from_user({**POISON, "defence": {"aggregator": "trimmed_mean", "trim_beta": beta}})


def test_krum_with_too_few_clients_is_refused():
    with pytest.raises(ConfigError, match="krum_f"):  # f = 4 needs 11 uploads, 10 clients
        FlJobConfig.from_user({**POISON, "defence": {"aggregator": "krum", "krum_f": 4}})
    with pytest.raises(ConfigError, match="multi_krum_m"):
        FlJobConfig.from_user({**POISON, "defence": {"aggregator": "multi_krum", "krum_f": 3, "multi_krum_m": 8}})
    with pytest.raises(ValueError, match="krum_f"):  # at aggregation time too (fewer clients in a round)
        robust_aggregate(DefenceOptions(aggregator="krum", krum_f=1), [t(1.0)] * 4, [1] * 4, t(0.0))


@pytest.mark.parametrize("protocol", ["psl", "splitfed-v1", "fedasync", "tinyreptile", "fedavg-aircomp"])
def test_protocols_without_the_aggregate_hook_refuse_attack_and_defence(protocol):
    with pytest.raises(ConfigError, match="attack"):
        FlJobConfig.from_user({**POISON, "protocol": protocol, "attack": SIGN_FLIP})
    with pytest.raises(ConfigError, match="defence"):
        FlJobConfig.from_user({**POISON, "protocol": protocol, "defence": {"aggregator": "median"}})


# -- attackers -------------------------------------------------------------------------------------------------
def test_attackers_are_a_reproducible_fraction_of_the_clients():
    opts = AttackOptions(kind="sign_flip", fraction=0.3)
    chosen = attackers(opts, 10, seed=0)
    assert len(chosen) == 3 and chosen == attackers(opts, 10, seed=0)
    assert all(0 <= c < 10 for c in chosen)
    assert {attackers(opts, 10, seed=s) for s in range(6)} != {chosen}  # the seed picks them
    assert attackers(AttackOptions(), 10, seed=0) == ()


def test_label_flip_maps_the_attackers_labels_only():
    clean = FlJob({**POISON, "rounds": 1})
    flipped = FlJob({**POISON, "rounds": 1, "attack": {"kind": "label_flip", "fraction": 0.3}})
    assert len(flipped.attackers) == 3
    for c in range(10):
        y0, y1 = clean.client_data[c][1], flipped.client_data[c][1]
        assert torch.equal(y1, 9 - y0) if c in flipped.attackers else torch.equal(y1, y0)


def test_sign_flip_uploads_the_negated_scaled_update():
    job = FlJob({**POISON, "rounds": 1, "attack": SIGN_FLIP})
    proto = job.protocol
    c = job.attackers[0]
    pulled = job.state_of(proto.model)
    local = job.copy_model(proto.model)
    job.local_train(local, c, 0)
    sent = proto.upload_state(job, c, pulled, local)
    trained = job.state_of(local)
    for s, p, w in zip(sent, pulled, trained):
        assert torch.allclose(s - p, -4.0 * (w - p), atol=1e-6)
    honest = next(k for k in range(10) if k not in job.attackers)
    assert all(torch.equal(a, b) for a, b in zip(proto.upload_state(job, honest, pulled, local), trained))


def test_model_replacement_replaces_the_fedavg_average_by_the_attackers_model():
    """One attacker among two clients whose honest update is zero (learning rate at its floor): the
    boosted upload makes the FedAvg average the attacker's own trained model."""
    cfg = {**POISON, "clients": 2, "rounds": 1, "attack": {"kind": "model_replacement", "fraction": 0.5}}
    job = FlJob(cfg)
    proto, (c,) = job.protocol, job.attackers
    pulled = job.state_of(proto.model)
    target = job.copy_model(proto.model)
    job.local_train(target, c, 0)
    sent = proto.upload_state(job, c, pulled, target)
    honest = 1 - c
    w = [job.samples(k) for k in (c, honest)]
    average = job.average([sent, pulled], w)  # the honest client uploads the model unchanged
    for a, x in zip(average, job.state_of(target)):
        assert torch.allclose(a, x, atol=1e-5)


# -- poisoned FedAvg loses accuracy, robust aggregation recovers most of it -------------------------------------
def test_sign_flipping_breaks_fedavg_and_robust_aggregators_recover():
    clean = FlJob(POISON).run().final_accuracy
    poisoned = FlJob({**POISON, "attack": SIGN_FLIP}).run().final_accuracy
    assert clean > 0.85
    assert poisoned < 0.3, poisoned  # 3 of 10 clients push 4x against the others: the mean goes backwards
    for defence in ({"aggregator": "median"}, {"aggregator": "trimmed_mean", "trim_beta": 0.3},
                    {"aggregator": "krum", "krum_f": 3}):
        acc = FlJob({**POISON, "attack": SIGN_FLIP, "defence": defence}).run().final_accuracy
        assert acc - poisoned > 0.6 * (clean - poisoned), (defence, acc, clean, poisoned)


def test_same_seed_same_poisoned_run():
    cfg = {**POISON, "rounds": 2, "attack": SIGN_FLIP, "defence": {"aggregator": "median"}}
    a, b = FlJob(cfg).run(), FlJob(cfg).run()
    assert [r.test_accuracy for r in a.rounds] == [r.test_accuracy for r in b.rounds]


def test_profile_mode_runs_with_attack_and_defence_and_sends_what_training_sends():
    cfg = {**POISON, "rounds": 1, "attack": SIGN_FLIP, "defence": {"aggregator": "krum", "krum_f": 3}}
    trained = FlJob(cfg).run()
    profiled = FlJob({**cfg, "mode": "profile"}).run()
    assert [x.nbytes for x in trained.transfers] == [x.nbytes for x in profiled.transfers]
    assert math.isnan(profiled.final_accuracy)


def test_reptile_takes_a_robust_meta_step():
    cfg = {**POISON, "protocol": "reptile", "rounds": 6, "protocol_options": {"inner_steps": 10},
           "attack": SIGN_FLIP}
    poisoned = FlJob(cfg).run().final_accuracy
    defended = FlJob({**cfg, "defence": {"aggregator": "median"}}).run().final_accuracy
    assert poisoned < 0.3 and defended > 0.7, (defended, poisoned)


# -- model inversion of the smashed data ------------------------------------------------------------------------
def test_metrics_are_perfect_for_identical_images_and_low_for_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 8, 8, generator=g)
    assert psnr(x, x) == math.inf and ssim(x, x) == pytest.approx(1.0)
    noise = torch.rand(4, 1, 8, 8, generator=g)
    assert psnr(x, noise) < 10 and ssim(x, noise) < 0.3
    slightly = x + 0.01 * torch.randn(4, 1, 8, 8, generator=g)
    assert psnr(x, slightly) > 35 and ssim(x, slightly) > 0.95
    with pytest.raises(ValueError, match="shape"):
        ssim(x, x[:2])


def test_inverting_an_identity_client_part_gives_the_input_back():
    x = torch.randn(3, 1, 8, 8)
    recon = invert_activations(torch.nn.Identity(), x, (1, 8, 8), steps=300, lr=0.1)
    assert psnr(x, recon) > 40


def test_inversion_of_splitfed_smashed_data_is_worse_for_a_deeper_cut():
    base = {"protocol": "splitfed-v1", "clients": 4, "rounds": 1, "seed": 0, "torch_device": "cpu"}
    quality = {}
    for cut in (1, 5):
        job = FlJob({**base, "cut": cut})
        job.run()
        quality[cut] = smashed_data_inversion(job, samples=8, steps=200)
        assert quality[cut].cut == cut and quality[cut].reconstructions.shape == (8, 1, 8, 8)
    assert quality[1].psnr_db > quality[5].psnr_db + 3 and quality[1].ssim > quality[5].ssim
    assert quality[1].ssim > 0.8  # conv + ReLU at full resolution: the inputs come back
    again = smashed_data_inversion(job, samples=8, steps=200)
    assert again.psnr_db == quality[5].psnr_db  # deterministic


def test_inversion_needs_a_client_side_model_at_the_server():
    job = FlJob({"protocol": "psl", "clients": 2, "rounds": 1, "torch_device": "cpu"})
    with pytest.raises(ValueError, match="psl"):
        smashed_data_inversion(job)


@pytest.mark.parametrize("protocol", ["fedavg", "fedprox", "reptile"])
def test_protocols_with_the_aggregate_hook_take_attack_and_defence(protocol):
    job = FlJob({**POISON, "protocol": protocol, "rounds": 1, "attack": SIGN_FLIP,
                 "defence": {"aggregator": "trimmed_mean", "trim_beta": 0.3}})
    assert job.attackers == attackers(AttackOptions(**SIGN_FLIP), 10, seed=0)
    record = job.run_round()
    assert record.participants == tuple(range(10))


# -- differential privacy ---------------------------------------------------------------------------------------
DP = {"noise_multiplier": 1.0, "clip_norm": 0.3, "delta": 1e-5}


def update_norm(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return float(torch.sqrt(sum(((x - y) ** 2).sum() for x, y in zip(a, b))))


def test_dp_clients_clip_their_update_before_the_upload():
    job = FlJob({**POISON, "rounds": 1, "privacy": DP})
    proto = job.protocol
    pulled = job.state_of(proto.model)
    local = job.copy_model(proto.model)
    job.local_train(local, 0, 0)
    assert update_norm(job.state_of(local), pulled) > 0.3  # one epoch moves further than S
    sent = proto.upload_state(job, 0, pulled, local)
    assert update_norm(sent, pulled) == pytest.approx(0.3, rel=1e-4)


def test_dp_noise_on_the_mean_has_the_calibrated_spread():
    """Clients that upload the model unchanged: the new global model is the old one plus the noise
    alone, whose std is z S max(share) (equal weights here up to one sample)."""
    job = FlJob({**POISON, "rounds": 1, "learning_rate": 1e-6, "momentum": 0.0,
                 "privacy": {"noise_multiplier": 2.0, "clip_norm": 0.5}})
    before = job.state_of(job.protocol.model)
    job.run_round()
    after = job.state_of(job.protocol.model)
    diff = torch.cat([(a - b).reshape(-1) for a, b in zip(after, before)])
    shares = [job.samples(c) for c in range(10)]
    expected = 2.0 * 0.5 * max(shares) / sum(shares)
    assert float(diff.std()) == pytest.approx(expected, rel=0.05)
    assert abs(float(diff.mean())) < 0.05 * expected


def test_dp_epsilon_comes_from_the_accountant_and_grows_with_rounds_and_shrinks_with_noise():
    from opacus.accountants import RDPAccountant

    job = FlJob({**POISON, "rounds": 3, "privacy": DP})
    assert job.protocol.epsilon(job) == 0.0
    job.run_round()
    job.run_round()
    eps2 = job.protocol.epsilon(job)
    acc = RDPAccountant()
    for _ in range(2):
        acc.step(noise_multiplier=1.0, sample_rate=1.0)
    assert eps2 == pytest.approx(acc.get_epsilon(1e-5))
    job.run_round(clients=[0, 1, 2, 3, 4])  # half the clients: a smaller sampling rate, still more epsilon
    assert job.protocol.epsilon(job) > eps2
    from ns6g.learners.robust import dp_epsilon

    assert dp_epsilon(4.0, [1.0, 1.0], 1e-5) < eps2
    assert dp_epsilon(0.0, [1.0], 1e-5) == math.inf and dp_epsilon(1.0, [], 1e-5) == 0.0


def test_dp_noise_costs_accuracy_and_is_reproducible():
    cfg = {**POISON, "rounds": 4}
    clean = FlJob(cfg).run().final_accuracy
    noisy = FlJob({**cfg, "privacy": {"noise_multiplier": 5.0, "clip_norm": 0.5}})
    first = noisy.run().final_accuracy
    again = FlJob({**cfg, "privacy": {"noise_multiplier": 5.0, "clip_norm": 0.5}}).run().final_accuracy
    assert first == again
    assert first < clean - 0.1, (first, clean)


def test_dp_options_refused_by_name():
    with pytest.raises(ConfigError, match="privacy"):  # calibrated to the mean only
        FlJobConfig.from_user({**POISON, "privacy": DP, "defence": {"aggregator": "median"}})
    with pytest.raises(ConfigError, match="privacy"):
        FlJobConfig.from_user({**POISON, "protocol": "psl", "privacy": DP})
    with pytest.raises(ConfigError, match="noise_multiplier"):
        FlJobConfig.from_user({**POISON, "privacy": {"noise_multiplier": -1.0}})
    with pytest.raises(ConfigError, match="delta"):
        FlJobConfig.from_user({**POISON, "privacy": {"noise_multiplier": 1.0, "delta": 1.0}})


def test_a_flower_strategy_run_refuses_attack_and_defence():
    pytest.importorskip("flwr")
    from ns6g.flower import FlowerSimulation

    with pytest.raises(ValueError, match="attack"):
        FlowerSimulation({"clients": 10, "rounds": 1, "torch_device": "cpu", "attack": SIGN_FLIP})


@pytest.mark.parametrize("compression", [{"lowrank_rank": 2}, {"prune_fraction": 0.5}])
def test_attacks_and_defences_compose_with_compression(compression):
    """A poisoned, robustly aggregated job still sends compressed uploads (docs/compression.md): fewer uplink
    bytes than the same job uncompressed, and the aggregate stays a usable model."""
    def run(**extra):
        config = FlJobConfig(protocol="fedavg", clients=5, rounds=2, seed=0, attack={"kind": "sign_flip", "fraction": 0.4},
                             defence={"aggregator": "median"}, **extra)
        with FlJob(config) as job:
            return job.run().rounds[-1]

    plain, compressed = run(), run(compression=compression)
    assert compressed.uplink_bytes < plain.uplink_bytes
    assert math.isfinite(compressed.test_loss) and compressed.test_accuracy > 0.15  # 10 classes: chance is 0.1

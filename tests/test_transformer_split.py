"""Large-model split inference (ns6g.compute.transformer): parameter counts of GPT-2 small and a LLaMA-like
7B from configuration, the KV-cache formula, decode FLOPs growing with the position, device energy growing
with the blocks on the device, a 7B model refused by a Raspberry Pi by name, fewer FLOPs with fewer active
experts (and the resource-conditional choice), bad configurations refused by name, and the profile-format
table the split model reads."""

from __future__ import annotations

import numpy as np
import pytest

from ns6g.compute.devices import device
from ns6g.compute.profile_format import read_profile, write_profile
from ns6g.compute.split import predict_split_latency
from ns6g.compute.transformer import (
    Placement,
    PlacementLinks,
    block_flops,
    conditional_top_k,
    decode_flops,
    evaluate_placement,
    kv_cache_bytes,
    parameter_count,
    placements,
    prefill_flops,
    split_profile,
    transformer_config,
)
from ns6g.core.config import ConfigError

GPT2 = transformer_config("gpt2-small")
LLAMA = transformer_config("llama-7b")
MOE = transformer_config("gpt2-small-moe8")


def test_parameter_counts_match_the_published_models():
    assert parameter_count(GPT2) == 124_439_808  # Hugging Face gpt2 (tied head)
    assert parameter_count(LLAMA) == 6_738_415_616  # LLaMA-2 7B
    assert parameter_count(MOE) > parameter_count(GPT2) + 12 * 7 * 4_722_432 - 1  # 7 more MLPs per block


def test_kv_cache_bytes_formula():
    # 2 (K and V) x layers x d_model x dtype bytes per token
    assert kv_cache_bytes(GPT2, 12, 1) == 2 * 12 * 768 * 4
    assert kv_cache_bytes(LLAMA, 32, 4096) == 2 * 32 * 4096 * 2 * 4096  # 2 GiB at the full context
    assert kv_cache_bytes(LLAMA, 5, 10) == 5 * kv_cache_bytes(LLAMA, 1, 10)
    with pytest.raises(ValueError, match="layers_on_node"):
        kv_cache_bytes(GPT2, 13)


def test_decode_flops_grow_with_position_and_prefill_is_their_sum():
    f = block_flops(GPT2, np.arange(0, 1024, 100))
    assert np.all(np.diff(f) > 0)
    assert np.allclose(np.diff(f), 4 * 768 * 100)  # Q K^T and A V over 100 more keys
    assert decode_flops(GPT2, 500) > decode_flops(GPT2, 0)
    # whole model at position 0: ~2 FLOPs per parameter of the blocks and the head
    dense = 12 * (8 * 768**2 + 4 * 768 * 3072) + 2 * 768 * 50257
    assert decode_flops(GPT2, 0) == dense + 12 * 4 * 768
    expected = sum(decode_flops(GPT2, t, head=False) for t in range(16)) + 2 * 768 * 50257
    assert prefill_flops(GPT2, 16) == pytest.approx(expected)


def test_more_blocks_on_the_device_raise_device_energy():
    for cfg in (GPT2, LLAMA):
        energies = [evaluate_placement(cfg, {"device_blocks": a})["device_energy_j"]
                    for a in range(0, cfg.layers + 1, 4)]
        assert np.all(np.diff(energies) > 0), cfg.name


def test_a_7b_model_does_not_fit_a_raspberry_pi():
    links = {"device": "raspberry-pi-4"}
    row = evaluate_placement(LLAMA, {"device_blocks": 32}, links)
    assert not row["fits"]
    assert "raspberry-pi-4" in row["infeasible"] and "device" in row["infeasible"]
    assert row["device_memory_bytes"] > device("raspberry-pi-4")["memory_bytes"]
    # GPT-2 small fits there; the 7B table marks every placement with 32 or 16 blocks on the Pi
    assert evaluate_placement(GPT2, {"device_blocks": 12}, links)["fits"]
    table = placements(LLAMA, links, step=16)
    assert not table.loc[table.device_blocks >= 16, "fits"].any()
    assert table.loc[table.device_blocks == 0, "fits"].all()
    with pytest.raises(ValueError, match="raspberry-pi-4"):
        placements(LLAMA, links, step=16, strict=True)


def test_placement_table_columns_and_offloading_costs_the_link():
    table = placements(GPT2, step=3)
    assert len(table) == 15  # (a, b) with 0 <= a <= b <= 12 on multiples of 3
    for col in ("decode_s", "prefill_s", "device_energy_j", "fits"):
        assert col in table.columns
    local = table[(table.device_blocks == 12)].iloc[0]
    assert local.uplink_bytes == 0
    # the cloud adds the WAN's 2 x 20 ms to every token's round trip (less its faster compute)
    cloud = table[(table.device_blocks == 0) & (table.edge_blocks == 0)].iloc[0]
    edge = table[(table.device_blocks == 0) & (table.edge_blocks == 12)].iloc[0]
    assert 0.035 < cloud.decode_s - edge.decode_s < 0.040
    # a slower uplink slows a split with an activation on the radio
    slow = evaluate_placement(GPT2, {"device_blocks": 6}, {"uplink_mbps": 1.0})
    assert slow["decode_s"] > evaluate_placement(GPT2, {"device_blocks": 6})["decode_s"]


def test_fewer_active_experts_fewer_flops_and_lower_latency():
    assert block_flops(MOE, 10, top_k=1) < block_flops(MOE, 10, top_k=2)
    one = evaluate_placement(MOE, {"device_blocks": 12, "device_top_k": 1})
    two = evaluate_placement(MOE, {"device_blocks": 12, "device_top_k": 2})
    assert one["device_flops"] < two["device_flops"]
    assert one["decode_s"] < two["decode_s"] and one["device_energy_j"] < two["device_energy_j"]
    assert one["expert_capacity_used"] == 0.5 and two["expert_capacity_used"] == 1.0
    # resource-conditional: a tight latency budget on a slow node lowers k, a loose one keeps top_k
    on_pi = ({"device_blocks": 12}, {"device": "raspberry-pi-4"})
    assert conditional_top_k(MOE, *on_pi, budget_s=10.0) == 2
    pi_one = evaluate_placement(MOE, {"device_blocks": 12, "device_top_k": 1}, on_pi[1])["decode_s"]
    pi_two = evaluate_placement(MOE, {"device_blocks": 12, "device_top_k": 2}, on_pi[1])["decode_s"]
    assert conditional_top_k(MOE, *on_pi, budget_s=(pi_one + pi_two) / 2) == 1
    assert conditional_top_k(MOE, *on_pi, budget_s=pi_one / 10) == 1  # a token needs one expert
    with pytest.raises(ValueError, match="dense"):
        conditional_top_k(GPT2, {"device_blocks": 12}, budget_s=1.0)
    with pytest.raises(ValueError, match="top_k"):
        block_flops(MOE, 0, top_k=9)


def test_bad_configurations_are_refused_by_name():
    with pytest.raises(ConfigError, match="heads"):
        transformer_config("gpt2-small", heads=7)
    with pytest.raises(ConfigError, match="top_k"):
        transformer_config("gpt2-small-moe8", top_k=9)
    with pytest.raises(ConfigError, match="top_k"):
        transformer_config("gpt2-small", top_k=2)  # experts = 0
    with pytest.raises(ConfigError, match="layers"):
        transformer_config("gpt2-small", layers=0)
    with pytest.raises(ConfigError, match="dtype_bytes"):
        transformer_config("gpt2-small", dtype_bytes=3)
    with pytest.raises(ConfigError, match="d_model"):
        transformer_config("gpt2-small", d_model=float("nan"))
    with pytest.raises(ConfigError, match="unknown transformer"):
        transformer_config("gpt5")
    with pytest.raises(ConfigError, match="device"):
        PlacementLinks.from_user(device="toaster")
    with pytest.raises(ConfigError, match="uplink_mbps"):
        PlacementLinks.from_user(uplink_mbps=0.0)
    with pytest.raises(ValueError, match="exceeds"):
        evaluate_placement(GPT2, Placement(device_blocks=10, edge_blocks=5))
    with pytest.raises(ValueError, match="dense"):
        evaluate_placement(GPT2, {"device_blocks": 3, "device_top_k": 1})
    with pytest.raises(ValueError, match="cloud_top_k"):
        evaluate_placement(MOE, {"device_blocks": 12, "cloud_top_k": 9})
    with pytest.raises(ValueError, match="prompt_tokens"):
        evaluate_placement(GPT2, {"device_blocks": 3}, prompt_tokens=5000)


def test_split_profile_is_a_layer_profile_the_split_model_reads(tmp_path):
    df = split_profile(GPT2, position=100)
    assert len(df) == 12 + 3  # input, embed, 12 blocks, head
    assert df.device_param_bytes.iloc[-1] == parameter_count(GPT2) * 4
    assert (df.device_flops + df.server_flops == df.server_flops.iloc[0]).all()
    assert df.transfer_bytes.iloc[5] == 768 * 4
    back = read_profile(write_profile(df, tmp_path / "gpt2-small-fp32.csv"))
    assert back.equals(df)
    lat = predict_split_latency(back, 2e12, 3e13, 30e6, 30e6)
    assert len(lat) == 15 and np.isfinite(lat.total_s).all()
    with pytest.raises(ValueError, match="dtype_bytes"):
        split_profile(LLAMA)  # fp16: not a dtype of the profile format

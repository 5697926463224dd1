"""Large-model inference split by transformer blocks across device / edge / cloud (paper 003 Section IV),
with KV-cache and activation sizes per token from a model configuration, and MoE experts activated by a
node's resources (A3SMoE's idea). Profile mode only: everything follows from the configuration, no weights.
See docs/llm-split.md.

Counting rules (2 FLOPs per multiply-accumulate, matrix products only, as in docs/profiles.md; embedding
look-ups, norms, softmax, activations and residual additions are not counted). Per transformer block and
token at position t (0-based; the token attends to t + 1 keys, itself included):

    projections   2 * 4 * d_model**2                  (Q, K, V and output; heads * head_dim = d_model)
    attention     4 * d_model * (t + 1)               (Q K^T and A V over the t + 1 cached keys)
    MLP (dense)   2 * m * d_model * d_ff              (m = 3 for a gated MLP (SwiGLU), 2 otherwise)
    MLP (MoE)     2 * d_model * experts + k * 2 * m * d_model * expert_d_ff   (router + k active experts)

The head (final norm + LM head, ``2 * d_model * vocab``) runs once per generated token; a prompt's prefill
computes it for its last token only. KV cache per token: ``2 * layers_on_node * d_model * dtype_bytes``;
an activation at a cut between blocks: ``d_model * dtype_bytes`` per token; token ids cross a link as
``TOKEN_ID_BYTES`` each.

A placement is two cuts ``0 <= a <= b <= layers``: blocks 1..a on the device, a+1..b on the edge, b+1..L
in the cloud. The embedding sits with block 1's node, the head with block L's (the device when a = L).
Each token's round starts at the device (the prompt or the last generated token id) and ends when the next
token id is back at the device, so the device sees every token (what the SplitInference task life cycle
does per task).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from ns6g.core.config import ConfigError, ScenarioConfig

__all__ = [
    "MEMORY_BANDWIDTH_GBPS",
    "MODELS",
    "NODES",
    "TOKEN_ID_BYTES",
    "Placement",
    "PlacementLinks",
    "TransformerConfig",
    "block_flops",
    "conditional_top_k",
    "decode_flops",
    "evaluate_placement",
    "kv_cache_bytes",
    "parameter_count",
    "placements",
    "prefill_flops",
    "split_profile",
    "transformer_config",
]

#: Bytes of one token id on a link (int32).
TOKEN_ID_BYTES = 4
#: The three nodes of a placement, in chain order.
NODES = ("device", "edge", "cloud")


class TransformerConfig(ScenarioConfig):
    """A decoder-only transformer, built from configuration (no weights). Sizes in elements, ``dtype_bytes``
    in bytes per parameter, activation and cache element. ``experts = 0``: a dense MLP in every block."""

    name: str = Field("transformer", min_length=1, max_length=64, description="name of the configuration")
    layers: int = Field(ge=1, le=1024, description="transformer blocks L")
    d_model: int = Field(ge=1, le=131_072, description="hidden size (elements)")
    heads: int = Field(ge=1, le=1024, description="attention heads (must divide d_model)")
    d_ff: int = Field(ge=1, le=1_048_576, description="MLP inner size of a dense block (elements)")
    vocab: int = Field(ge=2, le=4_194_304, description="vocabulary size (tokens)")
    context: int = Field(ge=1, le=4_194_304, description="maximum context length (tokens)")
    dtype_bytes: Literal[1, 2, 4] = Field(4, description="bytes per element: 4 fp32, 2 fp16/bf16, 1 int8")
    gated_mlp: bool = Field(False, description="gated MLP (SwiGLU: 3 matrices) instead of 2 matrices")
    linear_bias: bool = Field(True, description="biases on the linear layers")
    norm: Literal["layernorm", "rmsnorm"] = Field("layernorm", description="LayerNorm (weight and bias) or RMSNorm (weight)")
    learned_positions: bool = Field(True, description="a learned position table (context x d_model); else rotary (no parameters)")
    tied_embeddings: bool = Field(True, description="the LM head shares the token embedding's weights")
    experts: int = Field(0, ge=0, le=4096, description="MoE experts per block (0: dense MLP)")
    top_k: int = Field(0, ge=0, le=4096, description="experts active per token (MoE only; 1..experts)")
    expert_d_ff: int = Field(0, ge=0, le=1_048_576, description="MLP inner size of one expert (MoE only)")

    @model_validator(mode="after")
    def _consistent(self) -> TransformerConfig:
        if self.d_model % self.heads:
            raise ValueError(f"heads: {self.heads} does not divide d_model {self.d_model}")
        if self.experts == 0:
            if self.top_k or self.expert_d_ff:
                raise ValueError("top_k and expert_d_ff: set only with experts > 0 (a MoE block)")
        else:
            if not 1 <= self.top_k <= self.experts:
                raise ValueError(f"top_k: must be in 1..experts ({self.experts}), got {self.top_k}")
            if self.expert_d_ff < 1:
                raise ValueError("expert_d_ff: must be >= 1 for a MoE block")
        return self

    @property
    def moe(self) -> bool:
        return self.experts > 0


#: Shipped configurations. GPT-2 small (HF ``gpt2``: 124 439 808 parameters, fp32) and a LLaMA-like 7B
#: (LLaMA-1/2 7B shapes: 6 738 415 616 parameters, fp16), and a MoE variant of GPT-2 small (8 experts of
#: GPT-2's MLP size, 2 active per token; not a published model, for the resource-conditional figure).
MODELS: dict[str, dict] = {
    "gpt2-small": dict(name="gpt2-small", layers=12, d_model=768, heads=12, d_ff=3072, vocab=50257,
                       context=1024, dtype_bytes=4),
    "llama-7b": dict(name="llama-7b", layers=32, d_model=4096, heads=32, d_ff=11008, vocab=32000,
                     context=4096, dtype_bytes=2, gated_mlp=True, linear_bias=False, norm="rmsnorm",
                     learned_positions=False, tied_embeddings=False),
    "gpt2-small-moe8": dict(name="gpt2-small-moe8", layers=12, d_model=768, heads=12, d_ff=3072, vocab=50257,
                            context=1024, dtype_bytes=4, experts=8, top_k=2, expert_d_ff=3072),
}


def transformer_config(model: str | TransformerConfig | dict, **overrides) -> TransformerConfig:
    """A shipped configuration by name (with overrides), a mapping, or a config; ``ConfigError`` naming
    the problem (an unknown name lists the shipped ones)."""
    if isinstance(model, TransformerConfig):
        return TransformerConfig.from_user(model, **overrides)
    if isinstance(model, str):
        if model not in MODELS:
            raise ConfigError(f"unknown transformer {model!r}; shipped configurations are {', '.join(MODELS)}")
        return TransformerConfig.from_user(MODELS[model], **overrides)
    return TransformerConfig.from_user(model, **overrides)


# -- sizes -------------------------------------------------------------------------------------------------
def _mlp_params(cfg: TransformerConfig, d_ff: int) -> int:
    m = 3 if cfg.gated_mlp else 2
    bias = (d_ff * (m - 1) + cfg.d_model) if cfg.linear_bias else 0
    return m * cfg.d_model * d_ff + bias


def _norm_params(cfg: TransformerConfig) -> int:
    return (2 if cfg.norm == "layernorm" else 1) * cfg.d_model


def block_params(cfg: TransformerConfig) -> int:
    """Parameters of one transformer block: attention (4 d^2, + 4 d biases), MLP or experts + router, two norms."""
    d = cfg.d_model
    attn = 4 * d * d + (4 * d if cfg.linear_bias else 0)
    if cfg.moe:
        mlp = cfg.experts * _mlp_params(cfg, cfg.expert_d_ff) + d * cfg.experts  # experts + router
    else:
        mlp = _mlp_params(cfg, cfg.d_ff)
    return attn + mlp + 2 * _norm_params(cfg)


def embedding_params(cfg: TransformerConfig) -> int:
    """Token embedding (+ the learned position table)."""
    return cfg.vocab * cfg.d_model + (cfg.context * cfg.d_model if cfg.learned_positions else 0)


def head_params(cfg: TransformerConfig) -> int:
    """Final norm + LM head (0 weights for the head when tied to the embedding)."""
    return _norm_params(cfg) + (0 if cfg.tied_embeddings else cfg.vocab * cfg.d_model)


def parameter_count(cfg: TransformerConfig) -> int:
    """All parameters (a tied head counted once)."""
    return embedding_params(cfg) + cfg.layers * block_params(cfg) + head_params(cfg)


def kv_cache_bytes(cfg: TransformerConfig, layers_on_node: int, tokens: int = 1) -> int:
    """KV cache of ``layers_on_node`` blocks for ``tokens`` tokens: ``2 * layers * d_model * dtype * tokens``."""
    if not 0 <= layers_on_node <= cfg.layers:
        raise ValueError(f"layers_on_node must be in 0..{cfg.layers}, got {layers_on_node}")
    if tokens < 0:
        raise ValueError(f"tokens must be >= 0, got {tokens}")
    return 2 * layers_on_node * cfg.d_model * cfg.dtype_bytes * tokens


def activation_bytes(cfg: TransformerConfig, tokens: int = 1) -> int:
    """The hidden state at a cut between blocks: ``d_model * dtype_bytes`` per token."""
    return cfg.d_model * cfg.dtype_bytes * tokens


# -- FLOPs -------------------------------------------------------------------------------------------------
def _active_k(cfg: TransformerConfig, top_k: int | None) -> int:
    if not cfg.moe:
        if top_k is not None:
            raise ValueError(f"top_k: {cfg.name} is dense (experts = 0); active experts apply to MoE only")
        return 0
    k = cfg.top_k if top_k is None else int(top_k)
    if not 1 <= k <= cfg.experts:
        raise ValueError(f"top_k: must be in 1..{cfg.experts} for {cfg.name}, got {top_k}")
    return k


def block_flops(cfg: TransformerConfig, position: int | np.ndarray, top_k: int | None = None) -> np.ndarray | float:
    """FLOPs of one block for one token at ``position`` (0-based, attending to position + 1 keys);
    ``top_k``: active experts (MoE; default the configuration's)."""
    d = cfg.d_model
    m = 3 if cfg.gated_mlp else 2
    k = _active_k(cfg, top_k)
    pos = np.asarray(position, dtype=np.float64)
    if np.any(pos < 0):
        raise ValueError(f"position must be >= 0, got {position}")
    if cfg.moe:
        mlp = 2.0 * d * cfg.experts + k * 2.0 * m * d * cfg.expert_d_ff
    else:
        mlp = 2.0 * m * d * cfg.d_ff
    out = 8.0 * d * d + 4.0 * d * (pos + 1.0) + mlp
    return float(out) if out.ndim == 0 else out


def head_flops(cfg: TransformerConfig) -> float:
    """LM head for one token: ``2 * d_model * vocab``."""
    return 2.0 * cfg.d_model * cfg.vocab


def decode_flops(cfg: TransformerConfig, position: int, blocks: int | None = None, head: bool = True,
                 top_k: int | None = None) -> float:
    """FLOPs of generating one token at ``position`` through ``blocks`` blocks (default all) and the head."""
    n = cfg.layers if blocks is None else blocks
    return n * float(block_flops(cfg, position, top_k)) + (head_flops(cfg) if head else 0.0)


def prefill_flops(cfg: TransformerConfig, tokens: int, blocks: int | None = None, head: bool = True,
                  top_k: int | None = None) -> float:
    """FLOPs of a prompt of ``tokens`` tokens (causal: token t attends to t + 1 keys) through ``blocks``
    blocks (default all), and the head for the last token."""
    if tokens < 1:
        raise ValueError(f"tokens must be >= 1, got {tokens}")
    n = cfg.layers if blocks is None else blocks
    per_block = float(np.sum(block_flops(cfg, np.arange(tokens), top_k)))
    return n * per_block + (head_flops(cfg) if head else 0.0)


# -- placement ---------------------------------------------------------------------------------------------
#: Memory bandwidth of each catalogue device (GB/s = 1e9 bytes/s; approximate, from datasheets), for the
#: roofline of a node's time: decode reads every weight of its blocks once per token, so on small devices
#: it is bandwidth-bound (docs/llm-split.md). Here rather than in devices.csv, which the C++ reader parses
#: with a fixed column set; a device missing here is charged compute time only.
MEMORY_BANDWIDTH_GBPS: dict[str, float] = {
    "cortex-m4": 0.256,          # 64 MHz x 32-bit SRAM bus
    "cortex-m7": 1.7,            # 216 MHz x 64-bit AXI SRAM
    "raspberry-pi-4": 4.0,       # LPDDR4-3200 32-bit: 12.8 peak; ~4 measured (STREAM)
    "jetson-nano": 25.6,         # LPDDR4 64-bit, datasheet
    "jetson-orin-nano": 68.0,    # LPDDR5 128-bit, datasheet (8 GB module)
    "smartphone": 64.0,          # LPDDR5X 64-bit (Snapdragon 8 Gen 2 class)
    "edge-gpu-server": 300.0,    # NVIDIA L4 GDDR6, datasheet
    "cloud-gpu": 3350.0,         # NVIDIA H100 SXM5 HBM3, datasheet
}


class PlacementLinks(ScenarioConfig):
    """The nodes and links of a placement. Defaults: the SplitInference/MecTask devices (envs/mec_task.py:
    edge-gpu-server, cloud-gpu, WAN 1000 Mbit/s and 20 ms one way); the radio rate is the uplink estimate
    measured near the gNB in docs/split-inference.md (30 Mbit/s), the access delay one 0.5 ms slot's grant
    wait plus the 1 ms backhaul; the device is a smartphone (8 GB) since a Raspberry Pi holds no 7B model."""

    device: str = Field("smartphone", description="catalogue name of the device (must have a radio to offload)")
    edge_device: str = Field("edge-gpu-server", description="catalogue name of the edge server")
    cloud_device: str = Field("cloud-gpu", description="catalogue name of the cloud server")
    uplink_mbps: float = Field(30.0, ge=1e-3, le=1e6, description="device -> edge radio rate (Mbit/s)")
    downlink_mbps: float = Field(30.0, ge=1e-3, le=1e6, description="edge -> device radio rate (Mbit/s)")
    access_delay_ms: float = Field(1.5, ge=0, le=10_000, description="device <-> edge one-way delay (ms): slot wait + backhaul")
    wan_rate_mbps: float = Field(1000.0, ge=1e-3, le=1e6, description="edge <-> cloud WAN rate (Mbit/s)")
    wan_delay_ms: float = Field(20.0, ge=0, le=10_000, description="edge <-> cloud one-way delay (ms)")
    roofline: bool = Field(True, description="a node's time is max(FLOPs / peak FLOP/s, bytes read / memory "
                                             "bandwidth) (MEMORY_BANDWIDTH_GBPS); False: FLOPs / peak only")

    @model_validator(mode="after")
    def _known_devices(self) -> PlacementLinks:
        from ns6g.compute.devices import check_device

        for field in ("device", "edge_device", "cloud_device"):
            check_device(field, getattr(self, field))
        return self


class Placement(ScenarioConfig):
    """Blocks 1..``device_blocks`` on the device, the next ``edge_blocks`` on the edge, the rest in the
    cloud; ``device_top_k`` / ``edge_top_k`` / ``cloud_top_k``: experts active per token on that node's
    blocks (MoE only; None: the configuration's top_k)."""

    device_blocks: int = Field(ge=0, le=1024, description="blocks on the device (cut a)")
    edge_blocks: int = Field(0, ge=0, le=1024, description="blocks on the edge (cut b = a + edge_blocks)")
    device_top_k: int | None = Field(None, ge=1, le=4096, description="active experts per token on the device")
    edge_top_k: int | None = Field(None, ge=1, le=4096, description="active experts per token on the edge")
    cloud_top_k: int | None = Field(None, ge=1, le=4096, description="active experts per token in the cloud")


def _links(links: PlacementLinks | dict | None) -> PlacementLinks:
    return links if isinstance(links, PlacementLinks) else PlacementLinks.from_user(links)


def _node_blocks(cfg: TransformerConfig, p: Placement) -> dict[str, int]:
    if p.device_blocks + p.edge_blocks > cfg.layers:
        raise ValueError(f"placement: device_blocks + edge_blocks = {p.device_blocks + p.edge_blocks} exceeds "
                         f"the {cfg.layers} blocks of {cfg.name}")
    return {"device": p.device_blocks, "edge": p.edge_blocks, "cloud": cfg.layers - p.device_blocks - p.edge_blocks}


def _first_last(blocks: dict[str, int]) -> tuple[str, str]:
    """The nodes holding block 1 (the embedding) and block L (the head)."""
    holding = [n for n in NODES if blocks[n] > 0]
    return holding[0], holding[-1]


def node_memory_bytes(cfg: TransformerConfig, placement: Placement, context: int | None = None) -> dict[str, int]:
    """Per node: weights of its blocks (+ the embedding on block 1's node, the head on block L's) + the KV
    cache of its blocks at ``context`` tokens (default the configuration's). Working activations (one
    token's or a prompt's hidden states) are not counted."""
    ctx = cfg.context if context is None else context
    if not 1 <= ctx <= cfg.context:
        raise ValueError(f"context must be in 1..{cfg.context} tokens for {cfg.name}, got {context}")
    blocks = _node_blocks(cfg, placement)
    first, last = _first_last(blocks)
    out = {}
    for n in NODES:
        params = blocks[n] * block_params(cfg)
        if n == first:
            params += embedding_params(cfg)
        if n == last:
            params += head_params(cfg) + (cfg.vocab * cfg.d_model if cfg.tied_embeddings and first != last else 0)
        out[n] = params * cfg.dtype_bytes + kv_cache_bytes(cfg, blocks[n], ctx)
    return out


def evaluate_placement(cfg: TransformerConfig, placement: Placement | dict, links: PlacementLinks | dict | None = None,
                       *, prompt_tokens: int = 128, position: int | None = None, context: int | None = None) -> dict:
    """One placement's row: per token decode latency at ``position`` (default ``prompt_tokens``, the first
    generated token), prefill time of a ``prompt_tokens`` prompt (to the first token back at the device),
    device energy per decode token (compute + radio transmit), memory per node at ``context`` tokens and
    whether every node fits (``infeasible`` names the first node that does not, with bytes needed and held).

    Latency is each node's time (``PlacementLinks.roofline``: the larger of compute at the catalogue's peak
    FLOP/s and the weights + KV cache it reads at ``MEMORY_BANDWIDTH_GBPS``) plus, per hop, bytes * 8 / rate + the one-way delay;
    a node without blocks is skipped (the edge forwards device <-> cloud traffic). Device energy:
    ``device FLOPs * energy_per_flop_j + tx_power_w * uplink bytes * 8 / uplink rate`` (as
    ``ns6g.compute.split.device_energy_j``)."""
    from ns6g.compute.devices import device as catalogue_row
    from ns6g.compute.split import tx_power_w

    p = placement if isinstance(placement, Placement) else Placement.from_user(placement)
    lk = _links(links)
    if prompt_tokens < 1 or prompt_tokens > cfg.context:
        raise ValueError(f"prompt_tokens must be in 1..{cfg.context} for {cfg.name}, got {prompt_tokens}")
    pos = prompt_tokens if position is None else position
    if not 0 <= pos < cfg.context:
        raise ValueError(f"position must be in 0..{cfg.context - 1} for {cfg.name}, got {position}")
    blocks = _node_blocks(cfg, p)
    first, last = _first_last(blocks)
    names = {"device": lk.device, "edge": lk.edge_device, "cloud": lk.cloud_device}
    rows = {n: catalogue_row(names[n]) for n in NODES}
    top_k = {"device": p.device_top_k, "edge": p.edge_top_k, "cloud": p.cloud_top_k}
    if not cfg.moe and any(v is not None for v in top_k.values()):
        raise ValueError(f"placement: {cfg.name} is dense (experts = 0); *_top_k apply to MoE only")
    for n, k in top_k.items():
        if k is not None and k > cfg.experts:
            raise ValueError(f"placement: {n}_top_k {k} exceeds the {cfg.experts} experts of {cfg.name}")

    # hop index: 0 device-edge, 1 edge-cloud; rates in bit/s and one-way delays in s
    up_bps = (lk.uplink_mbps * 1e6, lk.wan_rate_mbps * 1e6)
    down_bps = (lk.downlink_mbps * 1e6, lk.wan_rate_mbps * 1e6)
    delay = (lk.access_delay_ms * 1e-3, lk.wan_delay_ms * 1e-3)

    def transfer_s(src: str, dst: str, nbytes: float) -> tuple[float, float]:
        """(seconds, device uplink seconds) of nbytes from src to dst along the chain."""
        i, j = NODES.index(src), NODES.index(dst)
        total = radio_up = 0.0
        for hop in range(min(i, j), max(i, j)):
            rate = up_bps[hop] if j > i else down_bps[hop]
            t = nbytes * 8.0 / rate
            total += t + delay[hop]
            if hop == 0 and j > i:
                radio_up += t
        return total, radio_up

    def read_bytes(n: str, kv_tokens: int) -> float:
        """Weights a pass through node n's blocks reads (active experts only) + its KV cache read."""
        if cfg.moe:
            k = cfg.top_k if top_k[n] is None else top_k[n]
            per_block = block_params(cfg) - (cfg.experts - k) * _mlp_params(cfg, cfg.expert_d_ff)
        else:
            per_block = block_params(cfg)
        params = blocks[n] * per_block + (head_params(cfg) + (cfg.vocab * cfg.d_model if cfg.tied_embeddings else 0)
                                          if n == last else 0)
        return params * cfg.dtype_bytes + kv_cache_bytes(cfg, blocks[n], kv_tokens)

    def node_s(n: str, flops: float, kv_tokens: int) -> float:
        t = flops / float(rows[n]["flops"])
        bw = MEMORY_BANDWIDTH_GBPS.get(names[n])
        if lk.roofline and bw is not None:
            t = max(t, read_bytes(n, kv_tokens) / (bw * 1e9))
        return t

    def run(tokens: int, flops_of, kv_tokens: int) -> tuple[float, float, float]:
        """(latency s, device FLOPs, device radio s) of one round carrying ``tokens`` tokens."""
        latency = dev_flops = radio = 0.0
        at, payload = "device", tokens * TOKEN_ID_BYTES  # the round starts with token ids at the device
        for n in NODES:
            if blocks[n] == 0:
                continue
            if n != at:
                t, r = transfer_s(at, n, payload)
                latency, radio = latency + t, radio + r
            f = flops_of(n)
            latency += node_s(n, f, kv_tokens)
            if n == "device":
                dev_flops += f
            at, payload = n, activation_bytes(cfg, tokens)
        if at != "device":  # the generated token id back to the device
            latency += transfer_s(at, "device", TOKEN_ID_BYTES)[0]
        return latency, dev_flops, radio

    def decode_of(n: str) -> float:
        k = top_k[n] if cfg.moe else None
        return decode_flops(cfg, pos, blocks[n], head=(n == last), top_k=k)

    def prefill_of(n: str) -> float:
        k = top_k[n] if cfg.moe else None
        return prefill_flops(cfg, prompt_tokens, blocks[n], head=(n == last), top_k=k)

    decode_s, dev_flops, radio_s = run(1, decode_of, pos + 1)
    prefill_s, _, _ = run(prompt_tokens, prefill_of, 0)  # the prompt's keys are computed, not read
    tx_w = tx_power_w(rows["device"]) if radio_s > 0 else 0.0
    if math.isnan(tx_w):
        raise ValueError(f"device {lk.device} has no radio (tx_power_dbm empty): it cannot offload blocks")
    energy = dev_flops * float(rows["device"]["energy_per_flop_j"]) + tx_w * radio_s

    memory = node_memory_bytes(cfg, p, context)
    infeasible = ""
    for n in NODES:
        have = int(rows[n]["memory_bytes"])
        if memory[n] > have:
            infeasible = (f"{n} {names[n]} needs {memory[n]} bytes (weights + KV cache at "
                          f"{cfg.context if context is None else context} tokens) but has {have}")
            break
    if cfg.moe:
        used = sum(blocks[n] * (cfg.top_k if top_k[n] is None else top_k[n]) for n in NODES)
        capacity = used / (cfg.layers * cfg.top_k)
    else:
        capacity = 1.0
    return {
        "model": cfg.name,
        "device_blocks": blocks["device"], "edge_blocks": blocks["edge"], "cloud_blocks": blocks["cloud"],
        "decode_s": decode_s, "prefill_s": prefill_s, "device_energy_j": energy,
        "device_flops": dev_flops, "uplink_bytes": radio_s * up_bps[0] / 8.0,
        "device_memory_bytes": memory["device"], "edge_memory_bytes": memory["edge"],
        "cloud_memory_bytes": memory["cloud"], "fits": not infeasible, "infeasible": infeasible,
        "expert_capacity_used": capacity,
    }


def placements(cfg: TransformerConfig, links: PlacementLinks | dict | None = None, *, prompt_tokens: int = 128,
               position: int | None = None, context: int | None = None, step: int = 1,
               strict: bool = False) -> pd.DataFrame:
    """Every placement (a, b) with 0 <= a <= b <= L, cuts on multiples of ``step`` (L itself always
    included), as a table of :func:`evaluate_placement` rows. ``strict``: raise ``ValueError`` naming
    the node of the first placement that does not fit, instead of marking it (``fits`` False)."""
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    lk = _links(links)
    cuts = sorted(set(range(0, cfg.layers + 1, step)) | {cfg.layers})
    rows = []
    for a in cuts:
        for b in cuts:
            if b < a:
                continue
            row = evaluate_placement(cfg, Placement(device_blocks=a, edge_blocks=b - a), lk,
                                     prompt_tokens=prompt_tokens, position=position, context=context)
            if strict and not row["fits"]:
                raise ValueError(f"placement {a}/{b - a}/{cfg.layers - b} of {cfg.name} does not fit: {row['infeasible']}")
            rows.append(row)
    return pd.DataFrame(rows)


# -- the SplitInference profile format ---------------------------------------------------------------------
def split_profile(cfg: TransformerConfig, position: int = 0) -> pd.DataFrame:
    """One decode step at ``position`` as a layer profile (docs/profiles.md, format version 1: blocks
    ``embed``, ``block0``..``block{L-1}``, ``head``), which ``ns6g.compute.split`` and
    ``write_profile`` accept: a device/server split of one token. Its ``dtype`` must be one the format
    knows (fp32 or int8: ``dtype_bytes`` 4 or 1). The input is one int64 token id (8 bytes), as the zoo's
    ``small_transformer``; the output the vocabulary's logits."""
    dtypes = {4: "fp32", 1: "int8"}
    if cfg.dtype_bytes not in dtypes:
        raise ValueError(f"dtype_bytes {cfg.dtype_bytes}: the profile format knows fp32 (4) and int8 (1) only")
    if not 0 <= position < cfg.context:
        raise ValueError(f"position must be in 0..{cfg.context - 1} for {cfg.name}, got {position}")
    names = ["embed", *[f"block{i}" for i in range(cfg.layers)], "head"]
    flops = [0.0, *[float(block_flops(cfg, position))] * cfg.layers, head_flops(cfg)]
    params = [embedding_params(cfg), *[block_params(cfg)] * cfg.layers, head_params(cfg)]
    n = len(names)
    tied_copy = cfg.vocab * cfg.d_model if cfg.tied_embeddings else 0  # the server's head away from the embedding
    outputs = [activation_bytes(cfg)] * (cfg.layers + 1) + [cfg.vocab * cfg.dtype_bytes]
    total_flops, total_params = sum(flops), sum(params)
    rows = [(0, "input", 0, total_flops, 0, total_params * cfg.dtype_bytes, 8, 8)]
    for k in range(1, n + 1):
        dev_params = sum(params[:k]) * cfg.dtype_bytes
        srv_params = (sum(params[k:]) + (tied_copy if k < n else 0)) * cfg.dtype_bytes
        rows.append((k, names[k - 1], sum(flops[:k]), total_flops - sum(flops[:k]), dev_params, srv_params,
                     outputs[k - 1], dev_params + max([8, *outputs[:k]])))
    from ns6g.compute.profile_format import COLUMNS

    df = pd.DataFrame(rows, columns=COLUMNS).astype({c: "int64" for c in COLUMNS if c != "layer"})
    df.attrs.update(model=cfg.name, dtype=dtypes[cfg.dtype_bytes], input_shape="1x1")
    return df


def conditional_top_k(cfg: TransformerConfig, placement: Placement | dict, links: PlacementLinks | dict | None = None,
                      *, node: str = "device", budget_s: float, prompt_tokens: int = 128,
                      position: int | None = None) -> int:
    """A3SMoE-style resource-conditional activation: the largest number of experts k in 1..top_k active
    per token on ``node``'s blocks for which the placement's decode latency (:func:`evaluate_placement`,
    the other nodes at their own settings) is at most ``budget_s`` seconds per token; 1 where even one
    expert misses the budget (a token needs an expert)."""
    if not cfg.moe:
        raise ValueError(f"{cfg.name} is dense (experts = 0): no experts to activate")
    if node not in NODES:
        raise ValueError(f"node must be one of {', '.join(NODES)}, got {node!r}")
    if not (math.isfinite(budget_s) and budget_s > 0):
        raise ValueError(f"budget_s must be finite and > 0, got {budget_s}")
    p = placement if isinstance(placement, Placement) else Placement.from_user(placement)
    lk = _links(links)
    for k in range(cfg.top_k, 0, -1):
        trial = p.model_copy(update={f"{node}_top_k": k})
        row = evaluate_placement(cfg, trial, lk, prompt_tokens=prompt_tokens, position=position)
        if row["decode_s"] <= budget_s:
            return k
    return 1

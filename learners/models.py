"""The model zoo shared by the split-computing profiles and the learners.

Every model is built from configuration only (random initialisation, nothing downloaded) and is
returned as an ``nn.Sequential`` of *named top-level blocks*. The candidate split points are the
boundaries between those blocks: **cut k means the first k blocks run on the device and the rest on
the server** (k = 0: everything on the server, the raw input is sent; k = N: everything on the
device, only the result is sent). Blocks are chosen so that every boundary is a sensible cut (a
residual block is never split in the middle).

Models (name -> factory, see :data:`MODELS`):

``small_cnn``           two conv/pool stages and two fully connected layers (MNIST-sized)
``mobilenet_v2_style``  stem, inverted residual blocks (expand 1x1, depthwise 3x3, project 1x1),
                        1x1 head conv, global pool, classifier (CIFAR-sized, stride-1 stem)
``resnet18_style``      CIFAR-style ResNet-18: 3x3 stem, BasicBlocks [2, 2, 2, 2], pool, fc
``small_transformer``   token + position embedding, pre-norm encoder blocks, mean-pool classifier

``build_model(name, **kwargs)`` builds one; ``input_shape(name, batch=1, **kwargs)`` and
``input_dtype(name)`` describe its input (images are float32 ``(batch, C, H, W)``; the transformer
takes int64 token ids ``(batch, seq_len)``); ``example_input`` makes a deterministic sample.
"""

from __future__ import annotations

import inspect
import math
from collections import OrderedDict
from typing import Any, Callable

import torch
from torch import nn
import torch.nn.functional as F

__all__ = [
    "MODELS",
    "build_model",
    "example_input",
    "input_dtype",
    "input_shape",
    "mobilenet_v2_style",
    "model_kwargs",
    "resnet18_style",
    "small_cnn",
    "small_transformer",
]


# --------------------------------------------------------------------------------------------------
# small CNN


def small_cnn(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Sequential:
    """conv1 (3x3, 16) -> pool1 -> conv2 (3x3, 32) -> pool2 -> fc1 (128) -> fc2 (num_classes)."""
    _check_positive(num_classes=num_classes, in_channels=in_channels, image_size=image_size)
    if image_size < 4:
        raise ValueError(f"small_cnn needs image_size >= 4, got {image_size}")
    side = image_size // 2 // 2
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Sequential(nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU())),
                ("pool1", nn.MaxPool2d(2)),
                ("conv2", nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU())),
                ("pool2", nn.MaxPool2d(2)),
                ("fc1", nn.Sequential(nn.Flatten(), nn.Linear(32 * side * side, 128), nn.ReLU())),
                ("fc2", nn.Linear(128, num_classes)),
            ]
        )
    )


# --------------------------------------------------------------------------------------------------
# MobileNetV2-style


def _make_divisible(value: float, divisor: int = 8) -> int:
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if out < 0.9 * value:
        out += divisor
    return out


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand (if t > 1), 3x3 depthwise, 1x1 linear projection; residual
    connection when the stride is 1 and the channel count is unchanged."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = in_ch * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(in_ch, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


# (expansion t, output channels c, repeats n, first stride s): a shortened MobileNetV2 table for
# 32x32 inputs (32 -> 32 -> 16 -> 8 -> 4).
_MBV2_CONFIG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 2, 2), (6, 96, 1, 1)]


def mobilenet_v2_style(
    num_classes: int = 10, in_channels: int = 3, image_size: int = 32, width: float = 1.0
) -> nn.Sequential:
    """stem (3x3, 32*width) -> ir1..ir8 (inverted residual blocks) -> head (1x1, 256*width) ->
    pool (global average) -> classifier. ``image_size`` only fixes the sample input shape."""
    _check_positive(num_classes=num_classes, in_channels=in_channels, image_size=image_size)
    if not width > 0:
        raise ValueError(f"mobilenet_v2_style needs width > 0, got {width}")
    stem_ch = _make_divisible(32 * width)
    blocks: list[tuple[str, nn.Module]] = [
        (
            "stem",
            nn.Sequential(
                nn.Conv2d(in_channels, stem_ch, 3, padding=1, bias=False),
                nn.BatchNorm2d(stem_ch),
                nn.ReLU6(),
            ),
        )
    ]
    ch = stem_ch
    index = 0
    for t, c, n, s in _MBV2_CONFIG:
        out_ch = _make_divisible(c * width)
        for i in range(n):
            index += 1
            blocks.append((f"ir{index}", InvertedResidual(ch, out_ch, s if i == 0 else 1, t)))
            ch = out_ch
    head_ch = _make_divisible(256 * max(1.0, width))
    blocks += [
        (
            "head",
            nn.Sequential(nn.Conv2d(ch, head_ch, 1, bias=False), nn.BatchNorm2d(head_ch), nn.ReLU6()),
        ),
        ("pool", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())),
        ("classifier", nn.Linear(head_ch, num_classes)),
    ]
    return nn.Sequential(OrderedDict(blocks))


# --------------------------------------------------------------------------------------------------
# ResNet-18-style


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm; identity or 1x1 projection shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


def resnet18_style(
    num_classes: int = 10, in_channels: int = 3, image_size: int = 32, base_width: int = 64
) -> nn.Sequential:
    """stem (3x3, base_width) -> layer1_0 .. layer4_1 (BasicBlocks [2, 2, 2, 2], widths
    base_width x 1, 2, 4, 8, strides 1, 2, 2, 2) -> pool (global average) -> fc.
    ``base_width=64`` is ResNet-18's width; smaller values give a cheaper net of the same shape."""
    _check_positive(
        num_classes=num_classes, in_channels=in_channels, image_size=image_size, base_width=base_width
    )
    blocks: list[tuple[str, nn.Module]] = [
        (
            "stem",
            nn.Sequential(
                nn.Conv2d(in_channels, base_width, 3, padding=1, bias=False),
                nn.BatchNorm2d(base_width),
                nn.ReLU(),
            ),
        )
    ]
    ch = base_width
    for stage, (mult, stride) in enumerate([(1, 1), (2, 2), (4, 2), (8, 2)], start=1):
        out_ch = base_width * mult
        for i in range(2):
            blocks.append((f"layer{stage}_{i}", BasicBlock(ch, out_ch, stride if i == 0 else 1)))
            ch = out_ch
    blocks += [
        ("pool", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())),
        ("fc", nn.Linear(ch, num_classes)),
    ]
    return nn.Sequential(OrderedDict(blocks))


# --------------------------------------------------------------------------------------------------
# small transformer


class Embedding(nn.Module):
    """Token embedding plus a learned position embedding: int64 ids (B, L) -> (B, L, d_model)."""

    def __init__(self, vocab_size: int, seq_len: int, d_model: int) -> None:
        super().__init__()
        self.seq_len = seq_len
        self.token = nn.Embedding(vocab_size, d_model)
        self.position = nn.Parameter(torch.zeros(seq_len, d_model))
        nn.init.normal_(self.position, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.shape[-1] > self.seq_len:
            raise ValueError(f"sequence of length {ids.shape[-1]} is longer than seq_len={self.seq_len}")
        return self.token(ids) + self.position[: ids.shape[-1]]


class EncoderBlock(nn.Module):
    """Pre-norm transformer encoder block. Attention is written out with explicit matmuls (not
    ``nn.MultiheadAttention``, whose fused inference path the FLOP counter cannot see)."""

    def __init__(self, d_model: int, heads: int, ff_mult: int = 4) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, ff_mult * d_model), nn.GELU(), nn.Linear(ff_mult * d_model, d_model)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        head_dim = d // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, length, self.heads, head_dim).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        weights = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(head_dim), dim=-1)
        attn = torch.matmul(weights, v).transpose(1, 2).reshape(b, length, d)
        x = x + self.proj(attn)
        return x + self.ff(self.norm2(x))


class ClassifierHead(nn.Module):
    """Final layer norm, mean over the sequence, linear classifier: (B, L, d) -> (B, classes)."""

    def __init__(self, d_model: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(x).mean(dim=1))


def small_transformer(
    vocab_size: int = 1000,
    seq_len: int = 64,
    d_model: int = 128,
    layers: int = 2,
    heads: int = 4,
    num_classes: int = 2,
) -> nn.Sequential:
    """embed -> encoder0 .. encoder{layers-1} -> head. Input: int64 token ids (batch, seq_len)."""
    _check_positive(
        vocab_size=vocab_size, seq_len=seq_len, d_model=d_model, layers=layers, heads=heads,
        num_classes=num_classes,
    )
    blocks: list[tuple[str, nn.Module]] = [("embed", Embedding(vocab_size, seq_len, d_model))]
    blocks += [(f"encoder{i}", EncoderBlock(d_model, heads)) for i in range(layers)]
    blocks.append(("head", ClassifierHead(d_model, num_classes)))
    return nn.Sequential(OrderedDict(blocks))


# --------------------------------------------------------------------------------------------------
# registry


MODELS: dict[str, Callable[..., nn.Sequential]] = {
    "small_cnn": small_cnn,
    "mobilenet_v2_style": mobilenet_v2_style,
    "resnet18_style": resnet18_style,
    "small_transformer": small_transformer,
}

_TOKEN_MODELS = {"small_transformer"}


def _check_positive(**values: Any) -> None:
    for key, value in values.items():
        if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            raise ValueError(f"{key} must be a positive integer, got {value!r}")


def _factory(name: str) -> Callable[..., nn.Sequential]:
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(MODELS))
        raise ValueError(f"unknown model {name!r}; valid models: {valid}") from None


def model_kwargs(name: str, **kwargs: Any) -> dict[str, Any]:
    """The factory's full keyword set for ``name``: its defaults overridden by ``kwargs``.
    Unknown keywords are refused with a ValueError naming the accepted ones."""
    params = inspect.signature(_factory(name)).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ValueError(
            f"model {name!r} does not take {', '.join(unknown)}; it takes: {', '.join(params)}"
        )
    out = {key: p.default for key, p in params.items()}
    out.update(kwargs)
    return out


def build_model(name: str, **kwargs: Any) -> nn.Sequential:
    """Build zoo model ``name`` (randomly initialised; seed torch yourself for reproducibility)."""
    return _factory(name)(**model_kwargs(name, **kwargs))


def input_shape(name: str, batch: int = 1, **kwargs: Any) -> tuple[int, ...]:
    """Shape of one input batch: ``(batch, C, H, W)`` for images, ``(batch, seq_len)`` for tokens."""
    cfg = model_kwargs(name, **kwargs)
    if name in _TOKEN_MODELS:
        return (batch, cfg["seq_len"])
    return (batch, cfg["in_channels"], cfg["image_size"], cfg["image_size"])


def input_dtype(name: str) -> torch.dtype:
    """``torch.int64`` (token ids) for the transformer, ``torch.float32`` for image models."""
    _factory(name)
    return torch.int64 if name in _TOKEN_MODELS else torch.float32


def example_input(name: str, batch: int = 1, seed: int = 0, **kwargs: Any) -> torch.Tensor:
    """A deterministic random input of the right shape and dtype (ids in [0, vocab_size))."""
    shape = input_shape(name, batch=batch, **kwargs)
    gen = torch.Generator().manual_seed(seed)
    if name in _TOKEN_MODELS:
        vocab = model_kwargs(name, **kwargs)["vocab_size"]
        return torch.randint(0, vocab, shape, generator=gen, dtype=torch.int64)
    return torch.rand(shape, generator=gen, dtype=torch.float32)

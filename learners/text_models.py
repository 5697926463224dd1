"""Small text models built from configuration (random initialisation, nothing downloaded), and the loss,
training and FLOP-count helpers the text learners share.

``build_causal_lm``          a GPT-2-style causal language model (``transformers.GPT2LMHeadModel``):
                             token + learned position embeddings, pre-norm blocks with fused QKV
                             attention (``c_attn``, a d x 3d projection) and a 4d MLP, tied LM head.
``build_encoder_classifier`` a BERT-style encoder with a sequence-classification head
                             (``transformers.BertForSequenceClassification``).
``load_causal_lm``           a pretrained causal LM and its tokenizer from a Hugging Face model folder on
                             local disk (``local_files_only``: nothing is downloaded).

Both take the key/value cache as ``past_key_values``, the name peft's prefix tuning passes its trainable
per-layer prefix by (see :func:`_taking_past_key_values`), whatever transformers itself calls the cache.

Both default to the byte vocabulary of :class:`ns6g.learners.text_data.ByteTokenizer` (257 ids, id 256
is end-of-text and padding) and to dropout 0, so that the same seed gives the same losses. ``seed``
initialises the weights without touching the caller's global RNG: every client that builds with the
same configuration and seed holds the same base model W0, which is what federated PEFT assumes (only
the adapters travel).

Losses (:func:`lm_loss`, :func:`classification_loss`) take a batch and return the mean cross-entropy in
nats per token (per example for the classifier); perplexity is ``exp(loss)``. :func:`train_steps` runs
AdamW on the model's trainable parameters only (with a PEFT adapter applied, the adapter's) and returns
the losses and the FLOPs the steps cost.
:func:`training_step_flops` measures one forward + backward with PyTorch's FLOP counter (matrix
multiplications only, 2 FLOPs per multiply-accumulate): with frozen weights autograd skips their weight
gradients, so a LoRA step costs less than a full one and more as the rank grows.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ns6g.core.config import ScenarioConfig
from ns6g.learners.text_data import ByteTokenizer

__all__ = [
    "CausalLMConfig",
    "EncoderClassifierConfig",
    "LocalTraining",
    "build_causal_lm",
    "build_encoder_classifier",
    "classification_loss",
    "PretrainedTokenizer",
    "evaluate",
    "lm_loss",
    "load_causal_lm",
    "positions_of",
    "seeded",
    "train_steps",
    "training_step_flops",
]

_BYTE_VOCAB = ByteTokenizer.vocab_size
_EOS_ID = ByteTokenizer.eos_id


class _TextModelConfig(ScenarioConfig):
    """Fields shared by both text models (validated, strict, frozen; see ScenarioConfig.from_user)."""

    vocab_size: int = Field(_BYTE_VOCAB, ge=2, le=1_000_000, description="token vocabulary size (ids)")
    seq_len: int = Field(128, ge=2, le=65_536, description="longest input sequence (tokens)")
    d_model: int = Field(64, ge=2, le=65_536, description="hidden size (features per token)")
    layers: int = Field(2, ge=1, le=256, description="transformer blocks")
    heads: int = Field(2, ge=1, le=1024, description="attention heads (must divide d_model)")
    dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="dropout probability everywhere (0 = deterministic)"
    )
    pad_id: int = Field(_EOS_ID, ge=0, description="end-of-text / padding token id (< vocab_size)")

    @model_validator(mode="after")
    def _check_shapes(self) -> Self:
        if self.d_model % self.heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by heads={self.heads}")
        if self.pad_id >= self.vocab_size:
            raise ValueError(f"pad_id={self.pad_id} is not below vocab_size={self.vocab_size}")
        return self


class CausalLMConfig(_TextModelConfig):
    """A GPT-2-style causal language model (MLP width 4 x d_model, as GPT-2)."""


class EncoderClassifierConfig(_TextModelConfig):
    """A BERT-style encoder classifier (classification from the first token's pooled state)."""

    ff_dim: int = Field(256, ge=1, le=1_000_000, description="feed-forward hidden size (features)")
    num_classes: int = Field(4, ge=2, le=100_000, description="number of classes")


def seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """Build under ``torch.manual_seed(seed)`` without changing the caller's RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


@functools.cache
def _taking_past_key_values(base: type[nn.Module]) -> type[nn.Module]:
    """``base`` (a transformers model class) with a ``forward`` that names ``past_key_values``.

    peft's prefix tuning hands its trainable keys and values to the model as ``past_key_values`` (a
    transformers ``Cache`` holding virtual_tokens positions per layer) and, for a sequence classifier,
    refuses a model whose ``forward`` signature names no such parameter. transformers 5.2x renamed the
    argument ``cache`` (``past_key_values`` stays a deprecated alias until 5.40), and its classifiers take
    it only through ``**kwargs``: prefix tuning of the classifier then failed with "Model does not support
    past key values". The subclass takes ``past_key_values`` and passes it on under the name the
    installed transformers' backbone takes, so prefix tuning works before and after the rename. The
    class keeps ``base``'s name (peft and :mod:`.peft_adapters` tell model kinds by it) and is found
    under it in this module (:func:`__getattr__`), so the models pickle."""

    def forward(self, *args: Any, past_key_values: Any = None, **kwargs: Any) -> Any:
        if past_key_values is not None:
            kwargs[_cache_keyword(type(self.base_model))] = past_key_values
        return base.forward(self, *args, **kwargs)

    names = {"__module__": __name__, "__qualname__": base.__name__}
    return type(base.__name__, (base,), {"forward": forward, **names})


def __getattr__(name: str) -> type[nn.Module]:
    """This module's wrapped transformers classes, by their own name (what pickle looks up)."""
    if name in ("GPT2LMHeadModel", "BertForSequenceClassification"):
        import transformers

        return _taking_past_key_values(getattr(transformers, name))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _cache_keyword(backbone: type[nn.Module]) -> str:
    """The keyword ``backbone.forward`` takes the key/value cache by: ``cache`` (transformers >= 5.2x)
    or ``past_key_values`` (before)."""
    params = inspect.signature(backbone.forward).parameters
    for name in ("cache", "past_key_values"):
        if name in params:
            return name
    raise TypeError(f"{backbone.__name__}.forward takes no key/value cache (neither cache nor past_key_values)")


def build_causal_lm(
    config: CausalLMConfig | dict[str, Any] | None = None, seed: int = 0, **overrides: Any
) -> nn.Module:
    """A randomly initialised ``GPT2LMHeadModel`` (seeded). Input ``input_ids`` int64 ``(B, L <= seq_len)``;
    output logits ``(B, L, vocab_size)``. Raises ConfigError for a bad configuration."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = CausalLMConfig.from_user(config, **overrides)
    hf_config = GPT2Config(
        vocab_size=cfg.vocab_size,
        n_positions=cfg.seq_len,
        n_embd=cfg.d_model,
        n_layer=cfg.layers,
        n_head=cfg.heads,
        resid_pdrop=cfg.dropout,
        embd_pdrop=cfg.dropout,
        attn_pdrop=cfg.dropout,
        bos_token_id=cfg.pad_id,
        eos_token_id=cfg.pad_id,
        pad_token_id=cfg.pad_id,
    )
    model = seeded(seed, lambda: _taking_past_key_values(GPT2LMHeadModel)(hf_config))
    model.loss_type = "ForCausalLM"  # transformers infers it from the class name and warns otherwise
    return model


def build_encoder_classifier(
    config: EncoderClassifierConfig | dict[str, Any] | None = None, seed: int = 0, **overrides: Any
) -> nn.Module:
    """A randomly initialised ``BertForSequenceClassification`` (seeded). Inputs ``input_ids`` and
    ``attention_mask`` int64 ``(B, L <= seq_len)``; output logits ``(B, num_classes)``."""
    from transformers import BertConfig, BertForSequenceClassification

    cfg = EncoderClassifierConfig.from_user(config, **overrides)
    hf_config = BertConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.d_model,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.ff_dim,
        max_position_embeddings=cfg.seq_len,
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
        classifier_dropout=cfg.dropout,
        num_labels=cfg.num_classes,
        pad_token_id=cfg.pad_id,
        problem_type="single_label_classification",
    )
    return seeded(seed, lambda: _taking_past_key_values(BertForSequenceClassification)(hf_config))


class PretrainedTokenizer:
    """A Hugging Face tokenizer with the interface of :class:`~ns6g.learners.text_data.ByteTokenizer`
    (``encode`` without special tokens, ``eos_id``, ``vocab_size``), for :func:`~ns6g.learners.text_data.lm_blocks`."""

    def __init__(self, hf_tokenizer: Any) -> None:
        self.hf = hf_tokenizer
        self.eos_id = hf_tokenizer.eos_token_id
        self.vocab_size = len(hf_tokenizer)

    def encode(self, text: str) -> list[int]:
        return list(self.hf.encode(text, add_special_tokens=False))


#: files a saved Hugging Face tokenizer has at least one of
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "vocab.txt")


def load_causal_lm(path: str | Path) -> tuple[nn.Module, PretrainedTokenizer]:
    """A causal language model and its tokenizer from a Hugging Face model folder on local disk
    (``config.json``, the weights, the tokenizer files), loaded with ``local_files_only`` (nothing is
    downloaded). The model takes ``past_key_values`` as :func:`build_causal_lm`'s does (prefix tuning).

    Raises:
        ValueError: naming the folder if it is missing, holds no loadable causal LM or tokenizer, the
            tokenizer has no end-of-text token, or its ids exceed the model's vocabulary.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise ValueError(f"model_path {str(path)!r}: no config.json there (save the model with "
                         "model.save_pretrained(DIR))")
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"model_path {str(path)!r}: not a loadable causal language model ({exc})") from None
    hint = "save one there with tokenizer.save_pretrained(DIR)"
    # without its files transformers may build an empty tokenizer from config.json alone: refused here
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        raise ValueError(f"model_path {str(path)!r}: no loadable tokenizer (none of {', '.join(_TOKENIZER_FILES)}); "
                         f"{hint}")
    try:
        hf_tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"model_path {str(path)!r}: no loadable tokenizer ({type(exc).__name__}: {exc}); {hint}") \
            from None
    tokenizer = PretrainedTokenizer(hf_tokenizer)
    if not tokenizer.encode("def f(x): return x"):
        raise ValueError(f"model_path {str(path)!r}: its tokenizer turns text into no token ids; {hint}")
    if tokenizer.eos_id is None:
        raise ValueError(f"model_path {str(path)!r}: the tokenizer has no end-of-text token (eos_token), which "
                         "separates the documents")
    if tokenizer.vocab_size > model.config.vocab_size:
        raise ValueError(f"model_path {str(path)!r}: the tokenizer has {tokenizer.vocab_size} ids, the model's "
                         f"vocabulary only {model.config.vocab_size}")
    model.__class__ = _taking_past_key_values(type(model))  # the same class, forward also naming past_key_values
    model.loss_type = "ForCausalLM"
    return model, tokenizer


def positions_of(model: nn.Module) -> int | None:
    """How many positions a transformers model takes (``n_positions`` / ``max_position_embeddings``)."""
    config = getattr(model, "config", None)
    return getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)


# --------------------------------------------------------------------------------------------------
# losses, training, FLOPs


def lm_loss(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy (nats per predicted token) of int64 ``ids`` ``(B, L)``.

    Works for the bare model and with a PEFT adapter (prompt tuning's virtual tokens carry no label).
    Every position is attended: end-of-text ids inside a block separate documents, they are not padding."""
    return model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss


def classification_loss(
    model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """Mean cross-entropy of a batch ``(ids (B, L), attention_mask (B, L), labels (B,))``."""
    ids, mask, labels = batch
    return model(input_ids=ids, attention_mask=mask, labels=labels).loss


LossFn = Callable[[nn.Module, Any], torch.Tensor]


@dataclass(frozen=True)
class LocalTraining:
    """What :func:`train_steps` did: each step's training loss (nats, before the update) and the FLOPs of
    all its forward and backward passes (what a protocol submits as the client's ``Compute``)."""

    losses: list[float]
    flops: int


def _shapes(batch: Any) -> tuple:
    """The tensor shapes of a batch (a tensor or a tuple of tensors): FLOPs depend on nothing else."""
    if isinstance(batch, torch.Tensor):
        return (tuple(batch.shape),)
    return tuple(tuple(t.shape) for t in batch)


def train_steps(
    model: nn.Module, batches: Iterable[Any], lr: float, loss_fn: LossFn = lm_loss, weight_decay: float = 0.0
) -> LocalTraining:
    """One AdamW step (learning rate ``lr``) per batch on the model's trainable parameters, a fresh
    optimiser per call (as a client's local round).

    FLOPs are counted exactly as in :func:`training_step_flops`, but only on the first step of each
    batch shape (the count depends on shapes alone; counting every step would slow training 3-5x); the
    optimiser's elementwise updates are not counted.

    Raises:
        ValueError: if the model has no trainable parameter or ``lr`` is not positive.
    """
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameter")
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    model.train()
    losses: list[float] = []
    flops_by_shape: dict[tuple, int] = {}
    total_flops = 0
    for batch in batches:
        optimiser.zero_grad(set_to_none=True)
        shape = _shapes(batch)
        if shape in flops_by_shape:
            loss = loss_fn(model, batch)
            loss.backward()
        else:
            counter = FlopCounterMode(display=False)
            with counter:
                loss = loss_fn(model, batch)
                loss.backward()
            flops_by_shape[shape] = int(counter.get_total_flops())
        total_flops += flops_by_shape[shape]
        optimiser.step()
        losses.append(float(loss.detach()))
    return LocalTraining(losses=losses, flops=total_flops)


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[Any], loss_fn: LossFn = lm_loss) -> float:
    """Mean loss over ``batches`` in eval mode (each batch weighted equally)."""
    model.eval()
    losses = [float(loss_fn(model, batch)) for batch in batches]
    if not losses:
        raise ValueError("no batch to evaluate")
    return sum(losses) / len(losses)


def training_step_flops(model: nn.Module, batch: Any, loss_fn: LossFn = lm_loss) -> int:
    """FLOPs of one forward + backward pass on ``batch`` (for the whole batch). Gradients are cleared
    afterwards; the parameters do not change."""
    model.train()
    counter = FlopCounterMode(display=False)
    with counter:
        loss_fn(model, batch).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())

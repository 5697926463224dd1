"""Federated parameter-efficient fine-tuning (paper 003): FL-LoRA, FL-Prompt-Tuning, FL-Prefix-Tuning,
clustered CFL-LoRA and heterogeneous LoRA ranks (HetLoRA), as protocols of the round engine.

Every client holds the same pretrained base language model W0 (a GPT-2-style LM of
:mod:`ns6g.learners.text_models`, pretrained once in :meth:`setup` on the offline docstring corpus of
:mod:`ns6g.learners.text_data`; it is assumed on the devices before the job, so it is never sent). Only
the adapter (:mod:`ns6g.learners.peft_adapters`) trains and travels. Transfer sequence per client and
round, ``server`` = ``config.server``:

1. ``adapter_down``  server -> client   the client's adapter state (its cluster's; HetLoRA: the global
                                        adapter truncated to the client's rank)
2. ``train``         compute on client  ``local_steps`` AdamW steps on its text blocks (FLOPs measured)
3. ``adapter_up``    client -> server   the trained adapter (int8 / top-k: the update against 1.)

Bytes: LoRA r (d_in + d_out) values per adapted matrix, prompt tuning ``virtual_tokens x d``, prefix
tuning ``virtual_tokens x 2 x layers x d``, times the element size (4 B in fp32). The server waits for
every upload, drops clients whose upload failed and averages the rest weighted by their sample counts:
over all clients (FL-*), within each cluster (CFL-LoRA), or zero-padded to the largest rank (HetLoRA).

With ``data='image'`` (``fl-lora``, ``cfl-lora``, ``hetlora``) the base is the job's image model
instead (randomly initialised from the job's seed: no pretrained image model exists offline) with LoRA
on its ``nn.Linear`` layers, trained on the job's images and partition for ``local_epochs`` passes; the
test is the job's test set, and the domains for CFL are those of partition ``'domain'``.

Text data: the corpus' documents of each domain are split at random into held-out documents (the test text of
that domain) and training documents; clients are spread over the domains in contiguous groups (client c
has domain ``c * domains // clients``) and each holds ``samples_per_client`` disjoint blocks of its
domain. The round's test loss is the mean over all clients of the held-out loss on the client's domain
under the adapter it would download (nats per token); the accuracy is next-token top-1 accuracy.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from ns6g.core.config import ScenarioConfig
from ns6g.learners import peft_adapters as pa
from ns6g.learners import text_data as td
from ns6g.learners import text_models as tm
from ns6g.learners.network import client
from ns6g.learners.protocols.base import Protocol, RoundOutcome

if TYPE_CHECKING:
    from ns6g.learners.engine import FlJob
    from ns6g.learners.records import Sent

__all__ = ["CflLora", "FlLora", "FlPrefix", "FlPrompt", "HetLora", "PeftOptions", "base_language_model", "new_base"]


class PeftOptions(ScenarioConfig):
    """``protocol_options`` of the federated PEFT protocols (the job's ``batch_size`` is the mini-batch)."""

    data: Literal["text", "image"] = Field(
        "text", description="'text': the base LM on the docstring corpus; 'image': LoRA on the nn.Linear layers "
        "of the job's image model (fl-lora, cfl-lora, hetlora) on the job's data and partition",
    )

    model_path: str = Field(
        "", description="a Hugging Face causal-LM folder on local disk (config.json, weights, tokenizer; loaded with "
        "local_files_only, nothing downloads) as the base instead of the built one: d_model, layers, heads and "
        "pretrain_steps then do not apply, and its tokenizer cuts the text (data='text' only)",
    )
    d_model: int = Field(32, ge=2, le=4096, description="base LM hidden size (features per token)")
    layers: int = Field(2, ge=1, le=48, description="base LM transformer blocks")
    heads: int = Field(2, ge=1, le=64, description="base LM attention heads (must divide d_model)")
    seq_len: int = Field(64, ge=4, le=4096, description="tokens per training / test block")
    pretrain_steps: int = Field(
        300, ge=0, le=100_000, description="AdamW steps (batch 16, lr 3e-3) pretraining the base LM on the "
        "training documents of all domains, in blocks of seq_len + virtual_tokens tokens"
    )
    domains: list[str] = Field(
        default_factory=lambda: list(td.PYTHON_DOC_DOMAINS), min_length=1,
        description="docstring domains of ns6g.learners.text_data the clients are spread over",
    )
    held_out_fraction: float = Field(0.15, gt=0, lt=1, description="share of each domain's documents held out for testing")
    test_blocks: int = Field(64, ge=1, le=100_000, description="held-out blocks per domain the test loss uses")
    samples_per_client: int = Field(100, ge=1, le=1_000_000, description="text blocks each client holds")
    local_steps: int = Field(10, ge=1, le=100_000, description="AdamW steps a client runs per round")
    learning_rate: float = Field(3e-3, gt=0, le=1, description="AdamW learning rate of the adapters")
    lora_rank: int = Field(8, ge=1, le=4096, description="LoRA rank r (fl-lora, cfl-lora)")
    lora_targets: list[str] | None = Field(
        None, min_length=1, description="modules LoRA adapts; None: text ['c_attn', 'c_proj', 'c_fc'] (c_proj: "
        "the attention and the MLP output), image every nn.Linear of the model",
    )
    virtual_tokens: int = Field(8, ge=1, le=4096, description="prompt / prefix length (virtual tokens)")
    client_ranks: list[int] = Field(
        default_factory=lambda: [2, 4, 8], min_length=1,
        description="hetlora: client c trains LoRA rank client_ranks[c % len]; the global adapter has the largest",
    )
    clustering: Literal["domain", "updates"] = Field(
        "domain", description="cfl-lora: clusters from the clients' data domains, or from the directions of "
        "their first-round adapter updates (spherical k-means, `clusters` of them)",
    )
    clusters: int = Field(4, ge=1, le=100_000, description="cfl-lora with clustering 'updates': number of clusters")

    @model_validator(mode="after")
    def _check(self) -> PeftOptions:
        if self.d_model % self.heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by heads={self.heads}")
        unknown = [d for d in self.domains if d not in td.PYTHON_DOC_DOMAINS]
        if unknown:
            raise ValueError(f"unknown domain(s) {unknown}; valid: {', '.join(td.PYTHON_DOC_DOMAINS)}")
        if any(r < 1 for r in self.client_ranks):
            raise ValueError(f"client_ranks must be >= 1, got {self.client_ranks}")
        if self.model_path and self.data != "text":
            raise ValueError("model_path is a language model: it takes data='text'")
        if self.model_path and not Path(self.model_path).expanduser().is_dir():
            raise ValueError(f"model_path {self.model_path!r} is not a folder on local disk")
        return self


def new_base(options: PeftOptions, seed: int) -> nn.Module:
    """A fresh base LM: loaded from ``model_path`` (its own weights), else built (random, from ``seed``)
    with ``seq_len + virtual_tokens`` positions (prompt tuning puts its virtual tokens before the input)."""
    o = options
    if o.model_path:
        return tm.load_causal_lm(o.model_path)[0]
    return tm.build_causal_lm(seed=seed, seq_len=o.seq_len + o.virtual_tokens, d_model=o.d_model, layers=o.layers,
                              heads=o.heads)


# (options that shape the base and the data, seed) -> (train docs, held-out blocks, client blocks, base state)
_BASES: dict[tuple[Any, ...], tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]] = {}


def base_language_model(
    options: PeftOptions, seed: int
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The text of a job and its pretrained base LM, cached per (options, seed) within the process.

    Returns ``(train_blocks, test_blocks, base_state)``: per domain int64 ``(n, seq_len)`` training blocks
    (from the training documents) and ``(test_blocks, seq_len)`` held-out blocks, and the state dict of a
    ``build_causal_lm`` with ``seq_len + virtual_tokens`` positions pretrained for ``pretrain_steps``
    steps, or with ``model_path`` of the model loaded from there (its tokenizer cuts the blocks; cached
    per folder name: a folder rewritten within one process is not reread). Raises ValueError if a domain's held-out text makes fewer than ``test_blocks`` blocks."""
    o = options
    key = (o.model_path, o.d_model, o.layers, o.heads, o.seq_len, o.virtual_tokens, o.pretrain_steps,
           tuple(o.domains), o.held_out_fraction, o.test_blocks, seed)
    if key not in _BASES:
        positions = o.seq_len + o.virtual_tokens  # prompt tuning puts its virtual tokens before the input
        if o.model_path:
            base, tokenizer = tm.load_causal_lm(o.model_path)
            if (tm.positions_of(base) or positions) < positions:
                raise ValueError(f"model_path {o.model_path!r}: the model takes {tm.positions_of(base)} positions, "
                                 f"seq_len={o.seq_len} + virtual_tokens={o.virtual_tokens} need {positions}")
        else:
            base, tokenizer = new_base(o, seed), None  # None: ns6g's byte tokenizer
        gen = torch.Generator().manual_seed(seed)
        train, test, pretrain = {}, {}, []
        for domain, docs in td.python_doc_corpus(o.domains).items():
            order = torch.randperm(len(docs), generator=gen).tolist()
            cut = max(1, round(o.held_out_fraction * len(docs)))
            held, kept = [docs[i] for i in sorted(order[:cut])], [docs[i] for i in sorted(order[cut:])]
            blocks = td.lm_blocks(held, o.seq_len, tokenizer)
            if len(blocks) < o.test_blocks:
                raise ValueError(
                    f"domain {domain!r}: its held-out text makes {len(blocks)} blocks of {o.seq_len} tokens, "
                    f"test_blocks={o.test_blocks} asked for more"
                )
            test[domain] = blocks[torch.randperm(len(blocks), generator=gen)[: o.test_blocks]]
            train[domain] = td.lm_blocks(kept, o.seq_len, tokenizer)
            if not o.model_path:
                pretrain.append(td.lm_blocks(kept, positions))
        if o.pretrain_steps and not o.model_path:  # a loaded model comes pretrained
            tm.train_steps(base, td.minibatches(torch.cat(pretrain), 16, o.pretrain_steps, seed=seed), lr=3e-3)
        _BASES[key] = (train, test, {k: v.detach().clone() for k, v in base.state_dict().items()})
    return _BASES[key]


@torch.no_grad()
def lm_test(model: nn.Module, ids: torch.Tensor) -> tuple[float, float]:
    """(mean next-token cross-entropy in nats, next-token top-1 accuracy) of ``model`` on int64 blocks
    ``ids`` (n, L), in chunks of 64 blocks. Logits of virtual tokens (prompt tuning) are skipped."""
    model.eval()
    losses, hits, count = [], 0, 0
    for start in range(0, len(ids), 64):
        x = ids[start : start + 64]
        out = model(input_ids=x, attention_mask=torch.ones_like(x), labels=x)
        losses.append(float(out.loss) * len(x))
        predicted = out.logits[:, -x.shape[1] : -1].argmax(dim=-1)
        hits += int((predicted == x[:, 1:]).sum())
        count += x[:, 1:].numel()
    return sum(losses) / len(ids), hits / count


State = dict[str, torch.Tensor]


class _FederatedAdapter(Protocol):
    """One adapter method on a base model every client holds (the pretrained LM, or with data='image' the
    job's image model); one adapter state per group of clients (one group: FedAvg)."""

    # Its steps read values (losses, pretraining, clustering), so it cannot run on shapes alone.
    profiles = False
    updates = "adapter"  # adapters, not the job model's state
    options = PeftOptions
    method: str = "lora"

    def setup(self, job: FlJob) -> None:
        cfg = job.config
        self.opt = self.settings(cfg)
        self.seed = cfg.seed
        self._job = job
        self.device = job.device
        if self.opt.data == "image":
            self._setup_image(job)
        else:
            train, self.test_blocks, self.base_state = base_language_model(self.opt, cfg.seed)
            self.domain_of = [self.opt.domains[c * len(self.opt.domains) // cfg.clients] for c in range(cfg.clients)]
            self.blocks = self._client_blocks(job, train)
            if cfg.batch_size > self.opt.samples_per_client:
                raise ValueError(
                    f"batch_size={cfg.batch_size} exceeds samples_per_client={self.opt.samples_per_client} (text blocks)"
                )
        self._models: dict[int, nn.Module] = {}
        self.groups = self.initial_groups(job)
        start = pa.adapter_state(self.model_of_rank(self.rank_of_group(job)))
        self.states: dict[int, State] = {g: start for g in set(self.groups)}

    def _setup_image(self, job: FlJob) -> None:
        """LoRA on the job's image model (random initialisation from the job's seed: there is no
        pretrained image base offline) with the job's image data; domains from partition 'domain'."""
        if self.method != "lora":
            raise ValueError(
                f"{self.name}: {self.method} tuning needs the text model; data='image' takes fl-lora, cfl-lora, hetlora"
            )
        cfg = job.config
        self.base_image = job.new_model()
        self.domain_of = [str(c % cfg.domains) if cfg.partition == "domain" else "all" for c in range(cfg.clients)]

    def _client_blocks(self, job: FlJob, train: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Disjoint ``samples_per_client`` blocks of its domain per client (a seeded shuffle per domain)."""
        out: list[torch.Tensor | None] = [None] * job.config.clients
        gen = torch.Generator().manual_seed(job.config.seed)
        n = self.opt.samples_per_client
        for domain, blocks in train.items():
            members = [c for c, d in enumerate(self.domain_of) if d == domain]
            if len(members) * n > len(blocks):
                raise ValueError(
                    f"domain {domain!r} has {len(blocks)} training blocks of {self.opt.seq_len} tokens; "
                    f"{len(members)} clients x samples_per_client={n} need {len(members) * n}"
                )
            order = torch.randperm(len(blocks), generator=gen)
            for k, c in enumerate(members):
                out[c] = blocks[order[k * n : (k + 1) * n]].to(job.device)
        return out  # type: ignore[return-value]

    # -- hooks of the variants ------------------------------------------------------------------------
    def initial_groups(self, job: FlJob) -> list[int]:
        """Group (cluster) of each client before the first round; all 0: one global adapter."""
        return [0] * job.config.clients

    def rank_of_group(self, job: FlJob) -> int:
        return self.opt.lora_rank

    def client_rank(self, c: int) -> int:
        return self.opt.lora_rank

    def download(self, c: int) -> State:
        """The adapter state client ``c`` receives."""
        return self.states[self.groups[c]]

    def aggregate(self, job: FlJob, uploads: dict[int, State], downloads: dict[int, State]) -> None:
        """FedAvg of the uploads within each group, weighted by sample counts."""
        kept = sorted(uploads)
        averaged = pa.group_average([uploads[c] for c in kept], [self.samples(c) for c in kept],
                                    [self.groups[c] for c in kept])
        self.states.update({g: state for g, (state, _) in averaged.items()})

    # -- shared machinery -----------------------------------------------------------------------------
    def samples(self, c: int) -> int:
        return self._job.samples(c) if self.opt.data == "image" else int(self.blocks[c].shape[0])

    def model_of_rank(self, rank: int) -> nn.Module:
        """The base model with this protocol's adapter (LoRA of ``rank``), built once per rank."""
        if rank not in self._models:
            o = self.opt
            if o.data == "image":
                base = copy.deepcopy(self.base_image)
                targets = o.lora_targets or [n for n, m in base.named_modules() if isinstance(m, nn.Linear)]
            else:
                base = new_base(o, self.seed)
                base.load_state_dict(self.base_state)
                gpt2 = base.config.model_type == "gpt2"  # other architectures: peft_adapters' defaults
                targets = o.lora_targets or (["c_attn", "c_proj", "c_fc"] if gpt2 else None)
            kwargs: dict[str, Any] = (
                {"rank": rank, "target_modules": targets} if self.method == "lora"
                else {"virtual_tokens": o.virtual_tokens}
            )
            self._models[rank] = pa.apply_adapter(base, method=self.method, seed=self.seed, **kwargs).to(self.device)
        return self._models[rank]

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        server = job.config.server
        downs: dict[int, tuple[Sent, list[str]]] = {}
        ups: dict[int, Sent] = {}
        losses: dict[int, float] = {}
        for c in job.round_clients:
            state = self.download(c)
            names = list(state)
            down = job.send(server, client(c), list(state.values()), "adapter_down")
            model = self.model_of_rank(self.client_rank(c))
            pa.load_adapter_state(model, dict(zip(names, down.tensors)))
            done = self.local_train(job, model, c, round_index)
            train = job.compute(client(c), done.flops, "train", after=(down.op,))
            new = pa.adapter_state(model)
            ups[c] = job.send(client(c), server, [new[n] for n in names], "adapter_up", (train,),
                              reference=down.tensors)
            downs[c] = (down, names)
            losses[c] = float(np.mean(done.losses))
        job.wait([u.op for u in ups.values()])
        kept = [c for c, u in ups.items() if job.ok(u.op)]
        if kept:
            self.aggregate(
                job,
                {c: dict(zip(downs[c][1], ups[c].tensors)) for c in kept},
                {c: dict(zip(downs[c][1], downs[c][0].tensors)) for c in kept},
            )
        loss = float(np.mean([losses[c] for c in kept])) if kept else float("nan")
        return RoundOutcome(loss, tuple(kept), tuple(c for c in ups if c not in kept))

    def local_train(self, job: FlJob, model: nn.Module, c: int, round_index: int) -> tm.LocalTraining:
        """Client ``c``'s AdamW steps on its data: ``local_steps`` text batches, or (image) ``local_epochs``
        passes over its images."""
        if self.opt.data == "image":
            return tm.train_steps(model, job.batches(c, round_index), lr=self.opt.learning_rate, loss_fn=_image_loss)
        draw = int(np.random.default_rng([job.config.seed, c, round_index]).integers(2**31))
        batches = td.minibatches(self.blocks[c], job.config.batch_size, self.opt.local_steps, seed=draw)
        return tm.train_steps(model, batches, lr=self.opt.learning_rate)

    def test(self, job: FlJob, model: nn.Module, domain: str) -> tuple[float, float]:
        """(loss, accuracy) of ``model`` on the held-out data of ``domain`` (image: the job's test set)."""
        if self.opt.data == "image":
            return job.evaluate(model)
        return lm_test(model, self.test_blocks[domain].to(job.device))

    def evaluate(self, job: FlJob) -> tuple[float, float]:
        """Mean over all clients of (held-out loss, next-token accuracy) on the client's domain under the
        adapter it would download now; each distinct (adapter, domain) pair is tested once."""
        results: dict[tuple[int, int, str], tuple[float, float]] = {}
        per_client = []
        for c in range(job.config.clients):
            key = (self.groups[c], self.client_rank(c), self.domain_of[c])
            if key not in results:
                model = self.model_of_rank(self.client_rank(c))
                pa.load_adapter_state(model, self.download(c))
                results[key] = self.test(job, model, self.domain_of[c])
            per_client.append(results[key])
        return float(np.mean([r[0] for r in per_client])), float(np.mean([r[1] for r in per_client]))

    def eval_models(self, job: FlJob) -> list[nn.Module]:
        return list(self._models.values())


def _image_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(model(x), y)


class FlLora(_FederatedAdapter):
    """FL-LoRA: LoRA of rank ``lora_rank`` on ``lora_targets``; FedAvg of the adapters."""

    name = "fl-lora"
    method = "lora"


class FlPrompt(_FederatedAdapter):
    """FL-Prompt-Tuning: ``virtual_tokens`` trainable input embeddings; FedAvg of them."""

    name = "fl-prompt"
    method = "prompt"


class FlPrefix(_FederatedAdapter):
    """FL-Prefix-Tuning: trainable keys and values of ``virtual_tokens`` positions in every layer; FedAvg."""

    name = "fl-prefix"
    method = "prefix"


class CflLora(FlLora):
    """Clustered FL-LoRA: one LoRA adapter per cluster, FedAvg within each cluster. Clusters are the
    clients' data domains (``clustering='domain'``, paper 003's domain clusters), or are found after the
    first round from the directions of the clients' adapter updates (``'updates'``:
    :func:`~ns6g.learners.peft_adapters.cluster_updates`, ``clusters`` of them; until then one adapter)."""

    name = "cfl-lora"

    def initial_groups(self, job: FlJob) -> list[int]:
        if self.opt.clustering == "domain":
            if self.opt.data == "image" and job.config.partition != "domain":
                raise ValueError("cfl-lora with data='image' clusters by domain only with partition 'domain' "
                                 "(or use clustering='updates')")
            return pa.clusters_by_domain(self.domain_of)
        if not 1 <= self.opt.clusters <= job.config.clients:
            raise ValueError(f"clusters={self.opt.clusters} is not in 1..{job.config.clients} (clients)")
        self.clustered = False
        return [0] * job.config.clients

    def aggregate(self, job: FlJob, uploads: dict[int, State], downloads: dict[int, State]) -> None:
        if self.opt.clustering == "updates" and not self.clustered:
            missing = [c for c in range(job.config.clients) if c not in uploads]
            if missing:
                raise ValueError(
                    f"cfl-lora clusters by updates after the first round, which needs every client's upload; "
                    f"missing clients {missing}"
                )
            start = self.states[0]
            vectors = [pa.flatten_update(uploads[c], downloads[c]) for c in sorted(uploads)]
            self.groups = pa.cluster_updates(vectors, self.opt.clusters, seed=job.config.seed)
            self.states = {g: start for g in set(self.groups)}
            self.clustered = True
        super().aggregate(job, uploads, downloads)


class HetLora(FlLora):
    """Heterogeneous LoRA ranks: client c trains rank ``client_ranks[c % len]``, downloads the first r_c
    rank-components of the global adapter and uploads its rank-r_c adapter; the server zero-pads the
    uploads to the largest rank and averages them (:func:`~ns6g.learners.peft_adapters.hetlora_aggregate`)."""

    name = "hetlora"

    def rank_of_group(self, job: FlJob) -> int:
        return max(self.opt.client_ranks)

    def client_rank(self, c: int) -> int:
        return self.opt.client_ranks[c % len(self.opt.client_ranks)]

    def download(self, c: int) -> State:
        return pa.hetlora_truncate(self.states[0], self.client_rank(c))

    def aggregate(self, job: FlJob, uploads: dict[int, State], downloads: dict[int, State]) -> None:
        kept = sorted(uploads)
        global_state = pa.hetlora_aggregate([uploads[c] for c in kept], [self.samples(c) for c in kept])
        rank = pa.lora_rank(global_state)
        merged = {}
        for name, old in self.states[0].items():  # components no uploader trained keep their values
            new = global_state[name]
            if new.shape == old.shape:
                merged[name] = new
            else:
                merged[name] = old.clone()
                merged[name].narrow(0 if ".lora_A." in name else 1, 0, rank).copy_(new)
        self.states[0] = merged

"""Text models, PEFT adapters and transfer-learning pieces (ns6g.learners.text_data, text_models,
peft_adapters, transfer).

Settings are tiny so that the file runs in under a minute on one CPU thread: GPT-2-style LMs with
d_model 32, 2 layers, 2 heads and the byte vocabulary, briefly pretrained on the offline corpus (Python
docstrings in 4 domains). The adapter-method ordering pretrains on three domains and fine-tunes on the
fourth ("network"); the clustered (CFL) tests pretrain on all four and hold out random blocks of each.
Loss tolerances are stated where they are used, in nats per token.
"""

from __future__ import annotations

import functools
import json
import math
import pickle
import subprocess
import sys

import pytest
import torch

from ns6g.core.config import ConfigError
from ns6g.learners import models as zoo
from ns6g.learners import peft_adapters as pa
from ns6g.learners import text_data as td
from ns6g.learners import text_models as tm
from ns6g.learners import transfer as tl

SEQ = 32  # tokens per fine-tuning block
VIRTUAL = 8  # prompt/prefix length; the base model's context is SEQ + VIRTUAL so positions are pretrained
D_MODEL = 32
LM = dict(seq_len=SEQ + VIRTUAL, d_model=D_MODEL, layers=2, heads=2)
SOURCE_DOMAINS = ("text", "numeric", "system")
TARGET_DOMAIN = "network"


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # results do not depend on thread count


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[str]]:
    return td.python_doc_corpus()


@pytest.fixture(scope="module")
def pretrained(corpus) -> dict[str, torch.Tensor]:
    """State of the base LM after 150 AdamW steps (batch 8, lr 3e-3) on the three source domains,
    in blocks of the full context so every position embedding is trained (about 3 s)."""
    source = td.lm_blocks([doc for d in SOURCE_DOMAINS for doc in corpus[d]], SEQ + VIRTUAL)
    model = tm.build_causal_lm(seed=0, **LM)
    tm.train_steps(model, td.minibatches(source, 8, 150, seed=0), lr=3e-3)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def target_blocks(corpus) -> tuple[torch.Tensor, torch.Tensor]:
    """(training blocks, 64 held-out blocks) of the target domain, int64 (n, SEQ)."""
    blocks = td.lm_blocks(corpus[TARGET_DOMAIN], SEQ)
    return blocks[:-64], blocks[-64:]


def base_model(pretrained) -> torch.nn.Module:
    model = tm.build_causal_lm(seed=0, **LM)
    model.load_state_dict(pretrained)
    return model


# --------------------------------------------------------------------------------------------------
# data


def test_byte_tokenizer_round_trips_any_text():
    tok = td.ByteTokenizer()
    text = "naïve café – Δt = 5 µs\n"
    ids = tok.encode(text)
    assert len(ids) == len(text.encode("utf-8"))
    assert all(0 <= i < 256 for i in ids)
    assert tok.decode(ids + [tok.eos_id]) == text


def test_python_doc_corpus_has_four_distinct_domains(corpus):
    assert list(corpus) == ["text", "numeric", "network", "system"]
    for domain, docs in corpus.items():
        size = sum(len(d.encode()) for d in docs)
        assert size > 50_000, f"{domain}: only {size} bytes"
    seen: dict[str, str] = {}
    for domain, docs in corpus.items():
        assert len(set(docs)) == len(docs), f"{domain} repeats a document"
        for doc in docs:
            assert seen.setdefault(doc, domain) == domain, "a document is in two domains"
    assert td.python_doc_corpus(["numeric"]) == {"numeric": corpus["numeric"]}
    with pytest.raises(ValueError, match="unknown domain.*poetry"):
        td.python_doc_corpus(["poetry"])


def test_python_doc_corpus_does_not_depend_on_what_was_imported_before():
    """transformers patches methods into logging.Logger when imported; the corpus (and every PEFT result
    on it) must be the same whether it was read before or after that."""
    read = "import json; from ns6g.learners import text_data as td; print(json.dumps(td.python_doc_corpus()))"
    first = "import transformers.utils.logging; "
    before, after = (json.loads(subprocess.run([sys.executable, "-c", prefix + read], capture_output=True, text=True,
                                               check=True, timeout=300).stdout) for prefix in ("", first))
    assert before == after


def test_lm_blocks_cut_the_token_stream():
    docs = ["abc", "de"]
    blocks = td.lm_blocks(docs, 3)
    # stream: a b c EOS d e EOS -> two blocks of 3, the last token dropped
    assert blocks.tolist() == [[97, 98, 99], [256, 100, 101]]
    with pytest.raises(ValueError, match="no block"):
        td.lm_blocks(["ab"], 8)


def test_loaders_read_txt_jsonl_and_directories(tmp_path):
    (tmp_path / "poems.txt").write_text("first line\nsecond line\n\n\nanother doc\n", encoding="utf-8")
    rows = [{"text": "alpha", "domain": "a"}, {"text": "beta"}, {"text": "gamma", "domain": "a"}]
    (tmp_path / "mixed.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    assert td.load_text_corpus(tmp_path / "poems.txt") == {
        "poems": ["first line\nsecond line", "another doc"]
    }
    assert td.load_text_corpus(tmp_path / "mixed.jsonl") == {"a": ["alpha", "gamma"], "mixed": ["beta"]}
    both = td.load_text_corpus(tmp_path)
    assert both == {
        "a": ["alpha", "gamma"],
        "mixed": ["beta"],
        "poems": ["first line\nsecond line", "another doc"],
    }

    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not valid JSON"):
        td.load_text_corpus(tmp_path / "bad.jsonl")
    (tmp_path / "nofield.jsonl").write_text('{"body": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"nofield.jsonl:1: .*string field 'text'"):
        td.load_text_corpus(tmp_path / "nofield.jsonl")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        td.load_text_corpus(tmp_path / "missing.txt")
    (tmp_path / "data.parquet").write_text("a,b\n")
    with pytest.raises(ValueError, match="unsupported file type '.parquet'"):
        td.load_text_corpus(tmp_path / "data.parquet")


def test_loaders_read_glue_style_tables(tmp_path):
    # GLUE SST-2 train.tsv: header "sentence<TAB>label", no quoting (a lone quote is text)
    sst2 = 'sentence\tlabel\nit \'s a "charming journey\t1\ndull\t0\n'
    (tmp_path / "train.tsv").write_text(sst2, encoding="utf-8")
    assert td.load_text_corpus(tmp_path / "train.tsv", text_field="sentence", domain_field="label") == {
        "1": ['it \'s a "charming journey'],
        "0": ["dull"],
    }
    (tmp_path / "reviews.csv").write_text('title,text\nA,"good, really"\nB,bad\n', encoding="utf-8")
    assert td.load_text_corpus(tmp_path / "reviews.csv") == {"reviews": ["good, really", "bad"]}
    with pytest.raises(ValueError, match=r"no column 'sentence' in the header \['title', 'text'\]"):
        td.load_text_corpus(tmp_path / "reviews.csv", text_field="sentence")


def test_split_by_domain_gives_disjoint_shards():
    blocks = {d: torch.arange(100 * i, 100 * i + 50).view(50, 1) for i, d in enumerate("abcd")}
    clients = td.split_by_domain(blocks, clients_per_domain=4, samples_per_client=10, seed=1)
    assert [c.domain for c in clients] == [d for d in "abcd" for _ in range(4)]
    for i, d in enumerate("abcd"):
        rows = torch.cat([c.blocks for c in clients if c.domain == d]).flatten().tolist()
        assert len(set(rows)) == 40 and all(100 * i <= r < 100 * i + 50 for r in rows)
    again = td.split_by_domain(blocks, 4, 10, seed=1)
    assert all(torch.equal(a.blocks, b.blocks) for a, b in zip(clients, again))
    with pytest.raises(ValueError, match="domain 'a' has 50 blocks; 4 clients x 20 samples need 80"):
        td.split_by_domain(blocks, 4, 20)


def test_minibatches_cover_each_epoch_once():
    data = torch.arange(10)
    batches = list(td.minibatches(data, 3, 6, seed=0))
    assert all(len(b) == 3 for b in batches)
    assert len(set(torch.cat(batches[:3]).tolist())) == 9  # one epoch: 3 batches of distinct rows
    pairs = list(td.minibatches((data, data * 2), 5, 2, seed=0))
    assert all(torch.equal(y, x * 2) for x, y in pairs)


# --------------------------------------------------------------------------------------------------
# models and adapters


def test_text_models_build_from_configuration():
    lm = tm.build_causal_lm(seed=0, **LM)
    ids = torch.randint(0, 256, (2, SEQ))
    assert lm(input_ids=ids).logits.shape == (2, SEQ, 257)
    # random init: about uniform over 257 tokens, loss near ln 257 = 5.55 (tolerance 0.1 nats)
    with torch.no_grad():
        assert abs(float(tm.lm_loss(lm, ids)) - math.log(257)) < 0.1
    clf = tm.build_encoder_classifier(seq_len=SEQ, d_model=D_MODEL, num_classes=3)
    assert clf(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.shape == (2, 3)
    with pytest.raises(ConfigError, match="d_model=30 is not divisible by heads=4"):
        tm.build_causal_lm(d_model=30, heads=4)
    with pytest.raises(ConfigError, match="layers"):
        tm.build_causal_lm(layers=0)


@pytest.mark.parametrize("rank", [1, 4, 8])
def test_lora_state_bytes_are_rank_times_dims(rank):
    lm = pa.apply_adapter(tm.build_causal_lm(seed=0, **LM), method="lora", rank=rank)
    state = pa.adapter_state(lm)
    d_in, d_out = D_MODEL, 3 * D_MODEL  # GPT-2 c_attn: the fused QKV projection
    assert len(state) == 2 * LM["layers"]  # A and B per layer
    for name, t in state.items():
        assert t.shape == ((rank, d_in) if ".lora_A." in name else (d_out, rank))
    assert pa.state_nbytes(state) == LM["layers"] * rank * (d_in + d_out) * 4
    assert pa.lora_rank(state) == rank

    clf = pa.apply_adapter(
        tm.build_encoder_classifier(seq_len=SEQ, d_model=D_MODEL, num_classes=4), method="lora", rank=rank
    )
    state = pa.adapter_state(clf)
    lora = {n: t for n, t in state.items() if ".lora_" in n}
    head = {n: t for n, t in state.items() if ".lora_" not in n}  # peft also trains the classifier
    assert pa.state_nbytes(lora) == LM["layers"] * 2 * rank * (D_MODEL + D_MODEL) * 4  # query, value: d x d
    assert pa.state_nbytes(head) == (4 * D_MODEL + 4) * 4


def test_prompt_and_prefix_state_bytes():
    prompt = pa.adapter_state(
        pa.apply_adapter(tm.build_causal_lm(seed=0, **LM), method="prompt", virtual_tokens=VIRTUAL)
    )
    assert pa.state_nbytes(prompt) == VIRTUAL * D_MODEL * 4
    prefix = pa.adapter_state(
        pa.apply_adapter(tm.build_causal_lm(seed=0, **LM), method="prefix", virtual_tokens=VIRTUAL)
    )
    assert pa.state_nbytes(prefix) == VIRTUAL * 2 * LM["layers"] * D_MODEL * 4  # a key and a value per layer
    # the classifier takes prompts and prefixes too; its head trains (and travels) with them
    ids = torch.randint(0, 256, (2, SEQ))
    for method, per_token in (("prompt", D_MODEL), ("prefix", 2 * LM["layers"] * D_MODEL)):
        clf = pa.apply_adapter(
            tm.build_encoder_classifier(seq_len=SEQ + VIRTUAL, d_model=D_MODEL, num_classes=3),
            method=method,
            virtual_tokens=VIRTUAL,
        )
        batch = (ids, torch.ones_like(ids), torch.tensor([0, 2]))
        assert float(tm.classification_loss(clf, batch)) > 0
        assert pa.state_nbytes(pa.adapter_state(clf)) == (VIRTUAL * per_token + 3 * D_MODEL + 3) * 4
    # the wire state is in the tensor's own dtype: numel x element size
    assert pa.state_nbytes({"x": torch.zeros(3, 5, dtype=torch.float16)}) == 30


def test_prefix_reaches_attention_in_both_models():
    """peft passes the prefix as ``past_key_values``; transformers >= 5.2x names the cache ``cache``. Both
    models must take the prefix under either name and attend to it: changing the prefix changes the
    loss, and the loss has a gradient for it (the regression: "Model does not support past key values")."""
    ids = torch.randint(0, 256, (2, SEQ), generator=torch.Generator().manual_seed(0))
    models = {
        "lm": (pa.apply_adapter(tm.build_causal_lm(seed=0, **LM), method="prefix", virtual_tokens=VIRTUAL),
               lambda m: tm.lm_loss(m, ids)),
        "classifier": (
            pa.apply_adapter(
                tm.build_encoder_classifier(seq_len=SEQ + VIRTUAL, d_model=D_MODEL, num_classes=3),
                method="prefix",
                virtual_tokens=VIRTUAL,
            ),
            lambda m: tm.classification_loss(m, (ids, torch.ones_like(ids), torch.tensor([0, 2]))),
        ),
    }
    for name, (model, loss_fn) in models.items():
        model.eval()
        before = loss_fn(model)
        before.backward()
        prefix = {n: p for n, p in model.named_parameters() if p.requires_grad and "prompt_encoder" in n}
        assert prefix, name
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in prefix.values()), name
        state = pa.adapter_state(model)
        pa.load_adapter_state(model, {n: t + 1.0 if n in prefix else t for n, t in state.items()})
        with torch.no_grad():
            changed = float(loss_fn(model))
            assert abs(changed - float(before)) > 1e-4, name
            # the wrapped model classes pickle (by name, from ns6g.learners.text_models)
            assert float(loss_fn(pickle.loads(pickle.dumps(model)))) == changed, name


def test_adapter_state_round_trips_and_refuses_misfits():
    a = pa.apply_adapter(tm.build_causal_lm(seed=0, **LM), method="lora", rank=4, seed=1)
    b = pa.apply_adapter(tm.build_causal_lm(seed=0, **LM), method="lora", rank=4, seed=2)
    assert not all(
        torch.equal(x, y) for x, y in zip(pa.adapter_state(a).values(), pa.adapter_state(b).values())
    )
    pa.load_adapter_state(b, pa.adapter_state(a))
    assert all(torch.equal(x, y) for x, y in zip(pa.adapter_state(a).values(), pa.adapter_state(b).values()))
    frozen_before = {n: p.clone() for n, p in b.named_parameters() if not p.requires_grad}
    pa.load_adapter_state(b, {n: t + 1 for n, t in pa.adapter_state(a).items()})
    assert all(torch.equal(p, frozen_before[n]) for n, p in b.named_parameters() if not p.requires_grad)

    wrong_rank = pa.adapter_state(pa.apply_adapter(tm.build_causal_lm(seed=0, **LM), method="lora", rank=2))
    with pytest.raises(ValueError, match="does not fit the model: .*shapes"):
        pa.load_adapter_state(b, wrong_rank)
    with pytest.raises(ValueError, match="missing"):
        pa.load_adapter_state(b, {})


def test_bad_adapter_requests_fail_clearly():
    with pytest.raises(ConfigError, match="method"):
        pa.apply_adapter(tm.build_causal_lm(seed=0, **LM), method="ia3")
    with pytest.raises(ConfigError, match="rank"):
        pa.apply_adapter(tm.build_causal_lm(seed=0, **LM), rank=0)
    with pytest.raises(ValueError, match=r"LoRA target module\(s\) \['q_proj'\] are not in"):
        pa.apply_adapter(tm.build_causal_lm(seed=0, **LM), target_modules=["q_proj"])
    with pytest.raises(ValueError, match="virtual_tokens=40 leaves no position for the input"):
        pa.apply_adapter(tm.build_causal_lm(seed=0, **LM), method="prefix", virtual_tokens=SEQ + VIRTUAL)
    with pytest.raises(ValueError, match="prompt tuning needs a transformers"):
        pa.apply_adapter(zoo.build_model("small_transformer"), method="prompt")
    # LoRA on a zoo model works when its linear layers are named
    zoo_lora = pa.apply_adapter(
        zoo.build_model("small_transformer", d_model=32), target_modules=["qkv"], rank=2
    )
    assert pa.state_nbytes(pa.adapter_state(zoo_lora)) == 2 * 2 * (32 + 96) * 4


def test_training_cost_and_bytes_grow_with_lora_rank():
    ids = torch.randint(0, 256, (4, SEQ), generator=torch.Generator().manual_seed(0))
    full = tm.training_step_flops(tm.build_causal_lm(seed=0, **LM), ids)
    flops, nbytes = [], []
    for rank in (1, 4, 16):
        model = pa.apply_adapter(tm.build_causal_lm(seed=0, **LM), rank=rank)
        flops.append(tm.training_step_flops(model, ids))
        nbytes.append(pa.state_nbytes(pa.adapter_state(model)))
    assert flops[0] < flops[1] < flops[2] < full  # frozen weights get no weight gradient
    # train_steps counts the same FLOPs per step, for every batch shape it meets
    short = ids[:, : SEQ // 2]
    done = tm.train_steps(model, [ids, ids, short, ids], lr=1e-3)
    assert done.flops == 3 * flops[2] + tm.training_step_flops(model, short)
    assert nbytes == [nbytes[0] * r for r in (1, 4, 16)]


def test_lora_steps_lower_the_lm_loss(pretrained, target_blocks):
    train, held_out = target_blocks
    model = pa.apply_adapter(base_model(pretrained), method="lora", rank=8, seed=0)
    before = tm.evaluate(model, [held_out])
    losses = tm.train_steps(model, td.minibatches(train, 8, 30, seed=0), lr=1e-2).losses
    after = tm.evaluate(model, [held_out])
    assert after < before - 0.01, (before, after)  # measured: about 0.02 nats lower
    assert sum(losses[-5:]) / 5 < losses[0]


def test_lora_beats_prompt_and_prefix_tuning(pretrained, target_blocks):
    """Paper 003's ordering at equal steps: 80 steps, batch 8, lr 1e-2 for all three (the paper's 2e-4
    barely moves a model this small in 80 steps), LoRA rank 8, 8 virtual tokens, seed 0.
    Measured held-out losses: LoRA 3.111, prefix 3.122, prompt 3.140 nats; margin asserted 0.005."""
    train, held_out = target_blocks
    losses = {}
    for method in ("lora", "prompt", "prefix"):
        model = pa.apply_adapter(
            base_model(pretrained), method=method, rank=8, virtual_tokens=VIRTUAL, seed=0
        )
        tm.train_steps(model, td.minibatches(train, 8, 80, seed=0), lr=1e-2)
        losses[method] = tm.evaluate(model, [held_out])
    assert losses["lora"] < losses["prefix"] - 0.005, losses
    assert losses["lora"] < losses["prompt"] - 0.005, losses


def test_same_seed_gives_identical_losses(target_blocks):
    train, _ = target_blocks

    def run(seed: int) -> list[float]:
        model = pa.apply_adapter(tm.build_causal_lm(seed=seed, **LM), method="lora", rank=4, seed=seed)
        return tm.train_steps(model, td.minibatches(train, 4, 5, seed=seed), lr=1e-2).losses

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_encoder_classifier_with_lora_learns_domains(corpus):
    data = td.classification_set({d: corpus[d][:64] for d in corpus}, SEQ)
    assert data.ids.shape == (256, SEQ) and data.label_names == tuple(corpus)
    model = pa.apply_adapter(
        tm.build_encoder_classifier(seq_len=SEQ, d_model=D_MODEL, num_classes=4, seed=0), rank=4, seed=0
    )
    batches = td.minibatches((data.ids, data.attention_mask, data.labels), 16, 60, seed=0)
    losses = tm.train_steps(model, batches, lr=3e-2, loss_fn=tm.classification_loss).losses
    # starts near ln 4 = 1.39; after 60 steps the last 10 average at least 0.1 nats lower (measured: 0.21)
    assert sum(losses[-10:]) / 10 < losses[0] - 0.1, losses


# --------------------------------------------------------------------------------------------------
# aggregation


def _random_state(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {n: torch.randn(s, generator=gen) for n, s in shapes.items()}


def test_fedavg_and_hierarchical_average():
    shapes = {"w": (3, 2), "b": (2,)}
    states = [_random_state(shapes, k) for k in range(5)]
    weights = [10, 20, 30, 40, 50]
    avg = pa.average_states(states, weights)
    expected = sum(w * s["w"] for w, s in zip(weights, states)) / sum(weights)
    assert torch.allclose(avg["w"], expected, atol=1e-6)
    groups = ["edge0", "edge1", "edge0", "edge1", "edge2"]
    tiers = pa.group_average(states, weights, groups)
    assert list(tiers) == ["edge0", "edge1", "edge2"] and tiers["edge0"][1] == 40.0
    cloud = pa.average_states([s for s, _ in tiers.values()], [w for _, w in tiers.values()])
    assert all(torch.allclose(cloud[n], avg[n], atol=1e-6) for n in shapes)  # two tiers = flat FedAvg
    counts = pa.average_states([{"n": torch.tensor(3)}, {"n": torch.tensor(6)}])
    assert counts["n"].dtype == torch.int64 and int(counts["n"]) == 4  # 4.5 rounds to even
    with pytest.raises(ValueError, match="shape"):
        pa.average_states([states[0], _random_state({"w": (2, 2), "b": (2,)}, 0)])
    with pytest.raises(ValueError, match="weights"):
        pa.average_states(states, [0] * 5)


def test_hetlora_aggregation_round_trips_ranks():
    ranks = [2, 4, 8]
    models = [pa.apply_adapter(tm.build_causal_lm(seed=0, **LM), rank=r, seed=r) for r in ranks]
    states = []
    for k, model in enumerate(models):  # B starts at zero: give every tensor values
        states.append(
            {
                n: torch.randn(t.shape, generator=torch.Generator().manual_seed(k))
                for n, t in pa.adapter_state(model).items()
            }
        )
    weights = [1.0, 1.0, 2.0]
    global_state = pa.hetlora_aggregate(states, weights)
    assert pa.lora_rank(global_state) == 8
    a_name = next(n for n in global_state if ".lora_A." in n)
    b_name = a_name.replace(".lora_A.", ".lora_B.")
    g_a, g_b = global_state[a_name], global_state[b_name]
    # rows 0-1 of A: all three clients; rows 2-3: clients 2 and 3 with client 1's zeros;
    # rows 4-7: client 3 only
    assert torch.allclose(
        g_a[:2], (states[0][a_name] + states[1][a_name][:2] + 2 * states[2][a_name][:2]) / 4, atol=1e-6
    )
    assert torch.allclose(g_a[2:4], (states[1][a_name][2:] + 2 * states[2][a_name][2:4]) / 4, atol=1e-6)
    assert torch.allclose(g_a[4:], 2 * states[2][a_name][4:] / 4, atol=1e-6)
    assert torch.allclose(g_b[:, 4:], 2 * states[2][b_name][:, 4:] / 4, atol=1e-6)
    for rank, model in zip(ranks, models):
        down = pa.hetlora_truncate(global_state, rank)
        assert pa.lora_rank(down) == rank
        pa.load_adapter_state(model, down)  # fits the client's own rank
    alone = pa.hetlora_truncate(pa.hetlora_aggregate([states[1]]), 4)
    assert all(torch.equal(alone[n], states[1][n]) for n in alone)  # one client: exact round trip
    with pytest.raises(ValueError, match="rank 16 is not in 1..8"):
        pa.hetlora_truncate(global_state, 16)


def test_clustering_by_domain_and_by_update_direction():
    assert pa.clusters_by_domain(["net", "num", "net", "txt", "num"]) == [0, 1, 0, 2, 1]
    gen = torch.Generator().manual_seed(0)
    directions = torch.randn(4, 64, generator=gen)
    truth = [3, 0, 2, 1, 0, 3, 2, 1, 1, 2, 0, 3]  # 12 clients, 4 groups, shuffled
    updates = [directions[g] + 0.3 * torch.randn(64, generator=gen) for g in truth]
    labels = pa.cluster_updates(updates, 4, seed=0)
    assert pa.clusters_by_domain(truth) == labels  # the same partition, labels in first-seen order
    assert pa.cluster_updates(updates, 4, seed=0) == labels
    with pytest.raises(ValueError, match="n_clusters=13"):
        pa.cluster_updates(updates, 13)
    with pytest.raises(ValueError, match=r"update\(s\) \[1\] have no direction"):
        pa.cluster_updates([updates[0], torch.zeros(64)], 1, center=False)


@functools.lru_cache(maxsize=2)
def domain_lm(pretrain_steps: int, seq_len: int):
    """Every docstring domain's blocks of ``seq_len`` tokens split at random into 96 held-out blocks and
    training blocks, and the state of a base LM (d_model 32, 2 layers) pretrained for ``pretrain_steps``
    AdamW steps (batch 16, lr 3e-3) on the training blocks of all four domains. Cached per arguments."""
    train, held_out = {}, {}
    for d, docs in td.python_doc_corpus().items():
        blocks = td.lm_blocks(docs, seq_len)
        order = torch.randperm(len(blocks), generator=torch.Generator().manual_seed(7))
        held_out[d], train[d] = blocks[order[:96]], blocks[order[96:]]
    base = tm.build_causal_lm(seed=0, seq_len=seq_len, d_model=D_MODEL, layers=2, heads=2)
    tm.train_steps(base, td.minibatches(torch.cat(list(train.values())), 16, pretrain_steps, seed=0), lr=3e-3)
    return train, held_out, {k: v.clone() for k, v in base.state_dict().items()}


def domain_lora(base_state: dict[str, torch.Tensor], seq_len: int, rank: int) -> torch.nn.Module:
    """The pretrained base with LoRA of ``rank`` on every projection (``c_attn``, ``c_proj``, ``c_fc``)."""
    base = tm.build_causal_lm(seed=0, seq_len=seq_len, d_model=D_MODEL, layers=2, heads=2)
    base.load_state_dict(base_state)
    return pa.apply_adapter(base, rank=rank, target_modules=["c_attn", "c_proj", "c_fc"], seed=0)


def compare_cfl_with_fl(
    pretrain_steps: int = 400,
    rounds: int = 3,
    local_steps: int = 10,
    samples_per_client: int = 200,
    clients_per_domain: int = 2,
    seq_len: int = 64,
    batch: int = 16,
    lr: float = 3e-3,
    rank: int = 8,
) -> dict[str, list[float]]:
    """FL-LoRA against CFL-LoRA (clusters = the 4 docstring domains) from the base LM of
    :func:`domain_lm`; each client holds ``samples_per_client`` training blocks of one domain. A round:
    every client loads its cluster's (FL: the global) adapter, runs ``local_steps`` AdamW steps, and the
    adapters are averaged per cluster (FL: over all clients), equal weights. Returns, per scheme, the
    mean over clients of the held-out loss on the client's own domain after each round (nats/token).
    """
    train, held_out, base_state = domain_lm(pretrain_steps, seq_len)
    clients = td.split_by_domain(train, clients_per_domain, samples_per_client, seed=0)
    model = domain_lora(base_state, seq_len, rank)
    start = pa.adapter_state(model)
    curves = {}
    for scheme in ("fl", "cfl"):
        groups = [0] * len(clients) if scheme == "fl" else pa.clusters_by_domain([c.domain for c in clients])
        adapters = {g: start for g in groups}
        curves[scheme] = []
        for r in range(rounds):
            uploads = []
            for i, c in enumerate(clients):
                pa.load_adapter_state(model, adapters[groups[i]])
                tm.train_steps(model, td.minibatches(c.blocks, batch, local_steps, seed=100 * r + i), lr=lr)
                uploads.append(pa.adapter_state(model))
            averaged = pa.group_average(uploads, [1.0] * len(uploads), groups)
            adapters = {g: state for g, (state, _) in averaged.items()}
            losses = []
            for i, c in enumerate(clients):
                pa.load_adapter_state(model, adapters[groups[i]])
                losses.append(tm.evaluate(model, [held_out[c.domain]]))
            curves[scheme].append(sum(losses) / len(losses))
    return curves


def test_cfl_lora_converges_faster_and_lower_than_fl_lora():
    """Paper 003's clustered ordering on 8 clients in 4 domain clusters (about 15 s). Measured mean
    held-out losses per round: FL 2.636, 2.632, 2.629; CFL 2.629, 2.620, 2.613. Asserted: CFL lower
    after every round, and by 0.005 nats after the last."""
    curves = compare_cfl_with_fl()
    assert all(c < f for c, f in zip(curves["cfl"], curves["fl"])), curves
    assert curves["cfl"][-1] < curves["fl"][-1] - 0.005, curves


def test_one_round_of_lora_updates_clusters_clients_by_domain():
    """8 clients (2 per docstring domain, 200 blocks each) train the same LoRA adapter for 10 steps; the
    directions of their updates recover the 4 domains exactly (with and without centring)."""
    train, _, base_state = domain_lm(400, 64)
    clients = td.split_by_domain(train, 2, 200, seed=0)
    model = domain_lora(base_state, 64, rank=8)
    start = pa.adapter_state(model)
    updates = []
    for i, c in enumerate(clients):
        pa.load_adapter_state(model, start)
        tm.train_steps(model, td.minibatches(c.blocks, 16, 10, seed=i), lr=3e-3)
        updates.append(pa.flatten_update(pa.adapter_state(model), start))
    truth = pa.clusters_by_domain([c.domain for c in clients])
    assert pa.cluster_updates(updates, 4) == truth
    assert pa.cluster_updates(updates, 4, center=False) == truth


# --------------------------------------------------------------------------------------------------
# transfer learning


def test_mmd_is_zero_for_identical_samples_and_grows_with_a_mean_shift():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 4, generator=gen)
    y = torch.randn(200, 4, generator=gen)
    assert float(tl.mmd2(x, x)) < 1e-6
    assert float(tl.mmd2(x, y)) < 0.02  # same distribution, finite-sample bias only
    for bandwidths in ([1.0], None):
        values = [float(tl.mmd2(x, y + shift, bandwidths)) for shift in (0.0, 0.5, 1.0, 2.0)]
        assert all(a < b for a, b in zip(values, values[1:])), (bandwidths, values)
        assert values[-1] > 10 * values[0]
    with pytest.raises(ValueError, match="bandwidths"):
        tl.mmd2(x, y, [0.0])


def test_coral_is_zero_for_equal_covariances():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, 3, generator=gen)
    assert float(tl.coral(x, x + 5.0)) < 1e-9  # a mean shift leaves the covariance unchanged
    assert float(tl.coral(x, 3 * x)) > 0.1  # covariance x9
    with pytest.raises(ValueError, match="features must be"):
        tl.coral(x, x[:, :2])
    with pytest.raises(ValueError, match="unknown discrepancy"):
        tl.discrepancy("wasserstein", x, x)


def _tiny_resnet(seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return zoo.build_model("resnet18_style", num_classes=3, image_size=8, base_width=4)


def test_frozen_layers_do_not_change_while_the_rest_trains():
    source = _tiny_resnet(0)
    target = _tiny_resnet(1)
    t_s = ["stem", "layer1_0", "layer1_1"]
    sent = tl.copy_layers(source, target, t_s)
    expected_bytes = sum(
        t.numel() * t.element_size() for n in t_s for t in getattr(source, n).state_dict().values()
    )
    assert sent == expected_bytes == pa.state_nbytes(tl.transferred_state(source, t_s))
    frozen = tl.freeze_layers(target, t_s)
    assert frozen == sum(p.numel() for n in t_s for p in getattr(target, n).parameters())
    before = {k: v.clone() for k, v in target.state_dict().items()}

    gen = torch.Generator().manual_seed(0)
    optimiser = torch.optim.SGD([p for p in target.parameters() if p.requires_grad], lr=0.1)
    target.train()
    feature_blocks = [n for n, _ in target.named_children()].index("pool") + 1
    for _ in range(3):
        optimiser.zero_grad()
        loss = tl.adaptation_loss(
            target,
            feature_blocks,
            torch.randn(16, 3, 8, 8, generator=gen) + 1.0,
            torch.randn(16, 3, 8, 8, generator=gen),
            torch.randint(0, 3, (16,), generator=gen),
            "mmd",
            weight=1.0,
        )
        loss.backward()
        optimiser.step()
    after = target.state_dict()
    for key in before:
        same = torch.equal(before[key], after[key])
        if key.startswith(tuple(f"{n}." for n in t_s)):
            assert same, f"frozen {key} changed"
    assert not torch.equal(before["fc.weight"], after["fc.weight"])
    assert not torch.equal(
        before["layer2_0.bn1.running_mean"], after["layer2_0.bn1.running_mean"]
    )  # trainable BN ran
    assert torch.equal(source.stem[0].weight, target.stem[0].weight)
    wider = zoo.build_model("resnet18_style", num_classes=3, image_size=8, base_width=8)
    with pytest.raises(ValueError, match="differ from the source's: .*shapes differ"):
        tl.copy_layers(source, wider, t_s)

    with pytest.raises(ValueError, match="all frozen"):
        tl.adaptation_loss(
            target, 2, torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8), torch.zeros(2, dtype=torch.long)
        )
    with pytest.raises(ValueError, match="not top-level blocks"):
        tl.freeze_layers(target, ["encoder"])


def test_coral_term_trains_too():
    model = _tiny_resnet(2)
    tl.freeze_layers(model, ["stem"])
    loss = tl.adaptation_loss(
        model,
        9,
        torch.randn(8, 3, 8, 8),
        torch.randn(8, 3, 8, 8),
        torch.zeros(8, dtype=torch.long),
        "coral",
        10.0,
    )
    loss.backward()
    assert model.fc.weight.grad is not None and model.stem[0].weight.grad is None


def test_mmd_term_pulls_target_features_towards_the_source():
    """Personalisation with weight 10 on MMD^2 against weight 0 (task loss only), 30 Adam steps (lr 1e-2)
    on a shifted, wider source: the weighted run ends with the smaller feature MMD^2 (measured 0.013
    against 0.028, from 0.040 at the start; asserted: below 0.6 x the unweighted run's)."""
    gen = torch.Generator().manual_seed(1)
    source_x = torch.randn(64, 3, 8, 8, generator=gen) * 1.5 + 0.5
    target_x = torch.randn(64, 3, 8, 8, generator=gen)
    target_y = torch.randint(0, 3, (64,), generator=gen)
    final = {}
    for weight in (0.0, 10.0):
        model = _tiny_resnet(0)
        tl.freeze_layers(model, ["stem", "layer1_0"])
        feature_blocks = [n for n, _ in model.named_children()].index("pool") + 1
        optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        model.train()
        for step in range(30):
            half = slice(32, 64) if step % 2 else slice(0, 32)
            optimiser.zero_grad()
            tl.adaptation_loss(
                model, feature_blocks, source_x[half], target_x[half], target_y[half], "mmd", weight
            ).backward()
            optimiser.step()
        model.eval()
        features = torch.nn.Sequential(*list(model.children())[:feature_blocks])
        with torch.no_grad():
            final[weight] = float(tl.mmd2(features(source_x), features(target_x)))
    assert final[10.0] < 0.6 * final[0.0], final

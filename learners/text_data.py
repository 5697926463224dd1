"""Offline text for the language-model learners: a byte tokenizer, a corpus built from Python's own
docstrings in four domains, loaders for plain-text and JSONL corpora, and the tensors training needs.

Tokenizer. :class:`ByteTokenizer` maps text to its UTF-8 bytes (ids 0..255) plus one end-of-text id
(256), so ``vocab_size = 257``. It needs no download and no vocabulary file, and any text round-trips.

Offline corpus. :func:`python_doc_corpus` collects the docstrings (``inspect.getdoc``) of the standard
library modules in :data:`PYTHON_DOC_DOMAINS` and of their public classes, functions and methods, grouped
into four domains: ``text`` (string handling, parsing, encodings), ``numeric`` (math, statistics,
decimal, itertools, ...), ``network`` (sockets, HTTP, e-mail, URL handling) and ``system`` (files,
processes, threads, logging). It is real English technical prose whose vocabulary differs by domain, which
is what the clustered experiments need. A docstring that appears in more than one domain (inherited from a
shared base class) is dropped from all of them, and repeats within a domain are kept once. The text is
whatever the running Python ships: the same installation always gives the same corpus (about 100-200 kB
per domain on CPython 3.11).

Loaders. :func:`load_text_corpus` reads a ``.txt`` file (documents separated by blank lines), a
``.jsonl`` file (one JSON object per line with a text field and an optional domain field), a ``.csv`` or
``.tsv`` table with a header (GLUE's TSV files, for instance) or a directory of such files (each file's
name without suffix is the default domain), and returns documents by domain (or by class label).

Tensors. :func:`lm_blocks` concatenates tokenised documents (end-of-text between them) and cuts the
stream into ``(n_blocks, seq_len)`` int64 blocks, GPT-2 style; :func:`classification_set` pads or cuts each
document to ``seq_len`` for a sequence classifier whose labels are the domains; :func:`split_by_domain`
gives each client disjoint blocks of one domain (16 clients in 4 domain clusters in paper 003's setup);
:func:`minibatches` draws seeded mini-batches (each epoch a fresh permutation).
"""

from __future__ import annotations

import csv
import functools
import importlib
import inspect
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = [
    "ByteTokenizer",
    "ClassificationSet",
    "DomainClient",
    "PYTHON_DOC_DOMAINS",
    "classification_set",
    "lm_blocks",
    "load_text_corpus",
    "minibatches",
    "python_doc_corpus",
    "split_by_domain",
]


class ByteTokenizer:
    """UTF-8 bytes as token ids 0..255, plus :attr:`eos_id` = 256 (end of text, also used as padding)."""

    vocab_size = 257
    eos_id = 256

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``: one per UTF-8 byte."""
        return list(text.encode("utf-8"))

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; end-of-text ids are skipped, invalid byte sequences become U+FFFD."""
        data = bytes(i for i in (int(i) for i in ids) if 0 <= i < 256)
        return data.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------------
# the offline corpus

# Standard library modules whose docstrings make up each domain (all present in a CPython >= 3.11 build).
# fmt: off
PYTHON_DOC_DOMAINS: dict[str, tuple[str, ...]] = {
    "text": (
        "string", "textwrap", "re", "difflib", "unicodedata", "codecs", "html.parser", "json", "csv",
        "locale", "gettext", "stringprep", "email.header", "xml.dom.minidom", "xml.etree.ElementTree",
        "tokenize", "shlex", "pprint", "reprlib", "base64", "binascii", "quopri",
    ),
    "numeric": (
        "math", "cmath", "statistics", "decimal", "fractions", "random", "numbers", "operator",
        "itertools", "functools", "heapq", "bisect", "array", "struct", "_pydecimal", "colorsys",
        "hashlib", "secrets", "zlib",
    ),
    "network": (
        "socket", "ssl", "http.client", "http.server", "http.cookies", "http.cookiejar", "urllib.request",
        "urllib.parse", "urllib.error", "email.message", "email.utils", "smtplib", "ftplib", "poplib",
        "imaplib", "ipaddress", "selectors", "socketserver", "asyncio.streams", "asyncio.base_events",
        "xmlrpc.client", "mimetypes", "wsgiref.simple_server",
    ),
    "system": (
        "os", "pathlib", "shutil", "subprocess", "tarfile", "zipfile", "tempfile", "glob", "stat",
        "signal", "threading", "multiprocessing.pool", "multiprocessing.process", "io", "fileinput",
        "filecmp", "logging", "logging.handlers", "sched", "gzip", "mmap", "platform", "sysconfig",
        "concurrent.futures.thread",
    ),
}
# fmt: on


def _module_docstrings(module_name: str) -> list[str]:
    """The module's docstring, then those of its public classes and functions (sorted by name), each
    class followed by its public methods and properties. Names imported from elsewhere are skipped."""
    module = importlib.import_module(module_name)
    docs = [inspect.getdoc(module)]
    for name in sorted(vars(module)):
        obj = vars(module)[name]
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue
        docs.append(inspect.getdoc(obj))
        if inspect.isclass(obj):
            for member_name in sorted(vars(obj)):
                member = vars(obj)[member_name]
                if not member_name.startswith("_") and (
                    inspect.isroutine(member) or isinstance(member, property)
                ) and _from_stdlib(member):
                    docs.append(inspect.getdoc(member))
    return [d for d in docs if d]


def _from_stdlib(member: object) -> bool:
    """Whether a class member comes from the standard library: other packages patch methods into
    standard classes (transformers adds ``warning_once`` to ``logging.Logger`` when imported), which
    would make the corpus depend on what the process imported before."""
    function = member.fget if isinstance(member, property) else member
    owner = getattr(function, "__module__", None)
    return owner is None or owner.split(".")[0] in sys.stdlib_module_names


@functools.lru_cache(maxsize=1)
def _python_doc_corpus_all() -> dict[str, tuple[str, ...]]:
    by_domain: dict[str, list[str]] = {}
    for domain, modules in PYTHON_DOC_DOMAINS.items():
        seen: set[str] = set()
        docs = []
        for module_name in modules:
            for doc in _module_docstrings(module_name):
                if doc not in seen:
                    seen.add(doc)
                    docs.append(doc)
        by_domain[domain] = docs
    # A docstring in two domains (inherited from a shared base) says nothing about either: drop it.
    counts: dict[str, int] = {}
    for docs in by_domain.values():
        for doc in docs:
            counts[doc] = counts.get(doc, 0) + 1
    return {d: tuple(doc for doc in docs if counts[doc] == 1) for d, docs in by_domain.items()}


def python_doc_corpus(domains: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Documents (docstrings) by domain, in a fixed order; all four domains when ``domains`` is None.

    Raises:
        ValueError: for a domain name not in :data:`PYTHON_DOC_DOMAINS`.
    """
    names = list(PYTHON_DOC_DOMAINS) if domains is None else list(domains)
    unknown = [d for d in names if d not in PYTHON_DOC_DOMAINS]
    if unknown:
        raise ValueError(f"unknown domain(s) {unknown}; valid domains: {', '.join(PYTHON_DOC_DOMAINS)}")
    corpus = _python_doc_corpus_all()
    return {d: list(corpus[d]) for d in names}


# --------------------------------------------------------------------------------------------------
# loaders


def _read_txt(path: Path) -> list[str]:
    """Documents of a plain-text file: runs of non-blank lines, separated by blank lines."""
    text = path.read_text(encoding="utf-8")
    docs, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            docs.append("\n".join(current))
            current = []
    if current:
        docs.append("\n".join(current))
    return docs


def _read_jsonl(path: Path, text_field: str, domain_field: str) -> list[tuple[str, str | None]]:
    """(text, domain or None) per non-empty line of a JSONL file."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
                raise ValueError(f"{path}:{number}: expected an object with a string field {text_field!r}")
            domain = record.get(domain_field)
            if domain is not None and not isinstance(domain, str):
                raise ValueError(f"{path}:{number}: field {domain_field!r} must be a string, got {domain!r}")
            rows.append((record[text_field], domain))
    return rows


def _read_table(path: Path, text_field: str, domain_field: str) -> list[tuple[str, str | None]]:
    """(text, domain or None) per row of a CSV or TSV file with a header row. TSV is read without quote
    handling, as the GLUE files (SST-2, QNLI, QQP) are written; CSV with the usual double quotes."""
    dialect = dict(delimiter="\t", quoting=csv.QUOTE_NONE) if path.suffix == ".tsv" else dict(delimiter=",")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, **dialect)
        if text_field not in (reader.fieldnames or []):
            raise ValueError(f"{path}: no column {text_field!r} in the header {reader.fieldnames}")
        rows = []
        for record in reader:
            if record[text_field] is None:
                raise ValueError(f"{path}:{reader.line_num}: the row has no {text_field!r} value")
            rows.append((record[text_field], record.get(domain_field) or None))
    return rows


_SUFFIXES = (".txt", ".jsonl", ".csv", ".tsv")


def load_text_corpus(
    path: str | Path, *, text_field: str = "text", domain_field: str = "domain"
) -> dict[str, list[str]]:
    """Documents by domain from a local ``.txt``, ``.jsonl``, ``.csv`` or ``.tsv`` file, or a directory.

    ``.txt``: documents are separated by blank lines; the domain is the file name without suffix.
    ``.jsonl``: one JSON object per line, the document in ``text_field``; the domain in ``domain_field``
    when present, else the file name without suffix. ``.csv`` / ``.tsv``: a header row, then one document
    per row in column ``text_field`` (e.g. ``sentence`` for GLUE SST-2), the domain (or class label, e.g.
    ``label``) in column ``domain_field`` when there is one. A directory: every such file directly inside
    it, in name order.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: for an unsupported suffix, a malformed JSONL line (with its line number), a table
            without the text column, or a corpus with no document.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"text corpus {path} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES)
    elif path.suffix in _SUFFIXES:
        files = [path]
    else:
        raise ValueError(
            f"text corpus {path}: unsupported file type {path.suffix!r} (use {', '.join(_SUFFIXES)})"
        )
    corpus: dict[str, list[str]] = {}
    for file in files:
        if file.suffix == ".txt":
            rows = [(doc, None) for doc in _read_txt(file)]
        elif file.suffix == ".jsonl":
            rows = _read_jsonl(file, text_field, domain_field)
        else:
            rows = _read_table(file, text_field, domain_field)
        for text, domain in rows:
            corpus.setdefault(domain or file.stem, []).append(text)
    if not any(corpus.values()):
        raise ValueError(f"text corpus {path} holds no document")
    return corpus


# --------------------------------------------------------------------------------------------------
# tensors


def lm_blocks(documents: Sequence[str], seq_len: int, tokenizer: ByteTokenizer | None = None) -> torch.Tensor:
    """Language-model training blocks: int64 ``(n_blocks, seq_len)``.

    Documents are tokenised (``tokenizer``: anything with ``encode(text) -> ids`` and ``eos_id``, default
    the byte tokenizer), joined with the end-of-text id after each, and the stream is cut into
    consecutive non-overlapping blocks; the incomplete tail is dropped.

    Raises:
        ValueError: if ``seq_len < 2`` or the documents give less than one block.
    """
    if not (isinstance(seq_len, int) and seq_len >= 2):
        raise ValueError(f"seq_len must be an integer >= 2, got {seq_len!r}")
    tokenizer = tokenizer or ByteTokenizer()
    stream: list[int] = []
    for doc in documents:
        stream.extend(tokenizer.encode(doc))
        stream.append(tokenizer.eos_id)
    n_blocks = len(stream) // seq_len
    if n_blocks == 0:
        raise ValueError(f"{len(stream)} tokens make no block of seq_len={seq_len}")
    return torch.tensor(stream[: n_blocks * seq_len], dtype=torch.int64).view(n_blocks, seq_len)


@dataclass(frozen=True)
class ClassificationSet:
    """Sequence-classification examples: ``ids`` and ``attention_mask`` int64 ``(n, seq_len)`` (mask 1 on
    real tokens, 0 on padding), ``labels`` int64 ``(n,)`` indexing ``label_names``."""

    ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    label_names: tuple[str, ...]


def classification_set(
    corpus: Mapping[str, Sequence[str]], seq_len: int, tokenizer: ByteTokenizer | None = None
) -> ClassificationSet:
    """One example per document, labelled by its domain (labels in the order of ``corpus``'s keys);
    documents longer than ``seq_len`` tokens are cut, shorter ones padded with the end-of-text id."""
    if not (isinstance(seq_len, int) and seq_len >= 1):
        raise ValueError(f"seq_len must be a positive integer, got {seq_len!r}")
    tokenizer = tokenizer or ByteTokenizer()
    ids, mask, labels = [], [], []
    for label, docs in enumerate(corpus.values()):
        for doc in docs:
            tokens = tokenizer.encode(doc)[:seq_len]
            pad = seq_len - len(tokens)
            ids.append(tokens + [tokenizer.eos_id] * pad)
            mask.append([1] * len(tokens) + [0] * pad)
            labels.append(label)
    if not ids:
        raise ValueError("the corpus holds no document")
    return ClassificationSet(
        ids=torch.tensor(ids, dtype=torch.int64),
        attention_mask=torch.tensor(mask, dtype=torch.int64),
        labels=torch.tensor(labels, dtype=torch.int64),
        label_names=tuple(corpus),
    )


@dataclass(frozen=True)
class DomainClient:
    """One client's text data: its ``domain`` and its blocks, int64 ``(samples, seq_len)``."""

    domain: str
    blocks: torch.Tensor


def split_by_domain(
    blocks_by_domain: Mapping[str, torch.Tensor],
    clients_per_domain: int,
    samples_per_client: int,
    seed: int = 0,
) -> list[DomainClient]:
    """Clients grouped by domain: for each domain in order, ``clients_per_domain`` clients each holding
    ``samples_per_client`` blocks of that domain, disjoint within the domain (a seeded shuffle decides
    which). Client ``i`` of domain ``j`` is client number ``j * clients_per_domain + i``.

    Raises:
        ValueError: if a domain has fewer than ``clients_per_domain * samples_per_client`` blocks
            (the message says how many it has).
    """
    if clients_per_domain < 1 or samples_per_client < 1:
        raise ValueError(
            "clients_per_domain and samples_per_client must be >= 1, "
            f"got {clients_per_domain}, {samples_per_client}"
        )
    gen = torch.Generator().manual_seed(seed)
    need = clients_per_domain * samples_per_client
    clients = []
    for domain, blocks in blocks_by_domain.items():
        if blocks.shape[0] < need:
            raise ValueError(
                f"domain {domain!r} has {blocks.shape[0]} blocks; {clients_per_domain} clients x "
                f"{samples_per_client} samples need {need}"
            )
        order = torch.randperm(blocks.shape[0], generator=gen)[:need].view(
            clients_per_domain, samples_per_client
        )
        clients += [DomainClient(domain, blocks[rows]) for rows in order]
    return clients


def minibatches(data: torch.Tensor | tuple[torch.Tensor, ...], batch_size: int, steps: int, seed: int = 0):
    """``steps`` mini-batches of ``batch_size`` rows of ``data`` (a tensor, or a tuple of tensors indexed
    together along dim 0): epochs of a seeded permutation, the last partial batch of an epoch dropped.
    A batch is the same type as ``data``.

    Raises:
        ValueError: if ``batch_size`` exceeds the number of rows, or either count is < 1.
    """
    rows = (data[0] if isinstance(data, tuple) else data).shape[0]
    if batch_size < 1 or steps < 0 or batch_size > rows:
        raise ValueError(
            f"batch_size={batch_size} must be in 1..{rows} (rows of data) and steps={steps} >= 0"
        )
    gen = torch.Generator().manual_seed(seed)
    per_epoch = rows // batch_size
    order = torch.randperm(rows, generator=gen)
    for step in range(steps):
        if step and step % per_epoch == 0:
            order = torch.randperm(rows, generator=gen)
        index = order[(step % per_epoch) * batch_size : (step % per_epoch + 1) * batch_size]
        yield tuple(t[index] for t in data) if isinstance(data, tuple) else data[index]

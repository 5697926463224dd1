"""Offline data for the learners: data sets, train/test splits and partitions across clients.

Data sets (:class:`Dataset`: float32 images ``x`` of shape ``(N, C, H, W)`` scaled to [0, 1], int64
labels ``y`` of shape ``(N,)``):

``load_digits()``        scikit-learn's handwritten digits (1797 8x8 grey images, 10 classes), shipped
                         inside scikit-learn: always available, no download
``load_mnist(path)``     MNIST from its idx files (``train-images-idx3-ubyte`` etc., optionally ``.gz``)
``load_cifar10(path)``   CIFAR-10 from its python pickle batches (``data_batch_1..5``, ``test_batch``)

Nothing is downloaded: the two loaders read a local folder and name every missing file.

Partitions (each returns one index array per client; every sample goes to at most one client):

``partition_iid``        a random equal split
``partition_shards``     sort by label, cut into ``clients * shards_per_client`` shards, deal shards out
                         (McMahan et al.'s pathological non-IID split)
``partition_dirichlet``  per class, client shares drawn from Dirichlet(alpha) (small alpha: skewed)
``partition_by_domain``  clients assigned to domains round robin; a domain's samples are split IID among
                         its clients (for clustered experiments; :func:`rotated_domains` makes domains)
``partition_dataset``    any of them on any labelled map-style torch data set (labels from ``targets`` /
                         ``labels`` or the items; domains from ``domains``)

Every function that draws takes a ``seed``; the same seed gives the same arrays.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

from ns6g.learners import custom

__all__ = [
    "PARTITIONS",
    "Dataset",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "partition",
    "partition_by_domain",
    "partition_dataset",
    "partition_dirichlet",
    "partition_iid",
    "partition_shards",
    "rotated_domains",
    "split_indices",
    "train_test_split",
]


@dataclass(frozen=True)
class Dataset:
    """Images ``x`` float32 ``(N, C, H, W)`` in [0, 1], labels ``y`` int64 ``(N,)`` in [0, num_classes)."""

    name: str
    x: torch.Tensor
    y: torch.Tensor
    num_classes: int

    def __post_init__(self) -> None:
        if self.x.ndim != 4:
            raise ValueError(f"dataset {self.name!r}: x must be (N, C, H, W), got shape {tuple(self.x.shape)}")
        if self.y.shape != (self.x.shape[0],):
            raise ValueError(
                f"dataset {self.name!r}: y has shape {tuple(self.y.shape)}, x has {self.x.shape[0]} samples"
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one sample."""
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    def subset(self, indices: np.ndarray | Sequence[int]) -> Dataset:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return Dataset(self.name, self.x[idx], self.y[idx], self.num_classes)


# --------------------------------------------------------------------------------------------------
# data sets


def load_digits() -> Dataset:
    """scikit-learn's handwritten digits: 1797 images of 1x8x8 (pixel values 0..16 scaled to [0, 1])."""
    from sklearn.datasets import load_digits as sk_load_digits  # ships its data inside the package

    bunch = sk_load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    return Dataset("digits", x, y, 10)


def _require_files(folder: Path, names: Sequence[str], what: str, hint: str) -> None:
    if not folder.is_dir():
        raise FileNotFoundError(f"{what}: folder {folder} does not exist ({hint})")
    missing = [n for n in names if not (folder / n).is_file() and not (folder / f"{n}.gz").is_file()]
    if missing:
        raise FileNotFoundError(f"{what}: {folder} lacks {', '.join(missing)} ({hint})")


def _open_maybe_gz(path: Path) -> bytes:
    if path.is_file():
        return path.read_bytes()
    return gzip.decompress(path.with_name(path.name + ".gz").read_bytes())


def _read_idx(path: Path, expected_dims: int) -> np.ndarray:
    """An idx file (big-endian): 2 zero bytes, type 0x08 (uint8), number of dimensions, dims, data."""
    raw = _open_maybe_gz(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an idx file (bad magic number)")
    if raw[2] != 0x08:
        raise ValueError(f"{path}: idx element type 0x{raw[2]:02x} is not uint8 (0x08)")
    ndim = raw[3]
    if ndim != expected_dims:
        raise ValueError(f"{path}: {ndim} dimensions, expected {expected_dims}")
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    count = int(np.prod(dims))
    if len(raw) - header != count:
        raise ValueError(f"{path}: {len(raw) - header} data bytes, header says {count}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def load_mnist(path: str | Path, split: str = "train") -> Dataset:
    """MNIST ``split`` ("train" or "test") from the idx files in folder ``path`` (plain or ``.gz``)."""
    if split not in MNIST_FILES:
        raise ValueError(f"MNIST split must be one of {', '.join(MNIST_FILES)}, got {split!r}")
    folder = Path(path)
    images_name, labels_name = MNIST_FILES[split]
    _require_files(folder, [images_name, labels_name], "MNIST", "download it from the MNIST site yourself")
    images = _read_idx(folder / images_name, 3)
    labels = _read_idx(folder / labels_name, 1)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"MNIST {split}: {images.shape[0]} images but {labels.shape[0]} labels")
    x = torch.as_tensor(images.copy(), dtype=torch.float32).unsqueeze(1) / 255.0
    return Dataset("mnist", x, torch.as_tensor(labels.astype(np.int64)), 10)


CIFAR10_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def load_cifar10(path: str | Path, split: str = "train") -> Dataset:
    """CIFAR-10 ``split`` from the python pickle batches in folder ``path`` (``cifar-10-batches-py``)."""
    if split not in CIFAR10_FILES:
        raise ValueError(f"CIFAR-10 split must be one of {', '.join(CIFAR10_FILES)}, got {split!r}")
    folder = Path(path)
    names = CIFAR10_FILES[split]
    hint = "the python version of CIFAR-10, cifar-10-python.tar.gz, extracted"
    if not folder.is_dir():
        raise FileNotFoundError(f"CIFAR-10: folder {folder} does not exist ({hint})")
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10: {folder} lacks {', '.join(missing)} ({hint})")
    xs, ys = [], []
    for name in names:
        with open(folder / name, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        try:
            data, labels = batch[b"data"], batch[b"labels"]
        except (KeyError, TypeError):
            raise ValueError(f"CIFAR-10: {folder / name} has no b'data' and b'labels' entries") from None
        data = np.asarray(data, dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != len(labels):
            raise ValueError(f"CIFAR-10: {folder / name}: data of shape {data.shape} with {len(labels)} labels")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(np.asarray(labels, dtype=np.int64))
    x = torch.as_tensor(np.concatenate(xs), dtype=torch.float32) / 255.0
    return Dataset("cifar10", x, torch.as_tensor(np.concatenate(ys)), 10)


def load_dataset(name: str, path: str | Path | None = None) -> Dataset:
    """``"digits"`` (no path), or ``"mnist"`` / ``"cifar10"`` (training split) from folder ``path``."""
    if name == "digits":
        return load_digits()
    if name in ("mnist", "cifar10"):
        if not path:
            raise ValueError(f"data set {name!r} needs a data path (a local folder with its files)")
        return load_mnist(path) if name == "mnist" else load_cifar10(path)
    raise ValueError(f"unknown data set {name!r}; valid: digits, mnist, cifar10")


def split_indices(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (train, test) index arrays over ``n`` samples, ``round(n * test_fraction)`` (at least 1)
    of them for testing."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = max(1, int(round(n * test_fraction)))
    if n_test >= n:
        raise ValueError(f"test_fraction {test_fraction} leaves no training data out of {n} samples")
    order = np.random.default_rng(seed).permutation(n)
    return order[n_test:], order[:n_test]


def train_test_split(data: Dataset, test_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """``data`` split by :func:`split_indices` into (train, test)."""
    train_idx, test_idx = split_indices(len(data), test_fraction, seed)
    return data.subset(train_idx), data.subset(test_idx)


def rotated_domains(data: Dataset, domains: int, seed: int) -> tuple[Dataset, np.ndarray]:
    """Give each sample one of ``domains`` domains at random and rotate its image by domain x 90
    degrees (domains > 4 repeat the rotations and flip the image left-right every other cycle).
    Returns the new data set and the domain index of every sample (int64 ``(N,)``)."""
    if not (isinstance(domains, int) and domains >= 1):
        raise ValueError(f"domains must be a positive integer, got {domains!r}")
    domain = np.random.default_rng(seed).integers(0, domains, size=len(data))
    x = data.x.clone()
    for d in range(domains):
        idx = torch.as_tensor(np.flatnonzero(domain == d))
        images = torch.rot90(x[idx], k=d % 4, dims=(2, 3))
        if (d // 4) % 2 == 1:
            images = torch.flip(images, dims=(3,))
        x[idx] = images
    return Dataset(f"{data.name}-rotated", x, data.y, data.num_classes), domain.astype(np.int64)


# --------------------------------------------------------------------------------------------------
# partitions


def _check_clients(n_samples: int, clients: int) -> None:
    if not (isinstance(clients, int) and not isinstance(clients, bool) and clients >= 1):
        raise ValueError(f"clients must be a positive integer, got {clients!r}")
    if clients > n_samples:
        raise ValueError(f"more clients ({clients}) than training samples ({n_samples}): every client needs data")


def partition_iid(labels: np.ndarray, clients: int, seed: int) -> list[np.ndarray]:
    """A random split into ``clients`` parts whose sizes differ by at most one."""
    labels = np.asarray(labels)
    _check_clients(len(labels), clients)
    order = np.random.default_rng(seed).permutation(len(labels))
    return [np.sort(part) for part in np.array_split(order, clients)]


def partition_shards(labels: np.ndarray, clients: int, seed: int, shards_per_client: int = 2) -> list[np.ndarray]:
    """Sort by label, cut into ``clients * shards_per_client`` equal shards, give each client
    ``shards_per_client`` shards at random: each client sees few classes."""
    labels = np.asarray(labels)
    _check_clients(len(labels), clients)
    shards = clients * shards_per_client
    if shards_per_client < 1 or shards > len(labels):
        raise ValueError(
            f"{clients} clients x {shards_per_client} shards per client = {shards} shards, "
            f"but there are {len(labels)} samples (need at least one per shard)"
        )
    rng = np.random.default_rng(seed)
    # stable sort with a random tie order, so samples of a class are shuffled inside their shards
    order = rng.permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]
    pieces = np.array_split(order, shards)
    dealt = rng.permutation(shards).reshape(clients, shards_per_client)
    return [np.sort(np.concatenate([pieces[s] for s in row])) for row in dealt]


def partition_dirichlet(
    labels: np.ndarray, clients: int, seed: int, alpha: float = 0.5, max_tries: int = 100
) -> list[np.ndarray]:
    """For every class, split its samples among clients with proportions drawn from Dirichlet(alpha).
    Redrawn (up to ``max_tries`` times) until every client has at least one sample."""
    labels = np.asarray(labels)
    _check_clients(len(labels), clients)
    if not alpha > 0:
        raise ValueError(f"Dirichlet alpha must be > 0, got {alpha}")
    rng = np.random.default_rng(seed)
    for _ in range(max_tries):
        parts: list[list[np.ndarray]] = [[] for _ in range(clients)]
        for cls in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == cls))
            shares = rng.dirichlet(np.full(clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
            for client, piece in enumerate(np.split(idx, cuts)):
                parts[client].append(piece)
        out = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(p) for p in out) > 0:
            return out
    raise ValueError(
        f"Dirichlet(alpha={alpha}) left a client with no sample in {max_tries} draws; "
        f"use fewer clients than {clients} or a larger alpha"
    )


def partition_by_domain(domains: np.ndarray, clients: int, seed: int) -> list[np.ndarray]:
    """Client i belongs to domain ``i % n_domains``; each domain's samples are split IID among its
    clients. ``domains``: int domain index per sample (e.g. from :func:`rotated_domains`)."""
    domains = np.asarray(domains)
    _check_clients(len(domains), clients)
    names = np.unique(domains)
    out: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * clients
    rng = np.random.default_rng(seed)
    for k, d in enumerate(names):
        members = list(range(k, clients, len(names)))
        if not members:
            continue
        idx = rng.permutation(np.flatnonzero(domains == d))
        if len(idx) < len(members):
            raise ValueError(f"domain {d} has {len(idx)} samples for {len(members)} clients")
        for client, piece in zip(members, np.array_split(idx, len(members))):
            out[client] = np.sort(piece)
    return out


PARTITIONS = ("iid", "shards", "dirichlet", "domain")


def partition_dataset(
    dataset: TorchDataset,
    clients: int,
    scheme: str,
    seed: int,
    *,
    alpha: float = 0.5,
    shards_per_client: int = 2,
) -> list[np.ndarray]:
    """:func:`partition` of any labelled map-style data set (items ``(x, y)``, ``y`` an integer label):
    labels from ``dataset.targets`` / ``dataset.labels`` when present, else read from the items once;
    scheme ``'domain'`` reads ``dataset.domains`` (one integer per item). Use
    ``torch.utils.data.Subset(dataset, part)`` for a client's share."""
    labels = custom.labels_of(dataset)
    domains = custom.domains_of(dataset) if scheme == "domain" else None
    if scheme == "domain" and domains is None:
        raise ValueError(f"partition 'domain' needs dataset.domains (one integer per item); "
                         f"{type(dataset).__name__} has none")
    return partition(labels, clients, scheme, seed, alpha=alpha, shards_per_client=shards_per_client, domains=domains)


def partition(
    labels: np.ndarray,
    clients: int,
    scheme: str,
    seed: int,
    *,
    alpha: float = 0.5,
    shards_per_client: int = 2,
    domains: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Dispatch to the partition named ``scheme`` (one of :data:`PARTITIONS`)."""
    if scheme == "iid":
        return partition_iid(labels, clients, seed)
    if scheme == "shards":
        return partition_shards(labels, clients, seed, shards_per_client)
    if scheme == "dirichlet":
        return partition_dirichlet(labels, clients, seed, alpha)
    if scheme == "domain":
        if domains is None:
            raise ValueError("partition 'domain' needs the domain of every sample")
        return partition_by_domain(domains, clients, seed)
    raise ValueError(f"unknown partition {scheme!r}; valid: {', '.join(PARTITIONS)}")

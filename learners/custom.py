"""Your own model and data for the learners (docs/learners.md, "Your own model and data").

A **model** is any ``nn.Module`` whose cut points are known:

- an ``nn.Sequential``: its top-level entries are the blocks (cut k: blocks 0..k-1 on the client);
- any other module declaring ``cut_points``: the names of its child modules in order, e.g.
  ``cut_points = ("features", "pool", "head")``; running those children one after another must compute
  the module's ``forward`` (checked on two samples) and they must hold all of its parameters;
- any other module, for the protocols that never split the model (fedavg, fedprox, ...): one block.

:func:`model_blocks` turns either into the ``nn.Sequential`` of blocks that the engine slices (the blocks
share their parameters with the module). A model is given as a zero-argument factory (called under the
job's seeded torch RNG for every fresh copy, so the seed sets the initialisation), a factory taking some
of ``num_classes``, ``in_channels``, ``image_size`` (filled from the data, as for the zoo) and the job's
``model_options``, or an instance (deep-copied for every fresh copy: its own weights are the start).

A **data set** is any map-style ``torch.utils.data.Dataset`` whose items are ``(x, y)``: ``x`` a tensor
(or array) of the same shape for every item, ``y`` an integer class label (int, or an integer 0-d
tensor/array). :func:`materialise` reads it once into tensors; ``x`` keeps its dtype and values (no
normalisation). :func:`labels_of` reads the labels cheaply when the set carries ``targets`` or
``labels``.

``pkg.mod:attr`` strings (:func:`resolve`) name factories for the CLI and the job configuration: a model
factory, or a data factory returning ``(train, test)`` data sets (or one set, split by ``test_fraction``).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

__all__ = [
    "DERIVED_KWARGS",
    "describe",
    "is_spec",
    "labels_of",
    "load_data_spec",
    "domains_of",
    "has_cut_points",
    "materialise",
    "model_blocks",
    "model_factory",
    "resolve",
]

_SPEC = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<attr>[A-Za-z_][\w.]*)$")

#: keyword arguments a model factory receives from the data when its signature names them
DERIVED_KWARGS = ("num_classes", "in_channels", "image_size")


def is_spec(value: str) -> bool:
    """True if ``value`` has the form ``pkg.mod:attr``."""
    return bool(_SPEC.match(value))


def resolve(spec: str, what: str = "object") -> Any:
    """The object ``pkg.mod:attr`` names (``attr`` may be dotted). ValueError naming the module or the
    attribute that is missing; the module must be importable (on ``sys.path``, e.g. via PYTHONPATH)."""
    match = _SPEC.match(spec)
    if not match:
        raise ValueError(f"{what} {spec!r}: expected 'pkg.module:attribute'")
    try:
        obj: Any = importlib.import_module(match["module"])
    except ImportError as exc:
        raise ValueError(f"{what} {spec!r}: cannot import module {match['module']!r} ({exc}); is it on "
                         "PYTHONPATH?") from None
    for part in match["attr"].split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{what} {spec!r}: module {match['module']!r} has no attribute {match['attr']!r}")
        obj = getattr(obj, part)
    return obj


def describe(obj: Any) -> str:
    """``module:qualname`` of a factory or class if that string resolves back to ``obj``, else
    ``"custom"``: what a run's configuration records for a model or data given as an object."""
    name = f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}"
    if is_spec(name):
        try:
            if resolve(name) is obj:
                return name
        except ValueError:
            pass
    return "custom"


# --------------------------------------------------------------------------------------------------
# models


def has_cut_points(module: nn.Module) -> bool:
    """True for an ``nn.Sequential`` or a module declaring ``cut_points``."""
    return isinstance(module, nn.Sequential) or getattr(module, "cut_points", None) is not None


def model_blocks(module: nn.Module) -> nn.Sequential:
    """The blocks of ``module`` (sharing its parameters): itself if an ``nn.Sequential``, its children
    named by ``module.cut_points`` in order, or (no cut points) one block ``model``: the whole module, for
    protocols that never split it. ValueError if ``cut_points`` names a child it lacks or leaves
    parameters outside the blocks."""
    if isinstance(module, nn.Sequential):
        return module
    names = getattr(module, "cut_points", None)
    if names is None:
        return nn.Sequential(OrderedDict(model=module))
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise ValueError(f"model {type(module).__name__}: cut_points must be a non-empty sequence of child "
                         f"module names, got {names!r}")
    children = dict(module.named_children())
    missing = [n for n in names if n not in children]
    if missing:
        raise ValueError(f"model {type(module).__name__}: cut_points name {missing}, which are not its child "
                         f"modules ({', '.join(children)})")
    blocks = nn.Sequential(OrderedDict((n, children[n]) for n in names))
    inside = {id(p) for p in blocks.parameters()}
    outside = [n for n, p in module.named_parameters() if id(p) not in inside]
    if outside:
        raise ValueError(f"model {type(module).__name__}: parameters {outside[:5]} lie outside the cut_points "
                         f"blocks {list(names)}; every parameter must belong to a block")
    return blocks


def model_factory(model: nn.Module | Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """A factory of fresh copies: the callable itself, or for an instance a deep copy per call."""
    if isinstance(model, nn.Module):
        return lambda: copy.deepcopy(model)
    if not callable(model):
        raise ValueError(f"model must be an nn.Module or a factory returning one, got {type(model).__name__}")
    return model


def factory_kwargs(factory: Callable[..., Any], derived: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments ``factory`` gets: the ``derived`` ones its signature names, then ``options``
    (ValueError naming an option it does not take)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no signature (a builtin): nothing is passed
        params = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = sorted(k for k in options if k not in params and not takes_any)
    if unknown:
        raise ValueError(f"model factory {getattr(factory, '__name__', factory)!r} does not take model_options "
                         f"{unknown}; it takes: {', '.join(params) or 'nothing'}")
    kwargs = {k: v for k, v in derived.items() if k in params}
    kwargs.update(options)
    return kwargs


def check_blocks(module: nn.Module, blocks: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """The output of ``blocks`` on sample batch ``x``; ValueError if it differs from ``module(x)``
    (declared cut points that skip a step of the module's forward). Runs in eval mode, no gradients."""
    was = module.training
    module.eval()
    try:
        with torch.no_grad():
            try:
                out = blocks(x)
                whole = module(x) if blocks is not module else out
            except Exception as exc:  # the user's model: name the input it failed on
                raise ValueError(f"model {type(module).__name__} fails on a batch of training samples of shape "
                                 f"{tuple(x.shape)}, dtype {x.dtype}: {type(exc).__name__}: {exc}") from exc
            if blocks is not module:
                if not (isinstance(whole, torch.Tensor) and whole.shape == out.shape and torch.allclose(whole, out)):
                    raise ValueError(f"model {type(module).__name__}: running its cut_points blocks in order does "
                                     "not compute its forward(); declare the children forward() chains")
    finally:
        module.train(was)
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"model output must be a tensor (class scores), got {type(out).__name__}")
    return out


# --------------------------------------------------------------------------------------------------
# data


def _label(y: Any, index: int, name: str) -> int:
    if isinstance(y, torch.Tensor | np.ndarray) and y.ndim == 0:
        integer = not (y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool) \
            if isinstance(y, torch.Tensor) else y.dtype.kind in "iu"
        if integer:
            return int(y)
    elif isinstance(y, int | np.integer) and not isinstance(y, bool):
        return int(y)
    raise ValueError(f"{name}: item {index} has label {y!r} ({type(y).__name__}); labels must be integers "
                     "(int or an integer 0-d tensor)")


def _check_size(dataset: Any, name: str) -> int:
    try:
        n = len(dataset)
    except TypeError:
        raise ValueError(f"{name}: {type(dataset).__name__} is not a map-style data set (no len())") from None
    if n == 0:
        raise ValueError(f"{name} is empty")
    return n


def labels_of(dataset: Any, name: str = "data set") -> np.ndarray:
    """int64 label of every item: from ``dataset.targets`` or ``dataset.labels`` when present (the
    torchvision convention), else from the items (each read once)."""
    n = _check_size(dataset, name)
    for attr in ("targets", "labels"):
        labels = getattr(dataset, attr, None)
        if labels is not None and len(labels) == n:
            return np.asarray([_label(y, i, name) for i, y in enumerate(labels)], dtype=np.int64)
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) == 2:
        return np.asarray([_label(y, i, name) for i, y in enumerate(dataset.tensors[1])], dtype=np.int64)
    return materialise(dataset, name)[1].numpy()


def domains_of(dataset: Any, name: str = "data set") -> np.ndarray | None:
    """int64 domain of every item from ``dataset.domains`` (for partition 'domain'), None if it has none."""
    domains = getattr(dataset, "domains", None)
    if domains is None:
        return None
    out = np.asarray(domains)
    if out.shape != (len(dataset),) or out.dtype.kind not in "iu":
        raise ValueError(f"{name}: domains must be one integer per item, got shape {out.shape}, dtype {out.dtype}")
    return out.astype(np.int64)


def materialise(dataset: Any, name: str = "data set") -> tuple[torch.Tensor, torch.Tensor]:
    """Every item of a map-style data set stacked: ``(x (N, ...), y int64 (N,))``. ValueError naming
    the item for a non-``(x, y)`` item, a non-integer label or an ``x`` of another shape."""
    n = _check_size(dataset, name)
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) == 2:  # no item-by-item copy
        x, y = dataset.tensors
        if y.ndim != 1 or y.dtype.is_floating_point or y.dtype == torch.bool:
            raise ValueError(f"{name}: labels must be integers, one per item; got {y.dtype} of shape {tuple(y.shape)}")
        return x, y.to(torch.int64)
    xs, ys = [], []
    for i in range(n):
        item = dataset[i]
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise ValueError(f"{name}: item {i} is a {type(item).__name__}, not an (x, y) pair")
        x, y = item
        x = torch.as_tensor(x)
        if xs and x.shape != xs[0].shape:
            raise ValueError(f"{name}: item {i} has x of shape {tuple(x.shape)}, item 0 has {tuple(xs[0].shape)}")
        xs.append(x)
        ys.append(_label(y, i, name))
    return torch.stack(xs), torch.as_tensor(ys, dtype=torch.int64)


def load_data_spec(spec: str) -> tuple[Dataset, Dataset | None]:
    """Call the zero-argument data factory ``pkg.mod:factory``: it returns ``(train, test)`` data sets,
    or one data set (``test`` None: the job splits off ``test_fraction``)."""
    factory = resolve(spec, "data factory")
    if not callable(factory):
        raise ValueError(f"data factory {spec!r} is a {type(factory).__name__}, not callable")
    out = factory()
    if isinstance(out, tuple) and len(out) == 2:
        train, test = out
    else:
        train, test = out, None
    for part, value in (("train", train), ("test", test)):
        if value is not None and not (hasattr(value, "__getitem__") and hasattr(value, "__len__")):
            raise ValueError(f"data factory {spec!r} returned a {type(value).__name__} as its {part} set; it must "
                             "return a map-style Dataset or a (train, test) pair of them")
    return train, test

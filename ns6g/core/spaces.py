"""Gymnasium spaces and numpy views built from a scenario's space descriptor.

The scenario declares its spaces at start-up (see ``ns3_scenarios/bridge/ns6g-bridge.h``) as JSON with,
for every leaf, its dtype, shape and byte offset in the shared-memory segment. This module turns that
into a :class:`gymnasium.spaces.Space` and matching numpy views (zero copy; writable ones for the bridge's own
use, read-only ones for zero-copy observation reads), and writes actions into the views after checking them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces

Descriptor = dict[str, Any]
Views = np.ndarray | dict[str, "Views"]


def build_space(desc: Descriptor) -> spaces.Space:
    """The gymnasium space described by ``desc``."""
    kind = desc["type"]
    if kind == "Dict":
        return spaces.Dict({name: build_space(child) for name, child in desc["spaces"]})
    shape = tuple(desc["shape"])
    dtype = np.dtype(desc["dtype"])
    if kind == "Box":
        low, high = (_bound(desc[key], shape, dtype) for key in ("low", "high"))
        return spaces.Box(low=low, high=high, shape=shape, dtype=dtype)
    if kind == "Discrete":
        return spaces.Discrete(int(desc["n"]), start=int(desc["start"]))
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(np.asarray(desc["nvec"], dtype=np.int64).reshape(shape))
    if kind == "MultiBinary":
        return spaces.MultiBinary(list(shape))
    raise ValueError(f"unknown space type {kind!r} in the scenario's descriptor")


def _bound(values: list[float], shape: tuple[int, ...], dtype: np.dtype) -> Any:
    if len(values) == 1:
        return dtype.type(values[0]) if np.isfinite(values[0]) or dtype.kind == "f" else values[0]
    return np.asarray(values, dtype=dtype).reshape(shape)


def build_views(desc: Descriptor, buffer: Any) -> Views:
    """Numpy views over ``buffer`` (the mapped segment) shaped and typed as ``desc`` declares: writable
    over a writable buffer, read-only over a read-only one (:func:`build_readonly_views`).

    ``np.frombuffer`` keeps ``buffer`` itself as the views' base, so a read-only memoryview stays in force
    (``np.ndarray(buffer=...)`` would unwrap it to the writable mapping and let the flag be set back).
    """
    if desc["type"] == "Dict":
        return {name: build_views(child, buffer) for name, child in desc["spaces"]}
    shape = () if desc["type"] == "Discrete" else tuple(desc["shape"])
    count = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(buffer, dtype=np.dtype(desc["dtype"]), count=count, offset=int(desc["offset"])).reshape(shape)


def build_readonly_views(desc: Descriptor, buffer: Any) -> Views:
    """:func:`build_views` over a read-only memoryview of ``buffer``: writing into them raises numpy's
    "assignment destination is read-only" ValueError, and so does setting their ``writeable`` flag back."""
    return build_views(desc, memoryview(buffer).toreadonly())


def views_reader(views: Views, space: spaces.Space, copy: bool = True) -> Callable[[], Any]:
    """A function returning the data under ``views`` in the form gymnasium expects for ``space``: a copy,
    or with ``copy=False`` the views themselves (Dict spaces: a new dict of them each call); a Discrete
    value is always an ``np.int64``. Built once per bridge: the space is inspected here, not per read
    (``isinstance`` against gymnasium's space classes cost about as much as a small copy)."""
    if isinstance(space, spaces.Dict):
        readers = [(name, views_reader(views[name], child, copy)) for name, child in space.spaces.items()]
        return lambda: {name: read() for name, read in readers}
    if isinstance(space, spaces.Discrete):
        return lambda: np.int64(views[()])
    if copy:
        return views.copy
    return lambda: views


def write_action(views: Views, space: spaces.Space, action: Any, path: str = "action") -> None:
    """Check ``action`` against ``space`` and copy it into ``views``.

    Raises:
        ValueError: naming the offending (sub-)action, if it is not real numbers, has a NaN or an
            infinity, or lies outside the space (shape, dtype kind, bounds, Dict keys).
    """
    if isinstance(space, spaces.Dict):
        if not isinstance(action, dict) or set(action) != set(space.spaces):
            got = sorted(action) if isinstance(action, dict) else type(action).__name__
            raise ValueError(f"{path} must be a dict with keys {sorted(space.spaces)}, got {got}")
        for name, child in space.spaces.items():
            write_action(views[name], child, action[name], f"{path}[{name!r}]")
        return
    value = np.asarray(action)
    if value.dtype.kind not in "biuf":  # complex, str, object (e.g. ints beyond 64 bits), ...
        raise ValueError(f"{path} must be real numbers, got dtype {value.dtype} in {action!r}")
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        raise ValueError(f"{path} contains NaN or an infinity: {action!r}")
    if not isinstance(space, spaces.Box) and value.dtype.kind not in "iub":
        raise ValueError(f"{path} must be integers for {space}, got dtype {value.dtype} in {action!r}")
    if isinstance(space, spaces.Discrete):
        if value.shape not in ((), (1,)) or not space.start <= int(value.reshape(())) < space.start + space.n:
            raise ValueError(f"{path}={action!r} is outside {space}")
        views[()] = int(value.reshape(()))
        return
    if value.shape != space.shape:
        raise ValueError(f"{path} has shape {value.shape}, expected {space.shape} for {space}")
    if isinstance(space, spaces.Box):
        with np.errstate(over="ignore", invalid="ignore"):  # beyond the dtype's range: refused below
            cast = value.astype(space.dtype, copy=False)
        if space.dtype.kind in "iu" and not np.array_equal(cast, value):
            raise ValueError(f"{path}={action!r} is not whole numbers in the range of {space.dtype} for {space}")
        if cast.dtype.kind == "f" and not np.isfinite(cast).all():
            raise ValueError(f"{path}={action!r} is beyond the range of {space.dtype} for {space}")
        if not space.contains(cast):
            raise ValueError(f"{path}={action!r} is outside {space}")
        np.copyto(views, cast)
        return
    if value.dtype.kind == "u" and value.size and value.max() > np.iinfo(space.dtype).max:
        raise ValueError(f"{path}={action!r} is outside {space}")
    if not space.contains(value.astype(space.dtype, copy=False)):
        raise ValueError(f"{path}={action!r} is outside {space}")
    np.copyto(views, value, casting="unsafe")


def flat_values(space: spaces.Space, value: Any) -> np.ndarray:
    """Every number of ``value`` as one float64 vector (Dict leaves in key order).

    Unlike ``gymnasium.spaces.flatten`` this keeps a Discrete value as its index, not a one-hot vector.
    """
    if isinstance(space, spaces.Dict):
        parts = [flat_values(child, value[name]) for name, child in space.spaces.items()]
        return np.concatenate(parts) if parts else np.empty(0)
    return np.asarray(value, dtype=np.float64).ravel()

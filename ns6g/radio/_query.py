"""One ``ran-query`` scenario per Python process, answering queries of the compiled RAN model.

The first query starts it (and builds it if needed); it lives until the interpreter exits. Queries are
arrays of typed records over the bridge's message channel, so a whole curve costs one round trip.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from ns6g.bridge import Bridge
from ns6g.build import scenario_binary

_lock = threading.Lock()
_bridge: Bridge | None = None


def _live_bridge() -> Bridge:
    global _bridge
    if _bridge is None or not _bridge.alive:
        if _bridge is not None:
            _bridge.close()
        _bridge = Bridge(scenario_binary("ran-query"))
        _bridge.reset(1)
    return _bridge


def _close() -> None:
    global _bridge
    with _lock:
        if _bridge is not None:
            _bridge.close()
            _bridge = None


atexit.register(_close)


def record_dtype(record_type: str) -> np.dtype:
    """The numpy structured dtype of a query's request or reply records."""
    with _lock:
        return _live_bridge().record_dtypes[record_type]


def query(request_type: str, columns: Mapping[str, Any]) -> np.ndarray:
    """Send one request record per row of ``columns`` (broadcast together); return the reply records.

    Raises:
        ns6g.bridge.ScenarioError: the model refused a request (its message names the problem).
    """
    with _lock:
        bridge = _live_bridge()
        dtype = bridge.record_dtypes[request_type]
        unknown = set(columns) - set(dtype.names)
        if unknown:
            raise ValueError(f"{request_type}: unknown fields {sorted(unknown)}; fields are {list(dtype.names)}")
        arrays = np.broadcast_arrays(*(np.asarray(v) for v in columns.values()))
        shape = arrays[0].shape if arrays else ()
        records = np.zeros(int(np.prod(shape)), dtype=dtype)
        for name, values in zip(columns, arrays):
            records[name] = values.reshape(-1)
        _, reply = bridge.request(request_type, records)
        return reply

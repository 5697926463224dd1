"""One ``ran-query`` scenario per Python process, answering queries of the compiled RAN model.

The first query starts it (and builds it if needed); it lives until the interpreter exits. Queries are
arrays of typed records over the bridge's message channel, so a whole curve costs one round trip.

If the process dies (crash, kill, hang), the query that finds it dead raises ScenarioCrashed or
ScenarioNotResponding naming that process and its signal, and says that the next query starts a new
one; only then does one start. Queries have no state between them, so a new process answers as the
old one would have.

Configuration checks query the model inside :func:`transient`: validating a configuration (accepted or
refused) leaves no ``ran-query`` process behind that was not already running.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ns6g.core.bridge import Bridge, ScenarioCrashed, ScenarioNotResponding
from ns6g.core.build import scenario_binary

_lock = threading.RLock()
_bridge: Bridge | None = None


@contextlib.contextmanager
def _live_bridge() -> Iterator[Bridge]:
    """The query process, started if there is none, under the lock. A death found here or during the
    caller's query is raised with a note, and the process is forgotten: the next query starts a new one."""
    global _bridge
    with _lock:
        try:
            if _bridge is None:
                _bridge = Bridge(scenario_binary("ran-query"))
                _bridge.reset(1)
            yield _bridge
        except (ScenarioCrashed, ScenarioNotResponding) as exc:
            _bridge = None
            raise type(exc)(f"{exc}\nns6g.radio: the next query starts a new ran-query process") from None


def _close() -> None:
    global _bridge
    with _lock:
        if _bridge is not None:
            _bridge.close()
            _bridge = None


def _forget_in_child() -> None:
    """A forked child (a vector environment's worker) starts its own query process when it needs one: the
    inherited one is the parent's, and its lock may have been held by another thread at the fork."""
    global _bridge, _lock
    _bridge = None  # not closed: the process and its segment belong to the parent
    _lock = threading.RLock()


atexit.register(_close)
os.register_at_fork(after_in_child=_forget_in_child)


@contextlib.contextmanager
def transient() -> Iterator[None]:
    """Queries inside leave the query process as they found them: one started here is closed on exit
    (for configuration checks, which should not leave a process running, whether they pass or fail)."""
    with _lock:
        running = _bridge is not None
    try:
        yield
    finally:
        if not running:
            _close()


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Queries inside go to a fresh ``ran-query`` process reset with ns-3 ``RngRun = seed`` (closed on exit;
    a process already running is left as it was and used again after). The model's random draws (LoS
    state, shadowing, fast fading) then depend only on the seed and on the queries made inside, in order:
    the same seed and queries give the same numbers."""
    global _bridge
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
    with _lock:
        saved = _bridge
        _bridge = Bridge(scenario_binary("ran-query"))
        try:
            _bridge.reset(seed)
            yield
        finally:
            if _bridge is not None:
                _bridge.close()
            _bridge = saved


def record_dtype(record_type: str) -> np.dtype:
    """The numpy structured dtype of a query's request or reply records."""
    with _live_bridge() as bridge:
        return bridge.record_dtypes[record_type]


def query(request_type: str, columns: Mapping[str, Any]) -> np.ndarray:
    """Send one request record per row of ``columns`` (broadcast together); return the reply records.

    Raises:
        ns6g.core.bridge.ScenarioError: the model refused a request (its message names the problem).
        ns6g.core.bridge.ScenarioCrashed, ns6g.core.bridge.ScenarioNotResponding: the query process died (before
            or during this query); the next query starts a new one.
    """
    with _live_bridge() as bridge:
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

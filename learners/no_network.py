"""``NoNetwork``: the :class:`~ns6g.learners.network.Network` interface with no network behind it.

This is a *reference* implementation, not an emulation: transfers take no time and cost no energy;
a computation takes ``flops / (device FLOP/s)`` on its node's processor (FIFO: one computation at a
time per node, in the order they become ready; ``Completed.start_s`` is when it became ready and
``queue_s`` its wait for the processor, as under CoSimNetwork) and costs ``flops x J/FLOP`` of the device
(:mod:`ns6g.compute.devices` catalogue). It is the "same training with no network" baseline of
``ns6g bench fl`` and lets learner jobs be developed and tested without ns-3; every result that
depends on the network comes from :class:`ns6g.learners.cosim.CoSimNetwork`.

Disconnections can be scripted for tests: ``disconnect_at={"client/2": 0.5}`` or
``disconnect(2, 0.5)`` (the call :class:`~ns6g.learners.cosim.CoSimNetwork` has too) makes node
``client/2`` leave at 0.5 s of simulated time for good. A computation on it that is running or queued
then fails at that time; an operation involving it that becomes ready later (a transfer from or to
it, a computation on it) fails when it becomes ready; operations that depend on a failed one fail too,
taking no time.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence

from ns6g.compute.devices import device
from ns6g.learners.network import CLOUD, REGIONAL, Completed, Compute, Op, Transfer

__all__ = ["NoNetwork"]


class NoNetwork:
    """Zero-time transfers, FLOP-timed FIFO computations. Nodes: ``client/0..clients-1``,
    ``edge/0..edges-1``, ``cloud``, ``regional``.

    Args:
        clients: number of client devices.
        edges: number of edge servers.
        client_device: catalogue name of every client, or one name per client.
        edge_device, cloud_device, regional_device: catalogue names of the servers (``regional``: the
            regional data centre between edge and cloud).
        disconnect_at: node name -> simulated time (s) at which it disconnects for good.
    """

    def __init__(
        self,
        clients: int,
        edges: int = 1,
        client_device: str | Sequence[str] = "smartphone",
        edge_device: str = "edge-gpu-server",
        cloud_device: str = "cloud-gpu",
        regional_device: str = "edge-gpu-server",
        disconnect_at: Mapping[str, float] | None = None,
    ) -> None:
        if not (isinstance(clients, int) and clients >= 1):
            raise ValueError(f"clients must be a positive integer, got {clients!r}")
        if not (isinstance(edges, int) and edges >= 0):
            raise ValueError(f"edges must be a non-negative integer, got {edges!r}")
        names = [client_device] * clients if isinstance(client_device, str) else list(client_device)
        if len(names) != clients:
            raise ValueError(f"client_device lists {len(names)} devices for {clients} clients")
        self._device: dict[str, str] = {f"client/{i}": n for i, n in enumerate(names)}
        self._device.update({f"edge/{j}": edge_device for j in range(edges)})
        self._device[CLOUD] = cloud_device
        self._device[REGIONAL] = regional_device
        self._rate = {node: float(device(n)["flops"]) for node, n in self._device.items()}
        self._joule_per_flop = {node: float(device(n)["energy_per_flop_j"]) for node, n in self._device.items()}
        self._disconnect = dict(disconnect_at or {})
        for node, t in self._disconnect.items():
            self._check_node(node, "disconnect_at")
            if not t >= 0:
                raise ValueError(f"disconnect_at[{node!r}] must be a time >= 0 s, got {t}")
        self._clients = clients
        self._now = 0.0
        self._ops: list[Op] = []  # op id - 1 -> op
        self._deps_left: dict[int, int] = {}
        self._dependents: dict[int, list[int]] = defaultdict(list)
        self._failed_dep: set[int] = set()
        self._done: dict[int, Completed] = {}
        self._start: dict[int, float] = {}  # op id -> when it became ready
        self._service: dict[int, float] = {}  # computation -> when its service began
        self._queue: dict[str, deque[int]] = defaultdict(deque)  # node -> ready computations
        self._running: dict[str, int] = {}  # node -> computation in service
        self._events: list[tuple[float, int, int, bool]] = []  # (time, seq, op id, ok)
        self._seq = 0
        self._running_event: dict[int, int] = {}  # computation in service -> seq of its end event
        self._cancelled: set[int] = set()  # seqs of end events a disconnection overtook
        self._closed = False

    # ------------------------------------------------------------------ interface

    @property
    def clients(self) -> int:
        return self._clients

    def now_s(self) -> float:
        return self._now

    def submit(self, ops: Sequence[Op]) -> list[int]:
        self._check_open()
        ids = []
        for op in ops:
            self._validate(op)
            op_id = len(self._ops) + 1
            for dep in op.after:
                if not 1 <= dep < op_id:
                    raise ValueError(f"operation {op_id} ({op.tag}) depends on unknown operation {dep}")
            self._ops.append(op)
            waiting = [d for d in op.after if d not in self._done]
            self._deps_left[op_id] = len(waiting)
            for dep in waiting:
                self._dependents[dep].append(op_id)
            if any(d in self._done and not self._done[d].ok for d in op.after):
                self._failed_dep.add(op_id)
            ids.append(op_id)
        for op_id in ids:  # ready ones start now, in submission order
            if self._deps_left[op_id] == 0:
                self._make_ready(op_id, self._now)
        return ids

    def run(self, wait_for: Iterable[int] | None = None, *, any_of: bool = False) -> list[Completed]:
        self._check_open()
        targets = set(range(1, len(self._ops) + 1)) if wait_for is None else set(wait_for)
        unknown = [t for t in targets if not 1 <= t <= len(self._ops)]
        if unknown:
            raise ValueError(f"run(): unknown operation ids {sorted(unknown)}")
        out: list[Completed] = []

        def satisfied() -> bool:
            if not targets:
                return True
            done = [t in self._done for t in targets]
            return any(done) if any_of else all(done)

        while not satisfied():
            if not self._events:
                raise RuntimeError("run(): operations are waiting on each other and nothing can finish")
            time, seq, op_id, ok = heapq.heappop(self._events)
            if seq in self._cancelled:
                self._cancelled.discard(seq)
                continue
            self._now = max(self._now, time)
            out.append(self._finish(op_id, time, ok))
        return out

    def close(self) -> None:
        self._closed = True

    # ------------------------------------------------------------------ event machinery

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("NoNetwork is closed")

    def _check_node(self, node: str, field: str) -> None:
        if node not in self._device:
            raise ValueError(f"{field}: unknown node {node!r}; nodes are client/0..client/{self._clients - 1}, "
                             f"edge/0..edge/{sum(n.startswith('edge/') for n in self._device) - 1}, cloud, regional")

    def _validate(self, op: Op) -> None:
        if isinstance(op, Transfer):
            self._check_node(op.src, "Transfer.src")
            self._check_node(op.dst, "Transfer.dst")
            if not (isinstance(op.nbytes, int) and op.nbytes >= 0):
                raise ValueError(f"Transfer.nbytes must be an integer >= 0, got {op.nbytes!r}")
        elif isinstance(op, Compute):
            self._check_node(op.node, "Compute.node")
            if not (math.isfinite(op.flops) and op.flops >= 0):
                raise ValueError(f"Compute.flops must be finite and >= 0, got {op.flops!r}")
        else:
            raise TypeError(f"expected a Transfer or Compute, got {type(op).__name__}")

    def _gone(self, node: str, time: float) -> bool:
        return node in self._disconnect and time >= self._disconnect[node]

    def _push(self, time: float, op_id: int, ok: bool) -> int:
        self._seq += 1
        heapq.heappush(self._events, (time, self._seq, op_id, ok))
        return self._seq

    def _make_ready(self, op_id: int, time: float) -> None:
        op = self._ops[op_id - 1]
        self._start[op_id] = time
        if op_id in self._failed_dep:
            self._push(time, op_id, False)
        elif isinstance(op, Transfer):
            self._push(time, op_id, not (self._gone(op.src, time) or self._gone(op.dst, time)))
        else:
            self._queue[op.node].append(op_id)
            self._serve(op.node, time)

    def _serve(self, node: str, time: float) -> None:
        """Start the next queued computation on ``node`` if it is idle."""
        if node in self._running or not self._queue[node]:
            return
        op_id = self._queue[node].popleft()
        self._service[op_id] = time
        self._running[node] = op_id
        end = time + self._ops[op_id - 1].flops / self._rate[node]
        leave = self._disconnect.get(node, math.inf)
        if leave <= time:
            self._running_event[op_id] = self._push(time, op_id, False)
        elif leave < end:
            self._running_event[op_id] = self._push(leave, op_id, False)
        else:
            self._running_event[op_id] = self._push(end, op_id, True)

    def _finish(self, op_id: int, time: float, ok: bool) -> Completed:
        op = self._ops[op_id - 1]
        energy = 0.0
        if isinstance(op, Compute):
            if self._running.get(op.node) == op_id:
                del self._running[op.node]
                del self._running_event[op_id]
            if ok:
                energy = op.flops * self._joule_per_flop[op.node]
        queued = self._service.pop(op_id, time) - self._start[op_id] if isinstance(op, Compute) else 0.0
        failure = "" if ok else "dependency failed" if op_id in self._failed_dep else "disconnected"
        done = Completed(op_id=op_id, start_s=self._start[op_id], end_s=time, energy_j=energy, ok=ok, queue_s=queued,
                         failure=failure)
        self._done[op_id] = done
        for child in self._dependents.pop(op_id, []):
            if not ok:
                self._failed_dep.add(child)
            self._deps_left[child] -= 1
            if self._deps_left[child] == 0:
                self._make_ready(child, time)
        if isinstance(op, Compute):
            self._serve(op.node, time)
        return done

    # ------------------------------------------------------------------ extras

    def disconnect(self, client_index: int, at_s: float) -> None:
        """Client ``client_index`` leaves at simulated time ``at_s`` (>= now) for good: a computation it
        is running then fails at ``at_s``, and so does every later operation that involves it."""
        node = f"client/{client_index}"
        self._check_node(node, "disconnect")
        if not (math.isfinite(at_s) and at_s >= self._now):
            raise ValueError(f"disconnect: at_s must be a finite time >= now ({self._now} s), got {at_s!r}")
        self._disconnect[node] = min(at_s, self._disconnect.get(node, math.inf))
        running = self._running.get(node)
        if running is not None:
            time, seq = next((t, q) for t, q, o, _ in self._events if q == self._running_event[running])
            if time > at_s:
                self._cancelled.add(seq)
                self._running_event[running] = self._push(at_s, running, False)

    def node_index(self, node: str) -> int:
        """Index of ``node`` in traces (as CoSimNetwork numbers them): client i -> i, edge j ->
        clients + j, cloud -> clients + edges, regional -> clients + edges + 1."""
        self._check_node(node, "node")
        return list(self._device).index(node)

    def flops_per_s(self, node: str) -> float:
        """Peak FLOP/s of ``node``'s device (from the catalogue)."""
        self._check_node(node, "node")
        return self._rate[node]

"""Where a learner's transfers and computations take simulated time: the co-simulation clock's interface.

A learner job (FedAvg, split learning, FSL, ...) trains for real in PyTorch; every communication and
every computation it performs is also submitted here as an *operation* with its true size, and the
network decides when it completes. ns-3 owns the clock: :class:`ns6g.learners.cosim.CoSimNetwork` runs
the operations in the ``fl-network`` scenario (transfers are real flows over the 6G RAN, backhaul and
WAN; computations occupy the node's processor model for FLOPs / (FLOP/s)).

Nodes are named by strings: ``"client/<i>"`` (device i, 0-based), ``"edge/<j>"`` (edge server j),
``"cloud"`` and ``"regional"`` (a regional data centre, the tier between edge and cloud that multi-hop
split learning's chains pass through). Use :func:`client`, :func:`edge`, :data:`CLOUD` and :data:`REGIONAL`.

Operations form a DAG: an operation starts when every operation in its ``after`` has completed (at
once if ``after`` is empty and at the current simulated time otherwise). An operation whose
dependency failed (for instance a client that disconnected) fails too, without taking time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

CLOUD = "cloud"
REGIONAL = "regional"


def client(i: int) -> str:
    """The node name of client (device) ``i``."""
    return f"client/{i}"


def edge(j: int) -> str:
    """The node name of edge server ``j``."""
    return f"edge/{j}"


@dataclass(frozen=True)
class Transfer:
    """Send ``nbytes`` bytes (payload, exact size of the tensors) from node ``src`` to node ``dst``.

    ``tag`` says what it carries, for traces: ``"model_down"``, ``"model_up"``, ``"activations"``,
    ``"gradients"``, ``"labels"``, ``"adapter_up"``, ...
    """

    src: str
    dst: str
    nbytes: int
    tag: str
    after: tuple[int, ...] = ()


@dataclass(frozen=True)
class Compute:
    """Run ``flops`` floating-point operations on ``node``'s processor (queueing behind its other work)."""

    node: str
    flops: float
    tag: str
    after: tuple[int, ...] = ()


Op = Transfer | Compute


def with_after(op: Op, after: tuple[int, ...]) -> Op:
    """``dataclasses.replace(op, after=after)``, by the constructor for a Transfer or a Compute (several
    times faster: a job rewrites every operation's dependencies to network ids, thousands per round)."""
    kind = type(op)
    if kind is Transfer:
        return Transfer(op.src, op.dst, op.nbytes, op.tag, after)
    if kind is Compute:
        return Compute(op.node, op.flops, op.tag, after)
    return replace(op, after=after)


@dataclass(frozen=True)
class Completed:
    """What became of one operation. Times in simulated seconds since the job started.

    ``start_s`` is when the operation started (its dependencies had completed). ``queue_s``: the part of
    ``[start_s, end_s]`` a computation waited for its node's processor (FIFO, behind the node's other
    work) before its service began, so ``end_s - start_s - queue_s`` is its service time, FLOPs / (FLOP/s);
    0 for transfers. ``energy_j`` is the energy the operation cost its device (compute: FLOPs x J/FLOP of
    the processor; transfer: the sender's transmit energy over the slots it sent in, at the power it
    sent with, 0 for wired senders). ``ok`` is False when the operation failed; then ``end_s`` is when it
    was given up and ``failure`` says why: ``"disconnected"`` (its node was disconnected),
    ``"radio link failure"`` (its node's radio link failed) or ``"dependency failed"``.
    """

    op_id: int
    start_s: float
    end_s: float
    energy_j: float
    ok: bool = True
    queue_s: float = 0.0
    failure: str = ""

    @property
    def service_s(self) -> float:
        """Time the operation was served (s): a computation on its processor, a transfer in the network."""
        return self.end_s - self.start_s - self.queue_s


@dataclass(frozen=True)
class DeviceTimeline:
    """Where one node's part of a round went (simulated seconds; ``energy_j`` in J). Each time is the
    part of the round during which at least one operation of its kind was under way (overlapping
    operations count once, so ten concurrent uploads to a server count for the time they took):

    ``compute_s``: its processor served its computations (FLOPs / FLOP/s; one FIFO core serves one at
    a time, so this is their service times summed); ``queue_s``: a computation of its waited for the
    processor; ``uplink_s``: a transfer it sent was in flight; ``downlink_s``: a transfer to it was in
    flight (client -> client counts for both ends); ``waiting_s``: none of its operations was under way;
    ``energy_j``: its operations' energy (computations on it, transfers it sent). When its kinds of work
    do not overlap each other (a client of every shipped protocol), compute + queue + uplink + downlink
    + waiting = the round."""

    compute_s: float = 0.0
    queue_s: float = 0.0
    uplink_s: float = 0.0
    downlink_s: float = 0.0
    waiting_s: float = 0.0
    energy_j: float = 0.0


_KINDS = ("compute_s", "queue_s", "uplink_s", "downlink_s")


def timelines(
    ops: Mapping[int, Op], done: Iterable[Completed], start_s: float, end_s: float
) -> dict[str, DeviceTimeline]:
    """Per node, its :class:`DeviceTimeline` over the round ``[start_s, end_s]``: ``ops`` maps op ids to
    operations, ``done`` holds their completions (failed ones count for the time they took). Times are
    clipped to the round (an asynchronous protocol's operation may have begun in an earlier one);
    energy is the whole operation's, charged in the round it completed."""
    intervals: dict[str, dict[str, list[tuple[float, float]]]] = {}
    energy: dict[str, float] = {}

    def add(node: str, kind: str, a: float, b: float, joules: float = 0.0) -> None:
        if node not in intervals:  # not setdefault: that builds the empty table on every call
            intervals[node] = {k: [] for k in _KINDS}
            energy[node] = 0.0
        intervals[node][kind].append((a, b))
        energy[node] += joules

    for c in done:
        try:
            op = ops[c.op_id]
        except KeyError:
            raise ValueError(f"timelines: completion of op {c.op_id} has no operation in ops") from None
        if isinstance(op, Compute):
            add(op.node, "queue_s", c.start_s, c.start_s + c.queue_s)
            add(op.node, "compute_s", c.start_s + c.queue_s, c.end_s, c.energy_j)
        else:
            add(op.src, "uplink_s", c.start_s, c.end_s, c.energy_j)  # the sender pays the air time
            if op.dst != op.src:
                add(op.dst, "downlink_s", c.start_s, c.end_s)
    out = {}
    for node, by_kind in intervals.items():
        times = {k: _union_length(v, start_s, end_s) for k, v in by_kind.items()}
        busy = _union_length([iv for v in by_kind.values() for iv in v], start_s, end_s)
        out[node] = DeviceTimeline(waiting_s=max(0.0, end_s - start_s - busy), energy_j=energy[node], **times)
    return out


def _union_length(intervals: Sequence[tuple[float, float]], lo: float, hi: float) -> float:
    """Total length of the union of ``intervals`` clipped to [lo, hi]."""
    # max()/min() spelt as conditionals (the same value, NaN and signed zeros included: max(x, y) is y
    # only if y > x): this runs for every node and kind of a round, thousands of times
    if len(intervals) == 1:  # most nodes' kinds of work in a round: the loop below in one step
        a, b = intervals[0]
        a, b = (lo if lo > a else a), (hi if hi < b else b)
        d = b - a
        return d if d > 0.0 else 0.0
    total, reach = 0.0, lo
    for a, b in sorted([((lo if lo > a else a), (hi if hi < b else b)) for a, b in intervals]):
        d = b - (reach if reach > a else a)
        total += d if d > 0.0 else 0.0
        if b > reach:
            reach = b
    return total


@runtime_checkable
class Network(Protocol):
    """The co-simulation clock a learner job submits its operations to."""

    @property
    def clients(self) -> int:
        """Number of client devices (``client/0`` .. ``client/<clients - 1>``)."""
        ...

    def now_s(self) -> float:
        """The current simulated time (s)."""
        ...

    def submit(self, ops: Sequence[Op]) -> list[int]:
        """Queue operations; returns their ids (positive, increasing). Nothing runs until :meth:`run`.

        ``after`` may name ids returned by earlier calls or earlier in the same call.
        """
        ...

    def run(self, wait_for: Iterable[int] | None = None, *, any_of: bool = False) -> list[Completed]:
        """Advance simulated time until every operation in ``wait_for`` (all submitted ones if None) has
        completed or failed, or with ``any_of=True`` until the first of them has. Returns every operation
        that completed or failed during this call, in completion order."""
        ...

    def close(self) -> None:
        """Release the network (stop the scenario process)."""
        ...

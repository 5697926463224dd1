"""Where a learner's transfers and computations take simulated time: the co-simulation clock's interface.

A learner job (FedAvg, split learning, FSL, ...) trains for real in PyTorch; every communication and
every computation it performs is also submitted here as an *operation* with its true size, and the
network decides when it completes. ns-3 owns the clock: :class:`ns6g.learners.cosim.CoSimNetwork` runs
the operations in the ``fl-network`` scenario (transfers are real flows over the 6G RAN, backhaul and
WAN; computations occupy the node's processor model for FLOPs / (FLOP/s)).

Nodes are named by strings: ``"client/<i>"`` (device i, 0-based), ``"edge/<j>"`` (edge server j),
``"cloud"``. Use :func:`client`, :func:`edge` and :data:`CLOUD`.

Operations form a DAG: an operation starts when every operation in its ``after`` has completed (at
once if ``after`` is empty and at the current simulated time otherwise). An operation whose
dependency failed (for instance a client that disconnected) fails too, without taking time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

CLOUD = "cloud"


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


@dataclass(frozen=True)
class Completed:
    """What became of one operation. Times in simulated seconds since the job started.

    ``energy_j`` is the energy the operation cost its device (compute: FLOPs x J/FLOP of the processor;
    transfer: the sender's transmit power x air time, 0 for wired senders). ``ok`` is False when the
    operation failed (its node disconnected, or a dependency failed); then ``end_s`` is when it was given up.
    """

    op_id: int
    start_s: float
    end_s: float
    energy_j: float
    ok: bool = True


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

"""What a learner job reports: the records :class:`ns6g.learners.engine.FlJob` and the protocols
exchange and return. A leaf module (at run time it imports only ns6g.learners.network), so the engine and the protocols
both import it and the protocols never import the engine (the engine uses them, as Flower's server uses a
strategy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ns6g.learners.network import DeviceTimeline

if TYPE_CHECKING:
    from ns6g.learners.engine import FlJobConfig

__all__ = ["JobResult", "ModelState", "RoundOutcome", "RoundRecord", "Sent", "TransferRecord"]


class ModelState(list):
    """The tensors a model transfer carries (``FlJob.state_of``), a list with their ``state_dict`` names in
    ``names`` (partial model updates choose tensors by name)."""

    def __init__(self, tensors: list[torch.Tensor], names: list[str]) -> None:
        super().__init__(tensors)
        self.names = list(names)


@dataclass(frozen=True)
class Sent:
    """A submitted transfer: its operation id and the tensors as the receiver reconstructs them."""

    op: int
    tensors: list[torch.Tensor]
    nbytes: int


@dataclass(frozen=True)
class TransferRecord:
    """One transfer of the job. ``round``: the round that submitted it. Times in simulated seconds
    (NaN while it has not completed)."""

    round: int
    op: int
    src: str
    dst: str
    tag: str
    nbytes: int
    start_s: float
    end_s: float
    ok: bool


@dataclass(frozen=True)
class RoundRecord:
    """What one round did. Losses are mean cross-entropy (nats); accuracy in [0, 1]; ``uplink_bytes``
    / ``downlink_bytes``: payload the round's transfers carried from / to clients; ``devices``: the
    timeline of every node that computed, sent or received in the round; ``extras``: numbers of the
    protocol's own (``fedavg-aircomp``: ``air_time_s``, ``transmitting_clients``, ``truncated_clients``,
    ``max_tx_power_dbm``, ``snr_db``), empty for most."""

    round: int
    protocol: str
    start_s: float
    end_s: float
    train_loss: float
    test_loss: float
    test_accuracy: float
    participants: tuple[int, ...]
    dropped: tuple[int, ...]
    uplink_bytes: int
    downlink_bytes: int
    devices: dict[str, DeviceTimeline]
    extras: dict[str, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class JobResult:
    config: FlJobConfig
    rounds: list[RoundRecord]
    transfers: list[TransferRecord]
    wall_time_s: float

    @property
    def final_accuracy(self) -> float:
        return self.rounds[-1].test_accuracy

    @property
    def sim_time_s(self) -> float:
        return self.rounds[-1].end_s

    @property
    def client_energy_j(self) -> float:
        """Compute and transmit energy of the clients over the job (J)."""
        return sum(d.energy_j for r in self.rounds for node, d in r.devices.items() if node.startswith("client/"))

    @property
    def total_energy_j(self) -> float:
        """Energy of every node over the job (J)."""
        return sum(d.energy_j for r in self.rounds for d in r.devices.values())

    @property
    def uplink_bytes(self) -> int:
        """Payload the clients sent over the job (bytes)."""
        return sum(r.uplink_bytes for r in self.rounds)

    @property
    def downlink_bytes(self) -> int:
        """Payload the clients received over the job (bytes)."""
        return sum(r.downlink_bytes for r in self.rounds)


@dataclass(frozen=True)
class RoundOutcome:
    """What a protocol's round reports to the engine."""

    train_loss: float
    participants: tuple[int, ...]
    dropped: tuple[int, ...] = ()
    extras: dict[str, float] = field(default_factory=dict)

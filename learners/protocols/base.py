"""The protocol hooks every learning protocol implements (in the manner of Flower's strategies)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from torch import nn

from ns6g.core.config import ScenarioConfig
from ns6g.learners.records import RoundOutcome

if TYPE_CHECKING:
    from ns6g.learners.engine import FlJob, FlJobConfig

__all__ = ["Protocol", "RoundOutcome"]


class Protocol:
    """A learning protocol run by :class:`ns6g.learners.engine.FlJob`.

    Hooks: :meth:`setup` (build the global state once), :meth:`run_round` (train one round: real
    PyTorch steps plus the transfers and computations submitted through the job), :meth:`eval_models`
    (the models whose mean test loss and accuracy the round reports), :meth:`evaluate` (how they are
    tested; override for data of the protocol's own).
    """

    #: name in :data:`ns6g.learners.protocols.PROTOCOLS`
    name: ClassVar[str] = ""
    #: True when the model is cut between client and server (``config.cut`` must lie inside the model)
    split: ClassVar[bool] = False
    #: True when each client may have its own cut (:meth:`FlJob.set_client_cuts`)
    per_client_cut: ClassVar[bool] = False
    #: True when every operation a round submits must finish within that round
    settles_rounds: ClassVar[bool] = True
    #: the class of the protocol's own knobs (``FlJobConfig.protocol_options`` is validated against it;
    #: read them with :meth:`settings`); None: the protocol has none
    options: ClassVar[type[ScenarioConfig] | None] = None
    #: True when the protocol aggregates whole-model uploads through an ``aggregate`` hook that takes
    #: ``FlJobConfig.attack`` and ``FlJobConfig.defence`` (ns6g.learners.robust); others refuse them
    robust: ClassVar[bool] = False
    #: True when the protocol runs in profile mode (on 'meta' tensors: shapes only, no values)
    profiles: ClassVar[bool] = True
    #: what its update transfers (``job.send(..., reference=...)``) carry: "model" (the job model's named
    #: state, ``job.state_of``: partial updates choose among it), "adapter" (tensors of its own: low-rank
    #: applies, partial does not) or "none" (it sends no model updates: neither applies)
    updates: ClassVar[str] = "model"
    #: True when its clients train the whole model with ``job.local_train``, where knowledge distillation
    #: from a client's own teacher happens (``compression.distill_student``)
    distills: ClassVar[bool] = False

    def settings(self, config: FlJobConfig) -> Any:
        """The protocol's own knobs: ``config.protocol_options`` validated by :attr:`options` (parsed once
        per config)."""
        if self.options is None:
            raise TypeError(f"protocol {self.name!r} has no options")
        cached = getattr(self, "_settings", None)
        if cached is None or cached[0] is not config:
            cached = self._settings = (config, self.options.from_user(config.protocol_options))
        return cached[1]

    def servers(self, config: FlJobConfig) -> list[str]:
        """The server nodes the protocol uses (checked against the network before the job starts)."""
        return [config.server]

    def setup(self, job: FlJob) -> None:
        raise NotImplementedError

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        raise NotImplementedError

    def eval_models(self, job: FlJob) -> list[nn.Module]:
        raise NotImplementedError

    def evaluate(self, job: FlJob) -> tuple[float, float]:
        """(test loss in nats, test accuracy in [0, 1]) the round reports: by default the means of
        :meth:`FlJob.evaluate` over :meth:`eval_models`; protocols with their own data (text) override it."""
        results = [job.evaluate(m) for m in self.eval_models(job)]
        return float(np.mean([r[0] for r in results])), float(np.mean([r[1] for r in results]))

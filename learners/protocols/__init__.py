"""Learning protocols run by :class:`ns6g.learners.engine.FlJob`, each a small class of hooks
(:class:`~ns6g.learners.protocols.base.Protocol`). :data:`PROTOCOLS` maps names to classes."""

from __future__ import annotations

from ns6g.learners.protocols.aircomp import FedAvgAirComp
from ns6g.learners.protocols.base import Protocol, RoundOutcome
from ns6g.learners.protocols.federated import AsynchronousFL, FedAsync, FedAvg, FedBuff, FedProx
from ns6g.learners.protocols.meta import Reptile, TinyReptile
from ns6g.learners.protocols.multihop import MultihopSL
from ns6g.learners.protocols.peft import CflLora, FlLora, FlPrefix, FlPrompt, HetLora
from ns6g.learners.protocols.split import (
    EPSL,
    HierarchicalFSL,
    ParallelSL,
    SplitFedV1,
    SplitFedV2,
    VanillaSL,
    split_step,
)
from ns6g.learners.protocols.transfer import FederatedTransfer, HierarchicalFTL

__all__ = [
    "EPSL",
    "PROTOCOLS",
    "AsynchronousFL",
    "CflLora",
    "FedAsync",
    "FedAvg",
    "FedAvgAirComp",
    "FedBuff",
    "FedProx",
    "FederatedTransfer",
    "FlLora",
    "FlPrefix",
    "FlPrompt",
    "HetLora",
    "HierarchicalFSL",
    "HierarchicalFTL",
    "MultihopSL",
    "ParallelSL",
    "Protocol",
    "Reptile",
    "RoundOutcome",
    "SplitFedV1",
    "SplitFedV2",
    "TinyReptile",
    "VanillaSL",
    "make_protocol",
    "split_step",
]

PROTOCOLS: dict[str, type[Protocol]] = {
    cls.name: cls
    for cls in (
        FedAvg, FedProx, VanillaSL, ParallelSL, EPSL, SplitFedV1, SplitFedV2, HierarchicalFSL, FedAsync, FedBuff,
        FlLora, FlPrompt, FlPrefix, CflLora, HetLora, FederatedTransfer, HierarchicalFTL, Reptile, TinyReptile,
        MultihopSL,
        FedAvgAirComp,
    )
}


def make_protocol(name: str) -> Protocol:
    """A new instance of protocol ``name``; ValueError listing the valid names if there is none."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]()

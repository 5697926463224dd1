"""The RAN's per-slot MAC scheduler, asked of the compiled C++ model (``ns3_scenarios/ran/model/ran-scheduler.*``).

Policies: ``"rr"`` (round robin), ``"pf"`` (proportional fair), ``"mr"`` (max rate) and ``"external"`` (the
allocation an RL agent sends). An allocation gives each RBG of a slot a UE index, or -1 for unused; the
agent's action encodes it as MultiDiscrete with one entry per RBG in ``0..n_ues`` (``n_ues``: unused).
See docs/ran-scheduler.md.

Refusals by the model (an invalid allocation, an unknown policy) raise
:class:`ns6g.core.bridge.ScenarioError` with the model's message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ns6g.radio._query import query

__all__ = [
    "decode_action",
    "deadline_violation_fraction",
    "encode_action",
    "jain_index",
    "proportional_fair_utility",
    "replay_external",
    "reward",
    "simulate_scheduler",
    "sum_rate",
    "validate_allocation",
]


def simulate_scheduler(
    policy: str,
    mean_bits_per_rbg: Sequence[float] | np.ndarray,
    n_rbgs: int,
    n_slots: int,
    seed: int = 0,
    buffer_bytes: float | Sequence[float] | np.ndarray | None = None,
    arrival_bytes_per_slot: float | Sequence[float] | np.ndarray = 0.0,
    slot_s: float = 1e-3,
    time_constant_s: float = 0.1,
) -> pd.DataFrame:
    """Run scheduler ``policy`` for ``n_slots`` slots of a synthetic fading workload; one row per UE.

    Every slot, the bits one RBG carries for UE u are drawn from an exponential distribution of mean
    ``mean_bits_per_rbg[u]`` (Rayleigh-faded power), independently per UE, RBG and slot, from a
    ``std::mt19937_64`` seeded with ``seed``. The draws do not depend on the policy, so policies run with
    one seed see one channel. Averages for proportional fair are EWMAs with ``time_constant_s``.

    Args:
        policy: ``"rr"``, ``"pf"`` or ``"mr"`` (the model refuses other names, listing the valid ones).
        mean_bits_per_rbg: per UE, mean achievable bits of one RBG in one slot.
        buffer_bytes: per UE (or one for all), bytes in the buffer at the start; ``None`` or ``inf``: a
            full buffer.
        arrival_bytes_per_slot: per UE (or one for all), bytes arriving at the start of every slot.
        slot_s: slot duration in seconds.

    Returns:
        Columns ``ue``, ``rbgs_allocated`` (RBGs over all slots), ``slots_served``, ``bits_delivered``,
        ``mean_throughput_bps`` (bits delivered / (n_slots * slot_s)), ``average_throughput_bps`` (the
        EWMA at the end), ``buffer_bytes`` (left at the end) and ``mean_achievable_bits_per_rbg`` (mean
        of the draws).
    """
    means = np.asarray(mean_bits_per_rbg, dtype=np.float64).reshape(-1)
    n_ues = means.size
    buffers = np.broadcast_to(
        np.inf if buffer_bytes is None else np.asarray(buffer_bytes, dtype=np.float64), (n_ues,)
    )
    arrivals = np.broadcast_to(np.asarray(arrival_bytes_per_slot, dtype=np.float64), (n_ues,))
    _check_count("n_rbgs", n_rbgs, 2**32)
    _check_count("n_slots", n_slots, 2**32)
    if not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed must be in 0..2**64-1, got {seed}")
    reply = query(
        "schedule_case",
        {
            "policy": np.bytes_(_policy_bytes(policy)),
            "case": 0,
            "ue": np.arange(n_ues, dtype=np.uint32),
            "n_rbgs": n_rbgs,
            "n_slots": n_slots,
            "seed": np.uint64(seed),
            "mean_bits_per_rbg": means,
            "buffer_bytes": buffers,
            "arrival_bytes_per_slot": arrivals,
            "slot_s": slot_s,
            "time_constant_s": time_constant_s,
        },
    )
    frame = pd.DataFrame({name: reply[name] for name in reply.dtype.names if name != "case"})
    frame["ue"] = frame["ue"].astype(np.int64)
    return frame


def validate_allocation(
    allocation: Sequence[int] | Sequence[Sequence[int]] | np.ndarray, n_ues: int, n_rbgs: int | None = None
) -> np.ndarray:
    """Check an allocation with the model; return it as one UE index (or -1) per RBG.

    ``allocation`` is either one entry per RBG (a UE index, or -1 for unused) or an ``(k, 2)`` array of
    ``(rbg, ue)`` entries, where every RBG in ``0..n_rbgs-1`` must appear exactly once. ``n_rbgs``
    defaults to the number of entries.

    Raises:
        ns6g.core.bridge.ScenarioError: the model refused it; the message names the RBG and the UE (an RBG
            named twice, a UE that does not exist, a missing RBG, a wrong length).
    """
    rbgs, ues = _entries(allocation)
    n_rbgs = rbgs.size if n_rbgs is None else n_rbgs
    _check_count("n_ues", n_ues, 2**31)
    _check_count("n_rbgs", n_rbgs, 2**32)
    if rbgs.size == 0:
        if n_rbgs:
            raise ValueError(f"allocation is empty but the slot has {n_rbgs} RBGs")
        return np.zeros(0, dtype=np.int32)
    reply = query("allocation_check", {"rbg": rbgs, "ue": ues, "n_ues": n_ues, "n_rbgs": n_rbgs})
    return reply["ue"].astype(np.int32)


def encode_action(allocation: Sequence[int] | np.ndarray, n_ues: int) -> np.ndarray:
    """The agent's MultiDiscrete action for a per-RBG allocation (-1 becomes ``n_ues``), validated by the model."""
    rbgs, ues = _entries(allocation)
    if rbgs.size == 0:
        return np.zeros(0, dtype=np.int64)
    reply = query("allocation_check", {"rbg": rbgs, "ue": ues, "n_ues": n_ues, "n_rbgs": rbgs.size})
    return reply["action"].astype(np.int64)


def decode_action(action: Sequence[int] | np.ndarray, n_ues: int) -> np.ndarray:
    """The allocation (UE index or -1 per RBG) an agent's MultiDiscrete action encodes, decoded by the model."""
    values = np.asarray(action, dtype=np.int64).reshape(-1)
    if values.size == 0:
        return np.zeros(0, dtype=np.int32)
    reply = query("action_entry", {"action": values, "n_ues": n_ues, "n_rbgs": values.size})
    return reply["ue"].astype(np.int32)


def replay_external(
    actions: Mapping[int, Sequence[int] | np.ndarray],
    n_ues: int,
    n_rbgs: int,
    n_slots: int,
    every_n_slots: int = 1,
) -> np.ndarray:
    """Replay an agent's allocations through the model's ``external`` scheduler.

    ``actions`` maps a slot to the allocation (UE index or -1 per RBG) the agent sends before it; the
    agent decides every ``every_n_slots`` slots, so each key must be a multiple of it. Returns the
    allocation applied in every slot, shape ``(n_slots, n_rbgs)``: an allocation is reapplied until
    replaced, and every RBG is unused (-1) before the first.
    """
    slots, rbgs, ues = [], [], []
    for slot, allocation in actions.items():
        per_rbg = np.asarray(allocation, dtype=np.int64).reshape(-1)
        slots.append(np.full(per_rbg.size, int(slot), dtype=np.int64))
        rbgs.append(np.arange(per_rbg.size, dtype=np.int64))
        ues.append(per_rbg)
    _check_count("n_slots", n_slots, 2**32)
    _check_count("n_rbgs", n_rbgs, 2**32)
    if not slots:
        return np.full((n_slots, n_rbgs), -1, dtype=np.int32)
    slot_col = np.concatenate(slots)
    if slot_col.min() < 0:
        raise ValueError(f"slots must be >= 0, got {int(slot_col.min())}")
    ue_col = np.concatenate(ues)
    if ue_col.min() < -(2**31) or ue_col.max() >= 2**31:
        raise ValueError("UE indices must fit in int32")
    reply = query(
        "external_action",
        {
            "slot": slot_col,
            "rbg": np.concatenate(rbgs),
            "ue": ue_col.astype(np.int32),
            "n_ues": n_ues,
            "n_rbgs": n_rbgs,
            "n_slots": n_slots,
            "every_n_slots": every_n_slots,
        },
    )
    return reply["ue"].astype(np.int32).reshape(n_slots, n_rbgs)


def reward(name: str, values: Sequence[float] | np.ndarray, deadline_s: float = 0.0) -> float:
    """The reward ``name`` an environment may select, computed by the model (``ComputeReward``).

    ``"sum_rate"`` (bit/s), ``"pf_utility"`` and ``"jain"`` read ``values`` as per-UE throughputs in
    bit/s; ``"deadline_violations"`` reads
    them as the latencies in seconds of the packets due in the interval (those whose deadline passed in
    it), ``inf`` or NaN for one not delivered by then (still queued or dropped), and returns minus the
    fraction above ``deadline_s``, so that higher is better for every reward. SpectrumAllocation passes
    exactly these (``DeadlineLedger``): list every packet due, not only the delivered ones, or starving
    UEs scores well. The model refuses other names, listing the valid ones.
    """
    return _metric(name, values, deadline_s)[1]


def jain_index(values: Sequence[float] | np.ndarray) -> float:
    """Jain's fairness index (sum x)^2 / (n sum x^2) of values >= 0: 1 for equal non-zero values, 1/n for one
    non-zero, 0 when all are 0 (an idle cell is not fair)."""
    return _metric("jain", values)[0]


def sum_rate(throughputs_bps: Sequence[float] | np.ndarray) -> float:
    """Sum of per-UE throughputs, bit/s."""
    return _metric("sum_rate", throughputs_bps)[0]


def proportional_fair_utility(throughputs_bps: Sequence[float] | np.ndarray) -> float:
    """sum ln(throughput + 1 bit/s) over UEs: the epsilon keeps a starved UE's term finite (0)."""
    return _metric("pf_utility", throughputs_bps)[0]


def deadline_violation_fraction(latencies_s: Sequence[float] | np.ndarray, deadline_s: float) -> float:
    """Fraction of latencies (s) above ``deadline_s`` (s); NaN or infinite latencies (not delivered) count as late."""
    return _metric("deadline_violations", latencies_s, deadline_s)[0]


def _metric(name: str, values, deadline_s: float = 0.0) -> tuple[float, float]:
    """(metric, reward) of one set of values, from the model."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    raw = str(name).encode()
    if len(raw) > 24:
        raise ValueError(f"reward name {name!r} is longer than 24 bytes")
    if v.size == 0:
        if name != "deadline_violations":
            raise ValueError("no values")
        return 0.0, -0.0
    reply = query("metric_sample", {"reward": np.bytes_(raw), "group": 0, "value": v, "deadline_s": deadline_s})
    (row,) = reply
    return float(row["metric"]), float(row["reward"])


def _policy_bytes(policy: str) -> bytes:
    raw = str(policy).encode()
    if len(raw) > 16:
        raise ValueError(f"policy name {policy!r} is longer than 16 bytes")
    return raw


def _check_count(name: str, value: int, limit: int) -> None:
    if int(value) != value or not 0 <= int(value) < limit:
        raise ValueError(f"{name} must be an integer in 0..{limit - 1}, got {value!r}")


def _entries(allocation) -> tuple[np.ndarray, np.ndarray]:
    """(rbg, ue) columns of a per-RBG allocation or of an (k, 2) array of entries."""
    a = np.asarray(allocation)
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"allocation entries must be integers, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if a.ndim == 2 and a.shape[1] == 2:
        rbgs, ues = a[:, 0], a[:, 1]
    elif a.ndim <= 1:
        ues = a.reshape(-1)
        rbgs = np.arange(ues.size, dtype=np.int64)
    else:
        raise ValueError(f"allocation must be one UE per RBG or (rbg, ue) pairs, got shape {a.shape}")
    if rbgs.size and (rbgs.min() < 0 or rbgs.max() >= 2**32):
        raise ValueError(f"RBG indices must be in 0..2**32-1, got {int(rbgs.min())}..{int(rbgs.max())}")
    if ues.size and (ues.min() < -(2**31) or ues.max() >= 2**31):
        raise ValueError("UE indices must fit in int32")
    return rbgs, ues.astype(np.int32)

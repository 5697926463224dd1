"""Decentralised horizontal collaborative inference (paper 003 Section IV): a requester device splits an
inference task (a batch of frames for a DNN from the shipped layer profiles) into subtasks for its D2D
neighbours, which hold the full model; each neighbour receives its frames' input over the sidelink, runs
the model on them and sends the results back; the requester merges the results (the task is complete when
the last result is back). Neighbours leave and join (churn); a subtask whose neighbour leaves before its
result is back is lost and reassigned. See docs/horizontal-inference.md.

Every transfer is a real ns-3 flow of its true size over the D2D sidelink (``fl-network`` with
``sidelink=True``: ``RanSidelink``, TR 37.885 loss, mode 1 or 2) and every computation runs on the node's
ns-3 ``Processor`` at its catalogue FLOP/s (:class:`~ns6g.learners.cosim.CoSimNetwork`).

    from ns6g.learners.horizontal import HorizontalConfig, run_horizontal
    run = run_horizontal(HorizontalConfig(neighbours=4, partitioner="proportional"), seed=1)
    print(run.table())          # one row per task: latency, bytes, energy, reassignments
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from ns6g.compute.devices import check_device, check_has_radio, check_split, device
from ns6g.compute.split import available_models, load_profile, profile_path
from ns6g.core.config import ScenarioConfig
from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
from ns6g.learners.network import CLOUD, Completed, Compute, Transfer, client
from ns6g.radio.sidelink import SidelinkFields

#: exponential churn is drawn up to the last arrival plus this (s); later, neighbours keep their last state
CHURN_MARGIN_S = 60.0
REQUESTER = 0  #: the requester is client 0; neighbour i (1..K) is client i

#: bytes one task-transfer datagram adds on the sidelink to its payload: the 24-byte task header, UDP (8)
#: and IPv4 (20); a datagram carries at most 60 000 - 24 payload bytes (ns3_scenarios/mec/model/task-transfer.h)
DATAGRAM_OVERHEAD_BYTES = 24 + 8 + 20
DATAGRAM_PAYLOAD_BYTES = 60_000 - 24


def sidelink_packet_bytes(payload_bytes: int) -> int:
    """Packet bytes a transfer of ``payload_bytes`` puts on the sidelink (its datagrams with their headers)."""
    datagrams = max(1, math.ceil(payload_bytes / DATAGRAM_PAYLOAD_BYTES))
    return payload_bytes + datagrams * DATAGRAM_OVERHEAD_BYTES


class HorizontalConfig(SidelinkFields, ScenarioConfig):
    """One requester, ``neighbours`` D2D neighbours, ``tasks`` inference tasks of ``frames`` frames each."""

    model: str = Field("resnet18_style", description="DNN of the shipped layer profiles "
                                                     "(ns6g.compute.split.available_models); every node holds it whole")
    dtype: Literal["fp32", "int8"] = Field("fp32", description="profile precision")
    requester_device: str = Field("raspberry-pi-4", description="catalogue name of the requester (must have a radio)")
    neighbours: int = Field(4, ge=0, le=64, description="D2D neighbours holding the full model (clients 1..K)")
    neighbour_devices: tuple[str, ...] = Field(("smartphone", "jetson-nano"), min_length=1, max_length=64,
                                               description="catalogue names; neighbour i (1..K) is [(i - 1) mod len]")
    frames: int = Field(32, ge=1, le=100_000, description="frames (model inputs) per task")
    tasks: int = Field(3, ge=1, le=10_000, description="tasks, arriving every task_period_s from t = 0")
    task_period_s: float = Field(0.5, ge=1e-3, le=1e6,
                                 description="time between task arrivals (s); a task starts when it has arrived "
                                             "and the previous one is merged")
    deadline_s: float = Field(0.5, ge=1e-4, le=1e6,
                              description="a task whose latency (arrival to last result merged) exceeds this "
                                          "misses its deadline (s)")
    partitioner: Literal["local", "equal", "proportional"] = Field(
        "proportional", description="local: the requester runs every frame (reference); equal: the same "
                                    "number of frames per participant; proportional: frames in proportion to "
                                    "each participant's frame rate from its FLOP/s and sidelink rate estimates")
    requester_computes: bool = Field(True, description="the requester keeps a share of the frames (a participant "
                                                       "of the equal and proportional partitioners)")
    radius_m: float = Field(50.0, ge=10, le=5_000,
                            description="requester and neighbours lie uniformly in a disk of this radius (m)")
    churn: Literal["none", "exponential", "scripted"] = Field(
        "none", description="none: neighbours stay; exponential: each neighbour alternates present / absent "
                            "periods of exponential length (mean_on_s, mean_off_s), present at t = 0; "
                            "scripted: the leave and join events of `script`")
    mean_on_s: float = Field(5.0, ge=1e-3, le=1e9, description="exponential churn: mean present time (s)")
    mean_off_s: float = Field(2.0, ge=1e-3, le=1e9, description="exponential churn: mean absent time (s)")
    script: tuple[tuple[int, float, Literal["leave", "join"]], ...] = Field(
        (), description="scripted churn: (neighbour 1..K, time s, 'leave' or 'join'); every neighbour is present "
                        "at t = 0")
    run_limit_s: float = Field(1e4, ge=1, le=1e9, description="simulated-time limit of the whole run (s)")

    @field_validator("requester_device")
    @classmethod
    def _requester_radio(cls, name: str) -> str:
        return check_has_radio("requester_device", check_device("requester_device", name))

    @field_validator("neighbour_devices", mode="before")
    @classmethod
    def _as_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("script", mode="before")
    @classmethod
    def _script_as_tuples(cls, value: Any) -> Any:
        return tuple(tuple(e) if isinstance(e, list) else e for e in value) if isinstance(value, list) else value

    @field_validator("neighbour_devices")
    @classmethod
    def _neighbours_radio(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for i, name in enumerate(names):
            check_has_radio(f"neighbour_devices[{i}]", check_device(f"neighbour_devices[{i}]", name))
        return names

    @field_validator("model")
    @classmethod
    def _known_model(cls, name: str) -> str:
        if name not in available_models():
            raise ValueError(f"unknown model {name!r}; models with shipped profiles are {', '.join(available_models())}")
        return name

    @model_validator(mode="after")
    def _fits_and_script(self) -> HorizontalConfig:
        profile_path(self.model, self.dtype)
        need = float(load_profile(self.model, self.dtype)["device_memory_bytes"].iloc[-1])
        for name in {self.requester_device, *self.neighbour_devices[:max(self.neighbours, 1)]}:
            try:
                check_split(name, need)
            except ValueError as e:
                raise ValueError(f"model: {self.model} does not fit {name}: {e}") from None
        for k, (who, at_s, _) in enumerate(self.script):
            if not 1 <= who <= self.neighbours:
                raise ValueError(f"script[{k}]: neighbour {who} is not one of 1..{self.neighbours}")
            if not (math.isfinite(at_s) and at_s >= 0):
                raise ValueError(f"script[{k}]: time must be finite and >= 0, got {at_s}")
        times = [(who, at_s) for who, at_s, _ in self.script]
        if len(set(times)) != len(times):
            raise ValueError("script: a neighbour has two events at the same time")
        if self.script and self.churn != "scripted":
            raise ValueError(f"script: given, but churn is {self.churn!r} (set churn='scripted')")
        return self

    def neighbour_device(self, i: int) -> str:
        """Catalogue name of neighbour i (1..K)."""
        return self.neighbour_devices[(i - 1) % len(self.neighbour_devices)]

    def network(self) -> FlNetworkConfig:
        """The fl-network the run uses: client 0 the requester, clients 1..K the neighbours, with a sidelink."""
        sidelink = {name: getattr(self, name) for name in SidelinkFields.model_fields}
        return FlNetworkConfig(
            clients=self.neighbours + 1, cell_radius_m=self.radius_m, fast_fading=False, sidelink=True,
            client_devices=(self.requester_device, *(self.neighbour_device(i) for i in range(1, self.neighbours + 1))),
            run_limit_s=self.run_limit_s, **sidelink)


@dataclass(frozen=True)
class Reassignment:
    """A subtask lost when its neighbour left, and where its frames went."""

    task: int
    frames: int
    lost_from: int      #: the neighbour that left (client index)
    to: int             #: the new participant (client index; 0: the requester)
    at_s: float         #: when the requester learned of the leave (the leave notice) and reassigned
    stage: str          #: what was under way: "input", "compute" or "result"


@dataclass
class TaskResult:
    """One task: times (simulated s), frames per participant, bytes per link, energy per node."""

    task: int
    arrival_s: float
    start_s: float
    done_s: float
    frames: int
    merged_frames: int
    assignment: dict[int, int]                          #: client -> frames first given to it
    payload_bytes: dict[tuple[int, int], int]           #: (src, dst) -> payload bytes of transfers that completed
    lost_bytes: dict[tuple[int, int], int]              #: (src, dst) -> payload bytes of transfers cut by a leave
    sidelink_bytes: dict[tuple[int, int], int]          #: (src, dst) -> packet bytes ns-3 decoded on the link
    compute_energy_j: dict[int, float]                  #: client -> J of its computations (FLOPs x J/FLOP)
    radio_energy_j: dict[int, float]                    #: client -> J: its sidelink transmissions (ns-3's count
    #: over the task, first and HARQ, one slot each) x slot x sidelink tx power
    reassignments: list[Reassignment] = field(default_factory=list)

    @property
    def latency_s(self) -> float:
        return self.done_s - self.arrival_s

    @property
    def energy_j(self) -> dict[int, float]:
        nodes = set(self.compute_energy_j) | set(self.radio_energy_j)
        return {n: self.compute_energy_j.get(n, 0.0) + self.radio_energy_j.get(n, 0.0) for n in sorted(nodes)}


@dataclass
class HorizontalRun:
    """What :func:`run_horizontal` returns."""

    config: HorizontalConfig
    seed: int
    tasks: list[TaskResult]
    presence: dict[int, list[tuple[float, str]]]        #: neighbour -> its leave / join events (s, kind)
    rates_bps: dict[tuple[int, int], float]             #: (tx, rx) -> sidelink rate estimate at t = 0

    def table(self) -> pd.DataFrame:
        """One row per task: latency_s, missed (deadline), reassigned (subtasks), participants, frames merged,
        sidelink bytes up / down (payload), energy of the requester and of all neighbours (J)."""
        rows = []
        for t in self.tasks:
            energy = t.energy_j
            rows.append({
                "task": t.task, "arrival_s": t.arrival_s, "start_s": t.start_s, "done_s": t.done_s,
                "latency_s": t.latency_s, "missed": t.latency_s > self.config.deadline_s,
                "reassigned": len(t.reassignments), "participants": sum(1 for n in t.assignment.values() if n),
                "merged_frames": t.merged_frames,
                "up_bytes": sum(b for (s, _), b in t.payload_bytes.items() if s == REQUESTER),
                "down_bytes": sum(b for (_, d), b in t.payload_bytes.items() if d == REQUESTER),
                "requester_energy_j": energy.get(REQUESTER, 0.0),
                "neighbour_energy_j": sum(e for n, e in energy.items() if n != REQUESTER)})
        return pd.DataFrame(rows)


@dataclass
class _Subtask:
    task: int
    node: int
    frames: int
    ops: dict[int, str]          # op id -> stage ("input", "compute", "result")
    final: int                   # the op whose completion delivers the results


class _Churn:
    """When each neighbour is present: alternating leave / join events from t = 0 (all present then)."""

    def __init__(self, cfg: HorizontalConfig, seed: int, horizon_s: float) -> None:
        self.events: dict[int, list[tuple[float, str]]] = {i: [] for i in range(1, cfg.neighbours + 1)}
        if cfg.churn == "exponential":
            rng = np.random.default_rng([seed, 0x48])
            for i in self.events:
                t, present = 0.0, True
                while True:
                    t += float(rng.exponential(cfg.mean_on_s if present else cfg.mean_off_s))
                    if t > horizon_s:
                        break
                    present = not present
                    self.events[i].append((t, "join" if present else "leave"))
        elif cfg.churn == "scripted":
            for who, at_s, kind in sorted(cfg.script, key=lambda e: e[1]):
                self.events[who].append((float(at_s), kind))

    def present(self, i: int, t: float) -> bool:
        state = True
        for at_s, kind in self.events[i]:
            if at_s > t:
                break
            state = kind == "join"
        return state


def _largest_remainder(frames: int, weights: dict[int, float]) -> dict[int, int]:
    total = sum(weights.values())
    exact = {n: frames * w / total for n, w in weights.items()}
    out = {n: int(math.floor(x)) for n, x in exact.items()}
    for n in sorted(exact, key=lambda n: (-(exact[n] - out[n]), n))[:frames - sum(out.values())]:
        out[n] += 1
    return out


class _Requester:
    """Runs the tasks of one configuration on one CoSimNetwork."""

    def __init__(self, cfg: HorizontalConfig, net: CoSimNetwork, churn: _Churn) -> None:
        self.cfg, self.net, self.churn = cfg, net, churn
        profile = load_profile(cfg.model, cfg.dtype)
        self.in_bytes = int(profile["transfer_bytes"].iloc[0])       # one frame's input
        self.out_bytes = int(profile["transfer_bytes"].iloc[-1])     # one frame's result
        self.flops = float(profile["device_flops"].iloc[-1])         # the whole model on one frame
        k = cfg.neighbours
        self.speed = {0: float(device(cfg.requester_device)["flops"])}
        self.speed.update({i: float(device(cfg.neighbour_device(i))["flops"]) for i in range(1, k + 1)})
        links = [(0, i) for i in range(1, k + 1)] + [(i, 0) for i in range(1, k + 1)]
        rates = net.sidelink_state(links)["rate_bps"] if links else []
        self.rates = {link: float(r) for link, r in zip(links, rates, strict=True)}
        self.tx_power_w = 10.0 ** ((cfg.sidelink_tx_power_dbm - 30.0) / 10.0)
        self.slot_s = 1e-3 / 2 ** cfg.sidelink_numerology

    def frame_cost_s(self, node: int) -> float:
        """Estimated time per frame at a participant alone: its compute, plus for a neighbour the input and
        result at the noise-limited sidelink rate estimates (the proportional partitioner's weights)."""
        cost = self.flops / self.speed[node]
        if node != REQUESTER:
            cost += 8 * self.in_bytes / max(self.rates[(0, node)], 1e3) + 8 * self.out_bytes / max(self.rates[(node, 0)], 1e3)
        return cost

    def partition(self, present: list[int]) -> dict[int, int]:
        cfg = self.cfg
        if cfg.partitioner == "local" or not present:
            return {REQUESTER: cfg.frames}
        members = ([REQUESTER] if cfg.requester_computes else []) + present
        if cfg.partitioner == "equal":
            weights = {n: 1.0 for n in members}
        else:
            weights = {n: 1.0 / self.frame_cost_s(n) for n in members}
        return _largest_remainder(cfg.frames, weights)

    def submit(self, task: int, node: int, frames: int) -> _Subtask:
        if node == REQUESTER:
            (op,) = self.net.submit([Compute(client(0), frames * self.flops, f"task{task}/local")])
            return _Subtask(task, node, frames, {op: "compute"}, op)
        first = self.net.next_id
        ops = [Transfer(client(0), client(node), frames * self.in_bytes, f"task{task}/input"),
               Compute(client(node), frames * self.flops, f"task{task}/compute", after=(first,)),
               Transfer(client(node), client(0), frames * self.out_bytes, f"task{task}/result", after=(first + 1,))]
        ids = self.net.submit(ops)
        return _Subtask(task, node, frames, dict(zip(ids, ("input", "compute", "result"), strict=True)), ids[2])

    def reassign_target(self, backlog: dict[int, int], now: float, gone: int) -> int:
        """The present participant (or the requester) that would finish the frames soonest: its outstanding
        frames plus these, at its per-frame cost estimate."""
        candidates = [REQUESTER] + [i for i in range(1, self.cfg.neighbours + 1)
                                    if i != gone and self.churn.present(i, now)]
        return min(candidates, key=lambda n: ((backlog.get(n, 0) + 1) * self.frame_cost_s(n), n))

    def run_task(self, task: int, arrival_s: float) -> TaskResult:
        net, cfg = self.net, self.cfg
        start = net.now_s()
        links = [(0, i) for i in range(1, cfg.neighbours + 1)] + [(i, 0) for i in range(1, cfg.neighbours + 1)]
        before = net.sidelink_state(links) if links else None
        present = [i for i in range(1, cfg.neighbours + 1) if self.churn.present(i, start)]
        assignment = {n: f for n, f in self.partition(present).items() if f > 0}
        subtasks = {}
        for node, frames in assignment.items():
            sub = self.submit(task, node, frames)
            subtasks[sub.final] = sub
        by_op = {op: sub for sub in subtasks.values() for op in sub.ops}
        result = TaskResult(task, arrival_s, start, math.nan, cfg.frames, 0, assignment, defaultdict(int),
                            defaultdict(int), {}, defaultdict(float), defaultdict(float))
        while subtasks:
            done = net.run([sub.final for sub in subtasks.values()], any_of=True)
            for c in done:
                sub = by_op.pop(c.op_id, None)
                if sub is None:
                    continue
                self._account(result, sub, c)
                if c.op_id == sub.final and c.ok:
                    result.merged_frames += sub.frames
                    del subtasks[sub.final]
                elif not c.ok and sub.final in subtasks:
                    del subtasks[sub.final]
                    for op in sub.ops:
                        by_op.pop(op, None)
                    backlog: dict[int, int] = defaultdict(int)
                    for other in subtasks.values():
                        backlog[other.node] += other.frames
                    to = self.reassign_target(backlog, c.end_s, sub.node)
                    result.reassignments.append(Reassignment(task, sub.frames, sub.node, to, c.end_s, sub.ops[c.op_id]))
                    new = self.submit(task, to, sub.frames)
                    subtasks[new.final] = new
                    by_op.update({op: new for op in new.ops})
        result.done_s = net.now_s()
        if links:
            after = net.sidelink_state(links)
            delivered = after["delivered_bytes"] - before["delivered_bytes"]
            slots = after["transmissions"] - before["transmissions"]
            result.sidelink_bytes = {link: int(b) for link, b in zip(links, delivered, strict=True) if b}
            # a UE sends at most one transmission per slot, at its full sidelink power
            for (tx, _), n in zip(links, slots, strict=True):
                if n:
                    result.radio_energy_j[tx] += int(n) * self.slot_s * self.tx_power_w
        result.payload_bytes = dict(result.payload_bytes)
        result.lost_bytes = dict(result.lost_bytes)
        result.compute_energy_j = dict(result.compute_energy_j)
        result.radio_energy_j = dict(result.radio_energy_j)
        return result

    def _account(self, result: TaskResult, sub: _Subtask, c: Completed) -> None:
        stage = sub.ops[c.op_id]
        if stage == "compute":
            result.compute_energy_j[sub.node] += c.energy_j  # FLOPs x J/FLOP (0 if it never ran)
            return
        link = (REQUESTER, sub.node) if stage == "input" else (sub.node, REQUESTER)
        nbytes = sub.frames * (self.in_bytes if stage == "input" else self.out_bytes)
        if c.ok:
            result.payload_bytes[link] += nbytes
        elif c.failure != "dependency failed":
            result.lost_bytes[link] += nbytes


def _wait_until(net: CoSimNetwork, t: float) -> None:
    """Advance the co-simulation clock to ``t``: a computation of exactly that duration on the idle cloud node
    (the clock moves only with operations; the cloud takes no other part here)."""
    dt = t - net.now_s()
    if dt > 1e-9:
        flops = dt * float(device(net.config.cloud_device)["flops"])
        (op,) = net.submit([Compute(CLOUD, flops, "wait")])
        net.run([op])


def _schedule_churn(net: CoSimNetwork, churn: _Churn) -> None:
    """Every leave (a disconnect) and join (a reconnect) to the scenario at once, one request per kind."""
    for kind, record in (("leave", "disconnect"), ("join", "reconnect")):
        rows = [(i, at_s) for i, events in churn.events.items() for at_s, k in events if k == kind]
        if rows:
            records = np.zeros(len(rows), dtype=net.bridge.record_dtypes[record])
            records["client"], records["at_s"] = zip(*rows, strict=True)
            net.bridge.request(record, records)


def run_horizontal(config: HorizontalConfig | dict[str, Any] | None = None, *, seed: int = 1,
                   net: CoSimNetwork | None = None) -> HorizontalRun:
    """Run ``config.tasks`` tasks with seed ``seed`` (ns-3 ``RngRun``: placement, shadowing, LOS draws; and
    the churn draws): the same seed gives the same results. ``net``: a CoSimNetwork built from
    ``config.network()`` to reuse (it is reset with ``seed``), else one is started and closed here."""
    cfg = HorizontalConfig.from_user(config)
    churn = _Churn(cfg, seed, cfg.tasks * cfg.task_period_s + CHURN_MARGIN_S)
    own = net is None
    if net is None:
        net = CoSimNetwork(cfg.network(), seed=seed)
    else:
        if net.config != cfg.network():
            raise ValueError("run_horizontal: net was not built from config.network()")
        net.reset(seed)
    try:
        _schedule_churn(net, churn)
        requester = _Requester(cfg, net, churn)
        results = []
        for task in range(cfg.tasks):
            arrival = task * cfg.task_period_s
            _wait_until(net, arrival)
            results.append(requester.run_task(task, arrival))
        return HorizontalRun(cfg, seed, results, churn.events, requester.rates)
    finally:
        if own:
            net.close()

"""The co-simulation clock of learner jobs: :class:`CoSimNetwork` runs their operations in ns-3.

A learner job (FedAvg, split learning, ...) trains for real in PyTorch and submits every communication
and computation it performs as an operation (:mod:`ns6g.learners.network`) with its true size. This module
sends them over one bridge to the ``fl-network`` scenario (``ns3_scenarios/fl-network.cc``), which owns
the clock: transfers are real UDP flows of their byte size across the 6G RAN, backhaul, edge links and
WAN; computations occupy the node's catalogue processor for FLOPs / (FLOP/s). See docs/cosim.md.

Example::

    from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
    from ns6g.learners.network import CLOUD, Compute, Transfer, client, edge

    with CoSimNetwork(FlNetworkConfig(clients=4), seed=1) as net:
        down = net.submit([Transfer(edge(0), client(i), 400_000, "model_down") for i in range(4)])
        train = net.submit([Compute(client(i), 2e9, "train", after=(down[i],)) for i in range(4)])
        up = net.submit([Transfer(client(i), edge(0), 400_000, "model_up", after=(train[i],)) for i in range(4)])
        done = net.run()   # list of Completed, in completion order; net.now_s() is the round's end
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ns6g.core.bridge import Bridge, ScenarioCrashed, ScenarioNotResponding
from ns6g.core.build import scenario_binary
from ns6g.core.config import BandwidthHz, FastFading, FrequencyHz, GnbTxPowerDbm, Numerology, RadioScenario, ScenarioConfig
from ns6g.compute.devices import catalogue_path, check_device, check_has_radio
from ns6g.learners.network import CLOUD, REGIONAL, Completed, Compute, DeviceTimeline, Op, Transfer, timelines
from ns6g.radio.phy import check_carrier
from ns6g.radio.sidelink import SidelinkFields
from ns6g.core.runs import RunWriter

SCENARIO = "fl-network"
TRANSFER, COMPUTE = 0, 1  # OpRecord.kind
MAX_TRANSFER_BYTES = 2**50


#: CompletionRecord's ``cause`` code -> Completed.failure (fl-network.cc's FailureCause).
FAILURE_CAUSES = ("", "disconnected", "radio link failure", "dependency failed")


class FlNetworkConfig(ScenarioConfig, SidelinkFields):
    """The network a learner job runs on. Defaults follow paper 003's setup (one cell of radius 100 m,
    20 MHz, clients at 23 dBm); what it leaves open is chosen in docs/cosim.md."""

    scenario_name = "fl-network"
    not_options = frozenset({"step_timeout_s"})

    clients: int = Field(10, ge=1, le=100_000, description="number of client devices (UEs), client/0 .. client/<n-1>")
    cells: Literal[1, 3, 7] = Field(1, description="hexagonal RAN sites (1, 3 or 7); clients spread uniformly over them")
    edges: int = Field(1, ge=1, le=1024, description="edge servers edge/0 .. edge/<n-1> behind the core router")
    cell_radius_m: float = Field(100.0, ge=10, le=50_000,
                                 description="clients lie uniformly in a disk of this radius around their gNB (m), at "
                                             "least 10 m; "
                                             "inter-site distance sqrt(3) x radius")
    scenario: RadioScenario = "UMi-StreetCanyon"
    frequency_hz: FrequencyHz = 3.5e9
    bandwidth_hz: BandwidthHz = 20e6
    numerology: Numerology = 1
    ue_tx_power_dbm: float = Field(23.0, ge=-40, le=40,
                                   description="client maximum transmit power P_max (dBm)")
    ul_power_control: bool = Field(True, description="TS 38.213 open-loop uplink power control: a client sends "
                                                     "min(P_max, P0 + 10 log10(2^mu M_RB) + alpha PL) and gets at "
                                                     "most the RBGs its power supports (off: always P_max)")
    ul_p0_dbm: float = Field(-80.0, ge=-202, le=24,
                             description="uplink power control P0: target received power per RB at 15 kHz (dBm)")
    ul_alpha: float = Field(1.0, ge=0, le=1, description="uplink power control path loss compensation factor")
    scatterer_speed_mps: float = Field(3 / 3.6, ge=0, le=100,
                                       description="speed of moving scatterers around the static clients (m/s; "
                                                   "default 3 km/h, 3GPP's pedestrian speed): their fast fading "
                                                   "varies on the coherence time this Doppler implies (0: each "
                                                   "fading draw holds for a realisation, 1 s)")
    radio_link_failure_s: float = Field(2.0, ge=0, le=1e6,
                                        description="a client none of whose transport blocks decodes for this "
                                                    "long suffers a radio link failure and is disconnected (s; "
                                                    "0: never)")
    gnb_tx_power_dbm: GnbTxPowerDbm = 41.0
    fast_fading: FastFading = Field(True, description="3GPP fast fading on serving links (off: much faster for 1000 clients)")
    client_devices: tuple[str, ...] = Field(("smartphone",), min_length=1, max_length=1000,
                                            description="catalogue names; client i computes on [i mod len]")
    edge_device: str = Field("edge-gpu-server", description="catalogue name of the edge servers")
    cloud_device: str = Field("cloud-gpu", description="catalogue name of the cloud")
    regional_device: str = Field("edge-gpu-server",
                                 description="catalogue name of the regional data centre (node 'regional', the tier "
                                             "between edge and cloud)")
    backhaul_rate_mbps: float = Field(10_000.0, ge=1e-3, le=1e7, description="gNB <-> core router link rate (Mbit/s)")
    backhaul_delay_ms: float = Field(1.0, ge=0, le=10_000, description="gNB <-> core router one-way delay (ms)")
    edge_link_rate_mbps: float = Field(10_000.0, ge=1e-3, le=1e7,
                                       description="core router <-> edge server link rate (Mbit/s)")
    edge_link_delay_ms: float = Field(0.1, ge=0, le=10_000, description="core router <-> edge server one-way delay (ms)")
    wan_rate_mbps: float = Field(1_000.0, ge=1e-3, le=1e7, description="core router <-> cloud link rate (Mbit/s)")
    wan_delay_ms: float = Field(20.0, ge=0, le=10_000, description="core router <-> cloud one-way delay (ms)")
    regional_link_rate_mbps: float = Field(2_000.0, ge=1e-3, le=1e7,
                                           description="core router <-> regional data centre link rate (Mbit/s)")
    regional_link_delay_ms: float = Field(5.0, ge=0, le=10_000,
                                          description="core router <-> regional data centre one-way delay (ms)")
    sidelink: bool = Field(False, description="D2D sidelink between the clients (the sidelink_* fields): a client -> "
                                              "client transfer goes over it instead of up to the gNB and down")
    run_limit_s: float = Field(1e6, ge=1e-3, le=1e9,
                               description="a run() whose operations have not completed after this much "
                                           "simulated time fails (s); so does a run waiting on a client out of "
                                           "radio range, which never completes a transfer")
    step_timeout_s: float = Field(3600.0, ge=1, le=86_400,
                                  description="wall-clock limit of one bridge exchange, e.g. one run() (s)")

    @field_validator("client_devices")
    @classmethod
    def _known_clients(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for i, name in enumerate(names):
            check_device(f"client_devices[{i}]", name)
            check_has_radio(f"client_devices[{i}]", name)
        return names

    @field_validator("edge_device", "cloud_device", "regional_device")
    @classmethod
    def _known_servers(cls, name: str, info: Any) -> str:
        return check_device(info.field_name, name)

    @model_validator(mode="after")
    def _carrier(self) -> FlNetworkConfig:
        check_carrier(self.bandwidth_hz, self.numerology, self.frequency_hz)
        return self

    def to_args(self) -> list[str]:
        """The scenario's options and the device catalogue it reads."""
        return [*super().to_args(), f"--catalogue={catalogue_path()}"]


class CoSimNetwork:
    """:class:`ns6g.learners.network.Network` over one ``fl-network`` scenario process.

    Args:
        config: the network (a :class:`FlNetworkConfig` or a mapping of its fields).
        seed: ns-3 ``RngRun`` (placement, shadowing, fading): the same seed gives the same times.
        writer: if given, every transfer becomes a row of its ``flows`` table when it completes or fails
            (``flow_id`` = op id, ``kind`` = tag, ``src``/``dst`` = node index (:meth:`node_index`),
            ``size_bytes``, ``start_s``, ``end_s`` (NaN if it failed), ``energy_j``).
        binary: the scenario executable (default: built from ``ns3_scenarios/`` on first use).
        start: start the scenario now, in the background (the first call that needs the network waits
            for it; a failed start raises there), else on :meth:`start` or the first call that needs it.

    Beyond the :class:`Network` protocol: :meth:`set_uplink_shares`, :meth:`disconnect`, :meth:`node_index`,
    :meth:`channel_state` and :meth:`reset` (a new network in the same process).

    If the scenario process dies (crash, kill, exit, hang), the call that finds it dead and every later call
    that needs the network raise :class:`~ns6g.core.bridge.ScenarioCrashed` or
    :class:`~ns6g.core.bridge.ScenarioNotResponding`, naming that process and its signal or exit code; only
    :meth:`reset` starts a new process.
    """

    #: the simulation runs in another process: a learner job may train while it runs (FlJob's overlap)
    runs_apart = True

    def __init__(
        self,
        config: FlNetworkConfig | dict[str, Any] | None = None,
        *,
        seed: int = 1,
        writer: RunWriter | None = None,
        binary: str | Path | None = None,
        start: bool = True,
    ) -> None:
        self.config = FlNetworkConfig.from_user(config)
        if not (isinstance(seed, int) and 0 <= seed < 2**63):
            raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
        self.seed = seed
        self.writer = writer
        self._binary = Path(binary) if binary is not None else None
        self._bridge: Bridge | None = None
        self._closed = False
        self._now_s = 0.0
        self._next_id = 1
        self._pending: set[int] = set()  # submitted, not yet reported complete
        self._flows: dict[int, Transfer] = {}  # transfers not yet reported (for the flows table)
        self._link_failures_seen: list[tuple[int, float]] = []  # reported (warned, written) already
        n, e = self.config.clients, self.config.edges
        self._nodes: dict[str, int] = {f"client/{i}": i for i in range(n)}
        self._nodes.update({f"edge/{j}": n + j for j in range(e)})
        self._nodes[CLOUD] = n + e
        self._nodes[REGIONAL] = n + e + 1
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None
        if start:
            self._start_in_background()

    # -- life cycle ---------------------------------------------------------------------------------
    def _start_in_background(self) -> None:
        """Launch the scenario and build the network on a helper thread: the launch waits on the
        process with the GIL released, so it overlaps with what the caller does next (a learner job
        loads its data and builds its models). The first call that needs the network waits for it."""
        binary = self._binary or scenario_binary(SCENARIO)  # build errors surface here, at once
        self._starting = threading.Thread(target=self._start, args=(binary,), name="ns6g-cosim-start", daemon=True)
        self._starting.start()

    def _start(self, binary: Path) -> None:
        try:
            self._bridge = self._launch(binary)
        except BaseException as exc:  # re-raised by start() in the caller's thread
            self._start_error = exc

    def _launch(self, binary: Path) -> Bridge:
        """A new scenario process with the network built at time 0 with ``self.seed``."""
        bridge = Bridge(binary, self.config.to_args(), step_timeout_s=self.config.step_timeout_s)
        try:
            bridge.reset(self.seed)
        except BaseException:
            bridge.close()
            raise
        return bridge

    def start(self) -> None:
        """Start the scenario and build the network at simulated time 0, or wait for the start begun by
        the constructor (idempotent). Raises what the start raised (e.g. a ScenarioError)."""
        if self._closed:
            raise RuntimeError("this CoSimNetwork is closed")
        if self._starting is None and self._bridge is None:
            self._start_in_background()
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        if self._start_error is not None:
            error, self._start_error = self._start_error, None
            self.close()
            raise error

    def reset(self, seed: int) -> None:
        """Rebuild the network at simulated time 0 with ns-3 ``RngRun = seed`` in the running process, or
        in a new one if the scenario died (the only relaunch): every operation, share and disconnection is
        forgotten; ids start at 1 again."""
        if not (isinstance(seed, int) and 0 <= seed < 2**63):
            raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
        self.seed = seed
        bridge = self.bridge
        unseen = bridge.death is None
        try:
            bridge.check_alive()
            bridge.reset(seed)  # a process found dying only here is still the old one's death
        except (ScenarioCrashed, ScenarioNotResponding) as death:
            if unseen:  # nobody heard of this death yet: say so before replacing the process
                warnings.warn(f"CoSimNetwork.reset: {str(death).splitlines()[0]}; starting a new scenario "
                              "process", RuntimeWarning, stacklevel=2)
            self._bridge = self._launch(bridge.binary)  # the dead one holds nothing; kept if this fails
        self._now_s = 0.0
        self._next_id = 1
        self._pending.clear()
        self._flows.clear()
        self._link_failures_seen.clear()

    def close(self) -> None:
        """Stop the scenario process (safe to call twice)."""
        self._closed = True
        if self._starting is not None:  # never leave a process starting behind
            self._starting.join()
            self._starting = None
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = None

    def __enter__(self) -> CoSimNetwork:
        if self._closed:
            raise RuntimeError("this CoSimNetwork is closed")
        if self._starting is None and self._bridge is None:
            self._start_in_background()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def bridge(self) -> Bridge:
        self.start()
        assert self._bridge is not None
        return self._bridge

    # -- Network --------------------------------------------------------------------------------------
    @property
    def clients(self) -> int:
        """Number of client devices."""
        return self.config.clients

    def now_s(self) -> float:
        """The simulated time (s): the end of the last completion a run returned."""
        return self._now_s

    def node_index(self, node: str) -> int:
        """Index of a node name in the scenario and the flows table: client i -> i, edge j -> clients + j,
        cloud -> clients + edges, regional -> clients + edges + 1. Raises ValueError naming the valid names for an unknown one."""
        try:
            return self._nodes[node]
        except (KeyError, TypeError):
            raise ValueError(
                f"unknown node {node!r}: nodes are client/0..client/{self.config.clients - 1}, "
                f"edge/0..edge/{self.config.edges - 1}, {CLOUD!r} and {REGIONAL!r}") from None

    def submit(self, ops: Sequence[Op]) -> list[int]:
        """Queue operations; returns their ids (consecutive, increasing). ``after`` may name ids of earlier
        calls or of earlier ops in this call (ids are ``self.next_id``, ``self.next_id + 1``, ...)."""
        ops = list(ops)
        ids = list(range(self._next_id, self._next_id + len(ops)))
        records = np.zeros(len(ops), dtype=self.bridge.record_dtypes["op"])
        # column by column: a numpy record's fields set one at a time cost ~9 us an operation
        encoded = []
        deps: list[tuple[int, int]] = []
        for k, (op_id, op) in enumerate(zip(ids, ops, strict=True)):
            encoded.append(self._encode(op))
            for after in op.after:
                if not (isinstance(after, int | np.integer) and 1 <= after < op_id):
                    raise ValueError(f"op {k} ({op!r}): dependency {after!r} is not the id of an earlier operation "
                                     f"(ids so far: 1..{op_id - 1})")
                deps.append((op_id, int(after)))
        if ops:
            records["id"] = ids
            for name, column in zip(("kind", "node", "dst", "bytes", "flops"), zip(*encoded, strict=True), strict=True):
                records[name] = column
        if deps:
            dep_records = np.zeros(len(deps), dtype=self.bridge.record_dtypes["dependency"])
            dep_records["op"], dep_records["after"] = zip(*deps, strict=True)
            self.bridge.request("dependency", dep_records)
        self.bridge.request("op", records)
        self._next_id += len(ops)
        self._pending.update(ids)
        for op_id, op in zip(ids, ops, strict=True):
            if isinstance(op, Transfer):
                self._flows[op_id] = op
        return ids

    @property
    def next_id(self) -> int:
        """The id the next submitted operation gets."""
        return self._next_id

    def _encode(self, op: Op) -> tuple[int, int, int, int, float]:
        """An operation's record fields (kind, node, dst, bytes, flops); raises ValueError for bad ones."""
        if isinstance(op, Transfer):
            nbytes = op.nbytes
            if isinstance(nbytes, bool) or not isinstance(nbytes, int | np.integer):
                raise ValueError(f"{op!r}: nbytes must be an int, got {type(nbytes).__name__}")
            if not 0 <= nbytes <= MAX_TRANSFER_BYTES:
                raise ValueError(f"{op!r}: nbytes must be in [0, 2**50], got {nbytes}")
            return TRANSFER, self.node_index(op.src), self.node_index(op.dst), int(nbytes), 0.0
        if isinstance(op, Compute):
            flops = op.flops
            if isinstance(flops, bool) or not isinstance(flops, int | float | np.integer | np.floating):
                raise ValueError(f"{op!r}: flops must be a number, got {type(flops).__name__}")
            if not (math.isfinite(flops) and flops >= 0):
                raise ValueError(f"{op!r}: flops must be finite and >= 0, got {flops}")
            return COMPUTE, self.node_index(op.node), 0, 0, float(flops)
        raise TypeError(f"an operation must be a Transfer or a Compute, got {type(op).__name__}")

    def run(self, wait_for: Iterable[int] | None = None, *, any_of: bool = False) -> list[Completed]:
        """Advance simulated time until every operation in ``wait_for`` (every one not yet reported if None)
        completed or failed, or with ``any_of=True`` until the first did. Returns every operation that
        completed or failed during this call, in completion order."""
        waits = sorted(self._pending) if wait_for is None else [self._check_id(i) for i in wait_for]
        records = np.zeros(len(waits), dtype=self.bridge.record_dtypes["run"])
        records["op"] = waits
        records["any_of"] = int(any_of)
        _, reply = self.bridge.request("run", records)
        # column by column (tolist gives Python ints and floats): a record at a time costs ~60 us
        columns = [reply[k].tolist() for k in ("op", "start_s", "end_s", "energy_j", "ok", "queue_s", "cause")]
        done = [Completed(op, start, end, joules, bool(ok), queue, FAILURE_CAUSES[cause])
                for op, start, end, joules, ok, queue, cause in zip(*columns, strict=True)]
        for c in done:
            self._pending.discard(c.op_id)
            self._now_s = max(self._now_s, c.end_s)
        self._record_flows(done)
        if any(c.failure == "radio link failure" for c in done):
            self._record_link_failures()
        return done

    def link_failures(self) -> list[tuple[int, float]]:
        """Every radio link failure since the last reset as ``(client index, simulated time s)``, in order.
        A client whose transport blocks all fail for ``radio_link_failure_s`` is disconnected then: its
        operations fail with ``failure == "radio link failure"``."""
        _, reply = self.bridge.request("link_failures", np.zeros(0, dtype=self.bridge.record_dtypes["link_failures"]))
        return [(int(r["client"]), float(r["at_s"])) for r in reply]

    def _record_link_failures(self) -> None:
        new = self.link_failures()[len(self._link_failures_seen):]
        self._link_failures_seen += new
        for client_index, at_s in new:
            warnings.warn(f"client/{client_index}: radio link failure at {at_s:.3f} s (no transport block decoded "
                          f"for radio_link_failure_s = {self.config.radio_link_failure_s} s); it is disconnected",
                          RuntimeWarning, stacklevel=3)
        if self.writer is not None and new:
            self.writer.append_columns("events", {
                "time_s": [at_s for _, at_s in new], "wall_time_s": [self.writer.wall_time_s] * len(new),
                "kind": ["radio_link_failure"] * len(new), "node": [c for c, _ in new],
                "detail": [f"client/{c}: no transport block decoded for {self.config.radio_link_failure_s} s"
                           for c, _ in new]})

    def _check_id(self, op_id: int) -> int:
        if isinstance(op_id, bool) or not isinstance(op_id, int | np.integer) or not 1 <= op_id < self._next_id:
            raise ValueError(f"run: {op_id!r} is not the id of a submitted operation (ids so far: 1..{self._next_id - 1})")
        return int(op_id)

    def _record_flows(self, done: list[Completed]) -> None:
        rows = [(c, self._flows.pop(c.op_id)) for c in done if c.op_id in self._flows]
        if self.writer is None or not rows:
            return
        self.writer.append_columns("flows", {
            "flow_id": [c.op_id for c, _ in rows],
            "kind": [t.tag for _, t in rows],
            "src": [self._nodes[t.src] for _, t in rows],
            "dst": [self._nodes[t.dst] for _, t in rows],
            "size_bytes": [t.nbytes for _, t in rows],
            "start_s": [c.start_s for c, _ in rows],
            "end_s": [c.end_s if c.ok else math.nan for c, _ in rows],
            "energy_j": [c.energy_j for c, _ in rows],
            "failure": [c.failure for c, _ in rows],
        })

    # -- beyond the protocol ----------------------------------------------------------------------------
    def set_uplink_shares(self, shares: dict[int, float | None]) -> None:
        """Uplink shares by client index: a share in (0, 1] is that fraction of its cell's uplink RBGs while
        the client uploads; None restores the automatic share (clients without an explicit share split
        what the explicit ones leave equally). If a cell's shares exceed 1 they are scaled to sum 1."""
        records = np.zeros(len(shares), dtype=self.bridge.record_dtypes["uplink_share"])
        for k, (i, share) in enumerate(shares.items()):
            self._check_client(i, "set_uplink_shares")
            if share is not None and not (isinstance(share, int | float) and 0 < share <= 1):
                raise ValueError(f"set_uplink_shares: share of client {i} must be in (0, 1] or None, got {share!r}")
            records[k] = (i, -1.0 if share is None else float(share))
        self.bridge.request("uplink_share", records)

    def channel_state(self, clients: Iterable[int] | None = None) -> dict[str, np.ndarray]:
        """The radio state of ``clients`` (default all) now, one entry per client in the given order:
        ``cell`` serving cell index, ``rsrp_dbm`` RSRP from it (dBm), ``cqi`` the client's wideband uplink
        CQI now (0..15: the link model's uplink CQI averaged over the cell's RBGs and rounded; 0: out of
        range), ``uplink_rate_bps`` the uplink goodput the client would get alone in its cell (bit/s: the
        transport block it would send on the RBGs its power supports, over its expected HARQ
        transmissions; clients sharing the cell split the RBGs), ``ul_rbgs`` the RBGs its power supports
        (power headroom: at most that many, the best, carry its uplink) and ``link_failed`` (True after a
        radio link failure; the rate is then 0)."""
        wanted = list(range(self.config.clients)) if clients is None else list(clients)
        records = np.zeros(len(wanted), dtype=self.bridge.record_dtypes["channel"])
        for k, i in enumerate(wanted):
            self._check_client(i, "channel_state")
            records[k]["client"] = i
        _, reply = self.bridge.request("channel", records)
        return {"cell": reply["cell"].astype(np.int64), "rsrp_dbm": reply["rsrp_dbm"].astype(np.float64),
                "cqi": reply["cqi"].astype(np.int64), "uplink_rate_bps": reply["uplink_rate_bps"].astype(np.float64),
                "link_failed": reply["link_failed"].astype(bool), "ul_rbgs": reply["ul_rbgs"].astype(np.int64)}

    def disconnect(self, client_index: int, at_s: float) -> None:
        """Client ``client_index`` leaves at simulated time ``at_s`` (>= now): its operations in flight or
        waiting then fail, so do their dependants and any later operation that involves it."""
        self._check_client(client_index, "disconnect")
        if not (isinstance(at_s, int | float) and math.isfinite(at_s) and at_s >= self._now_s):
            raise ValueError(f"disconnect: at_s must be a finite time >= now ({self._now_s} s), got {at_s!r}")
        records = np.zeros(1, dtype=self.bridge.record_dtypes["disconnect"])
        records[0] = (client_index, float(at_s))
        self.bridge.request("disconnect", records)

    def reconnect(self, client_index: int, at_s: float) -> None:
        """Client ``client_index``, gone by :meth:`disconnect` (not by a radio link failure), takes part again
        at simulated time ``at_s`` (>= now): operations submitted from then on that involve it run; those that
        failed stay failed. A client present at ``at_s`` is unaffected."""
        self._check_client(client_index, "reconnect")
        if not (isinstance(at_s, int | float) and math.isfinite(at_s) and at_s >= self._now_s):
            raise ValueError(f"reconnect: at_s must be a finite time >= now ({self._now_s} s), got {at_s!r}")
        records = np.zeros(1, dtype=self.bridge.record_dtypes["reconnect"])
        records[0] = (client_index, float(at_s))
        self.bridge.request("reconnect", records)

    def sidelink_state(self, links: Iterable[tuple[int, int]]) -> dict[str, np.ndarray]:
        """State of client -> client D2D sidelinks ``(tx, rx)`` (client indices) now, one entry per link in
        the given order (needs ``sidelink=True``): ``rate_bps`` the noise-limited rate estimate on all
        sub-channels (``RanSidelink::EstimateRateBps``: the TBS at the link-adapted MCS per slot),
        ``delivered_bytes`` packet bytes decoded on the link since the reset (IP, UDP and the 24-byte
        task-transfer headers included), ``transmissions`` and ``failed_transmissions`` (first and HARQ),
        ``dropped_bytes`` (refused by a full queue)."""
        pairs = list(links)
        records = np.zeros(len(pairs), dtype=self.bridge.record_dtypes["sidelink_query"])
        for k, (tx, rx) in enumerate(pairs):
            self._check_client(tx, "sidelink_state")
            self._check_client(rx, "sidelink_state")
            records[k] = (tx, rx)
        _, reply = self.bridge.request("sidelink_query", records)
        return {"rate_bps": reply["rate_bps"].astype(np.float64),
                **{k: reply[k].astype(np.int64) for k in ("delivered_bytes", "transmissions", "failed_transmissions",
                                                          "dropped_bytes")}}

    def _check_client(self, i: int, what: str) -> None:
        if isinstance(i, bool) or not isinstance(i, int | np.integer) or not 0 <= i < self.config.clients:
            raise ValueError(f"{what}: client index must be in 0..{self.config.clients - 1}, got {i!r}")


def round_timeline(ops: Mapping[int, Op], done: Sequence[Completed]) -> dict[str, DeviceTimeline]:
    """Per node, the timeline of a round (:class:`~ns6g.learners.network.DeviceTimeline`): ``ops`` maps the
    round's op ids to their operations (``zip`` of :meth:`CoSimNetwork.submit`'s ids and ops), ``done`` is
    their completions. The span runs from the earliest start to the latest end of ``done``. Failed
    operations count for the time they took."""
    if not done:
        return {}
    return timelines(ops, done, min(c.start_s for c in done), max(c.end_s for c in done))

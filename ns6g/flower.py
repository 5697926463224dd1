"""Unmodified Flower (``flwr``) strategies and clients over ns6g's emulated network.

A Flower strategy (the legacy ``flwr.server.strategy.Strategy`` interface: FedAvg, FedProx, FedAdam,
FedYogi, FedTrimmedAvg, ...) is the server loop, and the user's Flower client code (a
``client_fn(Context) -> Client | NumPyClient``) trains with real PyTorch, as in Flower's own
simulation. ns6g runs them as a learner job (:class:`~ns6g.learners.engine.FlJob` with
:class:`FlowerProtocol`), so every message becomes a network operation:

- each instruction and reply (``FitIns``/``FitRes``, ``EvaluateIns``/``EvaluateRes``,
  ``GetParametersIns``/``GetParametersRes``) is a transfer of its serialised size: the byte size of the
  legacy Flower protobuf message (``flwr.common.serde.*_to_proto(...).ByteSize()``), i.e. the
  parameters' tensors (NumPy ``.npy`` bytes, header included) plus the config or metrics;
- each client call takes simulated compute time on the client's device: the FLOPs of the call counted
  by ``torch.utils.flop_counter.FlopCounterMode`` while the client code runs (matrix multiplications
  and convolutions, 2 FLOPs per multiply-accumulate: the engine's count, so ns6g's FedAvg and FedAvg
  through Flower charge the same seconds).

Entry points: :func:`start_simulation` (the signature of ``flwr.simulation.start_simulation``: port an
app by changing its import) and :class:`FlowerSimulation` (the job's data and initial model for
:meth:`FlowerSimulation.client_fn`, clients that train exactly as ns6g's own FedAvg). See docs/flower.md.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

try:
    import flwr
    from flwr.client import Client, NumPyClient
    from flwr.common import (
        Code,
        Context,
        DisconnectRes,
        EvaluateIns,
        EvaluateRes,
        FitIns,
        FitRes,
        GetParametersIns,
        GetParametersRes,
        GetPropertiesIns,
        GetPropertiesRes,
        NDArrays,
        Parameters,
        RecordDict,
        ReconnectIns,
        Scalar,
        ndarrays_to_parameters,
        parameters_to_ndarrays,
        serde,
    )
    from flwr.server import ServerConfig
    from flwr.server.client_manager import ClientManager
    from flwr.server.client_proxy import ClientProxy
    from flwr.server.criterion import Criterion
    from flwr.server.history import History
    from flwr.server.strategy import Strategy
except ImportError as exc:  # flwr is an optional dependency
    raise ImportError(f"ns6g.flower needs Flower (flwr), which is not installed: pip install ns6g[flower] ({exc})") from exc

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from ns6g.core.outputs import claim_run_dir
from ns6g.core.runs import RunWriter
from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
from ns6g.learners.engine import FlJob, FlJobConfig
from ns6g.learners.network import Network, client
from ns6g.learners.no_network import NoNetwork
from ns6g.learners.protocols.base import Protocol, RoundOutcome
from ns6g.learners.records import JobResult

__all__ = ["FlowerProtocol", "FlowerSimulation", "JobClient", "message_bytes", "start_simulation"]

ClientFn = Callable[[Context], "Client | NumPyClient"]

_TO_PROTO = {
    FitIns: serde.fit_ins_to_proto,
    FitRes: serde.fit_res_to_proto,
    EvaluateIns: serde.evaluate_ins_to_proto,
    EvaluateRes: serde.evaluate_res_to_proto,
    GetParametersIns: serde.get_parameters_ins_to_proto,
    GetParametersRes: serde.get_parameters_res_to_proto,
}


def message_bytes(message: Any) -> int:
    """Serialised size (bytes) of a Flower instruction or reply: its legacy protobuf message
    (``ServerMessage.FitIns``, ``ClientMessage.FitRes``, ...), the bytes Flower's gRPC transport carries
    for it (without gRPC/HTTP/2 framing)."""
    try:
        to_proto = _TO_PROTO[type(message)]
    except KeyError:
        raise TypeError(f"no Flower message size for {type(message).__name__}") from None
    return int(to_proto(message).ByteSize())


class EmulatedClient(ClientProxy):
    """The server's handle on client ``index``: calls the user's client code in this process (a fresh
    client from ``client_fn`` per message, as Flower's simulation does, with a :class:`Context` that lasts
    the run) and counts the FLOPs of each call. The network time is the protocol's business."""

    def __init__(self, index: int, clients: int, client_fn: ClientFn) -> None:
        super().__init__(str(index))
        self.index = index
        self.node_id = index
        self.client_fn = client_fn
        self.context = Context(run_id=0, node_id=index, state=RecordDict(), run_config={},
                               node_config={"partition-id": index, "num-partitions": clients})

    def call(self, method: str, ins: Any) -> tuple[Any, float]:
        """(reply, FLOPs) of ``client.<method>(ins)``."""
        user = self.client_fn(self.context)
        if isinstance(user, NumPyClient):
            user = user.to_client()
        if not isinstance(user, Client):
            raise TypeError(f"client_fn must return a flwr Client or NumPyClient, got {type(user).__name__}")
        with FlopCounterMode(display=False) as counter:
            reply = getattr(user, method)(ins)
        status = getattr(reply, "status", None)
        if status is not None and status.code != Code.OK:
            raise RuntimeError(f"client {self.cid}: {method} answered {status.code.name}: {status.message}")
        return reply, float(counter.get_total_flops())

    def fit(self, ins: FitIns, timeout: float | None = None, group_id: int | None = None) -> FitRes:
        return self.call("fit", ins)[0]

    def evaluate(self, ins: EvaluateIns, timeout: float | None = None, group_id: int | None = None) -> EvaluateRes:
        return self.call("evaluate", ins)[0]

    def get_parameters(self, ins: GetParametersIns, timeout: float | None = None,
                       group_id: int | None = None) -> GetParametersRes:
        return self.call("get_parameters", ins)[0]

    def get_properties(self, ins: GetPropertiesIns, timeout: float | None = None,
                       group_id: int | None = None) -> GetPropertiesRes:
        return self.call("get_properties", ins)[0]

    def reconnect(self, ins: ReconnectIns, timeout: float | None = None, group_id: int | None = None) -> DisconnectRes:
        return DisconnectRes(reason="")


class EmulatedClientManager(ClientManager):
    """All clients of the job, always available. Sampling is seeded (same seed, same clients) and the
    sample is in client order; asking for more clients than the job has is an error, not a wait."""

    def __init__(self, proxies: list[EmulatedClient], seed: int) -> None:
        self.clients = {p.cid: p for p in proxies}
        self.rng = random.Random(seed)

    def num_available(self) -> int:
        return len(self.clients)

    def register(self, client: ClientProxy) -> bool:
        raise TypeError("the clients of an ns6g Flower run are the job's (config.clients); none can register")

    def unregister(self, client: ClientProxy) -> None:
        raise TypeError("the clients of an ns6g Flower run are the job's (config.clients); none can leave")

    def all(self) -> dict[str, ClientProxy]:
        return dict(self.clients)

    def wait_for(self, num_clients: int, timeout: int = 86400) -> bool:
        if num_clients > len(self.clients):
            raise ValueError(f"the strategy needs {num_clients} clients (its min_*_clients), the job has "
                             f"{len(self.clients)}: lower them or raise num_clients")
        return True

    def sample(self, num_clients: int, min_num_clients: int | None = None,
               criterion: Criterion | None = None) -> list[ClientProxy]:
        self.wait_for(max(num_clients, min_num_clients or 0))
        cids = [c for c, p in self.clients.items() if criterion is None or criterion.select(p)]
        if num_clients > len(cids):
            raise ValueError(f"the strategy asks for {num_clients} clients, {len(cids)} meet its criterion")
        chosen = self.rng.sample(cids, num_clients)
        return [self.clients[c] for c in sorted(chosen, key=int)]


class FlowerProtocol(Protocol):
    """A Flower strategy as an ns6g protocol. Round ``r`` of the job is Flower's server round ``r + 1``:
    ``configure_fit``; per sampled client the ``FitIns`` transfer (server -> client), the fit's
    computation on the client and the ``FitRes`` transfer back; ``aggregate_fit`` over the replies that
    arrived (a client whose transfer failed is a failure); the strategy's centralised ``evaluate``;
    then, if ``configure_evaluate`` picks clients, the same three steps for evaluation and
    ``aggregate_evaluate``. Before the first round, a strategy without initial parameters gets them from
    client 0 (``GetParametersIns``/``GetParametersRes`` transfers, in round 0), as Flower's server does.
    Server-side aggregation and evaluation take no simulated time (as in ns6g's own protocols).
    Flower's own figures are in :attr:`history` (a ``flwr.server.history.History``)."""

    name = "flower"
    profiles = False  # the client code needs values

    def __init__(self) -> None:
        self.strategy: Strategy | None = None
        self.client_fn: ClientFn | None = None
        self.history = History()

    def setup(self, job: FlJob) -> None:
        # the same draw of the torch RNG as ns6g's FedAvg: the job's initial model
        self.model = job.new_model()

    def start(self, job: FlJob, strategy: Strategy, client_fn: ClientFn) -> None:
        """Attach the strategy and the client code (before the first round)."""
        if not isinstance(strategy, Strategy):
            raise TypeError(f"strategy must be a flwr.server.strategy.Strategy, got {type(strategy).__name__}")
        if not callable(client_fn):
            raise TypeError(f"client_fn must be a function Context -> Client, got {type(client_fn).__name__}")
        self.strategy, self.client_fn = strategy, client_fn
        self.proxies = [EmulatedClient(c, job.config.clients, client_fn) for c in range(job.config.clients)]
        self.manager = EmulatedClientManager(self.proxies, job.config.seed)
        self.parameters: Parameters | None = None
        self.centralised: tuple[float, dict[str, Scalar]] | None = None
        self.federated: tuple[float | None, dict[str, Scalar]] | None = None

    def _exchange(self, job: FlJob, method: str, pairs: list[tuple[ClientProxy, Any]]) -> tuple[list, list]:
        """Send each instruction, run the client call, send each reply; wait for all replies.
        Returns (results, failures) in Flower's shape."""
        server = job.config.server
        calls = []
        for proxy, ins in pairs:
            if not isinstance(proxy, EmulatedClient):
                raise TypeError(f"the strategy chose {type(proxy).__name__}, not a client of this run")
            node = client(proxy.index)
            down = job.send_bytes(server, node, message_bytes(ins), f"{method}_ins")
            reply, flops = proxy.call(method, ins)
            if flops <= 0 and method != "get_parameters":
                raise RuntimeError(f"client {proxy.cid}: its {method} did no PyTorch work that FlopCounterMode counts "
                                   "(matrix multiplications, convolutions); ns6g charges compute time by those FLOPs")
            work = job.compute(node, flops, method, after=(down,))
            up = job.send_bytes(node, server, message_bytes(reply), f"{method}_res", after=(work,))
            calls.append((proxy, reply, up))
        job.wait([up for _, _, up in calls])
        results = [(p, r) for p, r, up in calls if job.ok(up)]
        failures: list[Any] = [ConnectionError(f"client {p.cid}: the network lost its {method} exchange")
                               for p, _, up in calls if not job.ok(up)]
        return results, failures

    def run_round(self, job: FlJob, round_index: int) -> RoundOutcome:
        strategy = self.strategy
        if strategy is None:
            raise RuntimeError("FlowerProtocol.start(job, strategy, client_fn) comes before the first round")
        server_round = round_index + 1
        if self.parameters is None:
            self._initial_parameters(job)
        assert self.parameters is not None
        pairs = strategy.configure_fit(server_round, self.parameters, self.manager)
        if not pairs:
            raise RuntimeError(f"round {server_round}: the strategy's configure_fit chose no clients")
        results, failures = self._exchange(job, "fit", pairs)
        aggregated, fit_metrics = strategy.aggregate_fit(server_round, results, failures)
        if aggregated is not None:
            self.parameters = aggregated
        self.history.add_metrics_distributed_fit(server_round, fit_metrics)
        self._evaluate_centrally(server_round)
        self.federated = None
        eval_pairs = strategy.configure_evaluate(server_round, self.parameters, self.manager)
        if eval_pairs:
            eval_results, eval_failures = self._exchange(job, "evaluate", eval_pairs)
            self.federated = strategy.aggregate_evaluate(server_round, eval_results, eval_failures)
            loss, metrics = self.federated
            if loss is not None:
                self.history.add_loss_distributed(server_round, loss)
            self.history.add_metrics_distributed(server_round, metrics)
        kept = tuple(sorted(int(p.cid) for p, _ in results))
        dropped = tuple(sorted(int(p.cid) for p, _ in pairs if int(p.cid) not in kept))
        losses = [r.metrics["train_loss"] for _, r in results if "train_loss" in r.metrics]
        return RoundOutcome(float(np.mean(losses)) if losses else math.nan, kept, dropped)

    def _initial_parameters(self, job: FlJob) -> None:
        assert self.strategy is not None
        self.parameters = self.strategy.initialize_parameters(client_manager=self.manager)
        if self.parameters is None:  # Flower's server asks one client
            results, _ = self._exchange(job, "get_parameters", [(self.proxies[0], GetParametersIns(config={}))])
            if not results:
                raise RuntimeError("the strategy has no initial parameters and client 0's reply was lost")
            self.parameters = results[0][1].parameters
        self._evaluate_centrally(0)

    def _evaluate_centrally(self, server_round: int) -> None:
        assert self.strategy is not None and self.parameters is not None
        self.centralised = self.strategy.evaluate(server_round, self.parameters)
        if self.centralised is not None:
            loss, metrics = self.centralised
            self.history.add_loss_centralized(server_round, loss)
            self.history.add_metrics_centralized(server_round, metrics)

    def global_ndarrays(self) -> NDArrays:
        """The strategy's current global parameters as NumPy arrays."""
        if self.parameters is None:
            raise RuntimeError("no global parameters yet (run a round first)")
        return parameters_to_ndarrays(self.parameters)

    def evaluate(self, job: FlJob) -> tuple[float, float]:
        """The round's test loss and accuracy: the job's held-out test set when the global parameters
        fit the job's model (as ``ns6g fl`` reports), else the strategy's centralised evaluation, else
        its federated one (metric ``accuracy``); NaN where none says."""
        arrays = self.global_ndarrays()
        shapes = [tuple(t.shape) for t in job.state_of(self.model)]
        if [a.shape for a in arrays] == shapes:
            job.load_state(self.model, [torch.as_tensor(a, device=job.device) for a in arrays])
            return job.evaluate(self.model)
        for figures in (self.centralised, self.federated):
            if figures is not None and figures[0] is not None:
                return float(figures[0]), float(figures[1].get("accuracy", math.nan))
        return math.nan, math.nan

    def eval_models(self, job: FlJob) -> list[torch.nn.Module]:
        return [self.model]


class JobClient(NumPyClient):
    """A Flower client that trains exactly as a client of ns6g's FedAvg: client ``index``'s share of
    the job's data, its batch order of the current round, the job's SGD settings; Flower's FedProx
    ``proximal_mu`` (fit config) adds the proximal term. ``evaluate`` tests on the job's held-out test set
    (metric ``accuracy``)."""

    def __init__(self, job: FlJob, index: int) -> None:
        self.job, self.index = job, index
        self.model = copy.deepcopy(job.protocol.model)  # type: ignore[attr-defined]

    def _load(self, parameters: NDArrays) -> None:
        self.job.load_state(self.model, [torch.as_tensor(a, device=self.job.device) for a in parameters])

    def get_parameters(self, config: dict[str, Scalar]) -> NDArrays:
        return [t.cpu().numpy() for t in self.job.state_of(self.model)]

    def fit(self, parameters: NDArrays, config: dict[str, Scalar]) -> tuple[NDArrays, int, dict[str, Scalar]]:
        self._load(parameters)
        batches = self.job.batches(self.index, len(self.job.rounds))  # the draw of ns6g's FedAvg: the round
        loss = self.job.sgd_steps(self.model, batches, float(config.get("proximal_mu", 0.0)))
        return self.get_parameters(config), self.job.samples(self.index), {"train_loss": loss}

    def evaluate(self, parameters: NDArrays, config: dict[str, Scalar]) -> tuple[float, int, dict[str, Scalar]]:
        self._load(parameters)
        loss, accuracy = self.job.evaluate(self.model)
        return loss, int(self.job.test_data[1].shape[0]), {"accuracy": accuracy}


class FlowerSimulation:
    """A Flower run over a network: an :class:`FlJob` (``config``: :class:`FlJobConfig` fields; its
    ``protocol`` field may be left out, the Flower strategy takes its place) running a
    :class:`FlowerProtocol`.

    Args:
        config: the job: clients, rounds, seed, and for :meth:`client_fn` the data, model and SGD settings.
        network: None or "none" (:class:`~ns6g.learners.no_network.NoNetwork`), "cosim" (the
            ``fl-network`` ns-3 scenario with :class:`FlNetworkConfig`'s defaults), a mapping of
            FlNetworkConfig fields or a FlNetworkConfig (ns-3, seed ``config.seed + 1`` as ``ns6g fl``),
            or a :class:`Network` of the caller's (left open).
        run_dir: a new run directory to trace into (``rounds``, ``flows`` and the manifest, as ``ns6g fl``).
    """

    def __init__(self, config: FlJobConfig | Mapping[str, Any], network: Any = None,
                 run_dir: str | Path | None = None) -> None:
        fields = config.model_dump() if isinstance(config, FlJobConfig) else dict(config)
        if fields.setdefault("protocol", "fedavg") != "fedavg":  # the strategy is the protocol
            raise ValueError(f"a Flower run takes no protocol (got {fields['protocol']!r}): the strategy is the "
                             "protocol; leave the field out")
        self.config = FlJobConfig.from_user(fields)
        self.protocol = FlowerProtocol()
        self._own_network = not isinstance(network, Network)
        self.network = network if isinstance(network, Network) else _network(network, self.config)
        self.writer: RunWriter | None = None
        self._claim = None
        try:
            if run_dir is not None:
                self._claim = claim_run_dir(run_dir)
                self.writer = RunWriter(run_dir, kind="learner", seeds=[self.config.seed], config={
                    "job": self.config.model_dump(), "flower": flwr.__version__,
                    "network": type(self.network).__name__,
                    "network_config": getattr(getattr(self.network, "config", None), "model_dump", dict)()})
            self.job = FlJob(self.config, network=self.network, run=self.writer, protocol=self.protocol)
        except BaseException:
            self._fail("set-up failed", release=True)
            raise

    def initial_parameters(self) -> Parameters:
        """The job's initial model (the one ns6g's FedAvg starts from on this seed) as Flower parameters."""
        return ndarrays_to_parameters([t.cpu().numpy() for t in self.job.state_of(self.protocol.model)])

    def client_fn(self, context: Context) -> Client:
        """Flower's client_fn for clients on the job's data (:class:`JobClient` of ``partition-id``)."""
        return JobClient(self.job, int(context.node_config["partition-id"])).to_client()

    def run(self, strategy: Strategy, client_fn: ClientFn | None = None, rounds: int | None = None) -> History:
        """Run ``rounds`` (default ``config.rounds``) server rounds of ``strategy`` with ``client_fn``
        (default :meth:`client_fn`); returns Flower's History. Closes the run directory and a network
        this object made."""
        if self.protocol.strategy is not None:
            raise RuntimeError("this FlowerSimulation has run; make a new one for another run")
        self.protocol.start(self.job, strategy, client_fn or self.client_fn)
        if self.writer is not None:
            self.writer.manifest["strategy"] = repr(strategy)
        done = 0
        try:
            for _ in range(self.config.rounds if rounds is None else rounds):
                self.job.run_round()
                done += 1
        except BaseException as exc:
            self._fail(f"{type(exc).__name__}: {exc}", release=done == 0)
            raise
        result = self.result()
        if self.writer is not None:
            self.writer.manifest["summary"] = {
                "strategy": type(strategy).__name__, "rounds": len(result.rounds), "clients": self.config.clients,
                "seed": self.config.seed, "final_accuracy": result.final_accuracy,
                "sim_time_s": result.sim_time_s, "client_energy_j": result.client_energy_j,
                "total_energy_j": result.total_energy_j, "uplink_bytes": result.uplink_bytes,
                "downlink_bytes": result.downlink_bytes}
        self.close()
        return self.protocol.history

    def result(self) -> JobResult:
        """The job's rounds and transfers so far (ns6g's figures)."""
        return self.job.result()

    def _fail(self, why: str, release: bool) -> None:
        if self.writer is not None:
            self.writer.close("failed", why)
            self.writer = None
        if release and self._claim is not None:
            self._claim.release()  # nothing was learned: leave nothing that blocks the same run again
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self._own_network:
            self.network.close()

    def __enter__(self) -> FlowerSimulation:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _network(spec: Any, config: FlJobConfig) -> Network:
    if spec is None or spec == "none":
        return NoNetwork(config.clients, edges=config.edges)
    if spec == "cosim":
        spec = {}
    if isinstance(spec, Mapping):
        spec = FlNetworkConfig.from_user({"clients": config.clients, **spec})
    if isinstance(spec, FlNetworkConfig):
        return CoSimNetwork(spec, seed=config.seed + 1)  # ns-3 RngRun >= 1
    raise TypeError(f"network must be None, 'none', 'cosim', FlNetworkConfig fields or a Network, got {spec!r}")


def start_simulation(
    *,
    client_fn: ClientFn,
    num_clients: int,
    strategy: Strategy,
    config: ServerConfig | None = None,
    network: Any = None,
    run_dir: str | Path | None = None,
    job: Mapping[str, Any] | None = None,
    **flower_only: Any,
) -> History:
    """``flwr.simulation.start_simulation`` over ns6g's network: the same keyword arguments
    (``client_fn``, ``num_clients``, ``strategy``, ``config``), plus ``network`` and ``run_dir``
    (:class:`FlowerSimulation`) and ``job`` (further :class:`FlJobConfig` fields: seed, device...).
    Flower's other arguments (``client_resources``, ``ray_init_args``, ``server``, ...) are refused by
    name: nothing here runs on Ray. Returns Flower's History."""
    if flower_only:
        raise TypeError(f"start_simulation over ns6g takes no {', '.join(sorted(flower_only))} (Flower's Ray and "
                        "server settings: here the clients run in this process and their time is simulated)")
    rounds = (config or ServerConfig()).num_rounds
    fields = {**(job or {}), "clients": num_clients, "rounds": rounds}
    return FlowerSimulation(fields, network=network, run_dir=run_dir).run(strategy, client_fn)

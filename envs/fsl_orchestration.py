"""``ns6g/FslOrchestration-v0``: per-round orchestration of federated split learning over a 6G RAN.

One step is one round of a split-learning job (:class:`ns6g.learners.engine.FlJob`, SplitFed V1 by
default) over the co-simulation clock (:class:`ns6g.learners.cosim.CoSimNetwork`, the ``fl-network``
scenario): every activation, gradient, label and model transfer of the round is a real ns-3 flow of
its exact size and every computation takes FLOPs / (device FLOP/s) of simulated time.

Action, ``MultiDiscrete``, laid out as ``[cut block | share block | participation block]``:

- cut block: per client (protocols with per-client cuts: ``splitfed-v1``) or one for all (the others
  train one cut, fixed at ``cut``: the block is then absent), value a -> cut a + 1 (blocks 0..a run
  on the client), a in 0 .. depth - 2;
- share block: per client an index into ``share_levels``; the round's participants get uplink shares
  proportional to their levels' weights (summing to 1 per cell, :meth:`CoSimNetwork.set_uplink_shares`);
- participation block (``choose_participation``): per client 1 = takes part; none chosen = all take part.

Observation (Dict, float32, one entry per client unless noted):
``uplink_rate_mbps`` the link model's uplink rate with all of the cell's RBGs (Mbit/s, the channel
quality), ``rsrp_dbm`` RSRP from the serving cell (dBm), ``device_load`` the share of the last round the
client was busy computing or transferring (0..1), ``battery_fraction`` the client's energy budget left
(0..1), ``last_round_s`` the client's busy seconds in the last round (compute + uplink + downlink),
``train_loss`` (1,) the last round's mean training loss (nats; 0 before the first round and in
profile mode).

Reward, per round: ``-(round_s + energy_weight * client_energy_j) / data_fraction + accuracy_weight *
(accuracy - previous accuracy)``: ``round_s`` the round's simulated duration (s), ``client_energy_j`` the
clients' energy in it (J: compute and radio), ``energy_weight`` in s/J, and ``data_fraction`` the share of
all clients' training samples held by the clients that completed the round (1 when everyone did; a round
none completed counts as the smallest client's share). The cost is thus per full pass over the data:
leaving clients out (``choose_participation``) or losing them makes a round cheaper but covers less, and
a round of a quarter of the data costs four times its time and energy. The accuracy term (test accuracy
in [0, 1]) only in train mode; 0 in profile mode, where nothing is trained.
Episodes are truncated after ``episode_rounds`` rounds and terminate when a client's budget is spent; a
terminated episode's last reward also charges every round it did not reach at the episode's mean round
cost so far, so spending a budget to end the episode early does not pay.
Info: ``round_s``, ``energy_j``, ``data_fraction``, ``unplayed_rounds`` (charged on termination),
``accuracy``, ``train_loss``, ``participants``, ``dropped``, ``sim_time_s``, ``cuts``, ``uplink_bytes``,
``downlink_bytes``.

Modes: ``train`` trains for real in PyTorch; ``profile`` runs the same protocol code on shapes only
(:class:`FlJobConfig` ``mode``): the same transfers, computations and network traffic, no training.
See docs/fsl-orchestration.md.
"""

from __future__ import annotations

import itertools
import functools
import math
import os
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
from gymnasium.error import ClosedEnvironmentError
from pydantic import Field, field_validator, model_validator

from ns6g.core.config import ConfigError, ScenarioConfig
from ns6g.compute.devices import DEVICES
from ns6g.learners.cosim import CoSimNetwork, FlNetworkConfig
from ns6g.learners.engine import FlJob, FlJobConfig
from ns6g.learners.models import MODELS
from ns6g.learners.records import RoundRecord
from ns6g.learners.protocols import PROTOCOLS
from ns6g.envs.policies import ConstantPolicy, Contender, HindsightOracle, Policy, RandomPolicy, play_episode
from ns6g.core.runs import RunWriter
from ns6g.core.spaces import write_action
from ns6g.core.step_trace import StepRecorder

SPLIT_PROTOCOLS = tuple(name for name, cls in PROTOCOLS.items() if cls.split)


class FslOrchestrationConfig(ScenarioConfig):
    """Settings of the FSL orchestration environment (job, network, reward)."""

    protocol: str = Field("splitfed-v1", description="split-family protocol of the job (ns6g.learners.protocols)")
    mode: Literal["train", "profile"] = Field(
        "profile", description="train: real PyTorch training; profile: the same traffic without training (fast)")
    clients: int = Field(4, ge=1, le=1000, description="client devices")
    model: str = Field("small_cnn", description="zoo model (ns6g.learners.models.MODELS)")
    dataset: Literal["digits", "mnist", "cifar10"] = Field("digits", description="training data")
    data_path: str = Field("", description="folder of the MNIST idx files or CIFAR-10 batches")
    partition: Literal["iid", "shards", "dirichlet"] = Field("iid", description="client data split")
    batch_size: int = Field(32, ge=1, le=65_536, description="mini-batch size per client (samples)")
    learning_rate: float = Field(0.05, ge=1e-6, le=10, description="SGD learning rate, 1e-6 .. 10 (larger diverges at the first step)")
    cut: int = Field(2, ge=1, le=1024, description="cut of protocols with one cut for all clients (blocks on the client)")
    share_levels: tuple[float, ...] = Field(
        (1.0, 2.0, 4.0), min_length=1, max_length=16,
        description="uplink share weights an action picks from, each in [0.01, 100]; participants' "
                    "shares are their weights normalised to sum 1")
    choose_participation: bool = Field(False, description="the action also picks which clients take part")
    episode_rounds: int = Field(10, ge=1, le=1_000_000, description="rounds per episode (then truncated)")
    energy_weight: float = Field(0.1, ge=0, le=1000,
                                 description="lambda: seconds of reward per joule of client energy (s/J)")
    accuracy_weight: float = Field(10.0, ge=0, le=1e6, description="reward per unit of test-accuracy gain (train mode)")
    battery_j: float = Field(100.0, ge=1e-3, le=1e9, description="energy budget each client grants the job per episode (J)")
    network: dict[str, Any] = Field(
        default_factory=dict,
        description="FlNetworkConfig fields (ns6g.learners.cosim) other than clients, e.g. bandwidth_hz")

    @field_validator("share_levels", mode="before")
    @classmethod
    def _levels_as_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value  # YAML and JSON give lists

    @field_validator("network", mode="before")
    @classmethod
    def _network_lists_as_tuples(cls, value: Any) -> Any:
        # YAML and JSON give lists where FlNetworkConfig takes tuples (client_devices): e.g. challenges.yml
        if isinstance(value, dict):
            return {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
        return value

    @field_validator("protocol")
    @classmethod
    def _split_protocol(cls, value: str) -> str:
        if value not in SPLIT_PROTOCOLS:
            raise ValueError(f"protocol {value!r} is not a split protocol; valid: {', '.join(SPLIT_PROTOCOLS)}")
        return value

    @field_validator("share_levels")
    @classmethod
    def _positive_levels(cls, levels: tuple[float, ...]) -> tuple[float, ...]:
        if not all(0.01 <= w <= 100 for w in levels):  # NaN and inf fail too
            raise ValueError(f"share_levels must be weights in [0.01, 100], got {levels}")
        return levels

    @model_validator(mode="after")
    def _valid_parts(self) -> FslOrchestrationConfig:
        if "clients" in self.network:
            raise ValueError("network.clients: set the environment's clients instead")
        try:
            self.network_config()  # refuses bad network fields by name
        except ValueError as exc:
            raise ValueError(f"network: {exc}") from None
        if self.model not in MODELS:  # the job would take 'pkg.module:factory'; the baselines profile zoo models
            raise ValueError(f"model: {self.model!r} is not a zoo model; valid: {', '.join(MODELS)}")
        self.job_config(0)  # refuses an unknown model
        return self

    def network_config(self) -> FlNetworkConfig:
        edges = FlJobConfig.model_fields["edges"].default if self.protocol == "hierarchical-fsl" else 1
        return FlNetworkConfig.from_user({"edges": edges, **self.network, "clients": self.clients})

    def job_config(self, seed: int) -> FlJobConfig:
        return FlJobConfig.from_user({
            "protocol": self.protocol, "mode": self.mode, "clients": self.clients, "model": self.model,
            "dataset": self.dataset, "data_path": self.data_path, "partition": self.partition,
            "batch_size": self.batch_size, "learning_rate": self.learning_rate, "cut": self.cut,
            "rounds": self.episode_rounds, "seed": seed, "torch_device": "cpu",
        })


class FslOrchestrationEnv(gym.Env):
    """Per round: each client's cut, uplink share and participation in a split-learning job over ns-3.

    Args:
        config: a mapping of :class:`FslOrchestrationConfig` settings (or an instance); keyword
            overrides on top (as ``gym.make`` passes them).
        run_dir: if given, a run directory (docs/traces.md): ``steps`` and ``events`` as every ns6g
            environment writes them, plus the job's ``rounds`` and ``flows`` tables (round numbers
            restart every episode); closed by :meth:`close`.
        trace_detail: ``"summary"``, ``"full"`` or ``"off"``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    #: the reward in a few words, as ScenarioEnv.reward_name (named by ns6g train/evaluate's results)
    reward_name: ClassVar[str] = "-(round_s + energy_weight * client_energy_j) / data_fraction + accuracy gain"

    def __init__(
        self,
        config: Any = None,
        *,
        render_mode: str | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        trace_detail: str = "summary",
        **overrides: Any,
    ) -> None:
        self.render_mode = render_mode
        self.config = FslOrchestrationConfig.from_user(config, **overrides)
        cfg = self.config
        self._net: CoSimNetwork | None = None
        self._closed = False
        self.job: FlJob | None = None
        self._writer: RunWriter | None = None
        self.recorder: StepRecorder | None = None
        # A job at seed 0 sizes the spaces (depth, samples); reset builds the episode's own job.
        try:
            probe = FlJob(cfg.job_config(0))
        except ValueError as exc:  # e.g. a cut beyond the model's depth: known only once the model is built
            raise ConfigError(f"invalid FslOrchestrationConfig: {exc}") from None
        self.depth = probe.depth
        self.samples = np.array([probe.samples(c) for c in range(cfg.clients)], dtype=np.int64)
        self.model_kwargs = dict(probe.model_kwargs)
        probe.close()
        self.per_client_cut = PROTOCOLS[cfg.protocol].per_client_cut
        if not self.per_client_cut and not 1 <= cfg.cut < self.depth:
            raise ConfigError(f"invalid FslOrchestrationConfig: cut {cfg.cut} is beyond the depth of {cfg.model}; "
                              f"valid: 1..{self.depth - 1}")
        k = cfg.clients
        nvec = [self.depth - 1] * (k if self.per_client_cut else 0) + [len(cfg.share_levels)] * k
        nvec += [2] * (k if cfg.choose_participation else 0)
        self.action_space = gym.spaces.MultiDiscrete(np.array(nvec, dtype=np.int64))
        inf = np.float32(np.inf)
        per_client = (k,)
        self.observation_space = gym.spaces.Dict({
            "uplink_rate_mbps": gym.spaces.Box(0.0, inf, per_client, np.float32),
            "rsrp_dbm": gym.spaces.Box(-300.0, 100.0, per_client, np.float32),
            "device_load": gym.spaces.Box(0.0, 1.0, per_client, np.float32),
            "battery_fraction": gym.spaces.Box(0.0, 1.0, per_client, np.float32),
            "last_round_s": gym.spaces.Box(0.0, inf, per_client, np.float32),
            "train_loss": gym.spaces.Box(0.0, inf, (1,), np.float32),
        })
        if run_dir is not None:
            self._writer = RunWriter(run_dir, kind="env", detail=trace_detail, config={
                "env": type(self).__name__, "scenario": "fl-network", **cfg.model_dump()})
            self.recorder = StepRecorder(self._writer, self.observation_space, self.action_space)

    # -- action layout ------------------------------------------------------------------------------
    def decode(self, action: Any) -> tuple[dict[int, int], list[float], tuple[int, ...]]:
        """(per-client cuts (empty without per-client cuts), per-client share weights, participants)."""
        a = np.zeros(self.action_space.shape, dtype=np.int64)
        try:  # the checks every bridge environment applies (no NaN, no fractions or complex numbers, bounds)
            write_action(a, self.action_space, action)
        except ValueError as exc:
            raise ValueError(f"{exc} (layout: cuts, share levels"
                             f"{', participation' if self.config.choose_participation else ''})") from None
        k = self.config.clients
        pos = 0
        cuts: dict[int, int] = {}
        if self.per_client_cut:
            cuts = {c: int(a[c]) + 1 for c in range(k)}
            pos = k
        weights = [self.config.share_levels[int(i)] for i in a[pos : pos + k]]
        pos += k
        participants = tuple(range(k))
        if self.config.choose_participation:
            chosen = tuple(int(c) for c in np.flatnonzero(a[pos : pos + k]))
            participants = chosen or participants  # none chosen: all take part
        return cuts, weights, participants

    def encode(self, cuts: list[int] | None, levels: list[int], participate: list[int] | None = None) -> np.ndarray:
        """The action of per-client ``cuts`` (blocks on the client; ignored without per-client cuts),
        share ``levels`` (indices into share_levels) and ``participate`` flags (default all)."""
        k = self.config.clients
        parts: list[int] = [c - 1 for c in cuts] if self.per_client_cut and cuts is not None else []
        parts += list(levels)
        if self.config.choose_participation:
            parts += list(participate) if participate is not None else [1] * k
        return np.array(parts, dtype=np.int64)

    # -- gym API ------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        if options:
            raise ValueError(f"FslOrchestrationEnv.reset takes no options (got {sorted(options)})")
        if self._closed:  # as ScenarioEnv: a closed environment starts nothing new
            raise ClosedEnvironmentError("FslOrchestrationEnv is closed: make a new environment")
        run = seed if seed is not None else int(self.np_random.integers(1, 2**31))
        # the episode's seed, for an oracle that replays it (BestParticipationInHindsight)
        self.episode_run, self.episode_count = run, getattr(self, "episode_count", 0) + 1
        if self._net is None:
            self._net = CoSimNetwork(self.config.network_config(), seed=run)
        else:
            self._net.reset(run)
        self.job = FlJob(self.config.job_config(run), network=self._net, run=self._writer)
        k = self.config.clients
        self._energy = np.zeros(k)
        self._last = np.zeros(k)
        self._load = np.zeros(k)
        self._loss = 0.0
        self._accuracy = self._accuracy_now()
        self._round = 0
        self._costs: list[float] = []
        samples = np.array([self.job.samples(c) for c in range(k)], dtype=np.float64)
        self._sample_share = samples / samples.sum()
        observation, info = self._observation(), {"rng_run": run, "accuracy": self._accuracy, "sim_time_s": 0.0}
        if self.recorder is not None:
            self.recorder.on_reset(observation, info, run)
        return observation, info

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        if self._closed:
            raise ClosedEnvironmentError("FslOrchestrationEnv is closed: make a new environment")
        if self.job is None or self._net is None:
            raise RuntimeError("call reset() before step()")
        if self._round >= self.config.episode_rounds or self._spent():
            raise RuntimeError("the episode has ended: call reset()")
        cuts, weights, participants = self.decode(action)
        if cuts:
            self.job.set_client_cuts(cuts)
        total = sum(weights[c] for c in participants)
        shares: dict[int, float | None] = {c: None for c in range(self.config.clients)}
        shares.update({c: weights[c] / total for c in participants})
        self._net.set_uplink_shares(shares)
        record = self.job.run_round(participants)
        self._round += 1
        energy = self._account(record)
        accuracy = self._accuracy_now()
        gain = accuracy - self._accuracy if self.config.mode == "train" else 0.0
        self._accuracy = accuracy
        data_fraction = self._data_fraction(record.participants)
        cost = (record.duration_s + self.config.energy_weight * energy) / data_fraction
        self._costs.append(cost)
        terminated = self._spent()
        truncated = not terminated and self._round >= self.config.episode_rounds
        unplayed = self.config.episode_rounds - self._round if terminated else 0
        reward = -cost - unplayed * float(np.mean(self._costs)) + self.config.accuracy_weight * gain
        info = {
            "round_s": record.duration_s, "energy_j": energy, "data_fraction": data_fraction,
            "unplayed_rounds": unplayed, "accuracy": accuracy, "train_loss": self._loss,
            "participants": record.participants, "dropped": record.dropped, "sim_time_s": record.end_s,
            "cuts": [self.job.cut_of(c) for c in range(self.config.clients)],
            "uplink_bytes": record.uplink_bytes, "downlink_bytes": record.downlink_bytes,
        }
        observation = self._observation()
        if self.recorder is not None:
            self.recorder.on_step(action, observation, reward, terminated, truncated, info)
        return observation, float(reward), terminated, truncated, info

    def _account(self, record: RoundRecord) -> float:
        """Per-client busy time, load and energy of the round; returns the clients' energy (J)."""
        self._last[:] = 0.0
        self._load[:] = 0.0
        spent = 0.0
        for node, t in record.devices.items():
            kind, _, number = node.partition("/")
            if kind != "client":
                continue
            c = int(number)
            self._last[c] = t.compute_s + t.uplink_s + t.downlink_s
            self._load[c] = 1.0 - t.waiting_s / record.duration_s if record.duration_s > 0 else 0.0
            self._energy[c] += t.energy_j
            spent += t.energy_j
        self._loss = 0.0 if math.isnan(record.train_loss) else record.train_loss
        return spent

    def _data_fraction(self, completed: tuple[int, ...]) -> float:
        """Share of all clients' samples held by the clients in ``completed`` (the smallest client's share
        when none completed, so that a round that trained nothing still costs, finitely)."""
        share = self._sample_share
        return float(share[list(completed)].sum()) if completed else float(share.min())

    def _accuracy_now(self) -> float:
        assert self.job is not None
        if self.config.mode != "train":
            return 0.0
        return float(np.mean([self.job.evaluate(m)[1] for m in self.job.protocol.eval_models(self.job)]))

    def _spent(self) -> bool:
        return bool(np.any(self._energy >= self.config.battery_j))

    def _observation(self) -> dict[str, np.ndarray]:
        assert self._net is not None
        state = self._net.channel_state()
        f32 = np.float32
        return {
            "uplink_rate_mbps": (state["uplink_rate_bps"] / 1e6).astype(f32),
            "rsrp_dbm": np.clip(state["rsrp_dbm"], -300.0, 100.0).astype(f32),
            "device_load": np.clip(self._load, 0.0, 1.0).astype(f32),
            "battery_fraction": np.clip(1.0 - self._energy / self.config.battery_j, 0.0, 1.0).astype(f32),
            "last_round_s": self._last.astype(f32),
            "train_loss": np.array([max(self._loss, 0.0)], dtype=f32),
        }

    def close(self) -> None:
        self._closed = True
        if self._net is not None:
            self._net.close()
            self._net = None
        self.job = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        super().close()

    # -- baselines ----------------------------------------------------------------------------------
    def baseline_policies(self, seed: int = 0) -> dict[str, Policy]:
        """``cut_first`` / ``cut_middle`` / ``cut_last`` (one cut for all, equal shares), ``greedy``
        (per client the cut of least predicted round time from its rate estimate and the layer profile,
        equal shares) and ``random``. Without per-client cuts: ``equal_shares`` and ``random``."""
        k = self.config.clients
        top = [len(self.config.share_levels) - 1] * k
        policies: dict[str, Policy] = {}
        if self.per_client_cut:
            for name, cut in (("cut_first", 1), ("cut_middle", self.depth // 2), ("cut_last", self.depth - 1)):
                policies[name] = ConstantPolicy(self.encode([cut] * k, top))
            policies["greedy"] = GreedyCutPolicy(self)
        else:
            policies["equal_shares"] = ConstantPolicy(self.encode(None, top))
        policies["random"] = RandomPolicy(gym.spaces.MultiDiscrete(self.action_space.nvec.copy()), seed)
        return policies


    def baselines(self, seed: int = 0) -> dict[str, Contender]:
        """:meth:`baseline_policies` as contenders (``ns6g train`` / ``ns6g evaluate`` compare with them)."""
        return {name: Contender(policy) for name, policy in self.baseline_policies(seed).items()}

    def reference_policies(self, seed: int = 0) -> dict[str, Contender]:
        """Hand-written rules for benchmark tables (not built-in baselines): ``round_planner``
        (:class:`RoundPlannerPolicy`: per client its own device's speed, uplink shares and participation
        chosen together), for SplitFed V1 (per-client cuts) with at most ``RoundPlannerPolicy.MAX_CLIENTS``
        clients (none otherwise)."""
        if not self.per_client_cut or self.config.clients > RoundPlannerPolicy.MAX_CLIENTS:
            return {}
        return {"round_planner": Contender(RoundPlannerPolicy(self))}

    def upper_reference_policies(self, seed: int = 0) -> dict[str, Contender]:
        """Oracles for benchmark tables: ``best_participation`` (:class:`BestParticipationInHindsight`: the
        round planner held to the best set of participants in hindsight, found by replaying the episode),
        where the round planner applies and the action chooses participation (none otherwise)."""
        if not self.config.choose_participation or not self.reference_policies(seed):
            return {}
        return {"best_participation": Contender(BestParticipationInHindsight(self.config))}


class GreedyCutPolicy:
    """Per client, the cut of least predicted round time (equal uplink shares, everyone takes part).

    Uses the layer profile (:func:`ns6g.learners.profiles.profile_model`, per sample: device/server FLOPs, cut
    activation bytes, device-side parameter bytes) and the observation's uplink rate divided by the
    number of clients (an equal share of the cell). Predicted time of client c at cut k with n_c samples:
    ``n_c * (3 device_flops[k] / F_dev + 3 server_flops[k] / F_edge + (2 transfer_bytes[k] + 8) * 8 / r)
    + 2 device_param_bytes[k] * 8 / r`` (forward + backward = 3x forward FLOPs; activations up, gradients
    down and the labels, all at the uplink rate r; the client-side model down and up once)."""

    def __init__(self, env: FslOrchestrationEnv) -> None:
        from ns6g.learners.profiles import profile_model

        cfg = env.config
        profile = profile_model(cfg.model, **env.model_kwargs).set_index("cut").loc[1 : env.depth - 1]
        net = cfg.network_config()
        self.cuts = profile.index.to_numpy()
        self.device_s = 3 * profile["device_flops"].to_numpy() / float(DEVICES.loc[net.client_devices[0], "flops"])
        self.server_s = 3 * profile["server_flops"].to_numpy() / float(DEVICES.loc[net.edge_device, "flops"])
        self.act_bits = (2 * profile["transfer_bytes"].to_numpy() + 8) * 8
        self.model_bits = 2 * profile["device_param_bytes"].to_numpy() * 8
        self.samples = env.samples
        self.env = env

    def __call__(self, observation: Any) -> np.ndarray:
        rates = np.asarray(observation["uplink_rate_mbps"], dtype=np.float64) * 1e6 / len(self.samples)
        cuts = []
        for n, r in zip(self.samples, np.maximum(rates, 1e3)):
            predicted = n * (self.device_s + self.server_s + self.act_bits / r) + self.model_bits / r
            cuts.append(int(self.cuts[int(np.argmin(predicted))]))
        top = [len(self.env.config.share_levels) - 1] * len(self.samples)
        return self.env.encode(cuts, top)


class RoundPlannerPolicy:
    """Reference rule (``round_planner``): per round, the cuts, uplink share levels and participants of least
    predicted cost per full pass over the data, ``(round_s + energy_weight * client_energy_j) / data_fraction``
    (the reward's cost), by search over every share-level combination and participant set.

    Knows what the configuration says and the observation shows, as ``greedy`` does, but per client:
    client c computes on its own device (``client_devices[c mod len]``: FLOP/s and J per FLOP from the
    catalogue) and sends at its share of the observed uplink rate. Predicted busy time of client c at cut k
    with share s_c of the cell: ``n_c 3 device_flops_k / F_c + n_c 3 server_flops_k / F_edge + ETA
    (n_c (A_k + 8) 8 + P_k 8) / (s_c r_c)`` (training FLOPs 3x forward, activations and labels up, the
    client-side model up once; ``ETA`` the measured ratio of a transfer's time to bits / rate: scheduling
    requests, headers, HARQ). The clients step their batches in lockstep, so the round lasts as long as the
    slowest participant, plus ``BATCH_OVERHEAD_S`` per batch (round trips, measured);
    energy: compute FLOPs x J per FLOP plus the transmit power (``ue_tx_power_dbm``) while uploading.
    For each share-level combination and participant set, the cut of every client is the one of least
    energy whose time stays within a bound on the round, every bound among the predicted times being tried.
    The sample counts are the job's at seed 0 (exact for the iid split). Search size: (2^K - 1) x levels^K
    combinations, so at most ``MAX_CLIENTS`` clients."""

    MAX_CLIENTS = 6
    #: transfer time / (bits / observed rate), fitted on one- and two-client rounds of small_cnn (profile mode)
    ETA = 1.5
    #: seconds per lockstep batch beyond the slowest client's compute and upload (the batch's round trips;
    #: with the model download, about 0.05 s for 12 batches of small_cnn)
    BATCH_OVERHEAD_S = 0.004

    def __init__(self, env: FslOrchestrationEnv) -> None:
        from ns6g.learners.profiles import profile_model

        cfg = env.config
        if not env.per_client_cut:
            raise ValueError(f"RoundPlannerPolicy chooses per-client cuts: protocol {cfg.protocol} has one cut for all")
        if cfg.clients > self.MAX_CLIENTS:
            raise ValueError(f"RoundPlannerPolicy searches (2^K - 1) x levels^K plans: at most {self.MAX_CLIENTS} "
                             f"clients (got {cfg.clients})")
        self.env = env
        k = cfg.clients
        profile = profile_model(cfg.model, **env.model_kwargs).set_index("cut").loc[1 : env.depth - 1]
        net = cfg.network_config()
        devices = [net.client_devices[c % len(net.client_devices)] for c in range(k)]
        flops = np.array([float(DEVICES.loc[d, "flops"]) for d in devices])
        joules = np.array([float(DEVICES.loc[d, "energy_per_flop_j"]) for d in devices])
        self.samples = env.samples.astype(np.float64)
        n = self.samples[:, None]
        device_flops = 3 * profile["device_flops"].to_numpy()[None, :]
        server_s = 3 * profile["server_flops"].to_numpy()[None, :] / float(DEVICES.loc[net.edge_device, "flops"])
        self.cuts = profile.index.to_numpy()
        self.compute_s = n * (device_flops / flops[:, None] + server_s)  # (clients, cuts)
        self.compute_j = n * device_flops * joules[:, None]
        self.up_bits = (n * (profile["transfer_bytes"].to_numpy()[None, :] + 8)
                        + profile["device_param_bytes"].to_numpy()[None, :]) * 8
        self.tx_w = 10 ** ((net.ue_tx_power_dbm - 30) / 10)
        self.overhead_s = self.BATCH_OVERHEAD_S * math.ceil(self.samples.max() / cfg.batch_size)
        self.weight = cfg.energy_weight
        self.participation = cfg.choose_participation
        self.level_weights = np.array(cfg.share_levels, dtype=np.float64)
        self.level_combos = np.array(list(itertools.product(range(len(cfg.share_levels)), repeat=k)), dtype=np.int64)
        subsets = [s for s in itertools.product((0, 1), repeat=k) if any(s)] if self.participation else [(1,) * k]
        self.subsets = np.array(subsets, dtype=bool)

    def plan(self, rates_bps: np.ndarray, subsets: np.ndarray | None = None) -> tuple[list[int], list[int], list[int], float]:
        """(cuts, share level indices, participation flags, predicted cost) of the least predicted cost, over
        ``subsets`` of participants (default: every set the action allows)."""
        rates = np.maximum(np.asarray(rates_bps, dtype=np.float64), 1e3)  # a lost client: never worth waiting for
        weights = self.level_weights[self.level_combos]  # (combos, clients)
        best: tuple[float, Any] = (np.inf, None)
        for mask in self.subsets if subsets is None else subsets:
            fraction = self.samples[mask].sum() / self.samples.sum()
            shares = weights * mask / (weights * mask).sum(axis=1, keepdims=True)
            upload_s = self.ETA * self.up_bits[None] / (np.maximum(shares, 1e-12)[:, :, None] * rates[None, :, None])
            time = np.where(mask[None, :, None], self.compute_s[None] + upload_s, 0.0)  # (combos, clients, cuts)
            energy = np.where(mask[None, :, None], self.compute_j[None] + self.tx_w * upload_s, 0.0)
            cost = np.full(len(shares), np.inf)
            chosen = np.zeros(shares.shape, dtype=np.int64)
            for bound in time[:, mask].reshape(len(shares), -1).T:  # every predicted time as the round's bound
                allowed = time <= bound[:, None, None] * (1 + 1e-12)
                j = np.argmin(np.where(allowed, energy + 1e-9 * time, np.inf), axis=2)  # least energy within it
                feasible = np.take_along_axis(allowed, j[:, :, None], 2)[:, :, 0].all(axis=1)
                round_s = np.take_along_axis(time, j[:, :, None], 2)[:, :, 0].max(axis=1) + self.overhead_s
                spent = np.take_along_axis(energy, j[:, :, None], 2)[:, :, 0].sum(axis=1)
                value = np.where(feasible, (round_s + self.weight * spent) / fraction, np.inf)
                better = value < cost
                cost[better], chosen[better] = value[better], j[better]
            i = int(np.argmin(cost))
            if cost[i] < best[0]:
                best = (float(cost[i]), (self.cuts[chosen[i]].tolist(), self.level_combos[i].tolist(),
                                         mask.astype(int).tolist()))
        cuts, levels, flags = best[1]
        return [int(c) for c in cuts], [int(v) for v in levels], flags, best[0]

    def act(self, observation: Any, subsets: np.ndarray | None = None) -> np.ndarray:
        rates = np.asarray(observation["uplink_rate_mbps"], dtype=np.float64) * 1e6
        cuts, levels, flags, _ = self.plan(rates, subsets)
        return self.env.encode(cuts, levels, flags if self.participation else None)

    def __call__(self, observation: Any) -> np.ndarray:
        return self.act(observation)


class BestParticipationInHindsight(HindsightOracle):
    """Upper reference (``best_participation``): for the episode being played it replays the same seed, in a
    second environment, with the round planner (:class:`RoundPlannerPolicy`) free and with the planner held
    to each possible set of participants (2^K - 1), keeps the plan whose return is largest and plays it. No
    agent knows an episode's outcome in advance: which clients' channels and devices are worth a round is
    measured here, not predicted. Not a strict bound (a policy that changes the set, or cuts and shares
    the planner would not pick, could do better); at least as good as the round planner on every seed
    (it is one of the candidates), so the table shows how much a better participation choice could add."""

    def __init__(self, config: FslOrchestrationConfig, env: FslOrchestrationEnv | None = None) -> None:
        super().__init__(config, env)
        self._planner: RoundPlannerPolicy | None = None

    def __call__(self, observation: Any) -> np.ndarray:
        subsets = self.hindsight()
        if self._planner is None:
            self._planner = RoundPlannerPolicy(self.env)
        return self._planner.act(observation, subsets)

    def _search(self, run: int) -> np.ndarray | None:
        """The participant sets to plan over: None (the planner's own choice) or one set, the best in hindsight."""
        with FslOrchestrationEnv(self.config) as replay:
            planner = RoundPlannerPolicy(replay)
            candidates: list[np.ndarray | None] = [None, *(s[None] for s in planner.subsets)]
            self.returns = {
                "planner" if subsets is None else tuple(subsets[0].astype(int).tolist()):
                    play_episode(replay, functools.partial(planner.act, subsets=subsets), run)[0]
                for subsets in candidates}
        best = max(self.returns, key=self.returns.get)
        return None if best == "planner" else np.array([best], dtype=bool)

"""``ns6g/D2DRelay-v0``: pick UE-to-network relays and sidelink sub-channels for devices at the cell edge.

Scenario: ``ns3_scenarios/d2d-relay.cc`` on ns6g's RAN model and its D2D sidelink (docs/d2d-sidelink.md).
One gNB; ``remotes`` devices in the annulus ``remote_min_m .. remote_max_m`` around it (poor direct
uplink) and ``relays`` candidate relays in ``relay_min_m .. relay_max_m``, all static. Each remote sends
``remote_rate_mbps`` of UDP to the server behind the gNB, directly over its RAN uplink or through a relay:
remote -> relay over the sidelink (its own carrier), relay -> gNB over the relay's RAN uplink.

Action, ``MultiDiscrete``: entry i < remotes is remote i's relay (0 = direct, k = relay k - 1); with
``sidelink_mode="scheduled"`` and ``sidelink_scheduler="agent"`` entry ``remotes + i`` is the first of
the ``link_subchannels`` sub-channels of remote i's sidelink (mode 1, the gNB's grant). Otherwise the
sidelink's round robin (mode 1) or the UEs' sensing-based selection (mode 2) picks sub-channels.
With ``joint_action`` the action is one ``Discrete((relays + 1) ** remotes)`` value instead, the whole
assignment at once (remote i's relay is digit i in base relays + 1, remote 0 the most significant:
:func:`joint_relays`), so that a policy picks "every remote through relay k" as one choice rather than
through per-remote entries that must agree (docs/benchmarks.md, D2DRelay).
Observation (Dict): ``direct_cqi`` (remotes,) and ``direct_mbps`` (remotes,) the remote's uplink CQI and
rate with the whole carrier; ``sidelink_mbps`` (remotes, relays) noise-limited sidelink rate estimates and ``sidelink_snr_db`` the
SNR behind them;
``distance_m`` (remotes, relays); ``relay_cqi``, ``relay_uplink_mbps``, ``relay_load_kbytes`` (relays,);
``queue_kbytes`` (remotes,) bytes waiting at each remote.
Reward: ``delivered_mbps - energy_weight * ue_energy_mj`` over the decision interval: the remotes' UDP
payload received at the server (Mbit/s) and the transmit energy of every UE, remotes and relays (mJ,
power x airtime on the sidelink and the RAN uplink; ``energy_weight`` in Mbit/s per mJ). The remotes'
own energy counts, so "no relay" (a remote sending from the cell edge at full power) is not free.
Info: ``delivered_mbps``, ``delivered_kbytes``, ``direct_kbytes``, ``downlink_kbytes`` and
``downlink_sidelink_kbytes`` (the way back, with ``downlink_rate_mbps``), ``sidelink_kbytes``,
``relay_uplink_kbytes`` (per hop, decoded), ``relayed_remotes``, ``collisions``, ``half_duplex_losses``,
``sidelink_transmissions``, ``sidelink_failures``, ``ue_energy_mj`` (the reward's),
``relay_energy_mj`` (the relays' part), ``sidelink_sinr_db``,
``mean_delay_ms``. See
docs/d2d-relay.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
from pydantic import Field, model_validator

from ns6g.core.config import BandwidthHz, FastFading, FrequencyHz, GnbTxPowerDbm, Numerology, RadioScenario, ScenarioConfig, Shadowing
from ns6g.envs.base import ScenarioEnv
from ns6g.envs.multiagent import AgentSplit, split_observations
from ns6g.envs.policies import ConstantPolicy, Contender, HindsightOracle, Policy, play_episode

DIRECT = 0


class D2DRelayConfig(ScenarioConfig):
    scenario_name = "d2d-relay"

    remotes: int = Field(2, ge=1, le=64, description="remote devices at the cell edge")
    relays: int = Field(4, ge=1, le=64, description="candidate relay UEs nearer the gNB")
    scenario: RadioScenario = "UMi-StreetCanyon"
    frequency_hz: FrequencyHz = 7e9
    bandwidth_hz: BandwidthHz = 20e6
    numerology: Numerology = 1
    gnb_tx_power_dbm: GnbTxPowerDbm = 41.0
    fast_fading: FastFading = True
    shadowing: Shadowing = Field(True, description="shadowing on the RAN (TR 38.901) and the sidelink (TR 37.885)")
    remote_min_m: float = Field(300.0, ge=10, le=10_000, description="least remote-gNB distance (m)")
    remote_max_m: float = Field(400.0, ge=10, le=10_000, description="largest remote-gNB distance (m)")
    relay_min_m: float = Field(50.0, ge=10, le=10_000, description="least relay-gNB distance (m)")
    relay_max_m: float = Field(150.0, ge=10, le=10_000, description="largest relay-gNB distance (m)")
    sidelink_scenario: Literal["V2V-Urban", "V2V-Highway"] = Field(
        "V2V-Urban", description="TR 37.885 scenario of the UE-UE loss")
    sidelink_condition: Literal["3gpp", "los"] = Field(
        "3gpp", description="LOS state of UE-UE links: TR 37.885 LOS/NLOSv draws, or always LOS")
    sidelink_frequency_hz: float = Field(5.9e9, ge=0.5e9, le=100e9, description="sidelink carrier frequency (Hz)")
    sidelink_bandwidth_hz: BandwidthHz = Field(20e6, description="sidelink carrier bandwidth (Hz), at least one RB of 12 x 15 kHz")
    sidelink_numerology: Numerology = Field(1, description="sidelink numerology mu")
    subchannel_rbs: int = Field(10, ge=1, le=275, description="RBs per sidelink sub-channel")
    link_subchannels: int = Field(1, ge=1, le=275, description="sub-channels per remote -> relay sidelink")
    sidelink_tx_power_dbm: float = Field(23.0, ge=-30, le=40, description="UE sidelink transmit power (dBm)")
    sidelink_mode: Literal["scheduled", "autonomous"] = Field(
        "scheduled", description="sidelink resource allocation: scheduled (mode 1) or autonomous (mode 2)")
    sidelink_scheduler: Literal["agent", "rr"] = Field(
        "agent", description="mode 1: the agent grants sub-channels, or a round robin does")
    remote_rate_mbps: float = Field(5.0, ge=1e-3, le=10_000, description="offered uplink rate per remote (Mbit/s)")
    relay_rate_mbps: float = Field(0.0, ge=0, le=10_000, description="relays' own offered uplink rate (Mbit/s)")
    downlink_rate_mbps: float = Field(0.0, ge=0, le=10_000,
                                      description="offered downlink rate per remote, via its relay if any (Mbit/s)")
    packet_bytes: int = Field(1200, ge=64, le=60_000, description="UDP payload per packet (bytes)")
    decision_ms: float = Field(10.0, ge=0.5, le=10_000, description="time between decisions (ms)")
    episode_steps: int = Field(50, ge=1, le=10_000_000, description="decisions per episode")
    energy_weight: float = Field(0.1, ge=0, le=1e6, description="reward weight of relay energy (Mbit/s per mJ)")
    joint_action: bool = Field(
        False, description="one Discrete action over every relay assignment, (relays + 1) ** remotes values "
        "(remote i's relay is digit i in base relays + 1, remote 0 the most significant), instead of one "
        "MultiDiscrete entry per remote; not with sidelink_scheduler 'agent'")

    not_options = frozenset({"joint_action"})  # the environment encodes it; the scenario sees relays per remote
    MAX_JOINT_ACTIONS: ClassVar[int] = 65_536

    @model_validator(mode="after")
    def _geometry_and_carriers(self) -> D2DRelayConfig:
        from ns6g.radio.phy import check_carrier

        if self.remote_min_m >= self.remote_max_m:
            raise ValueError(f"remote_min_m: {self.remote_min_m} m must be below remote_max_m ({self.remote_max_m} m)")
        if self.relay_min_m >= self.relay_max_m:
            raise ValueError(f"relay_min_m: {self.relay_min_m} m must be below relay_max_m ({self.relay_max_m} m)")
        check_carrier(self.bandwidth_hz, self.numerology, self.frequency_hz)
        try:
            check_carrier(self.sidelink_bandwidth_hz, self.sidelink_numerology, self.sidelink_frequency_hz)
        except ValueError as exc:
            raise ValueError(f"sidelink_bandwidth_hz / sidelink_numerology / sidelink_frequency_hz: {exc}") from None
        if self.link_subchannels > self.subchannels:
            raise ValueError(f"link_subchannels: {self.link_subchannels} exceeds the sidelink's {self.subchannels} "
                             f"sub-channels of subchannel_rbs={self.subchannel_rbs} RBs")
        if self.joint_action and self.agent_grants_subchannels:
            raise ValueError("joint_action: the joint action covers relay choices only; use sidelink_scheduler 'rr' "
                             "or sidelink_mode 'autonomous'")
        if self.joint_action and (self.relays + 1) ** self.remotes > self.MAX_JOINT_ACTIONS:
            raise ValueError(f"joint_action: (relays + 1) ** remotes = {(self.relays + 1) ** self.remotes} actions "
                             f"exceed {self.MAX_JOINT_ACTIONS}; use one action entry per remote")
        if self.scenario == "RMa" and self.frequency_hz > 30e9:
            raise ValueError("frequency_hz: RMa is specified up to 30 GHz (TR 38.901)")
        return self

    @property
    def subchannels(self) -> int:
        """Sub-channels of the sidelink carrier (its RBs over ``subchannel_rbs``)."""
        from ns6g.radio.phy import carrier

        return carrier(self.sidelink_bandwidth_hz, self.sidelink_numerology, self.sidelink_frequency_hz).n_rb \
            // self.subchannel_rbs

    @property
    def agent_grants_subchannels(self) -> bool:
        return self.sidelink_mode == "scheduled" and self.sidelink_scheduler == "agent"


def joint_index(config: D2DRelayConfig, relays: np.ndarray) -> int:
    """The ``joint_action`` value of a relay assignment (entry i: remote i's relay, 0 = direct)."""
    return int(np.ravel_multi_index(tuple(int(r) for r in relays), (config.relays + 1,) * config.remotes))


def joint_relays(config: D2DRelayConfig, action: Any) -> np.ndarray:
    """The relay assignment (one entry per remote, 0 = direct) of a ``joint_action`` value; ValueError naming
    the action when it is not one."""
    size = (config.relays + 1) ** config.remotes
    value = np.asarray(action).reshape(-1)
    if value.size != 1 or not np.issubdtype(value.dtype, np.number) or not float(value[0]).is_integer():
        raise ValueError(f"action: {action!r} is not a joint relay assignment (one whole number in 0..{size - 1})")
    index = int(value[0])
    if not 0 <= index < size:
        raise ValueError(f"action: {index} is not a joint relay assignment (0..{size - 1})")
    return np.array(np.unravel_index(index, (config.relays + 1,) * config.remotes), dtype=np.int64)


class _RelayPolicy:
    """Shared part of the relay baselines: a relay choice per remote, sub-channels spread over remotes."""

    def __init__(self, config: D2DRelayConfig) -> None:
        self.config = config

    def choose(self, observation: Any) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, observation: Any) -> np.ndarray:
        relays = np.asarray(self.choose(observation), dtype=np.int64)
        if self.config.joint_action:
            return joint_index(self.config, relays)
        if not self.config.agent_grants_subchannels:
            return relays
        # Distinct sub-channels per remote while they last (mode 1 without collisions).
        width, starts = self.config.link_subchannels, self.config.subchannels - self.config.link_subchannels + 1
        grants = (np.arange(self.config.remotes) * width) % starts
        return np.concatenate([relays, grants.astype(np.int64)])


class NearestRelayPolicy(_RelayPolicy):
    """Every remote through the relay nearest to it (``distance_m``)."""

    def choose(self, observation: Any) -> np.ndarray:
        return np.argmin(np.asarray(observation["distance_m"]), axis=1) + 1


class BestTwoHopPolicy(_RelayPolicy):
    """Every remote through the relay with the largest min(sidelink rate, relay uplink rate), or direct when
    its own uplink rate is larger."""

    def choose(self, observation: Any) -> np.ndarray:
        two_hop = np.minimum(np.asarray(observation["sidelink_mbps"]),
                             np.asarray(observation["relay_uplink_mbps"])[None, :])
        best = np.argmax(two_hop, axis=1)
        direct = np.asarray(observation["direct_mbps"])
        return np.where(two_hop[np.arange(len(best)), best] > direct, best + 1, DIRECT)


class AirtimeTwoHopPolicy(_RelayPolicy):
    slack = 0.05  # options carrying within 5 % of the best count as equal; the least airtime wins
    """Two-hop selection that counts the RAN uplink's sharing: remotes pick in turn (the one with the
    poorest direct uplink first) the option with the largest expected rate, capped at the offered
    ``remote_rate_mbps``: through relay k, min(sidelink rate, the relay's uplink rate shared among the
    flows it already carries and its own); direct, the remote's uplink rate shared among the UEs on the
    RAN uplink. Ties go to the less loaded relay.

    The gNB's proportional-fair scheduler gives each backlogged UE about the same airtime, whatever it
    carries and however poor its channel. Best two-hop compares rates with the whole carrier on both sides:
    it keeps a remote direct whenever its own uplink rate beats the two-hop one, although that remote
    then holds an equal share of the airtime at a poor rate, and it sends remotes that see the same good
    relay through it together. The relays' own traffic (``relay_rate_mbps`` > 0) counts as one more flow
    on each relay. A load-balancing rule, not a built-in baseline."""

    def choose(self, observation: Any) -> np.ndarray:
        sidelink = np.asarray(observation["sidelink_mbps"], dtype=np.float64)
        uplink = np.asarray(observation["relay_uplink_mbps"], dtype=np.float64)
        direct = np.asarray(observation["direct_mbps"], dtype=np.float64)
        own = self.config.relay_rate_mbps > 0
        flows = np.full(len(uplink), 1.0 if own else 0.0)
        demand = self.config.remote_rate_mbps
        choice = np.zeros(len(direct), dtype=np.int64)
        order = np.argsort(direct, kind="stable")
        with np.errstate(divide="ignore"):
            for n, i in enumerate(order):
                # Direct: one more UE on the RAN uplink beside the relays in use and the remotes still to pick.
                on_ran = np.count_nonzero(flows) + (len(order) - n)
                rates = np.append(np.minimum(sidelink[i], uplink / (flows + 1.0)), direct[i] / on_ran)
                # Transmit airtime per bit (every UE sends at the same power): both hops, or the direct uplink.
                airtime = np.append(1.0 / sidelink[i] + 1.0 / uplink, 1.0 / direct[i])
                carried = np.minimum(rates, demand)
                best = np.flatnonzero(carried >= carried.max() * (1.0 - self.slack))
                k = int(best[np.argmin(airtime[best])])
                if k < len(uplink):
                    choice[i] = k + 1
                    flows[k] += 1.0
        return choice


class BestFixedAssignment(HindsightOracle, _RelayPolicy):
    """Upper reference: the best fixed relay assignment in hindsight. For the episode being played it tries
    every assignment of remotes to relays or direct ((relays + 1) ** remotes of them) on the same seed, in a
    second scenario process, keeps the one whose return is largest, and plays it. No agent knows an
    episode's outcome in advance; on a static topology with constant-rate traffic a fixed assignment is
    what a good policy converges to, so this is the ceiling of relay selection there (not a strict bound:
    a policy that switches could do a little better). Sub-channels as the baselines' (when the agent
    grants them). Small instances only (``MAX_ASSIGNMENTS``)."""

    MAX_ASSIGNMENTS = 256

    def __init__(self, config: D2DRelayConfig, env: D2DRelayEnv | None = None) -> None:
        if (config.relays + 1) ** config.remotes > self.MAX_ASSIGNMENTS:
            raise ValueError(f"BestFixedAssignment: (relays + 1) ** remotes = {(config.relays + 1) ** config.remotes} "
                             f"assignments exceed {self.MAX_ASSIGNMENTS}")
        super().__init__(config, env)

    def choose(self, observation: Any) -> np.ndarray:
        return self.hindsight()

    def _search(self, run: int) -> np.ndarray:
        import itertools

        assignments = [np.array(a, dtype=np.int64)
                       for a in itertools.product(range(self.config.relays + 1), repeat=self.config.remotes)]
        with D2DRelayEnv(self.config) as replay:
            self.returns = {tuple(a.tolist()): play_episode(replay, _Fixed(self.config, a), run)[0] for a in assignments}
        return np.array(max(self.returns, key=self.returns.get), dtype=np.int64)


class _Fixed(_RelayPolicy):
    def __init__(self, config: D2DRelayConfig, assignment: np.ndarray) -> None:
        super().__init__(config)
        self.assignment = assignment

    def choose(self, observation: Any) -> np.ndarray:
        return self.assignment


class D2DRelayEnv(ScenarioEnv):
    """Relay and sidelink sub-channel selection for cell-edge devices (UE-to-network relaying)."""

    scenario = "d2d-relay"
    config_class = D2DRelayConfig
    reward_summary = "delivered_mbps - energy_weight * ue_energy_mj"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.joint_action:  # the scenario still reads one relay per remote (joint_relays)
            self.action_space = gym.spaces.Discrete((self.config.relays + 1) ** self.config.remotes)

    def step_send(self, action: Any) -> None:
        super().step_send(joint_relays(self.config, action) if self.config.joint_action else action)

    def baseline_policies(self, seed: int = 0) -> dict[str, Policy]:
        """``direct``, ``nearest_relay``, ``best_two_hop`` and ``random``."""
        c = self.config
        direct = 0 if c.joint_action else np.zeros(len(self.action_space.nvec), dtype=np.int64)
        return {
            "direct": ConstantPolicy(direct),
            "nearest_relay": NearestRelayPolicy(c),
            "best_two_hop": BestTwoHopPolicy(c),
            **super().baseline_policies(seed),
        }

    def reference_policies(self, seed: int = 0) -> dict[str, Contender]:
        """Hand-written rules beyond the built-in baselines, for benchmark tables (``ns6g bench learn``):
        ``airtime_two_hop`` (:class:`AirtimeTwoHopPolicy`)."""
        return {"airtime_two_hop": Contender(AirtimeTwoHopPolicy(self.config))}

    def upper_reference_policies(self, seed: int = 0) -> dict[str, Contender]:
        """Oracles for benchmark tables: ``best_fixed_assignment`` (:class:`BestFixedAssignment`, the best
        fixed assignment in hindsight by exhaustive search), on instances of at most
        ``BestFixedAssignment.MAX_ASSIGNMENTS`` assignments (none otherwise)."""
        if (self.config.relays + 1) ** self.config.remotes > BestFixedAssignment.MAX_ASSIGNMENTS:
            return {}
        return {"best_fixed_assignment": Contender(BestFixedAssignment(self.config))}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        observation, info = super().reset(seed=seed, options=options)
        # The episode's ns-3 run number, for an oracle that replays it (BestFixedAssignment).
        self.episode_run, self.episode_count = info["rng_run"], getattr(self, "episode_count", 0) + 1
        return observation, info

    def agent_split(self) -> AgentSplit:
        """One agent per remote (``remote-<i>``) for :class:`ns6g.envs.multiagent.ParallelScenarioEnv`.

        Agent i observes its own rows (``direct_cqi``, ``direct_mbps``, ``queue_kbytes`` (1,),
        ``distance_m``, ``sidelink_mbps``, ``sidelink_snr_db`` (relays,)) and the relays' shared entries
        (``relay_cqi``, ``relay_uplink_mbps``, ``relay_load_kbytes``); it picks its relay (0 = direct),
        Discrete(relays + 1), and when the agent grants sub-channels also its first sub-channel:
        MultiDiscrete([relays + 1, sub-channel starts]).
        """
        c = self.config
        if c.joint_action:
            raise ValueError("joint_action: one action for every remote cannot be split among per-remote agents")
        agents = [f"remote-{i}" for i in range(c.remotes)]
        own = ["direct_cqi", "direct_mbps", "queue_kbytes", "distance_m", "sidelink_mbps", "sidelink_snr_db"]
        spaces, observe = split_observations(self.observation_space, agents, own)
        nvec = self.action_space.nvec
        grants = c.agent_grants_subchannels
        action_space = gym.spaces.MultiDiscrete([nvec[0], nvec[c.remotes]]) if grants else gym.spaces.Discrete(int(nvec[0]))

        def act(actions: Mapping[str, Any]) -> np.ndarray:
            chosen = [np.asarray(actions[a], dtype=np.int64).reshape(-1) for a in agents]
            relays = [int(x[0]) for x in chosen]
            return np.array(relays + ([int(x[1]) for x in chosen] if grants else []), dtype=np.int64)

        return AgentSplit(agents, spaces, {a: action_space for a in agents}, observe, act)

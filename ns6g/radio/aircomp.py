"""Over-the-air computation (AirComp): K clients send analog symbols at once on the same RBs and the
channel adds them up (review 002 Section 4.3). See docs/aircomp.md.

The abstraction, per round:

- **Channel.** Client k's power gain ``g_k`` (dB: ``-(path loss + shadowing) + fading``) comes from the
  compiled RAN's TR 38.901 model (:func:`ns6g.radio.channel.fast_fading`: ns-3's path loss, LoS state,
  shadowing and fast fading of the cell's scenario and carrier), for a client at horizontal distance
  ``d_k`` from the gNB, drawn uniformly over the cell's disk as ``fl-network`` places clients (10 m to the
  radius, UT at 1.5 m, BS at the scenario's default height). Every round is a new fast-fading realisation
  of the same links (same LoS state and shadowing: the clients do not move); the flat-fading gain of a
  round is the fading gain of the link's first RB. The draws come from a ``ran-query`` process of their own
  reset with ``RngRun`` from the seed: the same seed gives the same numbers.
- **Truncated channel inversion.** Every transmitting client sends ``x_k = sqrt(rho) / h_k * s_k`` with
  ``|h_k|^2 = g_k``, so all arrive with amplitude ``sqrt(rho)`` (aligned). ``rho`` (W per resource element,
  for unit-power symbols) is ``snr x N_RE`` with ``snr_db`` given, else ``P_max x g_th`` (the client at
  the threshold sends at ``P_max``). A client with ``g_k < g_eff = max(g_th, rho / P_max)`` does not
  transmit that round (truncated; :class:`AirCompRound` counts them). The symbols are scaled so that
  every client's mean symbol power is at most 1: its transmit power ``rho E|s_k|^2 / g_k <= rho / g_eff <=
  P_max``, never above ``tx_power_dbm`` (at most 23 dBm).
- **Receiver.** ``y = sum_k sqrt(rho) m_k s_k + n``: ``n`` complex Gaussian with the thermal noise of one
  resource element, ``N_RE = -174 dBm/Hz + 10 log10(subcarrier spacing) + noise_figure_db`` (the RAN's
  :func:`ns6g.radio.phy.noise_dbm`); ``m_k`` the
  residual misalignment of client k in that round, ``(1 + e_a) exp(j e_phi)`` with ``e_a ~ N(0,
  misalignment_amplitude_std)`` and ``e_phi ~ N(0, misalignment_phase_std_deg)``. The server divides by
  ``sqrt(rho)`` and by the number of transmitting clients: the noisy mean.
- **Air time.** ``n`` real values are ``ceil(n / 2)`` complex symbols over ``rbs`` RBs of 12 subcarriers
  x 14 OFDM symbols per slot: ``ceil(ceil(n / 2) / (rbs x 168))`` slots of ``1 ms / 2^numerology``. It
  does not depend on the number of clients.

Only numpy here (the radio layer loads no torch); the learner protocol ``fedavg-aircomp``
(:mod:`ns6g.learners.protocols.aircomp`) flattens model updates into the real vectors it takes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import Field

from ns6g.core.config import ScenarioConfig
from ns6g.radio import phy
from ns6g.radio._query import seeded
from ns6g.radio.channel import fast_fading, scenario_code

__all__ = ["AirCompOptions", "AirCompPhy", "AirCompRound", "MAX_TX_POWER_DBM", "RE_PER_RB_SLOT"]

#: the clients' transmit power limit (dBm), as in paper 003's setup and ``FlNetworkConfig``'s default
MAX_TX_POWER_DBM = 23.0
#: resource elements of one RB in one slot: 12 subcarriers x 14 OFDM symbols
RE_PER_RB_SLOT = 12 * 14
#: TR 38.901 default BS heights by scenario code (the fl-network scenario's, ran-propagation.cc)
_BS_HEIGHT_M = {0: 10.0, 1: 25.0, 2: 35.0, 3: 3.0}
_UT_HEIGHT_M = 1.5


class AirCompOptions(ScenarioConfig):
    """Options of the AirComp uplink (``protocol_options`` of ``fedavg-aircomp``). Units as named."""

    tx_power_dbm: float = Field(MAX_TX_POWER_DBM, ge=-40, le=MAX_TX_POWER_DBM,
                                description="client maximum transmit power P_max (dBm), at most 23 dBm")
    snr_db: float | None = Field(None, ge=-30, le=100,
                                 description="target receive SNR of one client's aligned signal per resource "
                                             "element (dB); clients whose gain cannot reach it at P_max do not "
                                             "transmit; None: set by truncation_gain_db (the client at the "
                                             "threshold sends at P_max)")
    truncation_gain_db: float = Field(-120.0, ge=-250, le=0,
                                      description="channel power gain (dB: -(path loss + shadowing) + fading) "
                                                  "below which a client does not transmit in a round")
    misalignment_amplitude_std: float = Field(0.0, ge=0, le=1,
                                              description="std of each transmitting client's residual amplitude "
                                                          "error per round (fraction of the aligned amplitude)")
    misalignment_phase_std_deg: float = Field(0.0, ge=0, le=180,
                                              description="std of each transmitting client's residual phase "
                                                          "error per round (degrees)")
    rbs: int = Field(0, ge=0, le=3300, description="RBs the analog upload occupies (0: every RB of the carrier)")
    noise_figure_db: float = Field(5.0, ge=0, le=30,
                                   description="gNB receiver noise figure (dB; the RAN's GnbNoiseFigure default)")


@dataclass(frozen=True)
class AirCompRound:
    """One round's channel and power plan. Per client of ``clients`` (in order): ``gain_db`` its channel
    power gain, ``transmits`` whether it sends, ``max_tx_power_dbm`` the power it would need for symbols of
    mean power 1 (at most P_max when it transmits; -inf when it does not). ``rho_w``: received power per
    client and resource element (W); ``noise_w``: noise power per resource element (W)."""

    round: int
    clients: tuple[int, ...]
    gain_db: np.ndarray
    transmits: np.ndarray
    max_tx_power_dbm: np.ndarray
    rho_w: float
    noise_w: float

    @property
    def transmitting(self) -> tuple[int, ...]:
        return tuple(c for c, t in zip(self.clients, self.transmits) if t)

    @property
    def truncated(self) -> tuple[int, ...]:
        return tuple(c for c, t in zip(self.clients, self.transmits) if not t)

    @property
    def snr_db(self) -> float:
        """Receive SNR of one client's aligned signal per resource element (dB)."""
        return 10 * math.log10(self.rho_w / self.noise_w)


def _dbm_to_w(dbm: float) -> float:
    return 10 ** ((dbm - 30) / 10)


class AirCompPhy:
    """The AirComp uplink of one cell.

    Args:
        options: :class:`AirCompOptions` (or a mapping of its fields).
        clients: number of clients (client 0 .. clients-1), each at its own distance from the gNB.
        scenario, frequency_hz, bandwidth_hz, numerology, cell_radius_m: the cell (as ``FlNetworkConfig``).
        seed: seed of the client distances, the ns-3 draws (``RngRun``) and the misalignment errors.
        rounds: rounds whose fading is drawn in one query at construction (later rounds draw further blocks).
        fading: False for path loss and shadowing only.
    """

    def __init__(self, options: AirCompOptions | dict | None = None, *, clients: int, scenario: str = "UMi-StreetCanyon",
                 frequency_hz: float = 3.5e9, bandwidth_hz: float = 20e6, numerology: int = 1,
                 cell_radius_m: float = 100.0, seed: int = 0, rounds: int = 1, fading: bool = True) -> None:
        self.options = AirCompOptions.from_user(options or {})
        if not (isinstance(clients, int) and clients >= 1):
            raise ValueError(f"clients must be an int >= 1, got {clients!r}")
        code = int(scenario_code(scenario))
        self.scenario, self.frequency_hz, self.fading = scenario, float(frequency_hz), bool(fading)
        self.carrier = phy.carrier(bandwidth_hz, numerology, frequency_hz)
        rbs = self.options.rbs or self.carrier.n_rb
        if rbs > self.carrier.n_rb:
            raise ValueError(f"rbs: {rbs} RBs asked for, the carrier ({bandwidth_hz / 1e6:g} MHz, numerology "
                             f"{numerology}) has {self.carrier.n_rb}")
        self.rbs = rbs
        self.seed = int(seed)
        self.clients = clients
        self.h_bs_m = _BS_HEIGHT_M[code]
        r_min = min(10.0, cell_radius_m)
        u = np.random.default_rng([self.seed, 0xA1C0]).random(clients)
        #: horizontal distance of every client from the gNB (m), uniform over the annulus [r_min, radius]
        self.distance_m = np.sqrt(r_min**2 + u * (cell_radius_m**2 - r_min**2))
        #: noise power of one resource element (W)
        self.noise_w = _dbm_to_w(float(phy.noise_dbm(self.carrier.scs_hz, self.options.noise_figure_db)))  # the RAN's own
        self.p_max_w = _dbm_to_w(self.options.tx_power_dbm)
        o = self.options
        if o.snr_db is None:
            self.rho_w = self.p_max_w * 10 ** (o.truncation_gain_db / 10)
            self.threshold_db = o.truncation_gain_db
        else:
            self.rho_w = self.noise_w * 10 ** (o.snr_db / 10)
            self.threshold_db = max(o.truncation_gain_db, 10 * math.log10(self.rho_w / self.p_max_w))
        self._block = max(1, int(rounds))
        self._gains: dict[int, np.ndarray] = {}  # block index -> (clients, block) gains (dB)

    # -- channel -------------------------------------------------------------------------------------
    def gains_db(self, round_index: int) -> np.ndarray:
        """Every client's channel power gain in round ``round_index`` (dB)."""
        block, offset = divmod(int(round_index), self._block)
        if block not in self._gains:
            # one link per client; times 1 s apart are consecutive fading realisations of it (RanChannel's
            # default realisation period), so round r sees realisation r of the block
            times = np.arange(self._block, dtype=np.float64)[None, :] * 1.0 + 1e-3
            with seeded((self.seed * 1009 + block + 1) % 2**63):
                reply = fast_fading(self.scenario, self.frequency_hz, self.distance_m[:, None], self.h_bs_m,
                                    _UT_HEIGHT_M, times, num_rbs=self.rbs, rb_bandwidth_hz=self.carrier.rb_bandwidth_hz,
                                    fading=self.fading)
            fading_db = np.asarray(reply["first_rb_gain_db"]) if self.fading else 0.0
            self._gains[block] = -np.asarray(reply["large_scale_loss_db"]) + fading_db
        return self._gains[block][:, offset].copy()

    def plan(self, round_index: int, clients: Sequence[int]) -> AirCompRound:
        """Who transmits in round ``round_index`` among ``clients`` and at what power (truncated inversion)."""
        clients = tuple(int(c) for c in clients)
        gain_db = self.gains_db(round_index)[list(clients)] if clients else np.zeros(0)
        transmits = gain_db >= self.threshold_db
        # P = rho / g in dB, not 10 ** and log10 over the array: numpy's AVX-512 kernels for those round
        # differently from its other ones, and a plan (profile mode's results) must not depend on the CPU
        rho_dbm = 10 * math.log10(self.rho_w) + 30
        power_dbm = np.where(transmits, rho_dbm - gain_db, -np.inf)
        return AirCompRound(round_index, clients, gain_db, transmits, power_dbm, self.rho_w, self.noise_w)

    # -- air time ------------------------------------------------------------------------------------
    def symbols(self, n_values: int) -> int:
        """Complex symbols that carry ``n_values`` real values (2 per symbol)."""
        return (int(n_values) + 1) // 2

    def slots(self, n_values: int) -> int:
        return math.ceil(self.symbols(n_values) / (self.rbs * RE_PER_RB_SLOT))

    def air_time_s(self, n_values: int) -> float:
        """Air time of one analog upload of ``n_values`` real values (s); the same for any number of clients."""
        return self.slots(n_values) * self.carrier.slot_s

    # -- the analog sum ----------------------------------------------------------------------------------
    def receive(self, plan: AirCompRound, values: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The server's estimate of the mean of the transmitting clients' real vectors ``values`` (one per
        client of ``plan.transmitting``, equal lengths), and each one's mean transmit power (dBm).

        Each client maps its vector to complex symbols (pairs of reals) and scales them by ``1 / A``, with
        ``A`` the largest RMS symbol amplitude among the clients (a scalar each reports digitally, a few
        bytes, not counted), so every symbol stream has mean power at most 1."""
        k = len(plan.transmitting)
        if len(values) != k:
            raise ValueError(f"receive: {len(values)} vectors for {k} transmitting clients")
        if k == 0:
            raise ValueError("receive: no client transmits in this round")
        n = int(np.asarray(values[0]).size)
        if any(np.asarray(v).size != n for v in values):
            raise ValueError("receive: the vectors differ in length")
        m = self.symbols(n)
        s = np.zeros((k, 2 * m), dtype=np.float64)
        for i, v in enumerate(values):
            s[i, :n] = np.asarray(v, dtype=np.float64).reshape(-1)
        sym = s[:, 0::2] + 1j * s[:, 1::2]
        rms = np.sqrt(np.mean(np.abs(sym) ** 2, axis=1))
        scale = float(rms.max())
        gains = plan.gain_db[plan.transmits]
        power_dbm = 10 * np.log10(np.maximum(self.rho_w * (rms / scale if scale > 0 else rms) ** 2 / 10 ** (gains / 10),
                                             1e-300)) + 30
        if scale == 0:
            return np.zeros(n), power_dbm
        rng = np.random.default_rng([self.seed, 0xA1C1, plan.round])
        o = self.options
        amp = 1 + o.misalignment_amplitude_std * rng.standard_normal(k)
        phase = np.deg2rad(o.misalignment_phase_std_deg) * rng.standard_normal(k)
        mis = amp * np.exp(1j * phase)
        y = math.sqrt(plan.rho_w) * (mis @ (sym / scale))
        noise = math.sqrt(plan.noise_w / 2) * (rng.standard_normal(m) + 1j * rng.standard_normal(m))
        estimate = (y + noise) * scale / (math.sqrt(plan.rho_w) * k)
        out = np.empty(2 * m)
        out[0::2], out[1::2] = estimate.real, estimate.imag
        return out[:n], power_dbm

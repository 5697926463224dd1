"""The RAN PHY abstraction (``ns3_scenarios/ran/model/ran-phy.h``), asked through the ran-query scenario.

Numerologies and carriers, thermal noise, link adaptation (SINR -> CQI -> MCS of TS 38.214's 256-QAM and
1024-QAM tables), transport block sizes (TS 38.214 5.1.3.2), the BLER abstraction and HARQ with chase
combining. Every number comes from the compiled C++ model, so plots show what the simulations use; see
docs/ran-phy.md for the model.

Array arguments broadcast together (numpy rules); a function given only scalars returns a scalar (or a
one-row table). Units: Hz, s, dB, dBm, bits, as the names say. Bad arguments raise ``ValueError`` with the
model's message.

Example::

    from ns6g.radio import phy
    c = phy.carrier(100e6, mu=1, frequency_hz=3.5e9)        # c.n_rb == 273
    la = phy.link_adaptation(np.arange(-10, 40, 0.1), table="1024qam")
    la.plot(x="sinr_db", y="spectral_efficiency")
"""

from __future__ import annotations

import functools

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ns6g.core.bridge import ScenarioError
from ns6g.radio._query import query, record_dtype, transient

__all__ = [
    "TABLES",
    "Carrier",
    "carrier",
    "carriers",
    "link_adaptation",
    "mcs_table",
    "tbs_bits",
    "tbs_details",
    "bler",
    "harq",
    "noise_dbm",
    "rb_sinr_db",
    "effective_sinr_db",
]

#: MCS/CQI table names and their index in the model: 256-QAM (TS 38.214 Tables 5.1.3.1-2 and 5.2.2.1-3)
#: and 1024-QAM (Tables 5.1.3.1-4 and 5.2.2.1-5).
TABLES: dict[str, int] = {"256qam": 0, "1024qam": 1}


def _table_index(table: str) -> int:
    if isinstance(table, str) and table.lower() in TABLES:
        return TABLES[table.lower()]
    raise ValueError(f"unknown MCS table {table!r}; use one of {list(TABLES)}")


def _ask(request: str, columns: Mapping[str, Any]) -> tuple[np.ndarray, tuple[int, ...]]:
    """Broadcasts the columns, checks integer fields, sends the query; returns the reply and the shape."""
    dtype = record_dtype(request)
    arrays = np.broadcast_arrays(*(np.asarray(v) for v in columns.values()))
    shape = arrays[0].shape if arrays else ()
    checked = {}
    for name, a in zip(columns, arrays):
        field = dtype[name]
        if field.kind in "iu":
            if a.dtype.kind == "f":
                if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
                    raise ValueError(f"{name} must be a whole number, got {a if a.ndim == 0 else a.ravel()[:5]}")
            elif a.dtype.kind not in "iub":
                raise ValueError(f"{name} must be a whole number, got dtype {a.dtype}")
            info = np.iinfo(field)
            if a.size and (a.min() < info.min or a.max() > info.max):
                raise ValueError(f"{name} must lie in {info.min}..{info.max}")
        checked[name] = a
    try:
        reply = query(request, checked)
    except ScenarioError as e:
        raise ValueError(str(e)) from e
    return reply, shape


def _shaped(values: np.ndarray, shape: tuple[int, ...]):
    """The reply column in the broadcast shape; a Python scalar for scalar arguments."""
    if shape == ():
        return values[0].item()
    return values.reshape(shape)


def _frame(reply: np.ndarray, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame({n: reply[n] for n in names})


def _tbs_or_reference(tbs: int | None) -> Any:
    return 0 if tbs is None else tbs


# ---------------------------------------------------------------------------------------------------
# Carriers


@dataclass(frozen=True)
class Carrier:
    """One carrier as the model builds it. Units as named; RB and RBG counts are whole numbers."""

    frequency_hz: float
    bandwidth_hz: float
    mu: int
    scs_hz: float
    slot_s: float
    rb_bandwidth_hz: float
    n_rb: int
    rbg_size: int
    n_rbg: int
    last_rbg_size: int
    transmission_bandwidth_hz: float
    guard_band_hz: float
    standard_bandwidth: bool

    def rbg_rb_counts(self) -> list[int]:
        """RBs in each RBG: rbg_size for all but the last, which holds last_rbg_size."""
        return [self.rbg_size] * (self.n_rbg - 1) + [self.last_rbg_size]


_CARRIER_COLUMNS = [
    "frequency_hz", "bandwidth_hz", "mu", "scs_hz", "slot_s", "rb_bandwidth_hz", "n_rb", "rbg_size", "n_rbg",
    "last_rbg_size", "transmission_bandwidth_hz", "guard_band_hz", "standard_bandwidth",
]


def check_carrier(bandwidth_hz: float, mu: int, frequency_hz: float, rbg_size: int = 0) -> None:
    """ValueError with the compiled PHY's reason if the carrier is invalid (for configuration checks:
    leaves no query process behind that it started). The verdict is kept per carrier for the life of
    the process: a configuration validated again (``from_user`` of an instance, every job of a sweep)
    costs no query process (~20 ms to start)."""
    valid, reason = _carrier_verdict(bandwidth_hz, mu, frequency_hz, rbg_size)
    if not valid:
        raise ValueError(f"bandwidth_hz / numerology / frequency_hz: {reason}")


@functools.lru_cache(maxsize=256)
def _carrier_verdict(bandwidth_hz: float, mu: int, frequency_hz: float, rbg_size: int) -> tuple[bool, str]:
    with transient():
        row = carriers(bandwidth_hz, mu, frequency_hz, rbg_size).iloc[0]
    return bool(row["valid"]), str(row["reason"])


def carriers(bandwidth_hz, mu, frequency_hz=3.5e9, rbg_size=0) -> pd.DataFrame:
    """Carriers for every broadcast combination, valid or not, one row each (flattened).

    Columns: those of :class:`Carrier`, plus ``valid`` (bool) and ``reason`` (why the model refuses the
    row; empty when valid). Invalid rows hold zeros in the numeric columns.

    Args:
        bandwidth_hz: channel bandwidth in Hz: a TS 38.101 channel bandwidth for the subcarrier spacing,
            or a whole number of RBs (N_RB x 12 x 15 kHz x 2^mu) without guard bands.
        mu: numerology 0..6 (subcarrier spacing 15 kHz x 2^mu).
        frequency_hz: center frequency in Hz (sets the bandwidth limit: 100 MHz up to 7.125 GHz, 400 MHz
            up to 100 GHz, 2 GHz above).
        rbg_size: RBG size in RBs; 0 for TS 38.214 Table 5.1.2.2.1-1 configuration 1.
    """
    reply, _ = _ask("carrier", {"frequency_hz": frequency_hz, "bandwidth_hz": bandwidth_hz, "mu": mu,
                                "rbg_size": rbg_size, "lenient": 1})
    df = _frame(reply, _CARRIER_COLUMNS)
    df["standard_bandwidth"] = df["standard_bandwidth"].astype(bool)
    df["valid"] = reply["valid"].astype(bool)
    df["reason"] = [r.decode() for r in reply["reason"]]
    return df


def carrier(bandwidth_hz: float, mu: int, frequency_hz: float = 3.5e9, rbg_size: int = 0) -> Carrier:
    """The carrier of one configuration; arguments as for :func:`carriers`.

    Raises:
        ValueError: the model refuses the configuration; the message says why (numerology out of range,
            bandwidth above the band's limit, bandwidth not a multiple of the RB bandwidth...).
    """
    for name, v in (("bandwidth_hz", bandwidth_hz), ("mu", mu), ("frequency_hz", frequency_hz), ("rbg_size", rbg_size)):
        if np.ndim(v) != 0:
            raise ValueError(f"carrier() takes scalars ({name} is an array); use carriers() for arrays")
    row = carriers(bandwidth_hz, mu, frequency_hz, rbg_size).iloc[0]
    if not row["valid"]:
        raise ValueError(row["reason"])
    values = {c: row[c].item() if hasattr(row[c], "item") else row[c] for c in _CARRIER_COLUMNS}
    return Carrier(**values)


# ---------------------------------------------------------------------------------------------------
# Link adaptation, TBS, BLER, HARQ


def link_adaptation(sinr_db, table: str = "256qam", tbs_bits: int | None = None) -> pd.DataFrame:
    """SINR -> CQI -> MCS, one row per SINR (flattened).

    The CQI is the highest whose (Q_m, code rate) keeps the BLER at or below 10% at that SINR for a
    transport block of ``tbs_bits`` bits (None: the model's reference, 8424 bits); the MCS is the highest
    whose spectral efficiency does not exceed the CQI's (CQI 1 -> MCS 0; CQI 0 -> MCS -1, nothing to send).

    Columns: ``sinr_db``, ``cqi``, ``mcs``, ``qm`` (bits/symbol), ``code_rate`` (0..1),
    ``spectral_efficiency`` (bit/s/Hz per layer, as tabulated), ``bler`` (of that MCS at that SINR),
    ``cqi_spectral_efficiency``. For MCS -1, qm, code_rate and spectral_efficiency are 0 and bler is 1.

    Args:
        sinr_db: effective SINR in dB (array-like).
        table: "256qam" or "1024qam".
        tbs_bits: reference transport block size in bits.
    """
    reply, _ = _ask("link_adaptation", {"sinr_db": sinr_db, "table": _table_index(table),
                                        "tbs_bits": _tbs_or_reference(tbs_bits)})
    return _frame(reply, ["sinr_db", "cqi", "mcs", "qm", "code_rate", "spectral_efficiency", "bler",
                          "cqi_spectral_efficiency"])


def mcs_table(table: str = "256qam", tbs_bits: int | None = None) -> pd.DataFrame:
    """The MCS table as the model holds it, with the SINR each MCS needs.

    Columns: ``mcs``, ``qm``, ``code_rate_x1024`` (as TS 38.214 tabulates it), ``code_rate``,
    ``spectral_efficiency``, ``required_sinr_db`` (lowest SINR in dB with BLER <= 10% for a transport
    block of ``tbs_bits`` bits; None: 8424).
    """
    t = _table_index(table)
    top, _ = _ask("mcs", {"table": t, "mcs": 0, "tbs_bits": _tbs_or_reference(tbs_bits)})
    reply, _ = _ask("mcs", {"table": t, "mcs": np.arange(int(top["max_mcs"][0]) + 1),
                            "tbs_bits": _tbs_or_reference(tbs_bits)})
    return _frame(reply, ["mcs", "qm", "code_rate_x1024", "code_rate", "spectral_efficiency", "required_sinr_db"])


def tbs_details(mcs, n_rb, n_symbols=14, n_layers=1, table: str = "256qam", dmrs_re_per_rb=12,
                overhead_re_per_rb=0) -> pd.DataFrame:
    """The steps of TS 38.214 5.1.3.2, one row per broadcast combination (flattened).

    Columns: ``tbs_bits``, ``n_re`` (data REs per layer, min(156, N_RE') x n_rb), ``n_info``,
    ``n_info_quantized``, ``n_code_blocks`` and ``base_graph`` (LDPC, TS 38.212). Arguments as for
    :func:`tbs_bits`.
    """
    reply, _ = _ask("tbs", _tbs_columns(mcs, n_rb, n_symbols, n_layers, table, dmrs_re_per_rb, overhead_re_per_rb))
    return _frame(reply, ["tbs_bits", "n_re", "n_info", "n_info_quantized", "n_code_blocks", "base_graph"])


def _tbs_columns(mcs, n_rb, n_symbols, n_layers, table, dmrs_re_per_rb, overhead_re_per_rb) -> dict:
    return {"mcs": mcs, "table": _table_index(table), "n_rb": n_rb, "n_symbols": n_symbols, "n_layers": n_layers,
            "dmrs_re_per_rb": dmrs_re_per_rb, "overhead_re_per_rb": overhead_re_per_rb}


def tbs_bits(mcs, n_rb, n_symbols=14, n_layers=1, table: str = "256qam", dmrs_re_per_rb=12,
             overhead_re_per_rb=0):
    """Transport block size in bits per TS 38.214 5.1.3.2.

    Args:
        mcs: MCS index (0..27 for 256-QAM, 0..26 for 1024-QAM).
        n_rb: scheduled RBs (>= 1).
        n_symbols: shared-channel OFDM symbols in the slot, 1..14.
        n_layers: MIMO layers of the codeword, 1..4.
        table: "256qam" or "1024qam".
        dmrs_re_per_rb: DMRS REs per RB in the scheduled symbols (12: one type-1 DMRS symbol).
        overhead_re_per_rb: higher-layer overhead REs per RB (xOverhead: 0, 6, 12 or 18).

    Returns:
        int for scalar arguments, else an integer array of the broadcast shape.
    """
    reply, shape = _ask("tbs", _tbs_columns(mcs, n_rb, n_symbols, n_layers, table, dmrs_re_per_rb, overhead_re_per_rb))
    return _shaped(reply["tbs_bits"].astype(np.int64), shape)


def bler(sinr_db, mcs, table: str = "256qam", tbs_bits: int | None = None, transmissions=1, channel_uses=0):
    """Block error rate of a transport block.

    Args:
        sinr_db: effective SINR of each transmission in dB.
        mcs: MCS index of the table.
        table: "256qam" or "1024qam".
        tbs_bits: transport block size in bits (None: the reference 8424).
        transmissions: chase-combined transmissions (1 = first transmission): the decoder sees
            transmissions x SINR (linear).
        channel_uses: REs x layers carrying the block (0: unknown, the MCS's nominal efficiency); when
            given, quantisation that packs bits tighter than the MCS raises the BLER accordingly.

    Returns:
        float for scalar arguments, else an array of the broadcast shape.
    """
    reply, shape = _ask("bler", {"sinr_db": sinr_db, "mcs": mcs, "table": _table_index(table),
                                 "tbs_bits": _tbs_or_reference(tbs_bits), "transmissions": transmissions,
                                 "channel_uses": channel_uses})
    return _shaped(reply["bler"], shape)


def harq(sinr_db, mcs, table: str = "256qam", tbs_bits: int | None = None, max_transmissions=4, channel_uses=0,
         n_trials=0, seed=1) -> pd.DataFrame:
    """HARQ with chase combining when every transmission sees the same effective SINR (flattened rows).

    Columns: ``first_bler``, ``residual_bler`` (block still lost after ``max_transmissions``),
    ``expected_transmissions``, and, with ``n_trials`` > 0, ``simulated_residual_bler`` and
    ``simulated_mean_transmissions`` from the C++ HarqProcess run on ``n_trials`` blocks with a
    Mersenne Twister seeded by ``seed`` (NaN without trials).
    """
    reply, _ = _ask("harq", {"sinr_db": sinr_db, "mcs": mcs, "table": _table_index(table),
                             "tbs_bits": _tbs_or_reference(tbs_bits), "max_transmissions": max_transmissions,
                             "channel_uses": channel_uses, "n_trials": n_trials, "seed": seed})
    return _frame(reply, ["first_bler", "residual_bler", "expected_transmissions", "simulated_residual_bler",
                          "simulated_mean_transmissions"])


def noise_dbm(rb_bandwidth_hz, noise_figure_db):
    """Thermal noise power in dBm: -174 dBm/Hz + 10 log10(bandwidth in Hz) + noise figure in dB."""
    reply, shape = _ask("noise", {"rb_bandwidth_hz": rb_bandwidth_hz, "noise_figure_db": noise_figure_db})
    return _shaped(reply["noise_dbm"], shape)


def rb_sinr_db(signal_dbm, noise_dbm, interference_mw=0.0):
    """SINR of one RB in dB: signal / (noise + interference).

    Args:
        signal_dbm: received signal power on the RB in dBm.
        noise_dbm: thermal noise power on the RB in dBm (see :func:`noise_dbm`).
        interference_mw: total power other cells put on the RB in mW (0 where they leave it unused).
    """
    reply, shape = _ask("rb_sinr", {"signal_dbm": signal_dbm, "noise_dbm": noise_dbm,
                                    "interference_mw": interference_mw})
    return _shaped(reply["sinr_db"], shape)


def effective_sinr_db(sinr_db, groups=None):
    """Effective SINR in dB of a transport block spread over RBs (MIESM, Gaussian-input information).

    ``2^(mean log2(1 + SINR_i)) - 1``: the SINR whose Shannon capacity is the RBs' mean capacity.

    Args:
        sinr_db: per-RB SINRs in dB (1-D).
        groups: optional 1-D integer labels, one per SINR: each group is averaged on its own.

    Returns:
        float without groups; else an array giving each SINR's group value.
    """
    sinr = np.asarray(sinr_db, dtype=float).ravel()
    if groups is None:
        reply, _ = _ask("effective_sinr", {"sinr_db": sinr, "group": 0})
        return float(reply["effective_sinr_db"][0]) if len(reply) else float("nan")
    groups = np.asarray(groups).ravel()
    if groups.shape != sinr.shape:
        raise ValueError(f"groups has {groups.size} labels for {sinr.size} SINRs")
    reply, _ = _ask("effective_sinr", {"sinr_db": sinr, "group": groups})
    return reply["effective_sinr_db"]

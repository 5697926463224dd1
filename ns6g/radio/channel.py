"""The RAN channel model's numbers, asked of the compiled C++ model (``ns3_scenarios/ran/model/ran-channel.*``).

Nothing here re-implements a formula: every value comes from the ``ran-query`` scenario, i.e. from
ns-3's own TR 38.901 models (``ThreeGpp*PropagationLossModel``, ``ThreeGpp*ChannelConditionModel``,
``ThreeGppChannelModel``) and ns6g's sub-THz extension, exactly as simulations use them. Inputs broadcast
like numpy arrays; a result is a float when every input is a scalar, else an ndarray of the broadcast shape.
A whole curve costs one round trip. See docs/ran-channel.md.

Bad values are refused: an unknown scenario name raises ``ValueError`` here; values the model refuses
(a frequency outside 0.5-300 GHz, RMa above 30 GHz, a negative distance, heights outside TR 38.901's
ranges...) raise ``ns6g.core.bridge.ScenarioError`` with the model's message, which names the field and value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ns6g.radio._query import query

__all__ = [
    "SCENARIOS",
    "channel_refresh_cost",
    "fast_fading",
    "gaseous_absorption_db_per_km",
    "los_probability",
    "pathloss_db",
    "scenario_code",
]

#: Accepted scenario names and their codes in the query records (the C++ enum ns6g::ran::Scenario).
SCENARIOS: dict[str, int] = {
    "UMi-StreetCanyon": 0,
    "UMi": 0,
    "UMa": 1,
    "RMa": 2,
    "InH-OfficeMixed": 3,
    "InH": 3,
}

_VALID = "UMi-StreetCanyon (or UMi), UMa, RMa, InH-OfficeMixed (or InH)"


def scenario_code(scenario: Any) -> np.ndarray:
    """Codes of one scenario name or an array of names; ``ValueError`` naming the value and the valid names."""
    names = np.asarray(scenario, dtype=object)
    codes = np.empty(names.shape, dtype=np.uint32)
    for index, name in np.ndenumerate(names):
        if not isinstance(name, str) or name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; valid names: {_VALID}")
        codes[index] = SCENARIOS[name]
    return codes


def _ask(request: str, reply_field: str | tuple[str, ...], columns: dict[str, Any]) -> Any:
    """Broadcast the columns, send one record per element, reshape the reply to the broadcast shape."""
    arrays = np.broadcast_arrays(*(np.asarray(v) for v in columns.values()))
    shape = arrays[0].shape
    flat = {name: a.reshape(-1) for name, a in zip(columns, arrays)}
    reply = query(request, flat)

    def shaped(field: str) -> Any:
        values = np.asarray(reply[field]).reshape(shape)
        return values.item() if shape == () else values

    if isinstance(reply_field, str):
        return shaped(reply_field)
    return {field: shaped(field) for field in reply_field}


def _flag(value: Any, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype != bool and not np.all(np.isin(array, (0, 1))):
        raise ValueError(f"{name} must be a bool (or 0/1), got {value!r}")
    return array.astype(np.uint8)


def pathloss_db(scenario: Any, freq_hz: Any, d2d_m: Any, h_bs_m: Any, h_ut_m: Any, los: Any) -> Any:
    """Path loss (dB) of a BS-UT link as the compiled model computes it, without shadowing.

    Up to 100 GHz: ns-3's TR 38.901 model of the scenario (Table 7.4.1-1; NLoS = max(LoS, NLoS')).
    Above 100 GHz (to 300 GHz): free-space loss plus ITU-R P.676 gaseous absorption, plus for NLoS the
    scenario's 38.901 NLoS excess frozen at 100 GHz.

    Args:
        scenario: "UMi-StreetCanyon"/"UMi", "UMa", "RMa" or "InH-OfficeMixed"/"InH" (or an array of them).
        freq_hz: carrier frequency (Hz), 0.5-300 GHz (RMa: 0.5-30 GHz).
        d2d_m: horizontal BS-UT distance (m).
        h_bs_m: BS antenna height (m).
        h_ut_m: UT antenna height (m).
        los: True for line of sight.
    """
    return _ask(
        "pathloss",
        "pathloss_db",
        {
            "scenario": scenario_code(scenario),
            "frequency_hz": np.asarray(freq_hz, dtype=np.float64),
            "d2d_m": np.asarray(d2d_m, dtype=np.float64),
            "h_bs_m": np.asarray(h_bs_m, dtype=np.float64),
            "h_ut_m": np.asarray(h_ut_m, dtype=np.float64),
            "los": _flag(los, "los"),
        },
    )


def los_probability(scenario: Any, d2d_m: Any, h_ut_m: Any = 1.5) -> Any:
    """LoS probability (TR 38.901 Table 7.4.2-1) from ns-3's channel-condition model of the scenario.

    The UT height matters for UMa only (<= 23 m there). InH is the mixed-office model.
    """
    return _ask(
        "los_probability",
        "probability",
        {
            "scenario": scenario_code(scenario),
            "d2d_m": np.asarray(d2d_m, dtype=np.float64),
            "h_ut_m": np.asarray(h_ut_m, dtype=np.float64),
        },
    )


def gaseous_absorption_db_per_km(freq_hz: Any) -> Any:
    """Sea-level gaseous attenuation (dB/km) of ITU-R P.676-12 (reference atmosphere), 0.5-300 GHz."""
    return _ask(
        "gaseous_absorption",
        "db_per_km",
        {"frequency_hz": np.asarray(freq_hz, dtype=np.float64)},
    )


def fast_fading(
    scenario: Any,
    freq_hz: Any,
    d2d_m: Any,
    h_bs_m: Any,
    h_ut_m: Any,
    time_s: Any,
    *,
    los: Any = None,
    gnb_array: tuple[int, int] = (1, 1),
    ue_array: tuple[int, int] = (1, 1),
    isotropic: bool = True,
    num_rbs: int = 52,
    rb_bandwidth_hz: float = 360e3,
    rb_group_size: int = 1,
    update_period_s: float = 0.0,
    realization_period_s: float = 0.0,
    scatterer_speed_mps: float = 0.0,
    ue_speed_mps: float = 0.0,
    fading: bool = True,
) -> dict[str, Any]:
    """Per-RB gains of one gNB-UE link of a compiled ``RanChannel``, summarised per evaluation time.

    Elements that differ only in ``time_s`` share one link (one channel evolving in simulated time, the
    gNB at the origin and the UE on its array's broadside); others get links of their own. Times count from
    the start of a fresh update and realization period. ``los``: True/False forces the state, None draws
    it with the scenario's 38.901 probability. Periods of 0 take RanChannel's defaults (10 ms and 1 s).

    Returns a dict of arrays (floats for scalar inputs): ``mean_gain_db`` (10 log10 of the RB-averaged
    linear gain, 0 dB on average for isotropic 1x1 arrays), ``min_gain_db``, ``max_gain_db``,
    ``first_rb_gain_db``, ``large_scale_loss_db`` (path loss + shadowing), ``epoch``, ``realization`` and
    ``los`` (the link's state).
    """
    if los is None:
        los_code: Any = 2
    else:
        los_code = _flag(los, "los")
    return _ask(
        "fast_fading",
        (
            "mean_gain_db",
            "min_gain_db",
            "max_gain_db",
            "first_rb_gain_db",
            "large_scale_loss_db",
            "epoch",
            "realization",
            "los",
        ),
        {
            "scenario": scenario_code(scenario),
            "frequency_hz": np.asarray(freq_hz, dtype=np.float64),
            "d2d_m": np.asarray(d2d_m, dtype=np.float64),
            "h_bs_m": np.asarray(h_bs_m, dtype=np.float64),
            "h_ut_m": np.asarray(h_ut_m, dtype=np.float64),
            "time_s": np.asarray(time_s, dtype=np.float64),
            "los": np.asarray(los_code, dtype=np.uint8),
            "gnb_rows": gnb_array[0],
            "gnb_columns": gnb_array[1],
            "ue_rows": ue_array[0],
            "ue_columns": ue_array[1],
            "isotropic": int(bool(isotropic)),
            "num_rbs": num_rbs,
            "rb_bandwidth_hz": rb_bandwidth_hz,
            "rb_group_size": rb_group_size,
            "update_period_s": update_period_s,
            "realization_period_s": realization_period_s,
            "scatterer_speed_mps": scatterer_speed_mps,
            "ue_speed_mps": ue_speed_mps,
            "fast_fading": int(bool(fading)),
        },
    )


def channel_refresh_cost(
    scenario: str = "UMi",
    *,
    freq_hz: float = 7.5e9,
    bandwidth_hz: float = 100e6,
    num_rbs: int = 273,
    rb_bandwidth_hz: float = 360e3,
    rb_group_size: int = 0,
    ues_per_cell: int = 100,
    isd_m: float = 200.0,
    gnb_array: tuple[int, int] = (4, 4),
    ue_array: tuple[int, int] = (1, 2),
    all_links: bool = False,
    updates: int = 20,
    update_period_s: float = 0.0,
    realization_period_s: float = 0.0,
    ue_speed_mps: float = 0.0,
    scatterer_speed_mps: float = 0.0,
) -> dict[str, float]:
    """Wall-clock cost of the compiled RanChannel's refreshes on a 7-site hexagonal layout.

    ``ues_per_cell`` UEs are dropped around each of 7 gNBs; every update period (``updates`` of them, after
    one uncounted warm-up) each link is asked for its large-scale loss and RB gains, as a RAN model would.
    Serving links only, or every gNB-UE pair with ``all_links``. Zero periods and group size take
    RanChannel's defaults.

    Returns ``realization_refresh_s`` (a refresh that draws new fast-fading realisations, NaN if none fell in
    the window), ``update_refresh_s`` (a refresh within a realisation: cache checks, plus Doppler
    re-evaluation of moving links), ``large_scale_refresh_s``, ``per_link_realization_us``,
    ``first_refresh_s``, ``links`` and ``evaluations`` (ns-3 fast-fading evaluations counted).
    """
    reply = _ask(
        "channel_refresh_cost",
        (
            "realization_refresh_s",
            "update_refresh_s",
            "large_scale_refresh_s",
            "per_link_realization_us",
            "first_refresh_s",
            "links",
            "evaluations",
        ),
        {
            "scenario": scenario_code(scenario),
            "frequency_hz": freq_hz,
            "bandwidth_hz": bandwidth_hz,
            "num_rbs": num_rbs,
            "rb_bandwidth_hz": rb_bandwidth_hz,
            "rb_group_size": rb_group_size,
            "ues_per_cell": ues_per_cell,
            "isd_m": isd_m,
            "gnb_rows": gnb_array[0],
            "gnb_columns": gnb_array[1],
            "ue_rows": ue_array[0],
            "ue_columns": ue_array[1],
            "all_links": int(bool(all_links)),
            "updates": updates,
            "update_period_s": update_period_s,
            "realization_period_s": realization_period_s,
            "ue_speed_mps": ue_speed_mps,
            "scatterer_speed_mps": scatterer_speed_mps,
        },
    )
    return {k: (int(v) if k in ("links", "evaluations") else float(v)) for k, v in reply.items()}

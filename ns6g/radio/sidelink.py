"""The D2D sidelink's settings, declared once for every scenario that carries one (``SidelinkHelper`` in
``ns3_scenarios/ran/helper/sidelink-helper.h``; the model is docs/d2d-sidelink.md): SplitInference's device
-> peer links, fl-network's client -> client links (horizontal collaborative inference) and
MultiAccessInference's vehicle -> vehicle links (with a 10 MHz carrier by default: :func:`sidelink_fields`)."""

from __future__ import annotations

import functools
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, create_model, model_validator


class SidelinkFields(BaseModel):
    """The sidelink carrier, its sub-channels, resource allocation mode and UE power (a config mixin).

    Each field's type carries its bounds and description (``Annotated``) and its default sits beside it, so
    that :func:`sidelink_fields` can give a config another default without declaring the field again."""

    sidelink_frequency_hz: Annotated[float, Field(
        ge=0.5e9, le=100e9, description="sidelink carrier frequency (Hz)")] = 5.9e9
    sidelink_bandwidth_hz: Annotated[float, Field(
        ge=180e3, le=2e9, description="sidelink carrier bandwidth (Hz), at least one RB of 12 x 15 kHz")] = 20e6
    sidelink_numerology: Annotated[int, Field(ge=0, le=6, description="sidelink numerology mu")] = 1
    sidelink_subchannel_rbs: Annotated[int, Field(ge=1, le=275, description="RBs per sidelink sub-channel")] = 10
    sidelink_mode: Annotated[Literal["scheduled", "autonomous"], Field(
        description="sidelink resource allocation: scheduled (mode 1, round robin) or autonomous (mode 2)",
    )] = "scheduled"
    sidelink_tx_power_dbm: Annotated[float, Field(ge=-30, le=40, description="UE sidelink transmit power (dBm)")] = 23.0

    @model_validator(mode="after")
    def _sidelink_carrier(self) -> SidelinkFields:
        valid, reason, n_rb = _sidelink_carrier(self.sidelink_bandwidth_hz, self.sidelink_numerology,
                                                self.sidelink_frequency_hz)
        if not valid:
            raise ValueError(f"sidelink_bandwidth_hz / sidelink_numerology / sidelink_frequency_hz: {reason}")
        if self.sidelink_subchannel_rbs > n_rb:
            raise ValueError(f"sidelink_subchannel_rbs: {self.sidelink_subchannel_rbs} RBs exceed the sidelink "
                             f"carrier's {n_rb} RBs")
        return self


def sidelink_fields(**defaults: Any) -> type[SidelinkFields]:
    """:class:`SidelinkFields` with other defaults for some of its fields, for a config whose scenario has
    its own (e.g. ``class MultiAccessConfig(ScenarioConfig, sidelink_fields(sidelink_bandwidth_hz=10e6))``).

    Only the default changes: each field keeps the mixin's one declaration (type, bounds, description)
    and the mixin's carrier check; the returned class is a subclass of :class:`SidelinkFields` (the same
    class for the same defaults), so ``isinstance`` and ``SidelinkFields.model_fields`` still find the
    fields. How: pydantic builds the subclass (``create_model``) from each field's declared ``Annotated``
    type with the new default, as a subclass that wrote ``name: <the same type> = default`` would; a
    config that redeclared the field instead would copy its bounds and description (the duplication this
    replaces). A default is validated as a user's value is, when the config is built (a ScenarioConfig
    validates its defaults). Without arguments: :class:`SidelinkFields` itself.

    Raises:
        TypeError: a name that is not one of SidelinkFields' fields.
    """
    unknown = sorted(set(defaults) - set(SidelinkFields.model_fields))
    if unknown:
        raise TypeError(f"sidelink_fields: {', '.join(unknown)} not among SidelinkFields' fields "
                        f"({', '.join(SidelinkFields.model_fields)})")
    return _with_defaults(tuple(sorted(defaults.items())))


@functools.lru_cache(maxsize=None)
def _with_defaults(defaults: tuple[tuple[str, Any], ...]) -> type[SidelinkFields]:
    if not defaults:
        return SidelinkFields
    # The declared type (Annotated with the Field: bounds, description) with another default, as a
    # subclass would write it; the mixin's own default sits on the class attribute, not in the type.
    hints = typing.get_type_hints(SidelinkFields, include_extras=True)
    return create_model("SidelinkFields_" + "_".join(key for key, _ in defaults), __base__=SidelinkFields,
                        __module__=__name__, **{key: (hints[key], value) for key, value in defaults})


@functools.lru_cache(maxsize=64)
def _sidelink_carrier(bandwidth_hz: float, mu: int, frequency_hz: float) -> tuple[bool, str, int]:
    """The compiled PHY's verdict on a sidelink carrier and its RBs, kept for the process (every config that
    carries the sidelink fields checks it; a query process costs ~20 ms and is not left behind)."""
    from ns6g.radio._query import transient
    from ns6g.radio.phy import carriers

    with transient():
        row = carriers(bandwidth_hz, mu, frequency_hz).iloc[0]
    valid = bool(row["valid"])
    return valid, str(row["reason"]), int(row["n_rb"]) if valid else 0

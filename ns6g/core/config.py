"""Validated scenario configuration.

Every scenario has a :class:`ScenarioConfig` subclass: typed fields with ranges and units (in the name
and the description). Validation happens in Python before any process starts; the validated values are
passed to the scenario as ``--kebab-case=value`` command-line options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator


class ConfigError(ValueError):
    """A configuration was refused; the message names every offending key."""


class ScenarioConfig(BaseModel):
    """Base class of scenario configurations: unknown keys, wrong types (a bool is not a number), NaN,
    infinities and out-of-range values fail. Every number field declares a finite range in its units."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_default=True,
                              allow_inf_nan=False)

    #: The scenario binary whose options these fields declare (None: a config not backed by one). The
    #: fields are the options' one declaration: ns6g.core.options_cpp renders the scenario's C++ options header
    #: and the docs table from them.
    scenario_name: ClassVar[str | None] = None
    #: Fields that are Python's only, not scenario options (e.g. a wall-clock timeout of the bridge).
    not_options: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def option_fields(cls) -> dict[str, Any]:
        """The fields that are scenario options (name -> pydantic FieldInfo), in declaration order."""
        return {name: field for name, field in cls.model_fields.items() if name not in cls.not_options}

    @field_validator("*", mode="before")
    @classmethod
    def _bool_is_not_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        # Strict mode keeps True out of int and float fields, but not out of Literal[1, 3, 7].
        if isinstance(value, bool) and cls.model_fields[info.field_name].annotation is not bool:
            raise ValueError("a bool is not a valid value here")
        return value

    @classmethod
    def from_user(cls, config: Mapping[str, Any] | ScenarioConfig | None = None, **overrides: Any) -> Self:
        """Validate a user's configuration (a mapping or an instance) with keyword overrides on top.

        Raises:
            ConfigError: naming each key that is unknown, of the wrong type or out of range.
        """
        if isinstance(config, cls):
            values = config.model_dump()
        elif config is None or isinstance(config, Mapping):
            values = dict(config or {})
        else:
            raise ConfigError(f"{cls.__name__}: expected a mapping of settings, got {type(config).__name__}")
        values.update(overrides)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                key = ".".join(str(part) for part in err["loc"]) or "(config)"
                if err["type"] == "extra_forbidden":
                    known = ", ".join(cls.model_fields)
                    problems.append(f"{key}: unknown key (known keys: {known})")
                else:
                    problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
            raise ConfigError(f"invalid {cls.__name__}: " + "; ".join(problems)) from None

    def to_args(self) -> list[str]:
        """The scenario's command-line options, e.g. ``['--link-rate-mbps=10.0', ...]``: every option field
        (not those in ``not_options``) as :func:`option_name` = :func:`option_value`.

        An empty string is left out (ns-3's CommandLine refuses ``--name=``): the scenario's default,
        which must then be the empty value too, applies.
        """
        values = self.model_dump(include=set(self.option_fields()))
        return [f"--{option_name(name)}={option_value(value)}" for name, value in values.items() if value != ""]


def option_name(field: str) -> str:
    """``link_rate_mbps`` -> ``link-rate-mbps``: the scenario option a config field is."""
    return field.replace("_", "-")


def option_value(value: Any) -> str:
    """A field's value as its option takes it: ``true``/``false``, a tuple of names comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


# The radio options, declared once: every radio scenario (ran-spectrum, d2d-relay, mec-offload, mec-split,
# fl-network) types its fields with these (type, range, unit, description) and picks its own default, e.g.
# ``frequency_hz: FrequencyHz = 3.5e9``. In C++ they fill ns6g::ran::RanRadioSettings (ran-helper.h).
RadioScenario = Annotated[Literal["UMi-StreetCanyon", "UMa", "RMa", "InH-OfficeMixed"],
                          Field(description="TR 38.901 scenario")]
FrequencyHz = Annotated[float, Field(ge=0.5e9, le=300e9, description="carrier frequency (Hz)")]
BandwidthHz = Annotated[float, Field(ge=180e3, le=2e9,
                                     description="carrier bandwidth (Hz), at least one RB of 12 x 15 kHz")]
Numerology = Annotated[int, Field(ge=0, le=6,
                                  description="NR numerology mu (subcarrier spacing 15 kHz * 2^mu, slot 1 ms / 2^mu)")]
FastFading = Annotated[bool, Field(description="3GPP fast fading on serving links")]
Shadowing = Annotated[bool, Field(description="38.901 shadowing")]
GnbTxPowerDbm = Annotated[float, Field(ge=-30, le=80, description="gNB transmit power (dBm)")]

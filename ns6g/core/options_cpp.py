"""Scenario options from their one declaration: the pydantic config class.

A :class:`~ns6g.core.config.ScenarioConfig` subclass that backs a scenario binary names it in ``scenario_name``;
this module renders from its fields (name, type, default, ``ge``/``le`` range, literal choices,
description with the unit) everything else the option needs:

* :func:`render_header`: the C++ header ``ns3_scenarios/options/<scenario>-options.h`` -- a struct of the
  members with their defaults, ``Register`` (every option on an ``ns3::CommandLine``) and ``Problems``
  (one sentence per option outside its range or choices);
* :func:`render_table`: the markdown table of the options in docs/options.md.

A user's config class (a scenario of their own, outside the package) gets its header the same way:
``python -m ns6g.core.options_cpp --config my_pkg.config:MyConfig --out my_pkg/scenarios`` writes
``my_pkg/scenarios/options/<scenario>-options.h`` (:func:`write_header`; ``--check`` only compares).

The headers and the docs page are committed (the build hashes them like any source; CMake builds without
Python); ``python -m ns6g.core.options_cpp --write`` (``make options``) rewrites them and a test fails when one
differs from what this module renders. Cross-field rules are not options: they stay hand-written in the
config's model_validator and, where the scenario's safety needs them, in its own short check.

Imports only ns6g.core.config, pydantic and the standard library (it sits in the bottom layer).
"""

from __future__ import annotations

import argparse
import importlib
import math
import re
import sys
import typing
from pathlib import Path

import annotated_types
from pydantic.fields import FieldInfo

from ns6g.core.build import scenario_source_dir
from ns6g.core.config import ScenarioConfig, option_name, option_value

ROOT = Path(__file__).resolve().parents[2]  # the repository (ns6g/core/options_cpp.py)
HEADER_DIR = scenario_source_dir() / "options"
DOCS_PAGE = ROOT / "docs" / "options.md"

#: Every scenario binary with a config class, as ``module:class`` (imported lazily, so this module stays
#: below envs/ and learners/; ran-query has no options).
CONFIGS = {
    "bridge-echo": "ns6g.envs.bridge_echo:BridgeEchoConfig",
    "link-control": "ns6g.envs.link_control:LinkControlConfig",
    "ran-spectrum": "ns6g.envs.spectrum_allocation:SpectrumAllocationConfig",
    "mec-offload": "ns6g.envs.mec_offload:MecOffloadConfig",
    "mec-split": "ns6g.envs.split_inference:SplitInferenceConfig",
    "d2d-relay": "ns6g.envs.d2d_relay:D2DRelayConfig",
    "multi-access": "ns6g.envs.multi_access:MultiAccessConfig",
    "fl-network": "ns6g.learners.cosim:FlNetworkConfig",
}


def config_class(scenario: str) -> type[ScenarioConfig]:
    """The config class of ``scenario`` (checks that it names that scenario)."""
    module, name = CONFIGS[scenario].split(":")
    cls = getattr(importlib.import_module(module), name)
    if cls.scenario_name != scenario:
        raise ValueError(f"{cls.__name__}.scenario_name is {cls.scenario_name!r}, not {scenario!r}")
    return cls


def camel(name: str) -> str:
    """``link_rate_mbps`` -> ``linkRateMbps`` (the C++ member)."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def struct_name(scenario: str) -> str:
    """``link-control`` -> ``LinkControlOptions``."""
    return "".join(part.capitalize() for part in scenario.split("-")) + "Options"


def bounds(field: FieldInfo) -> tuple[float | None, float | None]:
    """The field's inclusive (ge, le) range; None where it has none."""
    lo = hi = None
    for meta in field.metadata:
        if isinstance(meta, annotated_types.Ge):
            lo = meta.ge
        elif isinstance(meta, annotated_types.Le):
            hi = meta.le
        elif isinstance(meta, (annotated_types.Gt, annotated_types.Lt)):
            raise TypeError("options declare inclusive ranges (ge/le), not gt/lt")
    return lo, hi


def choices(field: FieldInfo) -> tuple | None:
    """The values of a Literal field, else None."""
    if typing.get_origin(field.annotation) is typing.Literal:
        return typing.get_args(field.annotation)
    return None


def cpp_type(field: FieldInfo) -> str:
    values = choices(field)
    kind = type(values[0]) if values else field.annotation
    if kind is bool:
        return "bool"
    if kind is int:
        return "int64_t"
    if kind is float:
        return "double"
    if kind is str or kind == tuple[str, ...]:  # a tuple of names travels comma-separated
        return "std::string"
    raise TypeError(f"no C++ type for {field.annotation!r}")


def cpp_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("option defaults and bounds are finite")
        text = repr(value)
        return text if any(c in text for c in ".e") else text + ".0"
    if isinstance(value, tuple):
        return cpp_literal(option_value(value))  # a tuple of names travels comma-separated
    if isinstance(value, str):
        if not re.fullmatch(r"[ -~]*", value) or '"' in value or "\\" in value:
            raise ValueError(f"option strings are plain printable ASCII: {value!r}")
        return f'"{value}"'
    raise TypeError(f"no C++ literal for {value!r}")


def number(value: float) -> str:
    """A bound as people read it: 0.001, 100000, 3.6e+06."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def range_text(field: FieldInfo) -> str:
    """``in [lo, hi]`` or ``one of a, b``; "" for a field without a range."""
    values = choices(field)
    if values:
        return "one of " + ", ".join(str(v) for v in values)
    lo, hi = bounds(field)
    if lo is None and hi is None:
        return ""
    return f"in [{number(lo) if lo is not None else '-inf'}, {number(hi) if hi is not None else 'inf'}]"


def help_text(field: FieldInfo) -> str:
    """The CommandLine description: the Field's (with its unit) and the range, without brackets that
    --PrintHelp's default could be mistaken for."""
    text = " ".join((field.description or "").split()).replace('"', "'")
    rng = range_text(field).replace("[", "").replace("]", "").replace(", ", " .. ", 1 if bounds(field) != (None, None) else 0)
    return f"{text}; {rng}" if rng else text


def _check(name: str, field: FieldInfo) -> str | None:
    """One line per option: ``Require(problems, <valid>, "<option> must be ...", <member>);``."""
    member = camel(name)
    values = choices(field)
    if values:
        valid = " || ".join(f"{member} == {cpp_literal(v)}" for v in values)
    else:
        lo, hi = bounds(field)
        # A comparison with NaN is false, so NaN is refused too.
        terms = ([f"{member} >= {cpp_literal(lo)}"] if lo is not None else []) + \
                ([f"{member} <= {cpp_literal(hi)}"] if hi is not None else [])
        if not terms:
            return None
        valid = " && ".join(terms)
    return f'        Require(problems, {valid}, "--{option_name(name)} must be {range_text(field)}", {member});\n'


SHIPPED_ORIGIN = """\
// GENERATED by `python -m ns6g.core.options_cpp --write` (make options) from {where};
// do not edit: change the config class and regenerate (tests/test_option_parity.py fails until then).
"""
USER_ORIGIN = """\
// GENERATED by `python -m ns6g.core.options_cpp --config {module}:{name} --out <this scenario folder>`
// from {where}; do not edit: change the config class and regenerate.
"""


def render_header(cls: type[ScenarioConfig], origin: str = SHIPPED_ORIGIN) -> str:
    """The C++ header of ``cls``'s options (see the module docstring); ``origin`` (SHIPPED_ORIGIN or
    USER_ORIGIN) opens it, saying how to regenerate it."""
    scenario = cls.scenario_name
    struct = struct_name(scenario)
    fields = cls.option_fields()
    members = "".join(
        f"    {cpp_type(f)} {camel(n)}{{{cpp_literal(f.default)}}}; //!< {(f.description or '').splitlines()[0]}\n"
        for n, f in fields.items())
    adds = "".join(f'        cmd.AddValue("{option_name(n)}", "{help_text(f)}", {camel(n)});\n' for n, f in fields.items())
    checks = "".join(c for n, f in fields.items() if (c := _check(n, f)))
    # A radio scenario's struct gets Radio(), Derive() and RadioProblems() from the one hand-written
    # template in radio-options.h, which copies whichever RanRadioSettings members the struct has.
    radio = "frequency_hz" in fields
    include = '#include "options/radio-options.h"\n' if radio else ""
    base = f" : ns6g::ran::RadioOptions<{struct}>" if radio else ""
    opening = origin.format(where=f"{cls.__module__}.{cls.__name__}", module=cls.__module__, name=cls.__name__)
    return f"""\
{opening}// Cross-field rules are not here: the config's model_validator holds them, and the scenario checks the
// ones its safety needs itself.
#pragma once

#include "options/option-support.h"
{include}
#include "ns3/command-line.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ns6g
{{

/** The options of the {scenario} scenario, with {cls.__name__}'s defaults. */
struct {struct}{base}
{{
    static constexpr const char* kScenario = "{scenario}";

{members}
    /** Registers every option (--{option_name(next(iter(fields)))}, ...) on `cmd`. */
    void Register(ns3::CommandLine& cmd)
    {{
{adds}    }}

    /** One sentence per option outside its range or choices (empty: all valid). */
    std::vector<std::string> Problems() const
    {{
        std::vector<std::string> problems;
{checks}        return problems;
    }}
}};

}} // namespace ns6g
"""


def render_table(cls: type[ScenarioConfig]) -> str:
    """The markdown table of ``cls``'s options: option, type, default, range, description."""
    rows = ["| option | type | default | range | description |", "|---|---|---|---|---|"]
    for name, field in cls.option_fields().items():
        kind = cpp_type(field).replace("int64_t", "int").replace("double", "float").replace("std::string", "str")
        default = f"`{field.default}`" if field.default != "" else '`""`'
        rows.append(f"| `{name}` | {kind} | {default} | {range_text(field)} | "
                    f"{(field.description or '').replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def render_docs() -> str:
    """docs/options.md: one table per scenario."""
    parts = ["# Scenario options\n\n",
             "Generated by `python -m ns6g.core.options_cpp --write` (`make options`) from the config classes; "
             "do not edit (a test compares). Python config keys use underscores, the scenario's command-line "
             "options the same names in kebab-case. Cross-field rules are in each config's docstring.\n"]
    for scenario in CONFIGS:
        cls = config_class(scenario)
        parts.append(f"\n## {scenario} (`{cls.__name__}`)\n\n{render_table(cls)}")
    return "".join(parts)


def rendered() -> dict[Path, str]:
    """Every generated file and the text it must hold."""
    files = {HEADER_DIR / f"{s}-options.h": render_header(config_class(s)) for s in CONFIGS}
    files[DOCS_PAGE] = render_docs()
    return files


def stale() -> list[Path]:
    """The generated files whose committed text differs from what the config classes render."""
    return [path for path, text in rendered().items() if not path.is_file() or path.read_text() != text]


def load_config(spec: str) -> type[ScenarioConfig]:
    """The config class ``module:Class`` names (a ScenarioConfig subclass with a scenario_name)."""
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"expected module:Class, got {spec!r}")
    cls = getattr(importlib.import_module(module), name, None)
    if not (isinstance(cls, type) and issubclass(cls, ScenarioConfig)):
        raise ValueError(f"{spec}: not a ScenarioConfig subclass")
    if not isinstance(getattr(cls, "scenario_name", None), str):
        raise ValueError(f"{spec}: names no scenario (set the ClassVar scenario_name to the .cc file's stem)")
    return cls


def user_header_path(cls: type[ScenarioConfig], scenario_dir: Path) -> Path:
    """Where the header of a user's config class goes in its scenario folder."""
    return Path(scenario_dir) / "options" / f"{cls.scenario_name}-options.h"


def render_user_header(cls: type[ScenarioConfig]) -> str:
    """The header of a user's config class (opened by USER_ORIGIN)."""
    return render_header(cls, USER_ORIGIN)


def write_header(cls: type[ScenarioConfig], scenario_dir: Path) -> Path:
    """Write the header of a user's config class into ``scenario_dir/options/``; returns its path."""
    path = user_header_path(cls, scenario_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_user_header(cls))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ns6g.core.options_cpp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the generated files (else: check them)")
    parser.add_argument("--config", metavar="MODULE:CLASS", help="a config class of your own (with --out)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="its scenario folder: writes DIR/options/<scenario>-options.h")
    parser.add_argument("--check", action="store_true", help="with --config: compare the header, do not write it")
    args = parser.parse_args(argv)
    if args.config or args.out:
        if not (args.config and args.out):
            parser.error("--config and --out go together")
        try:
            cls = load_config(args.config)
        except (ImportError, ValueError) as exc:
            parser.error(f"--config: {exc}")
        path = user_header_path(cls, args.out)
        if args.check:
            if not path.is_file() or path.read_text() != render_user_header(cls):
                print(f"stale: {path} (run without --check to regenerate)", file=sys.stderr)
                return 1
            return 0
        print(f"wrote {write_header(cls, args.out)}")
        return 0
    if args.write:
        HEADER_DIR.mkdir(exist_ok=True)
        for path, text in rendered().items():
            if not path.is_file() or path.read_text() != text:
                path.write_text(text)
                print(f"wrote {path.relative_to(ROOT)}")
        return 0
    old = stale()
    for path in old:
        print(f"stale: {path.relative_to(ROOT)} (run python -m ns6g.core.options_cpp --write)", file=sys.stderr)
    return 1 if old else 0


if __name__ == "__main__":
    sys.exit(main())

"""Each scenario option is declared once, in its pydantic config class; ns6g.core.options_cpp renders the
scenario's C++ options header and docs/options.md from it. These tests hold the binaries to it:

* the committed generated files are byte for byte what the config classes render now;
* every option a config passes is one the binary declares, with the same default (from the binary's own
  --PrintHelp), and every option the binary declares is a config field or listed below as supplied
  otherwise;
* the binary refuses a value just outside each option's range (or not among its choices) with exit code 2
  and a message naming the option, as the config refuses it before any process starts."""

import re
import subprocess

import pytest

from ns6g.core.build import scenario_binary
from ns6g.core.config import option_name
from ns6g.envs.bridge_echo import BridgeEchoConfig
from ns6g.envs.d2d_relay import D2DRelayConfig
from ns6g.envs.link_control import LinkControlConfig
from ns6g.envs.mec_offload import MecOffloadConfig
from ns6g.envs.multi_access import MultiAccessConfig
from ns6g.envs.spectrum_allocation import SpectrumAllocationConfig
from ns6g.envs.split_inference import SplitInferenceConfig
from ns6g.learners.cosim import FlNetworkConfig
from ns6g.core.options_cpp import CONFIGS as GENERATED, bounds, choices, config_class, rendered, stale

CONFIGS = {
    "bridge-echo": BridgeEchoConfig,
    "link-control": LinkControlConfig,
    "ran-spectrum": SpectrumAllocationConfig,
    "mec-offload": MecOffloadConfig,
    "mec-split": SplitInferenceConfig,
    "d2d-relay": D2DRelayConfig,
    "multi-access": MultiAccessConfig,
    "fl-network": FlNetworkConfig,
}
#: Options that are not config fields: the bridge's own, bridge-echo's socket transport (the benchmark's)
#: and the data files the environment adds.
SUPPLIED = {"ns6g-shm", "ns6g-spin-us", "socket", "catalogue", "profiles", "mobility-trace"}

_OPTION = re.compile(r"^\s+--([a-z0-9-]+):\s+(.*?)(?:\s+\[([^\[\]]*)\])?$")


def declared_options(scenario: str) -> dict[str, str | None]:
    """The binary's options and their printed defaults (None: printed without one, i.e. empty)."""
    out = subprocess.run([str(scenario_binary(scenario)), "--PrintHelp"], capture_output=True, text=True,
                         timeout=60).stdout
    program = out.split("Program Options:")[1].split("General Arguments:")[0]
    return {m[1]: m[3] for m in map(_OPTION.match, program.splitlines()) if m}


def same_value(python: str, cpp: str | None) -> bool:
    if cpp is None:
        return python == ""
    try:
        return float(python) == pytest.approx(float(cpp), rel=1e-6, abs=0)
    except ValueError:
        return python == cpp


@pytest.mark.parametrize("scenario", sorted(CONFIGS))
def test_config_fields_and_scenario_options_agree(scenario):
    config = CONFIGS[scenario]()
    passed = dict(arg[2:].split("=", 1) for arg in config.to_args() if arg.startswith("--"))
    empty = {option_name(name) for name, value in config.model_dump().items() if value == ""}  # left out
    declared = declared_options(scenario)
    assert set(passed) - set(declared) == set(), "the config passes options the scenario does not declare"
    assert set(declared) - set(passed) - empty - SUPPLIED == set(), "the scenario declares options no config field sets"
    assert all(declared[name] is None for name in empty), "empty config defaults the scenario fills in"
    wrong = {name: (value, declared[name]) for name, value in passed.items()
             if name not in SUPPLIED and not same_value(value, declared[name])}
    assert wrong == {}, "defaults differ (config, scenario)"


def test_every_scenario_config_is_generated():
    assert {s: config_class(s) for s in GENERATED} == CONFIGS


def test_generated_files_are_current():
    """The headers and docs/options.md are committed; this fails on any byte that differs from what the
    config classes render (regenerate with `python -m ns6g.core.options_cpp --write`, i.e. `make options`)."""
    assert rendered(), "nothing generated"
    assert [str(path) for path in stale()] == []


def outside(field) -> list:
    """Values just outside the field's range, or not among its choices."""
    values = choices(field)
    if values:
        return [2] if isinstance(values[0], int) else ["not-a-choice"]
    lo, hi = bounds(field)
    step = (lambda v: 1) if field.annotation is int else (lambda v: max(abs(v), 1.0) * 1e-6)
    return ([lo - step(lo)] if lo is not None else []) + ([hi + step(hi)] if hi is not None else [])


@pytest.mark.parametrize("scenario", sorted(CONFIGS))
def test_scenario_refuses_what_the_config_refuses(scenario):
    binary = str(scenario_binary(scenario))
    cls = CONFIGS[scenario]
    accepted = []
    for name, field in cls.option_fields().items():
        for value in outside(field):
            with pytest.raises(ValueError, match=name):  # the config refuses it ...
                cls.model_validate({name: value})
            run = subprocess.run([binary, f"--{option_name(name)}={value!r}".replace("'", "")], capture_output=True,
                                 text=True, timeout=60)
            if run.returncode != 2 or f"--{option_name(name)}" not in run.stderr:  # ... and so does the scenario
                accepted.append((name, value, run.returncode, run.stderr.strip()[-200:]))
    assert accepted == [], "the scenario does not refuse, by name, a value its config refuses"

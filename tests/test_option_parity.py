"""Each scenario option is declared twice today, in the pydantic config and in the scenario's CommandLine
(issue 14 will derive one from the other); this test holds them together: every option a config passes
is one the binary declares, with the same default, and every option the binary declares is either a
config field or listed below as supplied otherwise. The defaults come from the binary's own --PrintHelp."""

import re
import subprocess

import pytest

from ns6g.core.build import scenario_binary
from ns6g.envs.bridge_echo import BridgeEchoConfig
from ns6g.envs.d2d_relay import D2DRelayConfig
from ns6g.envs.link_control import LinkControlConfig
from ns6g.envs.mec_offload import MecOffloadConfig
from ns6g.envs.spectrum_allocation import SpectrumAllocationConfig
from ns6g.envs.split_inference import SplitInferenceConfig
from ns6g.learners.cosim import FlNetworkConfig

CONFIGS = {
    "bridge-echo": BridgeEchoConfig,
    "link-control": LinkControlConfig,
    "ran-spectrum": SpectrumAllocationConfig,
    "mec-offload": MecOffloadConfig,
    "mec-split": SplitInferenceConfig,
    "d2d-relay": D2DRelayConfig,
    "fl-network": FlNetworkConfig,
}
#: Options that are not config fields: the bridge's own, and the data files the environment adds.
#: Options that are not config fields: the bridge's own (bridge-echo's socket transport is the benchmark's),
#: and the data files the environment adds.
SUPPLIED = {"ns6g-shm", "ns6g-spin-us", "socket", "catalogue", "profiles"}

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
    empty = {name.replace("_", "-") for name, value in config.model_dump().items() if value == ""}  # left out
    declared = declared_options(scenario)
    assert set(passed) - set(declared) == set(), "the config passes options the scenario does not declare"
    assert set(declared) - set(passed) - empty - SUPPLIED == set(), "the scenario declares options no config field sets"
    assert all(declared[name] is None for name in empty), "empty config defaults the scenario fills in"
    wrong = {name: (value, declared[name]) for name, value in passed.items()
             if name not in SUPPLIED and not same_value(value, declared[name])}
    assert wrong == {}, "defaults differ (config, scenario)"

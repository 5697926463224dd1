"""``ns6g/BridgeEcho-v0``: the bridge with no network behind it, for diagnostics and benchmarks.

The scenario (``ns3_scenarios/bridge-echo.cc``) copies each action into the observation: with
``spaces="box"`` a float32 observation of ``obs_size`` values repeats the ``act_size`` action values;
with ``spaces="all"`` observation and action are one Dict of every space type, echoed bit for bit.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ns6g.core.config import ScenarioConfig
from ns6g.envs.base import ScenarioEnv


class BridgeEchoConfig(ScenarioConfig):
    scenario_name = "bridge-echo"

    spaces: Literal["box", "all"] = Field("box", description="'box' (float32 vectors) or 'all' (a Dict of every space type)")
    obs_size: int = Field(64, ge=1, le=1 << 26, description="observation length (values) for spaces='box'")
    act_size: int = Field(8, ge=1, le=1 << 20, description="action length (values) for spaces='box'")
    exit_after: int = Field(0, ge=0, le=2**32 - 1,
                            description="test knob: the scenario exits with code 3 on this step (0: never)")
    hang_after: int = Field(0, ge=0, le=2**32 - 1,
                            description="test knob: the scenario stops answering on this step (0: never)")
    step_us: int = Field(0, ge=0, le=10_000_000,
                         description="test knob: wall-clock microseconds every step takes (0: none), a slow peer")


class BridgeEchoEnv(ScenarioEnv):
    """Echoes actions into observations; reward is the step count; never terminates."""

    scenario = "bridge-echo"
    config_class = BridgeEchoConfig
    reward_summary = "the step count"

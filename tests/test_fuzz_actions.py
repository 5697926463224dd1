"""Fuzzing every action space: each action is refused in Python with an error naming the problem, or applied.

Per environment one running instance (reused across examples: only the action changes). Actions are
drawn valid (``space.sample()``) or broken in one way: a NaN, an infinity, a value beyond the bounds or the
dtype, a complex number, a non-integer for an integer space, a string, a wrong shape, a missing or extra
Dict key, no container at all. A valid action must be applied (the step completes); a broken one must
raise ValueError naming the (sub-)action, and the environment must still step afterwards.

Reproducible: hypothesis profile ``ns6g-fuzz`` (tests/test_fuzz_configs.py), fixed example counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from ns6g.envs.bridge_echo import BridgeEchoEnv
from ns6g.envs.d2d_relay import D2DRelayEnv
from ns6g.envs.fsl_orchestration import FslOrchestrationEnv
from ns6g.envs.link_control import LinkControlEnv
from ns6g.envs.mec_offload import MecOffloadEnv
from ns6g.envs.spectrum_allocation import SpectrumAllocationEnv
from ns6g.envs.split_inference import SplitInferenceEnv
from tests.test_fuzz_configs import FUZZ

BRIDGE = {"bridge_options": {"step_timeout_s": 60.0}}
ENVS: dict[str, tuple[Callable[[], gym.Env], int]] = {  # a fresh environment, examples
    "BridgeEcho-all": (lambda: BridgeEchoEnv(spaces="all", **BRIDGE), 60),
    "BridgeEcho-box": (lambda: BridgeEchoEnv(act_size=3, **BRIDGE), 25),
    "LinkControl": (lambda: LinkControlEnv(step_ms=10.0, **BRIDGE), 25),
    "SpectrumAllocation-rbg": (lambda: SpectrumAllocationEnv(ues=2, decision_slots=2, fast_fading=False, **BRIDGE), 20),
    "SpectrumAllocation-share": (lambda: SpectrumAllocationEnv(ues=2, decision_slots=2, fast_fading=False,
                                                               action_mode="share", **BRIDGE), 20),
    "MecOffload": (lambda: MecOffloadEnv(ues=2, cells=1, fast_fading=False, **BRIDGE), 20),
    "SplitInference": (lambda: SplitInferenceEnv(ues=2, fast_fading=False, **BRIDGE), 20),
    "D2DRelay": (lambda: D2DRelayEnv(remotes=2, relays=2, fast_fading=False, **BRIDGE), 20),
    "FslOrchestration": (lambda: FslOrchestrationEnv(clients=2, episode_rounds=1000, choose_participation=True,
                                                     network={"fast_fading": False}), 15),
}

VALID = "valid"


def _bounds(space: spaces.Space) -> tuple[np.ndarray, np.ndarray]:
    """Least and largest value of every entry of a non-Dict space."""
    if isinstance(space, spaces.Box):
        return space.low, space.high
    if isinstance(space, spaces.Discrete):
        return np.array(space.start), np.array(space.start + space.n - 1)
    if isinstance(space, spaces.MultiDiscrete):
        return np.zeros(space.shape, dtype=np.int64), space.nvec - 1
    return np.zeros(space.shape, dtype=np.int8), np.ones(space.shape, dtype=np.int8)


@st.composite
def leaf_actions(draw: st.DrawFn, space: spaces.Space) -> tuple[Any, str]:
    """(action, what is wrong with it or VALID) for a Box, Discrete, MultiDiscrete or MultiBinary space."""
    space.seed(draw(st.integers(0, 2**31 - 1)))
    valid = np.asarray(space.sample())
    low, high = _bounds(space)
    integer = not isinstance(space, spaces.Box) or space.dtype.kind in "iu"
    flat = valid.reshape(-1).copy()
    i = draw(st.integers(0, max(flat.size - 1, 0)))
    kind = draw(st.sampled_from(["valid", "valid-list", "nan", "inf", "above", "below", "complex", "fraction",
                                 "string", "shape", "scalar-none", "dtype-overflow"]))
    if kind == "valid":
        return valid, VALID
    if kind == "valid-list":
        return valid.tolist(), VALID
    if kind in ("nan", "inf"):
        bad = flat.astype(np.float64)
        bad[i] = np.nan if kind == "nan" else draw(st.sampled_from([np.inf, -np.inf]))
        return bad.reshape(valid.shape), kind
    if kind in ("above", "below"):
        edge = np.broadcast_to(high if kind == "above" else low, valid.shape).reshape(-1)[i]
        if not np.isfinite(edge):
            return valid, VALID
        step = 1 if integer else max(abs(float(edge)) * 1e-3, 1e-3)
        bad = flat.astype(np.float64 if not integer else np.int64)
        bad[i] = edge + step if kind == "above" else edge - step
        return bad.reshape(valid.shape), kind
    if kind == "complex":
        bad = flat.astype(np.complex128)
        bad[i] += 1j
        return bad.reshape(valid.shape), kind
    if kind == "fraction":
        if not integer:
            return valid, VALID
        return (flat.astype(np.float64) + 0.5).reshape(valid.shape), kind
    if kind == "string":
        return np.array([str(v) for v in flat]).reshape(valid.shape), kind
    if kind == "shape":
        shape = draw(st.sampled_from([(flat.size + 1,), (1, flat.size), (0,), (2, 2, 2)]))
        if shape == valid.shape or (isinstance(space, spaces.Discrete) and shape in ((1,), (1, 1))):
            return valid, VALID
        return np.zeros(shape, dtype=valid.dtype), kind
    if kind == "scalar-none":
        return None, kind
    # dtype-overflow: beyond what the space's dtype holds (an int beyond 64 bits; twice the float maximum,
    # which for float64 is an infinity)
    if integer:
        bad = np.array([int(v) for v in flat], dtype=object)
        bad[i] = 2**70
        return bad.reshape(valid.shape), kind
    bad = flat.astype(np.float64)
    bad[i] = float(np.finfo(space.dtype).max) * 2
    return bad.reshape(valid.shape), kind


@st.composite
def actions(draw: st.DrawFn, space: spaces.Space) -> tuple[Any, str]:
    if not isinstance(space, spaces.Dict):
        return draw(leaf_actions(space))
    parts = {name: draw(actions(child)) for name, child in space.spaces.items()}
    action = {name: a for name, (a, _) in parts.items()}
    broken = [f"{name}: {why}" for name, (_, why) in parts.items() if why != VALID]
    keys = draw(st.sampled_from(["same", "same", "same", "missing", "extra", "list"]))
    if keys == "missing":
        action.pop(draw(st.sampled_from(sorted(action))))
        broken.append("missing key")
    elif keys == "extra":
        action["bogus"] = 0
        broken.append("extra key")
    elif keys == "list":
        return list(action.values()), "not a dict"
    return action, "; ".join(broken) or VALID


@pytest.mark.parametrize("name", list(ENVS))
def test_every_action_is_refused_by_name_or_applied(name: str) -> None:
    make, examples = ENVS[name]
    env = make()
    try:
        env.reset(seed=1)
        space = env.action_space

        @settings(FUZZ, max_examples=examples)
        @given(case=actions(space))
        def check(case: tuple[Any, str]) -> None:
            action, why = case
            if why == VALID:
                _, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    env.reset(seed=2)
                return
            with pytest.raises(ValueError, match=r"action"):  # the message names the (sub-)action
                env.step(action)
            # The refusal is Python's, before the scenario ran: the environment still steps.
            _, _, terminated, truncated, _ = env.step(space.sample())
            if terminated or truncated:
                env.reset(seed=2)

        check()
    finally:
        env.close()

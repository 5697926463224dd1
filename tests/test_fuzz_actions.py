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
from ns6g.envs.multi_access import MultiAccessEnv
from ns6g.envs.fsl_orchestration import FslOrchestrationEnv
from ns6g.envs.link_control import LinkControlEnv
from ns6g.envs.mec_offload import MecOffloadEnv
from ns6g.envs.spectrum_allocation import SpectrumAllocationEnv
from ns6g.envs.split_inference import SplitInferenceEnv
from tests.test_fuzz_configs import FUZZ

BRIDGE = {"bridge_options": {"step_timeout_s": 60.0}}
EXAMPLES = 4  # per environment and kind of action: bounded CI time
ENVS: dict[str, Callable[[], gym.Env]] = {
    "BridgeEcho-all": lambda: BridgeEchoEnv(spaces="all", **BRIDGE),  # a Dict of every space type
    "BridgeEcho-box": lambda: BridgeEchoEnv(act_size=3, **BRIDGE),
    "LinkControl": lambda: LinkControlEnv(step_ms=10.0, **BRIDGE),
    "SpectrumAllocation-rbg": lambda: SpectrumAllocationEnv(ues=2, decision_slots=2, fast_fading=False, **BRIDGE),
    "SpectrumAllocation-share": lambda: SpectrumAllocationEnv(ues=2, decision_slots=2, fast_fading=False,
                                                              action_mode="share", **BRIDGE),
    "MecOffload": lambda: MecOffloadEnv(ues=2, cells=1, fast_fading=False, **BRIDGE),
    "SplitInference": lambda: SplitInferenceEnv(ues=2, fast_fading=False, **BRIDGE),
    "D2DRelay": lambda: D2DRelayEnv(remotes=2, relays=2, fast_fading=False, **BRIDGE),
    "MultiAccessInference": lambda: MultiAccessEnv(helpers=2, fast_fading=False, rsu_fail_at_s=1.0, **BRIDGE),
    "FslOrchestration": lambda: FslOrchestrationEnv(clients=2, episode_rounds=1000, choose_participation=True,
                                                    network={"fast_fading": False}),
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


LEAF_KINDS = ["valid", "valid-list", "nan", "inf", "above", "below", "complex", "fraction", "string", "shape",
              "none", "dtype-overflow"]
DICT_KINDS = ["missing-key", "extra-key", "list-not-dict"]


@st.composite
def leaf_actions(draw: st.DrawFn, space: spaces.Space, kind: str) -> tuple[Any, str]:
    """(action, what is wrong with it or VALID) for a Box, Discrete, MultiDiscrete or MultiBinary space:
    a sample broken in the way ``kind`` names (VALID where the space admits it, e.g. above an infinite bound)."""
    space.seed(draw(st.integers(0, 2**31 - 1)))
    valid = np.asarray(space.sample())
    low, high = _bounds(space)
    integer = not isinstance(space, spaces.Box) or space.dtype.kind in "iu"
    flat = valid.reshape(-1).copy()
    i = draw(st.integers(0, max(flat.size - 1, 0)))
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
        edge = int(edge) if integer else float(edge)  # not the space's dtype: uint8 255 + 1 would wrap
        step = 1 if integer else max(abs(edge) * 1e-3, 1e-3)
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
    if kind == "none":
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
def actions(draw: st.DrawFn, space: spaces.Space, kind: str) -> tuple[Any, str]:
    """(action, what is wrong with it or VALID); in a Dict one leaf (or the keys) is broken, the others are
    valid, so that a refusal can only come from that one."""
    if not isinstance(space, spaces.Dict):
        if kind in DICT_KINDS:  # a mapping where the space is not a Dict
            return {"action": draw(leaf_actions(space, "valid"))[0]}, "a dict for a non-Dict space"
        return draw(leaf_actions(space, kind))
    names = list(space.spaces)
    target = draw(st.sampled_from(names))
    parts = {name: draw(actions(child, kind if name == target else "valid")) for name, child in space.spaces.items()}
    action = {name: a for name, (a, _) in parts.items()}
    why = next((f"{name}: {w}" for name, (_, w) in parts.items() if w != VALID), VALID)
    if kind == "missing-key":
        action.pop(target)
        why = kind
    elif kind == "extra-key":
        action["bogus"] = 0
        why = kind
    elif kind == "list-not-dict":
        return list(action.values()), kind
    return action, why


@pytest.fixture(scope="module", params=list(ENVS))
def env(request: pytest.FixtureRequest) -> gym.Env:
    """One running environment per kind of action space, shared by the tests (only the action changes)."""
    env = ENVS[request.param]()
    env.reset(seed=1)
    yield env
    env.close()


def _step(env: gym.Env, action: Any) -> None:
    _, _, terminated, truncated, _ = env.step(action)
    if terminated or truncated:
        env.reset(seed=2)


@pytest.mark.parametrize("kind", LEAF_KINDS + DICT_KINDS)
def test_every_action_is_refused_by_name_or_applied(env: gym.Env, kind: str) -> None:
    space = env.action_space

    @settings(FUZZ, max_examples=EXAMPLES)
    @given(case=actions(space, kind))
    def check(case: tuple[Any, str]) -> None:
        action, why = case
        if why == VALID:
            _step(env, action)
            return
        with pytest.raises(ValueError, match=r"action"):  # the message names the (sub-)action
            env.step(action)

    check()
    _step(env, space.sample())  # the refusals were Python's, before the scenario ran: it still steps

"""Zero-copy observation reads: ``Bridge.read_observation(copy=False)`` returns read-only views over the shared
segment, overwritten by the next exchange; the default (and every Gymnasium env) returns owned copies."""

import gymnasium as gym
import numpy as np
import pytest

from ns6g.core.bridge import CMD_STEP, Bridge

import ns6g.envs  # noqa: F401  (registers the environments)


def _leaves(value, path=""):
    """(path, leaf) pairs of an observation, Dict leaves in key order."""
    if isinstance(value, dict):
        for name in value:
            yield from _leaves(value[name], f"{path}/{name}")
    else:
        yield path, value


def _discrete_paths(space, path=""):
    """Paths of the Discrete leaves of ``space`` (read as np.int64 scalars, never as views)."""
    if isinstance(space, gym.spaces.Dict):
        return {p for name, child in space.spaces.items() for p in _discrete_paths(child, f"{path}/{name}")}
    return {path} if isinstance(space, gym.spaces.Discrete) else set()


def test_box_view_has_the_copys_values_and_is_overwritten_by_the_next_exchange(echo_binary):
    with Bridge(echo_binary, ["--obs-size=1000", "--act-size=8"]) as b:
        b.reset(1)
        first = np.arange(8, dtype=np.float32) + 1.0
        b.step(first)
        view, copy = b.read_observation(copy=False), b.read_observation()
        assert view.dtype == copy.dtype == np.float32 and view.shape == copy.shape == (1000,)
        assert np.array_equal(view, copy) and np.array_equal(copy, np.tile(first, 125))
        assert not view.flags.writeable and copy.flags.writeable and copy.flags.owndata
        assert not np.shares_memory(view, copy)
        assert b.read_observation(copy=False) is view  # built once at start-up, not per call

        second = -first  # every value differs from the first step's
        b.step(second)
        # The lifetime, as documented: the view now shows the new observation; the copy kept the old one.
        assert np.array_equal(view, np.tile(second, 125))
        assert np.array_equal(copy, np.tile(first, 125))

        b.write_action(first)  # a bare exchange overwrites it too
        b.exchange(CMD_STEP)
        assert np.array_equal(view, np.tile(first, 125))


def test_writing_into_a_view_raises_numpys_read_only_error(echo_binary):
    with Bridge(echo_binary, ["--obs-size=16", "--act-size=8"]) as b:
        b.reset(1)
        view = b.read_observation(copy=False)
        with pytest.raises(ValueError, match="read-only"):
            view[0] = 1.0
        with pytest.raises(ValueError, match="read-only"):
            view += 1.0
        with pytest.raises(ValueError, match="read-only"):
            np.copyto(view, 2.0)
        with pytest.raises(ValueError):  # nor can the flag be turned back on
            view.flags.writeable = True
        assert not view.reshape(4, 4).flags.writeable  # views of the view stay read-only
        assert np.array_equal(view, np.zeros(16, dtype=np.float32))  # nothing reached the segment


def test_every_space_type_reads_without_a_copy(echo_binary):
    with Bridge(echo_binary, ["--spaces=all"]) as b:
        space = b.observation_space
        space.seed(0)
        b.reset(3)
        assert space.contains(b.read_observation(copy=False))
        first, second = space.sample(), space.sample()
        b.step(first)
        view, copy = b.read_observation(copy=False), b.read_observation()
        assert list(_leaves(view)) and [p for p, _ in _leaves(view)] == [p for p, _ in _leaves(copy)]
        assert space.contains(view)
        discrete = _discrete_paths(space)
        assert discrete == {"/disc", "/nested/k"}
        for (path, v), (_, c) in zip(_leaves(view), _leaves(copy)):
            if path in discrete:  # Discrete: the same scalar as a copy
                assert type(v) is type(c) is np.int64 and v == c
                continue
            assert isinstance(v, np.ndarray) and not v.flags.writeable, path
            assert v.dtype == c.dtype and v.shape == c.shape and v.tobytes() == c.tobytes(), path
            with pytest.raises(ValueError, match="read-only"):
                v[...] = c
        assert b.read_observation(copy=False) is not view  # a new dict each call (of the same views)
        assert b.read_observation(copy=False)["box_f32"] is view["box_f32"]

        b.step(second)
        now = b.read_observation()
        for (path, v), (_, c), (_, n) in zip(_leaves(view), _leaves(copy), _leaves(now)):
            if path in discrete:
                continue  # a scalar, not a view: it keeps its value
            assert v.tobytes() == n.tobytes(), path  # every view shows the second step's observation
        for path, a, c in ((p, np.asarray(a), np.asarray(c)) for (p, a), (_, c) in zip(_leaves(first), _leaves(copy))):
            assert a.tobytes() == c.astype(a.dtype).tobytes(), path  # the copy still holds the first
        assert view["box_f32"].tobytes() != copy["box_f32"].tobytes()  # so the view did change


def test_gymnasium_envs_return_owned_copies():
    env = gym.make("ns6g/BridgeEcho-v0", obs_size=16)
    try:
        obs, _ = env.reset(seed=1)
        action = np.arange(8, dtype=np.float32) + 1.0
        obs, *_ = env.step(action)
        assert obs.flags.writeable and obs.flags.owndata
        kept = obs.copy()
        env.step(-action)
        assert np.array_equal(obs, kept)  # the next step did not touch it
        obs[0] = 42.0  # and it is the caller's to change
    finally:
        env.close()

"""A Stable-Baselines3 vector environment whose environments are Ray actors, on one machine or a cluster.

Each sub-environment lives in its own Ray actor (one Python worker process, on whichever node of the
cluster Ray places it; spread over the nodes), which builds the environment from a pickled factory and so
starts its own scenario process beside it. The learner stays in the calling process: ``step_async`` sends
every actor its action at once and ``step_wait`` gathers the results, so the scenarios of all workers
simulate their steps at the same time, as in :class:`ns6g.envs.vec_env.BridgeVecEnv`. Everything else
SB3 and ns6g call on a vector environment works through the actors: ``env_method("action_masks")``
(MaskablePPO), ``get_attr``/``set_attr``, ``env_is_wrapped`` and seeding (env i gets ``seed + i`` at its
next reset, as for any SB3 vector environment).

Ray is imported when the vector is made, not when this module is: ns6g works without Ray installed, and
a vector made without it raises :class:`RayBackendError` naming the ``ray`` extra.

Clean shutdown: ``close()`` closes every environment in its actor (its scenario process ends and its
run directory is finished) and kills the actors; an actor that died or does not answer within
``close_timeout_s`` is killed anyway (its scenario's watchdog then ends the scenario: it exits once its
Python side is gone, and the shared-memory segment was unlinked when the scenario started). A failure
while the vector is made closes what was made. If this vector connected to Ray (``ray.init``), ``close()``
disconnects; a connection the caller made is left alone.

>>> venv = RayVecEnv([partial(make_env, "ns6g/LinkControl-v0")] * 4, address="auto")  # doctest: +SKIP
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

RAY_EXTRA = "pip install 'ns6g[ray]'"


class RayBackendError(ValueError):
    """The Ray backend cannot run: Ray is missing, the cluster cannot be reached, or it is too small."""


def import_ray():
    """The ``ray`` module, or :class:`RayBackendError` naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise RayBackendError(f"the Ray backend needs Ray, which is not installed: {RAY_EXTRA}") from None
    return ray


def check_address(address: str | None) -> None:
    """Raise :class:`RayBackendError` unless ``address`` is None (start a local Ray instance), ``"auto"``
    (the cluster this machine belongs to: ``RAY_ADDRESS`` or the one ``ray start`` made here),
    ``"HOST:PORT"`` (a cluster's GCS, as ``ray start --head`` prints it) or ``"ray://HOST:PORT"`` (Ray
    Client), and, for the last two, a TCP connection to HOST:PORT succeeds within ``timeout_s`` seconds: a
    wrong address is refused at once, not after Ray's own minute of retries."""
    if address is None or address == "auto":
        return
    if not isinstance(address, str):
        raise RayBackendError(f"--address must be 'auto', HOST:PORT or ray://HOST:PORT (got {address!r})")
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in hostport:
        raise RayBackendError(f"--address {address!r} is not a Ray cluster address: give 'auto', HOST:PORT "
                              "(the head node's GCS address that `ray start --head` prints) or ray://HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5.0):
            pass
    except OSError as exc:
        raise RayBackendError(f"no Ray cluster answers at {address} ({exc.strerror or exc}): start one with "
                              f"`ray start --head` there, or give its address") from None


class _EnvWorker:
    """One environment in a Ray actor (the class is made a Ray actor class when Ray is imported)."""

    def __init__(self, env_fn: Callable[[], gym.Env]) -> None:
        from stable_baselines3.common.vec_env.patch_gym import _patch_env

        self.env = _patch_env(env_fn())

    def info(self) -> dict[str, Any]:
        """Where this worker runs and what its environment is: spaces, node, pid, scenario pid."""
        import os

        import ray

        bridge = getattr(self.env.unwrapped, "_bridge", None)
        return {"observation_space": self.env.observation_space, "action_space": self.env.action_space,
                "node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
                "scenario_pid": bridge.pid if bridge is not None else None}

    def step(self, action: Any) -> tuple:
        observation, reward, terminated, truncated, info = self.env.step(action)
        done = terminated or truncated
        info["TimeLimit.truncated"] = truncated and not terminated
        reset_info: dict[str, Any] = {}
        if done:  # as SB3's vector environments do: the next episode starts at once
            info["terminal_observation"] = observation
            observation, reset_info = self.env.reset()
        return observation, reward, done, info, reset_info

    def reset(self, seed: int | None, options: dict | None) -> tuple:
        return self.env.reset(seed=seed, **({"options": options} if options else {}))

    def render(self) -> Any:
        return self.env.render()

    def get_attr(self, name: str) -> Any:
        return self.env.get_wrapper_attr(name)

    def has_attr(self, name: str) -> bool:
        try:
            self.env.get_wrapper_attr(name)
        except AttributeError:
            return False
        return True

    def set_attr(self, name: str, value: Any) -> None:
        setattr(self.env, name, value)

    def env_method(self, name: str, args: tuple, kwargs: dict) -> Any:
        return self.env.get_wrapper_attr(name)(*args, **kwargs)

    def is_wrapped(self, wrapper_class: type) -> bool:
        from stable_baselines3.common.env_util import is_wrapped

        return is_wrapped(self.env, wrapper_class)

    def close(self) -> None:
        self.env.close()


class RayVecEnv(VecEnv):
    """SB3 vector environment of ``len(env_fns)`` Ray actors, each owning the environment ``env_fns[i]()``.

    Args:
        env_fns: environment factories, pickled (cloudpickle) to the actors.
        address: the Ray cluster to join (see :func:`check_address`); None starts a local Ray instance
            with a CPU per environment. Ignored when this process is already connected to Ray.
        cpus_per_env: CPUs Ray reserves per actor (default 1: the actor and its scenario process mostly
            take turns). A cluster with fewer free CPUs than the vector needs is refused.
        start_timeout_s: how long the actors may take to start their environments.
        close_timeout_s: how long ``close()`` waits for the environments to close before killing actors.
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], address: str | None = None, cpus_per_env: float = 1.0,
                 start_timeout_s: float = 600.0, close_timeout_s: float = 30.0) -> None:
        ray = import_ray()
        self._ray = ray
        self.closed = False
        self.waiting = False
        self.actors: list[Any] = []
        self._connected = False
        self.close_timeout_s = close_timeout_s
        n_envs = len(env_fns)
        if n_envs < 1:
            raise RayBackendError("a Ray vector environment needs at least one environment")
        if not ray.is_initialized():
            check_address(address)
            try:
                ray.init(address=address, num_cpus=int(np.ceil(n_envs * cpus_per_env)) if address is None else None,
                         include_dashboard=False, log_to_driver=False, configure_logging=False)
            except ConnectionError as exc:
                raise RayBackendError(f"cannot join the Ray cluster at {address}: {exc}") from None
            self._connected = True
        try:
            total = ray.cluster_resources().get("CPU", 0)
            if total < n_envs * cpus_per_env:
                raise RayBackendError(f"{n_envs} environment workers need {n_envs * cpus_per_env:g} CPUs; the Ray "
                                      f"cluster has {total:g}: use fewer environments or add nodes")
            actor_class = ray.remote(num_cpus=cpus_per_env, max_restarts=0, max_concurrency=1)(_EnvWorker)
            # SPREAD: the workers go to as many nodes as there are, each with its own scenario process
            self.actors = [actor_class.options(scheduling_strategy="SPREAD").remote(fn) for fn in env_fns]
            ready, pending = ray.wait([a.info.remote() for a in self.actors], num_returns=n_envs,
                                      timeout=start_timeout_s)
            if pending:
                raise RayBackendError(f"{len(pending)} of {n_envs} environment workers did not start within "
                                      f"{start_timeout_s:g} s (is the cluster busy?)")
            self.worker_info: list[dict[str, Any]] = ray.get([a.info.remote() for a in self.actors])
        except BaseException:
            self.close()
            raise
        first = self.worker_info[0]
        super().__init__(n_envs, first["observation_space"], first["action_space"])

    # -- where the workers run -------------------------------------------------------------------
    @property
    def nodes(self) -> list[str]:
        """The Ray node id of each worker."""
        return [w["node_id"] for w in self.worker_info]

    @property
    def scenario_pids(self) -> list[int | None]:
        """The pid of each worker's scenario process as started (None for an environment without one)."""
        return [w["scenario_pid"] for w in self.worker_info]

    # -- stepping --------------------------------------------------------------------------------
    def _get(self, refs: list[Any]) -> list[Any]:
        """``ray.get`` of ``refs``; an environment's exception is raised as itself (Ray's wrapper is also an
        instance of it), so ScenarioCrashed names the scenario as it does locally."""
        return self._ray.get(refs)

    def step_async(self, actions: np.ndarray) -> None:
        self._pending = [actor.step.remote(action) for actor, action in zip(self.actors, actions, strict=True)]
        self.waiting = True

    def step_wait(self) -> VecEnvStepReturn:
        try:
            results = self._get(self._pending)
        finally:
            self.waiting = False
            self._pending = []
        obs, rewards, dones, infos, self.reset_infos = zip(*results, strict=True)
        # the dtypes DummyVecEnv (and so BridgeVecEnv) gives: the learner sees the same numbers on both backends
        return (_stack(obs, self.observation_space), np.asarray(rewards, dtype=np.float32),
                np.asarray(dones, dtype=bool), list(infos))

    def reset(self) -> VecEnvObs:
        results = self._get([actor.reset.remote(self._seeds[i], self._options[i])
                             for i, actor in enumerate(self.actors)])
        obs, self.reset_infos = zip(*results, strict=True)
        self._reset_seeds()
        self._reset_options()
        return _stack(obs, self.observation_space)

    def get_images(self) -> Sequence[np.ndarray | None]:
        return self._get([actor.render.remote() for actor in self.actors])

    # -- attributes and methods ------------------------------------------------------------------
    def _targets(self, indices: VecEnvIndices) -> list[Any]:
        return [self.actors[i] for i in self._get_indices(indices)]

    def has_attr(self, attr_name: str) -> bool:
        return all(self._get([actor.has_attr.remote(attr_name) for actor in self.actors]))

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._get([actor.get_attr.remote(attr_name) for actor in self._targets(indices)])

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._get([actor.set_attr.remote(attr_name, value) for actor in self._targets(indices)])

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any) -> list[Any]:
        return self._get([actor.env_method.remote(method_name, method_args, method_kwargs)
                          for actor in self._targets(indices)])

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return self._get([actor.is_wrapped.remote(wrapper_class) for actor in self._targets(indices)])

    # -- shutdown --------------------------------------------------------------------------------
    def close(self) -> None:
        """Close every environment in its actor, kill the actors, and disconnect from Ray if this vector
        connected. Safe to call twice and after a worker failed."""
        if self.closed:
            return
        self.closed = True
        ray = self._ray
        try:
            if self.actors:
                refs = [actor.close.remote() for actor in self.actors]
                ray.wait(refs, num_returns=len(refs), timeout=self.close_timeout_s)
                for ref in refs:  # a failed close (the actor died with its environment) is not news here
                    try:
                        ray.get(ref, timeout=0)
                    except Exception:
                        pass
        finally:
            for actor in self.actors:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:
                    pass
            if self._connected and ray.is_initialized():
                ray.shutdown()


def _stack(obs: Sequence[Any], space: gym.Space) -> VecEnvObs:
    """One array per observation entry, environments first, in the space's dtype (as DummyVecEnv stores them)."""
    if isinstance(space, gym.spaces.Dict):
        return {key: _stack([o[key] for o in obs], sub) for key, sub in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(_stack([o[i] for o in obs], sub) for i, sub in enumerate(space.spaces))
    return np.stack(obs).astype(space.dtype, copy=False) if space.dtype is not None else np.stack(obs)

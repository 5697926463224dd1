"""A Stable-Baselines3 vector environment whose environments are Ray actors, on one machine or a cluster.

Each sub-environment lives in a Ray actor (one Python worker process, on whichever node of the cluster
Ray places it; spread over the nodes), which builds the environment from a pickled factory and so starts
its own scenario process beside it; ``envs_per_worker`` environments share an actor (default 1), stepped
there together by a :class:`~ns6g.envs.vec_env.BridgeVecEnv`, so each step is one call per actor. The learner stays in the calling process: ``step_async`` sends
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
    """One worker's environments in a Ray actor (made a Ray actor class when Ray is imported): a
    :class:`ns6g.envs.vec_env.BridgeVecEnv` of them, so a worker of several environments steps its
    scenarios at the same time and answers one batched reply per step."""

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]) -> None:
        from ns6g.envs.vec_env import BridgeVecEnv

        self.venv = BridgeVecEnv(list(env_fns))

    def info(self) -> dict[str, Any]:
        """Where this worker runs and what its environments are: spaces, node, pid, scenario pids."""
        import os

        import ray

        bridges = [getattr(env.unwrapped, "_bridge", None) for env in self.venv.envs]
        return {"observation_space": self.venv.observation_space, "action_space": self.venv.action_space,
                "node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
                "scenario_pids": [b.pid if b is not None else None for b in bridges]}

    def step(self, actions: np.ndarray) -> tuple:
        obs, rewards, dones, infos = self.venv.step(actions)  # done environments restart at once, as in SB3
        return obs, rewards, dones, infos, list(self.venv.reset_infos)

    def reset(self, seeds: list[int | None], options: list[dict]) -> tuple:
        self.venv._seeds, self.venv._options = list(seeds), list(options)
        obs = self.venv.reset()
        return obs, list(self.venv.reset_infos)

    def render(self) -> list[Any]:
        return [env.render() for env in self.venv.envs]

    def get_attr(self, name: str, indices: list[int]) -> list[Any]:
        return self.venv.get_attr(name, indices)

    def has_attr(self, name: str) -> bool:
        return self.venv.has_attr(name)

    def set_attr(self, name: str, value: Any, indices: list[int]) -> None:
        self.venv.set_attr(name, value, indices)

    def env_method(self, name: str, args: tuple, kwargs: dict, indices: list[int]) -> list[Any]:
        return self.venv.env_method(name, *args, indices=indices, **kwargs)

    def is_wrapped(self, wrapper_class: type, indices: list[int]) -> list[bool]:
        return self.venv.env_is_wrapped(wrapper_class, indices)

    def close(self) -> None:
        self.venv.close()


class RayVecEnv(VecEnv):
    """SB3 vector environment of the environments ``env_fns[i]()``, each made and stepped in a Ray actor.

    Args:
        env_fns: environment factories, pickled (cloudpickle) to the actors.
        envs_per_worker: environments per actor (default 1), stepped together there (``BridgeVecEnv``): one
            call per actor and step instead of one per environment; the last actor may hold fewer.
        address: the Ray cluster to join (see :func:`check_address`); None starts a local Ray instance
            with a CPU per environment. Ignored when this process is already connected to Ray.
        cpus_per_env: CPUs Ray reserves per actor (default 1: the actor and its scenario process mostly
            take turns). A cluster with fewer free CPUs than the vector needs is refused.
        start_timeout_s: how long the actors may take to start their environments.
        close_timeout_s: how long ``close()`` waits for the environments to close before killing actors.
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], address: str | None = None, cpus_per_env: float = 1.0,
                 envs_per_worker: int = 1, start_timeout_s: float = 600.0, close_timeout_s: float = 30.0) -> None:
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
        if not isinstance(envs_per_worker, int) or isinstance(envs_per_worker, bool) or envs_per_worker < 1:
            raise RayBackendError(f"envs_per_worker must be a whole number >= 1 (got {envs_per_worker!r})")
        # environment i is local environment i % k of actor i // k
        self._groups = [list(range(i, min(i + envs_per_worker, n_envs))) for i in range(0, n_envs, envs_per_worker)]
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
            actor_class = ray.remote(max_restarts=0, max_concurrency=1)(_EnvWorker)
            # SPREAD: the workers go to as many nodes as there are, each environment with its own scenario process
            self.actors = [actor_class.options(num_cpus=cpus_per_env * len(group), scheduling_strategy="SPREAD")
                           .remote([env_fns[i] for i in group]) for group in self._groups]
            ready, pending = ray.wait([a.info.remote() for a in self.actors], num_returns=len(self.actors),
                                      timeout=start_timeout_s)
            if pending:
                raise RayBackendError(f"{len(pending)} of {len(self.actors)} environment workers did not start "
                                      f"within {start_timeout_s:g} s (is the cluster busy?)")
            self.worker_info: list[dict[str, Any]] = ray.get([a.info.remote() for a in self.actors])
        except BaseException:
            self.close()
            raise
        first = self.worker_info[0]
        super().__init__(n_envs, first["observation_space"], first["action_space"])

    # -- where the workers run -------------------------------------------------------------------
    @property
    def nodes(self) -> list[str]:
        """The Ray node id of each worker (actor)."""
        return [w["node_id"] for w in self.worker_info]

    @property
    def scenario_pids(self) -> list[int | None]:
        """The pid of each environment's scenario process as started (None for an environment without one)."""
        return [pid for w in self.worker_info for pid in w["scenario_pids"]]

    # -- stepping --------------------------------------------------------------------------------
    def _get(self, refs: list[Any]) -> list[Any]:
        """``ray.get`` of ``refs``; an environment's exception is raised as itself (Ray's wrapper is also an
        instance of it), so ScenarioCrashed names the scenario as it does locally."""
        return self._ray.get(refs)

    def step_async(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions)
        self._pending = [actor.step.remote(actions[group[0]:group[-1] + 1])
                         for actor, group in zip(self.actors, self._groups, strict=True)]
        self.waiting = True

    def step_wait(self) -> VecEnvStepReturn:
        try:
            results = self._get(self._pending)
        finally:
            self.waiting = False
            self._pending = []
        obs, rewards, dones, infos, reset_infos = zip(*results, strict=True)
        self.reset_infos = [info for part in reset_infos for info in part]
        # each actor's BridgeVecEnv gives DummyVecEnv's dtypes (float32 rewards, observations in the space's
        # dtype): the learner sees the same numbers on both backends
        return (_concatenate(obs, self.observation_space), np.concatenate(rewards), np.concatenate(dones),
                [info for part in infos for info in part])

    def reset(self) -> VecEnvObs:
        results = self._get([actor.reset.remote([self._seeds[i] for i in group], [self._options[i] for i in group])
                             for actor, group in zip(self.actors, self._groups, strict=True)])
        obs, reset_infos = zip(*results, strict=True)
        self.reset_infos = [info for part in reset_infos for info in part]
        self._reset_seeds()
        self._reset_options()
        return _concatenate(obs, self.observation_space)

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [image for part in self._get([actor.render.remote() for actor in self.actors]) for image in part]

    # -- attributes and methods ------------------------------------------------------------------
    def _call(self, method: str, indices: VecEnvIndices, *args: Any) -> list[Any]:
        """``method`` of the actors holding ``indices`` (each with its local indices); the answers in the
        order of ``indices``."""
        wanted = list(self._get_indices(indices))
        k = len(self._groups[0])
        by_actor: dict[int, list[int]] = {}
        for i in wanted:
            by_actor.setdefault(i // k, []).append(i % k)
        answers = self._get([getattr(self.actors[a], method).remote(*args, local) for a, local in by_actor.items()])
        found = {(a, j): value for (a, local), part in zip(by_actor.items(), answers, strict=True)
                 for j, value in zip(local, part if part is not None else [None] * len(local), strict=True)}
        return [found[(i // k, i % k)] for i in wanted]

    def has_attr(self, attr_name: str) -> bool:
        return all(self._get([actor.has_attr.remote(attr_name) for actor in self.actors]))

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._call("get_attr", indices, attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._call("set_attr", indices, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any) -> list[Any]:
        return self._call("env_method", indices, method_name, method_args, method_kwargs)

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return self._call("is_wrapped", indices, wrapper_class)

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


def _concatenate(parts: Sequence[Any], space: gym.Space) -> VecEnvObs:
    """The actors' batched observations as one batch, environments first."""
    if isinstance(space, gym.spaces.Dict):
        return {key: np.concatenate([part[key] for part in parts]) for key in space.spaces}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(np.concatenate([part[i] for part in parts]) for i in range(len(space.spaces)))
    return np.concatenate(parts)

"""Environment ids from anywhere: ns6g's own, ``module:Name-vN`` (Gymnasium's convention: importing ``module``
registers the id) and those a user's package registers through the ``ns6g.envs`` entry-point group.

Every command that takes an environment id resolves it here, before it starts or writes anything::

    [project.entry-points."ns6g.envs"]
    my_envs = "my_pkg.envs"              # a module whose import registers ids
    more = "my_pkg.envs:register_all"    # or a callable, called once with no arguments
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import re

from gymnasium.envs.registration import registry

import ns6g.envs  # noqa: F401  (registers ns6g's own ids)

ENTRY_POINT_GROUP = "ns6g.envs"

# Gymnasium's id grammar: optional namespace/, a name, optional -vN; a module path before one colon.
_ID = re.compile(r"^(?:(?P<module>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*):)?(?P<id>(?:[\w.-]+/)?[\w.-]+)$")

_from_entry_points: dict[str, str] | None = None  # id -> "distribution: entry point", once loaded


class EnvIdError(ValueError):
    """An environment id that cannot be made: malformed, its module not importable, or not registered."""


def load_entry_points() -> dict[str, str]:
    """Load every ``ns6g.envs`` entry point once (importing its module, calling it if it names a callable);
    return the ids they registered, each mapped to ``"distribution: entry point"``. A broken entry point
    raises :class:`EnvIdError` naming its distribution and entry point."""
    global _from_entry_points
    if _from_entry_points is not None:
        return _from_entry_points
    found: dict[str, str] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"{ep.dist.name if ep.dist else '?'}: {ep.name} = {ep.value}"
        before = set(registry)
        try:
            loaded = ep.load()
            if callable(loaded):
                loaded()
        except Exception as exc:  # any failure of user code: name the entry point that broke
            raise EnvIdError(f"the {ENTRY_POINT_GROUP} entry point {where!r} failed: "
                             f"{type(exc).__name__}: {exc}") from exc
        found.update(dict.fromkeys(sorted(set(registry) - before), where))
    _from_entry_points = found
    return found


def resolve_env_id(env_id: str) -> str:
    """The registered id ``env_id`` names, importing its ``module:`` first if it has one (and loading the
    ``ns6g.envs`` entry points); raise :class:`EnvIdError` naming the problem if it cannot be made."""
    match = _ID.match(env_id)
    if match is None:
        raise EnvIdError(f"malformed environment id {env_id!r}: expected Name-vN, namespace/Name-vN or "
                         f"module:namespace/Name-vN")
    load_entry_points()
    if match["module"]:
        try:
            importlib.import_module(match["module"])
        except ImportError as exc:
            raise EnvIdError(f"environment {env_id!r}: cannot import module {match['module']!r} "
                             f"({type(exc).__name__}: {exc})") from None
    if match["id"] not in registry:
        close = difflib.get_close_matches(match["id"], list(registry), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else "`ns6g envs` lists ns6g's"
        where = f" after importing {match['module']!r}" if match["module"] else ""
        raise EnvIdError(f"unknown environment {match['id']!r}{where}: {hint}")
    return match["id"]

"""Old module names of ns6g 0.1, before the package was split into layers (docs/architecture.md,
"Python package layers"). ``import ns6g.bridge`` still works for one release: it returns the module at
its new place (the same module object, so monkeypatching either name patches both) with a
DeprecationWarning. ns6g's own code uses the new names only."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

#: old name -> new name
MOVED: dict[str, str] = {
    **{f"ns6g.{m}": f"ns6g.core.{m}" for m in ("bridge", "build", "config", "runs", "spaces", "versions", "outputs", "step_trace")},
    "ns6g.mobility": "ns6g.radio.mobility",
    **{f"ns6g.{m}": f"ns6g.compute.{m}" for m in ("devices", "profile_format", "split")},
    "ns6g.profiles": "ns6g.learners.profiles",
    **{f"ns6g.{m}": f"ns6g.envs.{m}" for m in ("policies", "multiagent", "vec_env")},
    **{f"ns6g.{m}": f"ns6g.apps.{m}"
       for m in ("cli", "bench", "demo", "flagship", "suite", "training", "tuning", "fl", "evaluation", "presets")},
}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old names of :data:`MOVED` and loads them as their new modules."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001, ANN201 (importlib's signature)
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec) -> ModuleType:  # noqa: ANN001
        new = MOVED[spec.name]
        # stacklevel 2: importlib's own frames are skipped, so the warning names the importing line
        warnings.warn(f"{spec.name} has moved to {new}; the old name goes away in ns6g 0.2",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the new module is already imported."""


def install() -> None:
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())

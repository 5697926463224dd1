"""``ns6g new-scenario``: a working project for a scenario of one's own, outside the ns6g package.

The project (copier template ``ns6g/apps/templates/scenario``) is a small Python package: the ns-3 scenario
``<package>/scenarios/<name>.cc`` on ns6g's ServeScenario skeleton, its pydantic config class, a
:class:`~ns6g.envs.base.ScenarioEnv` naming that folder (built on first use, ns6g.core.build), a test and a
README. Its options header is then generated from the config class by ns6g.core.options_cpp, in a process
of its own, with the command the README gives for regenerating it.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import shutil
import subprocess
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "templates" / "scenario"
# kebab-case: the .cc file's stem and the binary's name; with '-' -> '_' the Python package, and CamelCase
# the class names (copier.yml derives both).
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
MAX_NAME = 64


class ScaffoldError(ValueError):
    """The project cannot be written: a bad name or a target in the way."""


def package_name(name: str) -> str:
    return name.replace("-", "_")


def check_name(name: str) -> None:
    """Raise ScaffoldError unless ``name`` can name the scenario, its Python package and its classes."""
    if not NAME_RE.match(name) or len(name) > MAX_NAME:
        raise ScaffoldError(
            f"invalid scenario name {name!r}: use lowercase letters, digits and single hyphens, starting with a "
            f"letter, at most {MAX_NAME} characters (e.g. my-link); it names the .cc file and the binary, with "
            "'_' for '-' the Python package, and in CamelCase the classes")
    package = package_name(name)
    if keyword.iskeyword(package) or package in sys.stdlib_module_names:
        raise ScaffoldError(f"invalid scenario name {name!r}: its package {package!r} is a Python keyword or a "
                            "standard-library module")
    if importlib.util.find_spec(package) is not None:
        raise ScaffoldError(f"invalid scenario name {name!r}: a module {package!r} is already importable here, "
                            "and the new package would clash with it; pick another name")


def _installed_package_dirs() -> list[Path]:
    """The folders of the installed ns6g (its modules and its scenarios), which a project must stay out of."""
    import ns6g
    from ns6g.core.build import scenario_source_dir

    spec = importlib.util.find_spec("ns6g.envs")
    envs = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None
    return [p.resolve() for p in (Path(ns6g.__file__).parent, scenario_source_dir(), envs) if p is not None]


def new_scenario(name: str, parent: Path | str = ".") -> Path:
    """Write the project of scenario ``name`` into ``parent/name`` (which must not exist or be empty) and
    return its path. Raises ScaffoldError for a bad name or target, RuntimeError if the options header
    cannot be generated (the half-written project is removed)."""
    check_name(name)
    target = (Path(parent) / name).resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists and is not an empty folder: ns6g never writes over your "
                            "files; pick another name or --dir")
    for inside in _installed_package_dirs():
        if target.is_relative_to(inside):
            raise ScaffoldError(f"{target} is inside the installed ns6g ({inside}): a scenario of your own goes "
                                "outside it (--dir)")
    existed = target.exists()
    from copier import run_copy

    worker = run_copy(str(TEMPLATE), target, data={"scenario": name}, defaults=True, unsafe=False, quiet=True)
    answers = worker.answers.combined
    package, config = answers["package"], f"{answers['package']}.config:{answers['class_name']}Config"
    proc = subprocess.run(
        [sys.executable, "-m", "ns6g.core.options_cpp", "--config", config, "--out", f"{package}/scenarios"],
        cwd=target, capture_output=True, text=True)
    if proc.returncode != 0:  # leave the target as it was: absent, or an empty folder
        shutil.rmtree(target)
        if existed:
            target.mkdir()
        raise RuntimeError(f"generating the options header of {config} failed:\n{proc.stderr.strip()}")
    return target

"""The layered package: the 0.1 module names still import (with a DeprecationWarning) as the very modules
at their new places, and ns6g's own modules never use the old names."""

import importlib
import subprocess
import sys

import pytest

from ns6g._moved import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_name_is_the_new_module_with_a_warning(old: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} has moved to {MOVED[old]}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])


def test_from_ns6g_import_old_name() -> None:
    import ns6g

    sys.modules.pop("ns6g.bridge", None)
    vars(ns6g).pop("bridge", None)  # set by an earlier `import ns6g.bridge`
    with pytest.warns(DeprecationWarning, match="ns6g.bridge has moved"):
        from ns6g import bridge
    from ns6g.core import bridge as new

    assert bridge.Bridge is new.Bridge


def test_own_modules_do_not_use_old_names() -> None:
    """Every module of every layer imports with the move warning turned into an error (a fresh
    interpreter: this test process has already imported them)."""
    new = sorted(set(MOVED.values())) + ["ns6g.envs", "ns6g.learners.protocols", "ns6g.analysis"]
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in new)
    done = subprocess.run([sys.executable, "-W", "error:ns6g.:DeprecationWarning", "-c", code],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]

import os
from pathlib import Path

import pytest

from ns6g.build import scenario_binary


def shm_entries(pid: int | None = None) -> set[str]:
    """Segments created by process `pid` (default: this one), named ns6g-<pid>-...: other ns6g runs on
    the machine must not fail the tests. Tests that start other Python processes pass their pid."""
    prefix = f"ns6g-{os.getpid() if pid is None else pid}-"
    return {p.name for p in Path("/dev/shm").iterdir() if p.name.startswith(prefix)}


@pytest.fixture(scope="session")
def echo_binary() -> Path:
    return scenario_binary("bridge-echo")


@pytest.fixture(autouse=True)
def no_leftover_segments():
    before = shm_entries()
    yield
    leaked = shm_entries() - before
    assert not leaked, f"shared-memory segments left behind: {leaked}"

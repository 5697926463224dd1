import os
from pathlib import Path

import pytest

from ns6g.build import scenario_binary


def shm_entries() -> set[str]:
    return {p.name for p in Path("/dev/shm").iterdir() if p.name.startswith("ns6g-")}


@pytest.fixture(scope="session")
def echo_binary() -> Path:
    return scenario_binary("bridge-echo")


@pytest.fixture(autouse=True)
def no_leftover_segments():
    before = shm_entries()
    yield
    leaked = shm_entries() - before
    assert not leaked, f"shared-memory segments left behind: {leaked}"

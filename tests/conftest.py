import os
import time
from pathlib import Path

import pytest

from ns6g.core.build import scenario_binary


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


def pid_gone(pid: int, within_s: float = 5.0) -> bool:
    """Whether ``pid`` is gone or a zombie (a child not yet reaped: it can answer nothing) within ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.01)
    return False


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on a shared 2-core machine: one thread is much faster than two fighting. Modules that
    train use it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

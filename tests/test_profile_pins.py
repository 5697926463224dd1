"""Profile mode's speed-ups change no result: every profiling protocol's small job (20 clients, 2 rounds,
on NoNetwork, and splitfed-v1 over the fl-network ns-3 scenario, also over its 7 cells without fast fading)
gives the rounds and transfers the code before them gave (tests/data/profile_pins.json, written by
tests/profile_pins.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ns6g.learners.protocols import PROTOCOLS
from tests.profile_pins import PINS, cosim_outputs, cosim_seven_cells_outputs, job_outputs

PINNED = json.loads(PINS.read_text())
PROFILING = [name for name, cls in PROTOCOLS.items() if cls.profiles]


@pytest.mark.parametrize("protocol", PROFILING)
def test_profile_job_matches_its_pin(protocol: str) -> None:
    assert job_outputs(protocol) == PINNED[protocol]


def test_cosim_profile_job_matches_its_pin() -> None:
    assert cosim_outputs() == PINNED["cosim/splitfed-v1"]


def test_cosim_seven_cells_without_fading_matches_its_pin() -> None:
    """The 1000-client benchmark's network (7 cells, no fast fading), across a channel realisation."""
    assert cosim_seven_cells_outputs() == PINNED["cosim-7-cells-no-fading/splitfed-v1"]


def test_profile_jobs_do_not_depend_on_numpy_cpu_kernels() -> None:
    """The same jobs with numpy held to its baseline kernels (no AVX2, no AVX-512, whose power and log10
    round differently) give the pins that the tests above check with this CPU's best kernels."""
    script = ("import json, sys; from tests.profile_pins import job_outputs; "
              "print(json.dumps({p: job_outputs(p) for p in sys.argv[1:]}))")
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"}
    out = subprocess.run([sys.executable, "-c", script, *PROFILING], env=env, cwd=Path(__file__).parent.parent,
                         capture_output=True, text=True, timeout=300, check=True).stdout
    assert json.loads(out) == {p: PINNED[p] for p in PROFILING}

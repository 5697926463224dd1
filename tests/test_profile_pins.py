"""Profile mode's speed-ups change no result: every profiling protocol's small job (20 clients, 2 rounds,
on NoNetwork, and splitfed-v1 over the fl-network ns-3 scenario, also over its 7 cells without fast fading)
gives the rounds and transfers the code before them gave (tests/data/profile_pins.json, written by
tests/profile_pins.py)."""

from __future__ import annotations

import json

import pytest

from ns6g.learners.protocols import PROTOCOLS
from tests.profile_pins import PINS, cosim_outputs, cosim_seven_cells_outputs, job_outputs

PINNED = json.loads(PINS.read_text())


@pytest.mark.parametrize("protocol", [name for name, cls in PROTOCOLS.items() if cls.profiles])
def test_profile_job_matches_its_pin(protocol: str) -> None:
    assert job_outputs(protocol) == PINNED[protocol]


def test_cosim_profile_job_matches_its_pin() -> None:
    assert cosim_outputs() == PINNED["cosim/splitfed-v1"]


def test_cosim_seven_cells_without_fading_matches_its_pin() -> None:
    """The 1000-client benchmark's network (7 cells, no fast fading), across a channel realisation."""
    assert cosim_seven_cells_outputs() == PINNED["cosim-7-cells-no-fading/splitfed-v1"]

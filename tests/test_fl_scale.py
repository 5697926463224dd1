"""The bookkeeping speed-ups of large profile-mode jobs (issue 17 item 3) compute what the plain code did:
the interval unions of round timelines (bit for bit, NaN and signed zeros included), an operation's
dependencies rewritten by its constructor, and the CLI's freezing of import-time objects (tests/
test_profile_pins.py pins whole jobs, over fl-network's 7 cells without fast fading too)."""

from __future__ import annotations

import dataclasses
import math
import random
import subprocess
import sys
from dataclasses import dataclass

import pytest

from ns6g.learners.network import Compute, Transfer, _union_length, with_after


def _plain_union_length(intervals, lo, hi):
    """The loop _union_length replaced (builtin max and min)."""
    total, reach = 0.0, lo
    for a, b in sorted((max(a, lo), min(b, hi)) for a, b in intervals):
        total += max(0.0, b - max(a, reach))
        reach = max(reach, b)
    return total


def test_union_length_is_the_plain_loops_value_bit_for_bit():
    rng = random.Random(17)
    values = [0.0, -0.0, 1.0, 0.5, 0.25, 2.0, math.nan, 1e-300, 0.1 + 0.2]
    cases = []
    for _ in range(3000):
        n = rng.choice([0, 1, 1, 2, 3, 5])
        pick = (lambda: rng.choice(values)) if rng.random() < 0.3 else (lambda: rng.uniform(-0.5, 2.5))
        intervals = []
        for _ in range(n):
            a = pick()
            intervals.append((a, a + abs(pick())) if rng.random() < 0.8 else (a, pick()))  # some reversed
        lo = rng.choice([0.0, -0.0, 0.3, rng.uniform(0, 1)])
        cases.append((intervals, lo, rng.choice([lo, 1.0, 2.0, lo + rng.uniform(0, 2)])))
    for intervals, lo, hi in cases:
        got, plain = _union_length(intervals, lo, hi), _plain_union_length(intervals, lo, hi)
        assert repr(got) == repr(plain), (intervals, lo, hi)


@dataclass(frozen=True)
class _TaggedTransfer(Transfer):
    note: str = ""


@pytest.mark.parametrize("op", [
    Transfer("client/0", "edge/0", 123, "activations", (1, 2)),
    Compute("edge/0", 2.5e9, "server_train", (3,)),
    _TaggedTransfer("client/1", "cloud", 7, "model_up", (), note="kept"),
])
def test_with_after_is_dataclasses_replace(op):
    new = with_after(op, (5, 6))
    assert new == dataclasses.replace(op, after=(5, 6))
    assert type(new) is type(op)


def test_the_fl_commands_freeze_import_time_objects_out_of_the_collectors_scans():
    code = ("import gc, torch; from ns6g.apps.cli import freeze_imports; torch.manual_seed(3); "
            "before = torch.rand(1).item(); torch.manual_seed(3); freeze_imports(); "
            "print(gc.get_freeze_count(), len(gc.garbage), torch.rand(1).item() == before)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) > 100_000  # torch's and ns6g's objects
    assert out[1] == "0"
    assert out[2] == "True"  # it draws nothing from PyTorch's random numbers

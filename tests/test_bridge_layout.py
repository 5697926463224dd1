"""The bridge layout is declared once (ns6g/core/bridge_layout.py); the C++ header is generated from it."""

import re

from ns6g.core import bridge, bridge_layout
from ns6g.core.bridge_layout import HEADER, HEADER_PATH, HEADER_SIZE, render_header

SIZES = {"u8": 1, "u32": 4, "u64": 8, "f64": 8, "u32[2]": 8}


def test_generated_header_is_current():
    """Any difference between the declaration and the committed ns6g-layout.h fails here."""
    assert HEADER_PATH.read_text() == render_header(), (
        f"{HEADER_PATH} is stale: run `python -m ns6g.core.bridge_layout --write` and commit it"
    )


def test_header_fields_fit_and_do_not_overlap():
    end = 0
    for name, field in sorted(HEADER.items(), key=lambda item: item[1].offset):
        assert field.offset >= end, f"{name} overlaps the field before it"
        assert field.offset % SIZES[field.ctype.split("[")[0]] == 0, f"{name} is misaligned"
        end = field.offset + SIZES[field.ctype]
    assert end <= HEADER_SIZE


def test_counters_have_their_own_cache_lines():
    """Python posts one counter and the scenario the other: sharing a line would make them fight over it."""
    lines = {HEADER[name].offset // 64 for name in ("REQUEST_CTR", "RESPONSE_CTR", "HEARTBEAT")}
    assert len(lines) == 3


def test_no_hand_written_copy_in_the_cpp_sources():
    """The layout constants exist only in the generated header (a copy elsewhere could drift)."""
    root = HEADER_PATH.parent.parent
    pattern = re.compile(r"\bk(Magic|Version|HeaderSize|MinArena|\w+Off)\s*=")
    copies = [str(p) for p in root.rglob("*.[ch]*") if p != HEADER_PATH and pattern.search(p.read_text())]
    assert copies == []


def test_python_names_come_from_the_declaration():
    assert bridge.OFF_RESP_STATUS == HEADER["RESP_STATUS"].offset
    assert bridge.VERSION == bridge_layout.VERSION

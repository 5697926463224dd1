"""The bridge's segment layout, commands and status codes: declared once, here.

Python (:mod:`ns6g.core.bridge`) imports these names; the C++ side includes
``ns3_scenarios/bridge/ns6g-layout.h``, which :func:`render_header` generates from this declaration.
``tests/test_bridge_layout.py`` fails if the committed header differs from it in any byte; after an edit
here, regenerate it with ``python -m ns6g.core.bridge_layout --write``. See docs/bridge.md, "Segment layout".
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from ns6g.core.build import scenario_source_dir

HEADER_PATH = scenario_source_dir() / "bridge" / "ns6g-layout.h"


@dataclass(frozen=True)
class Field:
    """One field of the 4 KiB segment header: byte offset, C type and what it holds."""

    offset: int
    ctype: str  # u8, u32, u64 or f64 (little-endian); "u32[2]" for a counter word and its waiter count
    doc: str


MAGIC = 0x314D485347364E53  # "SN6GSHM1" read as a little-endian u64
VERSION = 2  # 2: a message service declares no spaces (null observation and action)
HEADER_SIZE = 4096  # bytes; the spaces start here, every leaf 64-byte aligned
MIN_ARENA = 65536  # bytes; the arena (after the spaces, page-aligned) holds payloads and the descriptor

# Header fields, in offset order. Counters sit on their own 64-byte cache lines.
HEADER: dict[str, Field] = {
    "MAGIC": Field(0, "u64", "MAGIC, written by Python"),
    "VERSION": Field(8, "u32", "VERSION, written by Python"),
    "PYTHON_PID": Field(16, "u32", "pid of the Python process"),
    "SCENARIO_PID": Field(20, "u32", "pid of the scenario process"),
    "TOTAL_SIZE": Field(24, "u64", "current segment size in bytes"),
    "ARENA_OFFSET": Field(32, "u64", "page-aligned start of the variable-size arena"),
    "REQUEST_CTR": Field(64, "u32[2]", "request sequence and waiter count, posted by Python"),
    "PYTHON_CPU": Field(72, "u32", "CPU Python last ran on, plus one (0: unknown)"),
    "RESPONSE_CTR": Field(128, "u32[2]", "response sequence and waiter count, posted by the scenario"),
    "SCENARIO_CPU": Field(136, "u32", "CPU the scenario last ran on, plus one (0: unknown)"),
    "SCENARIO_MOVES": Field(140, "u32", "times the scenario moved to another CPU to stop sharing Python's"),
    "HEARTBEAT": Field(192, "u64", "incremented every 50 ms by the scenario's watchdog"),
    # Request block (written by Python).
    "REQ_COMMAND": Field(256, "u32", "a Command"),
    "REQ_SEED": Field(264, "u64", "RESET: ns-3 RngRun"),
    "REQ_ARENA_LEN": Field(272, "u64", "bytes of request payload in the arena"),
    # Response block (written by the scenario).
    "RESP_STATUS": Field(320, "u32", "a Status"),
    "RESP_TERMINATED": Field(324, "u8", "episode terminated"),
    "RESP_TRUNCATED": Field(325, "u8", "episode truncated"),
    "RESP_REWARD": Field(328, "f64", "reward of the STEP"),
    "RESP_ARENA_LEN": Field(336, "u64", "bytes of response payload in the arena"),
    "RESP_SIM_TIME": Field(344, "f64", "simulated seconds at the response"),
}

COMMANDS: dict[str, int] = {"STEP": 1, "RESET": 2, "MESSAGE": 3, "CLOSE": 4}
STATUSES: dict[str, int] = {
    "OK": 0,
    "ERROR": 1,  # the arena holds a UTF-8 message
    "HELLO": 2,  # the arena holds the JSON descriptor
}

# The names ns6g.bridge uses.
OFF_MAGIC, OFF_VERSION = HEADER["MAGIC"].offset, HEADER["VERSION"].offset
OFF_PYTHON_PID, OFF_SCENARIO_PID = HEADER["PYTHON_PID"].offset, HEADER["SCENARIO_PID"].offset
OFF_TOTAL_SIZE, OFF_ARENA_OFFSET = HEADER["TOTAL_SIZE"].offset, HEADER["ARENA_OFFSET"].offset
OFF_REQUEST_CTR, OFF_RESPONSE_CTR = HEADER["REQUEST_CTR"].offset, HEADER["RESPONSE_CTR"].offset
OFF_PYTHON_CPU, OFF_SCENARIO_CPU = HEADER["PYTHON_CPU"].offset, HEADER["SCENARIO_CPU"].offset
OFF_SCENARIO_MOVES = HEADER["SCENARIO_MOVES"].offset
OFF_HEARTBEAT = HEADER["HEARTBEAT"].offset
OFF_REQ_COMMAND, OFF_REQ_SEED = HEADER["REQ_COMMAND"].offset, HEADER["REQ_SEED"].offset
OFF_REQ_ARENA_LEN = HEADER["REQ_ARENA_LEN"].offset
OFF_RESP_STATUS, OFF_RESP_REWARD = HEADER["RESP_STATUS"].offset, HEADER["RESP_REWARD"].offset
OFF_RESP_TERMINATED, OFF_RESP_TRUNCATED = HEADER["RESP_TERMINATED"].offset, HEADER["RESP_TRUNCATED"].offset
OFF_RESP_ARENA_LEN, OFF_RESP_SIM_TIME = HEADER["RESP_ARENA_LEN"].offset, HEADER["RESP_SIM_TIME"].offset
CMD_STEP, CMD_RESET, CMD_MESSAGE, CMD_CLOSE = (COMMANDS[k] for k in ("STEP", "RESET", "MESSAGE", "CLOSE"))
STATUS_OK, STATUS_ERROR, STATUS_HELLO = (STATUSES[k] for k in ("OK", "ERROR", "HELLO"))


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def render_header() -> str:
    """The text of ``ns6g-layout.h``: this module's declaration as C++ constants."""
    lines = [
        "// GENERATED from ns6g/core/bridge_layout.py by `python -m ns6g.core.bridge_layout --write`: do not edit.",
        "// tests/test_bridge_layout.py fails when this file and the declaration differ.",
        "#pragma once",
        "",
        "#include <cstdint>",
        "",
        "namespace ns6g",
        "{",
        "",
        "/** Segment layout: byte offsets in the 4 KiB header; every field little-endian. */",
        "namespace layout",
        "{",
        f"constexpr uint64_t kMagic = 0x{MAGIC:016X}ULL;",
        f"constexpr uint32_t kVersion = {VERSION};",
        f"constexpr uint64_t kHeaderSize = {HEADER_SIZE};",
        f"constexpr uint64_t kMinArena = {MIN_ARENA};",
    ]
    lines += [f"constexpr uint64_t k{_camel(n)}Off = {f.offset}; // {f.ctype}: {f.doc}" for n, f in HEADER.items()]
    lines += ["} // namespace layout", "", "enum Command : uint32_t", "{"]
    lines += [f"    kCmd{_camel(n)} = {v}," for n, v in COMMANDS.items()]
    lines += ["};", "", "enum Status : uint32_t", "{"]
    lines += [f"    kStatus{_camel(n)} = {v}," for n, v in STATUSES.items()]
    lines += ["};", "", "} // namespace ns6g", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ns6g.core.bridge_layout", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {HEADER_PATH.name} (default: print it)")
    args = parser.parse_args(argv)
    if args.write:
        HEADER_PATH.write_text(render_header())
    else:
        sys.stdout.write(render_header())
    return 0


if __name__ == "__main__":
    sys.exit(main())

// GENERATED from ns6g/core/bridge_layout.py by `python -m ns6g.core.bridge_layout --write`: do not edit.
// tests/test_bridge_layout.py fails when this file and the declaration differ.
#pragma once

#include <cstdint>

namespace ns6g
{

/** Segment layout: byte offsets in the 4 KiB header; every field little-endian. */
namespace layout
{
constexpr uint64_t kMagic = 0x314D485347364E53ULL;
constexpr uint32_t kVersion = 2;
constexpr uint64_t kHeaderSize = 4096;
constexpr uint64_t kMinArena = 65536;
constexpr uint64_t kMagicOff = 0; // u64: MAGIC, written by Python
constexpr uint64_t kVersionOff = 8; // u32: VERSION, written by Python
constexpr uint64_t kPythonPidOff = 16; // u32: pid of the Python process
constexpr uint64_t kScenarioPidOff = 20; // u32: pid of the scenario process
constexpr uint64_t kTotalSizeOff = 24; // u64: current segment size in bytes
constexpr uint64_t kArenaOffsetOff = 32; // u64: page-aligned start of the variable-size arena
constexpr uint64_t kRequestCtrOff = 64; // u32[2]: request sequence and waiter count, posted by Python
constexpr uint64_t kPythonCpuOff = 72; // u32: CPU Python last ran on, plus one (0: unknown)
constexpr uint64_t kResponseCtrOff = 128; // u32[2]: response sequence and waiter count, posted by the scenario
constexpr uint64_t kScenarioCpuOff = 136; // u32: CPU the scenario last ran on, plus one (0: unknown)
constexpr uint64_t kScenarioMovesOff = 140; // u32: times the scenario moved to another CPU to stop sharing Python's
constexpr uint64_t kHeartbeatOff = 192; // u64: incremented every 50 ms by the scenario's watchdog
constexpr uint64_t kReqCommandOff = 256; // u32: a Command
constexpr uint64_t kReqSeedOff = 264; // u64: RESET: ns-3 RngRun
constexpr uint64_t kReqArenaLenOff = 272; // u64: bytes of request payload in the arena
constexpr uint64_t kRespStatusOff = 320; // u32: a Status
constexpr uint64_t kRespTerminatedOff = 324; // u8: episode terminated
constexpr uint64_t kRespTruncatedOff = 325; // u8: episode truncated
constexpr uint64_t kRespRewardOff = 328; // f64: reward of the STEP
constexpr uint64_t kRespArenaLenOff = 336; // u64: bytes of response payload in the arena
constexpr uint64_t kRespSimTimeOff = 344; // f64: simulated seconds at the response
} // namespace layout

enum Command : uint32_t
{
    kCmdStep = 1,
    kCmdReset = 2,
    kCmdMessage = 3,
    kCmdClose = 4,
};

enum Status : uint32_t
{
    kStatusOk = 0,
    kStatusError = 1,
    kStatusHello = 2,
};

} // namespace ns6g

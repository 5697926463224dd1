// ns6g bridge, C++ side: header-only; include this one header. A scenario subclasses ns6g::GymEnv (or
// ns6g::MessageService for a message channel without spaces), adds ns6g::Bridge's options to its
// CommandLine (Bridge::AddCommandLine), parses it and calls Bridge::Serve(env).
//
// The parts, in the order a scenario author reads them:
//   ns6g-env.h        GymEnv, MessageService, Info, InvalidRequest: the interface a scenario implements
//   ns6g-spaces.h     Space (Box, Discrete, ...), Dtype, DataView over the segment
//   ns6g-records.h    RecordType, NS6G_FIELD (dtype inferred from the member), Message
//   ns6g-transport.h  Bridge: the segment, the descriptor, the request loop
//   ns6g-layout.h     offsets, commands, status codes; GENERATED from ns6g/core/bridge_layout.py
//   ns6g-wait.h       the spin-then-futex wait, shared with ns6g/_shmsync.c
//
// Protocol (the Python side is ns6g/core/bridge.py; docs/bridge.md describes both):
//  * Python creates a POSIX shared-memory segment (owner-only, name "/ns6g-<pid>-<random>") holding a
//    4 KiB header, starts the scenario with --ns6g-shm=<name>, and waits.
//  * The scenario lays out its spaces after the header (every leaf array 64-byte aligned), grows the
//    segment with ftruncate, writes a JSON descriptor of the spaces and layout into the arena, and posts
//    response sequence 1 (HELLO). Python maps the segment, builds numpy views and unlinks the name, so
//    no exit path can leave it behind.
//  * Lockstep: Python writes a request (command + action or arena payload) and posts the request
//    counter; the scenario answers and posts the response counter. Waiters spin only while spinning can
//    win, else sleep on the counter word with FUTEX_WAIT; posters call FUTEX_WAKE only when the waiter
//    count is non-zero. Both sides run the same code for this: ns6g-wait.h.
//  * Order: STEP and MESSAGE before the first successful RESET, or STEP after the episode ended, get an
//    error response (Bridge::Handle); the scenario lives on.
//  * Liveness: a watchdog thread beats a heartbeat word every 50 ms (Python raises if it stops) and exits
//    the process within about 50 ms once the Python parent is gone.
#pragma once

#include "ns6g-env.h"
#include "ns6g-transport.h"

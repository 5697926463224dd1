"""The bridge, Python side: one shared-memory segment and one ns-3 scenario process per instance.

Protocol and layout are described in ``docs/bridge.md``; the segment layout, commands and status codes
are declared once in :mod:`ns6g.core.bridge_layout` (the C++ side includes the header generated from it). In short:

1. :class:`Bridge` creates ``/dev/shm/ns6g-<pid>-<random>`` (mode 0600) holding a 4 KiB header and starts
   the scenario with ``--ns6g-shm=/<name>``.
2. The scenario lays out its declared spaces, grows the segment and answers HELLO with a JSON descriptor.
   Python maps the whole segment, builds gymnasium spaces and numpy views, and unlinks the name at once:
   from then on no exit path of either process can leave the segment behind.
3. Lockstep exchanges: Python writes a request and posts the request counter; the scenario answers and
   posts the response counter. A waiter spins only while spinning can win (the peer runs on another CPU
   and recent spins were answered), else sleeps on the futex: ``ns3_scenarios/bridge/ns6g-wait.h``.
4. Liveness: while waiting, Python checks in 50 ms slices that the scenario process lives and that its
   watchdog heartbeat advances; the scenario's watchdog exits once Python is gone. No system call is made
   on the fast path: a request to a scenario that died unseen is answered by the wait that follows it.
5. Death is final: once the scenario has died (crash, kill, exit, hang) every later call on the bridge
   raises the same :class:`ScenarioCrashed` or :class:`ScenarioNotResponding`, naming that process. A
   bridge never starts a second process; a new scenario is a new :class:`Bridge`.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import secrets
import signal
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from ns6g import _shmsync
from ns6g.core.bridge_layout import (
    CMD_CLOSE,
    CMD_MESSAGE,
    CMD_RESET,
    CMD_STEP,
    HEADER_SIZE,
    MAGIC,
    OFF_ARENA_OFFSET,
    OFF_HEARTBEAT,
    OFF_MAGIC,
    OFF_PYTHON_CPU,
    OFF_PYTHON_PID,
    OFF_REQ_ARENA_LEN,
    OFF_REQ_COMMAND,
    OFF_REQ_SEED,
    OFF_REQUEST_CTR,
    OFF_RESP_ARENA_LEN,
    OFF_RESP_REWARD,
    OFF_RESP_SIM_TIME,
    OFF_RESP_STATUS,
    OFF_RESP_TERMINATED,
    OFF_RESPONSE_CTR,
    OFF_SCENARIO_CPU,
    OFF_SCENARIO_MOVES,
    OFF_TOTAL_SIZE,
    OFF_VERSION,
    STATUS_OK,
    VERSION,
)
from ns6g.core.spaces import Views, build_readonly_views, build_space, build_views, views_reader, write_action

SHM_DIR = Path("/dev/shm")
SEGMENT_PREFIX = "ns6g-"

SLICE_NS = 50_000_000  # how often a waiter wakes to check the peer's liveness

_this_pid = os.getpid()  # kept current by the fork hook below: the owner check makes no system call


def _after_fork_in_child() -> None:
    global _this_pid
    _this_pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork_in_child)


class BridgeError(RuntimeError):
    """Base class of every bridge failure."""


class ScenarioError(BridgeError):
    """The scenario rejected a request (an invalid action, for instance); it is still running."""


class ScenarioCrashed(BridgeError):
    """The scenario process exited or was killed (the message names its binary, pid and signal or exit code)."""


class ScenarioNotResponding(BridgeError):
    """The scenario stopped answering (frozen, or over its step timeout); it has been killed (the message
    names its binary and pid)."""


@dataclass
class StepResult:
    """What one STEP or RESET exchange returned (the observation stays in the bridge's views)."""

    reward: float
    terminated: bool
    truncated: bool
    sim_time_s: float
    info: dict[str, float]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_SEGMENT_RE = re.compile(rf"^{SEGMENT_PREFIX}(\d+)-[0-9a-f]+$")


#: glibc's malloc puts its heap on transparent huge pages (glibc 2.35 and later; Linux with THP set to
#: "madvise" or "always"). A large scenario's heap (about 100 MB at 1000 UEs) then costs far fewer TLB
#: misses: ``bench ran`` at 1000 UEs gains about 5 %. Memory layout only: results do not change.
HUGE_PAGE_TUNABLE = "glibc.malloc.hugetlb=1"


def scenario_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a scenario process starts with: ``base`` (default ``os.environ``) with
    :data:`HUGE_PAGE_TUNABLE` added to ``GLIBC_TUNABLES``, unless that already sets ``glibc.malloc.hugetlb``
    (a user's own choice, e.g. ``=0``, wins)."""
    env = dict(os.environ if base is None else base)
    tunables = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb=" not in tunables:
        env["GLIBC_TUNABLES"] = f"{tunables}:{HUGE_PAGE_TUNABLE}" if tunables else HUGE_PAGE_TUNABLE
    return env


def reap_stale_segments() -> list[str]:
    """Unlink ``ns6g-*`` segments whose creating process no longer exists. Returns their names."""
    reaped = []
    try:
        entries = list(SHM_DIR.iterdir())
    except OSError:
        return reaped
    for entry in entries:
        match = _SEGMENT_RE.match(entry.name)
        if match and not _pid_alive(int(match.group(1))):
            try:
                entry.unlink()
                reaped.append(entry.name)
            except OSError:
                pass  # another process reaped it first, or it is not ours
    return reaped


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


@dataclass
class _Resources:
    """Everything a bridge must release; closed by close() or by the garbage-collection finalizer."""

    path: Path
    fd: int = -1
    proc: subprocess.Popen | None = None
    log: IO[bytes] | None = None
    maps: list[mmap.mmap] = field(default_factory=list)
    exports: list[Any] = field(default_factory=list)  # objects holding a buffer of a mapping

    def unlink(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def release(self) -> None:
        self.unlink()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for export in self.exports:
            export.release()
        for m in self.maps:
            try:
                m.close()
            except BufferError:
                pass  # a caller still holds a view; the mapping goes with it
        self.maps.clear()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.log is not None:
            self.log.close()
            self.log = None


class Bridge:
    """One running scenario process and its shared-memory segment.

    Args:
        binary: the compiled scenario executable.
        args: extra command-line arguments for the scenario (its configuration).
        step_timeout_s: wall-clock limit of one exchange before the scenario is declared hung.
        hang_timeout_s: how long the scenario's heartbeat may stand still before it is declared frozen.
        start_timeout_s: wall-clock limit for the scenario to start and declare its spaces.
        spin_us: the longest spin of a waiter before it sleeps, in microseconds (both sides); a waiter spins
            only while spinning can win (see docs/bridge.md, "Waiting").

    Attributes:
        is_service: the scenario is a message service (ns6g::MessageService): no spaces, no STEP.
        observation_space, action_space: gymnasium spaces as the scenario declared them (None for a service).
        obs_views, action_views: writable numpy views over the segment (arrays, or dicts of them for Dict
            spaces; None for a service). To read the observation without copying it, use
            ``read_observation(copy=False)``: read-only views over the same bytes.
        record_dtypes: numpy structured dtypes of the message channel's record types, by name.
    """

    def __init__(
        self,
        binary: str | os.PathLike[str],
        args: Sequence[str] = (),
        *,
        step_timeout_s: float = 120.0,
        hang_timeout_s: float = 1.0,
        start_timeout_s: float = 30.0,
        spin_us: int = 50,
    ) -> None:
        self.binary = Path(binary)
        if not self.binary.is_file():
            raise FileNotFoundError(f"scenario binary not found: {self.binary}")
        self.step_timeout_s = step_timeout_s
        self.hang_timeout_s = hang_timeout_s
        self._spin_ns = int(spin_us * 1000)
        self._seq = 0
        self._closed = False
        self._owner = os.getpid()  # only the process that started the scenario can wait for it
        self.death: ScenarioCrashed | ScenarioNotResponding | None = None
        """How the scenario died, once it has (every later call raises it again)."""
        reap_stale_segments()

        name = f"{SEGMENT_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
        self._res = _Resources(path=SHM_DIR / name)
        self._finalizer = weakref.finalize(self, self._res.release)
        try:
            self._res.fd = os.open(self._res.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            os.fchmod(self._res.fd, 0o600)
            os.ftruncate(self._res.fd, HEADER_SIZE)
            self._header = self._map(HEADER_SIZE)
            self._u64(OFF_MAGIC)[()] = MAGIC
            self._u32(OFF_VERSION)[()] = VERSION
            self._u32(OFF_PYTHON_PID)[()] = os.getpid()
            self._lockstep = _shmsync.Lockstep(
                self._header, post_offset=OFF_REQUEST_CTR, wait_offset=OFF_RESPONSE_CTR,
                own_cpu_offset=OFF_PYTHON_CPU, peer_cpu_offset=OFF_SCENARIO_CPU, command_offset=OFF_REQ_COMMAND,
                status_offset=OFF_RESP_STATUS, spin_ns=self._spin_ns)
            self._res.exports.append(self._lockstep)
            self._heartbeat = self._u64(OFF_HEARTBEAT)
            self._status = self._u32(OFF_RESP_STATUS)
            self._resp_arena_len = self._u64(OFF_RESP_ARENA_LEN)

            self._res.log = tempfile.TemporaryFile(prefix="ns6g-scenario-", suffix=".log")
            self._res.proc = subprocess.Popen(
                [str(self.binary), f"--ns6g-shm=/{name}", f"--ns6g-spin-us={spin_us}", *args],
                stdin=subprocess.DEVNULL,
                stdout=self._res.log,
                stderr=subprocess.STDOUT,
                env=scenario_environment(),
                start_new_session=True,  # a terminal's Ctrl-C reaches Python, which closes us cleanly
            )
            self._wait(1, start_timeout_s, starting=True)
            self._res.unlink()  # both sides have it mapped: the name is no longer needed
            self._hello()
        except BaseException:
            self._finalizer()
            raise

    # -- mapping helpers -------------------------------------------------------------------------
    def _map(self, length: int, offset: int = 0) -> mmap.mmap:
        m = mmap.mmap(self._res.fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=offset)
        self._res.maps.append(m)
        return m

    def _u32(self, offset: int) -> np.ndarray:
        return np.ndarray((), dtype=np.uint32, buffer=self._header, offset=offset)

    def _u64(self, offset: int) -> np.ndarray:
        return np.ndarray((), dtype=np.uint64, buffer=self._header, offset=offset)

    def _f64(self, offset: int) -> np.ndarray:
        return np.ndarray((), dtype=np.float64, buffer=self._header, offset=offset)

    def _hello(self) -> None:
        self._arena_offset = int(self._u64(OFF_ARENA_OFFSET)[()])
        self._fixed = self._map(self._arena_offset)
        self._map_arena()
        desc = json.loads(bytes(self._arena[: int(self._resp_arena_len[()])]).decode())
        if desc.get("version") != VERSION:
            raise BridgeError(f"scenario speaks bridge protocol {desc.get('version')}, expected {VERSION}")
        self.descriptor = desc
        # A message service (ns6g::MessageService) declares no spaces: it has no observation and takes no STEP.
        self.is_service = desc["observation"] is None
        self.observation_space = None if self.is_service else build_space(desc["observation"])
        self.action_space = None if self.is_service else build_space(desc["action"])
        self.obs_views: Views | None = None if self.is_service else build_views(desc["observation"], self._fixed)
        self.action_views: Views | None = None if self.is_service else build_views(desc["action"], self._fixed)
        if not self.is_service:  # the two ways to read the observation, built once
            self._read_copy = views_reader(self.obs_views, self.observation_space)
            self._read_view = views_reader(build_readonly_views(desc["observation"], self._fixed),
                                           self.observation_space, copy=False)
        self.record_dtypes: dict[str, np.dtype] = {}
        for record in desc["records"]:
            names, formats, offsets = zip(*record["fields"]) if record["fields"] else ((), (), ())
            self.record_dtypes[record["name"]] = np.dtype(
                {"names": list(names), "formats": list(formats), "offsets": list(offsets),
                 "itemsize": record["itemsize"]}
            )
        self._record_names = list(self.record_dtypes)
        self._info_names_blob = b""
        self._info_names: list[str] = []
        self._reward = self._f64(OFF_RESP_REWARD)
        self._sim_time = self._f64(OFF_RESP_SIM_TIME)
        self._flags = np.ndarray((2,), dtype=np.uint8, buffer=self._header, offset=OFF_RESP_TERMINATED)
        self._seq = 1  # HELLO took response 1; request n is answered by response n + 1

    def _map_arena(self) -> None:
        total = int(self._u64(OFF_TOTAL_SIZE)[()])
        self._arena_size = total - self._arena_offset
        self._arena = self._map(self._arena_size, self._arena_offset)

    def _arena_view(self, need: int = 0) -> mmap.mmap:
        """The arena, remapped if the scenario grew it and grown here if it must hold ``need`` bytes."""
        total = int(self._u64(OFF_TOTAL_SIZE)[()])
        if total - self._arena_offset != self._arena_size:
            self._map_arena()
        if need > self._arena_size:
            new_total = self._arena_offset + -(-max(need, 2 * self._arena_size) // 4096) * 4096
            os.ftruncate(self._res.fd, new_total)
            self._u64(OFF_TOTAL_SIZE)[()] = new_total
            self._map_arena()
        return self._arena

    # -- liveness --------------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        return self._res.proc.pid if self._res.proc else -1

    @property
    def alive(self) -> bool:
        return not self._closed and self._res.proc is not None and self._res.proc.poll() is None

    def stderr_tail(self, lines: int = 20) -> str:
        """The last lines the scenario wrote to stdout/stderr."""
        log = self._res.log
        if log is None:
            return ""
        log.flush()
        size = log.seek(0, os.SEEK_END)
        log.seek(max(0, size - 8192))
        text = log.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _crashed(self) -> ScenarioCrashed:
        code = self._res.proc.returncode
        how = f"was killed by {_signal_name(code)}" if code < 0 else f"exited with code {code}"
        tail = self.stderr_tail()
        detail = f"; its last output:\n{tail}" if tail else " (it wrote nothing)"
        return self._died(ScenarioCrashed(f"scenario {self.binary.name} (pid {self.pid}) {how}{detail}"))

    def _hung(self, why: str) -> ScenarioNotResponding:
        tail = self.stderr_tail()
        detail = f"; its last output:\n{tail}" if tail else ""
        return self._died(ScenarioNotResponding(f"scenario {self.binary.name} (pid {self.pid}) {why}; killed it{detail}"))

    def _died(self, error: ScenarioCrashed | ScenarioNotResponding) -> BridgeError:
        """Release everything (a hung scenario is killed here) and remember how it ended."""
        self._finalizer()
        self._closed = True
        self.death = error
        return error

    def _wait(self, target: int, timeout_s: float, starting: bool = False) -> None:
        """Block until response ``target``; raise if the scenario dies, freezes or runs over time."""
        if not self._lockstep.wait(target, not starting, SLICE_NS):  # spins only while spinning can win
            self._wait_on(target, timeout_s, starting)

    def _wait_on(self, target: int, timeout_s: float, starting: bool = False) -> None:
        """The rest of a wait whose first slice passed without the answer: sleep in slices, checking the
        scenario's liveness between them."""
        start = time.monotonic()
        beat, beat_seen = int(self._heartbeat[()]), start
        while not self._lockstep.wait(target, False, SLICE_NS):
            if self._res.proc.poll() is not None:
                raise self._crashed()
            now = time.monotonic()
            current = int(self._heartbeat[()])
            if current != beat or (starting and current == 0):
                beat, beat_seen = current, now
            elif now - beat_seen > self.hang_timeout_s:
                raise self._hung(f"stopped answering (no heartbeat for {now - beat_seen:.1f} s)")
            if now - start > timeout_s:
                what = "did not start" if starting else "did not answer"
                raise self._hung(f"{what} within {timeout_s:g} s")

    # -- exchanges -------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self.death is not None:  # a fresh exception with the first report's words: the original process
            raise type(self.death)(str(self.death))
        if self._closed:
            raise BridgeError(f"the bridge to {self.binary.name} (pid {self.pid}) is closed")

    def _check_usable(self) -> None:
        """Raise if this process may not send a request: the bridge is closed, the scenario is known dead,
        or this is a forked child (its waitpid would fail and look like "exited with code 0")."""
        self._check_open()
        if _this_pid != self._owner:
            raise BridgeError(f"the bridge to {self.binary.name} (pid {self.pid}) belongs to process {self._owner}; "
                              "a forked process must start its own scenario")

    def check_alive(self) -> None:
        """Raise if the scenario cannot take a request: :class:`ScenarioCrashed` or
        :class:`ScenarioNotResponding` if it died (now or before; the message names that process and its
        signal or exit code), :class:`BridgeError` if the bridge was closed."""
        self._check_usable()
        if self._res.proc.poll() is not None:
            raise self._crashed()

    def wait_stats(self) -> dict[str, int]:
        """How Python's waits for answers went so far (counts): spins_won, spins_lost, skipped_backoff,
        skipped_same_cpu, sleeps (futex sleep phases, one per 50 ms slice), sleep_timeouts (futex sleeps that
        ran to their timeout) and the current backoff. Readable after the bridge closed or died."""
        return self._lockstep.stats()

    def scenario_moves(self) -> int:
        """How often the scenario moved itself to another CPU because it kept finding Python on its own
        (the bridge's "moving apart" rule, docs/bridge.md#waiting)."""
        self._check_open()
        return int(self._u32(OFF_SCENARIO_MOVES)[()])

    def post(self, command: int) -> None:
        """Send a request without waiting (the action or payload must already be in place). Makes no
        system call unless the scenario sleeps; a scenario that died unseen is reported by :meth:`wait`."""
        self._check_usable()
        self._seq += 1
        self._lockstep.post(command, self._seq - 1)

    def wait(self) -> None:
        """Wait for the answer to the last posted request; raises ScenarioError if it is an error."""
        self._check_open()
        self._wait(self._seq, self.step_timeout_s)
        if self._status[()] != STATUS_OK:
            self._raise_error()

    def exchange(self, command: int = CMD_STEP) -> None:
        """One lockstep round trip: :meth:`post` and :meth:`wait` in one call into C on the fast path."""
        self._check_usable()
        self._seq += 1
        status = self._lockstep.exchange(command, self._seq - 1, SLICE_NS)
        if status < 0:  # no answer within the first slice
            self._wait_on(self._seq, self.step_timeout_s)
            status = self._status[()]
        if status != STATUS_OK:
            self._raise_error()

    def _raise_error(self) -> None:
        length = int(self._resp_arena_len[()])
        raise ScenarioError(bytes(self._arena_view()[:length]).decode(errors="replace"))

    def outcome(self) -> StepResult:
        """Reward, flags, simulated time and info of the last STEP or RESET."""
        return StepResult(
            reward=float(self._reward[()]),
            terminated=bool(self._flags[0]),
            truncated=bool(self._flags[1]),
            sim_time_s=float(self._sim_time[()]),
            info=self._read_info(),
        )

    def _read_info(self) -> dict[str, float]:
        length = int(self._resp_arena_len[()])
        if length == 0:
            return {}
        arena = self._arena_view()
        count, names_len = np.frombuffer(arena, dtype=np.uint32, count=2)
        blob = arena[8 : 8 + names_len]
        if blob != self._info_names_blob:
            self._info_names_blob = blob
            self._info_names = blob.decode().split("\0")[:-1]
        values_off = -(-(8 + int(names_len)) // 8) * 8
        values = np.frombuffer(arena, dtype=np.float64, count=int(count), offset=values_off)
        return dict(zip(self._info_names, values.tolist()))

    def write_action(self, action: Any) -> None:
        """Check ``action`` against the action space and copy it into the segment."""
        self._check_usable()
        self._check_spaces("takes no action")
        write_action(self.action_views, self.action_space, action)

    def read_observation(self, copy: bool = True) -> Any:
        """The current observation (arrays, a dict of them for a Dict space, ``np.int64`` for Discrete).

        ``copy=True`` (the default): an owned copy, valid for ever.

        ``copy=False``: zero copy, read-only numpy views over the shared segment itself (built once, at
        start-up). They are overwritten by the next exchange (step, reset, exchange); copy what you keep.
        Writing into them raises numpy's read-only ``ValueError``. A Discrete value is an ``np.int64`` either
        way (a scalar, not a view).
        """
        if self.is_service:
            self._check_spaces("has no observation")
        return self._read_copy() if copy else self._read_view()

    def _check_spaces(self, what: str) -> None:
        if self.is_service:
            raise BridgeError(f"{self.binary.name} is a message service: it {what}; use request()")

    def reset(self, seed: int) -> StepResult:
        """Rebuild the simulation in the running process with ns-3 RngRun ``seed``."""
        if not 0 <= seed < 2**64:
            raise ValueError(f"seed must be in [0, 2**64), got {seed}")
        self.check_alive()
        self._u64(OFF_REQ_SEED)[()] = seed
        self.exchange(CMD_RESET)
        return self.outcome()

    def step(self, action: Any) -> StepResult:
        """Apply ``action`` and advance the simulation to the next decision."""
        self.write_action(action)
        self.exchange(CMD_STEP)
        return self.outcome()

    def request(self, record_type: str, records: np.ndarray) -> tuple[str, np.ndarray]:
        """Send an array of typed records over the message channel; returns the reply's type and records."""
        self.check_alive()
        if record_type not in self.record_dtypes:
            raise ValueError(f"unknown record type {record_type!r}; the scenario declares {self._record_names}")
        dtype = self.record_dtypes[record_type]
        records = np.asarray(records)
        if records.dtype != dtype:
            raise ValueError(f"records for {record_type!r} must have dtype {dtype}, got {records.dtype}")
        payload = np.ascontiguousarray(records).reshape(-1).view(np.uint8)
        arena = self._arena_view(16 + payload.nbytes)
        head = np.ndarray((4,), dtype=np.uint32, buffer=arena)
        head[0], head[1] = self._record_names.index(record_type), 0
        np.ndarray((), dtype=np.uint64, buffer=arena, offset=8)[()] = records.size
        np.ndarray((payload.nbytes,), dtype=np.uint8, buffer=arena, offset=16)[:] = payload
        del head
        self._u64(OFF_REQ_ARENA_LEN)[()] = 16 + payload.nbytes
        self.exchange(CMD_MESSAGE)
        arena = self._arena_view()
        type_index = int(np.frombuffer(arena, dtype=np.uint32, count=1)[0])
        count = int(np.frombuffer(arena, dtype=np.uint64, count=1, offset=8)[0])
        reply_type = self._record_names[type_index]
        reply = np.frombuffer(arena, dtype=self.record_dtypes[reply_type], count=count, offset=16).copy()
        return reply_type, reply

    def close(self) -> None:
        """Ask the scenario to exit, then release everything. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        proc = self._res.proc
        if proc is not None and proc.poll() is None:
            try:
                self._seq += 1
                self._lockstep.post(CMD_CLOSE, self._seq - 1)
                proc.wait(timeout=2)
            except (subprocess.TimeoutExpired, ValueError):
                pass  # release() kills it
        self._finalizer()

    def __enter__(self) -> Bridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

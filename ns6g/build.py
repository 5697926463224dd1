"""Compile the ns-3 scenarios in ``ns3_scenarios/`` against the installed ``ns3`` wheel.

Outputs go to ``<cache>/build/<key>/`` where the key hashes the sources, the compiler, the flags and the
ns-3 install, so a repeated build is a no-op and the package itself may be read-only. A file lock lets
many environments that start at once share one build.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.resources
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

BUILD_TYPE = "Release"
KEEP_BUILDS = 3


class BuildError(RuntimeError):
    """The scenarios did not compile; the message holds the compiler's own errors and the file."""


class UnknownScenarioError(KeyError):
    """No scenario of that name exists."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Ns3Install:
    root: Path
    include_dir: Path
    lib_dir: Path
    version: str


@dataclass(frozen=True)
class BuildResult:
    bin_dir: Path
    built: bool
    seconds: float
    scenarios: list[str]


def find_ns3() -> Ns3Install:
    """Locate the ns3 wheel without importing it (its import loads cppyy, which is slow)."""
    spec = importlib.util.find_spec("ns3")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("the ns3 wheel is not installed: pip install ns3==3.44.post0")
    root = Path(next(iter(spec.submodule_search_locations))).resolve()
    lib_dir = root / "lib64"
    if not (root / "include" / "ns3" / "core-module.h").is_file() or not lib_dir.is_dir():
        raise BuildError(f"the ns3 wheel at {root} lacks its headers or libraries")
    return Ns3Install(root, root / "include", lib_dir, metadata.version("ns3"))


def scenario_source_dir() -> Path:
    return Path(str(importlib.resources.files("ns6g.ns3_scenarios")))


def cache_dir() -> Path:
    if env := os.environ.get("NS6G_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ns6g"


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name  # the PyPI wheels in the virtual environment
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        raise BuildError(f"{name} not found: pip install {name}")
    return found


def _source_files(source_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in source_dir.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".py")
    )


def scenario_names(source_dir: Path) -> list[str]:
    return sorted(p.stem for p in source_dir.glob("*.cc"))


def _compiler_id() -> str:
    cxx = os.environ.get("CXX") or shutil.which("c++") or "c++"
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        out = "unknown"
    return f"{cxx}\n{out.splitlines()[0] if out else ''}"


def build_key(source_dir: Path, ns3: Ns3Install) -> str:
    h = hashlib.sha256()
    for path in _source_files(source_dir):
        h.update(str(path.relative_to(source_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(f"{_compiler_id()}\n{BUILD_TYPE}\n{ns3.version}\n{ns3.lib_dir}".encode())
    return h.hexdigest()[:20]


def _errors(log: str) -> str:
    """The compiler's error lines with a little context, or the log's tail."""
    lines = log.splitlines()
    keep: list[str] = []
    for i, line in enumerate(lines):
        if re.search(r"\berror\b", line):
            keep.extend(lines[max(0, i - 2) : i + 4])
    return "\n".join(dict.fromkeys(keep) if keep else lines[-40:])


def build(
    source_dir: Path | None = None, *, force: bool = False, jobs: int | None = None, quiet: bool = False
) -> BuildResult:
    """Build every scenario (cached). Raises BuildError with the compiler's message on failure."""
    source_dir = Path(source_dir) if source_dir else scenario_source_dir()
    ns3 = find_ns3()
    start = time.perf_counter()
    names = scenario_names(source_dir)
    root = cache_dir() / "build"
    root.mkdir(parents=True, exist_ok=True)
    out = root / build_key(source_dir, ns3)
    marker = out / "BUILD_OK"
    if marker.exists() and not force:
        return BuildResult(out / "bin", False, time.perf_counter() - start, names)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same key
        if marker.exists() and not force:
            return BuildResult(out / "bin", False, time.perf_counter() - start, names)
        if not quiet:
            print(
                f"ns6g: building {len(names)} ns-3 scenarios against ns-3 {ns3.version} into {out} "
                "(first use; about 30 s)",
                file=sys.stderr,
                flush=True,
            )
        tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=root))
        log_path = root / "last-build.log"
        cmake, ninja = _tool("cmake"), _tool("ninja")
        steps = [
            [cmake, "-S", str(source_dir), "-B", str(tmp), "-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}",
             f"-DNS3_ROOT={ns3.root}", f"-DCMAKE_BUILD_TYPE={BUILD_TYPE}"],
            [cmake, "--build", str(tmp), "--", f"-j{jobs or os.cpu_count() or 2}"],
        ]
        log = ""
        for cmd in steps:
            proc = subprocess.run(cmd, capture_output=True, text=True)
            log += proc.stdout + proc.stderr
            if proc.returncode != 0:
                log_path.write_text(log)
                shutil.rmtree(tmp, ignore_errors=True)
                raise BuildError(f"building the ns-3 scenarios in {source_dir} failed:\n{_errors(log)}\n"
                                 f"(full log: {log_path})")
        (tmp / "BUILD_OK").write_text(ns3.version)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        _prune(root, keep=out)
    seconds = time.perf_counter() - start
    if not quiet:
        print(f"ns6g: built {len(names)} scenarios in {seconds:.1f} s", file=sys.stderr, flush=True)
    return BuildResult(out / "bin", True, seconds, names)


def _prune(root: Path, keep: Path) -> None:
    builds = sorted((p for p in root.iterdir() if p.is_dir() and p != keep), key=lambda p: p.stat().st_mtime)
    for old in builds[: max(0, len(builds) - (KEEP_BUILDS - 1))]:
        shutil.rmtree(old, ignore_errors=True)


def scenario_binary(name: str, source_dir: Path | None = None) -> Path:
    """Path of a scenario's executable, building the scenarios first if needed."""
    result = build(source_dir)
    if name not in result.scenarios:
        raise UnknownScenarioError(f"no scenario {name!r}; available: {', '.join(result.scenarios)}")
    return result.bin_dir / name

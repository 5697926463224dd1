"""Compile the ns-3 scenarios in ``ns3_scenarios/`` against the ns-3 shipped by the PyPI ``ns3`` wheel.

Every top-level ``*.cc`` of the scenario folder is one executable named after its stem; CMake (Ninja
generator) does the compiling, driven by ``ns3_scenarios/CMakeLists.txt``.

A scenario folder is either the package's (or a full copy of it: a folder with its own CMakeLists.txt) or a
folder of a user's own scenarios outside the package (``ns6g build DIR``, an environment's
``scenario_source``): just ``*.cc`` files (and headers, ``options/<scenario>-options.h``). Such a folder
is built against the package: the package's build comes first, its ``libns6g-models.a`` is linked as built
and the package's folder is on the include path (``bridge/ns6g-serve.h``, ``options/option-support.h``,
``ran/...``), so the package's build key is part of the folder's: a change to the package rebuilds it.

Outputs go to ``<cache_dir()>/build/<key>/bin/`` where ``key`` hashes everything that decides what the
binaries are (the sources, the compiler, the flags, the ns-3 install), so

* a repeated build is a quick no-op and an installed package may be read-only;
* a build runs in a temporary folder and is renamed into place only once it has succeeded, and a marker
  file written last says so, so a killed build is never mistaken for a finished one;
* processes that build at the same time (several environments starting at once) share one build: the
  first one takes a lock and compiles, the others wait for the lock and then find the result;
* each source folder keeps its own KEEP_BUILDS most recent builds: building one folder never evicts
  another's (a user's builds never evict the package's).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.resources
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

__all__ = [
    "BuildError",
    "BuildResult",
    "Ns3Install",
    "UnknownScenarioError",
    "build",
    "build_key",
    "cache_dir",
    "find_ns3",
    "scenario_binary",
    "scenario_names",
    "scenario_source_dir",
]

BUILD_TYPE = "Release"
# Completed builds kept per source folder, the current one included; older ones are deleted.
KEEP_BUILDS = 3
# A build whose source folder no longer exists and that has not been used for this long is deleted.
ORPHAN_SECONDS = 7 * 24 * 3600
# Written into a build folder last, after everything else succeeded.
MARKER = "BUILD_OK"
# Part of the key: bump it when the CMake arguments or the cache layout change meaning.
LAYOUT = "ns6g-build-1"
# Environment variables CMake reads on a first configure; they change the binaries, so they are in the key.
_FLAG_ENV = ("CXX", "CXXFLAGS", "CPPFLAGS", "LDFLAGS")
_KEY_LEN = 20
_KEY_RE = re.compile(rf"^[0-9a-f]{{{_KEY_LEN}}}$")


class BuildError(RuntimeError):
    """The scenarios could not be built; the message holds the compiler's own errors and the log's path."""


class UnknownScenarioError(KeyError):
    """No scenario of that name exists in the scenario folder."""

    def __init__(self, name: str, available: list[str], source_dir: Path) -> None:
        super().__init__(name)
        self.name = name
        self.available = available
        self.source_dir = source_dir

    def __str__(self) -> str:  # KeyError would quote the whole message
        listing = ", ".join(self.available) or "none"
        return f"no ns-3 scenario {self.name!r} in {self.source_dir}; available: {listing}"


@dataclass(frozen=True)
class Ns3Install:
    """Where the ns3 wheel keeps ns-3's headers and shared libraries."""

    root: Path
    include_dir: Path
    lib_dir: Path
    version: str  # the wheel's version, e.g. 3.44.post0

    @property
    def lib_version(self) -> str:
        """The ns-3 version in the library file names (``libns3.44-core.so`` -> ``3.44``)."""
        for core in sorted(self.lib_dir.glob("libns[0-9]*-core.so")):
            return core.name[len("libns") : -len("-core.so")]
        raise BuildError(f"no ns-3 core library (libns<version>-core.so) in {self.lib_dir}")


@dataclass(frozen=True)
class BuildResult:
    """Outcome of :func:`build`."""

    bin_dir: Path  # one executable per scenario, named after it
    built: bool  # False when the cache already held this build
    seconds: float
    scenarios: list[str]
    key: str = ""
    log_path: Path | None = None  # the CMake/Ninja output of the build that made bin_dir


def find_ns3() -> Ns3Install:
    """Locate the ns3 wheel without importing it: its import loads cppyy, which takes seconds."""
    spec = importlib.util.find_spec("ns3")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    # Several entries are possible (ns3 is a namespace package); take the one with ns-3's layout.
    for loc in locations:
        root = Path(loc).resolve()
        if (root / "include" / "ns3" / "core-module.h").is_file() and (root / "lib64").is_dir():
            break
    else:
        where = f" (looked in {', '.join(locations)})" if locations else ""
        raise BuildError(
            f"the ns3 wheel (ns-3's headers and libraries) is not installed for {sys.executable}{where}: "
            "pip install ns3==3.44.post0"
        )
    try:
        version = metadata.version("ns3")
    except metadata.PackageNotFoundError:  # files present without metadata: use the library names
        version = Ns3Install(root, root / "include", root / "lib64", "").lib_version
    return Ns3Install(root=root, include_dir=root / "include", lib_dir=root / "lib64", version=version)


def scenario_source_dir() -> Path:
    """The scenario folder of the installed package (the repository's ns3_scenarios/ when editable)."""
    return Path(str(importlib.resources.files("ns6g.ns3_scenarios")))


def cache_dir() -> Path:
    """``$NS6G_CACHE_DIR``, else ``$XDG_CACHE_HOME/ns6g``, else ``~/.cache/ns6g``."""
    if explicit := os.environ.get("NS6G_CACHE_DIR"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "ns6g"


def scenario_names(source_dir: Path | None = None) -> list[str]:
    """Scenario names: the stems of the top-level ``*.cc`` files."""
    src = _source(source_dir)
    return sorted(p.stem for p in src.glob("*.cc") if p.is_file())


def _source(source_dir: Path | str | None) -> Path:
    src = Path(source_dir).resolve() if source_dir is not None else scenario_source_dir()
    if not src.is_dir():
        raise BuildError(f"no scenario folder {src}: it does not exist or is not a folder")
    if not (src / "CMakeLists.txt").is_file() and not any(p.is_file() for p in src.glob("*.cc")):
        raise BuildError(f"{src} holds no scenarios: an ns6g scenario folder has one top-level <scenario>.cc per "
                         "scenario (a project from `ns6g new-scenario` keeps them in <package>/scenarios/)")
    return src


def _against_package(src: Path) -> bool:
    """True for a folder of a user's scenarios, built against the package's build (no CMakeLists.txt)."""
    return not (src / "CMakeLists.txt").is_file()


def _source_files(source_dir: Path) -> Iterator[tuple[str, Path]]:
    """(relative path, path) of every file that goes into the build, in a stable order."""
    for dirpath, dirnames, filenames in os.walk(source_dir):
        # Python leftovers, hidden folders (editors, VCS) and in-source CMake build trees play no part.
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d != "__pycache__" and not d.startswith(".") and not (Path(dirpath, d, "CMakeCache.txt").exists())
        )
        for name in sorted(filenames):
            if name == "__init__.py" or name.endswith((".pyc", "~")) or name.startswith("."):
                continue
            path = Path(dirpath, name)
            yield path.relative_to(source_dir).as_posix(), path


def _compiler() -> tuple[list[str], str]:
    """(CMake arguments naming the C++ compiler, its identity for the key)."""
    if cxx := os.environ.get("CXX", "").strip():
        # CMake reads CXX itself (it may carry arguments); identify it by what it says it is.
        return [], _compiler_identity(tuple(shlex.split(cxx)))
    # Name the compiler CMake would pick (c++ first), so that the key and the build agree.
    for name in ("c++", "g++", "clang++"):
        if found := shutil.which(name):
            return [f"-DCMAKE_CXX_COMPILER={found}"], _compiler_identity((found,))
    raise BuildError("no C++ compiler found (looked for c++, g++, clang++ on PATH; or set CXX)")


@lru_cache(maxsize=8)
def _compiler_identity(command: tuple[str, ...]) -> str:
    exe = shutil.which(command[0]) or command[0]
    try:
        proc = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"the C++ compiler {' '.join(command)} does not run: {exc}") from exc
    return f"{' '.join(command)}\n{os.path.realpath(exe)}\n{proc.stdout.strip()}"


def _cmake_args(ns3: Ns3Install, compiler_args: list[str]) -> list[str]:
    """The configure arguments that decide the output (the tool paths are added separately)."""
    return [
        f"-DCMAKE_BUILD_TYPE={BUILD_TYPE}",
        f"-DNS3_ROOT={ns3.root}",
        f"-DNS3_VERSION={ns3.lib_version}",
        "-DCMAKE_COLOR_DIAGNOSTICS=OFF",  # plain text logs, so errors can be picked out
        *compiler_args,
    ]


def build_key(source_dir: Path | None = None, ns3: Ns3Install | None = None) -> str:
    """Hash of everything that decides the binaries; names the build's folder in the cache. For a folder
    built against the package it includes the package's key."""
    src = _source(source_dir)
    ns3 = ns3 or find_ns3()
    package = build_key(None, ns3) if _against_package(src) else ""
    return _key(src, ns3, *_compiler(), package_key=package)


def _key(src: Path, ns3: Ns3Install, compiler_args: list[str], compiler_id: str, package_key: str = "") -> str:
    h = hashlib.sha256()

    def part(*items: str | bytes) -> None:
        for item in items:
            data = item.encode() if isinstance(item, str) else item
            h.update(len(data).to_bytes(8, "little"))  # lengths keep the parts from running together
            h.update(data)

    part(LAYOUT, os.uname().machine, compiler_id, *_cmake_args(ns3, compiler_args))
    part(ns3.version, str(ns3.lib_dir), str(ns3.include_dir))
    part(*(f"{name}={os.environ.get(name, '')}" for name in _FLAG_ENV))
    if package_key:  # a folder built against the package: its build is an input too
        part("against the package", package_key)
    for rel, path in _source_files(src):
        part(rel, path.read_bytes())
    return h.hexdigest()[:_KEY_LEN]


def _tool(name: str) -> str:
    """A build tool: the PyPI wheel's beside this Python (a virtual environment's bin/), else PATH."""
    beside = Path(sys.executable).parent / name  # not resolved: a venv's python is a symlink
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    if found := shutil.which(name):
        return found
    raise BuildError(f"{name} not found beside {sys.executable} nor on PATH: pip install {name}")


def _is_complete(out: Path) -> bool:
    return (out / MARKER).is_file()


def _touch(path: Path) -> None:
    """Mark a build as recently used, so housekeeping keeps it; a read-only cache is fine too."""
    with suppress(OSError):
        os.utime(path)


@contextmanager
def _locked(lock_path: Path, quiet: bool) -> Iterator[None]:
    """Hold an exclusive lock on the cache's build folder (released by the kernel if we die)."""
    try:
        fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o666)
    except OSError as exc:
        raise BuildError(f"cannot write to the build cache {lock_path.parent}: {exc}; set NS6G_CACHE_DIR") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not quiet:
                _say(f"waiting for another process building the ns-3 scenarios (lock {lock_path})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _say(message: str) -> None:
    print(f"ns6g: {message}", file=sys.stderr, flush=True)


def build(
    source_dir: Path | None = None, *, force: bool = False, jobs: int | None = None, quiet: bool = False
) -> BuildResult:
    """Build every scenario in ``source_dir`` (default: the package's), or find the cached build.

    ``force`` rebuilds even when the cache holds this build; ``jobs`` caps parallel compiles (Ninja's
    default: one per CPU, plus two); ``quiet`` drops the progress lines on stderr. Raises
    :class:`BuildError` with the compiler's messages when a build fails.
    """
    start = time.perf_counter()
    src = _source(source_dir)
    ns3 = find_ns3()
    compiler_args, compiler_id = _compiler()
    # A user's folder: the package's build first (cached, or built now), then this folder against it.
    package = build(jobs=jobs, quiet=quiet) if _against_package(src) else None
    key = _key(src, ns3, compiler_args, compiler_id, package.key if package else "")
    names = scenario_names(src)
    root = cache_dir() / "build"
    out = root / key

    def cached() -> BuildResult:
        _touch(out)
        log = out / "build.log"
        return BuildResult(out / "bin", False, time.perf_counter() - start, names, key, log)

    if not force and _is_complete(out):
        return cached()  # the common case: no lock, no output
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildError(f"cannot create the build cache {root}: {exc}; set NS6G_CACHE_DIR") from exc
    with _locked(root / ".lock", quiet):
        if not force and _is_complete(out):
            return cached()  # another process built it while we waited for the lock
        began = time.perf_counter()  # the build's own time, without the wait for the lock
        _remove_leftovers(root)
        if not quiet:
            reason = "sources or toolchain changed" if _completed_builds(root) else "first use"
            estimate = _estimate(root, len(names), against_package=package is not None)
            _say(
                f"building {len(names)} ns-3 scenario{'s' if len(names) != 1 else ''} against ns-3 "
                f"{ns3.lib_version} into {out} ({reason}"
                + (f"; about {estimate} s, going by the last build here" if estimate is not None else "")
                + ")"
            )
        log_path = root / f"{key}.log"  # outside the temporary folder, so it outlives a failure
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root))
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide the binaries from other users of a shared cache
        try:
            _compile(src, tmp, ns3, compiler_args, jobs, log_path, package)
            log_path.replace(tmp / "build.log")
            marker = {
                "key": key,
                "ns3": ns3.version,
                "compiler": compiler_id.splitlines()[1:3],
                "source_dir": str(src),  # builds are kept per source folder (_prune)
                "package_build": package.key if package else None,
                "scenarios": names,
                "seconds": time.perf_counter() - began,  # read back by _estimate
            }
            (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n")  # last: the build is whole
            _move_into_place(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _prune(root, keep=out)
    seconds = time.perf_counter() - start
    if not quiet:
        _say(f"built {len(names)} ns-3 scenario{'s' if len(names) != 1 else ''} in {seconds:.1f} s")
    return BuildResult(out / "bin", True, seconds, names, key, out / "build.log")


def _estimate(root: Path, n_scenarios: int, against_package: bool = False) -> int | None:
    """Seconds a clean build of ``n_scenarios`` scenarios should take, going by the last one measured on
    this cache: the most recently used completed build's marker (its ``seconds`` and ``scenarios``) of the
    same kind (a user's folder built against the package compiles no ns6g-models, so only such builds
    measure it), scaled by the number of scenarios. None when the cache holds no measured build: say
    nothing rather than guess (a formula said 27 s for a first build that took 85-150 s)."""
    for path in sorted(_completed_builds(root), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            marker = json.loads((path / MARKER).read_text())
            seconds, measured = float(marker["seconds"]), len(marker["scenarios"])
            if bool(marker.get("package_build")) != against_package:
                continue
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # an unreadable or older marker: try the next build
        if seconds > 0 and measured > 0:
            return max(1, round(seconds * max(n_scenarios, 1) / measured))
    return None


def _compile(
    src: Path,
    tmp: Path,
    ns3: Ns3Install,
    compiler_args: list[str],
    jobs: int | None,
    log_path: Path,
    package: BuildResult | None = None,
) -> None:
    """Configure and compile ``src`` into ``tmp``; with ``package`` (the package's build), ``src`` is a
    user's folder built through the package's CMakeLists.txt against that build's ns6g-models."""
    cmake, ninja = _tool("cmake"), _tool("ninja")
    against = []
    if package is not None:
        models = package.bin_dir.parent / "libns6g-models.a"
        against = [f"-DNS6G_SCENARIO_DIR={src}", f"-DNS6G_MODELS_LIB={models}"]
    configure = [
        cmake,
        "-S",
        str(scenario_source_dir() if package is not None else src),
        "-B",
        str(tmp),
        "-G",
        "Ninja",
        f"-DCMAKE_MAKE_PROGRAM={ninja}",
        *_cmake_args(ns3, compiler_args),
        *against,
    ]
    # -k 0: keep going after a failure, so the errors of every broken scenario show at once.
    compile_ = [ninja, "-C", str(tmp), "-k", "0", *([f"-j{jobs}"] if jobs else [])]
    # English, ASCII diagnostics: the error lines are picked out of the log by their wording.
    env = {**os.environ, "LC_ALL": "C"}
    with open(log_path, "w") as log:
        for stage, command in (("configure", configure), ("compile", compile_)):
            log.write(f"$ {shlex.join(command)}\n")
            log.flush()
            proc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
            if proc.returncode != 0:
                log.close()
                raise BuildError(_failure_message(stage, src, log_path))


# Lines before an error that say where it happened (GCC and Clang styles).
_WHERE_RE = re.compile(
    r"^In file included from |^\s+from |: In (?:member )?function|: In instantiation"
    r"|: In constructor|: In destructor|: In lambda|: At global scope|required from"
    r"|: in function `"
)  # the last: the linker's
_ERROR_RE = re.compile(r"\berror:|undefined reference to|^CMake Error")
_FILE_RE = re.compile(r"^(?P<file>[^\s:][^:]*?):\d+(?::\d+)?: (?:fatal )?error:")
# Ninja's line for a failed step, e.g. "FAILED: [code=1] CMakeFiles/x.dir/x.cc.o" or "FAILED: bin/x".
_FAILED_RE = re.compile(r"^FAILED: (?:\[code=\d+\] )?(?P<output>\S+)")
_MAX_LINES = 120


def _error_excerpt(lines: list[str]) -> list[str]:
    """The error lines of a build log, each with the lines that locate it and its source excerpt."""
    keep: set[int] = set()
    for i, line in enumerate(lines):
        if not _ERROR_RE.search(line):
            continue
        keep.add(i)
        j = i - 1
        while j >= 0 and i - j <= 8 and _WHERE_RE.search(lines[j]):
            keep.add(j)
            j -= 1
        after = 20 if line.startswith("CMake Error") else 4  # CMake's message follows, indented
        for k in range(i + 1, min(len(lines), i + 1 + after)):
            if _ERROR_RE.search(lines[k]) or lines[k].startswith(("ninja:", "FAILED:", "[", "Call Stack", "-- ")):
                break
            keep.add(k)
    return [lines[i] for i in sorted(keep)]


def _failure_message(stage: str, src: Path, log_path: Path) -> str:
    lines = log_path.read_text(errors="replace").splitlines()
    excerpt = _error_excerpt(lines) or lines[-40:]
    if len(excerpt) > _MAX_LINES:
        excerpt = [*excerpt[:_MAX_LINES], f"... ({len(excerpt) - _MAX_LINES} more lines in the log)"]
    files = [m["file"] for line in excerpt if (m := _FILE_RE.match(line))]
    files += [f for line in lines if (m := _FAILED_RE.match(line)) if (f := _failed_source(m["output"], src))]
    files = list(dict.fromkeys(files))
    where = ", ".join(files) if files else f"the scenarios in {src}"
    what = "CMake could not configure" if stage == "configure" else "compiling or linking failed for"
    body = "\n".join(excerpt)
    return f"ns-3 scenario build: {what} {where}\n{body}\nfull log: {log_path}"


def _failed_source(output: str, src: Path) -> str | None:
    """The source file behind a failed Ninja output (an object file or a scenario's executable)."""
    if m := re.fullmatch(r"CMakeFiles/[^/]+\.dir/(?P<rel>.+)\.o", output):
        # A user's folder lies outside CMake's source folder: CMake names its objects by absolute path.
        outside = Path("/", m["rel"])
        return str(outside if not (src / m["rel"]).exists() and outside.is_file() else src / m["rel"])
    if m := re.fullmatch(r"bin/(?P<name>[^/]+)", output):
        return str(src / f"{m['name']}.cc")
    return None


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished build to its final name (atomic; a forced rebuild first moves the old aside)."""
    if out.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".old-{out.name}-", dir=out.parent))
        out.rename(aside / out.name)
        tmp.rename(out)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        tmp.rename(out)


def _remove_leftovers(root: Path) -> None:
    """Temporary folders of builds that died; safe under the lock, as only its holder builds."""
    for path in root.glob(".tmp-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in root.glob(".old-*"):
        shutil.rmtree(path, ignore_errors=True)


def _completed_builds(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if _KEY_RE.match(p.name) and p.is_dir() and _is_complete(p)]


def _built_from(build_dir: Path) -> str | None:
    """The source folder a finished build's marker names (None: an older or unreadable marker)."""
    try:
        source = json.loads((build_dir / MARKER).read_text()).get("source_dir")
    except (OSError, ValueError, AttributeError):
        return None
    return source if isinstance(source, str) else None


def _prune(root: Path, keep: Path) -> None:
    """Keep the KEEP_BUILDS most recently used builds of ``keep``'s source folder (``keep`` among them) and
    the latest logs; other folders' builds stay (a user's build never evicts the package's), except those of
    a folder that no longer exists, unused for ORPHAN_SECONDS."""

    def by_age(paths: list[Path]) -> list[Path]:
        return sorted(paths, key=lambda p: p.stat().st_mtime, reverse=True)

    others = [p for p in root.iterdir() if _KEY_RE.match(p.name) and p.is_dir() and p != keep]
    source = _built_from(keep)
    finished = by_age([p for p in others if _is_complete(p) and _built_from(p) == source])
    # A build of identical sources elsewhere is touched on every use, so an orphan in use stays.
    stale = time.time() - ORPHAN_SECONDS
    orphans = [p for p in others if _is_complete(p) and (s := _built_from(p)) is not None and s != source
               and not Path(s).is_dir() and p.stat().st_mtime < stale]
    # A key-named folder without a marker cannot come from this module's renames; it is debris.
    debris = [p for p in others if not _is_complete(p)]
    for old in finished[KEEP_BUILDS - 1 :] + orphans + debris:
        shutil.rmtree(old, ignore_errors=True)
    # Logs of failed builds: keep the latest few for reading.
    for old_log in by_age(list(root.glob("*.log")))[KEEP_BUILDS:]:
        old_log.unlink(missing_ok=True)


def scenario_binary(name: str, source_dir: Path | None = None) -> Path:
    """The executable of scenario ``name``, building the scenarios first if the cache lacks them."""
    src = _source(source_dir)
    available = scenario_names(src)
    if name not in available:  # before building: a typo should not cost a compile
        raise UnknownScenarioError(name, available, src)
    binary = build(src).bin_dir / name
    if not binary.is_file():
        raise BuildError(f"the build of {src} finished but has no {binary}")
    return binary

"""The cached CMake/Ninja build of ns-3 scenarios (ns6g.core.build), on small scenario folders of its own.

Real compiles take seconds each, so the module shares one good build (``good`` fixture) and does only
two more: a changed copy of it (built by three processes at once, from a read-only folder) and a
broken scenario.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ns6g.core import build as nb
from ns6g.core.build import (
    BuildError,
    BuildResult,
    UnknownScenarioError,
    build,
    build_key,
    cache_dir,
    find_ns3,
    scenario_binary,
    scenario_source_dir,
)

# A tiny scenario: ns-3 core (CommandLine, Simulator) plus a header and a model source in a subfolder,
# which the CMakeLists turns into the ns6g-models library.
HELLO_CC = r"""
#include "ns3/core-module.h"
#include "model/greeting.h"
#include <iostream>

using namespace ns3;

static void Tick(int n)
{
    std::cout << ns6gtest::Greeting() << " " << n << " at " << Simulator::Now().GetSeconds() << " s"
              << std::endl;
}

int main(int argc, char* argv[])
{
    int ticks = 3;
    CommandLine cmd(__FILE__);
    cmd.AddValue("ticks", "how many ticks to schedule", ticks);
    cmd.Parse(argc, argv);
    for (int i = 1; i <= ticks; ++i)
    {
        Simulator::Schedule(Seconds(0.5 * i), &Tick, i);
    }
    Simulator::Run();
    Simulator::Destroy();
    return 0;
}
"""

GREETING_H = """#pragma once
#include <string>
namespace ns6gtest { std::string Greeting(); }
"""

GREETING_CC = """#include "model/greeting.h"
namespace ns6gtest { std::string Greeting() { return "hello from ns6g"; } }
"""

# Fails in the compiler's front end without parsing ns-3's headers, so it costs little.
BROKEN_CC = """int main()
{
    return undeclared_thing + 1;
}
"""


def make_source(root: Path) -> Path:
    """A scenario folder: the package's CMake files plus the tiny scenario above."""
    package = scenario_source_dir()
    (root / "cmake").mkdir(parents=True)
    shutil.copy(package / "CMakeLists.txt", root / "CMakeLists.txt")
    shutil.copy(package / "cmake" / "FindNs3.cmake", root / "cmake" / "FindNs3.cmake")
    (root / "__init__.py").write_text("")
    (root / "hello.cc").write_text(HELLO_CC)
    (root / "model").mkdir()
    (root / "model" / "greeting.h").write_text(GREETING_H)
    (root / "model" / "greeting.cc").write_text(GREETING_CC)
    return root


def env_without_ld_path() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}


def files_under(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")}


def set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~bits)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("ns6g-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NS6G_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def good(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildResult]:
    """One real build, shared by the tests of this module."""
    src = make_source(tmp_path_factory.mktemp("good") / "scenarios")
    return src, build(src, quiet=True)


def test_build_makes_binaries_that_run_without_ld_library_path(good: tuple[Path, BuildResult], cache: Path) -> None:
    _, result = good
    assert result.built
    assert result.scenarios == ["hello"]
    assert result.bin_dir.parent.parent == cache / "build"
    assert (result.bin_dir.parent / nb.MARKER).is_file()
    assert result.log_path is not None and result.log_path.is_file()
    proc = subprocess.run(
        [str(result.bin_dir / "hello"), "--ticks=2"],
        capture_output=True,
        text=True,
        env=env_without_ld_path(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["hello from ns6g 1 at 0.5 s", "hello from ns6g 2 at 1 s"]


def test_repeated_build_is_a_silent_cache_hit(
    good: tuple[Path, BuildResult], capfd: pytest.CaptureFixture[str]
) -> None:
    src, first = good
    again = build(src)  # not quiet: a cache hit must print nothing all the same
    assert not again.built
    assert again.bin_dir == first.bin_dir
    assert again.key == first.key
    assert capfd.readouterr() == ("", "")


def test_scenario_binary(good: tuple[Path, BuildResult]) -> None:
    src, result = good
    assert scenario_binary("hello", src) == result.bin_dir / "hello"


def test_unknown_scenario_names_the_available_ones(good: tuple[Path, BuildResult]) -> None:
    src, _ = good
    with pytest.raises(UnknownScenarioError) as info:
        scenario_binary("nope", src)
    assert isinstance(info.value, KeyError)
    assert "nope" in str(info.value) and "hello" in str(info.value)


def test_key_ignores_python_leftovers_but_not_sources(good: tuple[Path, BuildResult], tmp_path: Path) -> None:
    src, result = good
    copy = shutil.copytree(src, tmp_path / "copy")
    assert build_key(copy) == result.key  # the key follows content, not location
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (copy / "__init__.py").write_text("# edited\n")
    assert build_key(copy) == result.key
    (copy / "model" / "greeting.h").write_text(GREETING_H + "// edited\n")
    assert build_key(copy) != result.key
    (copy / "model" / "greeting.h").write_text(GREETING_H)
    (copy / "model" / "extra.h").write_text("")
    assert build_key(copy) != result.key


def test_changed_source_rebuilds_once_for_concurrent_callers_from_a_read_only_folder(
    good: tuple[Path, BuildResult], cache: Path, tmp_path: Path
) -> None:
    _, first = good
    src = make_source(tmp_path / "scenarios")
    (src / "hello.cc").write_text(HELLO_CC + "// changed\n")
    key = build_key(src)
    assert key != first.key
    # Debris of a build killed part-way: neither may be taken for a finished build.
    root = cache / "build"
    (root / key / "bin").mkdir(parents=True)
    (root / key / "bin" / "hello").write_text("not a binary")
    (root / f".tmp-{key}-dead").mkdir()

    before = files_under(src)
    set_writable(src, False)
    code = (
        "import json, sys; from pathlib import Path; from ns6g.core.build import build; "
        "r = build(Path(sys.argv[1])); print(json.dumps({'built': r.built, 'bin_dir': str(r.bin_dir)}))"
    )
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(src)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(3)
        ]
        outs = [p.communicate(timeout=280) for p in procs]
    finally:
        set_writable(src, True)
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    results = [json.loads(out) for out, _ in outs]
    assert sorted(r["built"] for r in results) == [False, False, True]
    assert {r["bin_dir"] for r in results} == {str(root / key / "bin")}
    builder_err = next(err for (_, err), r in zip(outs, results, strict=True) if r["built"])
    assert "ns6g: building 1 ns-3 scenario against ns-3" in builder_err
    # the time announced is the one measured for the cache's last build (the good one, 1 scenario too)
    measured = json.loads((first.bin_dir.parent / nb.MARKER).read_text())["seconds"]
    assert f"(sources or toolchain changed; about {max(1, round(measured))} s, going by" in builder_err
    assert "ns6g: built 1 ns-3 scenario in" in builder_err

    assert files_under(src) == before  # nothing written next to the sources
    assert not list(root.glob(".tmp-*"))
    proc = subprocess.run(
        [str(root / key / "bin" / "hello"), "--ticks=1"],
        capture_output=True,
        text=True,
        env=env_without_ld_path(),
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout == "hello from ns6g 1 at 0.5 s\n"
    assert (first.bin_dir / "hello").is_file()  # the earlier build is kept (KEEP_BUILDS)


def test_compiler_error_names_the_file_and_quotes_the_compiler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NS6G_CACHE_DIR", str(tmp_path / "cache"))
    src = make_source(tmp_path / "scenarios")
    (src / "hello.cc").unlink()
    (src / "broken.cc").write_text(BROKEN_CC)
    with pytest.raises(BuildError) as info:
        build(src)
    # an empty cache has no measured build, so no time is promised
    assert capfd.readouterr().err.splitlines()[0].endswith("(first use)")
    message = str(info.value)
    assert str(src / "broken.cc") in message
    assert "error:" in message and "undeclared_thing" in message
    log = Path(message.rsplit("full log: ", 1)[1].strip())
    assert log.is_file() and "undeclared_thing" in log.read_text()
    root = tmp_path / "cache" / "build"
    assert not list(root.glob(".tmp-*"))
    assert not (root / build_key(src)).exists()  # no build folder, so nothing to mistake for done


def test_missing_ns3_module_is_named(tmp_path: Path) -> None:
    """FindNs3 on its own: a CMake project without languages configures in a fraction of a second."""
    project = tmp_path / "p"
    project.mkdir()
    finder_dir = scenario_source_dir() / "cmake"
    (project / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20...3.31)\n"
        "project(p LANGUAGES NONE)\n"
        f'list(APPEND CMAKE_MODULE_PATH "{finder_dir}")\n'
        "find_package(Ns3 REQUIRED COMPONENTS core no-such-module)\n"
        "get_target_property(_loc ns3::core IMPORTED_LOCATION)\n"
        'message(STATUS "core at ${_loc}")\n'
    )
    ns3 = find_ns3()
    proc = subprocess.run(
        [nb._tool("cmake"), "-S", str(project), "-B", str(tmp_path / "b"), f"-DNS3_ROOT={ns3.root}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "no-such-module" in proc.stderr
    assert f"libns{ns3.lib_version}-no-such-module.so" in proc.stderr


def test_find_ns3_without_importing_it() -> None:
    ns3 = find_ns3()
    assert (ns3.include_dir / "ns3" / "core-module.h").is_file()
    assert (ns3.lib_dir / f"libns{ns3.lib_version}-core.so").is_file()
    assert ns3.version.startswith(ns3.lib_version)
    # Importing the wheel would load cppyy (seconds); a fresh interpreter shows whether find_ns3 does.
    code = (
        "import sys; from ns6g.core.build import find_ns3; find_ns3(); "
        "print(sorted(m for m in sys.modules if m.startswith(('ns3', 'cppyy'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NS6G_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "ns6g"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "ns6g"
    monkeypatch.setenv("NS6G_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache_dir() == tmp_path / "explicit"


def test_prune_keeps_the_most_recent_builds(tmp_path: Path) -> None:
    root = tmp_path / "build"
    now = time.time()
    dirs = []
    for age in range(5):  # key-named, finished builds, newest first
        d = root / f"{age:020x}"
        d.mkdir(parents=True)
        (d / nb.MARKER).write_text("{}")
        os.utime(d, (now - 100 * age, now - 100 * age))
        dirs.append(d)
    unfinished = root / ("f" * 20)
    unfinished.mkdir()
    current = dirs[-1]  # the oldest by time, but in use
    nb._prune(root, keep=current)
    kept = sorted(p for p in root.iterdir() if p.is_dir())
    assert kept == sorted([current, *dirs[: nb.KEEP_BUILDS - 1]])


def test_estimate_comes_from_the_last_measured_build(tmp_path: Path) -> None:
    root = tmp_path / "build"
    root.mkdir()
    assert nb._estimate(root, 8) is None  # nothing measured: no guess
    now = time.time()
    for age, marker in enumerate(
        [
            "not json",  # the most recently used build's marker is unreadable: skipped
            json.dumps({"seconds": 30.0, "scenarios": ["a", "b"]}),
            json.dumps({"seconds": 100.0, "scenarios": list("abcdefgh")}),
        ]
    ):
        d = root / f"{age:020x}"
        d.mkdir()
        (d / nb.MARKER).write_text(marker)
        os.utime(d, (now - 100 * age, now - 100 * age))
    assert nb._estimate(root, 4) == 60  # 30 s for 2 scenarios, scaled to 4
    assert nb._estimate(root, 1) == 15

"""A scenario of one's own, outside the package: `ns6g new-scenario`, `ns6g build DIR`, then train, a suite
case (the trained agent beside the baselines) and a report of it through the ordinary commands, without
touching the installed package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ns6g
import ns6g.core.build as nb
from ns6g.apps.cli import main
from ns6g.core.build import build, build_key, cache_dir, scenario_source_dir

NS6G = str(Path(sys.executable).parent / "ns6g")
REPO = Path(__file__).resolve().parents[1]
NAME, PACKAGE, ENV_ID = "probe-link", "probe_link", "ProbeLink-v0"


def package_files() -> dict[str, tuple[int, int]]:
    """(mtime, size) of every file of the installed ns6g (Python caches aside: imports write those)."""
    roots = {Path(ns6g.__file__).parent, scenario_source_dir(), REPO / "envs", REPO / "learners", REPO / "analysis"}
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for root in roots for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def run(command: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}  # the project as a user has it: not installed
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("outside")
    assert not folder.resolve().is_relative_to(REPO)
    return folder


@pytest.fixture(scope="module")
def project(outside: Path) -> Path:
    """A project written by the real command line, as a user runs it."""
    proc = run([NS6G, "new-scenario", NAME, "--dir", str(outside)], cwd=outside)
    assert proc.returncode == 0, proc.stderr
    return outside / NAME


def test_new_scenario_builds_trains_and_runs_in_a_suite_without_touching_the_package(
    project: Path, outside: Path
) -> None:
    before = package_files()
    scenarios = project / PACKAGE / "scenarios"

    proc = run([NS6G, "build", str(scenarios)], cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert f"1 scenarios {'built in' if 'built in' in proc.stdout else 'up to date'}" in proc.stdout
    bin_dir = Path(proc.stdout.split("binaries: ")[1].strip())
    assert (bin_dir / NAME).is_file()
    assert bin_dir.parent.parent == cache_dir() / "build"

    # The project's own tests: check_env, the reward against its info, the generated header.
    proc = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout

    out = outside / "train"
    proc = run([NS6G, "train", f"{PACKAGE}:{ENV_ID}", "--timesteps", "256", "--n-envs", "2", "--algo-arg",
                "n_steps=64", "--algo-arg", "batch_size=64", "--eval-seeds", "2", "--checkpoints", "1",
                "--out", str(out), "--quiet"], cwd=project, timeout=900)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_id"] == f"{PACKAGE}:{ENV_ID}" and summary["timesteps_run"] == 256
    assert (out / "agent.zip").is_file()
    for policy in ("agent", "random", "lowest", "highest", "fits-link"):
        assert policy in proc.stdout

    suite = outside / "suite.toml"
    suite.write_text(f"""seeds = [1, 2]

[[case]]
name = "{NAME}"
env = "{PACKAGE}:{ENV_ID}"
env_kwargs = {{ episode_steps = 20 }}
contenders = ["fits-link", "highest", "lowest"]
agent = "train"
metrics = ["return", "goodput_mbps", "dropped_mbps"]
""")
    proc = run([NS6G, "bench", "suite", "--config", str(suite), "--out", str(outside / "suite"), "--jobs", "2"],
               cwd=project)
    assert proc.returncode == 0, proc.stderr
    rows = {r["contender"]: r for r in json.loads((outside / "suite" / "results.json").read_text())["results"]}
    # The trained agent (agent = "train": relative to the suite file) ran beside the baselines.
    assert set(rows) == {"fits-link", "highest", "lowest", "agent"} and all(r["seeds"] == 2 for r in rows.values())
    # Net goodput: too slow forgoes goodput, too fast drops; the rate that fits the link beats both.
    assert rows["fits-link"]["return"] > max(rows["highest"]["return"], rows["lowest"]["return"])
    assert rows["highest"]["dropped_mbps"] > 0 and rows["fits-link"]["dropped_mbps"] == 0

    # The report of the train directory: its evaluation against the project's baselines and its training.
    proc = run([NS6G, "report", str(out), "--out", str(outside / "report")], cwd=project)
    assert proc.returncode == 0, proc.stderr
    page = (outside / "report" / "index.html").read_text()
    for question in ("agent_evaluation", "training_curve", "training_losses"):
        assert f'<h2 id="{question}">' in page and (outside / "report" / "figures" / f"{question}.png").is_file()
    assert all(policy in page for policy in ("fits-link", "highest", "lowest"))

    assert package_files() == before  # nothing of this wrote into the installed package


def test_generated_header_is_the_generators_output(project: Path) -> None:
    header = project / PACKAGE / "scenarios" / "options" / f"{NAME}-options.h"
    assert header.read_text().startswith(
        "// GENERATED by `python -m ns6g.core.options_cpp --config probe_link.config:ProbeLinkConfig")
    assert "struct ProbeLinkOptions" in header.read_text()
    check = [sys.executable, "-m", "ns6g.core.options_cpp", "--config", f"{PACKAGE}.config:ProbeLinkConfig",
             "--out", f"{PACKAGE}/scenarios", "--check"]
    assert run(check, cwd=project).returncode == 0
    original = header.read_text()
    try:
        header.write_text(original.replace("{10.0}", "{11.0}"))  # a hand edit
        proc = run(check, cwd=project)
        assert proc.returncode == 1 and "stale" in proc.stderr
    finally:
        header.write_text(original)


def test_a_folders_builds_never_evict_the_packages(project: Path, tmp_path: Path) -> None:
    """Builds are kept per source folder: a user's new builds prune only that folder's old ones."""
    package_build = cache_dir() / "build" / build(quiet=True).key
    copy = shutil.copytree(project / PACKAGE / "scenarios", tmp_path / "scenarios")
    (copy / f"{NAME}.cc").write_text((copy / f"{NAME}.cc").read_text() + "// changed\n")
    root = cache_dir() / "build"
    now = time.time()
    fakes = []  # finished builds, newer than the package's: of the copy, and of another folder
    for i, source in enumerate([copy] * nb.KEEP_BUILDS + [project]):
        fake = root / f"{0xFEED0000 + i:020x}"
        fake.mkdir()
        (fake / nb.MARKER).write_text(json.dumps({"source_dir": str(source)}))
        os.utime(fake, (now + i, now + i))
        fakes.append(fake)
    built = None
    try:
        built = build(copy, quiet=True)
        result = built
        assert result.built
        marker = json.loads((result.bin_dir.parent / nb.MARKER).read_text())
        assert marker["package_build"] == build_key() == package_build.name  # the package's key is in it
        assert nb._is_complete(package_build)  # the package's build stays
        # the copy keeps KEEP_BUILDS: the new one and the newest old ones; the other folder's is untouched
        assert [f.exists() for f in fakes] == [False, True, True, True]
    finally:
        for path in [*fakes, *([built.bin_dir.parent] if built else [])]:
            shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("name", ["Bad_Name", "1link", "my--link", "my-link-", "json", "class", "numpy", "a" * 65])
def test_bad_names_are_refused(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-scenario", name, "--dir", str(tmp_path)]) == 2
    assert f"invalid scenario name {name!r}" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_users_files_are_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "notes.txt").write_text("mine")
    assert main(["new-scenario", NAME, "--dir", str(tmp_path)]) == 2
    assert "already exists and is not an empty folder" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / NAME).iterdir()] == ["notes.txt"]
    assert (tmp_path / NAME / "notes.txt").read_text() == "mine"


def test_no_project_inside_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    before = package_files()
    assert main(["new-scenario", NAME, "--dir", str(scenario_source_dir())]) == 2
    assert "inside the installed ns6g" in capsys.readouterr().err
    assert package_files() == before


def test_build_of_a_folder_without_scenarios_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("no scenarios here")
    assert main(["build", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path} holds no scenarios" in err and "<scenario>.cc" in err
    assert main(["build", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_a_compile_error_in_a_folder_names_its_file(project: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(project / PACKAGE / "scenarios", tmp_path / "scenarios")
    source = copy / f"{NAME}.cc"
    source.write_text(source.read_text().replace("int\nmain(", "int\nmain(undeclared_thing, "))
    with pytest.raises(nb.BuildError) as info:
        build(copy, quiet=True)
    message = str(info.value)
    assert str(source) in message and "undeclared_thing" in message
    where = message.splitlines()[0].split(" failed for ", 1)[1].split(", ")
    assert str(source) in where and all(Path(f).is_file() for f in where)  # no made-up path for the object


def test_a_folders_build_time_is_estimated_from_folder_builds_only(tmp_path: Path) -> None:
    root = tmp_path / "build"
    now = time.time()
    markers = [{"seconds": 300.0, "scenarios": list("abcdefgh")},  # the package's, used last
               {"seconds": 10.0, "scenarios": ["a"], "package_build": "0" * 20}]  # a folder's
    for age, marker in enumerate(markers):
        d = root / f"{age:020x}"
        d.mkdir(parents=True)
        (d / nb.MARKER).write_text(json.dumps(marker))
        os.utime(d, (now - 100 * age, now - 100 * age))
    assert nb._estimate(root, 2, against_package=True) == 20
    assert nb._estimate(root, 2) == 75
    shutil.rmtree(root / f"{1:020x}")
    assert nb._estimate(root, 2, against_package=True) is None  # no folder build measured: no guess

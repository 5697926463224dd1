"""Output folders of ns6g jobs: check them before the job starts, replace an old run on request, and take
back what a job that failed before writing anything created.

``ns6g train``, ``ns6g fl`` and ``ns6g demo`` each write a run directory (:mod:`ns6g.core.runs`).
:func:`claim_run_dir` is called once the job's settings are validated: a folder that already holds a run
is refused, or removed first with ``overwrite=True`` (never one whose writer is still running); a file, a
folder under a file or a folder that cannot be written is refused. When the job then fails before it
wrote anything worth keeping (before its first training step or round), :meth:`Claim.release` removes
what the job created, so the same command can simply be run again.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ns6g.core.runs import MANIFEST


class OutputError(ValueError):
    """An output path that cannot be used; the message names it."""


def check_output_dir(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` if it is a folder, or can be created as one, where files can be written; else raise
    :class:`OutputError` naming what is in the way (a file, a read-only or virtual file system)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} is a file, not a folder")
    ancestor = path
    while not ancestor.exists():  # the folder that would hold what mkdir creates
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"cannot create {path}: {ancestor} is a file")
    try:  # the only sure test (root ignores permission bits; /proc or a read-only mount refuse anyway)
        os.rmdir(tempfile.mkdtemp(prefix=".ns6g-write-test-", dir=ancestor))
    except OSError as exc:
        raise OutputError(f"cannot write in {ancestor} (for {path}): {exc.strerror}") from None
    return path


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` if a file can be written there (its folder is created when missing); else raise
    :class:`OutputError`."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder, not a file")
    try:
        check_output_dir(path.parent)
    except OutputError as exc:
        raise OutputError(f"cannot write {path}: {exc}") from None
    return path


def _describe_run(path: Path) -> tuple[str, int | None]:
    """(status of the run at ``path``, pid of its writer if that process still runs on this host)."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        status, pid, host = manifest.get("status"), manifest.get("pid"), manifest.get("host")
    except (OSError, ValueError, AttributeError):
        return "unreadable", None
    alive = None
    if status == "unfinished" and isinstance(pid, int) and host == socket.gethostname() and pid != os.getpid():
        try:
            os.kill(pid, 0)
            alive = pid
        except ProcessLookupError:
            pass
        except PermissionError:  # exists, owned by someone else
            alive = pid
    return str(status), alive


def check_run_dir(path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Return ``path`` if a new run may be written there (nothing is changed); else raise :class:`OutputError`:
    the folder cannot be written, it holds a run and ``overwrite`` is False, or its run is still being
    written by a live process."""
    path = check_output_dir(path)
    if (path / MANIFEST).exists():
        status, pid = _describe_run(path)
        if pid is not None:
            raise OutputError(f"{path} holds an unfinished run that process {pid} is still writing; "
                              f"stop it or choose another folder")
        if not overwrite:
            article = "an" if status[:1] in ("a", "e", "i", "o", "u") else "a"
            raise OutputError(f"{path} already holds {article} {status} run: choose another folder, "
                              f"or replace it with --overwrite")
    return path


@dataclass(frozen=True)
class Claim:
    """A folder a job is about to write; ``before`` names what it held, None when it did not exist."""

    path: Path
    before: frozenset[str] | None

    def release(self) -> None:
        """Remove what the job created there: the folder itself if the job created it, else only the new
        entries (what was there before stays)."""
        if self.before is None:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for entry in list(self.path.iterdir()) if self.path.is_dir() else []:
            if entry.name not in self.before:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


def claim_run_dir(path: str | os.PathLike[str], overwrite: bool = False) -> Claim:
    """:func:`check_run_dir`, then remove the old run (``overwrite``) and return the :class:`Claim`."""
    path = check_run_dir(path, overwrite)
    if (path / MANIFEST).exists():  # overwrite=True: the check above refused anything else
        shutil.rmtree(path)
    before = frozenset(entry.name for entry in path.iterdir()) if path.is_dir() else None
    return Claim(path, before)

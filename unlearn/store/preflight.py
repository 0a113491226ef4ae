"""Pre-flight: prove every output a command will write can be written, before any work.

A results file under a path that is not a folder, or in a folder that cannot be written, used to
be found only when the finished run tried to record its row. Every entry point (forgetting,
pretraining, sweeps, the report) calls these checks first; a failure is a UsageError (one line,
exit code 2) and nothing is created: missing folders are not made here, only the nearest
existing one is tested, with a probe file that is removed at once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from unlearn.errors import UsageError


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(".")


def _can_create_in(folder: Path) -> str | None:
    """Why nothing can be created in the existing `folder`, or None when it can."""
    if not folder.is_dir():
        return f"{folder} is not a folder"
    try:  # os.access is not enough: root passes it, and read-only mounts are not seen
        with tempfile.TemporaryFile(dir=folder, prefix=".unlearn-preflight-"):
            pass
    except OSError as error:
        return f"{folder} cannot be written ({error.strerror or error})"
    return None


def _check_parent(path: Path, what: str) -> None:
    existing = _nearest_existing(path.parent)
    problem = _can_create_in(existing)
    if problem:
        raise UsageError(f"cannot write the {what} {path}: {problem}")


def writable_file(path: str | os.PathLike, what: str) -> None:
    """UsageError unless the file `path` can be created or appended to."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"cannot write the {what} {target}: it is a folder")
    if target.exists():
        try:
            with open(target, "ab"):
                pass
        except OSError as error:
            raise UsageError(f"cannot write the {what} {target}: "
                             f"{error.strerror or error}") from error
        return
    _check_parent(target, what)


def writable_folder(path: str | os.PathLike, what: str) -> None:
    """UsageError unless files can be created in the folder `path` (made later if missing)."""
    target = Path(path)
    if target.exists():
        problem = _can_create_in(target)
        if problem:
            raise UsageError(f"cannot write the {what} {target}: {problem}")
        return
    _check_parent(target, what)

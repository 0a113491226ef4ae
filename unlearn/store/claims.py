"""Claims: a run about to start says so beside the results file, so an identical sweep started
at the same time skips it instead of doing it twice.

A claim is the file `<results>.claims/<run key>.json` holding the claiming process's pid, host
and start time. Taking one happens under an exclusive lock on `<results>.claims/.lock`, together
with the check that the run is not recorded yet, so of two processes exactly one gets it. The
run removes its claim when it ends, after its row is appended (success or failure) or when it
is interrupted. A claim whose process is gone (same host, pid no longer alive) is taken over;
a claim from another host, whose pid cannot be checked, expires after CLAIM_EXPIRY_S.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

CLAIM_EXPIRY_S = 48 * 3600  # longer than any single run on the published grids


def claims_folder(results_path: str | os.PathLike) -> Path:
    results = Path(results_path)
    return results.with_name(results.name + ".claims")


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def holder(path: Path) -> dict | None:
    """The live claim in `path`, or None when there is none or it is stale."""
    try:
        claim = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing, or torn by a crash while it was written: stale
    if claim.get("host") == socket.gethostname():
        return claim if _alive(int(claim.get("pid", -1))) else None
    return claim if time.time() - float(claim.get("started", 0)) < CLAIM_EXPIRY_S else None


def try_claim(results_path: str | os.PathLike, key: str,
              is_done: Callable[[], bool]) -> tuple[Path | None, dict | None]:
    """(claim file, None) when this process now owns run `key`; (None, holder) when another
    live process holds it; (None, None) when `is_done()` says it is already recorded."""
    folder = claims_folder(results_path)
    path = folder / f"{key}.json"
    with _locked(folder):
        if is_done():
            return None, None
        current = holder(path)
        if current is not None:
            return None, current
        path.unlink(missing_ok=True)  # stale: its process is gone
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as handle:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                       "started": time.time()}, handle)
    return path, None


def release(path: Path | None) -> None:
    """Remove this process's claim (after the run's row is appended)."""
    if path is not None:
        with _locked(path.parent):
            path.unlink(missing_ok=True)

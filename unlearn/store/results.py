"""The results store (one JSON line per run) and optional wandb logging.

Rows are appended under an exclusive file lock in a single write, so several processes can
share one results file without losing or interleaving rows. A writer killed mid-line leaves a
torn last line; the next append starts on a new line (and reports the fragment), so the torn
row is the only one lost. This is the only module that
knows wandb; logging there can never fail a run.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import warnings
from pathlib import Path

from unlearn.errors import WriteFailedError
from unlearn.store import disk

log = logging.getLogger(__name__)


TORN_TAIL_SHOWN = 80  # characters of a torn fragment quoted in the warning


def _torn_tail(handle) -> bytes:
    """The bytes after the last newline of the open file (empty when it ends cleanly)."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return b""
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return b""
    start = size
    while start > 0:  # walk back block by block to the previous newline
        block_start = max(0, start - 65536)
        handle.seek(block_start)
        block = handle.read(start - block_start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            start = block_start + cut + 1
            break
        start = block_start
    handle.seek(start)
    return handle.read(size - start)


def append_row(path: str | Path, row: dict) -> None:
    """Append `row` as one JSON line to `path`, atomically with respect to other writers.
    A torn last line left by a killed writer is closed first, so the row stays readable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(row, sort_keys=True, default=str) + "\n").encode("utf-8")
    with open(path, "a+b", buffering=0) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            torn = _torn_tail(handle)
            if torn:
                text = torn.decode("utf-8", errors="replace")
                log.warning("%s ended in a torn line (%d bytes: %r%s), left by a writer that "
                            "stopped mid-row; that row is lost, the new one starts on its own "
                            "line", path, len(torn), text[:TORN_TAIL_SHOWN],
                            "..." if len(text) > TORN_TAIL_SHOWN else "")
                line = b"\n" + line
            _write_whole(handle, line, path)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_whole(handle, line: bytes, path: Path) -> None:
    """Append `line` or nothing: a write that fails part-way (a full disk) is cut off again, so
    the file never keeps a torn row of this writer's; WriteFailedError says so."""
    size = handle.seek(0, os.SEEK_END)
    rest = memoryview(line)
    try:
        while rest:  # unbuffered: a short write is followed up, a failed one is seen here
            rest = rest[os.write(handle.fileno(), rest):]
        os.fsync(handle.fileno())
    except OSError as error:
        os.ftruncate(handle.fileno(), size)
        raise WriteFailedError(f"the results file {path} could not take the row "
                               f"({disk.describe(error)}); the file is as it was") from error


def read_rows(path: str | Path) -> list[dict]:
    """All complete rows of a results file; a torn last line (crash mid-write) is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    with open(path, encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            for number, line in enumerate(handle, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    log.warning("%s line %d is not valid JSON; skipped", path, number)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return rows


def wandb_mode() -> str:
    """`WANDB_MODE` if the user set it, else online only when an account is configured."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    netrc = Path.home() / ".netrc"
    has_account = bool(os.environ.get("WANDB_API_KEY")) or (
        netrc.exists() and "api.wandb.ai" in netrc.read_text(errors="ignore")
    )
    return "online" if has_account else "offline"


def log_to_wandb(project: str, name: str, config: dict, metrics: dict, directory: Path) -> None:
    """Log one run to wandb with the published project and run names; never raises."""
    mode = wandb_mode()
    if mode == "disabled":
        return
    os.environ.setdefault("WANDB_SILENT", "true")  # keep wandb's banner out of the run's output
    try:
        import wandb

        directory.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = wandb.init(project=project, name=name, config=config, mode=mode,
                             dir=str(directory), reinit=True)
            run.log(metrics)
            run.finish()
    except Exception as error:  # logging must never cost a result
        log.warning("wandb logging failed (%s: %s); the results file has the row",
                    type(error).__name__, error)

"""Writing outputs on a disk that may be full.

Where an output's size is known before it is written (a checkpoint, a report's text), the free
space is checked first. A write that fails anyway (ENOSPC, a quota) leaves no empty or torn
file: text is written to a temporary file beside the target and renamed into place, and the
failure is one `WriteFailedError` sentence (exit code 1 at the entry points) saying what was
not written.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from unlearn.errors import UsageError, WriteFailedError

FULL = (errno.ENOSPC, errno.EDQUOT)  # errors that mean "no room", not "no permission"
# Room left over after an output is written: a disk filled to the last byte fails the next
# small write (a log line, a lock), so an output must leave some.
SPARE_BYTES = 1 << 20


def is_full(error: BaseException) -> bool:
    """Whether `error` is the disk (or the quota) being full."""
    return isinstance(error, OSError) and error.errno in FULL


def describe(error: OSError) -> str:
    """'No space left on device' and the file, when the error names one."""
    reason = error.strerror or str(error)
    return f"{reason}: {error.filename}" if error.filename else reason


def free_bytes(path: str | os.PathLike) -> int:
    """Free space of the filesystem that holds `path` (or would: its nearest existing folder)."""
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return shutil.disk_usage(existing).free


def human(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # unreachable: GB is the last unit tried


def check_free_space(path: str | os.PathLike, needed: int, what: str) -> None:
    """UsageError, before any work, unless `needed` bytes (and SPARE_BYTES) fit where `path`
    will be written."""
    free = free_bytes(path)
    if free < needed + SPARE_BYTES:
        raise UsageError(f"not enough free space for the {what} {path}: it needs about "
                         f"{human(needed)}, {human(free)} are free; free some space first")


def write_text(path: str | os.PathLike, text: str, what: str) -> None:
    """Write `text` to `path` whole or not at all (WriteFailedError naming `what`)."""
    target = Path(path)
    data = text.encode("utf-8")
    if free_bytes(target.parent) < len(data) + SPARE_BYTES:
        raise WriteFailedError(f"the {what} {target} was not written: it needs "
                               f"{human(len(data))} and the disk is full")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                         dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it 0600: normal permissions
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise WriteFailedError(f"the {what} {target} was not written ({describe(error)}); "
                               "nothing partial was left") from error


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; restore at once
    os.umask(mask)
    return mask

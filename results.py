"""The results store (one JSON line per run) and optional wandb logging.

Rows are appended under an exclusive file lock in a single write, so several processes can
share one results file without losing or interleaving rows. This is the only module that
knows wandb; logging there can never fail a run.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


def append_row(path: str | Path, row: dict) -> None:
    """Append `row` as one JSON line to `path`, atomically with respect to other writers."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(row, sort_keys=True, default=str) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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

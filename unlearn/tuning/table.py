"""The checked-in tuned tables: tuned/<task>_<dataset>_<net>.json, one entry per method.

Each entry holds the tuned hyperparameters and where they came from (study, storage, trials,
budget, date, code version, what tuning forgot, the objective's weights), so a row run with
`-tuned` can be traced to the study that chose it. Writers hold a lock on the file, so workers
of different methods finishing together do not drop each other's entries.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

from unlearn import REPO_ROOT
from unlearn.errors import UsageError

ROOT = REPO_ROOT
DEFAULT_DIR = ROOT / "tuned"


def table_path(task: str, dataset: str, net: str, folder: Path | str = DEFAULT_DIR) -> Path:
    return Path(folder) / f"{task}_{dataset}_{net}.json"


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def read(path: Path) -> dict:
    if not path.is_file():
        return {"methods": {}}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UsageError(f"tuned table {path} is not valid JSON ({error})") from None


def methods(table, path: Path) -> dict:
    """The table's {method: entry}; one clear error for a file of another structure."""
    entries = table.get("methods") if isinstance(table, dict) else None
    if not isinstance(entries, dict):
        raise UsageError(f"tuned table {path} must be a JSON object whose \"methods\" is an "
                         "object {method: entry}")
    return entries


def write_entry(path: Path, method: str, entry: dict) -> None:
    """Set `method`'s entry, atomically, keeping the other methods' entries."""
    with _locked(path):
        table = read(path)
        methods(table, path)[method] = entry
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
        os.replace(temporary, path)


def lookup(task: str, dataset: str, net: str, method: str,
           folder: Path | str = DEFAULT_DIR) -> tuple[dict, str]:
    """The tuned hyperparameters of `method` (for `-tuned`) and the study they came from; one
    clear error if there are none."""
    path = table_path(task, dataset, net, folder)
    entry = methods(read(path), path).get(method)
    if entry is None:
        raise UsageError(f"no tuned values for {method} in {path}; run scripts/tune.py first")
    values = entry.get("hyperparameters") if isinstance(entry, dict) else None
    if not isinstance(values, dict):
        raise UsageError(f"tuned table {path}: the entry of {method} must be an object with "
                         "\"hyperparameters\" {name: value}")
    provenance = entry.get("provenance")
    study = (provenance.get("study") if isinstance(provenance, dict) else None) or str(path)
    return dict(values), study

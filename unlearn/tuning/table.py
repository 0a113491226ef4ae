"""The checked-in tuned tables: tuned/<task>_<dataset>_<net>.json, one entry per method.

Each entry holds the tuned hyperparameters and where they came from (study, storage, trials,
budget, sampler, date, code version, the cells tuning ran on, the space searched and every
widening of it, the objective's weights), so a row run with `-tuned` can be traced to the study
that chose it; "against_bound" names the values chosen against a bound of the searched space.
Models are named by store key and files relative to the repository (unlearn/tuning/
provenance.py), so a table written on one checkout reads on another with its own store.
Writers hold a lock on the file, so workers of different methods finishing together do not
drop each other's entries.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

from unlearn import REPO_ROOT
from unlearn.errors import UsageError
from unlearn.tuning import provenance

ROOT = REPO_ROOT
AGAINST_BOUND = "against a bound"  # marks a run's tuned_from, and so the report's row
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
           folder: Path | str = DEFAULT_DIR, store: Path | str | None = None) -> tuple[dict, str]:
    """The tuned hyperparameters of `method` (for `-tuned`) and the study they came from; one
    clear error if there are none, or (given the run's `store`) if the store lacks a model
    the entry was tuned on."""
    path = table_path(task, dataset, net, folder)
    entry = methods(read(path), path).get(method)
    if entry is None:
        raise UsageError(f"no tuned values for {method} in {path}; run scripts/tune.py first")
    values = entry.get("hyperparameters") if isinstance(entry, dict) else None
    if not isinstance(values, dict):
        raise UsageError(f"tuned table {path}: the entry of {method} must be an object with "
                         "\"hyperparameters\" {name: value}")
    if store is not None:
        provenance.check_keys(entry, store, net, dataset, f"the {method} entry of {path}")
    recorded = entry.get("provenance")
    study = (recorded.get("study") if isinstance(recorded, dict) else None) or str(path)
    return dict(values), study + against_bound_mark(entry)


def against_bound_mark(entry: dict) -> str:
    """" (against a bound: lr high)" for an entry chosen against a bound of its space, so the
    run's record and the report's [tuned] row carry the mark; "" otherwise."""
    marked = entry.get("against_bound") or {}
    if not marked:
        return ""
    return f" ({AGAINST_BOUND}: " + ", ".join(f"{name} {where['side']}"
                                               for name, where in sorted(marked.items())) + ")"

"""Provenance that holds on another machine: models by store key, files relative to the checkout.

A tuned table is committed and read on other clones, where the model store and the tuning
database sit elsewhere. So an entry names each model by its recipe's store key (the file
<store>/<net>-<dataset>/<key>.pth of whatever store a clone builds) and any other file by its
path relative to the repository, never by an absolute path of the machine that tuned it.
A run with `-tuned` checks the entry's store keys against its own store (`missing_keys`).
"""

from __future__ import annotations

import os
from pathlib import Path

from unlearn import REPO_ROOT
from unlearn.errors import UsageError
from unlearn.store.model_store import TrainingRecipe, read_recipe
from unlearn.tuning.widening import against_bounds

SQLITE = "sqlite:///"


def portable_path(path: str | os.PathLike) -> str:
    """`path` relative to the repository (absolute or relative to the working directory)."""
    return os.path.relpath(Path(path).resolve(), REPO_ROOT)


def portable_storage(url: str) -> str:
    """An SQLite storage URL with its file relative to the repository; other URLs (a database
    server) hold no local path and stay as they are."""
    if not url.startswith(SQLITE):
        return url
    return SQLITE + portable_path(url[len(SQLITE):])


def store_key(path: str | os.PathLike) -> str | None:
    """The store key of a checkpoint trained into a model store (None: not a stored model)."""
    recipe = read_recipe(Path(path))
    try:
        return TrainingRecipe(**recipe).key() if isinstance(recipe, dict) else None
    except TypeError:  # a recipe of another version of the store
        return None


def model_ref(path: str | os.PathLike) -> dict:
    """How a table names a model: {"store_key": key}, or {"file": path in the repository}."""
    key = store_key(path)
    return {"store_key": key} if key else {"file": portable_path(path)}


def stored_path(store: str | os.PathLike, net: str, dataset: str, key: str) -> Path:
    return Path(store) / f"{net}-{dataset}" / f"{key}.pth"


def entry_keys(entry: dict) -> list[str]:
    """Every store key a tuned entry's provenance names, in order, once each."""
    provenance = entry.get("provenance") or {}
    keys = [ref.get("store_key") for cell in provenance.get("cells") or []
            for ref in (cell.get("original") or {}, cell.get("retrained") or {})]
    return list(dict.fromkeys(k for k in keys if k))


def check_keys(entry: dict, store: str | os.PathLike, net: str, dataset: str,
               where: str) -> None:
    """A UsageError naming the entry's store keys that `store` lacks."""
    missing = [k for k in entry_keys(entry)
               if not stored_path(store, net, dataset, k).is_file()]
    if missing:
        raise UsageError(f"{where} was tuned on models the store {store} lacks (store keys "
                         f"{', '.join(missing)} under {net}-{dataset}/); build them there "
                         f"(scripts/pool.py) or give -store")


def converted(entry: dict) -> dict:
    """An entry of the first tables (one cell, "setup" holding this machine's paths of the
    models and the storage) in the portable form: "cells" naming the models by store key (the
    file name in the store's layout <store>/<net>-<dataset>/<key>.pth), the storage relative to
    the repository, the sampler those tables used (TPE seeded with the setup's seed, Optuna's
    default start-up), the values chosen against a bound marked (no widening existed then:
    the bounds are the declared ones)."""
    old = dict(entry.get("provenance") or {})
    setup = old.pop("setup", None)
    if setup is None:
        return entry
    cell = {k: v for k, v in setup.items() if k not in ("weights", "retrained")}
    cell["original"] = {"store_key": Path(setup["weights"]).stem}
    cell["retrained"] = {"store_key": Path(setup["retrained"]).stem}
    old["storage"] = portable_storage(old.get("storage", ""))
    old.setdefault("sampler", {"name": "TPESampler", "seed": setup["seed"],
                               "startup_trials": 10})
    space = {k: tuple(v) for k, v in old.get("space", {}).items()}
    best = {k: v for k, v in entry["hyperparameters"].items() if k in space}
    marked = against_bounds(space, best, {k: list(v[1:]) for k, v in space.items()})
    return {**entry, "against_bound": marked, "provenance": {**old, "cells": [cell]}}

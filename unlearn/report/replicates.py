"""Where a result row sits in a study: I original models × forget sets × J seeds × K retrains.

A study trains I original models (pretraining seeds), forgets several forget sets from each
with J unlearning seeds, and retrains each (original model, forget set) cell K times without
its forget set. Every row records its place under "study":

    "study": {"original": "0445b59e (seed 0)",         # the trained model it started from
              "retrain": "9f1c22d0 (seed 2)",          # retrain rows: which of the K retrains
              "retrain_dataset": "FashionMNIST",       # ... and what that retrain was
              "retrain_left_out": "class Sneaker"}     #     trained on and without

Rows written before this field existed are read too: the original model is the checkpoint's
hash, and a retrain is its index in the model store, its `retrained_path` or, trained inside
the run, its seed.
"""

from __future__ import annotations

from unlearn.errors import UsageError


def coordinates(config, checkpoint_sha256: str, original_meta: dict,
                hyperparameters: dict) -> dict:
    """The "study" field of a run's row (config: the run's RunConfig; hyperparameters: the
    method's arguments as run, with the retrained model the store resolved)."""
    from models.checkpoint import file_sha256, load_checkpoint  # torch: not for the report

    place = {"original": model_label(checkpoint_sha256, original_meta)}
    if config.method == "retrain":
        path = hyperparameters.get("retrained_path")
        if path:  # loaded from a checkpoint (the model store or -retrain_path)
            _, meta = load_checkpoint(path)
            place.update(retrain=model_label(file_sha256(path), meta),
                         retrain_dataset=meta.get("dataset"), retrain_left_out=meta.get("forget"))
        else:  # trained inside the run, from a fresh initialisation seeded by the run's seed
            place.update(retrain=f"trained in run (seed {config.seed})")
    return place


def model_label(sha256: str, meta: dict) -> str:
    """'<first 8 hex of the file hash> (seed N)': unique by content, readable by seed."""
    recipe = meta.get("recipe") or meta.get("training") or {}
    seed = recipe.get("seed") if isinstance(recipe, dict) else None
    return sha256[:8] if seed is None else f"{sha256[:8]} (seed {seed})"


def original_of(row: dict) -> str:
    """The original model a row's method started from: its checkpoint's hash (8 hex), so
    rows written before and after the "study" field of one model agree."""
    sha = row.get("checkpoint_sha256")
    return sha[:8] if sha else str((row.get("study") or {}).get("original", "unknown"))


def original_label(row: dict) -> str:
    """The original model as shown: hash and pretraining seed where the row records it."""
    return str((row.get("study") or {}).get("original") or original_of(row))


def forget_of(row: dict) -> str:
    """The forget set exactly, as the cell knows it (the random task's includes its seed)."""
    return str(row.get("forget", ""))


def cell_of(row: dict) -> tuple[str, str]:
    """The study cell: (original model, forget set)."""
    return original_of(row), forget_of(row)


def retrain_of(row: dict) -> str:
    """Which of its cell's K retrains a retrain row is."""
    place = row.get("study") or {}
    if place.get("retrain"):
        return str(place["retrain"])
    config = row.get("config") or {}
    if config.get("store"):  # the store's k-th retrained model of the forget set
        return f"store retrain {config.get('retrain_index', 0)}"
    path = (config.get("hyperparameters") or {}).get("retrained_path")
    return f"file {path}" if path else f"trained in run (seed {row.get('seed')})"


def check_retrain_matches(row: dict) -> None:
    """Refuse a retrain row whose retrained model was trained on another dataset, or without
    another class, than the row's cell (one line, UsageError)."""
    place = row.get("study") or {}
    dataset, left_out = place.get("retrain_dataset"), place.get("retrain_left_out")
    where = f"retrain {retrain_of(row)} in cell {original_of(row)} × {forget_of(row)}"
    if dataset is not None and dataset != row.get("dataset"):
        raise UsageError(f"{where}: the retrained model was trained on {dataset}, "
                         f"the cell is on {row.get('dataset')}")
    if left_out is not None and left_out != forget_of(row):
        raise UsageError(f"{where}: the retrained model left out {left_out!r}, "
                         f"the cell forgets {forget_of(row)!r}")

"""Per-example outputs of one forgetting run, kept so that the attacks that need many models
(U-LiRA and the forgetting-quality score, unlearn/report/per_example_attacks.py) can be computed
after a study without keeping every unlearned model (`-save_outputs DIR`).

One small file per run, DIR/<run key>.pt (torch.save of tensors and plain values, read back with
weights_only=True), holding the unlearned model's logits on the forget-train samples with their
positions in the run's training set (the training subset, where the original model was trained
on one) and labels, and the same for the matched non-members of the population attacks
(positions in the test set). The file appears by a rename, so a reader sees a whole file or
none, and a run interrupted while writing leaves no half file under the run's name.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from unlearn.errors import UsageError

FORMAT = 1  # bumped when the file's fields change meaning
TENSORS = ("forget_indices", "forget_labels", "forget_logits",
           "nonmember_indices", "nonmember_labels", "nonmember_logits")


def path_for(folder: str | os.PathLike, key: str) -> Path:
    return Path(folder) / f"{key}.pt"


def save(folder: str | os.PathLike, key: str, about: dict, **tensors: torch.Tensor) -> Path:
    """Write the run's outputs (every name of TENSORS) with `about` (task, dataset, forget
    set, ...) to DIR/<key>.pt, atomically; returns the path."""
    if set(tensors) != set(TENSORS):
        raise ValueError(f"run outputs need exactly {', '.join(TENSORS)}")
    path = path_for(folder, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    content = {"format": FORMAT, "config_key": key, **about,
               **{name: value.detach().cpu() for name, value in tensors.items()}}
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        torch.save(content, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def load(path: str | os.PathLike) -> dict:
    """A run's outputs, checked to be whole and of this format (UsageError otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"run outputs not found: {path}")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a foreign or damaged file
        raise UsageError(f"{path} is not a run's outputs file ({type(error).__name__})") from error
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise UsageError(f"{path} is not a run's outputs file of format {FORMAT}")
    missing = [name for name in TENSORS if name not in content]
    if missing:
        raise UsageError(f"{path} lacks {', '.join(missing)}")
    if not (len(content["forget_indices"]) == len(content["forget_labels"])
            == len(content["forget_logits"])):
        raise UsageError(f"{path}: forget indices, labels and logits differ in length")
    return content

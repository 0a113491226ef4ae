"""The check of the original model a forgetting run starts from.

Unlearning settings are tuned on one trained model; a checkpoint stopped early or trained
another way gives different unlearning results with the same settings. Every run states the
checkpoint's recorded test accuracy and training length, and warns in one line when either
falls short of the recipe (recipes.EXPECTED_ORIGINAL); `-strict_checkpoint` refuses instead.
Bare state-dict files (the published format) record nothing, so they can only be flagged.
"""

from __future__ import annotations

import logging

from models.checkpoint import BARE_FORMAT
from unlearn.errors import UsageError
from unlearn.train import recipes

log = logging.getLogger(__name__)


def other_regime(training: dict) -> bool:
    """Whether the checkpoint was trained in another regime than the recipe's (a training
    subset, no augmentation: recipes.REGIMES), whose values the table does not hold."""
    return training.get("train_subset") is not None or training.get("augment") is False


def shortfalls(meta: dict, net: str, dataset: str) -> list[str]:
    """What the checkpoint lacks against the recipe for (net, dataset), as phrases."""
    expected = recipes.EXPECTED_ORIGINAL.get((net, dataset))
    training = meta.get("training") or {}
    if expected is None or other_regime(training):
        return []
    found = []
    done = meta.get("epochs_done")
    if done is not None and int(done) < expected.epochs:
        found.append(f"trained {done} of the recipe's {expected.epochs} epochs")
    acc = meta.get("acc_test")
    if (expected.acc_test is not None and acc is not None
            and acc < expected.acc_test - recipes.ACCURACY_TOLERANCE):
        found.append(f"test accuracy {acc:.2f} % is below the recipe's {expected.acc_test:.2f} %")
    return found


def check(meta: dict, path: str, net: str, dataset: str, *, strict: bool = False) -> None:
    """Log what the checkpoint records; warn (or, with `strict`, refuse) when it falls short."""
    if meta.get("format") == BARE_FORMAT:
        log.warning("original model %s is a bare state dict: it records no test accuracy or "
                    "training length, so it could not be checked against the recipe", path)
        return
    acc, done = meta.get("acc_test"), meta.get("epochs_done")
    recorded = (f"test accuracy {'unrecorded' if acc is None else f'{acc:.2f} %'} after "
                f"{'an unrecorded number of' if done is None else done} epochs")
    problems = shortfalls(meta, net, dataset)
    if problems:
        source = recipes.EXPECTED_ORIGINAL[(net, dataset)].source
        text = (f"original model {path} is not the one the settings were tuned for: "
                f"{'; '.join(problems)} ({net} on {dataset}, {source})")
        if strict:  # the refusal alone, one line
            raise UsageError(text + "; -strict_checkpoint refuses it")
    log.info("original model %s: %s", path, recorded)
    if not problems:
        return
    log.warning("%s; results may differ from the tuned ones (-strict_checkpoint refuses such "
                "a model)", text)

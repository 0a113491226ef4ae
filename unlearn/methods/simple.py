"""The reference points: baseline (no change), finetune and retrain."""

from __future__ import annotations

import logging

import torch
from torch import nn

from models.checkpoint import load_checkpoint, load_into
from unlearn.errors import UsageError
from unlearn.methods.base import MethodData
from unlearn.methods.registration import ALL_TASKS, RETAIN, RUN_BATCH_SIZE, recipe, register_method
from unlearn.train.training import (
    TrainSettings,
    constant_schedule,
    published_pretrain_schedule,
    train,
)

log = logging.getLogger(__name__)


@register_method("baseline", data=set(), tasks=ALL_TASKS, order=0,
                 description="the original model, unchanged")
def baseline(model: nn.Module, data: MethodData, device: torch.device) -> nn.Module:
    """The original model, unchanged: the starting point every method is compared to."""
    return model


@register_method(
    "finetune", data={RETAIN}, tasks=ALL_TASKS, order=30,
    description="5 epochs of SGD on the retained data",
    defaults={"*": {"batch_size": RUN_BATCH_SIZE}},
    space={"lr": ("log_float", 1e-3, 0.1), "epochs": ("int", 1, 5)},
)
def finetune(
    model: nn.Module, data: MethodData, device: torch.device, *,
    epochs: int = 5, lr: float = 0.02, batch_size: int | None = None,
) -> nn.Module:
    """Fine-tune on the retained data only (published: 5 epochs, SGD lr 0.02 constant,
    momentum 0.9, weight decay 5e-4, shuffled retain loader, no augmentation)."""
    loader = data.retain(shuffle=True, batch_size=batch_size)
    train(model, loader, device,
          TrainSettings(epochs=epochs, schedule=constant_schedule(lr), label="finetune"))
    return model


# Trained exactly as the original model was (unlearn/train/recipes.py): the gold standard.
@register_method(
    "retrain", data={RETAIN}, tasks=ALL_TASKS, order=10,
    description="a fresh model trained from scratch on the retained data (gold standard)",
    defaults={"*": {"epochs": recipe("pretrain_epochs"), "batch_size":
                    recipe("pretrain_batch_size"), "warm": recipe("warm_epochs")}},
)
def retrain(
    model: nn.Module, data: MethodData, device: torch.device, *,
    epochs: int, batch_size: int, warm: int, retrained_path: str | None = None,
) -> nn.Module:
    """The gold standard: a fresh model trained from scratch on the retained data only.

    The published `retrain` (kept as `retrain_reference`) only resets the classifier head and
    continues from the trained weights, which is no retrain (deviation D13,
    docs/deviations.md). Here the model
    is rebuilt from random initialisation and trained with the pretraining recipe
    (published OneCycle schedule, augmentation, `epochs` epochs). With `retrained_path` a
    checkpoint that `pretrain_model.py -forget_class` trained the same way is loaded instead.
    """
    fresh = data.new_model().to(device)
    if retrained_path:
        expected = data.extras.get("checkpoint_identity", {})
        state, meta = load_checkpoint(retrained_path, **expected)
        forgotten = data.extras.get("forget_description")
        if meta.get("forget") != forgotten:
            raise UsageError(
                f"retrained checkpoint {retrained_path} left out {meta.get('forget')!r}, "
                f"but this run forgets {forgotten!r}"
            )
        load_into(fresh, state, retrained_path)
        return fresh
    loader = data.retain(augment=True, shuffle=True, batch_size=batch_size)
    schedule = published_pretrain_schedule(epochs * len(loader), len(loader), warm)
    train(fresh, loader, device, TrainSettings(epochs=epochs, schedule=schedule, label="retrain"))
    return fresh

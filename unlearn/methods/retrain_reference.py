"""The published "retrain", kept for comparisons with the paper's numbers (deviation D13,
docs/deviations.md).

It is no retrain: it resets only the model's direct children that have `reset_parameters`
and keeps training the already-trained rest on the retained data. For `VGG16` that is only
`fc` (the torchvision VGG child has no `reset_parameters`), for `ViT` only `final`, for
`ResNet18` only `fc`, and for `CNN` nothing at all (its children are Sequentials). Use
`retrain` (unlearn/methods/simple.py) for the real gold standard.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence

import torch
from torch import nn

from unlearn.errors import UsageError
from unlearn.methods.base import MethodData
from unlearn.methods.registration import ALL_TASKS, RETAIN, RUN_BATCH_SIZE, recipe, register_method
from unlearn.train.training import LrSchedule, TrainSettings, train

log = logging.getLogger(__name__)


def reset_direct_children(model: nn.Module, seed: int) -> list[str]:
    """Published reset: every direct child with `reset_parameters` re-initialised; returns
    their names. Draws from the global RNGs seeded with `seed` inside a fork, so the caller's
    random state is left as it was."""
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    reset = []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for name, child in model.named_children():
            if hasattr(child, "reset_parameters"):
                child.reset_parameters()
                reset.append(name)
    return reset


def fit_one_cycle_schedule(lr: float, steps_per_epoch: int,
                           milestones: Sequence[int] | None, gamma: float = 0.2) -> LrSchedule:
    """The lr the published `fit_one_cycle` runs at each optimiser step.

    Without milestones: constant `lr`. With milestones, its WarmUpLR (total_iters = one
    epoch) is stepped after every batch of epochs 0 *and* 1, so the lr climbs linearly from
    0 at step 0 to (2T−1)/T · lr ≈ 2·lr at the last step of epoch 1 (T = steps per epoch);
    from epoch 2 on the MultiStepLR, stepped with the explicit epoch, gives
    lr · gamma^(number of milestones ≤ epoch): back to lr at epoch 2, then ×0.2 at each
    milestone. (WarmUpLR divides by T + 1e-8; the 1e-8 is dropped.)
    """
    if not milestones:
        return lambda step: lr
    ordered = sorted(milestones)

    def schedule(step: int) -> float:
        epoch = step // steps_per_epoch
        if epoch <= 1:
            return lr * step / steps_per_epoch
        return lr * gamma ** bisect.bisect_right(ordered, epoch)

    return schedule


@register_method(
    "retrain_reference", data={RETAIN}, tasks=ALL_TASKS, order=20,
    description="published 'retrain': reset only the head, keep training",
    defaults={"*": {"epochs": recipe("reference_retrain_epochs"),
                    "milestones": recipe("reference_retrain_milestones"),
                    "batch_size": RUN_BATCH_SIZE}},
    space={"epochs": ("int", 1, 50), "lr": ("log_float", 1e-3, 1e-1)},
)
def retrain_reference(
    model: nn.Module, data: MethodData, device: torch.device, *,
    epochs: int, milestones: Sequence[int], lr: float = 0.01, batch_size: int | None = None,
) -> nn.Module:
    """Published "retrain" (reads the retain set), in place: reset the head-like direct
    children, then `fit_one_cycle(epochs, lr=0.01, milestones)` on the shuffled retain set —
    SGD momentum 0.9, weight decay 5e-4, the schedule of `fit_one_cycle_schedule`.

    Published epochs/milestones (conf.py): ViT `<dataset>_ViT_*` (Cifar10 8/[7], Cifar20
    9/[8], Cifar100 8/[7]); every other net, VGG16 included, the generic table (Cifar100
    200/[60,120,160], Cifar20 40/[15,30,35], Cifar10 20/[8,12,16], Pins 200/[60,120,160]).
    """
    if epochs < 1:
        raise UsageError(f"retrain_reference needs at least 1 epoch, got {epochs}")
    reset = reset_direct_children(model, data.seed)
    if reset:
        log.info("retrain_reference: re-initialised %s; everything else keeps its trained "
                 "weights", ", ".join(reset))
    else:
        log.warning("retrain_reference: no direct child of %s has reset_parameters, so "
                    "nothing was re-initialised (this only fine-tunes the model)",
                    type(model).__name__)
    loader = data.retain(shuffle=True, batch_size=batch_size)
    schedule = fit_one_cycle_schedule(lr, len(loader), milestones)
    train(model, loader, device,
          TrainSettings(epochs=epochs, schedule=schedule, label="retrain_reference"))
    return model

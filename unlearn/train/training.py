"""The one supervised training loop, and the learning-rate schedules it is driven by.

Used for pretraining the original model, for the retrained gold standard, and by the baselines
that fine-tune (finetune, retrain). Learning rates are per optimiser step, given as a function
of the step index, so an interrupted run resumes at exactly the same point of its schedule.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from models.checkpoint import load_checkpoint, save_checkpoint
from unlearn.devices import use_channels_last_on_cpu
from unlearn.errors import TrainingDivergedError
from unlearn.train.distributed import World

log = logging.getLogger(__name__)

LrSchedule = Callable[[int], float]  # optimiser step index (0-based) -> learning rate


def published_pretrain_schedule(
    total_steps: int, steps_per_epoch: int, warm_epochs: int = 1, max_lr: float = 0.1
) -> LrSchedule:
    """The schedule the published `pretrain_model.py` effectively runs.

    OneCycle (cosine, peak `max_lr` at 30 % of the steps, start max_lr/25, end start/1e4),
    except that during the first `warm_epochs` epochs a warm-up overrides it with a linear
    ramp from 0 to max_lr/25 (0.004 for the published 0.1). The published `-lr` flag is
    overwritten by OneCycle and has no effect; it is accepted and ignored the same way here.
    """
    initial_lr = max_lr / 25.0
    min_lr = initial_lr / 1e4
    peak_step = 0.3 * total_steps - 1  # end of OneCycle's rising phase
    last_step = total_steps - 1
    warm_steps = steps_per_epoch * warm_epochs

    def cosine(start: float, end: float, fraction: float) -> float:
        return end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * fraction))

    def lr(step: int) -> float:
        if step < warm_steps:
            return initial_lr * step / warm_steps
        if step <= peak_step:
            return cosine(initial_lr, max_lr, step / peak_step)
        return cosine(max_lr, min_lr, (step - peak_step) / (last_step - peak_step))

    return lr


def constant_schedule(lr: float) -> LrSchedule:
    """A constant learning rate (the published `fit_one_cycle` without milestones)."""
    return lambda step: lr


@dataclass
class TrainSettings:
    """How one supervised training run goes."""

    epochs: int  # passes over the training loader
    schedule: LrSchedule  # lr per optimiser step
    momentum: float = 0.9  # SGD momentum (published 0.9)
    weight_decay: float = 5e-4  # SGD L2 weight decay (published 5e-4)
    checkpoint_path: Path | None = None  # written after every epoch when set
    checkpoint_meta: dict | None = None  # arch, dataset, num_classes, ... stored with it
    resume: bool = False  # continue from checkpoint_path if it holds a partial run
    label: str = "train"  # progress-bar label
    evaluate_every: int = 1  # call evaluate_epoch every this many epochs (and after the last)
    # processes training together (torchrun): rank 0 evaluates and writes checkpoints
    world: World = field(default_factory=World)


def train(
    model: nn.Module,
    loader: Iterable,
    device: torch.device,
    settings: TrainSettings,
    evaluate_epoch: Callable[[nn.Module], float] | None = None,
) -> dict:
    """Train `model` in place with SGD and cross-entropy; returns a summary of the run.

    `loader` yields (x, y) batches and must support `len()` and `set_epoch(epoch)` (the
    shuffling and augmentation of each epoch derive from it, so a resumed run sees the same
    batches it would have seen). `evaluate_epoch` returns a test accuracy after each epoch.

    With `settings.world` of several processes, `loader` yields this process's part of each
    global batch (BatchLoader with rank and world_size), the model is wrapped in
    DistributedDataParallel, and only rank 0 evaluates and writes checkpoints (every process
    reads the checkpoint to resume).
    """
    world = settings.world
    use_channels_last_on_cpu(model, device)  # faster convolutions on a CPU; same values
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.0, momentum=settings.momentum, weight_decay=settings.weight_decay
    )
    start_epoch, history = _maybe_resume(model, optimizer, settings)
    # DDP copies rank 0's weights to every process and averages gradients in backward.
    net = (DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                   else None) if world.size > 1 else model)
    steps_per_epoch = len(loader)
    loss_fn = nn.CrossEntropyLoss()
    summed = nn.CrossEntropyLoss(reduction="sum")
    for epoch in range(start_epoch, settings.epochs):
        model.train()
        loader.set_epoch(epoch)
        step = epoch * steps_per_epoch
        bar = tqdm(loader, desc=f"{settings.label} epoch {epoch + 1}/{settings.epochs}",
                   leave=False, disable=None if world.is_main else True)
        running = 0.0
        for i, (x, y) in enumerate(bar):
            for group in optimizer.param_groups:
                group["lr"] = settings.schedule(step + i)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            if world.size > 1:
                # This process's share of the global batch's mean loss, times the world size:
                # DDP's gradient average then equals the one-process gradient even when the
                # last batch does not split evenly.
                share = summed(_logits(net(x)), y) / loader.global_batch_size(i)
                loss = share * world.size
            else:
                share = loss = loss_fn(_logits(net(x)), y)
            loss.backward()
            optimizer.step()
            running += share.item()
            if i % 20 == 0:
                bar.set_postfix(loss=f"{running / (i + 1):.3f}")
        if world.size > 1:  # the global batches' mean losses, as one process computes them
            total = torch.tensor([running], dtype=torch.float64, device=device)
            dist.all_reduce(total)
            running = total.item()
        record = {"epoch": epoch + 1, "train_loss": running / max(steps_per_epoch, 1)}
        if not math.isfinite(record["train_loss"]):  # before saving: the partial file keeps
            raise TrainingDivergedError(  # the last finite epoch, and nothing is stored
                f"{settings.label}: the training loss is {record['train_loss']} in epoch "
                f"{epoch + 1}/{settings.epochs}; the training diverged and nothing was saved "
                "(try another -seed or a smaller learning rate)")
        last = epoch + 1 == settings.epochs
        if (evaluate_epoch is not None and world.is_main
                and (last or (epoch + 1) % settings.evaluate_every == 0)):
            record["acc_test"] = evaluate_epoch(model)
        history.append(record)
        if world.is_main:
            log.info("%s epoch %d/%d: %s", settings.label, epoch + 1, settings.epochs, record)
            if settings.checkpoint_path is not None:
                _save_progress(model, optimizer, settings, epoch + 1, history)
    return {"epochs": settings.epochs, "history": history}


def _logits(output) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def _save_progress(model, optimizer, settings: TrainSettings, epochs_done: int, history) -> None:
    meta = dict(settings.checkpoint_meta or {})
    meta.update(epochs_done=epochs_done, epochs=settings.epochs, history=history)
    if history and "acc_test" in history[-1]:
        meta["acc_test"] = history[-1]["acc_test"]
    save_checkpoint(settings.checkpoint_path, model, meta,
                    extra={"optimizer": optimizer.state_dict()})


def _maybe_resume(model, optimizer, settings: TrainSettings) -> tuple[int, list]:
    path = settings.checkpoint_path
    if not settings.resume or path is None or not Path(path).exists():
        return 0, []
    expected = settings.checkpoint_meta or {}
    state, meta, extra = load_checkpoint(
        path, arch=expected.get("arch"), num_classes=expected.get("num_classes"),
        dataset=expected.get("dataset"), with_extra=True,
    )
    model.load_state_dict(state)
    if "optimizer" in extra:
        optimizer.load_state_dict(extra["optimizer"])
    done = int(meta.get("epochs_done", 0))
    log.info("resuming %s from %s after epoch %d", settings.label, path, done)
    return done, list(meta.get("history", []))

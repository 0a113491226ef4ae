"""The published `fit_one_unlearning_cycle`: Adam, cross-entropy, train mode.

Shared by amnesiac, UNSIR and EMMN. The published loop also evaluates on a validation loader
after every epoch; that only prints and does not change the model, so it is left out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

log = logging.getLogger(__name__)


def fit_one_unlearning_cycle(
    model: nn.Module, loader: Iterable, device: torch.device, *,
    epochs: int, lr: float, label: str = "unlearn",
) -> list[float]:
    """Train `model` in place for `epochs` passes over `loader` ((x, y) batches) with a fresh
    Adam(lr) and no schedule; returns the mean training loss of every epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for epoch in range(epochs):
        model.train()  # published: set at the start of every epoch
        total, batches = 0.0, 0
        bar = tqdm(loader, desc=f"{label} epoch {epoch + 1}/{epochs}", leave=False,
                   disable=None)
        for x, y in bar:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        losses.append(total / max(batches, 1))
        log.info("%s epoch %d/%d: train_loss %.4f", label, epoch + 1, epochs, losses[-1])
    return losses

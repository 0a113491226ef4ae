"""Amnesiac unlearning (Graves et al., AAAI 2021), as published.

Every forget sample gets a wrong label; the model is then trained on the relabelled forget
samples together with the whole retain set.
"""

from __future__ import annotations

import random

import torch
from torch import nn

from unlearn.errors import UsageError
from unlearn.methods.base import MethodData
from unlearn.methods.registration import ALL_TASKS, FORGET, RETAIN, register_method
from unlearn.methods.unlearning_cycle import fit_one_unlearning_cycle


def relabel(labels: torch.Tensor, *, task: str, num_classes: int, forget_class: int | None,
            rng: random.Random) -> torch.Tensor:
    """New task labels for the forget samples `labels` (int64 [N]), drawn one by one from `rng`.

    full_class / sub_class: uniform over the task classes except `forget_class` (sub-class:
    the forgotten fine class's superclass, so no relabel stays in that superclass);
    random: uniform over all classes, redrawn until it differs from the sample's own label.
    """
    if task == "random":
        if num_classes < 2:
            raise UsageError("amnesiac needs at least 2 classes to relabel a sample")
        new = []
        for own in labels.tolist():
            label = rng.randrange(num_classes)
            while label == own:
                label = rng.randrange(num_classes)
            new.append(label)
        return torch.tensor(new, dtype=torch.long)
    if forget_class is None:
        raise UsageError(f"amnesiac needs the forgotten class for the {task} task")
    choices = [c for c in range(num_classes) if c != forget_class]
    if not choices:
        raise UsageError("amnesiac needs at least 2 classes to relabel a sample")
    return torch.tensor([rng.choice(choices) for _ in range(len(labels))], dtype=torch.long)


@register_method(
    "amnesiac", data={FORGET, RETAIN}, tasks=ALL_TASKS, order=50,
    description="train on forget samples with wrong labels plus the retain set",
    space={"lr": ("log_float", 1e-5, 1e-3), "epochs": ("int", 1, 3)},
)
def amnesiac(
    model: nn.Module, data: MethodData, device: torch.device, *,
    epochs: int = 3, lr: float = 1e-4, batch_size: int = 128,
) -> nn.Module:
    """Amnesiac (reads forget and retain), in place.

    Published: relabelled forget samples + the whole retain set in one shuffled loader of
    batch 128, then `fit_one_unlearning_cycle` (3 epochs, Adam 1e-4, train mode).
    """
    new_labels = relabel(data.forget_labels(), task=data.task, num_classes=data.num_classes,
                         forget_class=data.forget_class, rng=random.Random(data.seed))
    retain_labels = data.retain_labels()
    loader = data.union(retain_subset=torch.arange(len(retain_labels)),
                        targets=torch.cat([new_labels, retain_labels]),
                        batch_size=batch_size, shuffle=True)
    fit_one_unlearning_cycle(model, loader, device, epochs=epochs, lr=lr, label="amnesiac")
    return model

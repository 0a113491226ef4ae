"""UNSIR (Tarun et al., "Fast Yet Effective Machine Unlearning", TNNLS 2023).

Impair: learn a batch of noise images that maximises the model's error on the forgotten class,
train on the noise (labelled with that class) mixed with a sample of the retained data.
Repair: train on the retained sample alone. Full-class and sub-class tasks only.
"""

from __future__ import annotations

import torch
from torch import nn

from unlearn.errors import UsageError
from unlearn.methods.base import MethodData
from unlearn.methods.noise import NoisyLoader, images_used, learn_noise
from unlearn.methods.registration import FULL_CLASS, RETAIN, SUB_CLASS, register_method
from unlearn.methods.unlearning_cycle import fit_one_unlearning_cycle


def first_per_class(labels: torch.Tensor, per_class: int) -> torch.Tensor:
    """Positions of the first `per_class` samples of every class in `labels` (set order),
    class by class in increasing class order (published `classwise_ds[c][:500]`)."""
    picked = [torch.nonzero(labels == c).flatten()[:per_class]
              for c in torch.unique(labels).tolist()]
    return torch.cat(picked) if picked else torch.empty(0, dtype=torch.long)


@register_method(
    "UNSIR", data={RETAIN}, tasks={FULL_CLASS, SUB_CLASS}, order=60,
    description="error-maximising noise for the forgotten class, then repair on retain data",
    defaults={"full_class/*": {"noise_steps": 25}, "sub_class/*": {"noise_steps": 250}},
    space={"lr": ("log_float", 1e-5, 1e-3), "noise_lr": ("log_float", 0.01, 1.0),
           "impair_epochs": ("int", 1, 2), "repair_epochs": ("int", 1, 3)},
)
def unsir(
    model: nn.Module, data: MethodData, device: torch.device, *,
    noise_steps: int, noise_batch: int = 32, noise_lr: float = 0.1,
    l2_weight: float = 0.1, copies: int = 80, samples_per_class: int = 500,
    impair_batch: int = 32, repair_batch: int = 128, lr: float = 1e-4,
    impair_epochs: int = 1, repair_epochs: int = 1, published_noise: bool = False,
    noise_train_mode: bool = True,
) -> nn.Module:
    """UNSIR (reads the retain set only; never a forget image), in place.

    Published settings: `noise_batch` 32 noise images [32, 3, S, S] (S = the model's input
    size), learned for 25 (full-class) / 250 (sub-class) steps of Adam(0.1) on
    −CE(model(noise), forget label) + 0.1 · mean_b Σ noise², with the model in train mode.
    The forget label is the forgotten class (full) or its superclass (sub). Retained sample:
    the first 500 retain samples of every class — task classes in the full-class task, fine
    classes in the sub-class task (all of them for CIFAR-100, whose classes have 500 each).
    Impair: 1 epoch of Adam(1e-4) on the noise copies + the retained sample, batch 32,
    shuffled. Repair: 1 epoch of a fresh Adam(1e-4) on the retained sample, batch 128.

    Noise copies (deviation D14, docs/deviations.md), a deliberate fix: the published loader
    means to append every image of the noise batch 80 times, but indexes by the channel count,
    so it uses only the first 3 of the 32 images (240 noise items). By default all `noise_batch`
    images are repeated `copies` times (32 × 80 = 2,560 items, the evident intent of the
    original Fast-Machine-Unlearning loop); `published_noise=True` reproduces the 3 × 80. The
    retained images are read lazily, batch by batch, and never held in memory all at once.
    """
    if data.task not in ("full_class", "sub_class") or data.forget_class is None:
        raise UsageError(f"UNSIR needs a forgotten class; it does not run on the {data.task} "
                         "task")
    retain_labels = data.retain_labels(fine=data.task == "sub_class")
    positions = first_per_class(retain_labels, samples_per_class)

    generator = torch.Generator().manual_seed(data.seed)
    noise = learn_noise(model, data.forget_class, count=noise_batch, size=model.input_size,
                        steps=noise_steps, device=device, generator=generator, maximise=True,
                        lr=noise_lr, l2_weight=l2_weight, train_mode=noise_train_mode)
    noise = images_used(noise, published_noise)
    noise_labels = torch.full((len(noise),), data.forget_class, dtype=torch.long)

    def fetch_retain(chosen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return next(iter(data.retain(subset=chosen, batch_size=len(chosen))))

    impair = NoisyLoader(noise, noise_labels, copies=copies, batch_size=impair_batch,
                         seed=data.seed, retain_positions=positions, fetch_retain=fetch_retain)
    fit_one_unlearning_cycle(model, impair, device, epochs=impair_epochs, lr=lr,
                             label="UNSIR impair")
    repair = data.retain(subset=positions, batch_size=repair_batch, shuffle=True)
    fit_one_unlearning_cycle(model, repair, device, epochs=repair_epochs, lr=lr,
                             label="UNSIR repair")
    return model

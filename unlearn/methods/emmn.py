"""EMMN: error-maximising and error-minimising noise, zero-shot (Chundawat et al.,
"Zero-Shot Machine Unlearning", IEEE TIFS 2023). Full-class task only.

The model is trained on learned noise alone: noise that maximises its error on the forgotten
class (labelled with that class) and, for every retained class, noise it classifies as that
class (labelled with it). No real image is read: the noise size is the model's input size.
"""

from __future__ import annotations

import torch
from torch import nn

from unlearn.errors import UsageError
from unlearn.methods.base import MethodData
from unlearn.methods.noise import NoisyLoader, images_used, learn_noise
from unlearn.methods.registration import FULL_CLASS, register_method
from unlearn.methods.unlearning_cycle import fit_one_unlearning_cycle


@register_method(
    "emmn", data=set(), tasks={FULL_CLASS}, order=70,
    description="zero-shot: train on error-maximising and error-minimising noise only",
    space={"lr": ("log_float", 1e-5, 1e-3), "noise_lr": ("log_float", 0.01, 1.0),
           "epochs": ("int", 1, 4)},
)
def emmn(
    model: nn.Module, data: MethodData, device: torch.device, *,
    noise_batch: int = 4, forget_steps: int = 25, class_steps: int = 30,
    noise_lr: float = 0.1, l2_weight: float = 0.1, copies: int = 80, batch_size: int = 4,
    epochs: int = 2, lr: float = 1e-4, published_noise: bool = False,
    noise_train_mode: bool = True,
) -> nn.Module:
    """EMMN (reads no data at all), in place.

    Published settings: noise batches of 4 images. Forgotten class: UNSIR's error-maximising
    loss −CE + 0.1 · mean_b Σ noise², 25 steps of Adam(0.1). Every other class c: +CE(model(
    noise), c), 30 steps of Adam(0.1). Then `copies` (80) repetitions of every class's noise
    images, labelled with their class, batch 4, shuffled, and 2 epochs of Adam(1e-4).

    Noise copies (deviation D14, docs/deviations.md), a deliberate fix as in UNSIR: the
    published loader uses only the first 3 of each class's 4 noise images (channel-count
    indexing); by default all of them are used (C · 80 · 4 items: 32,000 for CIFAR-100,
    8,000 steps per epoch), and `published_noise=True` gives the published C · 80 · 3
    (24,000).
    """
    if data.task != "full_class" or data.forget_class is None:
        raise UsageError(f"EMMN forgets a whole class; it does not run on the {data.task} task")
    generator = torch.Generator().manual_seed(data.seed)
    common = dict(count=noise_batch, size=model.input_size, device=device,
                  generator=generator, lr=noise_lr, train_mode=noise_train_mode)
    noises, labels = [], []
    for cls in range(data.num_classes):
        if cls == data.forget_class:
            noise = learn_noise(model, cls, steps=forget_steps, maximise=True,
                                l2_weight=l2_weight, **common)
        else:
            noise = learn_noise(model, cls, steps=class_steps, maximise=False, **common)
        noise = images_used(noise, published_noise)
        noises.append(noise)
        labels.append(torch.full((len(noise),), cls, dtype=torch.long))
    loader = NoisyLoader(torch.cat(noises), torch.cat(labels), copies=copies,
                         batch_size=batch_size, seed=data.seed)
    fit_one_unlearning_cycle(model, loader, device, epochs=epochs, lr=lr, label="EMMN")
    return model

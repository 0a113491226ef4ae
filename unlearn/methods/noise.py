"""Learned noise images (UNSIR, EMMN) and the loader that trains on them.

`learn_noise` optimises a batch of images directly (they are the parameters) so that the model
either misclassifies them as a class (error-maximising, UNSIR) or classifies them as it
(error-minimising, EMMN). `NoisyLoader` yields shuffled batches of repeated noise images,
optionally mixed with retained training samples that are read lazily, batch by batch, so
nothing is materialised (49,500 CIFAR-100 images at ViT's 224 px would be 30 GB of float32).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

# Number of noise images the published loaders use from every noise batch: they loop over
# `range(batch[0].size(0))`, the channel count of one image, instead of the batch size
# (inherited from Fast-Machine-Unlearning; deviation D14, docs/deviations.md).
PUBLISHED_IMAGES_USED = 3


def learn_noise(
    model: nn.Module, target: int, *, count: int, size: int, steps: int,
    device: torch.device, generator: torch.Generator, maximise: bool,
    lr: float = 0.1, l2_weight: float = 0.0, train_mode: bool = True,
) -> torch.Tensor:
    """A batch of `count` noise images [count, 3, size, size] optimised for class `target`.

    Initialised `randn` from `generator` (CPU, so the start is the same on every device),
    then `steps` Adam(lr) steps on
        loss = ±CE(model(noise), target) + l2_weight · mean_b Σ_{c,h,w} noise²,
    with −CE when `maximise` (UNSIR's error-maximising noise, l2_weight 0.1) and +CE otherwise
    (EMMN's per-class error-minimising noise, no L2 term). Only the noise is differentiated,
    so the model's parameters collect no gradients (the published code leaves them in
    `.grad`, where they leak into the first step of the next optimiser; deviation D15).
    `train_mode`: the model's mode while the noise is learned (published: train, the mode the
    loaded model is in); the previous mode is restored afterwards.
    """
    noise = torch.randn(count, 3, size, size, generator=generator).to(device)
    noise.requires_grad_(True)
    optimizer = torch.optim.Adam([noise], lr=lr)
    labels = torch.full((count,), int(target), dtype=torch.long, device=device)
    sign = -1.0 if maximise else 1.0
    was_training = model.training
    model.train(train_mode)
    for _ in range(steps):
        loss = sign * F.cross_entropy(model(noise), labels)
        if l2_weight:
            loss = loss + l2_weight * noise.pow(2).sum(dim=(1, 2, 3)).mean()
        (grad,) = torch.autograd.grad(loss, [noise])
        noise.grad = grad
        optimizer.step()
    model.train(was_training)
    return noise.detach()


def images_used(noise: torch.Tensor, published: bool) -> torch.Tensor:
    """The noise images the loader repeats: all of them, or the published first three."""
    return noise[:PUBLISHED_IMAGES_USED] if published else noise


class NoisyLoader:
    """Shuffled (x, y) batches over `copies` repetitions of every noise image (labelled
    `noise_labels`), followed in the item list by optional retain samples read through
    `fetch_retain(positions) -> (x, y)`.

    Items are `copies · N` noise items and then the retain positions; each epoch draws one
    permutation of all of them from a generator seeded by (seed, epoch), like
    `datasets.BatchLoader`, and every batch is its noise images followed by its retain
    images. Copies share storage: a noise image is held once however often it repeats.
    """

    def __init__(self, noise: torch.Tensor, noise_labels: torch.Tensor, *, copies: int,
                 batch_size: int, seed: int = 0,
                 retain_positions: torch.Tensor | None = None,
                 fetch_retain: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
                 | None = None):
        if len(noise) != len(noise_labels):
            raise ValueError("noise and noise_labels must have the same length")
        if (retain_positions is None) != (fetch_retain is None):
            raise ValueError("retain_positions and fetch_retain go together")
        self.noise = noise  # [N, 3, H, W]
        self.noise_labels = torch.as_tensor(noise_labels, dtype=torch.long).to(noise.device)
        self.copies, self.batch_size, self.seed = copies, batch_size, seed
        self.retain_positions = (torch.empty(0, dtype=torch.long) if retain_positions is None
                                 else torch.as_tensor(retain_positions, dtype=torch.long))
        self.fetch_retain = fetch_retain
        self.epoch = 0

    @property
    def num_noise_items(self) -> int:
        return self.copies * len(self.noise)

    @property
    def num_samples(self) -> int:
        return self.num_noise_items + len(self.retain_positions)

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**63)
        self.epoch += 1
        order = torch.randperm(self.num_samples, generator=generator)
        return self._batches(order)

    def _batches(self, order: torch.Tensor):
        n_noise = self.num_noise_items
        for start in range(0, len(order), self.batch_size):
            items = order[start:start + self.batch_size]
            noise_items = items[items < n_noise] % len(self.noise)  # copy k of image i: i + kN
            retain_items = items[items >= n_noise] - n_noise
            xs, ys = [self.noise[noise_items]], [self.noise_labels[noise_items]]
            if len(retain_items):
                x, y = self.fetch_retain(self.retain_positions[retain_items])
                xs.append(x.to(self.noise.device))
                ys.append(y.to(self.noise.device))
            yield torch.cat(xs), torch.cat(ys)

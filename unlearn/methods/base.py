"""What every unlearning method receives, and the gate that enforces what it may read.

A method is `fn(model, data, device, **hyperparameters) -> nn.Module`: it returns the model to
be evaluated (usually `model` itself, changed in place; retrain returns a new one). It declares
which data it may touch; `MethodData` hands out loaders only for that, so a zero-shot method
that reaches for retain data fails loudly instead of quietly using it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from unlearn.data import datasets
from unlearn.methods.registration import FORGET, RETAIN, Method  # noqa: F401  (re-exported)


class DataAccessError(RuntimeError):
    """A method asked for data it did not declare (a zero-shot violation)."""


@dataclass
class MethodData:
    """The data and context a method may use, gated by its declared access.

    Loaders are built here, on request, over `train_set` at the split's forget or retain
    indices, with the run's batch size, the dataset's normalisation, the network's input size
    and the run's seed (each loader's shuffling and augmentation stream starts from it).
    """

    method: str
    task: str  # full_class | sub_class | random
    allowed: frozenset[str]  # subset of {FORGET, RETAIN}
    train_set: datasets.ImageSet  # the whole training set; only the split's indices are read
    split: datasets.Split  # forget_train / retain_train: indices into train_set
    batch_size: int  # default batch of the loaders (a method may ask for another)
    spec: datasets.DatasetSpec  # normalisation statistics
    image_size: int  # the network's input size (images are resized to it)
    num_classes: int  # outputs of the model (task classes)
    forget_class: int | None  # task label forgotten (full-class), its coarse label (sub-class)
    new_model: Callable[[], nn.Module]  # a freshly initialised model of the same architecture
    seed: int = 0
    extras: dict = field(default_factory=dict)  # task-specific context (sub-class labels, ...)

    @property
    def valid_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel lo/hi of normalised pixels."""
        return datasets.valid_range(self.spec)

    def forget(self, subset: torch.Tensor | None = None, **options) -> datasets.BatchLoader:
        """A loader of (x, y) batches over the forget training samples, or the positions
        `subset` of them. Options: targets (labels to train on instead of the task labels,
        aligned with the selection), batch_size, shuffle, augment."""
        self._check(FORGET)
        return self._loader(self.split.forget_train, subset, **options)

    def retain(self, subset: torch.Tensor | None = None, **options) -> datasets.BatchLoader:
        """A loader of (x, y) batches over the retained training samples (options: `forget`)."""
        self._check(RETAIN)
        return self._loader(self.split.retain_train, subset, **options)

    def union(self, *, retain_subset: torch.Tensor, targets: torch.Tensor,
              **options) -> datasets.BatchLoader:
        """One loader over all forget samples followed by `retain_subset` of the retain set,
        trained on `targets` (aligned: forget first), e.g. Bad Teacher's forget flags."""
        self._check(FORGET)
        self._check(RETAIN)
        chosen = torch.cat([self.split.forget_train, self.split.retain_train[retain_subset]])
        return self._loader(chosen, None, targets=targets, **options)

    def forget_labels(self) -> torch.Tensor:
        self._check(FORGET)
        return self.train_set.labels[self.split.forget_train]

    def retain_labels(self, fine: bool = False) -> torch.Tensor:
        self._check(RETAIN)
        labels = self.train_set.fine_labels if fine else self.train_set.labels
        return labels[self.split.retain_train]

    def _loader(self, indices: torch.Tensor, subset, *, targets=None, batch_size=None,
                shuffle=False, augment=False) -> datasets.BatchLoader:
        chosen = indices if subset is None else indices[torch.as_tensor(subset)]
        return datasets.BatchLoader(self.train_set, chosen, batch_size or self.batch_size,
                                    spec=self.spec, image_size=self.image_size,
                                    shuffle=shuffle, augment=augment, seed=self.seed,
                                    targets=targets)

    def _check(self, kind: str) -> None:
        if kind not in self.allowed:
            raise DataAccessError(
                f"method {self.method!r} declared access to {sorted(self.allowed) or 'no data'} "
                f"but asked for the {kind} set"
            )

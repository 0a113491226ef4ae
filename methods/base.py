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

from methods.registration import FORGET, RETAIN, Method  # noqa: F401  (re-exported)

# (subset=None, targets=None, augment=False, batch_size=None, shuffle=False) -> a loader of
# (x, y) batches. `subset`: positions within the set (a selection of its samples); `targets`:
# labels to train on instead of the task labels, aligned with the selection.
LoaderFactory = Callable[..., object]
UNION = "union"  # forget samples followed by retain samples, one loader


class DataAccessError(RuntimeError):
    """A method asked for data it did not declare (a zero-shot violation)."""


@dataclass
class MethodData:
    """The data and context a method may use, gated by its declared access."""

    method: str
    task: str  # full_class | sub_class | random
    allowed: frozenset[str]  # subset of {FORGET, RETAIN}
    loaders: dict[str, LoaderFactory]  # FORGET / RETAIN / UNION -> factory building a loader
    labels: dict[str, torch.Tensor]  # FORGET / RETAIN -> task labels in the set's order
    fine_labels: dict[str, torch.Tensor]  # the same, finest labels (sub-class: fine classes)
    num_classes: int  # outputs of the model (task classes)
    forget_class: int | None  # task label forgotten (full-class), its coarse label (sub-class)
    new_model: Callable[[], nn.Module]  # a freshly initialised model of the same architecture
    valid_range: tuple[torch.Tensor, torch.Tensor]  # per-channel lo/hi of normalised pixels
    seed: int = 0
    extras: dict = field(default_factory=dict)  # task-specific context (sub-class labels, ...)

    def forget(self, **options):
        """A loader over the forget training samples (batches of (x, y))."""
        return self._loader(FORGET, options)

    def retain(self, **options):
        """A loader over the retained training samples (batches of (x, y))."""
        return self._loader(RETAIN, options)

    def union(self, *, retain_subset: torch.Tensor, targets: torch.Tensor, **options):
        """One loader over all forget samples followed by `retain_subset` of the retain set,
        trained on `targets` (aligned: forget first), e.g. Bad Teacher's forget flags."""
        self._check(FORGET)
        self._check(RETAIN)
        return self.loaders[UNION](retain_subset=retain_subset, targets=targets, **options)

    def forget_labels(self) -> torch.Tensor:
        self._check(FORGET)
        return self.labels[FORGET]

    def retain_labels(self, fine: bool = False) -> torch.Tensor:
        self._check(RETAIN)
        return (self.fine_labels if fine else self.labels)[RETAIN]

    def _loader(self, kind: str, options: dict):
        self._check(kind)
        return self.loaders[kind](**options)

    def _check(self, kind: str) -> None:
        if kind not in self.allowed:
            raise DataAccessError(
                f"method {self.method!r} declared access to {sorted(self.allowed) or 'no data'} "
                f"but asked for the {kind} set"
            )

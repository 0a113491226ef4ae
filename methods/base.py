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

FORGET = "forget"  # the forget training samples
RETAIN = "retain"  # the retained training samples

LoaderFactory = Callable[..., object]  # (augment=False, batch_size=None, shuffle=...) -> loader


class DataAccessError(RuntimeError):
    """A method asked for data it did not declare (a zero-shot violation)."""


@dataclass
class MethodData:
    """The data and context a method may use, gated by its declared access."""

    method: str
    allowed: frozenset[str]  # subset of {FORGET, RETAIN}
    loaders: dict[str, LoaderFactory]  # FORGET / RETAIN -> factory building a loader
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

    def _loader(self, kind: str, options: dict):
        if kind not in self.allowed:
            raise DataAccessError(
                f"method {self.method!r} declared access to {sorted(self.allowed) or 'no data'} "
                f"but asked for the {kind} set"
            )
        return self.loaders[kind](**options)


@dataclass(frozen=True)
class Method:
    """A registered unlearning method."""

    fn: Callable[..., nn.Module]
    data: frozenset[str]  # what it may read: {}, {FORGET}, {RETAIN}, {FORGET, RETAIN}
    tasks: frozenset[str]  # tasks it is available for
    summary: str  # one line for --help and the README

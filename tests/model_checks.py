"""Checks on a model's state shared by the method tests: snapshot, change, finiteness, and a
MethodData that refuses all data (for the zero-shot methods)."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from unlearn.methods.base import MethodData


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter and buffer (batch-norm statistics included), by name."""
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def changed(before: dict[str, torch.Tensor], model: nn.Module) -> bool:
    """Whether any parameter or buffer of `model` differs from the snapshot `before`."""
    return any(not torch.equal(before[name], value) for name, value in model.state_dict().items())


def finite(model: nn.Module) -> bool:
    """Whether every parameter and buffer of `model` is finite (no NaN, no infinity)."""
    return all(bool(torch.isfinite(value).all()) for value in model.state_dict().values())


class _NoImages:
    """Stands in for a training set: any use of it fails the test."""

    def __init__(self, method: str):
        self.method = method

    def __getattr__(self, name: str):
        raise AssertionError(f"{self.method} read data")


def zero_shot(data: MethodData) -> MethodData:
    """A copy of `data` that declares no data access and holds no images, so a test proves
    that a zero-shot method reads no image at all (through the gate or around it)."""
    return dataclasses.replace(data, allowed=frozenset(), train_set=_NoImages(data.method))

"""Distillation to the other classes: forget by moving each forget image to where the original
would put it without its label.

The target of a forget image x with label y is the original model's distribution over the
classes other than y, renormalised, with zero mass on y (the idea behind probability
redistribution methods such as PRU, ACML 2024). The model is fine-tuned on the forget images
towards those targets (KL at temperature T, scaled by T² so the gradient's size does not
depend on T; SGD with momentum). It reads the forget set only. Its strength (the learning
rate) is chosen by the shared forget-only rule (unlearn/methods/forget_only.py), exactly as
anchored JiT's η is.

Defined for the class tasks: on the random task a forgotten sample's label is a class the
model keeps, and moving the sample away from it is not what a retrained model does.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from unlearn.errors import UsageError
from unlearn.methods.base import MethodData
from unlearn.methods.forget_only import (
    Learner,
    SelectionRule,
    checks_settings,
    rule_from,
    select_and_unlearn,
)
from unlearn.methods.jit_anchored import kl_to, other_class_log_probs
from unlearn.methods.registration import (
    FORGET,
    FULL_CLASS,
    RUN_BATCH_SIZE,
    SUB_CLASS,
    register_method,
)


class OtherClassDistillation(Learner):
    """One step of KL(target ‖ model) at temperature T towards the other-class targets."""

    def __init__(self, model: nn.Module, temperature: float, momentum: float) -> None:
        super().__init__(model, momentum=momentum)
        self.temperature = temperature

    def loss(self, x: torch.Tensor, y: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        output = self.model(x)
        logits = output[0] if isinstance(output, tuple | list) else output
        targets = other_class_log_probs(original, y, t)  # zero mass on the label
        return t * t * kl_to(targets, (logits / t).log_softmax(dim=1)) / len(y)


def check(values: dict) -> SelectionRule:
    """The settings' checks (UsageError: exit 2, before any data), and the rule they give."""
    temperature = values["temperature"]
    if not (math.isfinite(temperature) and temperature > 0):
        raise UsageError(f"distill_others: temperature must be positive, got {temperature}")
    return rule_from("distill_others", values)


@checks_settings(check)
@register_method(
    "distill_others", data={FORGET}, tasks={FULL_CLASS, SUB_CLASS}, order=930,
    description="forget-only: distil forget images to the original's other-class distribution",
    defaults={"*": {"batch_size": RUN_BATCH_SIZE}},
    space={"temperature": ("log_float", 0.5, 8.0), "lr": ("log_float", 1e-6, 1e-2)},
)
def distill_others(
    model: nn.Module, data: MethodData, device: torch.device, *,
    temperature: float = 1.0, lr: float = 1e-5, lr_max: float = 1e-1, lr_growth: float = 1.5,
    momentum: float = 0.9, batch_size: int | None = None, holdout: float = 0.2,
    max_passes: float = 3.0, guard: float = 0.5,
) -> nn.Module:
    """Zero-shot: distil the forget images to their other-class targets (module docstring)."""
    rule = check(dict(temperature=temperature, momentum=momentum, lr=lr, lr_max=lr_max,
                      lr_growth=lr_growth, holdout=holdout, max_passes=max_passes, guard=guard))
    return select_and_unlearn(
        model, data, device, lambda m: OtherClassDistillation(m, temperature, momentum), rule,
        batch_size=batch_size)

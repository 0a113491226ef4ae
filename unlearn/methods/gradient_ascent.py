"""Forget-only gradient ascent: the NegGrad of the literature without retained data.

It raises the cross-entropy of the forget samples' own labels (SGD with momentum on −CE). With
nothing to hold the rest of the model in place, its damage is limited only by when it stops:
the strength (learning rate) and the stopping step come from the shared forget-only rule
(unlearn/methods/forget_only.py), whose collapse guard and held-out slice apply here as to
every forget-only method. It reads the forget set only and is defined on every task.
"""

from __future__ import annotations

import torch
from torch import nn

from unlearn.methods.base import MethodData
from unlearn.methods.forget_only import (
    Learner,
    SelectionRule,
    checks_settings,
    rule_from,
    select_and_unlearn,
)
from unlearn.methods.registration import ALL_TASKS, FORGET, RUN_BATCH_SIZE, register_method


class GradientAscent(Learner):
    def loss(self, x: torch.Tensor, y: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
        output = self.model(x)
        logits = output[0] if isinstance(output, tuple | list) else output
        return -nn.functional.cross_entropy(logits, y)


def check(values: dict) -> SelectionRule:
    """The settings' checks (UsageError: exit 2, before any data), and the rule they give."""
    return rule_from("gradient_ascent", values)


@checks_settings(check)
@register_method(
    "gradient_ascent", data={FORGET}, tasks=ALL_TASKS, order=940,
    description="forget-only: gradient ascent on the forget samples' loss (NegGrad without "
                "retained data)",
    defaults={"*": {"batch_size": RUN_BATCH_SIZE}},
    space={"lr": ("log_float", 1e-6, 1e-2)},
)
def gradient_ascent(
    model: nn.Module, data: MethodData, device: torch.device, *,
    lr: float = 1e-5, lr_max: float = 1e-1, lr_growth: float = 1.5, momentum: float = 0.9,
    batch_size: int | None = None, holdout: float = 0.2, max_passes: float = 3.0,
    guard: float = 0.5,
) -> nn.Module:
    """Zero-shot: ascend the forget samples' loss until the rule stops it (module docstring)."""
    rule = check(dict(momentum=momentum, lr=lr, lr_max=lr_max, lr_growth=lr_growth,
                      holdout=holdout, max_passes=max_passes, guard=guard))
    return select_and_unlearn(model, data, device,
                              lambda m: GradientAscent(m, momentum=momentum), rule,
                              batch_size=batch_size)

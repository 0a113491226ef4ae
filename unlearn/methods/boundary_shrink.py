"""Boundary Shrink (Chen et al., "Boundary Unlearning", CVPR 2023), reading the forget set only.

Each forget image is relabelled with its nearest wrong class, found by one FGSM step on the
original model: x' = x + bound · sign(∇ₓ CE(f₀(x), y)), and the neighbour is the class f₀
ranks highest at x' among the classes other than y. The model is then fine-tuned on
(x, neighbour) with cross-entropy, which pulls the forgotten class's decision region in
towards its neighbours. Published settings: bound 0.1 in [0, 1] pixel units (converted here
to normalised units per channel), SGD lr 1e-5 with momentum 0.9.

Differences from the published code (docs/deviations.md, D27): the neighbour is taken among
the other classes (the published code takes the adversarial prediction, which is the true
label where the step fails to cross the boundary, and then trains the sample onto its own
label); the number of fine-tuning steps and the learning rate are chosen by the shared
forget-only rule (unlearn/methods/forget_only.py) instead of 10 fixed epochs at lr 1e-5 (the
rule starts at the published rate); the model stays in eval mode (forget-only batches must not
move normalisation statistics). The neighbour search is batched: one forward and one backward
of the original per batch.

Defined for the class tasks (the published method forgets a class).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from unlearn.errors import UsageError
from unlearn.methods.base import MethodData
from unlearn.methods.forget_only import (
    Learner,
    SelectionRule,
    checks_settings,
    forward_logits,
    other_class_top,
    rule_from,
    select_and_unlearn,
)
from unlearn.methods.registration import (
    FORGET,
    FULL_CLASS,
    RUN_BATCH_SIZE,
    SUB_CLASS,
    register_method,
)


def nearest_wrong_class(attack_model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                        step: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """The class other than y that `attack_model` ranks first after one FGSM step of size
    `step` (per channel, normalised units) away from y; x' stays in [lo, hi] per channel."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    x_adv = x.detach().clone().requires_grad_(True)
    output = attack_model(x_adv)
    logits = output[0] if isinstance(output, tuple | list) else output
    grad, = torch.autograd.grad(nn.functional.cross_entropy(logits, y), x_adv)
    moved = x + step.view(shape) * grad.sign()
    moved = torch.max(torch.min(moved, hi.view(shape)), lo.view(shape))
    return other_class_top(forward_logits(attack_model, moved), y)


class ShrinkLearner(Learner):
    """Fine-tuning of forget images onto their nearest wrong class."""

    def __init__(self, model: nn.Module, attack_model: nn.Module, step: torch.Tensor,
                 valid_range: tuple[torch.Tensor, torch.Tensor], momentum: float) -> None:
        super().__init__(model, momentum=momentum)
        self.attack_model, self.step_size = attack_model, step
        self.lo, self.hi = valid_range

    def loss(self, x: torch.Tensor, y: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
        neighbours = nearest_wrong_class(self.attack_model, x, y, self.step_size.to(x),
                                         self.lo.to(x), self.hi.to(x))
        output = self.model(x)
        logits = output[0] if isinstance(output, tuple | list) else output
        return nn.functional.cross_entropy(logits, neighbours)


def check(values: dict) -> SelectionRule:
    """The settings' checks (UsageError: exit 2, before any data), and the rule they give."""
    bound = values["bound"]
    if not (math.isfinite(bound) and bound > 0):
        raise UsageError(f"boundary_shrink: bound must be positive, got {bound}")
    return rule_from("boundary_shrink", values)


@checks_settings(check)
@register_method(
    "boundary_shrink", data={FORGET}, tasks={FULL_CLASS, SUB_CLASS}, order=950,
    description="forget-only: relabel forget images with their nearest wrong class and "
                "fine-tune (Boundary Shrink)",
    defaults={"*": {"batch_size": RUN_BATCH_SIZE}},
    space={"bound": ("log_float", 0.01, 0.5), "lr": ("log_float", 1e-6, 1e-2)},
)
def boundary_shrink(
    model: nn.Module, data: MethodData, device: torch.device, *,
    bound: float = 0.1, lr: float = 1e-5, lr_max: float = 1e-1, lr_growth: float = 1.5,
    momentum: float = 0.9, batch_size: int | None = None, holdout: float = 0.2,
    max_passes: float = 3.0, guard: float = 0.5,
) -> nn.Module:
    """Zero-shot: Boundary Shrink with its strength chosen by the forget-only rule."""
    rule = check(dict(bound=bound, momentum=momentum, lr=lr, lr_max=lr_max,
                      lr_growth=lr_growth, holdout=holdout, max_passes=max_passes, guard=guard))
    attack_model = copy.deepcopy(model).to(device).eval()  # the original, frozen
    for parameter in attack_model.parameters():
        parameter.requires_grad_(False)
    step = bound / torch.tensor(data.spec.std)  # pixel units -> normalised units per channel
    return select_and_unlearn(
        model, data, device,
        lambda m: ShrinkLearner(m, attack_model, step, data.valid_range, momentum), rule,
        batch_size=batch_size)

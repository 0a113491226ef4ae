"""Boundary Expanding (Chen et al., "Boundary Unlearning", CVPR 2023), reading the forget set
only.

The classifier gets one extra, shadow output. The widened model is fine-tuned to put every
forget image into the shadow class (cross-entropy), which spreads the forgotten class's region
out into a class that is then removed: the shadow row is cut off and the model keeps the
original's number of outputs. Published settings: SGD lr 1e-5 with momentum 0.9; the shadow
row is freshly initialised (here from a generator seeded by the run's seed).

Differences from the published code (docs/deviations.md, D28): the number of fine-tuning steps
and the learning rate are chosen by the shared forget-only rule (unlearn/methods/forget_only.py)
instead of 10 fixed epochs at lr 1e-5 (the rule starts at the published rate), measuring the
model as it will be returned (the shadow output ignored); the model stays in eval mode.

Defined for the class tasks (the published method forgets a class).
"""

from __future__ import annotations

import copy

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
from unlearn.methods.registration import (
    FORGET,
    FULL_CLASS,
    RUN_BATCH_SIZE,
    SUB_CLASS,
    register_method,
)


def classifier_head(model: nn.Module, num_classes: int) -> tuple[nn.Module, str, nn.Linear]:
    """(parent module, attribute name, layer) of the last linear layer with `num_classes`
    outputs: the classifier whose rows are the classes."""
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module.out_features == num_classes:
            found = name, module
    if found is None:
        raise UsageError(f"boundary_expanding: no linear layer with {num_classes} outputs "
                         "(the classifier) was found in the model")
    path, layer = found
    parent_path, _, attribute = path.rpartition(".")
    return model.get_submodule(parent_path) if parent_path else model, attribute, layer


def widened(model: nn.Module, num_classes: int, seed: int) -> nn.Module:
    """A copy of `model` whose classifier has one more output (the shadow class, last); the
    other rows are the original's."""
    wide = copy.deepcopy(model)
    parent, attribute, head = classifier_head(wide, num_classes)
    bigger = nn.Linear(head.in_features, num_classes + 1, bias=head.bias is not None)
    bigger.to(device=head.weight.device, dtype=head.weight.dtype)
    generator = torch.Generator().manual_seed(seed)
    bound = head.in_features ** -0.5  # nn.Linear's own initialisation range
    with torch.no_grad():
        bigger.weight[:num_classes] = head.weight
        bigger.weight[num_classes:] = (torch.rand(1, head.in_features, generator=generator)
                                       * 2 - 1).to(head.weight) * bound
        if head.bias is not None:
            bigger.bias[:num_classes] = head.bias
            bigger.bias[num_classes:] = 0.0
    setattr(parent, attribute, bigger)
    return wide


def narrowed(into: nn.Module, wide: nn.Module, num_classes: int) -> nn.Module:
    """`into` (the original architecture) given the widened model's weights, shadow row cut."""
    state = wide.state_dict()
    target = into.state_dict()
    for name, value in state.items():
        target[name] = value[:num_classes] if value.shape != target[name].shape else value
    into.load_state_dict(target)
    return into


class ExpandLearner(Learner):
    """Fine-tuning of the widened model: every forget image into the shadow class."""

    def __init__(self, model: nn.Module, num_classes: int, seed: int, momentum: float) -> None:
        self.narrow, self.num_classes = model, num_classes
        super().__init__(widened(model, num_classes, seed), momentum=momentum)

    def loss(self, x: torch.Tensor, y: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
        output = self.model(x)
        logits = output[0] if isinstance(output, tuple | list) else output
        shadow = torch.full_like(y, self.num_classes)
        return nn.functional.cross_entropy(logits, shadow)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return super().logits(x)[:, :self.num_classes]  # as returned: no shadow output

    def result(self) -> nn.Module:
        return narrowed(self.narrow, self.model, self.num_classes)


def check(values: dict) -> SelectionRule:
    """The settings' checks (UsageError: exit 2, before any data), and the rule they give."""
    return rule_from("boundary_expanding", values)


@checks_settings(check)
@register_method(
    "boundary_expanding", data={FORGET}, tasks={FULL_CLASS, SUB_CLASS}, order=960,
    description="forget-only: fine-tune forget images into a shadow class, then remove it "
                "(Boundary Expanding)",
    defaults={"*": {"batch_size": RUN_BATCH_SIZE}},
    space={"lr": ("log_float", 1e-6, 1e-2)},
)
def boundary_expanding(
    model: nn.Module, data: MethodData, device: torch.device, *,
    lr: float = 1e-5, lr_max: float = 1e-1, lr_growth: float = 1.5, momentum: float = 0.9,
    batch_size: int | None = None, holdout: float = 0.2, max_passes: float = 3.0,
    guard: float = 0.5,
) -> nn.Module:
    """Zero-shot: Boundary Expanding with its strength chosen by the forget-only rule."""
    rule = check(dict(momentum=momentum, lr=lr, lr_max=lr_max, lr_growth=lr_growth,
                      holdout=holdout, max_passes=max_passes, guard=guard))
    classifier_head(model, data.num_classes)  # refuse a model without one before any work
    return select_and_unlearn(
        model, data, device,
        lambda m: ExpandLearner(m, data.num_classes, data.seed, momentum), rule,
        batch_size=batch_size)

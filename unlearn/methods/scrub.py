"""SCRUB (Kurmanji et al.): a student moves away from the original model (its
teacher) on the forget set and stays close to it, and to the labels, on the retain set."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from unlearn.errors import UsageError
from unlearn.methods.base import MethodData
from unlearn.methods.registration import ALL_TASKS, FORGET, RETAIN, RUN_BATCH_SIZE, register_method

FORGET_PHASE, RETAIN_PHASE = "forget", "retain"


def scrub_phases(epochs: int, max_steps: int) -> list[tuple[int, str]]:
    """The passes SCRUB makes, in order: (epoch from 1, "forget" | "retain").

    Epochs 1..max_steps start with a max-step pass over the forget set; every epoch then
    makes a min-step pass over the retain set (published `msteps`, `sgda_epochs`).
    """
    phases = []
    for epoch in range(1, epochs + 1):
        if epoch <= max_steps:
            phases.append((epoch, FORGET_PHASE))
        phases.append((epoch, RETAIN_PHASE))
    return phases


def distill_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
               temperature: float) -> torch.Tensor:
    """Published `DistillKL(T)`: KL(teacher ‖ student) at temperature T, summed over the
    batch and classes, × T² / B (a per-sample mean, unlike gkt's elementwise mean)."""
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    teacher = F.softmax(teacher_logits / temperature, dim=1)
    kl = F.kl_div(log_student, teacher, reduction="sum")
    return kl * temperature**2 / student_logits.shape[0]


@register_method(
    "scrub", data={FORGET, RETAIN}, tasks=ALL_TASKS, order=90,
    description="SCRUB: move away from the model on forget data, stay close on retain",
    defaults={
        "*": {"batch_size": RUN_BATCH_SIZE},
        # what the published mains actually run (see the docstring)
        "full_class/*": {"alpha": 0.001, "gamma": 0.99, "clip_grad_norm": 1.0},
        "sub_class/*": {"alpha": 1.0, "gamma": 5.0, "clip_grad_norm": 0.0},
        "random/*": {"alpha": 1.0, "gamma": 5.0, "clip_grad_norm": 0.0},
    },
    space={"alpha": ("log_float", 1e-4, 10.0), "gamma": ("log_float", 0.1, 10.0),
           "lr": ("log_float", 1e-5, 1e-2), "epochs": ("int", 1, 5),
           "max_steps": ("int", 1, 3), "temperature": ("float", 1.0, 8.0)},
)
def scrub(
    model: nn.Module, data: MethodData, device: torch.device, *,
    alpha: float, gamma: float, clip_grad_norm: float, epochs: int = 3, max_steps: int = 2,
    lr: float = 5e-4, momentum: float = 0.9, weight_decay: float = 5e-4,
    temperature: float = 4.0, batch_size: int | None = None,
) -> nn.Module:
    """SCRUB with the published settings (the model is the student, changed in place).

    Each pass over a loader takes one SGD step per batch (lr 5e-4, momentum 0.9, weight
    decay 5e-4, constant: the published decay epochs are never reached). Forget passes
    minimise −KL(student, teacher); retain passes minimise γ·CE + α·KL. Teacher: a frozen
    copy of the original model in eval mode; student in train mode (dropout on).

    α, γ and the clipping are declared per task above, as the published mains actually run
    them (kept on purpose): full-class α = 0.001, γ = 0.99 and the gradient norm clipped to 1
    (the declared per-model α/γ are never passed); sub-class and random α = 1, γ = 5, no
    clipping (`clip_grad_norm=0`).
    """
    if epochs < 1 or max_steps < 0:
        raise UsageError(f"SCRUB needs epochs >= 1 and max_steps >= 0, got {epochs}, "
                         f"{max_steps}")

    teacher = copy.deepcopy(model).eval()
    teacher.requires_grad_(False)
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                                weight_decay=weight_decay)
    # Published loaders: forget in class order, retain reshuffled every pass.
    loaders = {FORGET_PHASE: data.forget(shuffle=False, batch_size=batch_size),
               RETAIN_PHASE: data.retain(shuffle=True, batch_size=batch_size)}
    model.train()
    for epoch, phase in scrub_phases(epochs, max_steps):
        for x, y in tqdm(loaders[phase], desc=f"SCRUB {epoch} {phase}", disable=None,
                         leave=False):
            x, y = x.to(device), y.to(device)
            student_logits = model(x)
            with torch.no_grad():
                teacher_logits = teacher(x)
            kl = distill_kl(student_logits, teacher_logits, temperature)
            if phase == FORGET_PHASE:
                loss = -kl
            else:
                loss = gamma * F.cross_entropy(student_logits, y) + alpha * kl
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad_norm:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            optimiser.step()
    optimiser.zero_grad(set_to_none=True)
    return model

"""Bad Teacher / `blindspot` (Chundawat et al., AAAI 2023), as published.

A copy of the model (the student) is distilled from two teachers at once: on forget samples
it imitates an incompetent teacher (a randomly initialised model of the same architecture),
on retain samples the competent one (the original model).
"""

from __future__ import annotations

import random
from copy import deepcopy

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from unlearn.methods.base import MethodData
from unlearn.methods.registration import ALL_TASKS, FORGET, RETAIN, register_method

FORGET_FLAG, RETAIN_FLAG = 1, 0  # targets of the unlearning set (published UnLearningData)


def unlearning_selection(num_forget: int, num_retain: int, *, fraction: float,
                         seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Retain positions to distil on and the flags of the whole set (forget first).

    Published: `random.sample(retain_set, int(0.3·|retain|))` with Python's RNG; here the same
    draw from `random.Random(seed)`. Returns (retain_subset int64 [k], flags int64
    [num_forget + k]: 1 for a forget sample, 0 for a retain sample).
    """
    count = int(fraction * num_retain)
    chosen = random.Random(seed).sample(range(num_retain), count)
    flags = torch.cat([torch.full((num_forget,), FORGET_FLAG, dtype=torch.long),
                       torch.full((count,), RETAIN_FLAG, dtype=torch.long)])
    return torch.tensor(chosen, dtype=torch.long), flags


def bad_teacher_loss(student_logits: torch.Tensor, flags: torch.Tensor,
                     competent_logits: torch.Tensor, incompetent_logits: torch.Tensor,
                     temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher ‖ student) with the teacher chosen per sample by its flag (1: incompetent).

    All logits [B, C]. Published `F.kl_div(..., reduction='mean')`: the sum is divided by
    B·C, not B; reproduced here, as the published numbers were made with it. With Adam the
    constant factor 1/C hardly matters (Adam's step is invariant to the loss scale up to its
    epsilon).
    """
    flag = flags.view(-1, 1).to(student_logits.dtype)
    teacher = (flag * F.softmax(incompetent_logits / temperature, dim=1)
               + (1 - flag) * F.softmax(competent_logits / temperature, dim=1))
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    # Same value as reduction='mean', without the warning PyTorch raises for it.
    return F.kl_div(log_student, teacher, reduction="sum") / teacher.numel()


@register_method(
    "blindspot", data={FORGET, RETAIN}, tasks=ALL_TASKS, order=40,
    description="Bad Teacher: distil from the model (retain) and a random model (forget)",
    defaults={"*/ViT": {"batch_size": 128}},  # published ViT runs: 128 to fit in memory
    space={"lr": ("log_float", 1e-5, 1e-3), "epochs": ("int", 1, 3),
           "temperature": ("float", 1.0, 4.0)},
)
def blindspot(
    model: nn.Module, data: MethodData, device: torch.device, *,
    batch_size: int = 256, lr: float = 1e-4, epochs: int = 1, retain_fraction: float = 0.3,
    temperature: float = 1.0,
) -> nn.Module:
    """Bad Teacher (reads forget and retain): returns the student, a trained copy of `model`.

    Published: 30 % of the retain samples (random) plus all forget samples, flagged, shuffled,
    batch 256 (128 for ViT, to fit in memory: declared above), 1 epoch
    of Adam(1e-4) on the student, T = 1. Both teachers in eval mode, the student in train
    mode. The incompetent teacher is `data.new_model()`: for a ViT built from pre-trained
    weights that is the pre-trained backbone with a random head, as published.
    """
    student = deepcopy(model).train()
    competent = model.eval()
    incompetent = data.new_model().to(device).eval()
    num_forget, num_retain = len(data.forget_labels()), len(data.retain_labels())
    retain_subset, flags = unlearning_selection(num_forget, num_retain,
                                                fraction=retain_fraction, seed=data.seed)
    loader = data.union(retain_subset=retain_subset, targets=flags, batch_size=batch_size,
                        shuffle=True)
    optimizer = torch.optim.Adam(student.parameters(), lr=lr)
    for epoch in range(epochs):
        bar = tqdm(loader, desc=f"blindspot epoch {epoch + 1}/{epochs}", leave=False,
                   disable=None)
        for x, flag in bar:
            x, flag = x.to(device, non_blocking=True), flag.to(device, non_blocking=True)
            with torch.no_grad():
                good, bad = competent(x), incompetent(x)
            loss = bad_teacher_loss(student(x), flag, good, bad, temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return student

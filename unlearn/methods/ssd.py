"""Selective Synaptic Dampening (SSD, Foster et al.).

Parameters much more important to the forget set than to the whole training set are shrunk:
with importances I = mean over batches of the squared batch-mean gradient of the
cross-entropy, every weight with I_f > α·I_D is multiplied by β = min((λ·I_D / I_f)^exponent,
lower_bound). Weights are only ever scaled by a factor in [0, 1] (with the published
exponent 1 and lower_bound 1), so SSD never enlarges a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from unlearn.errors import UsageError
from unlearn.methods.base import MethodData
from unlearn.methods.registration import ALL_TASKS, FORGET, RETAIN, RUN_BATCH_SIZE, register_method

# The whole training set's batches, as each published main builds `full_train_dl`.
SHUFFLED = "shuffled"  # full-class: DataLoader(deepcopy(trainset), b, shuffle=True)
RETAIN_THEN_FORGET = "retain_then_forget"  # sub/random: ConcatDataset(retain, forget), b, in order
FULL_ORDERS = (SHUFFLED, RETAIN_THEN_FORGET)


@register_method(
    "ssd_tuning", data={FORGET, RETAIN}, tasks=ALL_TASKS, order=80,
    description="SSD: dampen weights far more important to the forget set than to all",
    defaults={
        "*": {"batch_size": RUN_BATCH_SIZE},
        # the published full-class main hard-codes λ = α = 1 (see the docstring)
        "full_class/*": {"dampening_constant": 1, "selection_weighting": 1,
                         "full_order": "shuffled"},
        "sub_class/*": {"dampening_constant": 6, "selection_weighting": 5,
                        "full_order": "retain_then_forget"},
        "sub_class/ViT": {"dampening_constant": 1, "selection_weighting": 10},
        "random/*": {"dampening_constant": 4, "selection_weighting": 10,
                     "full_order": "retain_then_forget"},
        "random/ViT": {"dampening_constant": 1, "selection_weighting": 3.5},
    },
    space={"dampening_constant": ("log_float", 0.05, 10.0),
           "selection_weighting": ("log_float", 1.0, 100.0)},
)
def ssd_tuning(
    model: nn.Module, data: MethodData, device: torch.device, *,
    dampening_constant: float, selection_weighting: float, full_order: str,
    exponent: float = 1.0, lower_bound: float = 1.0, batch_size: int | None = None,
) -> nn.Module:
    """Dampen the parameters that matter much more for the forget set (in place).

    dampening_constant = λ, selection_weighting = α, declared per task and network above.
    Full-class: λ = α = 1, what the published full-class main actually runs: it hard-codes
    both to 1 and never uses its declared per-model values (VGG16 λ 4, α 10; ViT λ 1, α 3.5),
    kept on purpose. The published sub-class runs use VGG16 λ 6, α 5 and ViT λ 1, α 10;
    random VGG16 λ 4, α 10 and ViT λ 1, α 3.5; CNN and ResNet18 take VGG16's.

    Importances depend on batching (squares of batch means), so the published loaders are
    rebuilt: forget set in order at `batch_size` (the run's `-b` when None) for I_f; for I_D
    the whole training set, `full_order` "shuffled" (the full-class default) or
    "retain_then_forget" (retain samples then forget samples, unshuffled, batches running
    across the boundary: the sub-class / random default).
    """
    if full_order not in FULL_ORDERS:
        raise UsageError(f"SSD full_order must be one of {', '.join(FULL_ORDERS)}, "
                         f"got {full_order!r}")
    if selection_weighting < 0 or dampening_constant < 0:
        raise UsageError("SSD dampening_constant and selection_weighting must be non-negative")

    model.eval()  # published: importances in eval mode (no dropout, BN running statistics)
    forget_loader = data.forget(shuffle=False, batch_size=batch_size)
    forget_importance = importances(model, forget_loader, device)
    full_importance = importances(model, full_training_batches(data, full_order, batch_size),
                                  device)
    dampen(model, forget_importance, full_importance, dampening_constant=dampening_constant,
           selection_weighting=selection_weighting, exponent=exponent,
           lower_bound=lower_bound)
    return model


def full_training_batches(data: MethodData, order: str,
                          batch_size: int | None) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """Batches over forget + retain samples, in the published order for `order`."""
    if order == SHUFFLED:
        everything = torch.arange(len(data.retain_labels()))
        labels = torch.cat([data.forget_labels(), data.retain_labels()])
        return data.union(retain_subset=everything, targets=labels, shuffle=True,
                          batch_size=batch_size)
    retain = data.retain(shuffle=False, batch_size=batch_size)
    forget = data.forget(shuffle=False, batch_size=batch_size)
    return _Rebatched([retain, forget], retain.batch_size)


class _Rebatched:
    """The batches of one unshuffled loader over the concatenation of `loaders`' samples:
    batches are re-cut at `batch_size`, so one batch can hold the last retain and the first
    forget samples, as a DataLoader over ConcatDataset(retain, forget) gives them."""

    def __init__(self, loaders: list, batch_size: int) -> None:
        self.loaders, self.batch_size = loaders, batch_size

    def __len__(self) -> int:
        total = sum(loader.num_samples for loader in self.loaders)
        return -(-total // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        held_x: list[torch.Tensor] = []
        held_y: list[torch.Tensor] = []
        count = 0
        for loader in self.loaders:
            for x, y in loader:
                held_x.append(x)
                held_y.append(y)
                count += len(y)
                while count >= self.batch_size:
                    xs, ys = torch.cat(held_x), torch.cat(held_y)
                    yield xs[:self.batch_size], ys[:self.batch_size]
                    held_x, held_y = [xs[self.batch_size:]], [ys[self.batch_size:]]
                    count -= self.batch_size
        if count:
            yield torch.cat(held_x), torch.cat(held_y)


def importances(model: nn.Module, batches: Iterable,
                device: torch.device) -> dict[str, torch.Tensor]:
    """Per parameter: mean over batches of (gradient of the batch-mean cross-entropy)²
    (published `calc_importance`). Parameters without a gradient (e.g. ViT's unused pooler)
    get zeros, which SSD never selects."""
    result = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    count = 0
    for x, y in tqdm(batches, desc="SSD importance", disable=None, leave=False):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x.to(device)), y.to(device)).backward()
        for name, p in model.named_parameters():
            if p.grad is not None:
                result[name].add_(p.grad.square())
        count += 1
    model.zero_grad(set_to_none=True)
    if count == 0:
        raise UsageError("SSD needs at least one batch to compute importances")
    for value in result.values():
        value.div_(count)
    return result


@torch.no_grad()
def dampen(model: nn.Module, forget_importance: dict[str, torch.Tensor],
           full_importance: dict[str, torch.Tensor], *, dampening_constant: float,
           selection_weighting: float, exponent: float = 1.0,
           lower_bound: float = 1.0) -> None:
    """θ[I_f > α·I_D] *= min((λ·I_D / I_f)^exponent, lower_bound), per parameter (in place)."""
    for name, p in model.named_parameters():
        forget_imp, full_imp = forget_importance[name], full_importance[name]
        selected = forget_imp > selection_weighting * full_imp  # implies I_f > 0
        beta = (dampening_constant * full_imp[selected] / forget_imp[selected]).pow(exponent)
        p[selected] *= beta.clamp(max=lower_bound)

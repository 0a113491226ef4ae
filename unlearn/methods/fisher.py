"""Fisher forgetting (Golatkar et al.): add Gaussian noise to every weight, scaled
by the inverse of its Fisher information on the retain set, so the weights that the retained
data do not pin down are scrambled."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap
from tqdm import tqdm

from unlearn.errors import UsageError
from unlearn.methods.base import MethodData
from unlearn.methods.registration import ALL_TASKS, RETAIN, register_method

log = logging.getLogger(__name__)

Accumulators = tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]


@register_method(
    "FisherForgetting", data={RETAIN}, tasks=ALL_TASKS, order=100,
    description="Fisher forgetting: noise scaled by inverse retain Fisher",
    space={"alpha": ("log_float", 1e-9, 1e-4)},
)
def fisher_forgetting(
    model: nn.Module, data: MethodData, device: torch.device, *,
    alpha: float = 1e-6, batch_size: int = 16, vectorized: bool = True,
) -> nn.Module:
    """Published `FisherForgetting` (in place): θ ← μ + sqrt(var)·N(0, 1).

    Per parameter: var = α·min(1 / (Σ_y p(y|x)·g_y² averaged over retain samples + 1e-8),
    1e3) — cap 1e2 for "head" parameters — averaged over dim 1 for matrices/kernels, μ = θ;
    1-D parameters (biases, batch-norm) get var ×10. Full-class additionally zeroes the
    forget class's row of the head (μ = 0, var = 1e-4) and multiplies the head's var by 10.
    "Head" is any parameter whose first dimension equals the number of classes (published
    test; `num_classes` is the task's, the superclass count in sub-class).

    The published code backpropagates every class's loss for every retain sample at batch 1
    (N·C backward passes). `vectorized=True` computes the same per-sample gradients with
    torch.func (vmap over `batch_size` samples per class), equal up to float rounding; it
    holds about 2·batch_size copies of the parameters, so lower `batch_size` for big nets.
    `vectorized=False` runs the literal batch-1 loop (deviation D19, docs/deviations.md).
    Noise: a CPU generator seeded by the run's seed (the same draws on every device; D5).
    """
    if alpha <= 0 or batch_size < 1:
        raise UsageError("Fisher forgetting needs alpha > 0 and batch_size >= 1")
    model.eval()  # published: eval mode while accumulating
    accumulate = fisher_accumulators if vectorized else fisher_accumulators_batch1
    loader = data.retain(shuffle=False, batch_size=batch_size if vectorized else 1)
    _, grad2_acc = accumulate(model, loader, data.num_classes, device)
    generator = torch.Generator().manual_seed(data.seed)
    forget_class = data.forget_class if data.task == "full_class" else None
    with torch.no_grad():
        for name, p in model.named_parameters():
            mu, var = _mean_var(p, grad2_acc[name], alpha, data.num_classes, forget_class)
            noise = torch.randn(p.shape, generator=generator).to(p.device, p.dtype)
            p.copy_(mu + var.sqrt() * noise)
    return model


def _mean_var(p: torch.Tensor, grad2: torch.Tensor, alpha: float, num_classes: int,
              forget_class: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Published `get_mean_var`, in its order of operations."""
    var = (1.0 / (grad2 + 1e-8)).clamp(max=1e3)
    is_head = p.size(0) == num_classes
    if is_head:
        var = var.clamp(max=1e2)
    var = alpha * var
    if p.ndim > 1:
        var = var.mean(dim=1, keepdim=True).expand_as(p).clone()
    mu = p.detach().clone()
    if forget_class is not None and is_head:
        mu[forget_class] = 0
        var[forget_class] = 1e-4
    if (forget_class is not None and is_head) or p.ndim == 1:
        # full-class: head ×10 (once, also for its bias); every task: 1-D parameters ×10
        var = var * 10
    return mu, var


def fisher_accumulators_batch1(model: nn.Module, loader, num_classes: int,
                               device: torch.device) -> Accumulators:
    """The published loop: for each sample (batch 1) and each class y, backward CE(out, y);
    grad_acc += [y = label]·g, grad2_acc += p(y|x)·g²; both divided by the sample count.
    Unused parameters (no gradient) count as zero gradient."""
    params = dict(model.named_parameters())
    grad_acc = {n: torch.zeros_like(p) for n, p in params.items()}
    grad2_acc = {n: torch.zeros_like(p) for n, p in params.items()}
    count = 0
    for x, label in tqdm(loader, desc="Fisher (batch 1)", disable=None, leave=False):
        x, label = x.to(device), label.to(device)
        for i in range(len(label)):
            output = model(x[i:i + 1])
            prob = F.softmax(output, dim=-1).detach()
            for y in range(num_classes):
                target = torch.full_like(label[i:i + 1], y)
                model.zero_grad(set_to_none=True)
                F.cross_entropy(output, target).backward(retain_graph=True)
                for n, p in params.items():
                    if p.grad is None:
                        continue
                    if int(label[i]) == y:
                        grad_acc[n] += p.grad
                    grad2_acc[n] += prob[0, y] * p.grad.square()
            count += 1
    model.zero_grad(set_to_none=True)
    return _divide(grad_acc, grad2_acc, count)


def fisher_accumulators(model: nn.Module, loader, num_classes: int,
                        device: torch.device) -> Accumulators:
    """The same accumulators from per-sample gradients: for each batch and class y, vmap of
    the single-sample CE gradient over the batch (one batched forward+backward per class)."""
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}

    def sample_loss(weights: dict[str, torch.Tensor], x: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        output = functional_call(model, (weights, buffers), (x.unsqueeze(0),))
        return F.cross_entropy(output, target.unsqueeze(0))

    per_sample_grads = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    grad_acc = {n: torch.zeros_like(p) for n, p in params.items()}
    grad2_acc = {n: torch.zeros_like(p) for n, p in params.items()}
    count = 0
    for x, label in tqdm(loader, desc="Fisher", disable=None, leave=False):
        x, label = x.to(device), label.to(device)
        with torch.no_grad():
            prob = F.softmax(model(x), dim=-1)  # [B, C]
        for y in range(num_classes):
            grads = per_sample_grads(params, x, torch.full_like(label, y))  # name -> [B, *p]
            is_label = (label == y).to(prob.dtype)
            for n, g in grads.items():
                weight_shape = (-1,) + (1,) * (g.ndim - 1)
                grad_acc[n] += (is_label.view(weight_shape) * g).sum(0)
                grad2_acc[n] += (prob[:, y].view(weight_shape) * g.square()).sum(0)
            del grads
        count += len(label)
    return _divide(grad_acc, grad2_acc, count)


def _divide(grad_acc: dict[str, torch.Tensor], grad2_acc: dict[str, torch.Tensor],
            count: int) -> Accumulators:
    if count == 0:
        raise UsageError("Fisher forgetting needs at least one retain sample")
    for acc in (grad_acc, grad2_acc):
        for value in acc.values():
            value.div_(count)
    return grad_acc, grad2_acc

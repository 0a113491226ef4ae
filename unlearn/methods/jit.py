"""JiT (lipschitz_forgetting) behind the common method signature; the algorithm is in
unlearn/methods/lipschitz.py."""

from __future__ import annotations

import torch
from torch import nn

from unlearn.methods.base import MethodData
from unlearn.methods.lipschitz import JitOptions
from unlearn.methods.lipschitz import lipschitz_forgetting as run_jit
from unlearn.methods.registration import ALL_TASKS, FORGET, RUN_BATCH_SIZE, register_method


# σ and η (and N) come from the JIT table of each task's main file, where users edit them.
@register_method(
    "lipschitz_forgetting", data={FORGET}, tasks=ALL_TASKS, order=900,
    description="JiT: Lipschitz smoothing around forget samples (zero-shot)",
    defaults={"*": {"batch_size": RUN_BATCH_SIZE}},
    space={"sigma": ("log_float", 0.01, 2.0), "eta": ("log_float", 1e-6, 2.0)},
)
def lipschitz_forgetting(
    model: nn.Module, data: MethodData, device: torch.device, *,
    sigma: float, eta: float, n_samples: int = 25, batch_size: int | None = None,
    reference: bool = False, accumulate_grads: bool | None = None, clamp: str | None = None,
    train_mode: bool | None = None, reduction: str | None = None, chunk_size: int = 0,
    autocast_bf16: bool = False,
) -> nn.Module:
    """Zero-shot: smooth the model around each forget sample (reads the forget set only).

    `reference=True` starts from the published code's behaviour (gradients accumulated across
    batches, clamp to the batch's min/max, train mode, loss summed over the batch; deviations
    D1, D2 and D3, docs/deviations.md); each of those can also be set on its own. Otherwise
    the paper's Algorithm 1.
    """
    options = JitOptions.reference(sigma, eta, n_samples) if reference else JitOptions(
        sigma=sigma, eta=eta, n_samples=n_samples)
    overrides = dict(accumulate_grads=accumulate_grads, clamp=clamp,
                     train_mode=train_mode, reduction=reduction)
    for name, value in overrides.items():
        if value is not None:
            setattr(options, name, value)
    options.chunk_size = chunk_size
    options.autocast_bf16 = autocast_bf16
    options.seed = data.seed
    options.validate()
    # Published forget loader: not shuffled, batch `-b` (the sum over the batch makes the step
    # size depend on it).
    loader = data.forget(shuffle=False, batch_size=batch_size)
    run_jit(model, loader, device, options, valid_range=data.valid_range)
    return model

"""JiT: zero-shot unlearning by smoothing the model's output around each forget sample.

For every forget image x_i and N Gaussian perturbations x̃_{i,n} = x_i + σ·ε (ε ~ N(0, I)),
JiT minimises the local Lipschitz ratio of the logits f,

    L(θ) = (1/N) Σ_n Σ_i ‖f_θ(x_i) − sg[f_θ(x̃_{i,n})]‖₂ / ‖x_i − x̃_{i,n}‖₂,

with one plain SGD step (learning rate η) per forget batch and a single pass over the forget
set. The noisy branch is a stop-gradient (sg): the clean output is pulled toward its fixed noisy
neighbours. The denominator is the realised perturbation after clamping, not ‖σε‖.

Two forms (deviations D1, D2 and D3, docs/deviations.md):

* Default (`JitOptions(...)`): the paper's Algorithm 1. Gradients are cleared every step, the
  model runs in eval mode, perturbed inputs are clamped to the data's valid normalised range
  per channel, and the loss is the published one (sum over the batch, mean over N).
* Published (`JitOptions.reference(...)`): what the released code does and what its σ/η were
  tuned with: `.grad` never cleared (step k applies η·Σ_{j≤k} ∇L_j), clamp to the batch's
  global min and max, model left in train mode (dropout active in both branches), sum over
  the batch. Each quirk is also a separate option.

Why the default differs: the accumulation is destructive once the forget set spans many
batches. On a small CNN trained on Fashion-MNIST (one class = 6,000 images = 47 batches), the
published form took retained test accuracy from 90 % to 11 % for every σ in {0.5, 1} and
η in {3e-4 … 1e-2}; the same loss with gradients cleared per step did not collapse.

Speed and memory: the perturbed copies go through the model without grad in chunks of whole
repetitions (one repetition of the batch per forward on a CPU, several on a GPU), each chunk
drawn just before its forward, so only one chunk of copies exists at a time; the clean batch is
forwarded once with grad.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from unlearn.devices import use_channels_last_on_cpu
from unlearn.errors import DivergedError, UsageError

CLAMPS = ("data_range", "batch", "none")
REDUCTIONS = ("sum", "mean")
# Images per no-grad forward of the perturbed copies on a GPU at 32 px (scaled by pixel
# count, never below one repetition of the batch). On a CPU one repetition of the batch per
# forward is fastest (measured in bench/bench_jit.py: larger chunks lose to cache misses) and
# holds the fewest copies.
_AUTO_CHUNK_IMAGES_32PX_GPU = 4096


@dataclass
class JitOptions:
    """Hyperparameters of one JiT run. Defaults give the paper's form (Algorithm 1)."""

    sigma: float  # σ: std of the Gaussian input noise, in normalised input units
    eta: float  # η: SGD learning rate (no momentum, no weight decay)
    n_samples: int = 25  # N: perturbations per forget image
    accumulate_grads: bool = False  # published: .grad never cleared across batches (D1)
    # data_range: per-channel valid range | batch: batch min/max (published, D3) | none
    clamp: str = "data_range"
    train_mode: bool = False  # published: model left in train mode, dropout on (D2)
    reduction: str = "sum"  # over the batch: sum (published) | mean
    # images per no-grad forward of the noisy copies, rounded down to whole repetitions of the
    # batch (at least one); 0 = auto
    chunk_size: int = 0
    seed: int = 0  # noise generator seed, D5 (dropout in train mode draws from the global RNG)
    # Run the no-grad forwards of the perturbed copies under bfloat16 autocast (the clean,
    # with-grad forward stays in full precision). Off by default: it changes the loss and the
    # update, most at small σ (measured in bench/bench_bf16.py, see bench/README.md).
    autocast_bf16: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise UsageError with one readable sentence for an invalid setting."""
        if not (math.isfinite(self.sigma) and self.sigma > 0):
            raise UsageError(f"JiT: sigma must be a positive number, got {self.sigma}.")
        if not (math.isfinite(self.eta) and self.eta > 0):
            raise UsageError(f"JiT: eta (learning rate) must be positive, got {self.eta}.")
        if int(self.n_samples) != self.n_samples or self.n_samples < 1:
            raise UsageError(f"JiT: n_samples must be a whole number >= 1, got {self.n_samples}.")
        if self.clamp not in CLAMPS:
            raise UsageError(
                f"JiT: unknown clamp {self.clamp!r}; choose one of {', '.join(CLAMPS)}."
            )
        if self.reduction not in REDUCTIONS:
            raise UsageError(
                f"JiT: unknown reduction {self.reduction!r}; choose one of {', '.join(REDUCTIONS)}."
            )
        if int(self.chunk_size) != self.chunk_size or self.chunk_size < 0:
            raise UsageError(
                f"JiT: chunk_size must be 0 (auto) or a whole number >= 1, got {self.chunk_size}."
            )

    @classmethod
    def reference(
        cls, sigma: float, eta: float, n_samples: int = 25, **overrides
    ) -> "JitOptions":
        """The published form: accumulated gradients, batch clamp, train mode, sum over batch."""
        published = dict(accumulate_grads=True, clamp="batch", train_mode=True, reduction="sum")
        published.update(overrides)
        return cls(sigma=sigma, eta=eta, n_samples=n_samples, **published)


def _logits(output) -> torch.Tensor:
    """Raw logits from a model output; models may return a tuple with the logits first."""
    return output[0] if isinstance(output, (tuple, list)) else output


def _inputs(batch) -> torch.Tensor:
    """The images of a loader batch: (x, y), (x, fine, y) or a bare tensor. Labels are unused."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def perturb(
    x: torch.Tensor,
    n_samples: int,
    sigma: float,
    generator: torch.Generator,
    clamp: str = "data_range",
    lo: torch.Tensor | None = None,
    hi: torch.Tensor | None = None,
) -> torch.Tensor:
    """N noisy copies x̃ = clamp(x + σε) of a batch x [B, C, H, W] -> [N, B, C, H, W].

    ε is drawn one repetition at a time (N draws of x's shape) from `generator`, on x's device
    and in x's dtype, so drawing N copies in several calls gives the same values as one call.
    clamp: "data_range" bounds channel c to [lo[c], hi[c]] (lo, hi: [C]); "batch" bounds to
    x.min(), x.max() over the whole batch (published); "none" leaves x̃ unbounded (paper).
    """
    if clamp not in CLAMPS:
        raise UsageError(f"JiT: unknown clamp {clamp!r}; choose one of {', '.join(CLAMPS)}.")
    noisy = torch.empty((n_samples, *x.shape), device=x.device, dtype=x.dtype)
    for repetition in noisy:
        torch.randn(x.shape, generator=generator, out=repetition)
    noisy.mul_(sigma).add_(x)  # in place: the copies are the largest tensor of a JiT step
    if clamp == "batch":
        noisy.clamp_(x.min(), x.max())
    elif clamp == "data_range":
        if lo is None or hi is None:
            raise UsageError("JiT: clamp 'data_range' needs the dataset's valid range (lo, hi).")
        shape = (-1,) + (1,) * (x.dim() - 2)  # channel c -> broadcast over the pixels
        noisy.clamp_(lo.to(x).view(shape), hi.to(x).view(shape))
    return noisy


def repetitions_per_forward(
    model: nn.Module, x: torch.Tensor, n_samples: int, chunk_size: int = 0
) -> int:
    """How many repetitions of the batch x [B, ...] one no-grad forward of the copies takes.

    chunk_size > 0 is in images, rounded down to whole repetitions (at least one). Auto (0):
    one repetition on a CPU; on a GPU about 4096 images at 32 px, fewer for larger inputs.
    With BatchNorm in train mode always one, so the batch statistics are those of the
    published per-repetition forwards.
    """
    b = x.shape[0]
    if model.training and _has_batchnorm(model):
        return 1
    if chunk_size > 0:
        images = chunk_size
    elif x.device.type == "cuda":
        pixels = math.prod(x.shape[2:]) if x.dim() > 2 else 1024
        images = _AUTO_CHUNK_IMAGES_32PX_GPU * 1024 // pixels
    else:
        images = b
    return min(n_samples, max(1, images // b))


def lipschitz_penalty(
    model: nn.Module,
    x: torch.Tensor,
    x_noisy: torch.Tensor | Iterable[torch.Tensor],
    out_clean: torch.Tensor | None = None,
    reduction: str = "sum",
    chunk_size: int = 0,
    autocast_bf16: bool = False,
) -> torch.Tensor:
    """JiT loss of one batch: (1/N) Σ_n Σ_i ‖f(x_i) − sg[f(x̃_{i,n})]‖₂ / ‖x_i − x̃_{i,n}‖₂.

    x: clean batch [B, ...]. x_noisy: its copies, either one tensor [N, B, ...] (split into
    chunks of `repetitions_per_forward(chunk_size)` repetitions) or an iterable of chunks
    [r, B, ...] that is consumed one chunk per no-grad forward, so a caller can draw each chunk
    only when it is needed. out_clean: f(x) [B, C] if already computed (with grad), else
    forwarded here. reduction "mean" divides the batch sum by B. autocast_bf16: run the no-grad
    forwards under bfloat16 autocast (their logits are cast back to the clean output's dtype).
    Raises UsageError on a zero input distance.
    """
    if reduction not in REDUCTIONS:
        raise UsageError(
            f"JiT: unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}."
        )
    b = x.shape[0]
    if out_clean is None:
        out_clean = _logits(model(x))
    if isinstance(x_noisy, torch.Tensor):
        x_noisy = x_noisy.split(repetitions_per_forward(model, x, len(x_noisy), chunk_size))
    flat_clean = x.detach().reshape(1, b, -1)
    out_noisy, in_norm = [], []  # per chunk: [r, B, C] logits and [r, B] input distances
    with torch.no_grad():
        for part in x_noisy:
            r = part.shape[0]
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast_bf16):
                logits = _logits(model(part.reshape(r * b, *x.shape[1:])))
            out_noisy.append(logits.to(out_clean.dtype).reshape(r, b, -1))
            in_norm.append((flat_clean - part.reshape(r, b, -1)).norm(dim=2))
            del part  # a drawn chunk is freed before the next one is drawn
    out_noisy = torch.cat(out_noisy)  # [N, B, C], no grad
    in_norm = torch.cat(in_norm)  # ‖x_i − x̃_{i,n}‖₂, [N, B]
    if bool((in_norm == 0).any()):
        raise UsageError(
            "JiT: a perturbed input equals its clean input (zero distance); "
            "increase sigma or check the clamp."
        )
    out_norm = (out_clean.unsqueeze(0) - out_noisy).norm(dim=2)  # ‖f(x_i) − f(x̃_{i,n})‖₂, [N, B]
    per_repetition = (out_norm / in_norm).sum(dim=1)  # Σ_i over the batch, [N]
    if reduction == "mean":
        per_repetition = per_repetition / b
    return per_repetition.mean()  # (1/N) Σ_n


def _grads_finite(params: list[nn.Parameter]) -> bool:
    grads = [p.grad for p in params if p.grad is not None]
    return not grads or bool(torch.stack([g.isfinite().all() for g in grads]).all())


def lipschitz_forgetting(
    model: nn.Module,
    forget_loader: Iterable,
    device: torch.device | str,
    options: JitOptions,
    valid_range: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, float]:
    """Run JiT in place: one pass over `forget_loader`, one SGD(lr=η) step per batch.

    forget_loader yields (x, y) batches (labels unused), x normalised [B, 3, H, W].
    valid_range: per-channel (lo, hi) [3] of normalised pixels, needed by clamp "data_range".
    The model is left in the mode JiT ran in (eval by default); evaluation follows.
    Returns {"n_steps", "n_images", "loss_mean", "loss_first", "loss_last"} (loss per batch).
    Raises DivergedError, before any step corrupts the weights, when a loss or gradient is not
    finite (deviation D4, docs/deviations.md).
    """
    options.validate()
    if options.clamp == "data_range" and valid_range is None:
        raise UsageError(
            "JiT: clamp 'data_range' needs the dataset's valid pixel range; pass valid_range."
        )
    device = torch.device(device)
    lo, hi = (t.to(device) for t in valid_range) if valid_range is not None else (None, None)
    model.train(options.train_mode)
    use_channels_last_on_cpu(model, device)  # faster convolutions on a CPU; same values
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=options.eta, momentum=0.0, weight_decay=0.0)
    optimizer.zero_grad(set_to_none=True)
    generator = torch.Generator(device=device).manual_seed(options.seed)
    losses, n_images = [], 0
    for k, batch in enumerate(tqdm(forget_loader, desc="JiT", unit="batch", disable=None)):
        x = _inputs(batch).to(device, non_blocking=True)
        if not options.accumulate_grads:
            optimizer.zero_grad(set_to_none=True)
        per_forward = repetitions_per_forward(model, x, options.n_samples, options.chunk_size)
        chunks = (
            perturb(x, min(per_forward, options.n_samples - first), options.sigma, generator,
                    options.clamp, lo, hi)
            for first in range(0, options.n_samples, per_forward)
        )  # drawn lazily: one chunk of copies in memory at a time
        loss = lipschitz_penalty(
            model, x, chunks, reduction=options.reduction, autocast_bf16=options.autocast_bf16
        )
        value = loss.item()
        if not math.isfinite(value):  # a result (a failed row), not bad input
            raise DivergedError(
                f"JiT: the loss became non-finite at batch {k} ({value}); "
                "lower eta or check the model and inputs."
            )
        loss.backward()
        if not _grads_finite(params):
            raise DivergedError(
                f"JiT: the gradient became non-finite at batch {k}; lower eta or check the model."
            )
        optimizer.step()
        del loss  # free the graph before the next batch
        losses.append(value)
        n_images += len(x)
    if not losses:
        raise UsageError("JiT: the forget loader yielded no batches; the forget set is empty.")
    return {
        "n_steps": len(losses),
        "n_images": n_images,
        "loss_mean": sum(losses) / len(losses),
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }

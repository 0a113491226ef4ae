"""JiT with η chosen zero-shot: from the forget set alone.

The faithful `lipschitz_forgetting` takes σ and η from the main files' tables, and η's useful
window is narrow and differs between models trained by the same recipe. This method picks η per
model without a retrained model, retain data or test data (it declares the forget set only, so
the data gate refuses anything else):

1. Hold out a seeded slice of the forget set (`holdout`, 20 %). JiT runs on the rest (the fit
   part). Held-out forget samples are never smoothed, like the forgotten class's test samples,
   so their accuracy shows whether forgetting reaches samples JiT did not see.
2. Climb a geometric ladder of η (`eta_min`, times `eta_factor` per rung, up to `eta_max`),
   restarting from the original weights at every rung, until the measured forget accuracy
   reaches the target. Then bisect geometrically between the last rung that missed and the first
   that reached it (`refine_steps` times). The smallest η that reaches the target is taken
   because this rule cannot see retained accuracy, and JiT's damage to it grows with η: the
   least change that forgets is the least change to everything else.
3. Run JiT with that η on the whole forget set, from the original weights.

Target and measure, per task:
- full class: held-out forget accuracy below chance, 100 / num_classes %. A model that never
  learnt the class (the retrained one) has no reason to put its samples into their label more
  often than chance; an original model is far above it.
- random and sub-class: the label of a forgotten sample stays a class the model keeps (a random
  sample's class; a fine class's superclass, carried by its sibling fine classes), so a model
  that never saw the samples still labels most of them right. Measured on the memorising
  FashionMNIST4 CNN: the model retrained without Pullover labels 98 % of unseen Pullovers
  "tops". Below chance would destroy the model there (tuned σ: retained accuracy 32 %). The
  forgotten samples should instead look like samples the model never trained on. Without
  test data, "never trained on" is stood in for by inputs the model has not seen: noisy copies
  x + σε (clamped to the valid pixel range) of the held-out forget samples. Their accuracy under
  the original model is the target, and the measure is the accuracy on the fit part, the samples
  JiT smoothed.

The fit part has (1 − holdout) of the forget batches, so the final run on the whole set takes
1 / (1 − holdout) as many steps at the chosen η: it forgets a little more than the rung did.
The choice (η, the rungs tried, target, whether it was reached) goes to `data.extras["chosen"]`
and from there into the result row.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from unlearn.errors import UsageError
from unlearn.eval import metrics
from unlearn.methods.base import MethodData
from unlearn.methods.forget_only import holdout_split
from unlearn.methods.lipschitz import JitOptions
from unlearn.methods.lipschitz import lipschitz_forgetting as run_jit
from unlearn.methods.registration import ALL_TASKS, FORGET, RUN_BATCH_SIZE, register_method

# The tasks whose forgotten samples keep a label the model still predicts (task names; the
# method registry imports this module, so not from there).
LABEL_KEPT = ("random", "sub_class")

log = logging.getLogger(__name__)


def eta_ladder(eta_min: float, eta_max: float, factor: float) -> list[float]:
    """eta_min, eta_min·factor, ... while not above eta_max (eta_max itself closes it)."""
    ladder = [eta_min]
    while ladder[-1] * factor < eta_max * (1 + 1e-9):
        ladder.append(ladder[-1] * factor)
    if ladder[-1] < eta_max * (1 - 1e-9):
        ladder.append(eta_max)
    return ladder


def noisy_accuracy(model: nn.Module, loader, device, sigma: float, seed: int,
                   valid_range: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Accuracy on x + σε (one noisy copy per sample, clamped to the valid pixel range)."""
    lo, hi = (t.view(1, -1, 1, 1) for t in valid_range)
    generator = torch.Generator().manual_seed(seed)
    noisy = [((x + sigma * torch.randn(x.shape, generator=generator)).clamp(lo, hi), y)
             for x, y in loader]
    logits, labels = metrics.predict(model, noisy, device)
    return metrics.accuracy(logits, labels)


# σ and N come from the JIT table of each task's main file; η is chosen here.
@register_method(
    "jit_zero_shot", data={FORGET}, tasks=ALL_TASKS, order=910,
    description="JiT with η chosen from the forget set alone (held-out slice)",
    defaults={"*": {"batch_size": RUN_BATCH_SIZE}},
    space={"sigma": ("log_float", 0.01, 2.0)},
)
def jit_zero_shot(
    model: nn.Module, data: MethodData, device: torch.device, *,
    sigma: float, n_samples: int = 25, batch_size: int | None = None,
    holdout: float = 0.2, eta_min: float = 1e-6, eta_max: float = 10.0,
    eta_factor: float = 4.0, refine_steps: int = 3, autocast_bf16: bool = False,
) -> nn.Module:
    """Zero-shot JiT: η chosen from the forget set alone (module docstring), then JiT with it."""
    JitOptions(sigma=sigma, eta=eta_min, n_samples=n_samples).validate()
    check_rule(holdout, eta_min, eta_max, eta_factor, refine_steps)
    fit, held = holdout_split(len(data.forget_labels()), holdout, data.seed, "jit_zero_shot")
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def jit(eta: float, subset) -> None:
        model.load_state_dict(original)
        options = JitOptions(sigma=sigma, eta=eta, n_samples=n_samples, seed=data.seed,
                             autocast_bf16=autocast_bf16)
        run_jit(model, data.forget(subset=subset, shuffle=False, batch_size=batch_size),
                device, options, valid_range=data.valid_range)

    def accuracy_on(subset) -> float:
        logits, labels = metrics.predict(model, data.forget(subset=subset), device)
        return metrics.accuracy(logits, labels)

    if data.task in LABEL_KEPT:
        target = noisy_accuracy(model, data.forget(subset=held), device, sigma, data.seed,
                                data.valid_range)
        measured_on = fit
    else:
        target = 100.0 / data.num_classes
        measured_on = held

    tried: list[tuple[float, float]] = []  # (η, measured forget accuracy)

    def reaches(eta: float) -> bool:
        jit(eta, fit)
        tried.append((eta, accuracy_on(measured_on)))
        log.info("zero-shot JiT: η %.3g -> forget accuracy %.2f %% (target %.2f %%)", eta,
                 tried[-1][1], target)
        return tried[-1][1] <= target

    below, above = None, None
    for eta in eta_ladder(eta_min, eta_max, eta_factor):
        if reaches(eta):
            above = eta
            break
        below = eta
    if above is not None and below is not None:
        for _ in range(refine_steps):
            middle = math.sqrt(below * above)
            below, above = (below, middle) if reaches(middle) else (middle, above)
    chosen = above if above is not None else eta_max
    data.extras["chosen"] = {
        "eta": chosen, "sigma": sigma, "target": target, "reached": above is not None,
        "measure": "fit part" if data.task in LABEL_KEPT else "held-out forget slice",
        "tried": [[eta, acc] for eta, acc in tried],
    }
    log.info("zero-shot JiT chose η %.3g (%s)", chosen,
             "target reached" if above is not None else "target NOT reached: η max used")
    jit(chosen, None)
    return model


def check_rule(holdout: float, eta_min: float, eta_max: float, eta_factor: float,
               refine_steps: int) -> None:
    """One readable sentence for a rule setting that cannot work."""
    if not 0 < holdout < 1:
        raise UsageError(f"jit_zero_shot: holdout must lie in (0, 1), got {holdout}")
    if not 0 < eta_min < eta_max:
        raise UsageError(f"jit_zero_shot: need 0 < eta_min < eta_max, got {eta_min}, {eta_max}")
    if not eta_factor > 1:
        raise UsageError(f"jit_zero_shot: eta_factor must exceed 1, got {eta_factor}")
    if int(refine_steps) != refine_steps or refine_steps < 0:
        raise UsageError(f"jit_zero_shot: refine_steps must be a whole number >= 0, "
                         f"got {refine_steps}")

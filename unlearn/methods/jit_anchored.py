"""Anchored JiT: Lipschitz smoothing that keeps the original's view of the other classes.

Plain JiT's outcome swings between builds of one recipe: an η that forgets on one model does
nothing on the next and destroys a third, and past its cliff retained classes collapse onto
the forgotten one (docs/deviations.md, D26). This method is JiT with two changes, both reading
the forget set only:

* The loss adds an anchor on each forget image x with label y:
      λ · KL( p₀(· | x, ¬y) ‖ p(· | x, ¬y) ),
  the original model's distribution over the classes other than y (renormalised without y)
  against the model's. JiT is free to remove the label's mass, but not to scramble where the
  sample would go instead, and that ranking is what collapses first. Summed over the batch,
  like JiT's penalty, so λ is a ratio of the two terms.
* η is not guessed: the shared forget-only rule (unlearn/methods/forget_only.py) ramps it from
  `eta_start` up to `eta_max` while watching a held-out slice of the forget set, stops at the
  first check where the slice is forgotten, guards against collapse, and replays exactly the
  measured steps on the whole forget set.

σ and N come from the JiT table of each task's main file, as for lipschitz_forgetting.
"""

from __future__ import annotations

import math

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
from unlearn.methods.lipschitz import (
    JitOptions,
    lipschitz_penalty,
    perturb,
    repetitions_per_forward,
)
from unlearn.methods.registration import ALL_TASKS, FORGET, RUN_BATCH_SIZE, register_method


def other_class_log_probs(logits: torch.Tensor, labels: torch.Tensor,
                          temperature: float = 1.0) -> torch.Tensor:
    """log p(c | x, ¬y): log-softmax over the classes other than the label (the label's entry
    is −inf, i.e. probability 0)."""
    masked = (logits / temperature).clone()
    masked[torch.arange(len(labels)), labels] = -math.inf
    return masked.log_softmax(dim=1)


def kl_to(target_log: torch.Tensor, model_log: torch.Tensor) -> torch.Tensor:
    """Σ_i KL(target_i ‖ model_i) over a batch; entries where the target is 0 add nothing."""
    target = target_log.exp()
    terms = torch.where(target > 0, target * (target_log - model_log), torch.zeros_like(target))
    return terms.sum()


class AnchoredJit(Learner):
    """One anchored JiT step: the Lipschitz penalty plus λ times the other-class anchor."""

    def __init__(self, model: nn.Module, *, sigma: float, n_samples: int, anchor: float,
                 valid_range: tuple[torch.Tensor, torch.Tensor], seed: int,
                 device: torch.device) -> None:
        super().__init__(model)  # plain SGD, as JiT
        self.sigma, self.n_samples, self.anchor = sigma, n_samples, anchor
        self.lo, self.hi = (t.to(device) for t in valid_range)
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def loss(self, x: torch.Tensor, y: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
        output = self.model(x)
        logits = output[0] if isinstance(output, tuple | list) else output
        per_forward = repetitions_per_forward(self.model, x, self.n_samples)
        chunks = (perturb(x, min(per_forward, self.n_samples - first), self.sigma,
                          self.generator, "data_range", self.lo, self.hi)
                  for first in range(0, self.n_samples, per_forward))
        smoothing = lipschitz_penalty(self.model, x, chunks, out_clean=logits)
        if not self.anchor:
            return smoothing
        anchor = kl_to(other_class_log_probs(original, y), other_class_log_probs(logits, y))
        return smoothing + self.anchor * anchor


# η ramps from 1.5e-4 (×1.05 per check, 10 checks a pass) for at most 5 passes over the fit
# part (about 4 JiT passes of the whole forget set; the cost bound is 5), up to 3e-3. With the
# anchor at λ = 1, the demo-recipe models forget at λη ≈ 1.5e-4 … 3e-4, where the anchored form
# held on every one tried; λη ≈ 1.2e-3 (λ 3 at η 4e-4) destroyed one. So the ramp passes that
# range slowly, and the rule stops at the first check where the slice is forgotten. A class
# the model memorised (the memorising regime) needs more: at a cap of 3e-4 the held-out slice
# was still 50 % after 300 steps; ramping on to 3e-3 forgot it in 185 steps at 1 point of
# retained accuracy. Beyond the demo range, the collapse guard, not the cap, is the limit.
# The budget is at least `min_steps` = 400 steps: a memorised class of 200 images is two
# steps a pass, and with the ramp's pace of one growth per 4 steps (forget_only.SelectionRule
# .ramp_every) memorised Coat needed 205 steps and Shirt more than 250. On the demo's classes
# (38 steps a pass) that floor, not the 5 passes, is the budget too: 400 steps, about 8.5 JiT
# passes of the whole forget set; every one of the robustness study's 28 demo-recipe cells
# stopped at its target long before (at most 148 steps, about 3.1 JiT passes).
# The first robustness study (start 1e-4, cap 3e-4, 3 passes) spent its budget on 5 of 28
# demo cells with the slice still 15-42 % and falling, and lost at most 0.64 points of retained
# accuracy anywhere.

def check(values: dict) -> SelectionRule:
    """The settings' checks (UsageError: exit 2, before any data), and the rule they give."""
    anchor = values["anchor"]
    if not (isinstance(anchor, int | float) and math.isfinite(anchor) and anchor >= 0):
        raise UsageError(f"jit_anchored: the anchor weight must be >= 0, got {anchor}")
    JitOptions(sigma=values["sigma"], eta=values["eta_start"],
               n_samples=values["n_samples"]).validate()
    return rule_from("jit_anchored", values, rate="eta")


@checks_settings(check)
@register_method(
    "jit_anchored", data={FORGET}, tasks=ALL_TASKS, order=920,
    description="JiT anchored to the original's other-class view; η scanned on a held-out slice",
    defaults={"*": {"batch_size": RUN_BATCH_SIZE}},
    space={"sigma": ("log_float", 0.01, 2.0), "anchor": ("log_float", 0.1, 30.0)},
)
def jit_anchored(
    model: nn.Module, data: MethodData, device: torch.device, *,
    sigma: float, n_samples: int = 25, anchor: float = 1.0, batch_size: int | None = None,
    eta_start: float = 1.5e-4, eta_max: float = 3e-3, eta_growth: float = 1.05,
    holdout: float = 0.2, max_passes: float = 5.0, min_steps: int = 400, guard: float = 0.5,
) -> nn.Module:
    """Zero-shot: anchored JiT with η chosen from the forget set alone (module docstring)."""
    rule = check(dict(anchor=anchor, sigma=sigma, n_samples=n_samples, eta_start=eta_start,
                      eta_max=eta_max, eta_growth=eta_growth, holdout=holdout,
                      max_passes=max_passes, min_steps=min_steps, guard=guard))

    def learner(m: nn.Module) -> Learner:
        return AnchoredJit(m, sigma=sigma, n_samples=n_samples, anchor=anchor,
                           valid_range=data.valid_range, seed=data.seed, device=device)

    return select_and_unlearn(model, data, device, learner, rule, batch_size=batch_size,
                              noise_sigma=sigma)

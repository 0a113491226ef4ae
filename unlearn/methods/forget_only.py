"""The one selection rule of every forget-only method: how strongly to unlearn, zero-shot.

A method that reads the forget set alone cannot see what it costs (no retained data, no
retrained model, no test data). Two things it can see: whether its forgetting reaches forget
samples it never stepped on, and whether the model still ranks the *other* classes of those
samples as the original did. The rule uses both, for every forget-only method alike (the
method supplies one optimisation step; the rule decides how many steps, at what rate):

1. Hold out a seeded slice of the forget set (`holdout`, 20 %); the method steps on the rest
   (the fit part), in seeded shuffled passes.
2. The learning rate starts at `lr` and is multiplied by `lr_growth` at every check
   (`checks_per_pass` checks per pass over the fit part, but at most once per `ramp_every`
   steps) up to `lr_max`, so one run scans the strength from weak to strong instead of
   guessing it (an η that suits one model of a recipe destroys the next one). Stepping stops
   at the first check where the measure reaches the target (`target_for`: half of chance for
   a full class), where the collapse guard trips, where the loss turns non-finite, or when
   `max_passes` passes over the fit part are spent, but never fewer than `min_steps` steps: a
   small forget set (a memorised class of 200 images is two batches) has too few steps per
   pass for the ramp to reach any strength, and its steps are cheap.
3. Full class (the measure is the held-out slice): the returned model is the measured one,
   the model after exactly the steps the rule counted. Its forgetting was measured on forget
   samples it never stepped on, which is what a forget set's unseen images and the class's
   test images will see; stepping again on the whole set would add unmeasured steps (plain
   JiT's chosen η sat on a cliff, and 1.25× its steps went over it).
   Random and sub-class (the measure is the fit part): the held-out slice's own forgetting was
   not measured, so the rule replays exactly the same number of steps at exactly the same
   learning rates from the original weights on the whole forget set, and checks the replay
   with the same guard on the whole forget set; if it trips, the measured model is returned.
4. A guard trip, a divergence, a missed target or a label-kept target the original already
   meets (the noisy copies cannot tell its samples from unseen ones) is never silent:
   `chosen` says what happened and which model came back, and the report flags it. The
   returned model is always the last one that passed every check (the original when none
   did).

The collapse guard reads three forget-only signals on the held-out slice at every check:
- other-class agreement: the fraction of samples whose most likely class *among the classes
  other than their label* is the same under the model as under the original. Forgetting a
  sample should move it to where the original placed it second, not scramble the rest of the
  model; when retained classes are pulled onto another, that ranking goes too. It trips below
  `guard` (default 0.5).
- spread: the std of the logits over samples, relative to the original's. A model that maps
  every input to one output (a collapse onto one class, which can score 100 % on the forget
  set) has spread near 0; logits that blow up have a large one. It trips outside
  [1 / `spread_limit`, `spread_limit`] (default 4).
- rebound: the strength only grows, so forget accuracy that climbs back more than `rebound`
  points (default 10) above its lowest value so far is a model collapsing onto the label.
The last model that passed every check is the safe one.

`chosen` records: steps, the learning rate of the last step, the target and measure, whether
it was reached, the outcome, which model was returned, a flag when something went wrong, and
the trajectory of checks (step, lr, measure, agreement, spread).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import torch
from torch import nn

from unlearn.errors import UsageError
from unlearn.eval import metrics
from unlearn.methods.base import MethodData

log = logging.getLogger(__name__)

# The tasks whose forgotten samples keep a label the model still predicts (a random sample's
# class; a fine class's superclass).
LABEL_KEPT = ("random", "sub_class")
HELD_OUT, FIT_PART = "held-out forget slice", "fit part"


@dataclass(frozen=True)
class SelectionRule:
    """How the rule scans a forget-only method's strength (module docstring)."""

    lr: float  # learning rate of the first step
    lr_max: float  # the ramp stops growing here
    lr_growth: float = 1.1  # factor per check
    holdout: float = 0.2  # fraction of the forget set held out from stepping
    max_passes: float = 3.0  # step budget, in passes over the fit part
    min_steps: int = 60  # ... but at least this many steps (small forget sets)
    # The rate grows at most once per `ramp_every` steps. A forget set of a few hundred
    # images has one or two steps a pass, so it is checked at every step; a ramp per check
    # would then grow four times faster per step than on a class of 6,000 images (a check
    # every 4 steps), and a memorised class's slice swung between 43 % and 62 % at the rate
    # that reached after 44 steps until the guard tripped.
    ramp_every: int = 4
    checks_per_pass: int = 10  # checks of measure and guard per pass over the fit part
    guard: float = 0.5  # least other-class agreement a returned model keeps
    # points by which the measure may rise above its lowest value so far: the strength only
    # grows, so forget accuracy climbing back means the model is collapsing onto the label
    rebound: float = 10.0
    # how far the spread of the held-out logits over samples may move from the original's
    # (a factor, either way): a model that maps every input to one output, or whose logits
    # blow up, is no classifier whatever its accuracy on the forget set
    spread_limit: float = 4.0

    def check(self, method: str) -> None:
        """One readable sentence for a setting that cannot work (UsageError: exit 2)."""
        def bad(text: str) -> UsageError:
            return UsageError(f"{method}: {text}")
        for name in ("lr", "lr_max", "lr_growth", "holdout", "max_passes", "guard", "rebound",
                     "spread_limit"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise bad(f"{name} must be a finite number, got {value!r}")
        if not self.lr > 0:
            raise bad(f"the learning rate lr must be positive, got {self.lr}")
        if not self.lr_max >= self.lr:
            raise bad(f"lr_max ({self.lr_max}) must be at least lr ({self.lr})")
        if not self.lr_growth >= 1:
            raise bad(f"lr_growth must be at least 1 (1 = a constant rate), got {self.lr_growth}")
        if not 0 < self.holdout < 1:
            raise bad(f"holdout must lie in (0, 1), got {self.holdout}")
        if not self.max_passes > 0:
            raise bad(f"max_passes must be positive (a step budget of 0 does nothing), "
                      f"got {self.max_passes}")
        if int(self.min_steps) != self.min_steps or self.min_steps < 1:
            raise bad(f"min_steps must be a whole number >= 1, got {self.min_steps}")
        if int(self.ramp_every) != self.ramp_every or self.ramp_every < 1:
            raise bad(f"ramp_every must be a whole number >= 1, got {self.ramp_every}")
        if int(self.checks_per_pass) != self.checks_per_pass or self.checks_per_pass < 1:
            raise bad(f"checks_per_pass must be a whole number >= 1, got {self.checks_per_pass}")
        if not 0 <= self.guard < 1:
            raise bad(f"guard must lie in [0, 1), got {self.guard}")
        if not self.rebound > 0:
            raise bad(f"rebound must be positive, got {self.rebound}")
        if not self.spread_limit > 1:
            raise bad(f"spread_limit must exceed 1, got {self.spread_limit}")

    def lr_at(self, step: int, steps_per_check: int) -> float:
        """The learning rate of step `step` (0-based): the same in the scan and the replay.
        It grows by `lr_growth` per check, but at most once per `ramp_every` steps."""
        grown = step // max(steps_per_check, self.ramp_every)
        if grown * math.log(self.lr_growth) >= math.log(self.lr_max / self.lr):
            return self.lr_max  # (and no float overflow on a long budget)
        return min(self.lr_max, self.lr * self.lr_growth ** grown)


def rule_from(method: str, values: dict, rate: str = "lr") -> SelectionRule:
    """The checked rule a forget-only method's hyperparameters describe (and its SGD momentum,
    where it has one). `rate` names its learning rate: "lr" (lr, lr_max, lr_growth) or "eta"
    (JiT's eta_start, eta_max, eta_growth)."""
    momentum = values.get("momentum", 0.0)
    if not (isinstance(momentum, int | float) and 0 <= momentum < 1):
        raise UsageError(f"{method}: momentum must lie in [0, 1), got {momentum}")
    start = values["eta_start"] if rate == "eta" else values["lr"]
    floor = {"min_steps": values["min_steps"]} if "min_steps" in values else {}
    rule = SelectionRule(lr=start, lr_max=values[f"{rate}_max"],
                         lr_growth=values[f"{rate}_growth"], holdout=values["holdout"],
                         max_passes=values["max_passes"], guard=values["guard"], **floor)
    rule.check(method)
    return rule


def checks_settings(check: Callable[[dict], object]) -> Callable:
    """Attach `check(values)` to a method function: the command line calls it with the run's
    resolved hyperparameters before any data is loaded, so a setting that cannot work is
    refused before any work (the method calls it again, for direct callers)."""
    def attach(fn: Callable) -> Callable:
        fn.check_settings = check
        return fn
    return attach


class Learner:
    """One forget-only method's optimisation step, as the rule drives it.

    `model` holds the weights the rule snapshots; `step` takes one step on a batch at a
    learning rate and returns its loss; `logits` gives the task's logits (no grad); `result`
    is the model handed back (e.g. a shadow output removed). Subclasses override `loss`
    (and, for another architecture during stepping, `logits` and `result`).
    """

    def __init__(self, model: nn.Module, momentum: float = 0.0) -> None:
        self.model = model
        self.model.eval()  # forget-only batches must not move normalisation statistics
        params = [p for p in model.parameters() if p.requires_grad]
        self.params = params
        self.optimizer = torch.optim.SGD(params, lr=1.0, momentum=momentum)

    def loss(self, x: torch.Tensor, y: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
        """The method's loss on a forget batch; `original`: the original model's logits."""
        raise NotImplementedError

    def step(self, x: torch.Tensor, y: torch.Tensor, original: torch.Tensor, lr: float) -> float:
        """One step; a non-finite loss or gradient is reported before anything changes."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(x, y, original)
        value = loss.item()
        if not math.isfinite(value):
            return value
        loss.backward()
        grads = [p.grad for p in self.params if p.grad is not None]
        if grads and not bool(torch.stack([g.isfinite().all() for g in grads]).all()):
            return math.nan
        self.optimizer.step()
        return value

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return forward_logits(self.model, x)

    def result(self) -> nn.Module:
        return self.model


def forward_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A model's logits without grad (models may return a tuple, logits first)."""
    with torch.no_grad():
        output = model(x)
    return output[0] if isinstance(output, tuple | list) else output


def holdout_split(count: int, fraction: float, seed: int,
                  method: str = "forget-only selection") -> tuple[torch.Tensor, torch.Tensor]:
    """(fit positions, held-out positions) within a forget set of `count`, both sorted; a
    seeded draw with at least one sample on each side."""
    if count < 2:
        raise UsageError(f"{method}: the forget set has {count} sample(s); holding a slice out "
                         "to choose the strength needs at least two")
    held = min(count - 1, max(1, round(count * fraction)))
    perm = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return perm[held:].sort().values, perm[:held].sort().values


def other_class_top(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The most likely class of each sample among the classes other than its label."""
    masked = logits.clone()
    masked[torch.arange(len(labels)), labels] = -math.inf
    return masked.argmax(dim=1)


def agreement(logits: torch.Tensor, original: torch.Tensor, labels: torch.Tensor) -> float:
    """The collapse guard: fraction of samples whose other-class favourite is unchanged."""
    same = other_class_top(logits, labels) == other_class_top(original, labels)
    return same.double().mean().item()


def spread(logits: torch.Tensor) -> float:
    """How much a model's logits vary over samples: the std over samples, averaged over
    classes (0 for a model that gives every input the same output)."""
    return logits.std(dim=0).mean().item() if len(logits) > 1 else 0.0


def noisy_copies(images: torch.Tensor, sigma: float, seed: int,
                 valid_range: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """One copy x + σε of each image, clamped to the valid pixel range per channel."""
    lo, hi = (t.view(1, -1, 1, 1) for t in valid_range)
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    return (images + sigma * noise).clamp(lo, hi)


@dataclass
class Target:
    """What the rule measures and the value that counts as forgotten."""

    value: float  # percent
    measure: str  # "held-out forget slice" | "fit part"


# The full-class target is this fraction of chance. The held-out slice is a sample of the
# class: stopping the moment it reaches chance (10 % of ten classes) left the class's test
# images above chance in 5 of 28 demo-recipe cells (10.4-11.2 %), the slice's own sampling
# noise (a binomial sd of about 2 points on 1,200 images). Half of chance keeps a margin of
# about two sds; a model that never saw the class scores about 0 on it anyway.
FULL_CLASS_MARGIN = 0.5


def target_for(task: str, num_classes: int, held_accuracy_noisy: Callable[[], float]) -> Target:
    """Full class: held-out forget accuracy at or below half of chance (FULL_CLASS_MARGIN ×
    100 / classes %); a model that never learnt the class has no reason to put its samples
    into their label as often as chance. Random and sub-class: the label stays a class the
    model keeps, so below chance would destroy the model; the forgotten samples should look
    like inputs the model never trained on. Stood in for by noisy copies of the held-out
    slice: their accuracy under the original is the target, measured on the fit part (the
    samples the method stepped on). On a memorising model the copies score 100 % like the
    samples, and the target cannot tell (the rule flags it)."""
    if task in LABEL_KEPT:
        return Target(held_accuracy_noisy(), FIT_PART)
    return Target(FULL_CLASS_MARGIN * 100.0 / num_classes, HELD_OUT)


@dataclass
class Check:
    step: int
    lr: float
    measure: float  # percent
    agreement: float  # other-class agreement on the held-out slice
    spread: float  # held-out logits' spread over samples, relative to the original's


def _images(data: MethodData, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The forget set's normalised images and task labels, decoded once (on the CPU)."""
    xs, ys = [], []
    for batch in data.forget(shuffle=False, batch_size=batch_size):
        xs.append(batch[0])
        ys.append(batch[-1])
    return torch.cat(xs), torch.cat(ys)


def _batches(positions: torch.Tensor, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Positions of each step's batch: seeded shuffled passes over `positions`, endlessly."""
    for epoch in range(10**9):
        order = positions[torch.randperm(
            len(positions), generator=torch.Generator().manual_seed(seed * 100_003 + epoch))]
        yield from order.split(batch_size)


def _logits_of(logits: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
               device: torch.device) -> torch.Tensor:
    """Logits of every image of x (CPU) in chunks, back on the CPU."""
    return torch.cat([logits(part.to(device)).float().cpu() for part in x.split(512)])


def tripped(current: Check, earlier: list[Check], rule: SelectionRule) -> bool:
    """Whether a check shows a collapsing model (module docstring): other-class agreement
    below the guard, spread moved by more than `spread_limit` either way, or the measure
    risen by more than `rebound` above its lowest earlier value."""
    lowest = min((c.measure for c in earlier), default=math.inf)
    return (current.agreement < rule.guard
            or not 1 / rule.spread_limit <= current.spread <= rule.spread_limit
            or current.measure > lowest + rule.rebound)


def select_and_unlearn(model: nn.Module, data: MethodData, device: torch.device,
                       make_learner: Callable[[nn.Module], Learner], rule: SelectionRule,
                       *, batch_size: int | None = None, noise_sigma: float = 0.5) -> nn.Module:
    """Run the rule (module docstring) for one forget-only method; returns the model to
    evaluate and writes what was chosen to `data.extras["chosen"]`.

    make_learner(model) wraps a model holding the original weights; it is called once for
    the scan and once for the replay. noise_sigma: σ of the noisy copies that set the target
    of the label-kept tasks.
    """
    rule.check(data.method)
    batch_size = batch_size or data.batch_size
    count = len(data.forget_labels())
    fit, held = holdout_split(count, rule.holdout, data.seed, data.method)
    original_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.to(device).eval()
    x_all, y_all = _images(data, batch_size)
    original_logits = lambda x: forward_logits(model, x)  # noqa: E731 - read before stepping
    reference = _logits_of(original_logits, x_all, device)  # the original's logits [n, C]
    noisy = noisy_copies(x_all[held], noise_sigma, data.seed, data.valid_range)
    target = target_for(data.task, data.num_classes, lambda: metrics.accuracy(
        _logits_of(original_logits, noisy, device), y_all[held]))
    measured = held if target.measure == HELD_OUT else fit
    reference_spread = spread(reference[held])

    steps_per_pass = math.ceil(len(fit) / batch_size)
    steps_per_check = max(1, round(steps_per_pass / rule.checks_per_pass))
    budget = max(rule.min_steps, math.ceil(rule.max_passes * steps_per_pass))

    watched = torch.cat([held, measured]).unique()  # positions a check forwards, sorted
    at = {int(p): i for i, p in enumerate(watched)}

    def check(learner: Learner, step: int) -> Check:
        logits = _logits_of(learner.logits, x_all[watched], device)
        on_held = logits[[at[int(p)] for p in held]]
        on_measured = logits[[at[int(p)] for p in measured]]
        return Check(step, rule.lr_at(max(step - 1, 0), steps_per_check),
                     metrics.accuracy(on_measured, y_all[measured]),
                     agreement(on_held, reference[held], y_all[held]),
                     spread(on_held) / max(reference_spread, 1e-12))

    def step_on(learner: Learner, batch: torch.Tensor, lr: float) -> float:
        return learner.step(x_all[batch].to(device), y_all[batch].to(device),
                            reference[batch].to(device), lr)

    def guard_check(learner: Learner) -> Check:
        """The guard's signals on the whole forget set (the returned model's record)."""
        logits = _logits_of(learner.logits, x_all, device)
        return Check(steps, math.nan, math.nan, agreement(logits, reference, y_all),
                     spread(logits) / max(spread(reference), 1e-12))

    learner = make_learner(model)
    trajectory = [check(learner, 0)]
    safe_state = {k: v.detach().clone() for k, v in learner.model.state_dict().items()}
    outcome, steps = "budget spent", 0
    if trajectory[0].measure <= target.value:
        outcome = "target met by the original"
    else:
        batches = _batches(fit, batch_size, data.seed)
        for step in range(budget):
            loss = step_on(learner, next(batches), rule.lr_at(step, steps_per_check))
            if not math.isfinite(loss):
                outcome = "diverged"
                break
            if (step + 1) % steps_per_check and step + 1 < budget:
                continue
            current = check(learner, step + 1)
            trajectory.append(current)
            log.info("%s: step %d, lr %.3g: forget accuracy %.2f %% (target %.2f %%), "
                     "other-class agreement %.2f, spread %.2f", data.method, current.step,
                     current.lr, current.measure, target.value, current.agreement,
                     current.spread)
            if tripped(current, trajectory[:-1], rule):
                outcome = "guard tripped"
                break
            steps = current.step
            safe_state = {k: v.detach().clone() for k, v in learner.model.state_dict().items()}
            if current.measure <= target.value:
                outcome = "target reached"
                break

    chosen = {
        "rule": asdict(rule), "steps": steps, "steps_per_pass": steps_per_pass,
        "lr_last": rule.lr_at(steps - 1, steps_per_check) if steps else 0.0,
        "target": target.value, "measure": target.measure,
        "reached": outcome in ("target reached", "target met by the original"),
        "outcome": outcome, "guard": rule.guard,
        "trajectory": [[c.step, c.lr, c.measure, c.agreement, c.spread] for c in trajectory],
    }
    if target.measure == HELD_OUT:
        learner.model.load_state_dict(safe_state)  # the last model that passed every check
        returned = learner
        chosen["returned"] = "measured model"
    else:
        returned = replay(model, original_state, make_learner, steps, step_on, rule,
                          steps_per_check, _batches(torch.arange(count), batch_size, data.seed))
        if returned is None or tripped(guard_check(returned), [], rule):
            learner.model.load_state_dict(safe_state)
            chosen["returned"] = (f"measured model (the replay "
                                  f"{'diverged' if returned is None else 'tripped the guard'})")
            chosen["flag"] = "diverged" if returned is None else "guard"
            returned = learner
        else:
            chosen["returned"] = "replay on the whole forget set"
    final = guard_check(returned)
    chosen["agreement_final"], chosen["spread_final"] = final.agreement, final.spread
    if outcome in ("guard tripped", "diverged"):
        chosen["flag"] = "guard" if outcome == "guard tripped" else "diverged"
    elif not chosen["reached"]:
        chosen.setdefault("flag", "target not reached")
    elif outcome == "target met by the original" and target.measure == FIT_PART:
        # Noisy copies of the forget samples score as high as the samples themselves (a
        # memorising model keeps 100 % on both): the signal cannot tell them from unseen
        # samples, so the original "meets" a target that says nothing. Never silent.
        chosen["flag"] = "target cannot tell"
    data.extras["chosen"] = chosen
    log.info("%s: %s after %d steps (%s); returned the %s", data.method, outcome, steps,
             f"lr {chosen['lr_last']:.3g}" if steps else "no step", chosen["returned"])
    return returned.result()


def replay(model: nn.Module, original_state: dict, make_learner: Callable, steps: int,
           step_on: Callable, rule: SelectionRule, steps_per_check: int,
           batches: Iterator[torch.Tensor]) -> Learner | None:
    """`steps` steps at the scan's learning rates from the original weights over `batches`
    (the whole forget set); None if a step turns non-finite."""
    model.load_state_dict(original_state)
    replayed = make_learner(model)
    for step in range(steps):
        if not math.isfinite(step_on(replayed, next(batches), rule.lr_at(step, steps_per_check))):
            return None
    return replayed


"""The shared forget-only rule and the methods that use it: what they read, what they return,
what they record, and their bad settings."""

import math

import pytest
import torch
from method_fixtures import accuracy_on, tiny_method_data, trained_tiny_method_data
from torch import nn

from unlearn.errors import UsageError
from unlearn.methods import FORGET, METHODS, DataAccessError
from unlearn.methods.boundary_expanding import narrowed, widened
from unlearn.methods.boundary_shrink import nearest_wrong_class
from unlearn.methods.forget_only import (
    Learner,
    SelectionRule,
    agreement,
    holdout_split,
    select_and_unlearn,
)
from unlearn.methods.jit_anchored import other_class_log_probs

# Every method whose strength the shared rule chooses, with settings small enough for the
# tiny model (two noisy copies for JiT; a budget of several passes over 16 images).
RULED = {
    "jit_anchored": dict(sigma=0.5, n_samples=2, eta_start=1e-4, eta_max=1e-1, eta_growth=2.0,
                         max_passes=20),
    "distill_others": dict(lr=1e-3, lr_growth=2.0, max_passes=20),
    "gradient_ascent": dict(lr=0.1, lr_max=50.0, lr_growth=2.0, max_passes=60),
    "boundary_shrink": dict(lr=1e-3, lr_growth=2.0, max_passes=20),
    "boundary_expanding": dict(lr=1e-3, lr_growth=2.0, max_passes=20),
}
CPU = torch.device("cpu")


def test_every_forget_only_method_is_driven_by_the_shared_rule():
    """Every method that declares the forget set alone, except the faithful JiT and the
    earlier η ladder, chooses its strength through the one rule."""
    forget_only = {name for name, m in METHODS.items() if m.data == frozenset({FORGET})}
    assert forget_only - {"lipschitz_forgetting", "jit_zero_shot"} == set(RULED)


@pytest.mark.parametrize("name", sorted(RULED))
def test_reads_the_forget_set_only_and_records_its_choice(name):
    model, data = trained_tiny_method_data(name)
    asked = []
    for kind in ("forget", "retain", "union"):  # record which sets the method asks for
        factory = getattr(data, kind)
        setattr(data, kind, (lambda f, k: lambda *a, **o: (asked.append(k), f(*a, **o))[1])(
            factory, kind))
    returned = METHODS[name].fn(model, data, CPU, **RULED[name])
    assert set(asked) == {FORGET}
    with pytest.raises(DataAccessError):
        data.retain()
    chosen = data.extras["chosen"]
    assert chosen["outcome"] == "target reached" and chosen["reached"] and "flag" not in chosen
    assert chosen["target"] == pytest.approx(50 / 3)  # full class: half of chance, 3 classes
    steps = [check[0] for check in chosen["trajectory"]]
    assert steps[0] == 0 and steps[-1] == chosen["steps"] and steps == sorted(steps)
    assert chosen["trajectory"][-1][2] <= chosen["target"]  # the last check met the target
    assert returned(torch.zeros(1, 3, 32, 32)).shape == (1, 3)  # the task's outputs


@pytest.mark.parametrize("name", sorted(RULED))
def test_forgets_the_class_and_keeps_the_others(name):
    """On a trained tiny model: forget accuracy falls to 0, retained accuracy stays >= 90 %."""
    model, data = trained_tiny_method_data(name)
    assert accuracy_on(model, data, "forget") == 100.0
    assert accuracy_on(model, data, "retain") == 100.0
    returned = METHODS[name].fn(model, data, CPU, **RULED[name])
    assert accuracy_on(returned, data, "forget") <= 50 / 3
    assert accuracy_on(returned, data, "retain") >= 90.0


class CountingLearner(Learner):
    """A toy learner: each step scales the forgotten class's logit down and records its lr."""

    def __init__(self, model: nn.Module, log: list) -> None:
        super().__init__(model)
        self.log = log

    def loss(self, x, y, original):
        logits = self.model(x)
        return logits.gather(1, y.view(-1, 1)).sum()  # lower the label's logit

    def step(self, x, y, original, lr):
        self.log.append(lr)
        return super().step(x, y, original, lr)


def test_full_class_returns_the_measured_model_after_exactly_the_counted_steps():
    """The held-out slice measured the model: it is returned, with no step after the check."""
    model, data = trained_tiny_method_data("gradient_ascent")
    logs = []
    rule = SelectionRule(lr=1e-8, lr_max=1.0, lr_growth=3.0, max_passes=40)
    select_and_unlearn(model, data, CPU,
                       lambda m: (logs.append([]), CountingLearner(m, logs[-1]))[1], rule)
    chosen = data.extras["chosen"]
    assert chosen["steps"] > 1 and chosen["reached"]
    assert len(logs) == 1 and len(logs[0]) == chosen["steps"]  # one learner, no extra step
    assert chosen["returned"] == "measured model"


def test_label_kept_tasks_replay_the_measured_steps_at_the_measured_rates():
    """Random task (the measure is the fit part): the replay on the whole forget set takes
    exactly the scan's step count at the scan's learning rates, in order."""
    model, data = trained_tiny_method_data("gradient_ascent", task="random")
    logs = []
    rule = SelectionRule(lr=1e-8, lr_max=1.0, lr_growth=3.0, max_passes=40)
    # noisy copies at σ 3 are mostly misclassified: a target below the original's accuracy
    select_and_unlearn(model, data, CPU,
                       lambda m: (logs.append([]), CountingLearner(m, logs[-1]))[1], rule,
                       noise_sigma=3.0)
    chosen = data.extras["chosen"]
    scan, replay = logs
    assert chosen["measure"] == "fit part" and chosen["steps"] > 1 and chosen["reached"]
    assert len(replay) == chosen["steps"] and replay == scan[:chosen["steps"]]
    assert chosen["lr_last"] == replay[-1]
    assert chosen["returned"] == "replay on the whole forget set"


def test_a_trap_range_the_eta_ladder_follows_destroys_the_model_the_rule_does_not():
    """On the tiny model every JiT η from 0.1 up collapses it onto the forgotten class: forget
    accuracy 100 %, retained 0 %. The ladder reads forget accuracy alone, takes the collapse
    for "not forgotten yet", climbs to η max and returns a destroyed model. The rule over the
    same range sees the logits' spread vanish at the first check and returns the safest model
    it found (here the original), flagged."""
    trap = dict(sigma=0.5, n_samples=2)
    model, data = trained_tiny_method_data("jit_zero_shot")
    old = METHODS["jit_zero_shot"].fn(model, data, CPU, eta_min=0.1, eta_max=100.0,
                                      eta_factor=10.0, refine_steps=0, **trap)
    assert accuracy_on(old, data, "retain") <= 50.0  # what the ladder returns

    model, data = trained_tiny_method_data("jit_anchored")
    new = METHODS["jit_anchored"].fn(model, data, CPU, eta_start=0.1, eta_max=100.0,
                                     eta_growth=10.0, max_passes=8, **trap)
    assert accuracy_on(new, data, "retain") >= 90.0
    chosen = data.extras["chosen"]
    assert chosen["flag"] == "guard" and chosen["outcome"] == "guard tripped"
    assert not chosen["reached"]


def test_a_diverging_loss_ends_the_scan_with_the_last_safe_model():
    model, data = trained_tiny_method_data("gradient_ascent")
    start = {k: v.clone() for k, v in model.state_dict().items()}

    class Diverging(Learner):
        def loss(self, x, y, original):
            return self.model(x).sum() * math.inf

    returned = select_and_unlearn(model, data, CPU, Diverging,
                                  SelectionRule(lr=1e-3, lr_max=1.0))
    chosen = data.extras["chosen"]
    assert chosen["outcome"] == "diverged" and chosen["flag"] == "diverged"
    assert chosen["steps"] == 0
    for name, value in returned.state_dict().items():
        assert torch.equal(value, start[name])


def test_a_forget_set_the_original_already_fails_on_is_a_result():
    model, data = tiny_method_data("distill_others")  # untrained: far below the target
    METHODS["distill_others"].fn(model, data, CPU)
    chosen = data.extras["chosen"]
    assert chosen["outcome"] == "target met by the original" and chosen["steps"] == 0


def test_other_class_agreement_by_hand():
    labels = torch.tensor([0, 1, 2])
    original = torch.tensor([[5.0, 3.0, 1.0], [2.0, 9.0, 1.0], [1.0, 4.0, 8.0]])  # others: 1, 0, 1
    model = torch.tensor([[0.0, 1.0, 2.0], [3.0, 0.0, 1.0], [9.0, 4.0, 0.0]])  # others: 2, 0, 0
    assert agreement(model, original, labels) == pytest.approx(1 / 3)


def test_distillation_targets_put_no_mass_on_the_label_and_sum_to_one():
    logits = torch.tensor([[4.0, 1.0, 0.0, -2.0], [0.5, 3.0, 0.5, 0.0]])
    labels = torch.tensor([0, 1])
    for temperature in (1.0, 4.0):
        targets = other_class_log_probs(logits, labels, temperature).exp()
        assert targets[0, 0] == 0 and targets[1, 1] == 0
        assert torch.allclose(targets.sum(dim=1), torch.ones(2))
    # the other classes keep the original's proportions: e^1 : e^0 : e^-2 for sample 0
    expected = torch.tensor([1.0, 0.0, -2.0]).softmax(dim=0)
    assert torch.allclose(other_class_log_probs(logits, labels).exp()[0, 1:], expected)


def test_boundary_shrink_neighbour_is_the_nearest_wrong_class_by_hand():
    """f(x) = W x with W rows (1, 0), (0, 1), (.5, .5). At x = (2, 0) the logits are
    (2, 0, 1); the FGSM direction for label 0 is sign(Σ p_c W_c − W_0) = (−1, +1). A step of
    0.1 gives logits (1.9, 0.1, 1.0): neighbour 2. A step of 1.5 gives (0.5, 1.5, 1.0): the
    attack crossed into class 1, and the neighbour is 1. Never the label."""
    model = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
    x, y = torch.tensor([[2.0, 0.0]]), torch.tensor([0])
    lo, hi = torch.full((2,), -10.0), torch.full((2,), 10.0)
    assert nearest_wrong_class(model, x, y, torch.full((2,), 0.1), lo, hi).tolist() == [2]
    assert nearest_wrong_class(model, x, y, torch.full((2,), 1.5), lo, hi).tolist() == [1]
    # a step too small to cross still never answers the label
    assert nearest_wrong_class(model, x, y, torch.full((2,), 1e-6), lo, hi).tolist() == [2]


def test_boundary_expanding_widens_then_cuts_the_shadow_row():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    wide = widened(model, 3, seed=0)
    assert wide[2].out_features == 4
    assert torch.equal(wide[2].weight[:3], model[2].weight)
    assert torch.equal(wide[2].bias[:3], model[2].bias)
    with torch.no_grad():  # a change to every row of the widened model
        for parameter in wide.parameters():
            parameter.add_(0.25)
    narrow = narrowed(model, wide, 3)
    assert narrow[2].out_features == 3
    assert torch.equal(narrow[2].weight, wide[2].weight[:3])
    assert torch.equal(narrow[0].weight, wide[0].weight)


def test_boundary_expanding_returns_the_original_shape_and_untouched_rows_when_no_step():
    model, data = tiny_method_data("boundary_expanding")  # the target is met before any step
    start = {k: v.clone() for k, v in model.state_dict().items()}
    returned = METHODS["boundary_expanding"].fn(model, data, CPU)
    assert data.extras["chosen"]["steps"] == 0
    assert set(returned.state_dict()) == set(start)
    for name, value in returned.state_dict().items():
        assert torch.equal(value, start[name])


@pytest.mark.parametrize("name, bad, message", [
    ("distill_others", dict(lr=0.0), "learning rate lr must be positive"),
    ("gradient_ascent", dict(lr=-1e-3), "learning rate lr must be positive"),
    ("distill_others", dict(temperature=0.0), "temperature must be positive"),
    ("boundary_shrink", dict(bound=0.0), "bound must be positive"),
    ("boundary_expanding", dict(max_passes=0), "step budget of 0"),
    ("jit_anchored", dict(sigma=0.5, eta_start=1e-2, eta_max=1e-3), "must be at least lr"),
    ("jit_anchored", dict(sigma=0.5, holdout=1.0), "holdout must lie in"),
    ("jit_anchored", dict(sigma=0.5, anchor=-1.0), "anchor weight must be >= 0"),
])
def test_bad_settings_are_refused_before_any_step(name, bad, message):
    model, data = trained_tiny_method_data(name)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(UsageError, match=message):
        METHODS[name].fn(model, data, CPU, **bad)
    for key, value in model.state_dict().items():
        assert torch.equal(value, start[key])


def test_a_forget_set_too_small_to_hold_a_slice_out_is_refused():
    with pytest.raises(UsageError, match="at least two"):
        holdout_split(1, 0.2, seed=0, method="distill_others")
    model, data = tiny_method_data("distill_others", forget=torch.tensor([0]))
    with pytest.raises(UsageError, match="distill_others: the forget set has 1 sample"):
        METHODS["distill_others"].fn(model, data, CPU)


def test_the_rate_grows_per_check_but_at_most_once_per_ramp_every_steps():
    """A forget set checked at every step ramps at the per-step pace of one checked every
    four steps: the same rates, step for step."""
    rule = SelectionRule(lr=1.0, lr_max=100.0, lr_growth=2.0)
    assert rule.ramp_every == 4
    every_step = [rule.lr_at(step, steps_per_check=1) for step in range(9)]
    every_fourth = [rule.lr_at(step, steps_per_check=4) for step in range(9)]
    assert every_step == every_fourth == [1.0] * 4 + [2.0] * 4 + [4.0]
    assert [rule.lr_at(step, steps_per_check=8) for step in (7, 8)] == [1.0, 2.0]
    assert rule.lr_at(10**6, steps_per_check=1) == 100.0  # capped at lr_max, no overflow


def test_a_label_kept_target_the_original_already_meets_is_flagged():
    """Random task: when noisy copies score as high as the forget samples themselves, the
    original meets the target before any step; the rule takes no step and says the target
    could not tell (on memorising models the study saw exactly this)."""
    model, data = trained_tiny_method_data("gradient_ascent", task="random")
    rule = SelectionRule(lr=1e-8, lr_max=1.0, lr_growth=3.0, max_passes=40)
    returned = select_and_unlearn(model, data, CPU, lambda m: CountingLearner(m, []), rule,
                                  noise_sigma=1e-6)  # copies equal to the samples
    chosen = data.extras["chosen"]
    assert chosen["outcome"] == "target met by the original" and chosen["steps"] == 0
    assert chosen["flag"] == "target cannot tell"
    assert all(torch.equal(a, b) for a, b in zip(returned.state_dict().values(),
                                                 model.state_dict().values()))

"""Zero-shot JiT: the η rule, what it reads, and its bad settings."""

import pytest
import torch
from method_fixtures import tiny_method_data

from unlearn.errors import UsageError
from unlearn.methods import FORGET, METHODS, DataAccessError
from unlearn.methods.jit_zero_shot import eta_ladder, holdout_split, jit_zero_shot

SMALL = dict(sigma=0.5, n_samples=2, eta_min=1e-4, eta_max=1.0, eta_factor=10.0,
             refine_steps=2)


def test_ladder_is_geometric_and_closed_by_eta_max():
    assert eta_ladder(1.0, 5.0, 2.0) == [1.0, 2.0, 4.0, 5.0]
    assert eta_ladder(1e-6, 1e-4, 10.0) == pytest.approx([1e-6, 1e-5, 1e-4])


def test_holdout_is_a_seeded_disjoint_cover():
    fit, held = holdout_split(10, 0.2, seed=3)
    assert len(held) == 2 and len(fit) == 8
    assert sorted(torch.cat([fit, held]).tolist()) == list(range(10))
    again = holdout_split(10, 0.2, seed=3)
    assert torch.equal(fit, again[0]) and torch.equal(held, again[1])
    assert len(holdout_split(3, 0.01, seed=0)[1]) == 1  # always at least one held out
    with pytest.raises(UsageError, match="at least two"):
        holdout_split(1, 0.2, seed=0)


def test_declares_the_forget_set_only_and_the_gate_refuses_retain():
    assert METHODS["jit_zero_shot"].data == frozenset({FORGET})
    _, data = tiny_method_data("jit_zero_shot")
    with pytest.raises(DataAccessError):
        data.retain()


@pytest.mark.parametrize("task", ["full_class", "random", "sub_class"])
def test_reads_only_forget_data_and_picks_the_smallest_eta_reaching_the_target(task):
    model, data = tiny_method_data("jit_zero_shot", task=task)
    asked = []
    for kind in ("forget", "retain", "union"):  # record which sets the method asks for
        factory = getattr(data, kind)
        setattr(data, kind, (lambda f, k: lambda *a, **o: (asked.append(k), f(*a, **o))[1])(
            factory, kind))
    jit_zero_shot(model, data, torch.device("cpu"), **SMALL)
    assert set(asked) == {FORGET}
    chosen = data.extras["chosen"]
    tried = dict((eta, acc) for eta, acc in chosen["tried"])
    if chosen["reached"]:
        assert tried[chosen["eta"]] <= chosen["target"]
    # every η tried below the chosen one missed the target: the choice is the smallest found
    assert all(acc > chosen["target"] for eta, acc in tried.items() if eta < chosen["eta"])
    if task == "full_class":  # below chance
        assert chosen["target"] == pytest.approx(100 / 3)
        assert chosen["measure"] == "held-out forget slice"
    else:  # the label is kept: the accuracy on unseen (noisy) copies, measured on the fit part
        assert chosen["measure"] == "fit part"


def test_restarts_from_the_original_weights_at_every_rung():
    """The final model depends on the chosen η only, not on the rungs tried before it."""
    model, data = tiny_method_data("jit_zero_shot")
    start = {k: v.clone() for k, v in model.state_dict().items()}
    jit_zero_shot(model, data, torch.device("cpu"), **SMALL)
    eta = data.extras["chosen"]["eta"]

    from unlearn.methods.lipschitz import JitOptions, lipschitz_forgetting
    fresh, fresh_data = tiny_method_data("jit_zero_shot")
    fresh.load_state_dict(start)
    lipschitz_forgetting(fresh, fresh_data.forget(shuffle=False), "cpu",
                         JitOptions(sigma=0.5, eta=eta, n_samples=2, seed=0),
                         valid_range=fresh_data.valid_range)
    for name, value in model.state_dict().items():
        assert torch.allclose(value, fresh.state_dict()[name])


@pytest.mark.parametrize("bad, message", [
    (dict(holdout=1.0), "holdout"), (dict(eta_min=1.0, eta_max=0.1), "eta_min < eta_max"),
    (dict(eta_factor=1.0), "eta_factor"), (dict(refine_steps=-1), "refine_steps"),
    (dict(sigma=0.0), "sigma"),
])
def test_bad_rule_settings_are_one_clear_error(bad, message):
    model, data = tiny_method_data("jit_zero_shot")
    with pytest.raises(UsageError, match=message):
        jit_zero_shot(model, data, torch.device("cpu"), **{**SMALL, **bad})


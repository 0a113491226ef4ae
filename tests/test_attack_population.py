"""Population attacks: per-sample scores, matched non-members, power on a memorising model,
chance on a model that never saw the samples, and the keys `metrics.evaluate` adds."""

import math

import numpy as np
import pytest
import torch
from memorising_models import logits_of, memorise, random_data

from unlearn.errors import UsageError
from unlearn.eval.attacks import ATTACKS
from unlearn.eval.attacks.population import (
    attack_power,
    attack_scores,
    confidence_scores,
    loss_scores,
    matched_nonmembers,
    population_attacks,
)
from unlearn.eval.metrics import (
    OriginalOutputs,
    attack_samples,
    evaluate,
    fit_entropy_attack,
    membership_attack,
)


def test_scores_hand_computed():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])  # softmax (1/2, 1/2), (3/4, 1/4)
    labels = torch.tensor([1, 1])
    # log(p / (1 - p)): p = 1/2 -> 0; p = 1/4 -> -log 3; p = 3/4 -> log 3
    assert loss_scores(logits, labels) == pytest.approx([0.0, -math.log(3)])
    assert confidence_scores(logits) == pytest.approx([0.0, math.log(3)])
    entropy = -attack_scores(logits, labels)["entropy"]
    assert entropy == pytest.approx([math.log(2), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))])


def test_scores_keep_confident_outputs_apart():
    # float64 rounds both probabilities (and losses) to 1 (0); the logit keeps their order
    logits = torch.tensor([[40.0, 0.0], [50.0, 0.0]])
    assert torch.log_softmax(logits.double(), 1)[:, 0].tolist() == [0.0, 0.0]
    assert confidence_scores(logits) == pytest.approx([40.0, 50.0])
    assert loss_scores(logits, torch.tensor([0, 0])) == pytest.approx([40.0, 50.0])


def test_matched_nonmembers_keep_the_class_mix():
    members = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)
    candidates = torch.tensor([0] * 20 + [1] * 20 + [2] * 20 + [3] * 20)
    kept, picked = matched_nonmembers(members, candidates, seed=0)
    assert torch.equal(kept, torch.arange(10))
    assert torch.bincount(candidates[picked], minlength=4).tolist() == [6, 3, 1, 0]
    assert len(set(picked.tolist())) == len(picked)
    assert torch.equal(picked, matched_nonmembers(members, candidates, seed=0)[1])
    assert not torch.equal(picked, matched_nonmembers(members, candidates, seed=1)[1])


def test_matched_nonmembers_scale_down_when_a_class_runs_short():
    members = torch.tensor([0] * 8 + [1] * 4)
    candidates = torch.tensor([0] * 4 + [1] * 10)  # class 0 has half what the members have
    _, picked = matched_nonmembers(members, candidates, seed=0)
    assert torch.bincount(candidates[picked]).tolist() == [4, 2]  # the same 2:1 mix


def test_members_of_a_class_the_test_set_lacks_are_left_out():
    kept, picked = matched_nonmembers(torch.tensor([0, 5, 0]), torch.tensor([0, 0, 1]), seed=0)
    assert kept.tolist() == [0, 2] and sorted(picked.tolist()) == [0, 1]
    kept, picked = matched_nonmembers(torch.tensor([5]), torch.tensor([0, 1]), seed=0)
    assert len(kept) == len(picked) == 0


@pytest.fixture(scope="module")
def memorised():
    """Model A memorised x[:200]; model B memorised other data and never saw x."""
    x, y = random_data(600, seed=0)
    other_x, other_y = random_data(200, seed=1)
    return x, y, memorise(x[:200], y[:200], seed=0), memorise(other_x, other_y, seed=1)


def attacks_on(model, x, y):
    """Members x[:100] against non-members x[300:400]; the published regression is fitted
    on the model's entropies of x[100:200] (members) and x[400:600] (non-members)."""
    from unlearn.eval.attacks.population import entropies

    logits = logits_of(model, x)
    regression = fit_entropy_attack(entropies(logits[100:200]), entropies(logits[400:600]))
    return population_attacks(logits[:100], y[:100], logits[300:400], y[300:400],
                              entropy_regression=regression)


def test_every_attack_separates_a_model_that_saw_the_samples(memorised):
    x, y, saw, _ = memorised
    results = attacks_on(saw, x, y)
    for name in ATTACKS:  # random labels: the label-free scores see less than the loss
        assert results[f"attack_{name}_auc"] > 0.75, name
    assert results["attack_loss_auc"] > 0.9
    assert results["attack_loss_tpr_at_fpr_1pct"] > 0.05


def test_a_model_that_never_saw_the_samples_is_at_chance(memorised):
    x, y, _, never = memorised
    results = attacks_on(never, x, y)
    # Mann-Whitney null: sd of the AUC = sqrt((m + n + 1) / (12 m n)) for m = n = 100 -> 0.041;
    # members and non-members are exchangeable for this model, so 4 sd is a 1-in-15,000 miss
    tolerance = 4 * math.sqrt((100 + 100 + 1) / (12 * 100 * 100))
    for name in ("loss", "confidence", "entropy"):
        assert abs(results[f"attack_{name}_auc"] - 0.5) < tolerance, name
    # entropy_lr ranks as the entropy does, or in reverse: its AUC is one of the two
    entropy_auc = results["attack_entropy_auc"]
    assert min(abs(results["attack_entropy_lr_auc"] - entropy_auc),
               abs(results["attack_entropy_lr_auc"] - (1 - entropy_auc))) < 1e-12


def test_power_is_the_attacks_on_the_original_with_a_suffix(memorised):
    x, y, saw, _ = memorised
    logits = logits_of(saw, x)
    power = attack_power(logits[:100], y[:100], logits[300:400], y[300:400])
    plain = population_attacks(logits[:100], y[:100], logits[300:400], y[300:400])
    assert power == {f"{key}_original": value for key, value in plain.items()}
    assert "attack_entropy_lr_auc_original" not in power  # no regression given


# ---------------------------------------------------------------- metrics.evaluate


class Identity(torch.nn.Module):
    def forward(self, x):
        return x


def loader(logits, labels, batch=50):
    return [(logits[i:i + batch], labels[i:i + batch]) for i in range(0, len(labels), batch)]


@pytest.fixture(scope="module")
def full_class_outputs(memorised):
    """Model A's logits: test = x[300:600] with its last 100 as the forgotten class (the
    non-members), retain train = x[100:200], forget train = x[:100]."""
    x, y, saw, _ = memorised
    logits = logits_of(saw, x)
    mask = torch.zeros(300, dtype=torch.bool)
    mask[200:] = True
    return logits, y, mask


def run_evaluate(outputs, **options):
    logits, y, mask = outputs
    return evaluate(Identity(), "cpu", test=loader(logits[300:600], y[300:600]),
                    retain_train=loader(logits[100:200], y[100:200]),
                    forget_train=loader(logits[:100], y[:100]), forget_test_mask=mask,
                    **options)


def test_evaluate_adds_the_attacks_on_its_own_logits(full_class_outputs):
    logits, y, _ = full_class_outputs
    scores = run_evaluate(full_class_outputs)
    from unlearn.eval.attacks.population import entropies

    regression = fit_entropy_attack(entropies(logits[100:200]), entropies(logits[300:600]))
    expected = population_attacks(logits[:100], y[:100], logits[500:600], y[500:600],
                                  entropy_regression=regression)
    assert {key: scores[key] for key in expected} == pytest.approx(expected)
    # the published MIA is unchanged by the refactoring: same fit, same verdicts
    assert scores["mia"] == membership_attack(entropies(logits[100:200]),
                                              entropies(logits[300:600]),
                                              entropies(logits[:100]))
    without = run_evaluate(full_class_outputs, attacks=False)
    assert not any(key.startswith("attack_") for key in without)
    assert without["mia"] == scores["mia"]


def test_evaluate_emits_power_given_the_original_outputs(full_class_outputs):
    logits, y, mask = full_class_outputs
    # the original's logits on the attacks' samples alone: the forget set, the non-members
    member, nonmember = attack_samples("full_class", y[:100], y[300:600], mask, seed=0)
    assert torch.equal(member, torch.arange(100)) and torch.equal(nonmember,
                                                                 torch.arange(200, 300))
    original = OriginalOutputs(forget_train=logits[:100], nonmembers=logits[300:600][nonmember])
    scores = run_evaluate(full_class_outputs, original=original)
    for name in ATTACKS:  # the "unlearned" model is the original here: power = result
        for key in ("auc", "tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct"):
            assert scores[f"attack_{name}_{key}_original"] == scores[f"attack_{name}_{key}"]
    with pytest.raises(UsageError, match="original model's outputs"):
        run_evaluate(full_class_outputs, original=OriginalOutputs(logits[:5], logits[:5]))


def test_power_of_another_original_is_its_own(full_class_outputs, memorised):
    x, y, _, never = memorised
    logits, _, _ = full_class_outputs
    other = logits_of(never, x)  # an "original" that never saw the forget set: no power
    scores = run_evaluate(full_class_outputs, original=OriginalOutputs(
        forget_train=other[:100], nonmembers=other[500:600]))
    assert scores["attack_loss_auc"] > 0.9
    assert abs(scores["attack_loss_auc_original"] - 0.5) < 0.2


def test_evaluate_random_task_draws_matched_nonmembers(full_class_outputs):
    a = run_evaluate(full_class_outputs, task="random", seed=0)
    b = run_evaluate(full_class_outputs, task="random", seed=0)
    c = run_evaluate(full_class_outputs, task="random", seed=3)
    assert a == b and "attack_loss_auc" in a
    assert a["attack_loss_auc"] != c["attack_loss_auc"]  # another draw of non-members


def test_evaluate_rejects_a_bad_fpr_before_any_inference(full_class_outputs):
    class Refuses(torch.nn.Module):
        def forward(self, x):
            raise AssertionError("inference ran before the input was checked")

    logits, y, mask = full_class_outputs
    with pytest.raises(UsageError, match=r"\(0, 1\)"):
        evaluate(Refuses(), "cpu", test=loader(logits, y), retain_train=loader(logits, y),
                 forget_train=loader(logits, y), forget_test_mask=mask, fprs=(0.01, 1.0))
    scores = run_evaluate(full_class_outputs, fprs=(0.05,))
    assert np.isfinite(scores["attack_loss_tpr_at_fpr_5pct"])

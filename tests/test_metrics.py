"""Metrics: hand-computed cases, the published MIA, and one inference pass per split."""

import math

import pytest
import torch
from torch import nn

from unlearn.errors import UsageError
from unlearn.eval.metrics import (
    REFERENCE_NAMES,
    accuracy,
    entropy,
    evaluate,
    membership_attack,
    predict,
    reference_view,
)


class LogitsAreInputs(nn.Module):
    """Returns its input as the logits (x: [B, C]) and counts the samples it sees."""

    def __init__(self, as_tuple: bool = False):
        super().__init__()
        self.seen = 0
        self.as_tuple = as_tuple

    def forward(self, x):
        self.seen += len(x)
        return (x, "extra") if self.as_tuple else x


class CountingLoader:
    """An iterable of (x, y) batches that counts how often it is iterated."""

    def __init__(self, logits: torch.Tensor, labels: torch.Tensor, batch_size: int = 3):
        self.batches = [(logits[i : i + batch_size], labels[i : i + batch_size])
                        for i in range(0, len(labels), batch_size)]
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        return iter(self.batches)


def one_hot_logits(labels, classes: int = 4, scale: float = 20.0) -> torch.Tensor:
    """Confident (low-entropy) logits predicting `labels`."""
    return scale * nn.functional.one_hot(torch.as_tensor(labels), classes).float()


def test_accuracy_hand_computed():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    assert accuracy(logits, torch.tensor([0, 1, 0, 0])) == 75.0
    with pytest.raises(ValueError):
        accuracy(torch.empty(0, 2), torch.empty(0, dtype=torch.long))


def test_accuracy_is_sample_weighted_over_uneven_batches():
    # Batch 1: 3 of 3 right (100 %), batch 2: 0 of 1 (0 %). Batch mean 50 %, samples 75 %.
    labels = torch.tensor([0, 1, 2, 3])
    logits = one_hot_logits([0, 1, 2, 0])
    logits_out, labels_out = predict(LogitsAreInputs(), CountingLoader(logits, labels, 3), "cpu")
    assert torch.equal(labels_out, labels) and logits_out.dtype == torch.float32
    assert accuracy(logits_out, labels_out) == 75.0


def test_predict_unwraps_tuples_takes_last_label_and_sets_eval():
    model = LogitsAreInputs(as_tuple=True).train()
    logits = one_hot_logits([1, 0])
    loader = [(logits, torch.tensor([9, 9]), torch.tensor([1, 1]))]  # (x, fine, y) as published
    out, labels = predict(model, loader, "cpu")
    assert not model.training
    assert torch.equal(out, logits) and labels.tolist() == [1, 1]


def test_entropy_uniform_and_one_hot():
    values = entropy(torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.0, 1.0, 0.0, 0.0]]))
    assert math.isclose(values[0].item(), math.log(4), rel_tol=1e-6)
    assert values[1].item() == 0.0


def test_membership_attack_separates_low_and_high_entropy():
    gen = torch.Generator().manual_seed(0)
    low = 0.1 + 0.05 * torch.rand(200, generator=gen)  # members: confident outputs
    high = 1.5 + 0.05 * torch.rand(300, generator=gen)  # non-members: uncertain outputs
    assert membership_attack(low, high, 0.1 + 0.05 * torch.rand(50, generator=gen)) == 1.0
    assert membership_attack(low, high, 1.5 + 0.05 * torch.rand(50, generator=gen)) == 0.0
    mixed = torch.cat([torch.full((30,), 0.12), torch.full((10,), 1.52)])
    assert membership_attack(low, high, mixed) == pytest.approx(0.75)


def splits():
    """Test set of 8 (last 2 = forgotten class 3), retain train 6, forget train 4."""
    test_labels = torch.tensor([0, 1, 2, 0, 1, 2, 3, 3])
    test_logits = torch.zeros(8, 4)  # uniform outputs: high entropy (non-members)
    test_logits[:, 0] = 0.1  # argmax 0: right on test samples 0 and 3 only
    retain_labels = torch.tensor([0, 1, 2, 0, 1, 2])
    retain_logits = one_hot_logits([0, 1, 2, 0, 1, 0])  # 5 of 6 right, confident
    forget_labels = torch.tensor([3, 3, 3, 3])
    forget_logits = one_hot_logits([3, 3, 0, 0])  # 2 of 4 right, confident -> "member"
    return (CountingLoader(test_logits, test_labels), CountingLoader(retain_logits, retain_labels),
            CountingLoader(forget_logits, forget_labels))


@pytest.mark.parametrize("mask", [torch.tensor([False] * 6 + [True] * 2), torch.tensor([6, 7])])
def test_evaluate_full_class_one_pass_per_split(mask):
    model = LogitsAreInputs()
    test, retain, forget = splits()
    scores = evaluate(model, "cpu", test=test, retain_train=retain, forget_train=forget,
                      forget_test_mask=mask, task="full_class")
    assert (test.passes, retain.passes, forget.passes) == (1, 1, 1)
    assert model.seen == 8 + 6 + 4  # every sample inferred exactly once
    assert set(scores) == {"acc_test", "acc_retain_test", "acc_forget_test", "acc_forget_train",
                           "acc_retain_train", "mia", "acc_test_per_class"} | {
        f"attack_{name}_{key}" for name in ("loss", "confidence", "entropy", "entropy_lr")
        for key in ("auc", "tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct")}
    assert scores["acc_test"] == 25.0
    assert scores["acc_retain_test"] == pytest.approx(100 * 2 / 6)
    assert scores["acc_forget_test"] == 0.0
    assert scores["acc_retain_train"] == pytest.approx(100 * 5 / 6)
    assert scores["acc_forget_train"] == 50.0
    assert scores["mia"] == 1.0  # forget outputs as confident as the members'
    # argmax 0 everywhere: class 0 right on both its samples, every other class wrong
    assert scores["acc_test_per_class"] == {"0": 100.0, "1": 0.0, "2": 0.0, "3": 0.0}
    assert set(reference_view(scores, "full_class")) == {"TestAcc", "RetainTestAcc", "Df", "MIA"}


def test_evaluate_per_class_by_given_classes_and_hands_back_logits():
    test, retain, forget = splits()
    logits = {}
    fine = torch.tensor([0, 1, 2, 3, 1, 2, 4, 5])  # finer classes than the labels
    scores = evaluate(LogitsAreInputs(), "cpu", test=test, retain_train=retain,
                      forget_train=forget, forget_test_mask=torch.tensor([6, 7]),
                      test_classes=fine, class_names=list("abcdef"), logits_out=logits)
    # right on test samples 0 and 3 only: a (sample 0) and d (sample 3)
    assert scores["acc_test_per_class"] == {"a": 100.0, "b": 0.0, "c": 0.0, "d": 100.0,
                                            "e": 0.0, "f": 0.0}
    assert logits["test"].shape == (8, 4) and logits["forget_train"].shape == (4, 4)
    assert reference_view(scores, "full_class")["Df"] == scores["acc_forget_test"]


def test_evaluate_random_task_semantics():
    model = LogitsAreInputs()
    test, retain, forget = splits()
    scores = evaluate(model, "cpu", test=test, retain_train=retain, forget_train=forget,
                      task="random")
    assert model.seen == 8 + 6 + 4
    assert "acc_forget_test" not in scores
    assert scores["acc_retain_test"] == scores["acc_test"]  # published: RetainTestAcc = TestAcc
    view = reference_view(scores, "random")
    assert view["Df"] == scores["acc_forget_train"] == 50.0
    assert REFERENCE_NAMES["acc_forget_train"] == REFERENCE_NAMES["acc_forget_test"] == "Df"


def test_evaluate_rejects_bad_calls():
    test, retain, forget = splits()
    with pytest.raises(UsageError, match="forget_test_mask"):
        evaluate(LogitsAreInputs(), "cpu", test=test, retain_train=retain, forget_train=forget)
    with pytest.raises(UsageError, match="unknown task"):
        evaluate(LogitsAreInputs(), "cpu", test=test, retain_train=retain, forget_train=forget,
                 task="fullclass")
    with pytest.raises(UsageError, match="entries"):
        evaluate(LogitsAreInputs(), "cpu", test=test, retain_train=retain, forget_train=forget,
                 forget_test_mask=torch.tensor([True, False]))


def test_evaluate_refuses_a_diverged_model():
    """NaN logits (a method that diverged) stop evaluation with a clear error, not a score."""
    from unlearn.eval import metrics

    class Broken(nn.Module):
        def forward(self, x):
            return torch.full((len(x), 2), float("nan"))

    batches = [(torch.zeros(3, 1), torch.tensor([0, 1, 0]))]
    with pytest.raises(metrics.DivergedModelError, match="not finite"):
        metrics.evaluate(Broken(), "cpu", test=batches, retain_train=batches,
                         forget_train=batches, forget_test_mask=torch.tensor([True, False, False]))

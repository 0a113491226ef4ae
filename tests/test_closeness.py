"""Output-space closeness to retrain on hand-made logits, and per-class accuracy."""

import math

import pytest
import torch

from unlearn.errors import UsageError
from unlearn.eval import closeness, metrics

BIG = 1000.0  # exp(-1000) is 0 in float64: a logit row [0, -BIG] is the distribution [1, 0]


def test_js_divergence_on_hand_made_logits():
    same = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, 1.0]])
    assert closeness.js_divergence(same, same) == pytest.approx(0, abs=1e-12)
    disjoint_a = torch.tensor([[0.0, -BIG], [-BIG, 0.0]])
    disjoint_b = torch.tensor([[-BIG, 0.0], [0.0, -BIG]])
    assert closeness.js_divergence(disjoint_a, disjoint_b) == pytest.approx(1)
    # P = [1/2, 1/2], Q = [1, 0], M = [3/4, 1/4]: JS = H(M) - (H(P) + H(Q)) / 2
    h_m = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    expected = h_m - 0.5
    assert closeness.js_divergence(torch.tensor([[0.0, 0.0]]),
                                   torch.tensor([[0.0, -BIG]])) == pytest.approx(expected)
    # the mean over samples: one identical row, one half-disjoint row
    both = closeness.js_divergence(torch.tensor([[0.0, 0.0], [1.0, 2.0]]),
                                   torch.tensor([[0.0, -BIG], [1.0, 2.0]]))
    assert both == pytest.approx(expected / 2)
    # softmax is shift-invariant: adding a constant to the logits changes nothing
    assert closeness.js_divergence(same, same + 7) == pytest.approx(0, abs=1e-12)


def test_top1_agreement_on_hand_made_logits():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    assert closeness.top1_agreement(a, b) == 50.0
    assert closeness.top1_agreement(a, a) == 100.0
    with pytest.raises(ValueError):
        closeness.top1_agreement(a, b[:2])


def test_splits_and_average_over_retrains():
    test = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    forget_train = torch.tensor([[0.0, 1.0]])
    mask = torch.tensor([False, True, False])
    splits = closeness.split_logits(test, forget_train, mask)
    assert torch.equal(splits["forget_test"], test[1:2])
    assert torch.equal(splits["retain_test"], test[[0, 2]])
    assert set(closeness.split_logits(test, forget_train, None)) == {"forget_train",
                                                                     "retain_test"}
    flipped = {name: logits.flip(1) for name, logits in splits.items()}
    scores = closeness.closeness(splits, [splits, flipped])
    # agreement 100 % with the first retrain, 0 % with the flipped one
    assert scores["agreement_retain_test"] == pytest.approx(50)
    assert scores["agreement_forget_test"] == pytest.approx(50)
    one = closeness.js_divergence(splits["retain_test"], flipped["retain_test"])
    assert scores["js_retain_test"] == pytest.approx(one / 2)
    assert scores["retrains"] == 2


def test_a_retrained_model_from_another_cell_is_refused():
    meta = {"dataset": "FashionMNIST", "forget": "class Coat"}
    closeness.check_retrained(meta, "r.pth", dataset="FashionMNIST", forget="class Coat")
    with pytest.raises(UsageError, match="left out 'class Coat', but this run forgets"):
        closeness.check_retrained(meta, "r.pth", dataset="FashionMNIST",
                                  forget="class Sneaker")
    with pytest.raises(UsageError, match="trained on 'FashionMNIST', but this run uses"):
        closeness.check_retrained(meta, "r.pth", dataset="Cifar10", forget="class Coat")


def test_per_class_accuracy():
    logits = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 0, 1])
    assert metrics.per_class_accuracy(logits, labels, labels, ["a", "b"]) == {
        "a": pytest.approx(200 / 3), "b": 50.0}
    # classes finer than the labels (the sub-class task): each gets its own accuracy
    fine = torch.tensor([2, 3, 0, 3, 1])
    assert metrics.per_class_accuracy(logits, labels, fine) == {
        "0": 100.0, "1": 0.0, "2": 100.0, "3": 50.0}


def test_js_divergence_of_nearly_identical_outputs_is_a_small_number_not_nan():
    logits = torch.tensor([[30.0, -5.0, -7.0], [0.1, 0.2, 0.3]])
    value = closeness.js_divergence(logits, logits + 1e-7)
    assert 0.0 <= value < 1e-9

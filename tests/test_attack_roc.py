"""ROC summaries: hand-computed AUC and TPR at low FPR, ties, and bad target FPRs."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from unlearn.errors import UsageError
from unlearn.eval.attacks.roc import check_fprs, fpr_label, roc_summary


def test_perfect_separation():
    assert roc_summary([3.0, 2.0], [1.0, 0.0]) == {
        "auc": 1.0, "tpr_at_fpr_1pct": 1.0, "tpr_at_fpr_0.1pct": 1.0}


def test_hand_computed_auc_and_tpr():
    # member > non-member in 4 + 3 + 3 of 12 pairs
    members, nonmembers = [0.8, 0.6, 0.3], [0.7, 0.2, 0.1, 0.0]
    summary = roc_summary(members, nonmembers, fprs=(0.01, 0.2, 0.3))
    assert summary["auc"] == pytest.approx(10 / 12)
    # ROC points: (0, 1/3) at 0.8, (1/4, 1/3) at 0.7, (1/4, 2/3) at 0.6, (1/4, 1) at 0.3
    assert summary["tpr_at_fpr_1pct"] == pytest.approx(1 / 3)
    assert summary["tpr_at_fpr_20pct"] == pytest.approx(1 / 3)
    assert summary["tpr_at_fpr_30pct"] == 1.0


def test_ties_count_half_in_auc_and_never_split_at_a_threshold():
    # pairs: (1, 1) tie = 1/2, (1, 0) = 1, twice -> AUC 3/4
    summary = roc_summary([1.0, 1.0], [1.0, 0.0], fprs=(0.01, 0.5))
    assert summary["auc"] == 0.75
    # the tied score 1 moves FPR from 0 to 1/2 and TPR from 0 to 1 in one step
    assert summary["tpr_at_fpr_1pct"] == 0.0
    assert summary["tpr_at_fpr_50pct"] == 1.0


def test_all_tied_is_chance():
    summary = roc_summary(np.ones(5), np.ones(7))
    assert summary["auc"] == 0.5 and summary["tpr_at_fpr_1pct"] == 0.0


def test_reversed_scores_mirror_the_auc():
    rng = np.random.default_rng(0)
    members, nonmembers = rng.normal(1, 1, 50), rng.normal(0, 1, 60)
    forward = roc_summary(members, nonmembers)["auc"]
    truth = np.r_[np.ones(50), np.zeros(60)]
    assert forward == pytest.approx(roc_auc_score(truth, np.r_[members, nonmembers]))
    assert roc_summary(-members, -nonmembers)["auc"] == pytest.approx(1 - forward)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.01, 1.5, math.nan])
def test_fpr_outside_open_unit_interval_is_a_usage_error(bad):
    with pytest.raises(UsageError, match=r"false-positive rate must lie in \(0, 1\)"):
        roc_summary([1.0], [0.0], fprs=(bad,))
    with pytest.raises(UsageError):
        check_fprs([0.01, bad])


def test_empty_side_is_a_usage_error():
    with pytest.raises(UsageError, match="0 non-members"):
        roc_summary([1.0, 2.0], [])


def test_key_labels():
    assert fpr_label(0.01) == "1pct" and fpr_label(0.001) == "0.1pct"

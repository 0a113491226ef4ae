"""The per-example likelihood-ratio attack: hand-computed ratios, power against a model that
trained on the examples, chance for a retrained model, and pools too small to fit."""

import math

import numpy as np
import pytest
import torch
from memorising_models import logits_of, memorise, random_data

from unlearn.attacks.confidence import logit_scaled_confidence
from unlearn.attacks.forget_quality import forget_quality
from unlearn.attacks.lira import fit_gaussians, likelihood_ratio_scores, ulira
from unlearn.errors import UsageError


def test_logit_scaled_confidence_hand_computed():
    logits = torch.tensor([[math.log(3.0), 0.0, -math.inf], [0.0, 0.0, 0.0]])
    # p = 3/4 -> log 3; p = 1/3 -> log(1/2)
    assert logit_scaled_confidence(logits, torch.tensor([0, 2])) == pytest.approx(
        [math.log(3), math.log(0.5)])
    # the challenge's 1e-45 guard bounds a certain output
    assert logit_scaled_confidence(torch.tensor([[1e4, 0.0]]), torch.tensor([0]))[0] == (
        pytest.approx(-math.log(1e-45)))


def test_likelihood_ratio_hand_computed():
    in_pool = np.array([[1.0], [3.0]])  # mean 2, variance 2
    out_pool = np.array([[-1.0], [-3.0]])  # mean -2, variance 2
    # equal variances: LLR = ((phi + 2)^2 - (phi - 2)^2) / (2 * 2) = 2 phi
    scores = likelihood_ratio_scores(np.array([[0.0], [2.0], [-1.0]]), in_pool, out_pool)
    assert scores.reshape(-1) == pytest.approx([0.0, 4.0, -2.0])


def test_global_variance_pools_the_examples():
    pool = np.array([[0.0, 0.0], [2.0, 4.0]])  # per-example variances 2 and 8
    mean, std = fit_gaussians(pool, global_variance=True)
    assert mean.tolist() == [1.0, 2.0] and std == pytest.approx([math.sqrt(5)] * 2)
    assert fit_gaussians(pool, global_variance=False)[1] == pytest.approx([math.sqrt(2),
                                                                           math.sqrt(8)])


@pytest.fixture(scope="module")
def pools():
    """phi on 150 'forget' examples of models that trained on them (originals: forget + retain)
    and of models that never did (retrained: retain only), each with its own seed."""
    forget_x, forget_y = random_data(150, seed=10)
    retain_x, retain_y = random_data(150, seed=11)
    both_x, both_y = torch.cat([forget_x, retain_x]), torch.cat([forget_y, retain_y])

    def phi(x, y, seed):
        return logit_scaled_confidence(logits_of(memorise(x, y, seed), forget_x), forget_y)

    originals = np.stack([phi(both_x, both_y, seed) for seed in range(7)])
    retrained = np.stack([phi(retain_x, retain_y, 100 + seed) for seed in range(10)])
    return originals, retrained


def test_lira_tells_a_model_that_trained_on_the_examples(pools):
    originals, retrained = pools
    # fit on 4 + 4; attack 3 held-out originals against 3 held-out retrained models
    result = ulira(originals[4:], retrained[4:7], originals[:4], retrained[:4])
    assert result["auc"] > 0.95
    assert result["tpr_at_fpr_1pct"] > 0.3


def test_lira_on_a_retrained_model_is_at_chance(pools):
    originals, retrained = pools
    result = ulira(retrained[7:8], retrained[4:5], originals[:4], retrained[:4])
    # two exchangeable models, 150 examples each: Mann-Whitney sd sqrt(301 / (12 * 150^2))
    # = 0.033 for independent points; the examples share each model's randomness, so allow
    # 6 sd
    tolerance = 6 * math.sqrt((150 + 150 + 1) / (12 * 150 * 150))
    assert abs(result["auc"] - 0.5) < tolerance


def test_forget_quality_scores_retraining_above_not_forgetting(pools):
    originals, retrained = pools
    not_forgotten = forget_quality(originals[:5], retrained[:5])["score"]
    retrained_again = forget_quality(retrained[5:10], retrained[:5])["score"]
    assert not_forgotten < 0.1 and retrained_again > not_forgotten + 0.2


def test_pools_too_small_or_mismatched_are_usage_errors(pools):
    originals, retrained = pools
    with pytest.raises(UsageError, match="'in'.*needs at least 2"):
        ulira(originals[4:], retrained[4:], originals[:1], retrained[:4])
    with pytest.raises(UsageError, match="'out'.*needs at least 2"):
        ulira(originals[4:], retrained[4:], originals[:4], retrained[:1])
    with pytest.raises(UsageError, match="different examples"):
        ulira(originals[4:, :10], retrained[4:], originals[:4], retrained[:4])
    with pytest.raises(UsageError, match=r"\(0, 1\)"):
        ulira(originals[4:], retrained[4:], originals[:4], retrained[:4], fprs=(0.0,))

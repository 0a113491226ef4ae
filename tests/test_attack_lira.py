"""The per-example likelihood-ratio attack: hand-computed ratios, power against a model that
trained on the examples, chance for a retrained model, and pools too small to fit."""

import math

import numpy as np
import pytest
import torch
from memorising_models import logits_of, memorise, random_data

from unlearn.errors import UsageError
from unlearn.eval.attacks import null as nulls
from unlearn.eval.attacks.confidence import logit_scaled_confidence
from unlearn.eval.attacks.forget_quality import forget_quality
from unlearn.eval.attacks.lira import (
    SHARED_BELOW,
    fit_gaussians,
    likelihood_ratio_scores,
    null_aucs,
    ulira,
)


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


def test_small_pools_share_one_variance_over_examples():
    pool = np.array([[0.0, 0.0], [2.0, 4.0]])  # per-example variances 2 and 8
    mean, std = fit_gaussians(pool)  # 2 models: below SHARED_BELOW, shared by default
    assert mean.tolist() == [1.0, 2.0] and std == pytest.approx([math.sqrt(5)] * 2)
    assert fit_gaussians(pool, "per-example")[1] == pytest.approx([math.sqrt(2), math.sqrt(8)])
    big = np.tile(pool, (SHARED_BELOW // 2, 1))  # 8 models: per-example variances by default
    assert len(set(np.round(fit_gaussians(big)[1], 9))) == 2
    assert len(set(np.round(fit_gaussians(big, "shared")[1], 9))) == 1
    with pytest.raises(UsageError, match="variance 'wide'"):
        fit_gaussians(pool, "wide")


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


@pytest.fixture(scope="module")
def study_pools():
    """phi on 150 forget examples at the pool sizes a verdict needs (8 "in", 8 "out", 4 held
    out): 9 originals (forget + retain) and 21 retrained models (retain only)."""
    forget_x, forget_y = random_data(150, seed=20)
    retain_x, retain_y = random_data(150, seed=21)
    both_x, both_y = torch.cat([forget_x, retain_x]), torch.cat([forget_y, retain_y])

    def phi(x, y, seed, shift=0.0):
        logits = logits_of(memorise(x, y, seed), forget_x)
        logits[torch.arange(len(forget_y)), forget_y] -= shift  # shift > 0: over-forgetting
        return logit_scaled_confidence(logits, forget_y)

    retrained = np.stack([phi(retain_x, retain_y, 200 + seed) for seed in range(21)])
    return {"originals": np.stack([phi(both_x, both_y, 300 + seed) for seed in range(9)]),
            "retrained": retrained, "fit": retrained[:8], "heldout": retrained[8:12],
            # a model that over-forgets: a retrained model pushed 3 nats below it on x
            "overforget": np.stack([phi(retain_x, retain_y, 400 + seed, shift=3.0)
                                    for seed in range(9)])}


def judged(target, shadows, pools):
    """(AUC, null interval) of one target model with the published "in" pool `shadows`."""
    auc = ulira(target, pools["heldout"], shadows, pools["fit"])["auc"]
    null = null_aucs(pools["heldout"], shadows, pools["fit"])
    return auc, nulls.same_n_interval([null], [1])[1:]


def test_published_ulira_at_verdict_pool_sizes(study_pools):
    p = study_pools
    # unlearned by retraining: its shadows are retrained models too; inside the null
    auc, null = judged(p["retrained"][12], p["retrained"][13:21], p)
    assert nulls.verdict(auc, null, has_power=True) == nulls.INDISTINGUISHABLE
    # the original (the baseline method): far above its null, so the attack has power here
    power, power_null = judged(p["originals"][8], p["originals"][:8], p)
    assert power > 0.95 and nulls.power_clears(power, power_null, higher_tells=True)
    # over-forgetting gives itself away too: AUC well above 0.5, as the paper's attack reads it
    auc, null = judged(p["overforget"][8], p["overforget"][:8], p)
    assert auc > 0.65 and nulls.verdict(auc, null, has_power=True) == nulls.DISTINGUISHABLE


def test_without_power_there_is_no_verdict():
    assert nulls.verdict(0.5, (0.4, 0.6), has_power=False) == nulls.NO_POWER
    assert not nulls.power_clears(0.65, (0.4, 0.6), higher_tells=True)  # within the margin
    assert nulls.power_clears(0.2, (0.35, 0.5), higher_tells=False)  # quality: below its null
    assert not nulls.power_clears(None, (0.4, 0.6), higher_tells=True)  # no baseline row


def test_the_same_n_interval_resamples_as_the_value_is_averaged():
    null, low, high = nulls.same_n_interval([[0.0, 1.0], [0.5]], [1, 3])
    assert null == 0.5 and (low, high) == (0.25, 0.75)  # cell 1 gives 0 or 1, cell 2 0.5
    many = nulls.same_n_interval([[0.0, 1.0]], [400])  # a mean of 400 draws: near 0.5
    assert 0.4 < many[1] < many[2] < 0.6

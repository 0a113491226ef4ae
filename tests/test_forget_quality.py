"""The NeurIPS 2023 challenge's forget-quality score on hand-made output distributions.

(The implementation was also checked, outside the test suite, against a CPU port of the
challenge's released evaluation code: identical epsilons on random, tied and peaky samples for
N = 3 to 16.)
"""

import math

import numpy as np
import pytest

from unlearn.errors import UsageError
from unlearn.eval.attacks.forget_quality import (
    EPSILON_CAP,
    bin_points,
    example_epsilon,
    forget_quality,
    quality_null,
)

DELTA = 1e-5


def test_identical_samples_give_epsilon_zero():
    same = np.array([0.0, 1.0, 2.0, 3.0])
    # every rule calls k of each sample positive: FPR = k/4, FNR = 1 - k/4, so
    # log(1 - delta - FPR) - log(FNR) < 0 and the clip at 0 wins
    assert example_epsilon(same, same.copy()) == 0.0


def test_partly_separated_samples_hand_computed():
    unlearned = np.array([0.0, 1.0, 2.0, 3.0])
    retrained = np.array([2.5, 4.0, 5.0, 6.0])
    # no rule separates them; the best keeps 3 of one sample and 1 of the other on its side
    # (threshold between 2.5 and 3, or the interval [1, 3]): FPR = FNR = 1/4
    expected = math.log(1 - DELTA - 0.25) - math.log(0.25)
    assert example_epsilon(unlearned, retrained) == pytest.approx(expected, rel=1e-6)


def test_separated_samples_get_the_cap():
    assert example_epsilon(np.array([0.0, 0.1, 0.2]), np.array([5.0, 5.1, 5.2])) == EPSILON_CAP


def test_a_near_constant_output_gets_the_cap():
    # range 0.001 against 2: below 1 % of the wider range
    assert example_epsilon(np.array([1.0, 1.0, 1.001]), np.array([0.0, 1.0, 2.0])) == EPSILON_CAP


def test_bins_halve_up_to_ceil_log_n_minus_one():
    assert bin_points(3) == [(0.5, 1.0), (1.0, 0.5)]  # ceil(log 2) = 1
    assert bin_points(8) == [(0.5, 1.0), (1.0, 0.5), (1.5, 0.25), (2.0, 0.125)]  # ceil(log 7)
    assert bin_points(513)[-1] == (7.0, 2.0 ** -13)  # ceil(log 512) = 7: the challenge's N


def test_score_averages_the_bin_points():
    unlearned = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 0.1], [2.0, 2.0, 0.2], [3.0, 3.0, 0.3]])
    retrained = np.array([[0.0, 2.5, 5.0], [1.0, 4.0, 5.1], [2.0, 5.0, 5.2], [3.0, 6.0, 5.3]])
    result = forget_quality(unlearned, retrained)
    # epsilons 0, log(3) = 1.0986 and 50; N = 4: bins of 1, 1/2, 1/4, 1/8 up to 2
    assert result["epsilons"][0] == 0.0 and result["epsilons"][2] == EPSILON_CAP
    assert result["score"] == pytest.approx((1 + 0.25 + 0) / 3)
    assert result["num_models"] == 4


def test_bad_shapes_and_too_few_models_are_usage_errors():
    with pytest.raises(UsageError, match="at least 3"):
        forget_quality(np.zeros((2, 5)), np.ones((2, 5)))
    with pytest.raises(UsageError, match="same examples"):
        forget_quality(np.zeros((4, 5)), np.ones((4, 6)))
    with pytest.raises(UsageError, match="N unlearned and N retrained"):
        forget_quality(np.zeros((4, 5)), np.ones((5, 5)))


@pytest.mark.parametrize("num_models, published", [(3, 0.346), (8, 0.19)])
def test_two_samples_of_one_distribution_score_the_null_not_one(num_models, published):
    rng = np.random.default_rng(num_models)
    heldout, retrained = rng.normal(size=(2, num_models, 400))
    null = quality_null(heldout, retrained, resamples=500)
    points = forget_quality(heldout, retrained)["points"]
    error = points.std(ddof=1) / math.sqrt(len(points))  # examples drawn independently
    assert abs(null["score"] - published) < 4 * error
    assert null["low"] < null["score"] < null["high"] and null["num_models"] == num_models

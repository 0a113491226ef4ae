"""The study's statistics on hand-made numbers: the noise floor and its interval, the verdict,
paired differences with Wilcoxon p, ToW and ranks."""

import pytest

from unlearn.errors import UsageError
from unlearn.report import stats
from unlearn.report.stats import Estimate


def test_mean_abs_pairwise_difference():
    # pairs of 1, 2, 4: |1-2| = 1, |1-4| = 3, |2-4| = 2 -> mean 2
    assert stats.mean_abs_pairwise_difference([1, 2, 4]) == pytest.approx(2)
    assert stats.mean_abs_pairwise_difference([5, 5]) == 0


def test_floor_over_cells_and_its_interval():
    # cell 1: retrains 1, 2, 4 -> 2; cell 2: retrains 10, 10 -> 0; floor = mean 1.
    # Resampling two cells: means 0, 1, 2 with chance 1/4, 1/2, 1/4 -> 95 % interval [0, 2].
    floor = stats.noise_floor([[1, 2, 4], [10, 10]])
    assert floor.mean == pytest.approx(1) and floor.n == 2
    assert (floor.low, floor.high) == pytest.approx((0, 2))


def test_floor_of_one_cell_resamples_its_pairs():
    floor = stats.noise_floor([[1, 2, 4]])  # pairs 1, 3, 2
    assert floor.mean == pytest.approx(2) and floor.n == 1
    assert 1 <= floor.low <= 2 <= floor.high <= 3


def test_equal_cells_give_a_point_interval():
    floor = stats.noise_floor([[0, 1, 3], [5, 6, 8]])  # both cells: (1 + 3 + 2) / 3
    assert (floor.mean, floor.low, floor.high) == pytest.approx((2, 2, 2))


@pytest.mark.parametrize("cells", [[[1, 2], [3]], [[7]], []])
def test_floor_needs_two_retrains_per_cell(cells):
    with pytest.raises(UsageError, match="noise floor needs") as error:
        stats.noise_floor(cells, where=" (my table)")
    assert "\n" not in str(error.value)
    if cells:
        assert "at least 2 retrains per cell (my table)" in str(error.value)


def test_verdict_uses_the_upper_end_of_the_floor():
    floor = Estimate(mean=1.0, low=0.5, high=2.0, n=3)
    assert stats.floor_verdict(0.0, floor) == stats.WITHIN
    assert stats.floor_verdict(2.0, floor) == stats.WITHIN
    assert stats.floor_verdict(2.01, floor) == stats.OUTSIDE
    # no interval: the floor itself; a zero floor still admits a zero gap
    assert stats.floor_verdict(1.5, Estimate(1.0, None, None, 1)) == stats.OUTSIDE
    assert stats.floor_verdict(0.0, Estimate(0.0, 0.0, 0.0, 2)) == stats.WITHIN


def test_mean_ci():
    assert stats.mean_ci([3.0]) == Estimate(3.0, None, None, 1)
    assert stats.mean_ci([1, 1, 1]) == Estimate(1.0, 1.0, 1.0, 3)
    estimate = stats.mean_ci([0, 10])  # resample means 0, 5, 10 -> [0, 10]
    assert (estimate.mean, estimate.low, estimate.high) == pytest.approx((5, 0, 10))
    assert estimate.text() == "5.00 [0.00, 10.00]"
    assert Estimate(-1.5, None, None, 1).text(signed=True) == "-1.50"


def test_paired_difference_and_wilcoxon():
    # differences 2..7, all positive: exact two-sided signed-rank p = 2 / 2^6
    paired = stats.paired_difference([3, 5, 7, 9, 11, 13], [1, 2, 3, 4, 5, 6])
    assert paired.diff.mean == pytest.approx(4.5) and paired.diff.n == 6
    assert paired.diff.low < 4.5 < paired.diff.high
    assert paired.p == pytest.approx(2 / 64)
    same = stats.paired_difference([1, 2, 3], [1, 2, 3])
    assert same.diff == Estimate(0.0, 0.0, 0.0, 3) and same.p is None


def test_tow():
    # forget 90 vs 100, retain 80 vs 80, test 100 vs 90: 0.9 * 1 * 0.9
    assert stats.tow([90, 80, 100], [100, 80, 90]) == pytest.approx(0.81)
    assert stats.tow([12.5, 99, 70], [12.5, 99, 70]) == 1


def test_mean_ranks():
    # unit 1: a 1, b 2, c 3; unit 2 (b and c tie at 3): a 3, b 1.5, c 1.5
    scores = {"a": [1, 5], "b": [2, 3], "c": [3, 3]}
    assert stats.mean_ranks(scores) == {"a": 2.0, "b": 1.75, "c": 2.25}
    assert stats.mean_ranks(scores, lower_is_better=False) == {"a": 2.0, "b": 2.25, "c": 1.75}

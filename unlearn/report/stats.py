"""The statistics of a study: intervals, the retrain noise floor, paired tests, ToW, ranks.

Pure functions on numbers; `unlearn/report/noise_floor.py` feeds them the cells of a results
file. Every interval is a 95 % percentile bootstrap (scipy.stats.bootstrap, 9,999 resamples, a
fixed generator so the report is reproducible). Percentile rather than BCa: studies have few
units (3 original models × 3 forget sets is 9), where BCa's acceleration estimate often fails;
with every value equal the interval is that value, and a single value has no interval.
"""

from __future__ import annotations

import itertools
import math
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from unlearn.errors import UsageError

CONFIDENCE = 0.95
RESAMPLES = 9999
SEED = 0


@dataclass(frozen=True)
class Estimate:
    """A mean with its 95 % interval over `n` units (low/high None when n < 2)."""

    mean: float
    low: float | None
    high: float | None
    n: int

    def text(self, signed: bool = False) -> str:
        mean = f"{self.mean:+.2f}" if signed else f"{self.mean:.2f}"
        if self.low is None:
            return mean
        return f"{mean} [{self.low:.2f}, {self.high:.2f}]"


def bootstrap_ci(values: Sequence[float], statistic=np.mean) -> tuple[float | None, float | None]:
    """95 % percentile-bootstrap interval of `statistic` over `values` (None, None if < 2)."""
    data = np.asarray(values, dtype=float)
    if len(data) < 2:
        return None, None
    if np.all(data == data[0]):  # every resample is the same; scipy would warn
        value = float(statistic(data))
        return value, value
    result = stats.bootstrap((data,), statistic, confidence_level=CONFIDENCE,
                             n_resamples=RESAMPLES, method="percentile",
                             rng=np.random.default_rng(SEED))
    interval = result.confidence_interval
    return float(interval.low), float(interval.high)


def mean_ci(values: Sequence[float]) -> Estimate:
    """The mean of `values` with its bootstrap interval."""
    if not len(values):
        raise ValueError("mean_ci of no values")
    low, high = bootstrap_ci(values)
    return Estimate(statistics.fmean(values), low, high, len(values))


def mean_abs_pairwise_difference(values: Sequence[float]) -> float:
    """Mean of |a − b| over all unordered pairs of `values` (needs at least two)."""
    if len(values) < 2:
        raise ValueError("a pairwise difference needs at least two values")
    return statistics.fmean(abs(a - b) for a, b in itertools.combinations(values, 2))


def noise_floor(cells: Sequence[Sequence[float]], *, where: str = "") -> Estimate:
    """How far two independent retrains of the same cell lie apart on one metric.

    cells: for each cell (original model × forget set), the metric of each of its K retrains.
    The floor is the mean over cells of each cell's mean absolute pairwise difference. Its
    interval resamples the cells when there are at least two (they are independent); a single
    cell has only its pairs to resample, which are not independent (three retrains give three
    pairs sharing members), so that interval is too narrow and is only a rough guide.
    A cell with fewer than two retrains has no spread: UsageError naming `where`.
    """
    if not cells:
        raise UsageError(f"a noise floor needs retrains{where}; there are none")
    short = [len(cell) for cell in cells if len(cell) < 2]
    if short:
        raise UsageError(f"a noise floor needs at least 2 retrains per cell{where}; "
                         f"a cell has {short[0]}")
    per_cell = [mean_abs_pairwise_difference(cell) for cell in cells]
    if len(per_cell) > 1:
        return mean_ci(per_cell)
    pairs = [abs(a - b) for a, b in itertools.combinations(cells[0], 2)]
    low, high = bootstrap_ci(pairs)
    return Estimate(per_cell[0], low, high, 1)


WITHIN, OUTSIDE = "within floor", "outside floor"


def floor_verdict(abs_gap: float, floor: Estimate) -> str:
    """'within floor' when the method's mean absolute gap to retrain is no larger than the
    upper end of the floor's interval (the floor itself when it has no interval), else
    'outside floor'. A gap of exactly 0 (retrain against itself) is always within."""
    limit = floor.high if floor.high is not None else floor.mean
    return WITHIN if abs_gap <= limit + 1e-12 else OUTSIDE


@dataclass(frozen=True)
class Paired:
    """A method minus a reference over matched units: mean difference, interval, Wilcoxon p."""

    diff: Estimate
    p: float | None  # two-sided Wilcoxon signed-rank; None when every difference is 0 or n < 1


def paired_difference(mine: Sequence[float], theirs: Sequence[float]) -> Paired:
    """Mean of mine − theirs (matched by position), its interval and a Wilcoxon signed-rank p."""
    if len(mine) != len(theirs) or not mine:
        raise ValueError("paired_difference needs two equally long, non-empty sequences")
    diffs = [a - b for a, b in zip(mine, theirs)]
    p = None
    if any(d != 0 for d in diffs):
        with warnings.catch_warnings():  # scipy warns about small samples: p is exact anyway
            warnings.simplefilter("ignore")
            p = float(stats.wilcoxon(diffs).pvalue)
        p = None if math.isnan(p) else p
    return Paired(mean_ci(diffs), p)


def tow(method_accuracies: Sequence[float], retrain_accuracies: Sequence[float]) -> float:
    """Tug-of-war score (Zhao et al. 2024, "What makes unlearning hard and what to do about
    it"): the product over accuracy sets (forget, retain, test) of 1 − |method − retrain| / 100,
    accuracies in percent. 1 means the method matches retrain on every set."""
    if len(method_accuracies) != len(retrain_accuracies):
        raise ValueError("tow needs one retrain accuracy per method accuracy")
    return math.prod(1.0 - abs(m - r) / 100.0 for m, r in zip(method_accuracies,
                                                              retrain_accuracies))


def mean_ranks(scores: dict[str, Sequence[float]], *, lower_is_better: bool = True
               ) -> dict[str, float]:
    """Mean rank of each method over units (rank 1 = best; ties share the average rank).

    scores: method -> one score per unit, every method scored on the same units in order.
    """
    methods = list(scores)
    if not methods:
        return {}
    table = np.asarray([scores[m] for m in methods], dtype=float)  # [methods, units]
    ranks = stats.rankdata(table if lower_is_better else -table, axis=0)
    return {m: float(r) for m, r in zip(methods, ranks.mean(axis=1))}

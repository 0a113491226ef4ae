"""The NeurIPS 2023 machine-unlearning challenge's forgetting-quality score.

Source: Triantafillou et al. 2024, "Are we making progress in unlearning? Findings from the
first NeurIPS unlearning competition", arXiv:2406.09073, section 3 (evaluation), and the
evaluation code released with it (github.com/google-deepmind/unlearning_evaluation, metric.py),
which this module re-implements decision for decision:

1. For each forget example, the N unlearned and N retrained models' logit-scaled confidences
   (attacks.confidence) are two samples of size N. The one with the larger median is called
   "positive" (for the single-threshold rules below).
2. If the narrower sample's range is below 1 % of the wider one's, the example gets the cap
   epsilon = 50 (a near-constant output is taken as a give-away).
3. Otherwise two families of decision rules are tried:
   * double threshold: "positive" = the peakier sample (smaller range; the first on a tie);
     predicted positive iff left <= phi <= right, with right on a grid of ceil(100 * span)
     points over [min_peaky + width - 2, max_peaky + 2] (width = the peaky range) and, for
     each right, left on 400 points over [right - width - 2, right - width + 2];
   * single threshold: predicted positive iff phi >= t, t on a float32 grid of
     ceil(100 * span) points over the range of both samples together.
   Each rule gives FPR / FNR (float32 rates over the N models). A rule with FPR = FNR = 0
   gives epsilon = inf; other rules with FPR or FNR = 0 are discarded (too few samples to
   tell); the rest give max(log(1 - delta - FPR) - log FNR, log(1 - delta - FNR) - log FPR),
   clipped below at 0 (a NaN side, from log of a negative, is ignored). The example's epsilon
   is the largest over rules, clipped to [0, 50]; delta = 1e-5.
4. Epsilons are binned in steps of 0.5 from 0: bin k earns 2^-k points, for the bins that end
   at or below ceil(log(N - 1)); an epsilon past the last bin earns 0. The score is the mean
   over examples: 0 = always told apart. 1 is NOT what retraining gets at small N: two samples
   of the same distribution score about 0.35 at N = 3 and 0.19 at N = 8, since a few models
   fall apart by chance. `quality_null` gives that value, under the same retrained sample and
   N, beside which a method's score is read.

Every rule's rates depend on the threshold only through the numbers (k_pos, k_neg) of the two
samples it calls positive, so each example's epsilon is the maximum over the distinct count
pairs the challenge's grids reach, which is the same number at a fraction of the work.
The challenge used N = 512; small N can only resolve small epsilons (N = 8: bins up to 2).
"""

import math

import numpy as np
import torch
from scipy.stats import bootstrap

from unlearn.errors import UsageError

DELTA = 1e-05
EPSILON_CAP = 50.0
THRESHOLDS_PER_UNIT = 100
BUFFER = 2.0
BUCKET = 0.5
MIN_MODELS = 3  # ceil(log(N - 1)) is 0 for N = 2: no bin, every score 0


def _double_threshold_pairs(peaky: np.ndarray, wide: np.ndarray) -> tuple[np.ndarray, ...]:
    """Distinct (k_peaky, k_wide) counts inside [left, right] over the double-threshold grid."""
    width = peaky.max() - peaky.min()
    low = peaky.min() + width - BUFFER
    high = peaky.max() + BUFFER
    rights = np.linspace(low, high, num=int(np.ceil((high - low) * THRESHOLDS_PER_UNIT)))
    num_left = int(np.ceil(2 * BUFFER * THRESHOLDS_PER_UNIT))
    # one row of left thresholds per right one; equal, value for value, to np.linspace called
    # on each right threshold in turn, as the challenge's code does
    lefts = np.linspace(rights - width - BUFFER, rights - width + BUFFER, num=num_left,
                        axis=1).reshape(-1)
    rights = np.repeat(rights, num_left)

    def inside(sample):  # how many of `sample` lie in [left, right], per rule
        ordered = np.sort(sample)
        count = (np.searchsorted(ordered, rights, side="right")
                 - np.searchsorted(ordered, lefts, side="left"))
        return np.maximum(count, 0)  # left > right: an empty interval

    return inside(peaky), inside(wide)


def _single_threshold_pairs(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, ...]:
    """Distinct (k_pos, k_neg) counts at or above t over the single-threshold grid."""
    both = torch.from_numpy(np.concatenate([positive, negative]))
    low, high = both.min(), both.max()
    steps = int(torch.ceil((high - low) * THRESHOLDS_PER_UNIT))
    # torch.linspace's default float32 grid, as the challenge's code builds it
    grid = torch.linspace(low, high, steps).double().numpy()

    def at_or_above(sample):
        return len(sample) - np.searchsorted(np.sort(sample), grid, side="left")

    return at_or_above(positive), at_or_above(negative)


def _epsilon_of_counts(pairs: tuple[np.ndarray, np.ndarray], num_pos: int, num_neg: int) -> float:
    """Largest epsilon over the rules giving these counts (k_pos [rules], k_neg [rules]) of
    each sample's models called positive; NaN if every rule is discarded."""
    # the distinct pairs, through a count per pair code (linear, unlike sorting 160,000 rows)
    codes = np.flatnonzero(np.bincount(pairs[0] * (num_neg + 1) + pairs[1]))
    k_pos, k_neg = codes // (num_neg + 1), codes % (num_neg + 1)
    # float32 rates, as the challenge's torch.mean over 0/1 float32 predictions gives them
    tpr = (k_pos / num_pos).astype(np.float32)
    fnr = ((num_pos - k_pos) / num_pos).astype(np.float32)
    fpr = (k_neg / num_neg).astype(np.float32)
    tnr = ((num_neg - k_neg) / num_neg).astype(np.float32)
    if np.any((fpr + fnr == 0) & (tpr + tnr == 2)):
        return math.inf  # one rule separates the samples perfectly
    usable = fpr * fnr != 0
    if not usable.any():
        return math.nan
    fpr, fnr = fpr[usable], fnr[usable]
    with np.errstate(invalid="ignore", divide="ignore"):
        sides = np.stack([np.log(1 - DELTA - fpr) - np.log(fnr),
                          np.log(1 - DELTA - fnr) - np.log(fpr)])
        all_nan = np.isnan(sides).all(axis=0)
        values = np.clip(np.nanmax(np.where(all_nan, 0, sides), axis=0), 0, None)
    values = values[~all_nan]
    return float(values.max()) if len(values) else math.nan


def example_epsilon(unlearned: np.ndarray, retrained: np.ndarray) -> float:
    """Epsilon of one forget example from its N unlearned and N retrained confidences."""
    retrain_positive = np.median(retrained) > np.median(unlearned)
    positive, negative = (retrained, unlearned) if retrain_positive else (unlearned, retrained)
    spans = sorted([np.ptp(positive), np.ptp(negative)])
    if spans[1] > 0 and spans[0] / spans[1] < 0.01:
        return EPSILON_CAP
    # double-threshold rules: the peakier sample is "positive" (the first on a tie of ranges)
    if np.ptp(positive) >= np.ptp(negative):
        peaky, wide = negative, positive
    else:
        peaky, wide = positive, negative
    epsilons = [_epsilon_of_counts(_double_threshold_pairs(peaky, wide), len(peaky), len(wide)),
                _epsilon_of_counts(_single_threshold_pairs(positive, negative),
                                   len(positive), len(negative))]
    epsilons = [value for value in epsilons if not math.isnan(value)]
    if not epsilons:
        raise ValueError("every decision rule had a zero FPR or FNR; no epsilon")
    return min(max(epsilons), EPSILON_CAP)


def bin_points(num_models: int) -> list[tuple[float, float]]:
    """[(bin end, points)]: bins of 0.5 from 0 earning 1, 1/2, 1/4, ... up to ceil(log(N-1))."""
    last = math.ceil(math.log(num_models - 1))
    bins, start, points = [], 0.0, 1.0
    while start + BUCKET <= last:
        bins.append((start + BUCKET, points))
        start, points = start + BUCKET, points / 2
    return bins


def forget_quality(unlearned_phi, retrained_phi) -> dict:
    """{'score': mean points, 'points': [n], 'epsilons': [n], 'num_models': N} from [N, n]
    confidences of N unlearned and N retrained models on the same n forget examples (N >= 3)."""
    unlearned = np.asarray(unlearned_phi, dtype=np.float64)
    retrained = np.asarray(retrained_phi, dtype=np.float64)
    if unlearned.ndim != 2 or retrained.ndim != 2 or unlearned.shape != retrained.shape:
        raise UsageError(f"forget quality needs N unlearned and N retrained models on the same "
                         f"examples; got shapes {unlearned.shape} and {retrained.shape}")
    num_models = unlearned.shape[0]
    if num_models < MIN_MODELS:
        raise UsageError(f"forget quality needs at least {MIN_MODELS} unlearned and "
                         f"{MIN_MODELS} retrained models; got {num_models}")
    if unlearned.shape[1] == 0 or not (np.isfinite(unlearned).all()
                                       and np.isfinite(retrained).all()):
        raise ValueError("forget quality needs finite confidences of at least one example")
    epsilons = np.array([example_epsilon(unlearned[:, i], retrained[:, i])
                         for i in range(unlearned.shape[1])])
    bins = bin_points(num_models)
    points = np.zeros(len(epsilons))
    for end, value in reversed(bins):  # the first bin whose end exceeds epsilon wins
        points[epsilons < end] = value
    return {"score": float(points.mean()), "points": points, "epsilons": epsilons,
            "num_models": num_models}


def quality_null(heldout_retrained_phi, retrained_phi, *, level: float = 0.95,
                 resamples: int = 2000, seed: int = 0) -> dict:
    """The score N held-out retrained models [N, n] get against the same N retrained ones a
    method is scored against: {'score', 'low', 'high', 'num_models'}, low-high the percentile
    bootstrap interval over examples (scipy.stats.bootstrap) of the mean points. The
    interval holds the models fixed: it is the spread over examples, not over model draws."""
    null = forget_quality(heldout_retrained_phi, retrained_phi)
    points = null["points"]
    if np.ptp(points) == 0:  # every example the same points: no spread to resample
        low = high = float(points[0])
    else:
        interval = bootstrap((points,), np.mean, confidence_level=level, n_resamples=resamples,
                             method="percentile", random_state=seed).confidence_interval
        low, high = float(interval.low), float(interval.high)
    return {"score": null["score"], "low": low, "high": high, "num_models": null["num_models"]}

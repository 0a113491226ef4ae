"""The null beside a per-example attack's value, and the verdict it allows.

A per-example attack's value means nothing alone: at small pools and N, retraining itself does
not get the "ideal" value (U-LiRA AUC 0.5, forgetting quality 1). The null is the value that
held-out retrained models get under the same pools and the same N (attacks.lira.null_aucs,
attacks.forget_quality.quality_null), with an interval. A method is "indistinguishable from
retraining" only where its value lies inside that interval, and only where the attack has
power: the baseline method's value (the original itself) lies beyond the baseline's own null
by POWER_MARGIN; otherwise the verdict is "no power here".

The pool sizes a verdict needs (VERDICT_POOL "in" and "out" models, VERDICT_HELDOUT held-out
retrains) come from scripts/null_spread.py: in its Gaussian simulation the null AUC's SD for
one target reaches about 0.05 at 8 + 8 with 4 held out when models differ by an offset of half
the per-example noise; it is the target's own offset, not the pools, that keeps it there, so
averaging over runs and cells narrows the interval further.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LEVEL = 0.95
RESAMPLES = 2000
POWER_MARGIN = 0.1  # how far beyond its null the baseline's value must lie (AUC or score)
VERDICT_POOL = 8  # "in" and "out" models a verdict needs
VERDICT_HELDOUT = 4  # held-out retrained models a verdict needs
INDISTINGUISHABLE = "indistinguishable from retraining"
DISTINGUISHABLE = "distinguishable from retraining"
NO_POWER = "no power here"


def same_n_interval(null_by_cell: Sequence[Sequence[float]], counts: Sequence[int], *,
                    level: float = LEVEL, resamples: int = RESAMPLES,
                    seed: int = 0) -> tuple[float, float, float]:
    """(null, low, high) of a value averaged as a method's is: the mean over cells of the mean
    of counts[c] models in cell c. null: the mean over cells of each cell's null values; low /
    high: the percentile interval of that average with counts[c] values drawn with
    replacement from cell c's null values, `resamples` times."""
    rng = np.random.default_rng(seed)
    cells = [np.asarray(values, dtype=np.float64) for values in null_by_cell]
    if not cells or any(len(values) == 0 for values in cells):
        raise ValueError("every cell needs null values")
    draws = np.mean([rng.choice(values, size=(resamples, count)).mean(axis=1)
                     for values, count in zip(cells, counts, strict=True)], axis=0)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(np.mean([values.mean() for values in cells])), float(low), float(high)


def power_clears(power: float | None, null_interval: tuple[float, float],
                 higher_tells: bool) -> bool:
    """Whether the baseline's value lies beyond its null by POWER_MARGIN, on the side where
    the attack tells models apart (higher for U-LiRA's AUC, lower for forgetting quality)."""
    if power is None:
        return False
    low, high = null_interval
    return power >= high + POWER_MARGIN if higher_tells else power <= low - POWER_MARGIN


def verdict(value: float, null_interval: tuple[float, float], has_power: bool) -> str:
    """The words a report prints beside a method's value."""
    if not has_power:
        return NO_POWER
    low, high = null_interval
    return INDISTINGUISHABLE if low <= value <= high else DISTINGUISHABLE

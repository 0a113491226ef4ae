"""Per-example likelihood-ratio attack against unlearning (U-LiRA style; Hayes et al. 2024,
"Inexact unlearning needs more careful evaluations to avoid a false sense of privacy").

For every forget example x, its logit-scaled confidence phi (attacks.confidence) is modelled
by two Gaussians: "in", fitted on a pool of ORIGINAL models (which trained on x), and "out",
fitted on a pool of RETRAINED models (which never saw x). A model's score on x is the log
likelihood ratio log N(phi; in) - log N(phi; out): large means "this model still behaves as if
it trained on x".

The attack's question is whether an unlearned model can be told from a retrained one. Its ROC
takes the unlearned models' scores as positives and the scores of HELD-OUT retrained models
(retrained models not used to fit the "out" Gaussians, so they are judged like the unlearned
ones, by a fit that never saw them) as negatives, pooled over examples and models. AUC 0.5:
unlearned and retrained are indistinguishable; AUC 1: every unlearned model gives itself away.
The attack's power is the same ROC with held-out ORIGINAL models as positives (originals not
in the "in" pool, and ideally not the unlearned models' starting points).

Variance: with a few models per pool, per-example variances are too noisy to trust, so by
default each pool's variance is shared across examples (the pooled mean of per-example
variances, ddof 1), as LiRA (Carlini et al. 2022) does with few shadow models; per-example
variances are an option (global_variance=False).
"""

from collections.abc import Sequence

import numpy as np
from scipy.stats import norm

from unlearn.attacks.roc import DEFAULT_FPRS, roc_summary
from unlearn.errors import UsageError

MIN_POOL = 2  # a variance needs two models
MIN_STD = 1e-6  # guard against a pool whose outputs are identical


def _as_matrix(values, name: str, need: int) -> np.ndarray:
    """[models, examples] float64; UsageError when fewer than `need` models."""
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[0] < need:
        count = matrix.shape[0] if matrix.ndim == 2 else 0
        raise UsageError(f"the {name} has {count} model(s); the likelihood-ratio attack needs "
                         f"at least {need}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"the {name}'s confidences are not finite")
    return matrix


def fit_gaussians(pool: np.ndarray, global_variance: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per-example mean [n] and standard deviation [n] of a pool's phi [models, n]."""
    mean = pool.mean(axis=0)
    variance = pool.var(axis=0, ddof=1)
    if global_variance:
        variance = np.full_like(variance, variance.mean())
    return mean, np.maximum(np.sqrt(variance), MIN_STD)


def likelihood_ratio_scores(phi, in_pool, out_pool, *,
                            global_variance: bool = True) -> np.ndarray:
    """Log likelihood ratio (in vs out) of each model's phi on each example: [M, n] -> [M, n].

    phi: the attacked models' confidences [M, n] (or [n]); in_pool / out_pool: [I, n] / [O, n]
    from original / retrained models, I and O at least 2.
    """
    in_pool = _as_matrix(in_pool, "original ('in') pool", MIN_POOL)
    out_pool = _as_matrix(out_pool, "retrained ('out') pool", MIN_POOL)
    phi = _as_matrix(phi, "set of attacked models", 1)
    if not in_pool.shape[1] == out_pool.shape[1] == phi.shape[1]:
        raise UsageError(f"the pools and the attacked models cover different examples "
                         f"({in_pool.shape[1]}, {out_pool.shape[1]}, {phi.shape[1]})")
    mean_in, std_in = fit_gaussians(in_pool, global_variance)
    mean_out, std_out = fit_gaussians(out_pool, global_variance)
    return norm.logpdf(phi, mean_in, std_in) - norm.logpdf(phi, mean_out, std_out)


def ulira(target_phi, heldout_retrain_phi, in_pool, out_pool, *,
          fprs: Sequence[float] = DEFAULT_FPRS,
          global_variance: bool = True) -> dict[str, float]:
    """{'auc', 'tpr_at_fpr_<x>pct'...}: targets' scores (positives) against held-out retrained
    models' scores (negatives), every (model, example) pair one point.

    target_phi: [U, n] unlearned models (or held-out originals, for the power);
    heldout_retrain_phi: [R, n] retrained models NOT in out_pool.
    """
    positives = likelihood_ratio_scores(target_phi, in_pool, out_pool,
                                        global_variance=global_variance)
    heldout = _as_matrix(heldout_retrain_phi, "set of held-out retrained models", 1)
    negatives = likelihood_ratio_scores(heldout, in_pool, out_pool,
                                        global_variance=global_variance)
    return roc_summary(positives.reshape(-1), negatives.reshape(-1), fprs)

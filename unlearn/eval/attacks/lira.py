"""Per-example likelihood-ratio attack against unlearning: U-LiRA as published (Hayes et al.
2024, "Inexact unlearning needs more careful evaluations to avoid a false sense of privacy",
arXiv:2403.01218).

For every forget example x, its logit-scaled confidence phi (attacks.confidence) is modelled
by two Gaussians: "in", fitted on shadow models that trained on x AND WERE THEN UNLEARNED BY
THE METHOD UNDER TEST, and "out", fitted on retrained models (which never saw x). A model's
score on x is the log likelihood ratio log N(phi; in) - log N(phi; out): large means "this
model looks like the method's output rather than like a retrained model".

The question the attack asks is whether the method's output can be told from retraining. Its
ROC takes the unlearned models' scores as positives and the scores of HELD-OUT retrained models
(not used to fit "out", so they are judged like the unlearned ones, by a fit that never saw
them) as negatives, pooled over examples and models. A method that leaves x remembered and one
that over-forgets both move its "in" Gaussian away from "out", and both give AUC above 0.5.
Chance is not exactly 0.5 at small pools: `null_aucs` gives the value held-out retrained
models get under the same Gaussians, which is what a method's value is compared with.

With "in" fitted on ORIGINAL models instead (`in_pool` = originals), the same computation
measures how original-like a model is; applied to held-out originals it is the attack's power
(the baseline method's own U-LiRA is exactly that: its "unlearned" models are the originals).
It says nothing on its own about whether an unlearned model can be told from a retrained one.

Variance: with few models per pool, per-example variances are too noisy to trust (two models
give one degree of freedom), so a pool of fewer than SHARED_BELOW models shares one variance
across examples (the mean of the per-example variances, ddof 1), as LiRA (Carlini et al. 2022)
does with few shadow models; variance="per-example" or "shared" forces either.
"""

from collections.abc import Sequence

import numpy as np
from scipy.stats import norm

from unlearn.errors import UsageError
from unlearn.eval.attacks.roc import DEFAULT_FPRS, roc_summary

MIN_POOL = 2  # a variance needs two models
MIN_STD = 1e-6  # guard against a pool whose outputs are identical
SHARED_BELOW = 8  # pools smaller than this share one variance over examples by default
VARIANCES = ("auto", "shared", "per-example")


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


def shares_variance(pool_size: int, variance: str = "auto") -> bool:
    """Whether a pool of this size shares one variance over examples."""
    if variance not in VARIANCES:
        raise UsageError(f"variance {variance!r}: one of {', '.join(VARIANCES)}")
    return variance == "shared" or (variance == "auto" and pool_size < SHARED_BELOW)


def fit_gaussians(pool: np.ndarray, variance: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Per-example mean [n] and standard deviation [n] of a pool's phi [models, n]."""
    mean = pool.mean(axis=0)
    per_example = pool.var(axis=0, ddof=1)
    if shares_variance(len(pool), variance):
        per_example = np.full_like(per_example, per_example.mean())
    return mean, np.maximum(np.sqrt(per_example), MIN_STD)


def likelihood_ratio_scores(phi, in_pool, out_pool, *, variance: str = "auto") -> np.ndarray:
    """Log likelihood ratio (in vs out) of each model's phi on each example: [M, n] -> [M, n].

    phi: the attacked models' confidences [M, n] (or [n]); in_pool / out_pool: [I, n] / [O, n],
    I and O at least 2.
    """
    in_pool = _as_matrix(in_pool, "'in' pool", MIN_POOL)
    out_pool = _as_matrix(out_pool, "retrained ('out') pool", MIN_POOL)
    phi = _as_matrix(phi, "set of attacked models", 1)
    if not in_pool.shape[1] == out_pool.shape[1] == phi.shape[1]:
        raise UsageError(f"the pools and the attacked models cover different examples "
                         f"({in_pool.shape[1]}, {out_pool.shape[1]}, {phi.shape[1]})")
    mean_in, std_in = fit_gaussians(in_pool, variance)
    mean_out, std_out = fit_gaussians(out_pool, variance)
    return norm.logpdf(phi, mean_in, std_in) - norm.logpdf(phi, mean_out, std_out)


def ulira(target_phi, heldout_retrain_phi, in_pool, out_pool, *,
          fprs: Sequence[float] = DEFAULT_FPRS, variance: str = "auto") -> dict[str, float]:
    """{'auc', 'tpr_at_fpr_<x>pct'...}: targets' scores (positives) against held-out retrained
    models' scores (negatives), every (model, example) pair one point.

    target_phi: [U, n] unlearned models (or held-out originals with an original "in" pool, for
    the power); heldout_retrain_phi: [R, n] retrained models NOT in out_pool.
    """
    positives = likelihood_ratio_scores(target_phi, in_pool, out_pool, variance=variance)
    heldout = _as_matrix(heldout_retrain_phi, "set of held-out retrained models", 1)
    negatives = likelihood_ratio_scores(heldout, in_pool, out_pool, variance=variance)
    return roc_summary(positives.reshape(-1), negatives.reshape(-1), fprs)


def null_aucs(heldout_retrain_phi, in_pool, out_pool, *,
              variance: str = "auto") -> np.ndarray:
    """The AUC each held-out retrained model gets as the target against the other held-out
    ones, under the same Gaussians: [R] values, what a method indistinguishable from
    retraining gets. R at least 2."""
    heldout = _as_matrix(heldout_retrain_phi, "set of held-out retrained models", 2)
    scores = likelihood_ratio_scores(heldout, in_pool, out_pool, variance=variance)
    return np.array([roc_summary(scores[k], np.delete(scores, k, axis=0), fprs=())["auc"]
                     for k in range(len(scores))])

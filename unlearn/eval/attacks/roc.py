"""ROC summaries of an attack: AUC and TPR at low FPR, members as the positive class.

TPR at a target FPR is read off the empirical ROC without interpolation: the highest TPR among
the ROC's points whose FPR is at most the target. Tied scores form one point (a threshold
cannot split them), so ties never earn partial credit. With fewer than 1/target non-members
the only such point may be FPR 0, and the value is the TPR at zero false positives.
"""

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import auc, roc_curve

from unlearn.errors import UsageError

DEFAULT_FPRS = (0.01, 0.001)


def check_fprs(fprs: Sequence[float]) -> tuple[float, ...]:
    """The target FPRs as floats; UsageError for any outside the open interval (0, 1)."""
    fprs = tuple(float(value) for value in fprs)
    for value in fprs:
        if not 0.0 < value < 1.0:  # also rejects NaN
            raise UsageError(f"a target false-positive rate must lie in (0, 1), got {value}")
    return fprs


def fpr_label(fpr: float) -> str:
    """'1pct' for 0.01, '0.1pct' for 0.001: the suffix of the TPR keys."""
    return f"{100 * fpr:g}pct"


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """Highest TPR among ROC points with FPR <= target (no interpolation)."""
    (target,) = check_fprs([target])
    return float(np.max(tpr[fpr <= target]))  # (0, 0) is always a point: never empty


def roc_summary(member_scores, nonmember_scores,
                fprs: Sequence[float] = DEFAULT_FPRS) -> dict[str, float]:
    """{'auc', 'tpr_at_fpr_<x>pct' ...} of scores where higher means 'member'.

    member_scores / nonmember_scores: 1-D arrays, both non-empty and finite.
    """
    fprs = check_fprs(fprs)
    members = np.asarray(member_scores, dtype=np.float64).reshape(-1)
    nonmembers = np.asarray(nonmember_scores, dtype=np.float64).reshape(-1)
    if len(members) == 0 or len(nonmembers) == 0:
        raise UsageError(f"an attack needs members and non-members; got {len(members)} "
                         f"members and {len(nonmembers)} non-members")
    scores = np.concatenate([members, nonmembers])
    if not np.isfinite(scores).all():
        raise ValueError("attack scores must be finite")
    truth = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
    # drop_intermediate=False: every distinct threshold stays a point, so the TPR read at a
    # target FPR is never lowered by a point sklearn would drop as collinear
    fpr, tpr, _ = roc_curve(truth, scores, drop_intermediate=False)
    # the area under this full ROC is what roc_auc_score computes (it calls roc_curve and
    # auc itself); one roc_curve call instead of two halves sklearn's per-call overhead
    summary = {"auc": float(auc(fpr, tpr))}
    for target in fprs:
        summary[f"tpr_at_fpr_{fpr_label(target)}"] = tpr_at_fpr(fpr, tpr, target)
    return summary

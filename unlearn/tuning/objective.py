"""What a tuning trial minimises: the distance of the unlearned model to the retrained one.

Three measures, each compared with the retrained model's on the same samples:
- retained accuracy (Dr): the validation samples of the retained data;
- forgotten accuracy (Df): the validation samples of the forgotten class (full class, sub-class)
  or the forgotten training samples themselves (random);
- loss-attack AUC: how well a sample's loss tells the forget samples the method was given from
  validation samples (unseen ones of the same class where the pool trained on a subset, else
  the validation samples of the retained data) (scikit-learn's roc_auc_score on −loss: lower
  loss, more likely a training member). An unlearned model should be as (in)separable as the
  retrained one, which never trained on the forget samples.

distance = w_retain·|ΔDr| + w_forget·|ΔDf| + w_attack·100·|ΔAUC|, all in percentage points,
weights 1, 1, 1 by default: a point of retained accuracy lost, a point of the class kept and a
point of AUC away from retrain count the same. A setting whose run fails (non-finite loss, a
diverged model) scores FAILED_DISTANCE, worse than any finished run can (at most 300), so it
counts against the budget like any other bad setting.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from unlearn.eval import metrics

WEIGHTS = {"retain": 1.0, "forget": 1.0, "attack": 1.0}
FAILED_DISTANCE = 1000.0


def loss_attack_auc(forget_logits, forget_labels, other_logits, other_labels) -> float:
    """AUC of the loss-threshold attack: forget samples (members, 1) vs others (0)."""
    losses = torch.cat([F.cross_entropy(forget_logits, forget_labels, reduction="none"),
                        F.cross_entropy(other_logits, other_labels, reduction="none")])
    members = [1] * len(forget_labels) + [0] * len(other_labels)
    return float(roc_auc_score(members, (-losses).numpy()))


def scores(model, loaders: dict, device) -> dict:
    """Dr, Df (%) and the loss-attack AUC of `model` on the tuning loaders: "val_retain",
    "val_forget" (None on the random task: Df is then measured on "forget"), "forget" and
    "nonmembers" (the attack's non-members: one of the validation loaders, predicted once)."""
    predicted, by_loader = {}, {}
    for name, loader in loaders.items():
        if loader is None:
            continue
        if id(loader) not in by_loader:
            by_loader[id(loader)] = metrics.predict(model, loader, device)
        predicted[name] = by_loader[id(loader)]
    for logits, _ in predicted.values():
        if not torch.isfinite(logits).all():
            raise metrics.DivergedModelError("the model's logits are not finite")
    forget_measure = predicted.get("val_forget", predicted["forget"])
    nonmembers = predicted.get("nonmembers", predicted["val_retain"])
    return {
        "dr": metrics.accuracy(*predicted["val_retain"]),
        "df": metrics.accuracy(*forget_measure),
        "auc": loss_attack_auc(*predicted["forget"], *nonmembers),
    }


def distance(found: dict, reference: dict, weights: dict = WEIGHTS) -> float:
    """Weighted distance (percentage points) of `found` scores to the retrained `reference`."""
    return (weights["retain"] * abs(found["dr"] - reference["dr"])
            + weights["forget"] * abs(found["df"] - reference["df"])
            + weights["attack"] * 100.0 * abs(found["auc"] - reference["auc"]))

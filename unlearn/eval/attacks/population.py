"""Population membership attacks from one model's outputs: a threshold on one per-example score.

Members are the forget-train samples; non-members are never-seen samples matched to them:
full class -> the forgotten class's test images; sub-class -> the fine class's test images;
random -> test images drawn per class in the forget set's class mix (`matched_nonmembers`).
Scores are oriented so that higher means "member":

loss        log(p / (1 - p)) of the true label's softmax probability p: ranks exactly as
            -cross-entropy does, but stays distinct where float64 rounds p of confident
            outputs to 1 (the loss to 0), which would make memorised samples tie
confidence  log(p / (1 - p)) of the largest softmax probability: ranks as the maximum
            softmax probability does, with the same precision
entropy     -entropy of the softmax output
entropy_lr  the published MIA's logistic regression (fitted on retain-train vs test entropies of
            the same model) used as a score, not a 0/1 verdict. With one feature it ranks as
            the entropy does, or in reverse when the fit learnt the opposite direction: it shows
            whether the published attack's learnt direction holds on the forget set.

Each attack gives ROC AUC and TPR at low FPR (see attacks.roc). The attack's *power* is the
same numbers on the original model's outputs: an attack without power there can show neither
forgetting nor its absence.
"""

import math
from collections.abc import Sequence

import numpy as np
import torch

from unlearn.eval.attacks.roc import DEFAULT_FPRS, roc_summary


def _logit_of(logits: torch.Tensor, columns: torch.Tensor) -> np.ndarray:
    """log(p / (1 - p)) of the softmax probability of one column per row, computed as
    z_column - logsumexp(other logits) in float64 (exact for confident rows)."""
    logits = torch.as_tensor(logits).double()
    columns = torch.as_tensor(columns).long().view(-1, 1)
    chosen = logits.gather(1, columns).view(-1)
    others = logits.scatter(1, columns, -math.inf).logsumexp(dim=1)
    return (chosen - others).numpy()


def loss_scores(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """Loss attack score, [N, C], [N] -> [N]: higher = lower cross-entropy of the label."""
    return _logit_of(logits, labels)


def confidence_scores(logits: torch.Tensor) -> np.ndarray:
    """Confidence attack score, [N, C] -> [N]: higher = larger maximum softmax probability."""
    return _logit_of(logits, torch.as_tensor(logits).argmax(dim=1))


def entropies(logits: torch.Tensor) -> torch.Tensor:
    """Softmax entropy in nats of each sample (float64): [N, C] -> [N]."""
    return torch.special.entr(torch.softmax(torch.as_tensor(logits).double(), dim=1)).sum(1)


def matched_nonmembers(member_labels: torch.Tensor, candidate_labels: torch.Tensor,
                       seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Members kept and non-members drawn so that both have the members' class mix (random task).

    Per class c with k_c members and n_c candidates (test samples), draw round(s * k_c) of the
    class's candidates without replacement, s = min(1, min_c n_c / k_c), so that no class runs
    short and the mix stays the members'. Members of a class the candidates lack (possible only
    on tiny test sets) are left out of the attack. Seeded by `seed` alone.
    Returns (positions of the members kept, positions of the candidates drawn), sorted int64;
    both empty when no class is shared.
    """
    members = torch.as_tensor(member_labels).long()
    candidates = torch.as_tensor(candidate_labels).long()
    shared = torch.tensor([c for c in torch.unique(members).tolist()
                           if bool((candidates == c).any())], dtype=torch.long)
    kept = torch.nonzero(torch.isin(members, shared)).view(-1)
    if len(shared) == 0:
        return kept, torch.empty(0, dtype=torch.long)
    counts = torch.stack([(members == c).sum() for c in shared]).double()
    available = torch.stack([(candidates == c).sum() for c in shared]).double()
    scale = min(1.0, float((available / counts).min()))
    generator = torch.Generator().manual_seed(int(seed))
    chosen = []
    for label, count in zip(shared.tolist(), counts.tolist(), strict=True):
        pool = torch.nonzero(candidates == label).view(-1)
        take = max(1, int(round(scale * count)))
        chosen.append(pool[torch.randperm(len(pool), generator=generator)[:take]])
    return kept, torch.sort(torch.cat(chosen)).values


def attack_scores(logits: torch.Tensor, labels: torch.Tensor,
                  entropy_regression=None) -> dict[str, np.ndarray]:
    """Per-sample scores of every attack (entropy_lr only with a fitted regression)."""
    entropy = entropies(logits)
    scores = {"loss": loss_scores(logits, labels), "confidence": confidence_scores(logits),
              "entropy": -entropy.numpy()}
    if entropy_regression is not None:
        # members were labelled 1, so a larger decision value means "member"
        scores["entropy_lr"] = entropy_regression.decision_function(
            entropy.reshape(-1, 1).numpy())
    return scores


def population_attacks(member_logits: torch.Tensor, member_labels: torch.Tensor,
                       nonmember_logits: torch.Tensor, nonmember_labels: torch.Tensor, *,
                       entropy_regression=None,
                       fprs: Sequence[float] = DEFAULT_FPRS) -> dict[str, float]:
    """{'attack_<name>_auc', 'attack_<name>_tpr_at_fpr_<x>pct', ...} for every attack.

    member_*: the forget-train samples; nonmember_*: their matched never-seen samples.
    entropy_regression: a fitted sklearn LogisticRegression on entropy (members = 1), or None
    to leave out entropy_lr.
    """
    members = attack_scores(member_logits, member_labels, entropy_regression)
    nonmembers = attack_scores(nonmember_logits, nonmember_labels, entropy_regression)
    results = {}
    for name, member_scores in members.items():
        for key, value in roc_summary(member_scores, nonmembers[name], fprs).items():
            results[f"attack_{name}_{key}"] = value
    return results


def attack_power(original_member_logits: torch.Tensor, member_labels: torch.Tensor,
                 original_nonmember_logits: torch.Tensor, nonmember_labels: torch.Tensor, *,
                 entropy_regression=None,
                 fprs: Sequence[float] = DEFAULT_FPRS) -> dict[str, float]:
    """The attacks on the ORIGINAL model, keys suffixed '_original': what each attack can see
    when the forget set was certainly trained on. Report every attack result beside it."""
    results = population_attacks(original_member_logits, member_labels,
                                 original_nonmember_logits, nonmember_labels,
                                 entropy_regression=entropy_regression, fprs=fprs)
    return {f"{key}_original": value for key, value in results.items()}

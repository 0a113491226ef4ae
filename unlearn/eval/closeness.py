"""Output-space closeness to retrain: how alike a model's softmax outputs are to those of the
retrained models, split by split.

Accuracy gaps can hide a model that gets the same accuracy on different samples, or with very
different confidence. Two measures per split (forget-train, forget-test, retain-test):
* Jensen-Shannon divergence between the two softmax outputs of each sample, in bits (0: the
  same distribution, 1: disjoint), averaged over the samples;
* top-1 agreement: the percentage of samples on which both models predict the same class.
Each is averaged over the K retrained models. The pure functions work on logits; `retrained_
split_logits` runs the retrained checkpoints over the evaluation's own loaders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from scipy.special import rel_entr, softmax

from unlearn.errors import UsageError

SPLITS = ("forget_train", "forget_test", "retain_test")


def js_divergence(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Mean over samples of the Jensen-Shannon divergence (bits) between the softmax of the
    two logit rows [N, C]."""
    a, b = _probabilities(logits_a), _probabilities(logits_b)
    if a.shape != b.shape or len(a) == 0:
        raise ValueError(f"js_divergence needs two equal, non-empty [N, C] arrays: "
                         f"{a.shape} vs {b.shape}")
    # The divergence itself, from scipy's relative entropy. (scipy's jensenshannon returns its
    # square root and gives NaN when rounding makes a near-zero divergence negative, which
    # happens for nearly identical outputs.)
    middle = (a + b) / 2
    per_sample = (rel_entr(a, middle).sum(axis=1) + rel_entr(b, middle).sum(axis=1)) / 2
    return float(np.mean(np.clip(per_sample, 0.0, None)) / np.log(2))


def top1_agreement(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Percent of samples whose arg-max class is the same under both logit rows [N, C]."""
    if logits_a.shape != logits_b.shape or len(logits_a) == 0:
        raise ValueError(f"top1_agreement needs two equal, non-empty [N, C] tensors: "
                         f"{tuple(logits_a.shape)} vs {tuple(logits_b.shape)}")
    same = logits_a.argmax(dim=1) == logits_b.argmax(dim=1)
    return 100.0 * same.double().mean().item()


def _probabilities(logits: torch.Tensor) -> np.ndarray:
    # float64: near-one-hot outputs keep their small probabilities
    return softmax(torch.as_tensor(logits).double().numpy(), axis=1)


def split_logits(test_logits: torch.Tensor, forget_train_logits: torch.Tensor,
                 forget_test_mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The three splits from one model's test and forget-train logits. forget_test_mask: bool
    [len(test)] marking the forgotten class's test samples; None (random task): no forget-test
    split, and retain-test is the whole test set."""
    splits = {"forget_train": forget_train_logits}
    if forget_test_mask is None:
        splits["retain_test"] = test_logits
    else:
        splits["forget_test"] = test_logits[forget_test_mask]
        splits["retain_test"] = test_logits[~forget_test_mask]
    return splits


def closeness(model: dict[str, torch.Tensor],
              retrains: Sequence[dict[str, torch.Tensor]]) -> dict[str, float]:
    """JS divergence and top-1 agreement of `model` to each retrain, averaged over retrains.

    model, retrains[k]: split name -> logits [N, C] of the same samples in the same order.
    Returns js_<split> and agreement_<split> for every split of `model`, and retrains = K.
    """
    if not retrains:
        raise ValueError("closeness needs at least one retrained model")
    scores: dict[str, float] = {}
    for split, logits in model.items():
        scores[f"js_{split}"] = float(np.mean([js_divergence(logits, r[split])
                                               for r in retrains]))
        scores[f"agreement_{split}"] = float(np.mean([top1_agreement(logits, r[split])
                                                      for r in retrains]))
    scores["retrains"] = len(retrains)
    return scores


def check_retrained(meta: dict, path: str, *, dataset: str, forget: str) -> None:
    """Refuse a retrained checkpoint that does not belong to this cell: trained on another
    dataset, or without another class than the one this run forgets."""
    if meta.get("dataset") != dataset:
        raise UsageError(f"retrained checkpoint {path} was trained on {meta.get('dataset')!r}, "
                         f"but this run uses {dataset!r}")
    if meta.get("forget") != forget:
        raise UsageError(f"retrained checkpoint {path} left out {meta.get('forget')!r}, "
                         f"but this run forgets {forget!r}")


def retrained_split_logits(
    retrained: Iterable[torch.nn.Module],
    predict: Callable[[torch.nn.Module], tuple[torch.Tensor, torch.Tensor]],
    forget_test_mask: torch.Tensor | None,
) -> list[dict[str, torch.Tensor]]:
    """Each retrained model's logits per split. predict(model) -> (test logits, forget-train
    logits) over the same loaders the evaluated model went through."""
    return [split_logits(*predict(model), forget_test_mask) for model in retrained]

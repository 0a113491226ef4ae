"""Evaluation: one batched inference pass per split, then pure functions on the logits.

Metric vocabulary (the README's metrics table; published names in REFERENCE_NAMES):
acc_test, acc_retain_test, acc_forget_test (full/sub-class), acc_forget_train, acc_retain_train
(percent, sample-weighted) and mia (fraction of forget samples the attack calls "member"),
plus the population membership attacks of attacks.population on the same logits
(attack_<name>_auc, attack_<name>_tpr_at_fpr_<x>pct) and, given the original model's logits on
the attacks' samples, each attack's power (the same keys suffixed "_original").

Differences from the published code (deviations D9 and D10, docs/deviations.md), on purpose:
* accuracy is weighted by samples, not the mean of per-batch accuracies;
* the attack's probabilities come from the same batched logits as the accuracies, not from a
  second batch-size-1 pass (identical values: inference in eval mode is deterministic);
* the attack is a binary logistic regression; the published one asked sklearn for
  multi_class="multinomial", which current sklearn no longer accepts (see membership_attack).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from unlearn.data import tasks
from unlearn.devices import use_channels_last_on_cpu
from unlearn.errors import DivergedError, UsageError
from unlearn.eval.attacks.population import attack_power, matched_nonmembers, population_attacks
from unlearn.eval.attacks.roc import DEFAULT_FPRS, check_fprs

# This tool's key -> the name the published code logs. Both forget accuracies are its "Df":
# full/sub-class log the forget *test* accuracy, the random task the forget *train* accuracy.
# (The published full-class script spells it "df"; here it is "Df" in every task: D12.)
REFERENCE_NAMES = {
    "acc_test": "TestAcc",
    "acc_retain_test": "RetainTestAcc",
    "acc_forget_test": "Df",
    "acc_forget_train": "Df",
    "mia": "MIA",
    "method_s": "MethodTime",
}


def predict(model: nn.Module, loader: Iterable, device: torch.device | str, *,
            autocast_bf16: bool = False):
    """Logits and labels of every sample of `loader`, in its order, in one no-grad pass.

    loader yields (x, y) batches (or (x, ..., y): the label is the last element).
    Returns (logits float32 cpu [N, C], labels int64 cpu [N]). Puts the model in eval mode.
    autocast_bf16: run the forwards under bfloat16 autocast (faster on GPUs; the logits are
    returned as float32 but carry bfloat16 rounding; off by default, see bench/README.md).
    """
    model.eval()
    use_channels_last_on_cpu(model, device)  # faster convolutions on a CPU; same values
    device_type = torch.device(device).type
    logits, labels = [], []
    with torch.no_grad():
        for batch in loader:
            x, y = batch[0], batch[-1]
            with torch.autocast(device_type, dtype=torch.bfloat16, enabled=autocast_bf16):
                out = model(x.to(device, non_blocking=True))
            out = out[0] if isinstance(out, (tuple, list)) else out  # tuple: logits first
            logits.append(out.float().cpu())
            labels.append(torch.as_tensor(y).long().cpu())
    if not logits:
        return torch.empty(0, 0), torch.empty(0, dtype=torch.long)
    return torch.cat(logits), torch.cat(labels)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Percent of samples whose arg-max logit is the label (every sample weighs the same;
    deviation D9, docs/deviations.md)."""
    if len(labels) == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return 100.0 * (logits.argmax(dim=1) == labels).double().mean().item()


def per_class_accuracy(logits: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor,
                       names: list[str] | None = None) -> dict[str, float]:
    """Accuracy (percent, against `labels`) of the samples of each class in `classes` [N].

    `classes` may differ from `labels`: in the sub-class task the labels are superclasses and
    the classes the fine classes, so each fine class gets its own accuracy. Keys are
    names[class] (default: the class index as text); classes without samples are left out.
    """
    scores = {}
    for index in torch.unique(classes).tolist():
        chosen = classes == index
        key = names[index] if names is not None else str(index)
        scores[key] = accuracy(logits[chosen], labels[chosen])
    return scores


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats of each row of `probs` [N, C] -> [N]; 0·log 0 counts as 0."""
    return torch.special.entr(probs).sum(dim=-1)


def _softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    # float64 so that near-one-hot rows do not round every tiny probability to zero.
    return entropy(torch.softmax(logits.double(), dim=1))


def fit_entropy_attack(member_entropy: torch.Tensor, nonmember_entropy: torch.Tensor):
    """The published attack's model: a logistic regression on one feature, the output entropy,
    members (retain train) labelled 1, non-members (test) 0, class_weight="balanced", lbfgs,
    C=1. Returns the fitted sklearn estimator."""
    from sklearn.linear_model import LogisticRegression  # slow import: only when needed

    for name, values in {"member": member_entropy, "non-member": nonmember_entropy}.items():
        if len(values) == 0:
            raise ValueError(f"membership attack: the {name} set is empty")
    features = torch.cat([member_entropy, nonmember_entropy]).double().reshape(-1, 1).numpy()
    targets = np.concatenate([np.ones(len(member_entropy)), np.zeros(len(nonmember_entropy))])
    attack = LogisticRegression(class_weight="balanced", solver="lbfgs", C=1.0)
    return attack.fit(features, targets)


def membership_attack(
    member_entropy: torch.Tensor,
    nonmember_entropy: torch.Tensor,
    queried_entropy: torch.Tensor,
    *,
    fitted=None,
) -> float:
    """Published MIA: fraction of the queried samples a logistic regression calls "member".

    The attack (`fit_entropy_attack`, or `fitted` when already fitted on these members and
    non-members) is fitted on retain-train vs test entropies; returns the mean predicted label
    over the queried (forget train) samples, in [0, 1].
    The published code passed multi_class="multinomial" (a two-class softmax parametrisation);
    current sklearn removed that argument, so this is the plain binary fit. With one feature and
    thousands of points the two differ only through the slightly different L2 penalty.
    """
    if len(queried_entropy) == 0:
        raise ValueError("membership attack: the queried set is empty")
    attack = fitted or fit_entropy_attack(member_entropy, nonmember_entropy)
    queried = queried_entropy.double().reshape(-1, 1).numpy()
    return float(attack.predict(queried).mean())


@dataclass(frozen=True)
class OriginalOutputs:
    """The ORIGINAL model's logits on the attacks' samples alone (see `attack_samples`):
    every forget-train sample, in the forget-train loader's order, and the matched
    non-members, in the order of their test positions. What gives each attack its power.

    Only these samples: the original's passes then cost a fraction of the evaluation (the
    forget set and as many test images), not a second evaluation."""

    forget_train: torch.Tensor
    nonmembers: torch.Tensor


def attack_samples(task: str, forget_labels: torch.Tensor, test_labels: torch.Tensor,
                   forget_test_mask: torch.Tensor | None, seed: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions of the attacks' members in the forget-train set, positions of their matched
    non-members in the test set): every forget sample against the forgotten class's / fine
    class's test images, or in the random task test images drawn with the forget set's class
    mix (`matched_nonmembers`, seeded by `seed`). Labels only, so a caller can run another
    model on exactly these samples before the evaluation."""
    if task == tasks.RANDOM:
        return matched_nonmembers(forget_labels, test_labels, seed)
    forget = _as_mask(forget_test_mask, len(test_labels))
    return torch.arange(len(forget_labels)), torch.nonzero(forget).view(-1)


class DivergedModelError(DivergedError):
    """The model to be scored produces NaN or infinite logits."""


def evaluate(
    model: nn.Module,
    device: torch.device | str,
    *,
    test: Iterable,
    retain_train: Iterable,
    forget_train: Iterable,
    forget_test_mask: torch.Tensor | None = None,
    task: str = "full_class",
    autocast_bf16: bool = False,
    test_classes: torch.Tensor | None = None,
    class_names: list[str] | None = None,
    logits_out: dict | None = None,
    attacks: bool = True,
    seed: int = 0,
    fprs: Sequence[float] = DEFAULT_FPRS,
    original: OriginalOutputs | None = None,
) -> dict:
    """Every metric of the README's metrics table, from one inference pass per loader.

    test: the WHOLE test set (unshuffled, task labels; sub-class: coarse labels).
    retain_train / forget_train: the retained / forgotten training samples (no augmentation).
    forget_test_mask: for "full_class" and "sub_class", which samples of `test`, in the order the
    test loader yields them, belong to the forgotten class / sub-class: a bool tensor
    [len(test set)] or an int64 tensor of those positions. The retain- and forget-test
    accuracies are slices of the one test pass. Ignored for "random".
    task: "full_class" | "sub_class" | "random".
    autocast_bf16: the inference passes in bfloat16 autocast (see `predict`).
    test_classes, class_names: the class of each test sample for the per-class accuracies
    (default: its label) and the names of those classes (default: the index as text).
    logits_out: a dict that receives the "test" and "forget_train" logits, for measures that
    compare this model's outputs with other models' (unlearn/eval/closeness.py), and with the
    attacks the positions of their "members" and "nonmembers" (`attack_samples`).

    attacks: add the population membership attacks (attacks.population) on the same logits:
    attack_<loss|confidence|entropy|entropy_lr>_{auc, tpr_at_fpr_<x>pct} for the forget-train
    samples against matched non-members: the forgotten class's / fine class's test images
    (full / sub-class), or test images drawn with the forget set's class mix (random; drawn
    with `seed`). fprs: the target FPRs of the TPR keys, each in (0, 1).
    original: the original model's logits on the attacks' samples (OriginalOutputs); adds
    every attack key again with the suffix "_original" (the attack's power: its result when
    the forget set was certainly trained on).

    Returns acc_test, acc_retain_test, acc_retain_train, acc_forget_train, mia, and for
    full/sub-class acc_forget_test, and acc_test_per_class (class name -> test accuracy).
    Random task (published): acc_retain_test = acc_test.
    MIA: members = retain train, non-members = whole test set, queried = forget train.
    """
    tasks.check_task(task)
    fprs = check_fprs(fprs)
    if task != tasks.RANDOM and forget_test_mask is None:
        raise UsageError(f"evaluate: task {task!r} needs forget_test_mask to split the test set.")
    test_logits, test_labels = predict(model, test, device, autocast_bf16=autocast_bf16)
    retain_logits, retain_labels = predict(model, retain_train, device,
                                           autocast_bf16=autocast_bf16)
    forget_logits, forget_labels = predict(model, forget_train, device,
                                           autocast_bf16=autocast_bf16)
    for name, labels in (("test", test_labels), ("retain train", retain_labels),
                         ("forget train", forget_labels)):
        if len(labels) == 0:
            raise UsageError(f"evaluate: the {name} set is empty.")
    for name, logits in (("test", test_logits), ("retain train", retain_logits),
                         ("forget train", forget_logits)):
        if not bool(torch.isfinite(logits).all()):
            raise DivergedModelError(f"the model's outputs on the {name} set are not finite: "
                                     "the unlearning method diverged; no metrics recorded")
    scores = {
        "acc_test": accuracy(test_logits, test_labels),
        "acc_retain_train": accuracy(retain_logits, retain_labels),
        "acc_forget_train": accuracy(forget_logits, forget_labels),
    }
    if task == "random":
        scores["acc_retain_test"] = scores["acc_test"]
    else:
        forget = _as_mask(forget_test_mask, len(test_labels))
        if not forget.any() or forget.all():
            raise UsageError("evaluate: forget_test_mask must select some, not all, test samples.")
        scores["acc_retain_test"] = accuracy(test_logits[~forget], test_labels[~forget])
        scores["acc_forget_test"] = accuracy(test_logits[forget], test_labels[forget])
    classes = test_labels if test_classes is None else torch.as_tensor(test_classes).cpu()
    scores["acc_test_per_class"] = per_class_accuracy(test_logits, test_labels, classes,
                                                      class_names)
    if logits_out is not None:
        logits_out.update(test=test_logits, forget_train=forget_logits)
    test_entropy = _softmax_entropy(test_logits)
    regression = fit_entropy_attack(_softmax_entropy(retain_logits), test_entropy)
    scores["mia"] = membership_attack(None, None, _softmax_entropy(forget_logits),
                                      fitted=regression)
    if attacks:
        member, nonmember = attack_samples(task, forget_labels, test_labels, forget_test_mask,
                                           seed)
        if logits_out is not None:
            logits_out.update(members=member, nonmembers=nonmember)
        if len(member) and len(nonmember):  # empty only for a test set sharing no class
            scores.update(population_attacks(
                forget_logits[member], forget_labels[member], test_logits[nonmember],
                test_labels[nonmember], entropy_regression=regression, fprs=fprs))
            if original is not None:
                scores.update(_power(original, forget_labels, member,
                                     test_labels[nonmember], regression, fprs))
    return scores


def _power(original: OriginalOutputs, forget_labels: torch.Tensor, member: torch.Tensor,
           nonmember_labels: torch.Tensor, regression, fprs) -> dict[str, float]:
    """The attacks on the original model's logits (see OriginalOutputs).

    entropy_lr scores the original's entropies with THIS evaluation's fitted regression: with
    one feature only the fit's direction orders the scores, and fitting the original's own
    would need its passes over the whole retain and test sets, i.e. a second evaluation."""
    if (len(original.forget_train) != len(forget_labels)
            or len(original.nonmembers) != len(nonmember_labels)):
        raise UsageError("evaluate: the original model's outputs do not cover the attacks' "
                         "forget-train and non-member samples of this evaluation")
    return attack_power(original.forget_train[member], forget_labels[member],
                        original.nonmembers, nonmember_labels, entropy_regression=regression,
                        fprs=fprs)


def _as_mask(selection: torch.Tensor, size: int) -> torch.Tensor:
    """A bool mask [size] from a bool mask or from int positions."""
    selection = torch.as_tensor(selection).cpu()
    if selection.dtype == torch.bool:
        if len(selection) != size:
            raise UsageError(
                f"evaluate: forget_test_mask has {len(selection)} entries, the test set {size}."
            )
        return selection
    positions = selection.long()
    if len(positions) and (positions.min() < 0 or positions.max() >= size):
        raise UsageError(f"evaluate: forget_test_mask points outside the test set (size {size}).")
    mask = torch.zeros(size, dtype=torch.bool)
    mask[positions] = True
    return mask


def reference_view(scores: dict[str, float], task: str) -> dict[str, float]:
    """The four values under the published names (Df: forget test, or forget train if random)."""
    return {
        "TestAcc": scores["acc_test"],
        "RetainTestAcc": scores["acc_retain_test"],
        "Df": scores[tasks.forget_metric(task)],
        "MIA": scores["mia"],
    }

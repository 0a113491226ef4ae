"""Membership attacks that measure forgetting.

roc             ROC AUC and TPR at a low FPR from attack scores (members = positives)
population      loss / confidence / entropy thresholds and the published entropy regression as
                scorers, forget-train samples against matched never-seen samples
lira            per-example likelihood-ratio attack (U-LiRA style) from pools of models
forget_quality  the NeurIPS 2023 unlearning challenge's per-example epsilon score
pools           checkpoints of a pool run over a loader, checked for dataset and network

Everything but `pools` is a pure function on arrays, so tests hand-compute the numbers.
"""

# The population attacks' names, in report order. Here rather than in population.py so the
# report reads them without importing torch.
ATTACKS = ("loss", "confidence", "entropy", "entropy_lr")

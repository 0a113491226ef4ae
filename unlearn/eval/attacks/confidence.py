"""Logit-scaled confidence of the true label, phi = log(p / (1 - p)): the per-example output
that the likelihood-ratio attack and the NeurIPS 2023 challenge's score compare across models.

Computed as the challenge's evaluation computes it (google-deepmind/unlearning_evaluation,
metric.py, adapted there from the LiRA code): float64 softmax after subtracting each row's
largest logit, p_wrong as the SUM of the other probabilities (not 1 - p, which cancels for
confident outputs), and 1e-45 added to both before the logs, which bounds |phi| by about 103.6.
"""

import numpy as np
import torch

GUARD = 1e-45


def logit_scaled_confidence(logits, labels) -> np.ndarray:
    """phi of each sample's label: logits [N, C], labels [N] -> float64 [N]."""
    logits = torch.as_tensor(logits).double()
    labels = torch.as_tensor(labels).long().view(-1, 1)
    probs = torch.softmax(logits - logits.max(dim=1, keepdim=True).values, dim=1)
    right = probs.gather(1, labels).view(-1)
    wrong = probs.scatter(1, labels, 0.0).sum(dim=1)
    return (torch.log(right + GUARD) - torch.log(wrong + GUARD)).numpy()

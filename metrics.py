"""The published `metrics` module, for code that imports it by that name from the repository
root (`import metrics`): one batched inference pass per split, then accuracies, MIA and the
population attacks on the logits.

The implementation is unlearn/eval/metrics.py; this file only re-exports its public names. It
is not installed (pyproject.toml), so outside this folder the name `metrics` is free.
"""

from unlearn.eval.metrics import *  # noqa: F403

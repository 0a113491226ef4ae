"""Evaluation of one model: a single inference pass per split and the metrics computed from its
logits (`metrics`: accuracies, MIA, the population attacks), the membership attacks themselves
(`attacks`) and the closeness of a model's outputs to the retrained models' (`closeness`). The
attacks that need a study's many models, and the tables built from the recorded numbers, are
`unlearn.report`; the repository root's `metrics.py` only re-exports `metrics` for code written
against the published file."""

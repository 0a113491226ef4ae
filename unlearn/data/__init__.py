"""The data: the DATASETS registry and the batched loader (`datasets`), the on-disk readers
that decode each format once (`formats`), and the three forgetting tasks with the forget/retain
split they make of a training and a test set (`tasks`, importable without torch). Models,
training and evaluation live elsewhere (`models/`, `unlearn.train`, `unlearn.eval`); the
repository root's `datasets.py` only re-exports `datasets` for code written against the
published file."""

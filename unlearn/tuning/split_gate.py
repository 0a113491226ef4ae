"""The gate that keeps tuning off the test split.

Tuning must not choose settings by the numbers it is later judged on, so while the gate is
closed every load of a dataset's test split raises. The gate replaces `datasets.load_split`,
the one door through which the project reads a split.
"""

from __future__ import annotations

from contextlib import contextmanager

from unlearn.data import datasets


class ForbiddenSplitRead(RuntimeError):
    """Something read the test split while tuning."""


@contextmanager
def blocked_test_split():
    """Within the block, loading any test split raises ForbiddenSplitRead."""
    opened = datasets.load_split

    def train_only(name, train, *args, **kwargs):
        if not train:
            raise ForbiddenSplitRead(f"tuning read the test split of {name}; tuning must use "
                                  "training data only")
        return opened(name, train, *args, **kwargs)

    datasets.load_split = train_only
    try:
        yield
    finally:
        datasets.load_split = opened

"""The one exception type for bad input.

Entry points catch `UsageError`, print its message on one line to stderr and exit with code 2,
so a user sees a readable sentence instead of a traceback, and no partial result is written
(the published code fails in asserts or deep inside PyTorch: deviation D25,
docs/deviations.md).
"""


class UsageError(Exception):
    """Bad input from the user: unknown names, missing files, invalid hyperparameters."""


class TrainingDivergedError(RuntimeError):
    """A training whose loss stopped being finite: its model must not be saved or used (a
    model of NaN weights predicts one class and would pass for a trained one)."""

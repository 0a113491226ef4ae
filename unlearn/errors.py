"""The exception types an entry point turns into one line on stderr.

Entry points catch `UsageError`, print its message on one line to stderr and exit with code 2,
so a user sees a readable sentence instead of a traceback, and no partial result is written
(the published code fails in asserts or deep inside PyTorch: deviation D25,
docs/deviations.md). A `DivergedError` (a method's or a training's numbers stopped being
finite) and a `WriteFailedError` (an output could not be written, e.g. the disk is full) are
failures during the work: one line and exit code 1 (`guarded`, unlearn/exit_codes.py).
"""


class UsageError(Exception):
    """Bad input from the user: unknown names, missing files, invalid hyperparameters."""


class DivergedError(RuntimeError):
    """A loss, a gradient or a model's outputs stopped being finite. A result, not bad input:
    a forgetting run records it as a failed row, a tuning trial scores it as failed."""


class TrainingDivergedError(DivergedError):
    """A training whose loss stopped being finite: its model must not be saved or used (a
    model of NaN weights predicts one class and would pass for a trained one)."""


class WriteFailedError(RuntimeError):
    """An output could not be written (disk full, quota): nothing torn or empty is left, and
    the message says what was lost."""

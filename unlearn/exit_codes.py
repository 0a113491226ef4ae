"""Exit codes of the entry points, and what a sweep makes of them.

    0    OK           the run did its work (and recorded it)
    1    FAILED       a failure during the work: a diverged method or training, an output that
                      could not be written, a full disk, an unexpected error (recorded as a
                      failed row where a run had started)
    2    BAD_INPUT    refused before any work: a bad flag, a missing file, a setting out of
                      range (one line on stderr)
    3    SKIPPED      -skip_done found the run already recorded: nothing to do
    4    CLAIMED      -skip_done found the run claimed by another live process (another sweep
                      runs it): nothing done here
    130  INTERRUPTED  stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it); nothing
                      recorded

A sweep (unlearn/sweep/local.py) reads them: 0 counts as done, 3 as skipped, 4 as claimed elsewhere,
130 as not run, any other as failed (its summary shows the code). Only the -skip_done paths
return 3 and 4: without -skip_done an entry point ends with 0, 1, 2 or 130.

`guarded` turns the errors of unlearn/errors.py into 1, 2 and 130 for every command (the entry
points through unlearn/run/cli.py, the scripts and `python -m` commands directly). This module
loads no torch, so light commands use it too.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

from unlearn.errors import DivergedError, UsageError, WriteFailedError
from unlearn.store import disk

OK = 0
FAILED = 1
BAD_INPUT = 2
SKIPPED = 3
CLAIMED = 4
INTERRUPTED = 130

# One line for the entry points' --help.
EPILOG = ("exit codes: 0 done, 1 failed during the work, 2 bad input, 3 skipped (-skip_done: "
          "already recorded), 4 claimed by another process (-skip_done), 130 interrupted")


def guarded(main: Callable[..., int] | None = None, *, resume_hint: str | None = None):
    """Wrap a command's main (as a decorator, with or without resume_hint): bad input
    (UsageError) becomes one line on stderr and exit code 2; a failure during the work (a
    diverged method or training, an output that could not be written, a full disk) one line
    and exit code 1; Ctrl-C one line saying how to resume, and exit code 130."""
    if main is None:
        return functools.partial(guarded, resume_hint=resume_hint)
    how = f"; {resume_hint}" if resume_hint else ""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except UsageError as error:
            print(f"error: {error}", file=sys.stderr)
            return BAD_INPUT
        except (DivergedError, WriteFailedError) as error:
            print(f"error: {error}", file=sys.stderr)
            return FAILED
        except OSError as error:
            if not disk.is_full(error):
                raise
            print(f"error: {disk.describe(error)}{how}", file=sys.stderr)
            return FAILED
        except KeyboardInterrupt:
            print("interrupted" + (f": {resume_hint}" if resume_hint else ""), file=sys.stderr)
            return INTERRUPTED
    return wrapper

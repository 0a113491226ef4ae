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

A sweep (unlearn/sweep.py) reads them: 0 counts as done, 3 as skipped, 4 as claimed elsewhere,
130 as not run, any other as failed (its summary shows the code). Only the -skip_done paths
return 3 and 4: without -skip_done an entry point ends with 0, 1, 2 or 130.
"""

OK = 0
FAILED = 1
BAD_INPUT = 2
SKIPPED = 3
CLAIMED = 4
INTERRUPTED = 130

# One line for the entry points' --help.
EPILOG = ("exit codes: 0 done, 1 failed during the work, 2 bad input, 3 skipped (-skip_done: "
          "already recorded), 4 claimed by another process (-skip_done), 130 interrupted")

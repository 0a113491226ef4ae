"""Sweeps: many command lines of the entry points run as child processes, resumable and
failure-tolerant. The command and the local pool of device slots (`local`, run as `python -m
unlearn.sweep`), one command line's run with its log and outcome (`runner`, shared by both
executors) and SLURM job arrays through submitit (`cluster`). Building a grid of command lines
is the scripts' business (scripts/sweep_grid.py, scripts/pool.py, scripts/study_runs.py); what a
single run does is `unlearn.run`."""

"""The pipeline behind the entry points: the run, its configuration and command lines,
the methods, training, the model store, results, sweeps, tuning, attacks and the report."""

from pathlib import Path

# The checkout: where the entry points and their σ/η tables, tuned/ and .git are.
REPO_ROOT = Path(__file__).resolve().parent.parent

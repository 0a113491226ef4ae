"""The pipeline behind the entry points, one subpackage per job: `run` (a forgetting run: its
command line and pipeline), `data` (data sets, loaders, the tasks' splits), `methods` (the
unlearning methods, JiT's algorithm among them), `train` (the training loop, original and
retrained models), `eval` (metrics and membership attacks on one model), `store` (the model
store, results and what else outlives a process), `report` (tables and the noise-floor study
from recorded rows), `sweep` (many runs as child processes, locally or on SLURM) and `tuning`
(hyperparameter search). The modules at this level are shared by all of them: `errors`,
`exit_codes` and `devices`. docs/architecture.md maps every file."""

from pathlib import Path

# The checkout: where the entry points and their σ/η tables, tuned/ and .git are.
REPO_ROOT = Path(__file__).resolve().parent.parent

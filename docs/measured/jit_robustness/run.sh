#!/usr/bin/env bash
# The JiT robustness study, from the repository root: pools, runs, summary.
# ROOT: where the model stores go; RESULTS: where the rows go; JOBS: parallel jobs.
set -euo pipefail
ROOT=${ROOT:-checkpoints/robustness}
RESULTS=${RESULTS:-results/jit_robustness}
JOBS=${JOBS:-2}
PYTHON=${PYTHON:-python}
"$PYTHON" scripts/robustness_study.py pools --root "$ROOT" \
    | "$PYTHON" -m unlearn.sweep --gpus cpu --jobs "$JOBS" --log-dir "$RESULTS/logs/pools"
"$PYTHON" scripts/robustness_study.py runs --root "$ROOT" --results "$RESULTS" \
    | "$PYTHON" -m unlearn.sweep --gpus cpu --jobs "$JOBS" --log-dir "$RESULTS/logs/runs" \
    || echo "some runs failed or were refused: the sweep's summary above lists them"
"$PYTHON" scripts/robustness_study.py summary --results "$RESULTS" \
    --out docs/measured/jit_robustness

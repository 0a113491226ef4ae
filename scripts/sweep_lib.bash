# Sourced by the sweep scripts (never run): from the repository root, hand the script's grid to
# scripts/sweep_grid.py, which builds the command lines (settings, loops, the environment
# overrides it documents) and runs them with unlearn/sweep/local.py. PYTHON picks the interpreter (default:
# .venv/bin/python if present, else python3).

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

# sweep ENTRY_POINT FLAGS... -- GPU SEED [extra flags]: replaces the script's process.
sweep() {
  exec "$PYTHON" -m scripts.sweep_grid --script "$0" "$@"
}

# Shared by the sweep scripts (sourced, never run): arguments, paths, settings, and handing the
# grid's command lines to sweep.py. Every relative path is relative to the repository root.
#
# Environment read here (all optional):
#   RESULTS      results store (default results/results.jsonl)
#   LOG_DIR      per-job logs (default: logs/ next to RESULTS)
#   DATA_DIR     dataset root, passed as -data_dir
#   VIT_WEIGHTS  local ViT weights directory, passed as -vit_weights
#   JOBS         parallel CPU jobs when GPU is "cpu" (default 1)
#   METHODS      methods to run instead of every registered one (comma or space separated)
#   CLASSES      forget classes instead of the script's array (comma separated)
#   JIT_SIGMA, JIT_ETA, JIT_N, FINETUNE_EPOCHS, RETRAIN_EPOCHS, REFERENCE_EPOCHS: overrides
#   RETRAIN_PATH retrained checkpoint for -method retrain ({class} is replaced by the class)
#   DRY_RUN=1    print the command lines instead of running them
#   PYTHON       interpreter (default .venv/bin/python if present, else python3)

shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
RESULTS=${RESULTS:-results/results.jsonl}
LOG_DIR=${LOG_DIR:-$(dirname "$RESULTS")/logs}
FINETUNE_EPOCHS=${FINETUNE_EPOCHS:-5}  # published finetune: 5 epochs

# parse_args GPU SEED [extra flags...]
# Sets GPU, seeds (array; SEED may be a list like 1,2,3), EXTRA (passed to every run),
# DEVICE_FLAGS (-gpu unless GPU is "cpu") and PATH_FLAGS (-data_dir, -vit_weights if set).
parse_args() {
  if (( $# < 2 )); then
    echo "usage: $0 GPU SEED [extra flags for every run]" >&2
    echo "  GPU: a CUDA device (0), a list spread one job per device (0,1,2,3), or cpu" >&2
    echo "  SEED: one seed (1) or a list (1,2,3)" >&2
    exit 2
  fi
  GPU=$1
  IFS=', ' read -ra seeds <<< "$2"
  EXTRA=("${@:3}")
  DEVICE_FLAGS=()
  if [[ ${GPU,,} != cpu ]]; then DEVICE_FLAGS=(-gpu); fi
  PATH_FLAGS=()
  if [[ -n ${DATA_DIR:-} ]]; then PATH_FLAGS+=(-data_dir "$DATA_DIR"); fi
  if [[ -n ${VIT_WEIGHTS:-} ]]; then PATH_FLAGS+=(-vit_weights "$VIT_WEIGHTS"); fi
}

# registered_methods TASK: sets the array `methods` to every method declared for TASK, in
# table order (read from methods/*.py by `python -m methods list`; no torch import).
registered_methods() {
  local listed
  listed=$("$PYTHON" -m methods list --task "$1")
  mapfile -t methods <<< "$listed"
}

# override ARRAY_NAME VALUE SEPARATORS: a non-empty VALUE replaces the array (items trimmed).
override() {
  local -n target=$1
  local item items
  if [[ -z $2 ]]; then return 0; fi
  IFS=$3 read -ra items <<< "$2"
  target=()
  for item in "${items[@]}"; do
    item="${item#"${item%%[![:space:]]*}"}"
    item="${item%"${item##*[![:space:]]}"}"
    if [[ -n $item ]]; then target+=("$item"); fi
  done
}

# load_settings MAIN_FILE NET DATASET: JiT σ/η/N from the main file's table (unless JIT_* are
# already set) and the retrain epochs from recipes.py, read now so they are never stale.
load_settings() {
  local sigma eta n retrain reference
  read -r sigma eta n retrain reference < <("$PYTHON" scripts/sweep_settings.py "$@")
  JIT_SIGMA=${JIT_SIGMA:-$sigma}
  JIT_ETA=${JIT_ETA:-$eta}
  JIT_N=${JIT_N:-$n}
  RETRAIN_EPOCHS=${RETRAIN_EPOCHS:-$retrain}
  REFERENCE_EPOCHS=${REFERENCE_EPOCHS:-$reference}
}

# method_flags METHOD CLASS: sets HYPER to the flags of the method's hyperparameters that have
# a command-line flag (the others sit in the tables at the top of the forget_*_main.py files).
# JIT_FORM (array, set by the script): -jit_reference for the published JiT, empty otherwise.
method_flags() {
  HYPER=()
  case $1 in
    lipschitz_forgetting)
      HYPER=(-sigma "$JIT_SIGMA" -eta "$JIT_ETA" -n_samples "$JIT_N" "${JIT_FORM[@]}") ;;
    jit_zero_shot) HYPER=(-sigma "$JIT_SIGMA" -n_samples "$JIT_N") ;;  # η: its own rule
    finetune) HYPER=(-finetune_epochs "$FINETUNE_EPOCHS") ;;
    retrain)
      epochs_flag "$RETRAIN_EPOCHS"
      if [[ -n ${RETRAIN_PATH:-} ]]; then HYPER+=(-retrain_path "${RETRAIN_PATH//"{class}"/$2}"); fi
      ;;
    retrain_reference) epochs_flag "$REFERENCE_EPOCHS" ;;
  esac
}

epochs_flag() {
  # "none": recipes.py has no count for this dataset and network; the run then says so.
  if [[ $1 != none ]]; then HYPER+=(-retrain_epochs "$1"); fi
}

# emit ARGS...: one command line, quoted for sweep.py (POSIX shell splitting).
emit() {
  printf '%q ' "$@"
  printf '\n'
}

# run_grid FUNCTION: the function prints the command lines; they go to sweep.py, which runs
# them one per device (GPU list) or JOBS at a time on the CPU, skipping recorded runs.
run_grid() {
  local lines
  lines="$("$1")"
  if [[ -n ${DRY_RUN:-} ]]; then
    printf '%s\n' "$lines"
    return 0
  fi
  printf '%s\n' "$lines" | "$PYTHON" sweep.py --gpus "$GPU" --jobs "${JOBS:-1}" \
    --log-dir "$LOG_DIR"
}

#!/usr/bin/env bash
# Random-sample forgetting on Fashion-MNIST with the compact CNN: runs offline on a CPU.
#
#   ./scripts/fashionmnist_random_exps_cnn.sh GPU SEED [extra flags for every run]
#   ./scripts/fashionmnist_random_exps_cnn.sh cpu 0      # on the CPU, seed 0
#   ./scripts/fashionmnist_random_exps_cnn.sh cpu 0,1,2  # three seeds
#
# Every method x random forget set x seed runs through sweep.py, which skips runs already
# recorded (so starting again after an interruption resumes the grid), goes on after a failure
# and lists the failures at the end (exit code 1).
#
# Environment: WEIGHT_PATH (default checkpoints/CNN-FashionMNIST.pth),
# FORGET_COUNT, JIT_SIGMA/JIT_ETA/JIT_N, B;
# RESULTS, DATA_DIR, JOBS, METHODS, DRY_RUN=1 and the rest: see scripts/sweep_lib.bash.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.bash"
parse_args "$@"

registered_methods random  # every method declared for the task (methods/*.py)
override methods "${METHODS:-}" ', '
FORGET_COUNT=${FORGET_COUNT:-100}  # forgotten training samples
WEIGHT_PATH=${WEIGHT_PATH:-checkpoints/CNN-FashionMNIST.pth}
B=${B:-128}  # -b, the default of forget_random_main.py
# JiT in its default form (Algorithm 1) with the σ, η, N of the CNN row of the JIT table in
# forget_random_main.py (read now; JIT_SIGMA, JIT_ETA, JIT_N override).
JIT_FORM=()
load_settings forget_random_main.py CNN FashionMNIST

commands() {
  local seed method
  for seed in "${seeds[@]}"; do
    for method in "${methods[@]}"; do
      method_flags "$method" ""
      emit "$PYTHON" forget_random_main.py -net CNN -dataset FashionMNIST -classes 10 \
        "${DEVICE_FLAGS[@]}" -b "$B" -method "$method" -forget_count "$FORGET_COUNT" \
        -weight_path "$WEIGHT_PATH" -seed "$seed" -results "$RESULTS" \
        "${PATH_FLAGS[@]}" "${HYPER[@]}" "${EXTRA[@]}"
    done
  done
}

run_grid commands

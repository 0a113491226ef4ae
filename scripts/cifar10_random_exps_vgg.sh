#!/usr/bin/env bash
# Random-sample forgetting on CIFAR-10 with VGG16.
#
#   ./scripts/cifar10_random_exps_vgg.sh GPU SEED [extra flags for every run]
#   ./scripts/cifar10_random_exps_vgg.sh 0 1        # published usage: GPU 0, seed 1
#   ./scripts/cifar10_random_exps_vgg.sh 0,1,2,3 1,2,3  # three seeds spread over four GPUs
#
# Every method x random forget set x seed runs through sweep.py, which skips runs already
# recorded (so starting again after an interruption resumes the grid), goes on after a failure
# and lists the failures at the end (exit code 1).
#
# Environment: WEIGHT_PATH (default VGG16Cifar10.pth),
# FORGET_PERC, JIT_SIGMA/JIT_ETA/JIT_N, B;
# RESULTS, DATA_DIR, JOBS, METHODS, DRY_RUN=1 and the rest: see scripts/sweep_lib.bash.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.bash"
parse_args "$@"

registered_methods random  # every method declared for the task (methods/*.py)
override methods "${METHODS:-}" ', '
# Published fraction: 0.00165 of the 50,000 training images = 83 samples.
FORGET_PERC=${FORGET_PERC:-0.00165}
WEIGHT_PATH=${WEIGHT_PATH:-VGG16Cifar10.pth}
B=${B:-128}  # -b, the published default of forget_random_main.py
# JiT σ (noise std), η (learning rate), N (noisy copies) as the published scripts run them.
JIT_SIGMA=${JIT_SIGMA:-0.01}
JIT_ETA=${JIT_ETA:-3e-4}
JIT_N=${JIT_N:-25}
JIT_FORM=(-jit_reference)  # JiT exactly as published (deviations D1-D3), so the grid reproduces it
load_settings forget_random_main.py VGG16 Cifar10

commands() {
  local seed method
  for seed in "${seeds[@]}"; do
    for method in "${methods[@]}"; do
      method_flags "$method" ""
      emit "$PYTHON" forget_random_main.py -net VGG16 -dataset Cifar10 -classes 10 \
        "${DEVICE_FLAGS[@]}" -b "$B" -method "$method" -forget_perc "$FORGET_PERC" \
        -weight_path "$WEIGHT_PATH" -seed "$seed" -results "$RESULTS" \
        "${PATH_FLAGS[@]}" "${HYPER[@]}" "${EXTRA[@]}"
    done
  done
}

run_grid commands

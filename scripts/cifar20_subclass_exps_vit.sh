#!/usr/bin/env bash
# Sub-class forgetting on CIFAR-20 with ViT: forget a fine class, keep its superclass.
#
#   ./scripts/cifar20_subclass_exps_vit.sh GPU SEED [extra flags for every run]
#   ./scripts/cifar20_subclass_exps_vit.sh 0 1        # GPU 0, seed 1
#   ./scripts/cifar20_subclass_exps_vit.sh 0,1,2,3 1,2,3  # three seeds spread over four GPUs
#
# Every method x fine class x seed runs through sweep.py, which skips runs already
# recorded (so starting again after an interruption resumes the grid), goes on after a failure
# and lists the failures at the end (exit code 1).
#
# Environment: WEIGHT_PATH (default ViTCifar20.pth),
# CLASSES, JIT_SIGMA/JIT_ETA/JIT_N, B;
# RESULTS, DATA_DIR, JOBS, METHODS, DRY_RUN=1 and the rest: see scripts/sweep_lib.bash.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.bash"
parse_args "$@"

registered_methods sub_class  # every method declared for the task (methods/*.py)
classes=(rocket mushroom baby lamp sea)  # fine classes, published
override methods "${METHODS:-}" ', '
override classes "${CLASSES:-}" ,
WEIGHT_PATH=${WEIGHT_PATH:-ViTCifar20.pth}
B=${B:-64}  # -b, the published default of forget_sub_class_main.py
# JiT σ (noise std), η (learning rate), N (noisy copies) as the published scripts run them.
JIT_SIGMA=${JIT_SIGMA:-1.5}
JIT_ETA=${JIT_ETA:-0.5}
JIT_N=${JIT_N:-25}
JIT_FORM=(-jit_reference)  # JiT exactly as published (deviations D1-D3), so the grid reproduces it
load_settings forget_sub_class_main.py ViT Cifar20

commands() {
  local seed class method
  for seed in "${seeds[@]}"; do
    for class in "${classes[@]}"; do
      for method in "${methods[@]}"; do
        method_flags "$method" "$class"
        emit "$PYTHON" forget_subclass_main.py -net ViT -dataset Cifar20 \
          -superclasses 20 -subclasses 100 \
          "${DEVICE_FLAGS[@]}" -b "$B" -method "$method" -forget_class "$class" \
          -weight_path "$WEIGHT_PATH" -seed "$seed" -results "$RESULTS" \
          "${PATH_FLAGS[@]}" "${HYPER[@]}" "${EXTRA[@]}"
      done
    done
  done
}

run_grid commands

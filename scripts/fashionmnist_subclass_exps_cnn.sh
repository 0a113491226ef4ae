#!/usr/bin/env bash
# Sub-class forgetting on Fashion-MNIST grouped into 4 superclasses (FashionMNIST4), CNN, CPU.
#
#   ./scripts/fashionmnist_subclass_exps_cnn.sh GPU SEED [extra flags for every run]
#   ./scripts/fashionmnist_subclass_exps_cnn.sh cpu 0      # on the CPU, seed 0
#   ./scripts/fashionmnist_subclass_exps_cnn.sh cpu 0,1,2  # three seeds
#
# Every method x fine class x seed runs through sweep.py, which skips runs already
# recorded (so starting again after an interruption resumes the grid), goes on after a failure
# and lists the failures at the end (exit code 1).
#
# Environment: WEIGHT_PATH (default checkpoints/CNN-FashionMNIST4.pth:
# pretrain_model.py -net CNN -dataset FashionMNIST4 -classes 4 -out it),
# CLASSES, JIT_SIGMA/JIT_ETA/JIT_N, B;
# RESULTS, DATA_DIR, JOBS, METHODS, DRY_RUN=1 and the rest: see scripts/sweep_lib.bash.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.bash"
parse_args "$@"

registered_methods sub_class  # every method declared for the task (methods/*.py)
classes=(Sneaker)  # a fine class whose group has others: Sneaker, Shirt, Trouser, ...
override methods "${METHODS:-}" ', '
override classes "${CLASSES:-}" ,
WEIGHT_PATH=${WEIGHT_PATH:-checkpoints/CNN-FashionMNIST4.pth}
B=${B:-64}  # -b, the default of forget_sub_class_main.py
# JiT in its default form (Algorithm 1) with the σ, η, N of the CNN row of the JIT table in
# forget_sub_class_main.py (read now; JIT_SIGMA, JIT_ETA, JIT_N override).
JIT_FORM=()
load_settings forget_sub_class_main.py CNN FashionMNIST4

commands() {
  local seed class method
  for seed in "${seeds[@]}"; do
    for class in "${classes[@]}"; do
      for method in "${methods[@]}"; do
        method_flags "$method" "$class"
        emit "$PYTHON" forget_sub_class_main.py -net CNN -dataset FashionMNIST4 \
          -superclasses 4 -subclasses 10 \
          "${DEVICE_FLAGS[@]}" -b "$B" -method "$method" -forget_class "$class" \
          -weight_path "$WEIGHT_PATH" -seed "$seed" -results "$RESULTS" \
          "${PATH_FLAGS[@]}" "${HYPER[@]}" "${EXTRA[@]}"
      done
    done
  done
}

run_grid commands

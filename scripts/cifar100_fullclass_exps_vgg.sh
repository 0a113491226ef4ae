#!/usr/bin/env bash
# Full-class forgetting on CIFAR-100 with VGG16, as published: each of the five published classes
# x every full-class method x SEED, JiT in its published form. Usage: GPU SEED [flags for
# every run], e.g. `0 1` (GPU 0, seed 1) or `0,1,2,3 1,2,3`. Settings, environment: sweep_grid.py.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.bash"
sweep forget_full_class_main.py -net VGG16 -dataset Cifar100 -classes 100 \
  --weights VGG16Cifar100.pth --forget-classes rocket,mushroom,baby,lamp,sea \
  --methods all --jit-reference -- "$@"

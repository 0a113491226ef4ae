#!/usr/bin/env bash
# Random-sample forgetting on CIFAR-10 with VGG16, as published: forget 0.00165 of the 50,000
# training images (83 samples), every random-task method, each SEED; JiT as published.
#   ./scripts/cifar10_random_exps_vgg.sh GPU SEED [flags for every run]
# FORGET_PERC / FORGET_COUNT and the other overrides: scripts/sweep_grid.py.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.bash"
sweep forget_random_main.py -net VGG16 -dataset Cifar10 -classes 10 --weights VGG16Cifar10.pth \
  --forget-perc 0.00165 --methods all --jit-reference -- "$@"

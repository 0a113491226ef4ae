#!/usr/bin/env bash
# The published CIFAR-10 random-sample grid on ViT-B/16: 83 random training samples (fraction
# 0.00165) forgotten per seed by each method of the random task, JiT in its published form.
# Call it with GPU SEED [flags for every run]; environment: scripts/sweep_grid.py.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.bash"
sweep forget_random_main.py -net ViT -dataset Cifar10 -classes 10 \
  --weights ViTCifar10.pth --jit-reference --forget-perc 0.00165 --methods all -- "$@"

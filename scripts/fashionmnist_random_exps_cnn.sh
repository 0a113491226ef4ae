#!/usr/bin/env bash
# Random-sample forgetting on Fashion-MNIST with the CNN, on a CPU: 100 random training samples
# (FORGET_COUNT changes it) per seed, every random-task method, default JiT with the CNN row of
# forget_random_main.py's table. `./scripts/fashionmnist_random_exps_cnn.sh cpu 0,1,2`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.bash"
sweep forget_random_main.py -net CNN -dataset FashionMNIST -classes 10 --forget-count 100 \
  --methods all --weights checkpoints/CNN-FashionMNIST.pth -- "$@"

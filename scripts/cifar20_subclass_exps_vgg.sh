#!/usr/bin/env bash
# Sub-class forgetting on CIFAR-20 with VGG16: forget a fine class (rocket, ...), keep its
# superclass (vehicle2). Published grid: five fine classes x all sub-class methods x SEED, JiT
# as published. `./scripts/cifar20_subclass_exps_vgg.sh GPU SEED [flags for every run]`;
# what it reads from the environment: scripts/sweep_grid.py.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.bash"
sweep forget_subclass_main.py -net VGG16 -dataset Cifar20 -superclasses 20 -subclasses 100 \
  --weights VGG16Cifar20.pth --forget-classes rocket,mushroom,baby,lamp,sea --methods all \
  --jit-reference -- "$@"

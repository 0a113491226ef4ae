#!/usr/bin/env bash
# CIFAR-20 sub-class sweep, ViT-B/16 network: the published fine classes, every method the
# sub-class task has, the seeds given; published JiT. Arguments: GPU SEED, then flags for every
# run (`0 1`: GPU 0, seed 1). Environment overrides: see scripts/sweep_grid.py.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.bash"
sweep forget_subclass_main.py -net ViT -dataset Cifar20 -superclasses 20 -subclasses 100 \
  --weights ViTCifar20.pth --jit-reference --methods all \
  --forget-classes rocket,mushroom,baby,lamp,sea -- "$@"

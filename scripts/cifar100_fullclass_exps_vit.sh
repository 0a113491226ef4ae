#!/usr/bin/env bash
# The CIFAR-100 full-class grid with ViT-B/16 (weights: VIT_WEIGHTS or the Hugging Face cache):
# rocket, mushroom, baby, lamp, sea x all full-class methods x SEED; published JiT.
#   ./scripts/cifar100_fullclass_exps_vit.sh GPU SEED [flags for every run]    (published: 0 1)
# Every setting and environment override is described in scripts/sweep_grid.py.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.bash"
sweep forget_full_class_main.py -net ViT -dataset Cifar100 -classes 100 --weights ViTCifar100.pth \
  --forget-classes rocket,mushroom,baby,lamp,sea --methods all --jit-reference -- "$@"

#!/usr/bin/env bash
# Sub-class forgetting offline: FashionMNIST4 groups the ten classes into four (Sneaker sits in
# footwear with Sandal and Ankle boot); forget Sneaker, keep footwear, every sub-class method,
# default JiT with the CNN row of forget_sub_class_main.py. Arguments GPU SEED (`cpu 0`), then
# flags for every run. Trained by pretrain_model.py -net CNN -dataset FashionMNIST4 -classes 4.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.bash"
sweep forget_sub_class_main.py -net CNN -dataset FashionMNIST4 -superclasses 4 -subclasses 10 \
  --methods all --weights checkpoints/CNN-FashionMNIST4.pth --forget-classes Sneaker -- "$@"

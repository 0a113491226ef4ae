#!/usr/bin/env bash
# Full-class forgetting on Fashion-MNIST with the compact CNN, offline on a CPU: forget Sneaker
# (CLASSES="Sneaker,Trouser,Bag" averages over more) with every full-class method, JiT in its
# default form with the CNN row of forget_full_class_main.py's table.
#   ./scripts/fashionmnist_fullclass_exps_cnn.sh cpu 0,1,2    # GPU SEED [flags for every run]
# The model: pretrain_model.py -net CNN -dataset FashionMNIST -classes 10. More: sweep_grid.py.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.bash"
sweep forget_full_class_main.py -net CNN -dataset FashionMNIST -classes 10 \
  --forget-classes Sneaker \
  --weights checkpoints/CNN-FashionMNIST.pth --methods all -- "$@"

#!/usr/bin/env bash
# From the repository root: does a model retrained without one fine class of FashionMNIST4 tell
# that class apart from its siblings? (one original, one retrain per fine class, memorising regime)
set -euo pipefail
export OMP_NUM_THREADS=1
S=${STORE:-checkpoints/store}
python pretrain_model.py -net CNN -dataset FashionMNIST4 -classes 4 -epochs 100 \
    -train_subset 2000 -no_augment -store "$S" -seed 0
W=$(ls "$S"/CNN-FashionMNIST4/*.pth | head -1)
for fine in Trouser Sandal Shirt; do
  for method in baseline retrain; do
    python forget_sub_class_main.py -net CNN -dataset FashionMNIST4 -superclasses 4 \
        -subclasses 10 -forget_class "$fine" -weight_path "$W" -store "$S" \
        -results results/sub/rows.jsonl -method "$method" -retrain_index 0 -seed 0
  done
done

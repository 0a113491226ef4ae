"""Training recipes: epochs per dataset and network (published `conf.py`, spec §5.5).

The published `pretrain_model.py` looks up `<dataset>_VGG16_EPOCHS` for VGG16,
`<dataset>_ViT_EPOCHS` for ViT and `<dataset>_EPOCHS` otherwise. Fashion-MNIST and the
compact `CNN` are this tool's additions, sized for a CPU demo.
"""

from __future__ import annotations

from errors import UsageError

GENERIC_EPOCHS = {
    "Cifar100": 200, "Cifar20": 40, "Cifar10": 20, "PinsFaceRecognition": 200,
    "FashionMNIST": 3,
}
VGG16_EPOCHS = {"Cifar100": 210, "Cifar20": 50, "Cifar10": 25, "PinsFaceRecognition": 250}
VIT_EPOCHS = {"Cifar100": 8, "Cifar20": 9, "Cifar10": 8}

PRETRAIN_BATCH_SIZE = 64  # published `-b` default of pretrain_model.py
PRETRAIN_MAX_LR = 0.1  # OneCycle peak, hard-coded in the published code


def pretrain_epochs(dataset: str, net: str) -> int:
    """The published number of pretraining epochs for this dataset and network."""
    table = {"VGG16": VGG16_EPOCHS, "ViT": VIT_EPOCHS}.get(net, GENERIC_EPOCHS)
    if dataset not in table:
        table = GENERIC_EPOCHS if net != "ViT" else table
    if dataset not in table:
        raise UsageError(
            f"no published epoch count for {net} on {dataset}; pass -epochs N"
        )
    return table[dataset]

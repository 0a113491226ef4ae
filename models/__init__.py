"""Model registry: every architecture the entry points can build, by its published name.

Each model takes `num_classes` first, returns raw logits [B, C] from `forward(x)`, and has
`input_size` (H = W in pixels of the images it expects: 32, or the ViT's config image size).
"""

import inspect
from collections.abc import Callable

from torch import nn

from models.cnn import CNN
from models.resnet import ResNet18
from models.vgg import VGG16
from models.vit import ViT
from unlearn.errors import UsageError

MODELS: dict[str, Callable[..., nn.Module]] = {
    "VGG16": VGG16,  # published name; really VGG11 without batch-norm
    "ResNet18": ResNet18,  # CIFAR variant (pytorch-cifar100)
    "ViT": ViT,  # ViT-B/16 from Hugging Face, or any ViTConfig
    "CNN": CNN,  # compact CPU demo net, not in the published code
}


def build_model(name: str, num_classes: int, **options: object) -> nn.Module:
    """Build MODELS[name](num_classes, **options); UsageError for an unknown name or option."""
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    if int(num_classes) < 1:
        raise UsageError(f"number of classes must be at least 1, got {num_classes}")
    accepted = set(inspect.signature(MODELS[name]).parameters) - {"num_classes"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        allowed = ", ".join(sorted(accepted)) or "none"
        raise UsageError(
            f"model {name} does not take option(s) {', '.join(unknown)} (it takes: {allowed})"
        )
    return MODELS[name](int(num_classes), **options)

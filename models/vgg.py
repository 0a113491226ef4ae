"""The published `VGG16`: torchvision's VGG11 without batch-norm plus an extra linear head."""

import torch
from torch import nn


class VGG16(nn.Module):
    """VGG11 (no batch-norm) under the published name `VGG16`, kept for compatibility.

    The published code wraps a randomly initialised torchvision `vgg11()`, whose
    classifier ends in 1000 ImageNet outputs, and puts `fc = Linear(1000, C)` on top with no
    non-linearity in between. We keep exactly that, including the attribute names `model` and
    `fc`, so state-dict files written by the published code (keys `model.features.0.weight`,
    ..., `fc.weight`) load without renaming. About 133 M parameters, almost all in the
    classifier's first Linear(25088, 4096): at 32x32 input the features are 512x1x1 and the
    adaptive average pool copies them to 7x7.

    The classifier has two Dropout(0.5) layers, so train and eval mode give different outputs.
    """

    input_size = 32  # pixels (H = W) of the images the model is trained on

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        # Imported here: importing torchvision costs seconds (it loads torch._dynamo), which
        # every entry point would pay even for other networks.
        from torchvision.models import vgg11

        self.model = vgg11(weights=None)  # random init; never downloads
        self.fc = nn.Linear(1000, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 3, 32, 32] normalised images -> logits [B, C]."""
        return self.fc(self.model(x))

    def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits [B, C] and the activations gkt's attention loss compares.

        As published: every Conv2d output of the features (8 of them, [B, ch, h, w]) and
        every Linear output of the torchvision classifier (3, [B, features]), each read after
        the ReLU that follows it (the published in-place ReLU overwrote the stored tensor);
        the last Linear(4096, 1000) has no ReLU, and the extra `fc` is not recorded.
        """
        activations: list[torch.Tensor] = []
        x = _run_recording(self.model.features, x, activations)
        x = torch.flatten(self.model.avgpool(x), 1)
        x = _run_recording(self.model.classifier, x, activations)
        return self.fc(x), activations


def _run_recording(layers: nn.Sequential, x: torch.Tensor,
                   activations: list[torch.Tensor]) -> torch.Tensor:
    """Run `layers` in order, appending each Conv2d/Linear output to `activations`, replaced
    by the following ReLU's output when a ReLU comes next."""
    after_weight_layer = False
    for layer in layers:
        x = layer(x)
        if isinstance(layer, nn.ReLU) and after_weight_layer:
            activations[-1] = x
        after_weight_layer = isinstance(layer, (nn.Conv2d, nn.Linear))
        if after_weight_layer:
            activations.append(x)
    return x

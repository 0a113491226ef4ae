"""A compact CNN for demos and tests on a CPU (not in the published code)."""

import torch
from torch import nn


class CNN(nn.Module):
    """Three conv-maxpool-ReLU blocks (3->16->32->64 channels) and a two-layer head.

    Shapes for a 32x32x3 input: 16x16x16 -> 32x8x8 -> 64x4x4 -> 1024 -> 128 -> C.
    About 0.16 M parameters. Measured on a 2-core CPU: one Fashion-MNIST epoch (60,000 images,
    batch 128) of forward+backward+SGD step takes about 30 s on one thread and 16 s on two;
    three epochs (SGD momentum 0.9, one-cycle lr up to 0.05, weight decay 5e-4) reach 90.4 %
    test accuracy. (Twice the widths gain nothing on this data and take three times as long.)

    No dropout and no batch-norm on purpose: then train and eval mode compute the same
    function, so the JiT question "which mode does the model run in while unlearning"
    (deviation D2, docs/deviations.md) cannot change the result for this model, and an
    experiment on it isolates the unlearning method itself.
    """

    input_size = 32  # pixels (H = W); Fashion-MNIST is padded 28 -> 32

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        # Max-pool before ReLU: the same function as ReLU then max-pool (ReLU is monotone),
        # with the ReLU on a quarter of the values and in place. Parameter names and shapes are
        # unchanged, so checkpoints of either order load into the other.
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, padding=1),
            nn.MaxPool2d(2),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.MaxPool2d(2),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.MaxPool2d(2),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, 128),
            nn.ReLU(),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 3, 32, 32] -> logits [B, C]."""
        return self.classifier(self.features(x))

    def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits [B, C] and each conv block's output (after its max-pool and ReLU):
        [B, 16, 16, 16], [B, 32, 8, 8], [B, 64, 4, 4], for gkt's attention loss."""
        activations = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                activations.append(x)
        return self.classifier(x), activations

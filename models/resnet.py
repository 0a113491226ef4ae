"""ResNet-18 for 32x32 inputs, laid out like pytorch-cifar100 so its state dicts load as they are.

Differences from the ImageNet ResNet-18: a 3x3 stride-1 stem and no max-pool, so a 32x32
image keeps its full resolution in the first stage.
"""

import torch
from torch import nn


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus a shortcut (1x1 conv + BN when the shape changes)."""

    expansion = 1  # output channels / `out_channels`; 1 for the basic block

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        width = out_channels * self.expansion
        self.residual_function = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, width, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(width),
        )
        # Identity when the block keeps the shape; the empty Sequential has no state-dict keys.
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != width:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, width, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(width),
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.residual_function(x) + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR ResNet-18: stem, four stages of two basic blocks (64/128/256/512 channels,
    strides 1/2/2/2), global average pool, Linear(512, C). About 11.2 M parameters."""

    input_size = 32  # pixels (H = W)

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        self._in_channels = 64  # running channel count while the stages are built
        self.conv2_x = self._stage(64, blocks=2, stride=1)
        self.conv3_x = self._stage(128, blocks=2, stride=2)
        self.conv4_x = self._stage(256, blocks=2, stride=2)
        self.conv5_x = self._stage(512, blocks=2, stride=2)
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * BasicBlock.expansion, num_classes)

    def _stage(self, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
        # Only the first block of a stage changes resolution (stride) and width.
        layers = []
        for block_stride in [stride] + [1] * (blocks - 1):
            layers.append(BasicBlock(self._in_channels, out_channels, block_stride))
            self._in_channels = out_channels * BasicBlock.expansion
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 3, 32, 32] -> logits [B, C]."""
        x = self.conv1(x)
        x = self.conv5_x(self.conv4_x(self.conv3_x(self.conv2_x(x))))
        return self.fc(torch.flatten(self.avg_pool(x), 1))

    def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits [B, C] and each stage's output (conv2_x..conv5_x: [B, 64, 32, 32] ...
        [B, 512, 4, 4] at 32x32 input), for gkt's attention loss (the group outputs that
        zero-shot knowledge transfer compares for residual networks)."""
        x = self.conv1(x)
        activations = []
        for stage in (self.conv2_x, self.conv3_x, self.conv4_x, self.conv5_x):
            x = stage(x)
            activations.append(x)
        return self.fc(torch.flatten(self.avg_pool(x), 1)), activations

"""Device choice and timing barriers."""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)
_warned = False


def resolve_device(gpu: bool) -> torch.device:
    """CUDA when asked for and present; otherwise the CPU (with one warning if CUDA was asked;
    the published code crashes there: deviation D21, docs/deviations.md)."""
    global _warned
    if gpu and torch.cuda.is_available():
        return torch.device("cuda")
    if gpu and not _warned:
        log.warning("-gpu given but CUDA is not available here; running on the CPU")
        _warned = True
    return torch.device("cpu")


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock timers measure the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def use_channels_last_on_cpu(model: nn.Module, device: torch.device | str) -> None:
    """Store a convolutional model's 4-D weights channels-last when it runs on the CPU.

    On the CPU, PyTorch's channels-last convolution and max-pool kernels are much faster than
    the default layout: the demo CNN's inference runs 1.7-2.8x faster depending on the batch
    (max-pool in the default layout took two thirds of the time). Convolutions then produce
    channels-last activations from ordinary inputs, so callers need not convert their inputs.
    Only the memory layout changes: the values are the same up to float rounding. Models
    without convolutions, and every model on a GPU, are left as they are.
    """
    if torch.device(device).type == "cpu" and any(
            isinstance(m, nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)

"""Device choice and timing barriers."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)
_warned = False


def resolve_device(gpu: bool) -> torch.device:
    """CUDA when asked for and present; otherwise the CPU (with one warning if CUDA was asked)."""
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

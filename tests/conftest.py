"""Test set-up: one CPU thread, no network-facing logging. (The repository root and tests/
are importable through pytest's `pythonpath` setting in pyproject.toml.)"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Tests must never reach a network or a wandb account.
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

# Two cores are shared between tests and everything else on the machine.
torch.set_num_threads(1)

"""Seeding of the global random generators, shared by the forgetting runs and pretraining."""

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed every generator the published code seeds (torch, numpy, Python's random)."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)

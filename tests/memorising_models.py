"""Tiny models that memorise random data: a membership attack on them has power by design.

Random inputs with random labels can only be fitted by memorising, so a model trained on a set
is confident on it and not on fresh samples, and two models that never saw a set are
exchangeable on it.
"""

import torch
from torch import nn

DIM, CLASSES = 20, 4


def random_data(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(count, DIM, generator=generator),
            torch.randint(0, CLASSES, (count,), generator=generator))


def memorise(x: torch.Tensor, y: torch.Tensor, seed: int, steps: int = 120) -> nn.Module:
    """A small MLP trained full-batch on (x, y) until it fits it (random labels: memorising)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(DIM, 64), nn.ReLU(), nn.Linear(64, CLASSES))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(steps):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    return model.eval()


def logits_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)

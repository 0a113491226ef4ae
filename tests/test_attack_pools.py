"""Pools of checkpoints run over a loader: each model's confidences, and pools that are too
small or trained for another dataset or network refused (check_pool runs before any
inference in unlearn/report/per_example_attacks.py)."""

import pytest
import torch

from models import build_model
from models.checkpoint import save_checkpoint
from unlearn.errors import UsageError
from unlearn.eval.attacks import pools
from unlearn.eval.attacks.confidence import logit_scaled_confidence
from unlearn.store.model_store import ModelStore, TrainingRecipe

IDENTITY = {"net": "CNN", "dataset": "FashionMNIST", "num_classes": 10}


def write(folder, name, seed, *, arch="CNN", dataset="FashionMNIST"):
    torch.manual_seed(seed)
    model = build_model(arch, 10)
    path = folder / f"{name}.pth"
    save_checkpoint(path, model, {"arch": arch, "num_classes": 10, "dataset": dataset})
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pool")
    return {"originals": [write(folder, f"original{s}", s) for s in range(3)],
            "retrained": [write(folder, f"retrained{s}", 10 + s) for s in range(5)],
            "unlearned": [write(folder, f"unlearned{s}", 20 + s) for s in range(3)],
            "folder": folder}


@pytest.fixture(scope="module")
def loader():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 32, 32, generator=generator)
    return [(x[:4], torch.tensor([0, 1, 2, 3])), (x[4:], torch.tensor([4, 5]))]


def test_pool_confidences_are_each_models_phi(checkpoints, loader):
    phi = pools.pool_confidences(checkpoints["originals"][:2], loader, "cpu", **IDENTITY)
    assert phi.shape == (2, 6)
    torch.manual_seed(1)
    model = build_model("CNN", 10).eval()
    with torch.no_grad():
        logits = torch.cat([model(x) for x, _ in loader])
    expected = logit_scaled_confidence(logits, torch.arange(6))
    assert phi[1] == pytest.approx(expected, abs=1e-5)


def test_too_small_pools_are_refused(checkpoints):
    with pytest.raises(UsageError, match=r"shadow \('in'\) pool has 1 model\(s\); the attack "
                                         "needs at least 2"):
        pools.check_pool(checkpoints["unlearned"][:1], 2, "shadow ('in') pool", **IDENTITY)
    assert pools.check_pool(checkpoints["retrained"][:3], 3, "retrained pool",
                            **IDENTITY) == checkpoints["retrained"][:3]


@pytest.mark.parametrize("other", [{"dataset": "Cifar10"}, {"arch": "ResNet18"}])
def test_a_pool_of_another_dataset_or_network_is_refused(checkpoints, other):
    stranger = write(checkpoints["folder"], f"stranger-{'-'.join(other.values())}", 99, **other)
    with pytest.raises(UsageError, match="checkpoint"):
        pools.check_pool(checkpoints["retrained"][:4] + [stranger], 2, "retrained pool",
                         **IDENTITY)


def test_stored_pool_reads_the_store_and_never_trains(tmp_path):
    store = ModelStore(tmp_path)
    recipe = TrainingRecipe(net="CNN", dataset="FashionMNIST", num_classes=10, seed=0, epochs=1,
                            batch_size=8, warm=0)
    stored = store.path_for(recipe)
    save_checkpoint(stored, build_model("CNN", 10), {
        "arch": "CNN", "num_classes": 10, "dataset": "FashionMNIST",
        "recipe": dict(recipe.__dict__)})
    assert pools.stored_pool(store, [recipe], "original pool") == [stored]
    absent = TrainingRecipe(**{**recipe.__dict__, "seed": 1})
    with pytest.raises(UsageError, match="original pool lacks 1 of its 2 models"):
        pools.stored_pool(store, [recipe, absent], "original pool")
    assert not store.path_for(absent).exists()
    other = TrainingRecipe(**{**recipe.__dict__, "dataset": "Cifar10"})
    with pytest.raises(UsageError, match="mixes networks or datasets"):
        pools.stored_pool(store, [recipe, other], "original pool")

"""Pools of checkpoints run over a loader: the per-example attacks end to end, and pools that
are too small or trained for another dataset or network refused before any inference."""

import numpy as np
import pytest
import torch

from models import build_model
from models.checkpoint import save_checkpoint
from unlearn.attacks import pools
from unlearn.attacks.confidence import logit_scaled_confidence
from unlearn.errors import UsageError
from unlearn.model_store import ModelStore, TrainingRecipe

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


def test_pool_attacks_end_to_end(checkpoints, loader):
    result = pools.pool_attacks(shadows=checkpoints["unlearned"][:2],
                                originals=checkpoints["originals"],
                                retrained=checkpoints["retrained"],
                                unlearned=checkpoints["unlearned"], loader=loader,
                                device="cpu", pool_size=2, **IDENTITY)
    assert result["pool"] == {"in": 2, "out": 2, "heldout_retrained": 3, "unlearned": 3}
    assert 0.0 <= result["lira"]["auc"] <= 1.0 and "auc" in result["power"]
    assert len(result["lira_null"]) == 3  # one per held-out retrained model
    assert result["forget_quality"]["num_models"] == 3
    assert np.isfinite(result["forget_quality"]["score"])


def test_too_small_pools_are_refused(checkpoints, loader):
    common = {"loader": loader, "device": "cpu", **IDENTITY}
    with pytest.raises(UsageError, match="shadow .* has 1 model"):
        pools.pool_attacks(shadows=checkpoints["unlearned"][:1],
                           retrained=checkpoints["retrained"],
                           unlearned=checkpoints["unlearned"], pool_size=2, **common)
    with pytest.raises(UsageError, match="retrained pool .* has 3 model"):
        pools.pool_attacks(shadows=checkpoints["unlearned"],
                           retrained=checkpoints["retrained"][:3],
                           unlearned=checkpoints["unlearned"], pool_size=2, **common)
    with pytest.raises(UsageError, match="pool size 1"):
        pools.pool_attacks(shadows=checkpoints["unlearned"],
                           retrained=checkpoints["retrained"],
                           unlearned=checkpoints["unlearned"], pool_size=1, **common)


@pytest.mark.parametrize("other", [{"dataset": "Cifar10"}, {"arch": "ResNet18"}])
def test_a_pool_of_another_dataset_or_network_is_refused_before_inference(checkpoints, other):
    stranger = write(checkpoints["folder"], f"stranger-{'-'.join(other.values())}", 99, **other)

    class NoLoader:
        def __iter__(self):
            raise AssertionError("inference started before the pools were checked")

    with pytest.raises(UsageError, match="checkpoint"):
        pools.pool_attacks(shadows=checkpoints["originals"],
                           retrained=checkpoints["retrained"][:4] + [stranger],
                           unlearned=checkpoints["unlearned"], loader=NoLoader(),
                           device="cpu", pool_size=2, **IDENTITY)


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

"""Attack power recorded by a run."""

from __future__ import annotations

import pytest
from cli_fixtures import make_world

from unlearn import experiment
from unlearn.attacks.population import ATTACKS


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("attacks_world"), ("FashionMNIST",))


def run_config(world, tmp_path, **changes) -> experiment.RunConfig:
    fields = dict(task="full_class", net="CNN", dataset="FashionMNIST", num_classes=10,
                  method="baseline", weight_path=world.weights("FashionMNIST"),
                  forget_class="Sneaker", data_dir=world.data_dir("FashionMNIST"),
                  results_path=str(tmp_path / "r.jsonl"))
    return experiment.RunConfig(**(fields | changes))


def test_a_run_records_power(world, tmp_path):
    row = experiment.run(run_config(world, tmp_path))
    scores = row["metrics"]
    for name in ATTACKS:  # baseline: the unlearned model is the original, power = result
        for key in ("auc", "tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct"):
            assert scores[f"attack_{name}_{key}_original"] == pytest.approx(
                scores[f"attack_{name}_{key}"], abs=1e-9)
    # a method that changes the model: its power is still the original's, the baseline's result
    finetuned = experiment.run(run_config(world, tmp_path, method="finetune",
                                          hyperparameters={"epochs": 1}))["metrics"]
    assert finetuned["attack_loss_auc_original"] == pytest.approx(scores["attack_loss_auc"],
                                                                  abs=1e-9)

"""A run records its place in a study, per-class test accuracies and, given retrained
checkpoints, the closeness of its outputs to theirs (tiny Fashion-MNIST, tiny CNNs)."""

from pathlib import Path

import pytest
from cli_fixtures import invoke, make_world, pretrain_args, rows

import pretrain_model
from models.checkpoint import file_sha256
from unlearn.errors import UsageError
from unlearn.run import experiment


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("study_run")
    world = make_world(root, ("FashionMNIST", "FashionMNIST4"))
    world.retrained = {}
    for name, extra in {"sneaker0": ["-forget_class", "Sneaker", "-seed", "0"],
                        "sneaker1": ["-forget_class", "Sneaker", "-seed", "1"],
                        "coat": ["-forget_class", "Coat"]}.items():
        out = root / f"{name}.pth"
        code = pretrain_model.main(pretrain_args(world, "FashionMNIST", *extra, "-out",
                                                 str(out)))
        assert code == 0
        world.retrained[name] = str(out)
    return world


def config(world, tmp_path, method="baseline", **changes):
    values = dict(task="full_class", net="CNN", dataset="FashionMNIST", num_classes=10,
                  method=method, weight_path=world.weights("FashionMNIST"),
                  forget_class="Sneaker", data_dir=world.data_dir("FashionMNIST"),
                  results_path=str(tmp_path / "r.jsonl"))
    return experiment.RunConfig(**(values | changes))


def test_closeness_to_retrained_checkpoints_is_recorded(world, tmp_path):
    paths = (world.retrained["sneaker0"], world.retrained["sneaker1"])
    row = experiment.run(config(world, tmp_path), retrained_paths=paths)
    close = row["metrics"]["closeness"]
    assert close["retrains"] == 2
    for split in ("forget_train", "forget_test", "retain_test"):
        assert 0 <= close[f"js_{split}"] <= 1
        assert 0 <= close[f"agreement_{split}"] <= 100
    assert row["study"]["original"] == (file_sha256(world.weights("FashionMNIST"))[:8]
                                        + " (seed 0)")
    per_class = row["metrics"]["acc_test_per_class"]
    assert set(per_class) <= {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                              "Shirt", "Sneaker", "Bag", "Ankle boot"}
    assert "Sneaker" in per_class


def test_a_retrain_is_compared_with_the_other_retrains_only(world, tmp_path):
    own = world.retrained["sneaker0"]
    hyper = {"epochs": 1, "batch_size": 32, "warm": 1, "retrained_path": own}
    row = experiment.run(config(world, tmp_path, "retrain", hyperparameters=hyper),
                         retrained_paths=(own, world.retrained["sneaker1"]))
    assert row["metrics"]["closeness"]["retrains"] == 1
    study = row["study"]
    assert study["retrain"] == file_sha256(own)[:8] + " (seed 0)"
    assert (study["retrain_dataset"], study["retrain_left_out"]) == ("FashionMNIST",
                                                                     "class Sneaker")


def test_a_retrained_checkpoint_of_another_forget_set_is_refused(world, tmp_path):
    with pytest.raises(UsageError, match="left out 'class Coat', but this run forgets "
                                         "'class Sneaker'"):
        experiment.run(config(world, tmp_path), retrained_paths=(world.retrained["coat"],))
    assert rows(tmp_path / "r.jsonl") == []  # nothing recorded


def test_sub_class_per_class_accuracy_is_per_fine_class(world, tmp_path, capsys):
    import forget_sub_class_main

    argv = ["-net", "CNN", "-dataset", "FashionMNIST4", "-superclasses", "4", "-subclasses",
            "10", "-forget_class", "Sneaker", "-method", "baseline",
            "-weight_path", world.weights("FashionMNIST4"),
            "-data_dir", world.data_dir("FashionMNIST4"), "-results", str(tmp_path / "r.jsonl")]
    assert invoke(forget_sub_class_main.main, argv, capsys).code == 0
    (row,) = rows(tmp_path / "r.jsonl")
    per_class = row["metrics"]["acc_test_per_class"]
    assert {"Sandal", "Sneaker", "Ankle boot"} <= set(per_class)  # fine, not superclasses
    assert "footwear" not in per_class


def test_closeness_to_the_stored_retrains_of_the_cell(world, tmp_path, capsys, monkeypatch):
    import forget_full_class_main

    monkeypatch.chdir(tmp_path)
    assert invoke(pretrain_model.main, pretrain_args(world, "FashionMNIST", "-store", "store"),
                  capsys).code == 0
    weights = str(next(Path("store").rglob("*.pth")))
    base = ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-forget_class",
            "Sneaker", "-weight_path", weights, "-store", "store",
            "-data_dir", world.data_dir("FashionMNIST"), "-results", "r.jsonl"]
    close = ["-closeness_retrains", "2"]
    missing = invoke(forget_full_class_main.main, [*base, "-method", "baseline", *close], capsys)
    assert missing.code == 2 and "lacks 2 of the 2 retrained models" in missing.err_lines[-1]
    assert rows("r.jsonl") == []
    for k in (0, 1):  # the retrain runs train the cell's retrains into the store
        outcome = invoke(forget_full_class_main.main,
                         [*base, "-method", "retrain", "-retrain_index", str(k)], capsys)
        assert outcome.code == 0, outcome.err
    for argv in ([*base, "-method", "baseline", *close],
                 [*base, "-method", "retrain", "-retrain_index", "1", *close]):
        assert invoke(forget_full_class_main.main, argv, capsys).code == 0
    first, second, baseline, retrain = rows("r.jsonl")
    assert first["study"]["retrain"] != second["study"]["retrain"]  # two of the K retrains
    assert baseline["metrics"]["closeness"]["retrains"] == 2
    assert retrain["metrics"]["closeness"]["retrains"] == 1  # not compared with itself
    assert retrain["study"]["retrain"] == second["study"]["retrain"]
    no_store = invoke(forget_full_class_main.main,
                      [a for a in base if a not in ("-store", "store")] + ["-method",
                                                                            "baseline", *close],
                      capsys)
    assert no_store.code == 2 and "give -store DIR" in no_store.err_lines[-1]

"""The model store: trained once, reused, refused when its file lies, safe under interruption
and concurrent writers; and the pretrain / retrain entry points that use it (the random task's
retrains too)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from cli_fixtures import invoke, make_world, one_error_line, pretrain_args, rows

import forget_full_class_main
import forget_random_main
import pretrain_model
from models import build_model
from models.checkpoint import load_checkpoint, save_checkpoint
from unlearn import exit_codes
from unlearn.data import datasets
from unlearn.errors import UsageError
from unlearn.run import experiment
from unlearn.store import model_store
from unlearn.store.model_store import ModelStore, TrainingRecipe, retrain_seed
from unlearn.train import pretraining

RECIPE = TrainingRecipe(net="CNN", dataset="FashionMNIST", num_classes=10, seed=0, epochs=1,
                        batch_size=32, warm=0)


def fake_training(recipe: TrainingRecipe, calls: list | None = None, *, recorded=None):
    """A `train(partial)` that writes a tiny checkpoint recording `recorded` (default: the
    recipe) and counts its calls."""
    def train(partial: Path) -> None:
        if calls is not None:
            calls.append(partial)
        meta = {"arch": "CNN", "num_classes": 10, "dataset": "FashionMNIST",
                "recipe": asdict(recorded or recipe)}
        save_checkpoint(partial, build_model("CNN", 10), meta)
    return train


def test_a_model_is_trained_once_and_then_read(tmp_path):
    store, calls = ModelStore(tmp_path), []
    first = store.ensure(RECIPE, fake_training(RECIPE, calls))
    again = store.ensure(RECIPE, fake_training(RECIPE, calls))
    assert first == again == store.path_for(RECIPE)
    assert len(calls) == 1
    assert load_checkpoint(first)[1]["recipe"] == asdict(RECIPE)
    assert not list(tmp_path.rglob("*.lock")) and not list(tmp_path.rglob("*.partial.pth"))


def test_a_changed_recipe_is_another_model(tmp_path):
    store, calls = ModelStore(tmp_path), []
    other = replace(RECIPE, left_out="class Shirt")
    store.ensure(RECIPE, fake_training(RECIPE, calls))
    store.ensure(other, fake_training(other, calls))
    assert len(calls) == 2
    assert store.path_for(RECIPE) != store.path_for(other)
    # so is one trained by another version of the training code
    assert replace(RECIPE, training_code=RECIPE.training_code + 1).key() != RECIPE.key()


def test_a_file_whose_recipe_differs_from_its_key_is_refused(tmp_path):
    store = ModelStore(tmp_path)
    liar = replace(RECIPE, seed=7)
    fake_training(RECIPE, recorded=liar)(store.path_for(RECIPE))
    with pytest.raises(UsageError, match=r"another recipe than its key \(differs in seed\)"):
        store.find(RECIPE)


def test_training_that_writes_the_wrong_recipe_is_not_stored(tmp_path):
    store = ModelStore(tmp_path)
    with pytest.raises(RuntimeError, match="without the recipe"):
        store.ensure(RECIPE, fake_training(RECIPE, recorded=replace(RECIPE, seed=3)))
    assert store.find(RECIPE) is None


def test_an_unwritable_store_is_refused_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UsageError, match=f"model store {blocker}/store cannot be written"):
        ModelStore(blocker / "store").check_writable()


def _hold_lock_and_die(root: str, started) -> None:
    """A writer that takes the lock, writes half a training, then hangs until killed."""
    def train(partial: Path) -> None:
        partial.write_bytes(b"half an epoch")
        started.set()
        time.sleep(600)
    ModelStore(root).ensure(RECIPE, train)


def test_a_writer_killed_mid_training_is_taken_over(tmp_path):
    context = multiprocessing.get_context("fork")
    started = context.Event()
    writer = context.Process(target=_hold_lock_and_die, args=(str(tmp_path), started))
    writer.start()
    assert started.wait(60)
    os.kill(writer.pid, signal.SIGKILL)
    writer.join()
    store, calls = ModelStore(tmp_path), []
    lock = store.path_for(RECIPE).with_suffix(".lock")
    assert lock.exists() and store.find(RECIPE) is None  # nothing half-written is visible
    path = store.ensure(RECIPE, fake_training(RECIPE, calls))
    assert calls == [store.path_for(RECIPE).with_suffix(".partial.pth")]  # resumed in place
    assert load_checkpoint(path)[1]["recipe"] == asdict(RECIPE)


def _ensure_in_process(root: str, out: str) -> None:
    def train(partial: Path) -> None:
        with open(out, "a") as trainings:
            trainings.write("trained\n")
        time.sleep(1.0)  # long enough for the other writer to find the lock held
        fake_training(RECIPE)(partial)
    print(ModelStore(root).ensure(RECIPE, train))


def test_two_concurrent_writers_train_once(tmp_path, monkeypatch):
    monkeypatch.setattr(model_store, "POLL_S", 0.1)
    context = multiprocessing.get_context("fork")
    log = tmp_path / "trainings.txt"
    writers = [context.Process(target=_ensure_in_process, args=(str(tmp_path / "s"), str(log)))
               for _ in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert [w.exitcode for w in writers] == [0, 0]
    assert log.read_text() == "trained\n"
    assert ModelStore(tmp_path / "s").find(RECIPE) is not None


def test_retrain_seeds_are_distinct_from_original_seeds():
    assert [retrain_seed(k) for k in range(3)] == [1000, 1001, 1002]
    with pytest.raises(UsageError, match="retrain index must be at least 0"):
        retrain_seed(-1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("store_world"), ("FashionMNIST",))


def test_pretraining_into_the_store_reuses_the_model(world, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = pretrain_args(world, "FashionMNIST", "-store", "store", "-train_subset", "20",
                         "-no_augment", "-seed", "3")
    first = invoke(pretrain_model.main, args, capsys)
    assert first.code == 0, first.err
    stored = list(Path("store").rglob("*.pth"))
    assert len(stored) == 1
    before = stored[0].stat().st_mtime_ns
    again = invoke(pretrain_model.main, args, capsys)
    assert again.code == 0 and "model store hit" in again.err  # no -skip_done: exit code 0
    skipped = invoke(pretrain_model.main, [*args, "-skip_done"], capsys)
    assert skipped.code == exit_codes.SKIPPED, skipped.err  # a sweep counts it skipped
    assert stored[0].stat().st_mtime_ns == before
    recipe = load_checkpoint(stored[0])[1]["recipe"]
    assert (recipe["seed"], recipe["train_subset"], recipe["augment"]) == (3, 20, False)


def test_retrain_with_a_store_trains_the_cell_once_then_loads_it(world, tmp_path, capsys,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    original = invoke(pretrain_model.main, pretrain_args(
        world, "FashionMNIST", "-store", "store", "-train_subset", "24"), capsys)
    assert original.code == 0, original.err
    weights = next(Path("store").rglob("*.pth"))
    argv = ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-method", "retrain",
            "-forget_class", "Sneaker", "-weight_path", str(weights), "-store", "store",
            "-data_dir", world.data_dir("FashionMNIST"), "-results", "r.jsonl"]
    for _ in range(2):
        outcome = invoke(forget_full_class_main.main, argv, capsys)
        assert outcome.code == 0, outcome.err
    retrains = [p for p in Path("store").rglob("*.pth") if p != weights]
    assert len(retrains) == 1  # trained by the first run, loaded by the second
    meta = load_checkpoint(retrains[0])[1]
    assert meta["forget"] == "class Sneaker"
    assert (meta["recipe"]["seed"], meta["recipe"]["train_subset"]) == (retrain_seed(0), 24)
    first, second = rows("r.jsonl")
    assert first["metrics"] == second["metrics"]  # the same stored model, scored twice


def test_retrain_from_the_store_needs_a_stored_original(world, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-method", "retrain",
            "-forget_class", "Sneaker", "-weight_path", world.weights("FashionMNIST"),
            "-store", "store", "-data_dir", world.data_dir("FashionMNIST"), "-results", "r.jsonl"]
    outcome = invoke(forget_full_class_main.main, argv, capsys)
    assert outcome.code == 2
    assert "was not trained into a model store" in outcome.err_lines[-1]


def random_run_args(world, weights, *extra: str) -> list[str]:
    return ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10",
            "-weight_path", str(weights), "-store", "store",
            "-data_dir", world.data_dir("FashionMNIST"), "-results", "r.jsonl", *extra]


def random_pool(world, capsys, count: str, forget_seed: str) -> tuple[Path, Path]:
    """An original trained on a 24-image subset, and its first retrain without the random
    task's forget set (count, seed), as scripts/pool.py trains them; their paths."""
    subset = ("-store", "store", "-train_subset", "24")
    assert invoke(pretrain_model.main, pretrain_args(world, "FashionMNIST", *subset),
                  capsys).code == 0
    (original,) = Path("store").rglob("*.pth")
    retrain = invoke(pretrain_model.main, pretrain_args(
        world, "FashionMNIST", *subset, "-forget_count", count, "-forget_seed", forget_seed,
        "-seed", str(retrain_seed(0))), capsys)
    assert retrain.code == 0, retrain.err
    (retrained,) = [p for p in Path("store").rglob("*.pth") if p != original]
    return original, retrained


def test_a_random_retrain_leaves_out_the_samples_the_run_forgets(world, tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen = {}  # what the retrain trained on, and what the forgetting run forgot
    real_train, real_evaluate = pretraining.train, experiment.evaluate

    def recording_train(model, loader, *args, **kwargs):
        seen["retrain"] = (loader.images.images, loader.indices)
        return real_train(model, loader, *args, **kwargs)

    def recording_evaluate(model, config, spec, train_set, test_set, split, *args, **kwargs):
        seen["run"] = (train_set.images, split.forget_train, split.retain_train)
        return real_evaluate(model, config, spec, train_set, test_set, split, *args, **kwargs)

    monkeypatch.setattr(pretraining, "train", recording_train)
    monkeypatch.setattr(experiment, "evaluate", recording_evaluate)
    original, retrained = random_pool(world, capsys, "5", "2")
    # unlearning seed 7, forget seed 2: the forget set is drawn with the forget seed
    outcome = invoke(forget_random_main.main, random_run_args(
        world, original, "-forget_count", "5", "-forget_seed", "2", "-seed", "7",
        "-method", "retrain"), capsys)
    assert outcome.code == 0, outcome.err
    assert len(list(Path("store").rglob("*.pth"))) == 2  # the run loaded the pool's retrain
    retrain_images, retrain_indices = seen["retrain"]
    run_images, forgotten, retained = seen["run"]
    assert len(run_images) == 24 and torch.equal(retrain_images, run_images)  # one subset
    assert torch.equal(retrain_indices.sort().values, retained)
    assert torch.equal(forgotten, datasets.random_split_indices(24, count=5, seed=2)[0])
    meta = load_checkpoint(retrained)[1]
    (row,) = rows("r.jsonl")
    assert meta["forget"] == meta["recipe"]["left_out"] == row["forget"] == \
        "random 5 samples (seed 2)"
    assert (meta["train_samples"], meta["recipe"]["train_subset"]) == (19, 24)
    assert (row["seed"], row["forget_seed"]) == (7, 2)
    assert row["study"]["retrain_left_out"] == row["forget"]


def test_a_random_retrain_of_another_forget_set_is_refused(world, tmp_path, capsys,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    original, retrained = random_pool(world, capsys, "5", "2")
    same = ["-forget_count", "5", "-forget_seed", "2"]
    close = ["-method", "baseline", "-closeness_retrains", "1"]
    matching = invoke(forget_random_main.main, random_run_args(world, original, *same, *close),
                      capsys)
    assert matching.code == 0, matching.err
    (row,) = rows("r.jsonl")
    assert row["metrics"]["closeness"]["retrains"] == 1
    for other in (["-forget_count", "5", "-forget_seed", "3"],   # another seed
                  ["-forget_count", "4", "-forget_seed", "2"]):  # another count
        loaded = invoke(forget_random_main.main, random_run_args(
            world, original, *other, "-method", "retrain", "-retrain_path", str(retrained)),
            capsys)
        assert loaded.code == 2
        assert loaded.err_lines[-1].startswith("error: retrained checkpoint")
        assert "left out 'random 5 samples (seed 2)'" in loaded.err_lines[-1]
        looked_up = invoke(forget_random_main.main, random_run_args(world, original, *other,
                                                                    *close), capsys)
        assert looked_up.code == 2 and "lacks 1 of the 1 retrained" in looked_up.err_lines[-1]
        config = experiment.RunConfig(
            task="random", net="CNN", dataset="FashionMNIST", num_classes=10,
            method="baseline", weight_path=str(original), forget_count=int(other[1]),
            forget_seed=int(other[3]), data_dir=world.data_dir("FashionMNIST"),
            results_path="r.jsonl")
        with pytest.raises(UsageError, match=r"left out 'random 5 samples \(seed 2\)', but "
                                             r"this run forgets 'random \d samples"):
            experiment.run(config, retrained_paths=(str(retrained),))
    assert len(rows("r.jsonl")) == 1  # nothing recorded for the refused runs


def test_a_random_retrain_names_its_whole_forget_set(world, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for flags, mention in ((["-forget_count", "5"], "-forget_seed"),
                           (["-forget_seed", "1"], "-forget_count"),
                           (["-forget_count", "5", "-forget_seed", "1", "-forget_class", "Bag"],
                            "one of")):
        outcome = invoke(pretrain_model.main, pretrain_args(world, "FashionMNIST", *flags),
                         capsys)
        one_error_line(outcome, mention)

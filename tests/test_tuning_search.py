"""Issue 20's tuning: bound widening, the multi-cell objective with the test split closed for
every cell, and tuned tables that read on another checkout with its own store."""

import json
import math
import shutil
from pathlib import Path

import optuna
import pytest
from cli_fixtures import invoke
from data_files import write_fashion_mnist

import forget_full_class_main
import pretrain_model
from scripts import tune
from unlearn.data import datasets
from unlearn.errors import UsageError
from unlearn.store.model_store import read_recipe, retrain_seed
from unlearn.tuning import provenance, study, widening
from unlearn.tuning.run_tuning import optimise, search_record

optuna.logging.set_verbosity(optuna.logging.WARNING)
ROOT = Path(__file__).resolve().parent.parent


def test_an_optimum_outside_the_declared_space_is_found_and_the_widening_recorded(tmp_path):
    """The toy distance is smallest at x = 0.05, five times the declared high bound 0.01."""
    declared = {"x": ("log_float", 1e-4, 1e-2)}
    limits = widening.limits_for(declared, {})
    assert limits == {"x": [1e-6, 1.0]}  # ×100 beyond each bound by default
    store = study.storage(f"sqlite:///{tmp_path / 'w.db'}")
    sampler = study.Sampler(seed=0, startup_trials=5)
    opened = study.open_study(store, "t-D-N-toy", "t-D-N", 30, {}, sampler, declared)

    def evaluate(trial, values):
        return (math.log10(values["x"]) - math.log10(0.05)) ** 2

    assert optimise(opened, evaluate, 30, sampler, limits) == 30
    best = opened.best_trial.params["x"]
    assert best > 1e-2 and abs(math.log10(best / 0.05)) < 0.2
    record = search_record(opened, limits)
    assert record["widenings"][0]["name"] == "x" and record["widenings"][0]["side"] == "high"
    assert record["widenings"][0]["from"] == [1e-4, 1e-2]
    assert record["searched_space"]["x"][2] > 1e-2
    assert record["against_bound"] == {}  # 0.05 lies well inside the widened range
    assert opened.user_attrs["setup"]["sampler"] == {"name": "TPESampler", "seed": 0,
                                                     "startup_trials": 5}


def test_widening_steps_stop_at_the_limit_and_mark_a_best_value_left_there():
    assert widening.step(("log_float", 1e-4, 1e-2), "high", (1e-6, 0.05)) == (
        "log_float", 1e-4, 0.05)
    assert widening.step(("log_float", 1e-4, 0.05), "high", (1e-6, 0.05)) is None
    assert widening.step(("int", 1, 5), "high", (1, 13)) == ("int", 1, 9)
    assert widening.step(("int", 1, 5), "low", (1, 13)) is None  # a linear floor stays
    space = {"lr": ("log_float", 1e-4, 0.05), "epochs": ("int", 1, 9)}
    marked = widening.against_bounds(space, {"lr": 0.049, "epochs": 5},
                                     {"lr": [1e-6, 0.05], "epochs": [1, 13]})
    assert marked == {"lr": {"side": "high", "bound": 0.05, "at_limit": True}}


@pytest.mark.parametrize("given, message", [
    ({"x": (1e-6, 1e-3)}, "lies below the declared high bound"),
    ({"x": (1e-3, 1.0)}, "lies above the declared low bound"),
    ({"y": (1, 2)}, "not a range of the search space"),
])
def test_a_widening_limit_inside_the_declared_range_is_refused(given, message):
    with pytest.raises(UsageError, match=message):
        widening.limits_for({"x": ("log_float", 1e-4, 1e-2)}, given)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """A model store with two originals (seeds 0, 1) and the retrains without Trouser and
    without Bag (one epoch each on 200 images); the test files are junk, so no cell can read
    them."""
    root = tmp_path_factory.mktemp("cells")
    data = write_fashion_mnist(root / "fashion", n_train=200, n_test=20)
    store = root / "store"
    common = ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-epochs", "1",
              "-b", "32", "-data_dir", str(data), "-store", str(store)]
    for seed in ("0", "1"):
        assert pretrain_model.main([*common, "-seed", seed]) == 0
    for left_out in ("Trouser", "Bag"):
        assert pretrain_model.main([*common, "-forget_class", left_out,
                                    "-seed", str(retrain_seed(0))]) == 0
    for test_file in data.glob("t10k-*"):
        test_file.write_bytes(b"not an idx file")
    datasets._load_cached.cache_clear()
    originals = sorted(p for p in store.rglob("*.pth") if read_recipe(p)["left_out"] is None)
    return root, data, store, [str(p) for p in originals]


def cells_argv(pool, tmp_path, *extra):
    _, data, store, originals = pool
    return ["--task", "full_class", "--dataset", "FashionMNIST", "--net", "CNN",
            "--method", "finetune", "--trials", "2", "--startup-trials", "2",
            "--storage", f"sqlite:///{tmp_path / 'cells.db'}",
            *(a for o in originals for a in ("--weights", o)), "--store", str(store),
            "--tune-class", "Trouser", "--tune-class", "Bag", "--val-frac", "0.25",
            "--data-dir", str(data), "--tuned-dir", str(tmp_path / "tuned"),
            "--plot-dir", str(tmp_path / "plots"), "--space-only",
            "--space", "lr=log_float:0.001:0.05", "--space", "epochs=int:1:1", *extra]


def test_the_objective_is_the_mean_over_cells_with_the_test_split_closed(pool, tmp_path,
                                                                        capsys, monkeypatch):
    asked = []
    real = datasets.load_split
    monkeypatch.setattr(datasets, "load_split",
                        lambda name, train, *a, **k: (asked.append(train), real(name, train, *a,
                                                                                  **k))[1])
    outcome = invoke(tune.main, cells_argv(pool, tmp_path, "--reported-class", "Shirt"), capsys)
    assert outcome.code == 0, outcome.err
    assert asked and all(asked)  # every cell loaded training data only

    loaded = optuna.load_study(study_name="full_class-FashionMNIST-CNN-finetune",
                               storage=f"sqlite:///{tmp_path / 'cells.db'}")
    for trial in loaded.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        cells = trial.user_attrs["cell_distances"]
        assert len(cells) == 4  # 2 originals × 2 forget sets
        assert trial.value == pytest.approx(sum(cells) / 4)

    summary = json.loads(outcome.out)
    entry = json.loads(open(summary["table"]).read())["methods"]["finetune"]
    provenance = entry["provenance"]
    assert [c["tune_class"] for c in provenance["cells"]] == ["Trouser", "Bag"] * 2
    assert all(set(c["original"]) == {"store_key"} for c in provenance["cells"])
    assert provenance["sampler"]["startup_trials"] == 2
    assert not provenance["storage"].startswith("sqlite:////")  # relative to the repository
    assert not [text for text in strings(entry) if text.startswith("/") or ":////" in text]
    assert (tmp_path / "tuned" / "full_class-FashionMNIST-CNN-finetune_convergence.png").is_file()


def strings(value):
    """Every string inside a JSON value (keys excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for inner in value.values() if isinstance(value, dict) else value:
            yield from strings(inner)


def test_a_tuned_table_reads_on_another_checkout_with_its_own_store(pool, tmp_path, capsys):
    """Written with one store, read with a copy of it elsewhere (another clone's store); a
    store that lacks the entry's models is refused, naming their keys."""
    root, data, store, _ = pool
    outcome = invoke(tune.main, cells_argv(pool, tmp_path), capsys)
    assert outcome.code == 0, outcome.err
    elsewhere = tmp_path / "clone" / "store"
    shutil.copytree(store, elsewhere)

    def run(store_dir, results):
        return invoke(forget_full_class_main.main, [
            "-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-forget_class",
            "Sneaker", "-method", "finetune", "-weight_path", pool[3][0], "-data_dir",
            str(root / "fashion-readable"), "-results", str(results), "-tuned",
            str(tmp_path / "tuned"), "-store", str(store_dir)], capsys)

    readable = write_fashion_mnist(root / "fashion-readable", n_train=200, n_test=20)
    assert readable.exists()
    datasets._load_cached.cache_clear()
    ran = run(elsewhere, tmp_path / "r.jsonl")
    assert ran.code == 0, ran.err
    empty = tmp_path / "empty-store"
    empty.mkdir()
    refused = run(empty, tmp_path / "x.jsonl")
    assert refused.code == 2 and len(refused.err_lines) == 1
    keys = [p.stem for p in store.rglob("*.pth")]
    assert all(key in refused.err for key in keys)


@pytest.mark.parametrize("extra, message", [
    (["--reported-class", "Bag"], "is one of the reported cells"),
    (["--widen-limit", "lr=0.001:0.01"], "lies below the declared high bound"),
    (["--retrained", "r.pth"], "names one cell's retrained model"),
])
def test_bad_cells_and_limits_are_one_line(pool, tmp_path, capsys, extra, message):
    outcome = invoke(tune.main, cells_argv(pool, tmp_path, *extra), capsys)
    assert outcome.code == 2 and len(outcome.err_lines) == 1 and message in outcome.err
    assert not (tmp_path / "cells.db").exists()


COMMITTED = sorted([*(ROOT / "tuned").glob("*.json"),
                    *(ROOT / "docs" / "measured" / "fashionmnist_tuning" / "tuned").glob("*.json")])


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_tables_are_portable_and_read_with_a_store_holding_their_models(path,
                                                                                  tmp_path):
    table = json.loads(path.read_text())
    _, dataset, net = path.stem.rsplit("_", 2)  # <[oracle_seedI_]task>_<dataset>_<net>
    for method, entry in table["methods"].items():
        assert not [s for s in strings(entry) if s.startswith("/") or ":////" in s]
        keys = provenance.entry_keys(entry)
        assert keys, method
        for key in keys:  # a clone's store: the files the keys name
            stored = provenance.stored_path(tmp_path, net, dataset, key)
            stored.parent.mkdir(parents=True, exist_ok=True)
            stored.touch()
        provenance.check_keys(entry, tmp_path, net, dataset, method)
        assert entry["hyperparameters"] and "against_bound" in entry
    with pytest.raises(UsageError, match="lacks"):
        provenance.check_keys(entry, tmp_path / "elsewhere", net, dataset, method)

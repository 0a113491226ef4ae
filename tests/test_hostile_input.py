"""Nothing used that was not checked, nothing half-written: one test per class of defect a
hostile user found (issue 22). Each asserts the exit code, the single line a user reads, and
the files left behind (none torn, none empty, no wrong model in the store). Tiny generated data
and the compact CNN throughout; disk-full is simulated by failing the writes.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from cli_fixtures import file_state, invoke, make_world, one_error_line, pretrain_args, rows

import forget_full_class_main
import pretrain_model
from models import build_model, checkpoint
from scripts import sweep_grid, tune
from unlearn.data import datasets
from unlearn.methods import hyperparameters
from unlearn.report import tables
from unlearn.store import disk, model_store, results
from unlearn.store.model_store import ModelStore, TrainingRecipe


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("hostile"), ("FashionMNIST",))


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")


def full(world, results_path, *extra: str, method: str = "baseline") -> list[str]:
    return ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-method", method,
            "-forget_class", "Trouser", "-weight_path", world.weights("FashionMNIST"),
            "-data_dir", world.data_dir("FashionMNIST"), "-results", str(results_path),
            *extra]


def failed_at_work(outcome, *mentions: str) -> str:
    """A failure during the work: exit code 1, no traceback, one 'error:' line (the last) naming
    every one of `mentions` (log lines of the work before it are allowed). Returns it."""
    assert outcome.code == 1, outcome
    assert "Traceback" not in outcome.err, outcome.err
    errors = [line for line in outcome.err_lines if line.startswith("error: ")]
    assert errors == [outcome.err_lines[-1]], outcome.err_lines
    for text in mentions:
        assert text in errors[0], (text, errors[0])
    return errors[0]


# ---------------------------------------------------------------- 6. divergence is a result


@pytest.mark.parametrize("method, flags", [
    ("lipschitz_forgetting", ["-eta", "1e30", "-n_samples", "2", "-b", "1"]),
    ("scrub", ["-hp", "lr=1e30", "-hp", "epochs=1", "-b", "4"]),
])
def test_a_diverging_method_records_a_failed_row(world, tmp_path, capsys, method, flags):
    store = tmp_path / "r.jsonl"
    outcome = invoke(forget_full_class_main.main, full(world, store, *flags, method=method),
                     capsys)
    line = failed_at_work(outcome)
    assert "finite" in line
    (row,) = rows(store)  # docs/scaling.md's way of finding failed runs finds it
    assert row["status"] == "failed" and row["method"] == method
    assert "finite" in row["error"]
    assert store.read_bytes().endswith(b"\n")


# ---------------------------------------------------------------- 4. a full disk


def full_disk_after(monkeypatch, module, written: int):
    """From now on, `os.write` in `module` writes `written` bytes of a row, then the disk is
    full (ENOSPC), as a real full disk fails mid-row."""
    real = module.os.write

    def write(fd, data):
        if bytes(data[:2]).lstrip(b"\n").startswith(b"{"):  # a results row; logs pass
            real(fd, bytes(data[:written]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)
    monkeypatch.setattr(module.os, "write", write)


def test_a_full_disk_loses_no_row_silently_and_tears_none(world, tmp_path, capsys,
                                                         monkeypatch):
    store = tmp_path / "r.jsonl"
    assert invoke(forget_full_class_main.main, full(world, store), capsys).code == 0
    before = file_state(store)
    with monkeypatch.context() as patch:
        full_disk_after(patch, results, 40)
        outcome = invoke(forget_full_class_main.main, full(world, store, "-seed", "3"), capsys)
    failed_at_work(outcome, str(store), "No space left on device", "baseline run",
                   "seed 3", "is lost")
    assert file_state(store) == before  # no torn row: the file is as it was
    assert [row["seed"] for row in rows(store)] == [0]

    # a report: refused before its text is written, no empty .md left behind
    with monkeypatch.context() as patch:
        patch.setattr(disk.shutil, "disk_usage", lambda path: disk.shutil._ntuple_diskusage(
            100 << 20, 100 << 20, 1024))
        outcome = invoke(tables.entry, [str(store), "--out", "report", "--no-plots"], capsys)
    failed_at_work(outcome, "report file", "disk is full")
    assert not [p for p in Path("report").rglob("*") if p.is_file()]

    # a checkpoint: too big for the free space, refused before the first epoch (exit 2); one
    # that fails anyway leaves no file and ends in one line (exit 1)
    out = tmp_path / "m.pth"
    with monkeypatch.context() as patch:
        patch.setattr(disk.shutil, "disk_usage", lambda path: disk.shutil._ntuple_diskusage(
            100 << 20, 100 << 20, 4096))
        one_error_line(invoke(pretrain_model.main, pretrain_args(world, "FashionMNIST", "-out",
                                                                 str(out)), capsys),
                       "not enough free space for the checkpoint", str(out))

    def no_room(*args):
        raise OSError(errno.ENOSPC, "No space left on device")
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint.os, "replace", no_room)
        outcome = invoke(pretrain_model.main, pretrain_args(world, "FashionMNIST", "-out",
                                                            str(out)), capsys)
    failed_at_work(outcome, f"checkpoint {out} was not written", "No space left on device")
    assert not out.exists() and not list(tmp_path.glob(".m.pth*"))  # no temporary left either


# ---------------------------------------------------------------- 5. settings from files


def no_work(monkeypatch):
    """Make reading data fail the test: the command must stop before it."""
    def started(*args, **kwargs):
        raise AssertionError("data was loaded before the bad setting was refused")
    monkeypatch.setattr(datasets, "load_split", started)


def write_tuned(folder: Path, content) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "full_class_FashionMNIST_CNN.json"
    path.write_text(json.dumps(content))
    return path


def test_settings_from_files_are_checked_before_any_data(world, tmp_path, capsys,
                                                         monkeypatch):
    no_work(monkeypatch)
    store = tmp_path / "r.jsonl"
    jit = full(world, store, method="lipschitz_forgetting")
    # a main-file table row with a quoted η (in a copy of the main file: the resolver reads
    # the tables from the file's text, for a run and for a sweep alike)
    copy = tmp_path / "repo"
    copy.mkdir()
    main_file = Path(forget_full_class_main.__file__).read_text()
    row = '"CNN": dict(sigma=0.5, eta=5e-5, n_samples=25)'
    assert row in main_file
    (copy / "forget_full_class_main.py").write_text(
        main_file.replace(row, row.replace("5e-5", '"5e-5"')))
    with monkeypatch.context() as patch:
        patch.setattr(hyperparameters, "ROOT", copy)
        run_line = one_error_line(invoke(forget_full_class_main.main, jit, capsys),
                                  "forget_full_class_main.py", "eta", "'5e-5'")
    # tuned tables of the wrong structure, or with a value out of the method's domain
    tuned = tmp_path / "tuned"
    good = {"hyperparameters": {"sigma": 0.5, "eta": 1e-4}}
    for content, mention in (
            ({"methods": [good]}, '"methods" is an object'),
            ({"tables": {}}, '"methods" is an object'),
            ({"methods": {"lipschitz_forgetting": {"values": {}}}}, '"hyperparameters"'),
            ({"methods": {"lipschitz_forgetting": {"hyperparameters": {"sigma": "big",
                                                                       "eta": 1e-4}}}},
             "sigma takes float"),
            ({"methods": {"lipschitz_forgetting": {"hyperparameters": {"sigma": -0.5,
                                                                       "eta": 1e-4}}}},
             "sigma must be positive")):
        write_tuned(tuned, content)
        one_error_line(invoke(forget_full_class_main.main, [*jit, "-tuned", str(tuned)],
                              capsys), str(tuned), mention)
    assert file_state(store) is None

    # a sweep's dry run refuses the bad row with the sentence the run gave
    monkeypatch.setattr(hyperparameters, "ROOT", copy)
    grid = ["forget_full_class_main.py", "-net", "CNN", "-dataset", "FashionMNIST",
            "--weights", "w.pth", "--forget-classes", "Trouser",
            "--methods", "lipschitz_forgetting", "--", "cpu", "1"]
    outcome = invoke(lambda argv: sweep_grid.main(argv, {"DRY_RUN": "1"}), grid, capsys)
    assert one_error_line(outcome) == run_line and outcome.out == ""


# ---------------------------------------------------------------- 7. no-op values


@pytest.mark.parametrize("method", ["finetune", "blindspot"])
def test_zero_epochs_are_refused(world, tmp_path, capsys, monkeypatch, method):
    no_work(monkeypatch)
    store = tmp_path / "r.jsonl"
    outcome = invoke(forget_full_class_main.main,
                     full(world, store, "-hp", "epochs=0", method=method), capsys)
    one_error_line(outcome, method, "epochs must be at least 1, got 0")
    assert file_state(store) is None


# ---------------------------------------------------------------- 8. search spaces


def test_a_search_space_outside_the_domain_is_refused_before_the_first_trial(
        world, tmp_path, capsys, monkeypatch):
    no_work(monkeypatch)
    database = tmp_path / "tuning.db"
    argv = ["--task", "full_class", "--dataset", "FashionMNIST", "--net", "CNN",
            "--method", "lipschitz_forgetting", "--trials", "2",
            "--storage", f"sqlite:///{database}", "--weights", world.weights("FashionMNIST"),
            "--retrained", world.weights("FashionMNIST"), "--tune-class", "Trouser",
            "--data-dir", world.data_dir("FashionMNIST"), "--tuned-dir", str(tmp_path / "t"),
            "--plot-dir", str(tmp_path / "plots"), "--space-only",
            "--space", "sigma=float:-1:2"]
    one_error_line(invoke(tune.main, argv, capsys), "search space of lipschitz_forgetting",
                   "sigma must be positive, got -1")
    assert not database.exists() and not (tmp_path / "t").exists()


# ---------------------------------------------------------------- 1. stored content verified


def test_a_stored_model_whose_weights_changed_is_refused(world, tmp_path, capsys):
    argv = pretrain_args(world, "FashionMNIST", "-store", "store", "-train_subset", "20")
    assert invoke(pretrain_model.main, argv, capsys).code == 0
    (stored,) = Path("store").rglob("*.pth")
    # other weights in a valid file that still records its recipe (and its digest)
    content = torch.load(stored, weights_only=True)
    first = next(iter(content["state_dict"]))
    content["state_dict"][first] = content["state_dict"][first] + 1
    torch.save(content, stored)
    altered = stored.read_bytes()
    one_error_line(invoke(pretrain_model.main, argv, capsys), str(stored),
                   "was changed after it was written", "train it again")
    store = tmp_path / "r.jsonl"
    run = full(world, store)
    run[run.index("-weight_path") + 1] = str(stored)
    one_error_line(invoke(forget_full_class_main.main, run, capsys), str(stored),
                   "was changed after it was written")
    assert file_state(store) is None  # no row from the altered weights
    assert stored.read_bytes() == altered and [p.name for p in stored.parent.iterdir()] == [
        stored.name]  # nothing else written beside it


def test_a_checkpoint_written_before_digests_still_loads(world, tmp_path):
    legacy = tmp_path / "legacy.pth"
    content = torch.load(world.weights("FashionMNIST"), weights_only=True)
    content.pop("weights_sha256", None)  # as written before digests existed
    torch.save(content, legacy)
    state, meta = checkpoint.load_checkpoint(legacy)
    assert meta["arch"] == "CNN" and set(state) == set(content["state_dict"])


# ---------------------------------------------------------------- 2. partial files


def test_a_partial_training_of_another_recipe_is_moved_aside_not_resumed(world, capsys):
    argv = pretrain_args(world, "FashionMNIST", "-store", "store", "-train_subset", "20",
                         "-seed", "3")
    assert invoke(pretrain_model.main, argv, capsys).code == 0
    (trained,) = Path("store").rglob("*.pth")
    recorded = checkpoint.load_checkpoint(trained)[1]["recipe"]
    # a finished training of seed 3 left as the partial file of seed 4's key
    other = TrainingRecipe(**{**recorded, "seed": 4})
    partial = ModelStore("store").path_for(other).with_suffix(".partial.pth")
    trained.rename(partial)
    argv[argv.index("-seed") + 1] = "4"
    outcome = invoke(pretrain_model.main, argv, capsys)
    assert outcome.code == 0, outcome.err
    warnings = [line for line in outcome.err_lines if "moved aside" in line]
    assert len(warnings) == 1 and "differs in seed" in warnings[0], outcome.err_lines
    stored = ModelStore("store").find(other)  # the seed-4 model, trained from the start
    assert checkpoint.load_checkpoint(stored)[1]["recipe"] == asdict(other)
    assert [p.name for p in Path("store").rglob("*.pth")] == [stored.name]
    (aside,) = Path("store").rglob("*.foreign-*")
    assert checkpoint.load_checkpoint(aside)[1]["recipe"] == recorded  # kept, never resumed


# ---------------------------------------------------------------- 3. locks


def test_an_unreadable_lock_is_explained_once_a_minute_then_taken_over(tmp_path, monkeypatch,
                                                                      caplog):
    monkeypatch.setattr(model_store, "STALE_AFTER_S", 0.6)
    monkeypatch.setattr(model_store, "POLL_S", 0.05)
    recipe = TrainingRecipe(net="CNN", dataset="FashionMNIST", num_classes=10, seed=0,
                            epochs=1, batch_size=32, warm=0)
    store = ModelStore(tmp_path / "store")
    lock = store.path_for(recipe).with_suffix(".lock")
    lock.parent.mkdir(parents=True)
    lock.write_text("garbage \x00 not an owner")
    owners = []

    def train(partial: Path) -> None:
        owners.append(json.loads(lock.read_text()))
        checkpoint.save_checkpoint(partial, build_model("CNN", 10), {
            "arch": "CNN", "num_classes": 10, "dataset": "FashionMNIST",
            "recipe": asdict(recipe)})
    with caplog.at_level(logging.INFO, logger="unlearn.store.model_store"):
        path = store.ensure(recipe, train)
    waits = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert len(waits) == 1, waits  # once a minute, not at every poll
    assert "names no holder" in waits[0] and f"rm {lock}" in waits[0]
    assert "taken over 1 s after" in waits[0]
    assert any("taking over" in r.getMessage() for r in caplog.records)
    (owner,) = owners  # the new holder's lock says who, since when, last heartbeat
    assert owner["pid"] == os.getpid() and set(owner) == {"host", "pid", "started",
                                                          "heartbeat"}
    assert path.is_file() and not lock.exists()

"""Bad input never becomes a traceback or a result: exit code 2, exactly one line on stderr,
and the results file untouched.

Covers unknown names (dataset, network, method, class), classes and sub-classes a dataset
does not have, methods not available for a task, missing / corrupt / mismatching checkpoints,
missing data, out-of-range JiT hyperparameters and random-task amounts. Runs use tiny data and
the compact CNN (cli_fixtures.py) and are called in-process through `main(argv)`.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from cli_fixtures import TINY_DATASETS, file_state, invoke, make_world, one_error_line

import forget_full_class_main
import forget_random_main
import forget_sub_class_main
import pretrain_model
from models import build_model
from models.checkpoint import save_checkpoint
from unlearn.methods import METHODS
from unlearn.store import results

MAINS = {"full": forget_full_class_main.main, "sub": forget_sub_class_main.main,
         "random": forget_random_main.main, "pretrain": pretrain_model.main}
TASK_OF = {"full": "full_class", "sub": "sub_class", "random": "random"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("bad_input"))


@pytest.fixture(scope="module")
def odd_checkpoints(world, tmp_path_factory) -> dict[str, str]:
    """Checkpoints that do not fit a CNN on Cifar10 with 10 classes, by kind."""
    folder = tmp_path_factory.mktemp("odd_checkpoints")
    paths = {}
    corrupt = folder / "random-bytes.pth"
    corrupt.write_bytes(random.Random(0).randbytes(4096))
    paths["corrupt"] = corrupt
    whole = Path(world.weights("Cifar10")).read_bytes()
    truncated = folder / "truncated.pth"
    truncated.write_bytes(whole[: len(whole) // 2])
    paths["truncated"] = truncated
    torch.manual_seed(0)
    paths["other_arch"] = folder / "resnet18.pth"
    save_checkpoint(paths["other_arch"], build_model("ResNet18", 10),
                    {"arch": "ResNet18", "num_classes": 10, "dataset": "Cifar10"})
    five = build_model("CNN", 5)
    paths["other_classes"] = folder / "cnn5.pth"
    save_checkpoint(paths["other_classes"], five,
                    {"arch": "CNN", "num_classes": 5, "dataset": "Cifar10"})
    paths["bare_other_classes"] = folder / "bare-cnn5.pth"  # the published format
    torch.save(five.state_dict(), paths["bare_other_classes"])
    paths["bare_other_arch"] = folder / "bare-resnet18.pth"
    torch.save(build_model("ResNet18", 10).state_dict(), paths["bare_other_arch"])
    paths["other_dataset"] = Path(world.weights("FashionMNIST"))  # CNN, 10 classes
    return {kind: str(path) for kind, path in paths.items()}


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNLEARN_ALLOW_DOWNLOAD", raising=False)


def command(world, kind: str, results_path, changes: dict | None = None,
            extra: tuple[str, ...] = ()) -> list[str]:
    """A valid command of entry point `kind` on tiny Cifar10 (Cifar20 for the sub-class task),
    with flags replaced per `changes` (value None: flag left out) and `extra` appended."""
    if kind == "pretrain":
        flags = {"-net": "CNN", "-dataset": "Cifar10", "-classes": "10", "-epochs": "1",
                 "-b": "32", "-data_dir": world.data_dir("Cifar10")}
    else:
        dataset = "Cifar20" if kind == "sub" else "Cifar10"
        flags = {"-net": "CNN", "-dataset": dataset, "-method": "baseline",
                 "-weight_path": world.weights(dataset), "-data_dir": world.data_dir(dataset),
                 "-results": str(results_path)}
        if kind == "sub":
            flags.update({"-superclasses": "20", "-subclasses": "100", "-forget_class": "rocket"})
        elif kind == "full":
            flags.update({"-classes": "10", "-forget_class": "cat"})
        else:
            flags.update({"-classes": "10", "-forget_count": "5"})
    flags.update(changes or {})
    argv = [item for flag, value in flags.items() if value is not None
            for item in (flag, value)]
    return argv + list(extra)


def on(dataset: str, world, kind: str = "full") -> dict:
    """Flag changes that point a command at another tiny dataset and its checkpoint."""
    count = str(TINY_DATASETS[dataset])
    changes = {"-dataset": dataset, "-weight_path": world.weights(dataset),
               "-data_dir": world.data_dir(dataset)}
    if kind == "sub":
        return {**changes, "-superclasses": count}
    return {**changes, "-classes": count}


def assert_rejected(world, tmp_path, capsys, kind: str, changes=None, extra=(),
                    mentions: tuple[str, ...] = ()) -> str:
    """Run the command; exit 2, one stderr line starting 'error:' naming `mentions`, the
    results file unchanged. Returns the error line."""
    results_path = tmp_path / "results.jsonl"
    results.append_row(results_path, {"status": "ok", "note": "recorded before the command"})
    before = file_state(results_path)
    outcome = invoke(MAINS[kind], command(world, kind, results_path, changes, extra), capsys)
    line = one_error_line(outcome, *mentions)
    assert file_state(results_path) == before
    assert outcome.out == ""
    return line


def test_the_valid_commands_run(world, tmp_path, capsys):
    """The commands every case below breaks are valid as they stand."""
    for kind in ("full", "sub", "random"):
        results_path = tmp_path / f"{kind}.jsonl"
        outcome = invoke(MAINS[kind], command(world, kind, results_path), capsys)
        assert outcome.code == 0, outcome.err
        assert len(results.read_rows(results_path)) == 1
    outcome = invoke(MAINS["pretrain"], command(world, "pretrain", None,
                                                {"-out": str(tmp_path / "m.pth")}), capsys)
    assert outcome.code == 0, outcome.err


# ---------------------------------------------------------------- unknown names


UNKNOWN_NAMES = [("-dataset", "Cifar11"), ("-net", "VGG19"), ("-method", "forget_everything")]


@pytest.mark.parametrize("kind, flag, value", [
    (kind, flag, value) for kind in MAINS for flag, value in UNKNOWN_NAMES
    if not (kind == "pretrain" and flag == "-method")])  # pretrain_model.py has no -method
def test_unknown_name(world, tmp_path, capsys, kind, flag, value):
    assert_rejected(world, tmp_path, capsys, kind, {flag: value}, mentions=(value,))


@pytest.mark.parametrize("kind, changes, mentions", [
    ("full", {"-forget_class": "banana"}, ("banana", "Cifar10")),
    ("full", {"-forget_class": "12"}, ("'12'", "Cifar10")),  # index past the 10 classes
    ("full", {"-forget_class": "rocket"}, ("rocket", "Cifar10")),  # a CIFAR-100 class
    ("full", {"-forget_class": "vehicle2", "-classes": "100"}, ("vehicle2",)),
    ("pretrain", {"-forget_class": "banana"}, ("banana",)),
    ("pretrain", {"-forget_subclass": "rocket"}, ("Cifar10",)),  # no fine classes
], ids=["unknown", "index-too-large", "cifar100-class", "superclass-on-cifar100",
        "pretrain-unknown", "pretrain-subclass-on-cifar10"])
def test_class_not_in_dataset(world, tmp_path, capsys, kind, changes, mentions):
    if changes.get("-classes") == "100":
        changes = {**on("Cifar100", world), **changes}
    assert_rejected(world, tmp_path, capsys, kind, changes, mentions=mentions)


@pytest.mark.parametrize("changes, mentions", [
    ({"-forget_class": "vehicle2"}, ("vehicle2", "superclass")),
    ({"-forget_class": "banana"}, ("banana",)),
    ({"-forget_class": "Sneaker"}, ("Sneaker",)),
    ({"-forget_class": "100"}, ("'100'",)),
], ids=["superclass", "unknown", "fashion-class-on-cifar20", "index-too-large"])
def test_sub_class_that_is_not_a_fine_class(world, tmp_path, capsys, changes, mentions):
    assert_rejected(world, tmp_path, capsys, "sub", changes, mentions=mentions)


def test_sub_class_task_on_a_dataset_without_superclasses(world, tmp_path, capsys):
    changes = {**on("Cifar10", world, "sub"), "-subclasses": "10", "-forget_class": "cat"}
    assert_rejected(world, tmp_path, capsys, "sub", changes, mentions=("Cifar10",))


@pytest.mark.parametrize("kind, changes", [
    ("sub", {"-subclasses": "10", "-forget_class": "footwear"}),  # a superclass
    ("full", {"-forget_class": "Sneakers"}),
], ids=["fashion4-superclass-as-subclass", "fashion-misspelt-class"])
def test_class_not_in_fashion_mnist(world, tmp_path, capsys, kind, changes):
    dataset = "FashionMNIST4" if kind == "sub" else "FashionMNIST"
    changes = {**on(dataset, world, kind), **changes}
    assert_rejected(world, tmp_path, capsys, kind, changes,
                    mentions=(changes["-forget_class"],))


# ---------------------------------------------------------------- methods and tasks


def unavailable_pairs() -> list[tuple[str, str]]:
    """(entry point, method) where the method is not offered for the task: the published
    examples plus every such pair in the registry."""
    pairs = {("random", "UNSIR"), ("sub", "gkt"), ("sub", "emmn"), ("random", "gkt"),
             ("random", "emmn")}
    for name, method in METHODS.items():
        pairs |= {(kind, name) for kind, task in TASK_OF.items() if task not in method.tasks}
    return sorted(pairs)


@pytest.mark.parametrize("kind, method", unavailable_pairs())
def test_method_not_available_for_the_task(world, tmp_path, capsys, kind, method):
    assert_rejected(world, tmp_path, capsys, kind, {"-method": method}, mentions=(method,))


# ---------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("kind, mentions", [
    ("corrupt", ("not a readable PyTorch checkpoint",)),
    ("truncated", ("not a readable PyTorch checkpoint",)),
    ("other_dataset", ("FashionMNIST", "differs in: dataset")),
    ("other_arch", ("ResNet18", "differs in: arch")),
    ("other_classes", ("5 classes", "differs in: num_classes")),
    ("bare_other_classes", ("5 outputs",)),
    ("bare_other_arch", ("does not fit the CNN model",)),
])
def test_checkpoint_that_does_not_fit(world, odd_checkpoints, tmp_path, capsys, kind, mentions):
    path = odd_checkpoints[kind]
    assert_rejected(world, tmp_path, capsys, "full", {"-weight_path": path},
                    mentions=(path, *mentions))


@pytest.mark.parametrize("kind", ["full", "sub", "random"])
def test_checkpoint_missing(world, tmp_path, capsys, kind):
    missing = str(tmp_path / "nothing-here.pth")
    assert_rejected(world, tmp_path, capsys, kind, {"-weight_path": missing},
                    mentions=("not found", missing))


def test_default_checkpoint_missing(world, tmp_path, capsys):
    """Without -weight_path the default checkpoints/<net>-<dataset>.pth of the working
    directory is used; when absent, the message names it."""
    assert_rejected(world, tmp_path, capsys, "full", {"-weight_path": None},
                    mentions=("not found", "checkpoints/CNN-Cifar10.pth"))


def test_class_count_that_is_not_the_datasets(world, odd_checkpoints, tmp_path, capsys):
    """A 5-class model, consistently labelled as such, is still wrong for 10-class Cifar10."""
    changes = {"-classes": "5", "-weight_path": odd_checkpoints["other_classes"]}
    assert_rejected(world, tmp_path, capsys, "full", changes, mentions=("5", "10"))


def test_fine_class_count_that_is_not_the_datasets(world, tmp_path, capsys):
    assert_rejected(world, tmp_path, capsys, "sub", {"-subclasses": "50"}, mentions=("50",))


# ---------------------------------------------------------------- data


@pytest.mark.parametrize("kind, dataset", [("full", "Cifar10"), ("full", "Cifar100"),
                                           ("sub", "Cifar20"), ("random", "Cifar10"),
                                           ("pretrain", "Cifar10")])
def test_data_not_found(world, tmp_path, capsys, kind, dataset):
    empty = tmp_path / "empty"
    empty.mkdir()
    if kind == "pretrain":
        changes = {"-dataset": dataset, "-classes": str(TINY_DATASETS[dataset])}
    else:
        changes = {**on(dataset, world, kind)}
        if kind == "full" and dataset == "Cifar100":
            changes["-forget_class"] = "rocket"
    changes["-data_dir"] = str(empty)
    line = assert_rejected(world, tmp_path, capsys, kind, changes, mentions=(str(empty),))
    assert "not found" in line


# ---------------------------------------------------------------- hyperparameters


@pytest.mark.parametrize("kind", ["full", "sub", "random"])
@pytest.mark.parametrize("flag, value, symbol", [
    ("-sigma", "0", "sigma"), ("-sigma", "-1", "sigma"), ("-sigma", "nan", "sigma"),
    ("-eta", "0", "eta"), ("-eta", "-1", "eta"), ("-n_samples", "0", "n_samples"),
])
def test_jit_hyperparameter_out_of_range(world, tmp_path, capsys, kind, flag, value, symbol):
    changes = {"-method": "lipschitz_forgetting", flag: value}
    assert_rejected(world, tmp_path, capsys, kind, changes, mentions=(symbol,))


@pytest.mark.parametrize("kind", ["full", "random"])
def test_batch_size_below_one(world, tmp_path, capsys, kind):
    assert_rejected(world, tmp_path, capsys, kind, {"-b": "0"}, mentions=("-b",))


def test_negative_evaluation_batch(world, tmp_path, capsys):
    assert_rejected(world, tmp_path, capsys, "full", {"-eval_b": "-1"}, mentions=("-eval_b",))


# ---------------------------------------------------------------- random-task amounts


@pytest.mark.parametrize("perc", ["0", "1", "1.5", "-0.1"])
def test_forget_perc_outside_zero_one(world, tmp_path, capsys, perc):
    changes = {"-forget_count": None, "-forget_perc": perc}
    assert_rejected(world, tmp_path, capsys, "random", changes, mentions=("-forget_perc",))


@pytest.mark.parametrize("count", ["0", "-3", "100", "1000000"],
                         ids=["zero", "negative", "whole-training-set", "larger"])
def test_forget_count_outside_the_training_set(world, tmp_path, capsys, count):
    assert_rejected(world, tmp_path, capsys, "random", {"-forget_count": count},
                    mentions=(count,))


@pytest.mark.parametrize("changes", [{"-forget_perc": "0.1"}, {"-forget_count": None}],
                         ids=["both", "neither"])
def test_forget_amount_both_or_neither(world, tmp_path, capsys, changes):
    assert_rejected(world, tmp_path, capsys, "random", changes,
                    mentions=("-forget_perc", "-forget_count"))


@pytest.mark.parametrize("method, setting, mentions", [
    ("distill_others", "lr=0", ("lr",)),
    ("distill_others", "temperature=-1", ("temperature",)),
    ("boundary_shrink", "bound=0", ("bound",)),
    ("gradient_ascent", "max_passes=0", ("max_passes",)),
    ("jit_anchored", "holdout=1.5", ("holdout",)),
])
def test_forget_only_settings_that_cannot_work(world, tmp_path, capsys, method, setting,
                                               mentions):
    """Refused before any data is loaded: exit 2, one line, nothing recorded."""
    assert_rejected(world, tmp_path, capsys, "full", {"-method": method},
                    extra=("-hp", setting), mentions=(method, *mentions))

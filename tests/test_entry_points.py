"""The entry points end to end, as users type them: the published commands (single-dash flags
unchanged), their double-dash spellings, every registered method for every task it serves,
pretraining with resume and retrained models, -skip_done, and failed runs.

All runs use tiny generated data and the compact CNN (see cli_fixtures.py); they are called
in-process through `main(argv)`, except one that runs the script as a separate process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_fixtures import TINY_DATASETS, invoke, make_world, pretrain_args, rows

import forget_full_class_main
import forget_random_main
import forget_sub_class_main
import forget_subclass_main
import pretrain_model
from models.checkpoint import load_checkpoint
from unlearn import devices, exit_codes, methods
from unlearn.methods import METHODS

ROOT = Path(__file__).resolve().parent.parent

# each attack on the unlearned model, and the same attack on the original (its power)
ATTACK_METRICS = {f"attack_{name}_{key}{power}"
                  for name in ("loss", "confidence", "entropy", "entropy_lr")
                  for key in ("auc", "tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct")
                  for power in ("", "_original")}
FULL_METRICS = {"acc_test", "acc_retain_test", "acc_forget_test", "acc_forget_train",
                "acc_retain_train", "mia", "acc_test_per_class"} | ATTACK_METRICS
RANDOM_METRICS = FULL_METRICS - {"acc_forget_test"}
REFERENCE_NAMES = {"TestAcc", "RetainTestAcc", "Df", "MIA"}
MAINS = {"full_class": forget_full_class_main.main, "sub_class": forget_sub_class_main.main,
         "random": forget_random_main.main}

# Flags that keep each method quick on the tiny data (the published defaults otherwise).
METHOD_FLAGS = {
    "retrain": ["-retrain_epochs", "1"],
    "retrain_reference": ["-retrain_epochs", "1"],
    "finetune": ["-finetune_epochs", "1"],
    "lipschitz_forgetting": ["-n_samples", "4"],
    "UNSIR": ["-published_noise"],  # 3 noise images instead of 32
    "emmn": ["-published_noise"],
    # 2 pseudo batches of 8 instead of 1,000 of 128, set through -hp
    "gkt": ["-hp", "n_pseudo_batches=2", "-hp", "batch_size=8", "-hp", "n_student_iter=1",
            "-hp", "n_generator_iter=1"],
}
# EMMN learns noise for, and trains on, every class: run it on the four-class dataset.
FULL_CLASS_DATASET = {"emmn": ("FashionMNIST4", "footwear")}


def method_cases() -> list:
    """(task, method) for every registered method and every task it is available for, read
    from the registry at import time so newly registered methods are covered automatically."""
    cases = []
    for name, method in METHODS.items():
        for task in sorted(method.tasks):
            cases.append(pytest.param(task, name, id=f"{task}-{name}"))
    return cases


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("entry_points"))


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Every command runs in its own empty working directory (checkpoints/ lands there)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNLEARN_ALLOW_DOWNLOAD", raising=False)


def published_full(world, results, *extra) -> list[str]:
    """The published full-class command on tiny CIFAR-100, plus local paths."""
    return ["-net", "CNN", "-dataset", "Cifar100", "-classes", "100", "-gpu",
            "-method", "lipschitz_forgetting", "-forget_class", "rocket",
            "-weight_path", world.weights("Cifar100"), "-seed", "1",
            "-data_dir", world.data_dir("Cifar100"), "-results", str(results), *extra]


def task_args(world, task: str, method: str, results, *extra: str) -> list[str]:
    """A command for `task` on tiny Fashion-MNIST (FashionMNIST4 for the sub-class task)."""
    if task == "sub_class":
        dataset, head = "FashionMNIST4", ["-superclasses", "4", "-subclasses", "10",
                                          "-forget_class", "Sneaker"]
    elif task == "random":
        dataset, head = "FashionMNIST", ["-classes", "10", "-forget_count", "5"]
    else:
        dataset, name = FULL_CLASS_DATASET.get(method, ("FashionMNIST", "Sneaker"))
        head = ["-classes", str(TINY_DATASETS[dataset]), "-forget_class", name]
    return ["-net", "CNN", "-dataset", dataset, *head, "-method", method,
            "-weight_path", world.weights(dataset), "-data_dir", world.data_dir(dataset),
            "-results", str(results), *METHOD_FLAGS.get(method, []), *extra]


def only_row(path) -> dict:
    recorded = rows(path)
    assert len(recorded) == 1, recorded
    return recorded[0]


def check_scores(row: dict, task: str) -> None:
    """The metric keys, the published names, timings; every value finite and in range."""
    assert row["status"] == "ok"
    assert row["task"] == task
    expected = RANDOM_METRICS if task == "random" else FULL_METRICS
    assert set(row["metrics"]) == expected
    assert set(row["reference_metrics"]) == REFERENCE_NAMES
    per_class = row["metrics"]["acc_test_per_class"]
    assert all(0.0 <= value <= 100.0 for value in per_class.values()) and len(per_class) >= 2
    for key, value in row["metrics"].items():
        if key == "acc_test_per_class":
            continue
        limit = 1.0 if key == "mia" or key in ATTACK_METRICS else 100.0
        assert math.isfinite(value) and 0.0 <= value <= limit, (key, value)
    reference, scores = row["reference_metrics"], row["metrics"]
    assert reference["TestAcc"] == scores["acc_test"]
    assert reference["RetainTestAcc"] == scores["acc_retain_test"]
    assert reference["MIA"] == scores["mia"]
    forget_key = "acc_forget_train" if task == "random" else "acc_forget_test"
    assert reference["Df"] == scores[forget_key]
    assert row["method_s"] >= 0.0 and row["eval_s"] >= 0.0


# ---------------------------------------------------------------- published commands


def test_published_full_class_command(world, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(devices, "_warned", False)  # the -gpu warning is given once a process
    results = tmp_path / "r.jsonl"
    outcome = invoke(forget_full_class_main.main, published_full(world, results), capsys)
    assert outcome.code == 0, outcome.err
    row = only_row(results)
    check_scores(row, "full_class")
    assert row["forget"] == "class rocket"
    assert (row["method"], row["net"], row["dataset"], row["seed"]) == (
        "lipschitz_forgetting", "CNN", "Cifar100", 1)
    config = row["config"]
    assert config["forget_class"] == "rocket" and config["num_classes"] == 100
    assert config["gpu"] is True and config["batch_size"] == 128  # published -b default
    assert config["hyperparameters"]["sigma"] == forget_full_class_main.JIT["CNN"]["sigma"]
    digest = hashlib.sha256(Path(world.weights("Cifar100")).read_bytes()).hexdigest()
    assert row["checkpoint_sha256"] == digest
    assert isinstance(row["code_version"], str) and row["code_version"]
    assert "lipschitz_forgetting on class rocket" in outcome.out
    if not torch.cuda.is_available():
        assert row["device"] == "cpu"
        assert "CUDA is not available" in outcome.err
    # How it ran and how its checkpoint was trained (one process, pretrain's -b).
    assert row["execution"] == {
        "world_size": 1, "per_device_batch": 128, "device_type": torch.device(row["device"]).type,
        "checkpoint_training": {"world_size": 1, "per_device_batch": 32,
                                "device_type": "cpu"}}


def test_double_dash_spellings_run_the_same_experiment(world, tmp_path, capsys):
    single, double = tmp_path / "single.jsonl", tmp_path / "double.jsonl"
    assert invoke(forget_full_class_main.main, published_full(world, single), capsys).code == 0
    argv = ["--net", "CNN", "--dataset", "Cifar100", "--classes", "100", "--gpu",
            "--method", "lipschitz_forgetting", "--forget-class", "rocket",
            "--weight-path", world.weights("Cifar100"), "--seed", "1",
            "--data-dir", world.data_dir("Cifar100"), "--results", str(double)]
    outcome = invoke(forget_full_class_main.main, argv, capsys)
    assert outcome.code == 0, outcome.err
    first, second = only_row(single), only_row(double)
    assert second["config_key"] == first["config_key"]
    first_per_class = first["metrics"].pop("acc_test_per_class")  # approx takes flat dicts
    assert second["metrics"].pop("acc_test_per_class") == pytest.approx(first_per_class)
    assert second["metrics"] == pytest.approx(first["metrics"])


def test_published_full_class_script_runs_as_a_process(world, tmp_path, capsys):
    """`python forget_full_class_main.py ...` from another working directory, as users run it."""
    results = tmp_path / "r.jsonl"
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1")
    env.pop("UNLEARN_ALLOW_DOWNLOAD", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "forget_full_class_main.py"),
         *published_full(world, results)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    row = only_row(results)
    check_scores(row, "full_class")
    assert row["forget"] == "class rocket"
    assert "Traceback" not in done.stderr
    # The same command in-process records the same experiment.
    again = tmp_path / "again.jsonl"
    assert invoke(forget_full_class_main.main, published_full(world, again), capsys).code == 0
    assert only_row(again)["config_key"] == row["config_key"]


def test_published_sub_class_command_on_cifar20(world, tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    argv = ["-net", "CNN", "-dataset", "Cifar20", "-superclasses", "20", "-subclasses", "100",
            "-gpu", "-method", "lipschitz_forgetting", "-forget_class", "rocket",
            "-weight_path", world.weights("Cifar20"), "-seed", "1",
            "-data_dir", world.data_dir("Cifar20"), "-results", str(results)]
    outcome = invoke(forget_subclass_main.main, argv, capsys)  # the published file name
    assert outcome.code == 0, outcome.err
    row = only_row(results)
    check_scores(row, "sub_class")
    assert row["forget"] == "sub-class rocket"
    assert row["config"]["num_classes"] == 20 and row["config"]["batch_size"] == 64


def test_fashion_mnist4_sub_class_task(world, tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    argv = ["-net", "CNN", "-dataset", "FashionMNIST4", "-superclasses", "4", "-subclasses",
            "10", "-method", "lipschitz_forgetting", "-forget_class", "Sneaker",
            "-weight_path", world.weights("FashionMNIST4"),
            "-data_dir", world.data_dir("FashionMNIST4"), "-results", str(results)]
    outcome = invoke(forget_sub_class_main.main, argv, capsys)
    assert outcome.code == 0, outcome.err
    row = only_row(results)
    check_scores(row, "sub_class")
    assert row["forget"] == "sub-class Sneaker"
    assert row["seed"] == 42  # published default of the sub-class script


def random_args(world, results, amount: list[str]) -> list[str]:
    return ["-net", "CNN", "-dataset", "Cifar10", "-classes", "10", "-gpu",
            "-method", "lipschitz_forgetting", *amount, "-weight_path", world.weights("Cifar10"),
            "-seed", "1", "-data_dir", world.data_dir("Cifar10"), "-results", str(results)]


@pytest.mark.parametrize("amount, count", [
    (["-forget_perc", "0.1"], 10),
    (["-forget_count", "7"], 7),
    # The published 0.00165 on 100 images: random_split rounds the remainder into the forget
    # part, so 1 sample (as torch.utils.data.random_split gives), not 0.
    (["-forget_perc", "0.00165"], 1),
], ids=["perc", "count", "published-perc"])
def test_random_command(world, tmp_path, capsys, amount, count):
    results = tmp_path / "r.jsonl"
    outcome = invoke(forget_random_main.main, random_args(world, results, amount), capsys)
    assert outcome.code == 0, outcome.err
    row = only_row(results)
    check_scores(row, "random")
    assert row["forget"] == f"random {count} samples (seed 1)"
    scores = row["metrics"]
    assert row["reference_metrics"]["Df"] == scores["acc_forget_train"]
    assert scores["acc_retain_test"] == scores["acc_test"]
    if amount[0] == "-forget_perc":
        expected = torch.utils.data.random_split(range(100), [float(amount[1]),
                                                              1 - float(amount[1])])
        assert len(expected[0]) == count


# ---------------------------------------------------------------- every method, every task


@pytest.mark.parametrize("task, method", method_cases())
def test_every_registered_method_runs_through_the_cli(world, tmp_path, capsys, task, method):
    results = tmp_path / "r.jsonl"
    outcome = invoke(MAINS[task], task_args(world, task, method, results), capsys)
    assert outcome.code == 0, outcome.err
    row = only_row(results)
    check_scores(row, task)
    assert row["method"] == method


def test_retrain_default_epochs_on_fashion_mnist4(world, tmp_path, capsys):
    """Without -retrain_epochs, retrain uses the dataset's pretraining recipe (Fashion-MNIST's
    5 epochs for its four-superclass view too)."""
    results = tmp_path / "r.jsonl"
    argv = task_args(world, "sub_class", "baseline", results)
    argv[argv.index("baseline")] = "retrain"
    outcome = invoke(forget_sub_class_main.main, argv, capsys)
    assert outcome.code == 0, outcome.err
    assert only_row(results)["config"]["hyperparameters"]["epochs"] == 5


# ---------------------------------------------------------------- pretraining


def test_pretrain_published_flags(world, tmp_path, capsys):
    argv = pretrain_args(world, "Cifar10", "-gpu", "-warm", "1", "-lr", "0.1")
    outcome = invoke(pretrain_model.main, argv, capsys)
    assert outcome.code == 0, outcome.err
    path = tmp_path / "checkpoints" / "CNN-Cifar10.pth"  # default place, relative to the cwd
    assert f"saved checkpoints{os.sep}CNN-Cifar10.pth" in outcome.out
    _, meta = load_checkpoint(path, arch="CNN", num_classes=10, dataset="Cifar10")
    assert (meta["arch"], meta["num_classes"], meta["dataset"]) == ("CNN", 10, "Cifar10")
    assert meta["epochs_done"] == 1 and len(meta["history"]) == 1
    assert 0.0 <= meta["acc_test"] <= 100.0
    assert meta["acc_test"] == meta["history"][-1]["acc_test"]
    assert meta["forget"] is None
    assert meta["training"]["batch_size"] == 32 and meta["training"]["warm"] == 1
    assert meta["training"]["epochs"] == 1  # the -epochs override, not the published 20


def test_pretrain_resume_continues_without_retraining(world, tmp_path, capsys):
    # -warm 0: the first epoch's learning rates depend on the total number of epochs, so a
    # retrained first epoch of a 2-epoch run would differ from the 1-epoch run's.
    out, fresh = tmp_path / "run.pth", tmp_path / "fresh.pth"
    first = pretrain_args(world, "Cifar10", "-warm", "0", "-out", str(out))
    assert invoke(pretrain_model.main, first, capsys).code == 0
    _, interrupted = load_checkpoint(out)
    resumed_argv = pretrain_args(world, "Cifar10", "-warm", "0", "-out", str(out), "-resume",
                                 "-accept_changed_settings")  # -epochs 1 -> 2
    resumed_argv[resumed_argv.index("-epochs") + 1] = "2"
    outcome = invoke(pretrain_model.main, resumed_argv, capsys)
    assert outcome.code == 0, outcome.err
    _, resumed = load_checkpoint(out)
    assert resumed["epochs_done"] == 2 and len(resumed["history"]) == 2
    assert resumed["history"][0] == interrupted["history"][0]
    assert resumed["history"][1]["epoch"] == 2

    uninterrupted_argv = pretrain_args(world, "Cifar10", "-warm", "0", "-out", str(fresh))
    uninterrupted_argv[uninterrupted_argv.index("-epochs") + 1] = "2"
    assert invoke(pretrain_model.main, uninterrupted_argv, capsys).code == 0
    _, uninterrupted = load_checkpoint(fresh)
    assert uninterrupted["history"][0] != interrupted["history"][0]


def test_retrained_model_from_pretrain_is_used_by_retrain(world, tmp_path, capsys):
    outcome = invoke(pretrain_model.main,
                     pretrain_args(world, "Cifar10", "-forget_class", "cat"), capsys)
    assert outcome.code == 0, outcome.err
    retrained = tmp_path / "checkpoints" / "CNN-Cifar10-without-cat.pth"
    _, meta = load_checkpoint(retrained)
    assert meta["forget"] == "class cat"

    results = tmp_path / "r.jsonl"

    def forget(name: str):
        argv = ["-net", "CNN", "-dataset", "Cifar10", "-classes", "10", "-method", "retrain",
                "-forget_class", name, "-weight_path", world.weights("Cifar10"),
                "-retrain_path", str(retrained), "-data_dir", world.data_dir("Cifar10"),
                "-results", str(results)]
        return invoke(forget_full_class_main.main, argv, capsys)

    outcome = forget("cat")
    assert outcome.code == 0, outcome.err
    row = only_row(results)
    check_scores(row, "full_class")
    assert row["method_s"] < 2.0  # loaded, not trained (20 published epochs otherwise)
    # The evaluated model is the retrained checkpoint: same whole-test-set accuracy.
    assert row["metrics"]["acc_test"] == pytest.approx(meta["acc_test"])

    mismatch = forget("dog")
    assert mismatch.code == 2
    assert mismatch.err_lines[-1].startswith("error:") and "class cat" in mismatch.err_lines[-1]
    assert len(rows(results)) == 1


# ---------------------------------------------------------------- results store behaviour


def test_skip_done(world, tmp_path, capsys):
    results = tmp_path / "r.jsonl"

    def baseline(seed: str, code: int = exit_codes.OK):
        argv = task_args(world, "full_class", "baseline", results, "-skip_done", "-seed", seed)
        outcome = invoke(forget_full_class_main.main, argv, capsys)
        assert outcome.code == code, outcome.err
        return outcome

    baseline("1")
    again = baseline("1", exit_codes.SKIPPED)  # recorded already: skipped, exit code 3
    assert len(rows(results)) == 1
    assert "baseline on class Sneaker" in again.out  # the recorded scores are shown again
    baseline("2")
    recorded = rows(results)
    assert [r["seed"] for r in recorded] == [1, 2]


def test_failing_method_records_a_failed_row_and_raises(world, tmp_path, capsys, monkeypatch):
    results = tmp_path / "r.jsonl"

    def broken(model, data, device, **hyperparameters):
        raise RuntimeError("the method broke")

    argv = task_args(world, "full_class", "baseline", results, "-skip_done")
    with monkeypatch.context() as patch:
        patch.setitem(methods.METHODS, "baseline",
                      dataclasses.replace(METHODS["baseline"], fn=broken))
        with pytest.raises(RuntimeError, match="the method broke"):
            invoke(forget_full_class_main.main, argv, capsys)
    failed = only_row(results)
    assert failed["status"] == "failed"
    assert failed["error"] == "RuntimeError: the method broke"
    assert failed["method"] == "baseline" and failed["config"]["forget_class"] == "Sneaker"
    assert "metrics" not in failed

    # A failed row is not "done": the same command with -skip_done runs again.
    assert invoke(forget_full_class_main.main, argv, capsys).code == 0
    assert [r["status"] for r in rows(results)] == ["failed", "ok"]


def test_bf16_flag_reaches_jit_and_evaluation(world, tmp_path, capsys):
    """-bf16: recorded in the config and the JiT hyperparameters, the run completes, and it
    counts as a different experiment from the float32 one (its config key differs)."""
    plain, low = tmp_path / "plain.jsonl", tmp_path / "bf16.jsonl"
    assert invoke(forget_full_class_main.main, published_full(world, plain), capsys).code == 0
    outcome = invoke(forget_full_class_main.main, [*published_full(world, low), "-bf16"], capsys)
    assert outcome.code == 0, outcome.err
    row, reference = only_row(low), only_row(plain)
    check_scores(row, "full_class")
    assert row["config"]["autocast_bf16"] is True
    assert row["config"]["hyperparameters"]["autocast_bf16"] is True
    assert row["config_key"] != reference["config_key"]

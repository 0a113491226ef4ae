"""The pool and study command generators: what a study trains and runs."""

import os
import shlex
import subprocess
import sys

from conftest import ROOT

from unlearn.store.model_store import retrain_seed


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    # this checkout's modules, whichever checkout the environment was installed from
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args,
                           "--python", "py"], capture_output=True, text=True, env=env)


def lines(script: str, *args: str) -> list[list[str]]:
    done = run_script(script, *args)
    assert done.returncode == 0, done.stderr
    return [shlex.split(line) for line in done.stdout.splitlines()]


def value(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def test_pool_trains_each_original_and_k_retrains_per_cell():
    commands = lines("pool.py", "--net", "CNN", "--dataset", "FashionMNIST", "--classes", "10",
                     "--originals", "0,1", "--forget", "Shirt,Coat", "--retrains", "2",
                     "--regime", "memorise", "--store", "S")
    cells = [(value(c, "-forget_class"), value(c, "-seed")) for c in commands]
    assert cells[:2] == [(None, "0"), (None, "1")]
    assert sorted(cells[2:]) == sorted((name, str(retrain_seed(k)))
                                       for name in ("Shirt", "Coat") for k in range(2))
    for command in commands:
        assert value(command, "-epochs") == "100" and value(command, "-train_subset") == "2000"
        assert "-no_augment" in command and value(command, "-store") == "S"


def test_study_runs_k_retrains_and_every_method_once_per_seed():
    commands = lines("study_runs.py", "--net", "CNN", "--dataset", "FashionMNIST",
                     "--classes", "10", "--originals", "0", "--forget", "Shirt,Coat",
                     "--retrains", "3",
                     "--seeds", "0,1", "--methods", "retrain,finetune,gkt,lipschitz_forgetting",
                     "--few-cells", "gkt=Coat", "--published-jit", "--store", "S")
    runs = [(value(c, "-forget_class"), value(c, "-method"), value(c, "-seed"),
             value(c, "-retrain_index"), "-jit_reference" in c) for c in commands]
    for name in ("Shirt", "Coat"):
        assert [r[3] for r in runs if r[:2] == (name, "retrain")] == ["0", "1", "2"]
        assert [r[2] for r in runs if r[:2] == (name, "finetune")] == ["0", "1"]
        jit = [(r[2], r[4]) for r in runs if r[:2] == (name, "lipschitz_forgetting")]
        assert jit == [("0", False), ("0", True), ("1", False), ("1", True)]
    assert {r[0] for r in runs if r[1] == "gkt"} == {"Coat"}
    weights = {value(c, "-weight_path") for c in commands}
    assert len(weights) == 1 and weights.pop().startswith("S/CNN-FashionMNIST/")


def test_sub_class_pools_and_runs_name_fine_classes():
    pool = lines("pool.py", "--task", "sub_class", "--net", "CNN", "--dataset", "FashionMNIST4",
                 "--classes", "4", "--originals", "0", "--forget", "Sneaker", "--retrains", "2",
                 "--store", "S")
    assert [(value(c, "-forget_subclass"), value(c, "-seed")) for c in pool] == [
        (None, "0"), ("Sneaker", str(retrain_seed(0))), ("Sneaker", str(retrain_seed(1)))]
    assert all(value(c, "-classes") == "4" and "-forget_class" not in c for c in pool)
    runs = lines("study_runs.py", "--task", "sub_class", "--net", "CNN",
                 "--dataset", "FashionMNIST4", "--classes", "4", "--originals", "0",
                 "--forget", "Sneaker", "--retrains", "2", "--methods", "retrain,finetune",
                 "--store", "S")
    assert [(c[1], value(c, "-method"), value(c, "-retrain_index")) for c in runs] == [
        ("forget_sub_class_main.py", "retrain", "0"), ("forget_sub_class_main.py", "retrain", "1"),
        ("forget_sub_class_main.py", "finetune", None)]
    for command in runs:
        assert (value(command, "-superclasses"), value(command, "-subclasses"),
                value(command, "-forget_class")) == ("4", "10", "Sneaker")
        assert value(command, "-weight_path").startswith("S/CNN-FashionMNIST4/")


def test_random_pools_and_runs_name_forget_seeds():
    pool = lines("pool.py", "--task", "random", "--net", "CNN", "--dataset", "FashionMNIST",
                 "--classes", "10", "--originals", "0", "--forget-count", "100",
                 "--forget-seeds", "0,1", "--retrains", "2", "--regime", "memorise",
                 "--store", "S")
    assert [(value(c, "-forget_count"), value(c, "-forget_seed"), value(c, "-seed"))
            for c in pool] == [(None, None, "0")] + [
        ("100", seed, str(retrain_seed(k))) for seed in ("0", "1") for k in range(2)]
    assert all(value(c, "-train_subset") == "2000" for c in pool)
    runs = lines("study_runs.py", "--task", "random", "--net", "CNN", "--dataset",
                 "FashionMNIST", "--classes", "10", "--originals", "0", "--forget-count", "100",
                 "--forget-seeds", "0,1", "--retrains", "2", "--seeds", "0,1",
                 "--methods", "retrain,finetune", "--store", "S",
                 "--extra", "-closeness_retrains", "2")
    assert {c[1] for c in runs} == {"forget_random_main.py"}
    cells = [(value(c, "-forget_seed"), value(c, "-method"), value(c, "-seed"),
              value(c, "-retrain_index")) for c in runs]
    for forget_seed in ("0", "1"):  # J unlearning seeds share each forget set
        assert [c[1:] for c in cells if c[0] == forget_seed] == [
            ("retrain", "0", "0"), ("retrain", "0", "1"), ("finetune", "0", None),
            ("finetune", "1", None)]
    assert all(value(c, "-forget_count") == "100" and value(c, "-classes") == "10"
               and value(c, "-closeness_retrains") == "2" for c in runs)


def test_task_options_of_another_task_are_refused():
    base = ["--net", "CNN", "--dataset", "FashionMNIST", "--classes", "10"]
    for script, args, mention in [
        ("pool.py", ["--forget-count", "5"], "are for --task random"),
        ("pool.py", ["--task", "random", "--forget", "Shirt"], "not --forget"),
        ("study_runs.py", ["--task", "random", "--forget-seeds", "1"], "--forget-count"),
        ("study_runs.py", ["--task", "sub_class", "--forget", "Shirt"], "fine classes"),
        ("study_runs.py", ["--task", "random", "--forget-count", "5", "--forget-seeds", "1",
                           "--methods", "gkt"], "unknown methods gkt for the random task"),
    ]:
        done = run_script(script, *base, *args)
        assert done.returncode == 2 and mention in done.stderr.splitlines()[-1], done.stderr

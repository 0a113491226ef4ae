"""The pool and study command generators: what a study trains and runs."""

import shlex
import subprocess
import sys

from conftest import ROOT

from unlearn.model_store import retrain_seed


def lines(script: str, *args: str) -> list[list[str]]:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args,
                          "--python", "py"], capture_output=True, text=True, check=True).stdout
    return [shlex.split(line) for line in out.splitlines()]


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

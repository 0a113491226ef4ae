"""scripts/tune.py on tiny Fashion-MNIST: resume after a kill, the equal budget, the closed test
split, the tuned table and the bad input."""

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from cli_fixtures import invoke
from data_files import write_fashion_mnist

import pretrain_model
from scripts import tune
from unlearn.data import datasets
from unlearn.errors import UsageError
from unlearn.methods import METHODS
from unlearn.sweep import local
from unlearn.tuning import pareto, study
from unlearn.tuning.space import UNTUNED, uncovered_defaults
from unlearn.tuning.split_gate import ForbiddenSplitRead, blocked_test_split

ROOT = Path(__file__).resolve().parent.parent

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """200 training images, an original CNN and one retrained without Trouser (one epoch each);
    then the test files are overwritten with junk, so tuning cannot read them even by mistake
    (deleting them would make the loader fall back to the system's copy of Fashion-MNIST)."""
    root = tmp_path_factory.mktemp("tuning")
    data = write_fashion_mnist(root / "fashion", n_train=200, n_test=20)
    common = ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-epochs", "1",
              "-b", "32", "-data_dir", str(data)]
    assert pretrain_model.main([*common, "-out", str(root / "original.pth")]) == 0
    assert pretrain_model.main([*common, "-forget_class", "Trouser",
                                "-out", str(root / "retrained.pth")]) == 0
    for test_file in data.glob("t10k-*"):
        test_file.write_bytes(b"not an idx file")
    datasets._load_cached.cache_clear()
    return root, data


FINETUNE_SPACE = ("--space", "lr=log_float:0.001:0.05", "--space", "epochs=int:1:1")


def argv(world, *extra, trials=3, method="finetune", space=FINETUNE_SPACE):
    root, data = world
    return ["--task", "full_class", "--dataset", "FashionMNIST", "--net", "CNN",
            "--method", method, "--trials", str(trials),
            "--storage", f"sqlite:///{root / 'tuning.db'}", "--weights", str(root / "original.pth"),
            "--retrained", str(root / "retrained.pth"), "--tune-class", "Trouser",
            "--val-frac", "0.25", "--data-dir", str(data), "--tuned-dir", str(root / "tuned"),
            "--plot-dir", str(root / "plots"), "--space-only", *space, *extra]


def completed(root, name):
    loaded = optuna.load_study(study_name=name, storage=f"sqlite:///{root / 'tuning.db'}")
    return loaded, loaded.get_trials(states=(optuna.trial.TrialState.COMPLETE,))


KILL_ON_SECOND_TRIAL = """
import os, runpy, sys
sys.path.insert(0, {root!r})
from unlearn.tuning import context
calls = []
real = context.TuningContext.run
def run(self, method, hyperparameters):
    calls.append(method)
    if len(calls) == 2:
        os._exit(9)  # killed in the middle of the second trial
    return real(self, method, hyperparameters)
context.TuningContext.run = run
sys.argv = ["tune.py", *{argv!r}]
runpy.run_path({script!r}, run_name="__main__")
"""


@pytest.mark.slow  # a child process that imports torch and Optuna: about a minute
def test_a_killed_study_continues_without_duplicate_trials(world, capsys):
    root, _ = world
    args = argv(world, "--heartbeat", "1", "--grace", "1", method="finetune")
    code = KILL_ON_SECOND_TRIAL.format(root=str(ROOT), argv=args,
                                       script=str(ROOT / "scripts" / "tune.py"))
    killed = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert killed.returncode == 9, killed.stderr.decode()[-2000:]
    name = "full_class-FashionMNIST-CNN-finetune"
    loaded, done = completed(root, name)
    assert len(done) == 1
    running = loaded.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    assert len(running) == 1
    lost = running[0]
    time.sleep(2.5)  # the killed worker's heartbeat goes stale (grace 1 s)

    outcome = invoke(tune.main, args, capsys)
    assert outcome.code == 0, outcome.err
    loaded, done = completed(root, name)
    assert len(done) == 3  # the budget, not more
    assert len({t.number for t in done}) == 3
    # the killed trial's point was run again exactly once, as a retry of that trial
    retried = [t for t in done if t.system_attrs.get("failed_trial") == lost.number]
    assert len(retried) == 1 and retried[0].params == lost.params
    assert loaded.get_trials(states=(optuna.trial.TrialState.RUNNING,)) == []

    summary = json.loads(outcome.out)
    assert summary["complete"] == 3 and summary["table"]
    entry = json.loads(Path(summary["table"]).read_text())["methods"]["finetune"]
    assert entry["provenance"]["trials"] == 3 and entry["provenance"]["budget"] == 3
    assert entry["provenance"]["study"] == name
    assert entry["hyperparameters"]["lr"] == summary["best"]["params"]["lr"]

    again = invoke(tune.main, args, capsys)  # a finished study runs nothing more
    assert again.code == 0 and len(completed(root, name)[1]) == 3


def test_the_test_split_is_never_read_while_tuning(world, capsys, monkeypatch, tmp_path):
    asked = []
    real = datasets.load_split
    monkeypatch.setattr(datasets, "load_split",
                        lambda name, train, *a, **k: (asked.append(train), real(name, train, *a,
                                                                                  **k))[1])
    space = ("--space", "sigma=float:0.5:1.0", "--space", "eta=log_float:1e-5:1e-4")
    args = argv(world, trials=1, method="lipschitz_forgetting", space=space)
    args[args.index("--storage") + 1] = f"sqlite:///{tmp_path / 'split.db'}"
    outcome = invoke(tune.main, args, capsys)
    assert outcome.code == 0, outcome.err
    assert asked and all(asked)  # only training splits were asked for


def test_the_gate_refuses_the_test_split():
    with blocked_test_split(), pytest.raises(ForbiddenSplitRead, match="test split"):
        datasets.load_split("FashionMNIST", False)


def test_equal_budget_is_enforced(tmp_path):
    store = study.storage(f"sqlite:///{tmp_path / 'b.db'}", heartbeat_s=60, grace_s=120)
    first = study.open_study(store, "t-D-N-a", "t-D-N", 2, {})
    with pytest.raises(UsageError, match="unequal budgets"):
        study.open_study(store, "t-D-N-b", "t-D-N", 3, {})
    with pytest.raises(UsageError, match="budget of 2"):
        study.open_study(store, "t-D-N-a", "t-D-N", 5, {})
    study.open_study(store, "other-D-N-b", "other-D-N", 3, {})  # another group: free

    calls = []
    assert study.run(first, lambda t: calls.append(t.suggest_float("x", 0, 1)) or 1.0, 2) == 2
    assert study.run(first, lambda t: calls.append(1) or 1.0, 2) == 2  # never past the budget
    assert len(calls) == 2


def test_a_trial_running_elsewhere_holds_its_place_in_the_budget(tmp_path):
    store = study.storage(f"sqlite:///{tmp_path / 'p.db'}", heartbeat_s=60, grace_s=120)
    opened = study.open_study(store, "t-D-N-a", "t-D-N", 2, {})
    study.run(opened, lambda t: 1.0, 1)
    opened.ask()  # another worker's live trial (RUNNING)
    calls = []
    study.run(opened, lambda t: calls.append(1) or 1.0, 2)
    assert calls == []  # 1 complete + 1 running fill the budget of 2


def test_pareto_front_by_hand():
    points = [{"df": 0, "dr": 80}, {"df": 5, "dr": 85}, {"df": 5, "dr": 70},
              {"df": 20, "dr": 85}, {"df": 30, "dr": 90}]
    assert pareto.front(points) == [{"df": 0, "dr": 80}, {"df": 5, "dr": 85},
                                    {"df": 30, "dr": 90}]


@pytest.mark.parametrize("extra, message", [
    (["--space", "nope=float:0:1"], "has no hyperparameter 'nope'"),
    (["--space", "epochs=float:1:5"], "epochs takes int, got 1.0"),
    (["--space", "lr=log_float:0.1:0.01"], "empty or inverted"),
    (["--space", "lr=choice:"], "expected name=kind"),
    (["--measure-on", "test"], "may not measure on the test split"),
])
def test_bad_input_is_one_line_and_records_nothing(world, capsys, extra, message, tmp_path):
    root, _ = world
    args = argv(world, *extra, trials=2)
    args[args.index("--storage") + 1] = f"sqlite:///{tmp_path / 'bad.db'}"
    outcome = invoke(tune.main, args, capsys)
    assert outcome.code == 2
    assert len(outcome.err_lines) == 1 and message in outcome.err
    assert not (tmp_path / "bad.db").exists()


def test_an_empty_space_is_refused(world, capsys, tmp_path):
    args = argv(world, space=())
    args[args.index("--storage") + 1] = f"sqlite:///{tmp_path / 'bad.db'}"
    outcome = invoke(tune.main, args, capsys)
    assert outcome.code == 2 and "empty" in outcome.err and len(outcome.err_lines) == 1
    assert not (tmp_path / "bad.db").exists()


def test_the_retrained_model_is_found_in_the_model_store(tmp_path, capsys):
    """--store instead of --retrained: the first retrain of the tuning class in the store."""
    from unlearn.store.model_store import read_recipe, retrain_seed

    data = write_fashion_mnist(tmp_path / "fashion", n_train=200, n_test=20)
    store = tmp_path / "store"
    common = ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-epochs", "1",
              "-b", "32", "-data_dir", str(data), "-store", str(store)]
    assert pretrain_model.main(common) == 0
    assert pretrain_model.main([*common, "-forget_class", "Trouser",
                                "-seed", str(retrain_seed(0))]) == 0
    by_left_out = {read_recipe(p)["left_out"]: p for p in store.rglob("*.pth")}
    args = ["--task", "full_class", "--dataset", "FashionMNIST", "--net", "CNN",
            "--method", "finetune", "--trials", "1", "--storage",
            f"sqlite:///{tmp_path / 'tuning.db'}", "--weights", str(by_left_out[None]),
            "--store", str(store), "--tune-class", "Trouser", "--val-frac", "0.25",
            "--data-dir", str(data), "--tuned-dir", str(tmp_path / "tuned"),
            "--plot-dir", str(tmp_path / "plots"), "--space-only", *FINETUNE_SPACE]
    outcome = invoke(tune.main, args, capsys)
    assert outcome.code == 0, outcome.err
    setup = completed(tmp_path, "full_class-FashionMNIST-CNN-finetune")[0].user_attrs["setup"]
    # the study names its models by store key, not by this machine's paths
    assert setup["cells"][0]["retrained"] == {"store_key": by_left_out["class Trouser"].stem}

    missing = invoke(tune.main, [a if a != "Trouser" else "Bag" for a in args], capsys)
    assert missing.code == 2 and "lacks 1 of the 1 retrained" in missing.err


@pytest.mark.slow  # two tuning workers, each a process importing torch and Optuna
def test_a_study_through_the_submitit_executor_is_shared_and_resumable(world, tmp_path):
    """docs/scaling.md's tuning on SLURM: identical worker lines through `python -m unlearn.sweep
    --executor ...` (here submitit's debug executor, the same code path without a cluster).
    Two workers share one 3-trial budget; submitting them again runs nothing more."""
    storage = f"sqlite:///{tmp_path / 'cluster.db'}"
    args = argv(world, "--storage", storage)  # the last --storage wins: a study of its own
    worker = shlex.join([sys.executable, str(ROOT / "scripts" / "tune.py"), *args])
    listing = tmp_path / "workers.txt"
    listing.write_text(f"{worker}\n{worker}\n")
    sweep_argv = [str(listing), "--no-skip-done", "--executor", "submitit-debug",
                  "--log-dir", str(tmp_path / "logs")]
    name = "full_class-FashionMNIST-CNN-finetune"

    def complete() -> int:
        loaded = optuna.load_study(study_name=name, storage=storage)
        return len(loaded.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))

    assert local.main(sweep_argv) == 0
    assert complete() == 3
    assert local.main(sweep_argv) == 0  # resumed: the budget is spent, no trial is added
    assert complete() == 3


def test_a_worker_losing_the_race_to_create_the_database_retries(tmp_path, monkeypatch):
    """Two workers creating a new database at once: the loser's schema INSERT fails once with
    an IntegrityError, and it opens the database the winner created."""
    import sqlalchemy.exc

    real, calls = study.RDBStorage, []

    def racing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise sqlalchemy.exc.IntegrityError("INSERT INTO alembic_version", {}, None)
        return real(*args, **kwargs)

    monkeypatch.setattr(study, "RDBStorage", racing)
    monkeypatch.setattr(study.time, "sleep", lambda s: None)
    opened = study.storage(f"sqlite:///{tmp_path / 'race.db'}")
    assert len(calls) == 2 and opened.get_all_studies() == []


def test_tuning_holds_every_other_hyperparameter_at_what_a_run_resolves():
    """SSD's full_order comes from its declaration (no table row sets it); the batch size from
    the tuner, and the tuned table's entry leaves batch sizes to the run's -b."""
    from unlearn.tuning.run_tuning import fixed_hyperparameters, run_dependent

    fixed = fixed_hyperparameters("full_class", "FashionMNIST", "CNN", "ssd_tuning",
                                  {"dampening_constant": (), "selection_weighting": ()}, 96)
    assert fixed["full_order"] == "shuffled" and fixed["batch_size"] == 96
    assert "dampening_constant" not in fixed
    assert run_dependent(fixed) == {k: v for k, v in fixed.items() if k != "batch_size"}


@pytest.mark.parametrize("method", [m for m in METHODS if m not in UNTUNED and METHODS[m].space])
def test_every_declared_space_covers_the_published_defaults(method):
    """What the paper (or the main file's table) runs on any network and data set must be a
    point the tuner can reach: a space that misses it cannot find the published optimum."""
    assert uncovered_defaults(method) == []


def test_a_space_entry_contains_its_bounds_and_choices():
    from unlearn.tuning import space

    assert space.contains(("log_float", 1e-3, 0.1), 0.1) and space.contains(("int", 1, 5), 1)
    assert not space.contains(("log_float", 1e-3, 0.1), 0.2)
    assert space.contains(("choice", ["a", "b"]), "b") and not space.contains(("choice", ["a"]), 1)

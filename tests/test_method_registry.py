"""Methods declared beside their definitions: what the declarations drive (the registry, the
README table, the report's order, the sweeps' lists), how defaults resolve, `-hp`, and adding
a method as one new file (a toy method run through an entry point and a sweep's dry run)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_fixtures import invoke, make_world, rows

import forget_full_class_main
import forget_sub_class_main
from unlearn.errors import UsageError
from unlearn.methods import METHODS, registry
from unlearn.methods.__main__ import markdown_table
from unlearn.methods.hyperparameters import main_tables, resolve
from unlearn.methods.registration import (
    ALL_TASKS,
    FORGET,
    RUN_BATCH_SIZE,
    Method,
    declared,
    declared_defaults,
    methods_for,
    register_method,
    unregister,
)
from unlearn.report import tables
from unlearn.run import cli

ROOT = Path(__file__).resolve().parent.parent

# A whole new method, as a user would add it: the file unlearn/methods/toy_forgetting.py.
TOY_SOURCE = '''"""Toy forgetting: scale every weight once per forget batch (adding a method)."""

from unlearn.methods.registration import FORGET, FULL_CLASS, register_method


@register_method(
    "toy_forgetting", data={FORGET}, tasks={FULL_CLASS}, order=990,
    description="toy: scale every weight once per forget batch",
    defaults={"*/CNN": {"scale": 0.5}},
    space={"scale": ("float", 0.1, 1.0), "batch_size": ("int", 1, 64)},
)
def toy_forgetting(model, data, device, *, scale: float = 0.9, batch_size: int = 16):
    for _ in data.forget(batch_size=batch_size):
        for parameter in model.parameters():
            parameter.data.mul_(scale)
    return model
'''


# ---------------------------------------------------------------- what the declarations drive

def test_reading_the_sources_finds_exactly_what_importing_registers():
    read = declared()
    assert list(read) == list(METHODS)
    for name, method in METHODS.items():
        assert read[name].data == method.data and read[name].tasks == method.tasks
        assert read[name].defaults == method.defaults and read[name].space == method.space
        assert read[name].parameters == method.parameters, name


def test_the_readme_method_table_is_the_declared_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme
    assert markdown_table().count("\n") == len(METHODS) + 1


def test_report_order_and_task_lists_follow_the_declarations():
    # grouped by what each method reads, the declarations' order within a group
    groups = ["reference", "forget only", "retained data", "generated data"]
    assert tables.METHOD_ORDER == sorted(METHODS, key=lambda m: groups.index(
        tables.METHOD_GROUPS[m]))
    assert tables.METHOD_ORDER[:4] == ["baseline", "retrain", "retrain_reference",
                                       "lipschitz_forgetting"]
    assert tables.METHOD_ORDER[-2:] == ["emmn", "gkt"]
    assert {m for m, g in tables.METHOD_GROUPS.items() if g == "forget only"} == {
        m for m, spec in METHODS.items() if spec.data == frozenset({FORGET})}
    assert methods_for("random") == [n for n, m in METHODS.items() if "random" in m.tasks]
    assert "gkt" in methods_for("full_class") and "gkt" not in methods_for("sub_class")


def test_declarations_are_read_without_torch():
    code = ("import sys; from unlearn.report import tables; from unlearn.store import stable_keys; "
            "import unlearn.methods.hyperparameters; "
            "from unlearn.methods.registration import declared; declared(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_method_except_the_references_has_a_search_space():
    untuned = {name for name, m in METHODS.items() if not m.space}
    assert untuned == {"baseline", "retrain"}
    for space in (METHODS["scrub"].space, METHODS["ssd_tuning"].space,
                  METHODS["lipschitz_forgetting"].space):
        assert all(entry[0] in ("log_float", "int", "float") for entry in space.values())
    assert METHODS["lipschitz_forgetting"].space["eta"][0] == "log_float"


# ---------------------------------------------------------------- checking a declaration

def _declare(**changes):
    options = dict(data={FORGET}, tasks=ALL_TASKS, description="x") | changes

    def method(model, data, device, *, lr: float = 0.1, epochs: int = 1):
        return model
    register_method("checked_method", **options)(method)
    unregister("checked_method")


@pytest.mark.parametrize("space, message", [
    ({"lr": ("log_float", 1e-2, 1e-4)}, "empty or inverted range"),
    ({"epochs": ("int", 3, 2)}, "empty or inverted range"),
    ({"lr": ("float", 0.1, 0.1)}, "empty or inverted range"),
    ({"lr": ("log_float", 0.0, 1.0)}, "log-scale range must start above 0"),
    ({"epochs": ("choice", [])}, "non-empty list"),
    ({"epochs": ("int", 1.5, 3)}, "integer bounds"),
    ({"lr": ("uniform", 0, 1)}, "kind one of"),
    ({"momentum": ("float", 0.0, 1.0)}, "which the function does not take"),
])
def test_bad_search_spaces_are_refused_at_registration(space, message):
    with pytest.raises(UsageError, match=message):
        _declare(space=space)


def test_bad_declarations_are_refused():
    with pytest.raises(UsageError, match="does not take"):
        _declare(defaults={"*": {"momentum": 0.9}})
    with pytest.raises(UsageError, match="names no task"):
        _declare(defaults={"everything/*": {"lr": 0.2}})
    with pytest.raises(UsageError, match="subset"):
        _declare(data={"test"})
    with pytest.raises(UsageError, match="subset"):
        _declare(tasks={"forget_everything"})


def test_declarations_must_be_literals_to_be_read_without_importing(tmp_path):
    (tmp_path / "a.py").write_text(TOY_SOURCE.replace('defaults={"*/CNN": {"scale": 0.5}}',
                                                      "defaults=CNN_DEFAULTS"))
    with pytest.raises(UsageError, match="a.py:6: register_method arguments must be literals"):
        declared(tmp_path)


def test_a_name_declared_in_two_files_is_refused(tmp_path):
    (tmp_path / "a.py").write_text(TOY_SOURCE)
    (tmp_path / "b.py").write_text(TOY_SOURCE)
    with pytest.raises(UsageError, match="'toy_forgetting' is declared twice"):
        declared(tmp_path)


# ---------------------------------------------------------------- defaults and resolution

def test_more_specific_patterns_win():
    method = Method(None, frozenset(), ALL_TASKS, "", name="m", parameters={"a": 0, "b": 0},
                    defaults={"full_class/ViT/Cifar100": {"a": 4}, "*/ViT": {"a": 2, "b": 2},
                              "full_class/*": {"a": 1, "b": 1}, "*": {"a": 9}})
    assert declared_defaults(method, "full_class", "ViT", "Cifar100") == {"a": 4, "b": 1}
    # one named part each: the later pattern in the declaration wins the tie
    assert declared_defaults(method, "full_class", "ViT", "Cifar10") == {"a": 1, "b": 1}
    assert declared_defaults(method, "random", "ViT", "Cifar10") == {"a": 2, "b": 2}
    assert declared_defaults(method, "random", "CNN", "Cifar10") == {"a": 9, "b": 0}


@pytest.mark.parametrize("task, net, dampening, selection", [
    ("full_class", "VGG16", 1, 1), ("sub_class", "VGG16", 6, 5), ("sub_class", "ViT", 1, 10),
    ("random", "CNN", 4, 10), ("random", "ViT", 1, 3.5)])
def test_ssd_defaults_are_the_published_ones(task, net, dampening, selection):
    values = resolve(METHODS["ssd_tuning"], task, net, "Cifar10", batch_size=32)
    assert (values["dampening_constant"], values["selection_weighting"]) == (dampening,
                                                                             selection)
    assert values["batch_size"] == 32
    assert values["full_order"] == ("shuffled" if task == "full_class" else "retain_then_forget")


def test_hidden_per_task_defaults_are_explicit_now():
    scrub_full = resolve(METHODS["scrub"], "full_class", "CNN", "Cifar10", batch_size=8)
    scrub_random = resolve(METHODS["scrub"], "random", "CNN", "Cifar10", batch_size=8)
    assert (scrub_full["alpha"], scrub_full["gamma"], scrub_full["clip_grad_norm"]) == (
        0.001, 0.99, 1.0)
    assert (scrub_random["alpha"], scrub_random["gamma"], scrub_random["clip_grad_norm"]) == (
        1.0, 5.0, 0.0)
    assert resolve(METHODS["UNSIR"], "sub_class", "CNN", "Cifar20", batch_size=8)[
        "noise_steps"] == 250
    # retrain trains as pretraining did: Fashion-MNIST's 5 epochs, batch 64, no warm-up
    retrain = resolve(METHODS["retrain"], "full_class", "CNN", "FashionMNIST", batch_size=8)
    assert (retrain["epochs"], retrain["batch_size"], retrain["warm"]) == (5, 64, 0)


def test_the_main_files_jit_table_is_read_without_importing_it():
    assert main_tables("full_class")["lipschitz_forgetting"] == forget_full_class_main.JIT
    values = resolve(METHODS["lipschitz_forgetting"], "full_class", "CNN", "FashionMNIST",
                     batch_size=128)
    assert (values["sigma"], values["eta"]) == (forget_full_class_main.JIT["CNN"]["sigma"],
                                                forget_full_class_main.JIT["CNN"]["eta"])
    with pytest.raises(UsageError, match="add a row for CNN"):
        resolve(METHODS["lipschitz_forgetting"], "full_class", "CNN", "FashionMNIST",
                batch_size=128, tables={})


TASK_DATASET = {"full_class": "Cifar100", "sub_class": "Cifar20", "random": "Cifar10"}


@pytest.mark.parametrize("name", list(METHODS))
def test_every_keyword_hyperparameter_resolves_for_every_task_and_network(name):
    method = METHODS[name]
    for task in method.tasks:
        for net in ("VGG16", "ViT", "ResNet18", "CNN"):
            values = resolve(method, task, net, TASK_DATASET[task], batch_size=77)
            assert set(values) == set(method.parameters)
            assert not any(isinstance(v, str) and v.startswith("<") for v in values.values())
            if method.defaults.get("*", {}).get("batch_size") == RUN_BATCH_SIZE:
                assert values["batch_size"] == 77  # the run's -b


def test_an_alias_names_the_same_method():
    register_method("aliased_method", data=set(), tasks={"random"}, description="x",
                    aliases=("AliasedMethod",))(lambda model, data, device: model)
    try:
        assert registry.get_method("AliasedMethod", "random").name == "aliased_method"
        assert "AliasedMethod" in registry.choices("random")
        assert "AliasedMethod" not in registry.choices("full_class")
    finally:
        unregister("aliased_method")


# ---------------------------------------------------------------- -hp on the command line

def hyper(method: str, *flags: str, net: str = "CNN") -> dict:
    """The hyperparameters a full-class command line resolves to (nothing is run)."""
    args = cli.build_parser("full_class", 128, 0).parse_args(
        ["-net", net, "-dataset", "FashionMNIST", "-classes", "10", "-forget_class", "1",
         "-method", method, *flags])
    return cli.method_hyperparameters("full_class", args)


def test_ssd_scrub_and_gkt_are_settable_with_hp():
    ssd = hyper("ssd_tuning", "-hp", "selection_weighting=50", "-hp", "dampening_constant=2")
    assert (ssd["selection_weighting"], ssd["dampening_constant"]) == (50.0, 2.0)
    scrub = hyper("scrub", "-hp", "alpha=0.5", "-hp", "epochs=4")
    assert (scrub["alpha"], scrub["epochs"], scrub["gamma"]) == (0.5, 4, 0.99)
    gkt = hyper("gkt", "-hp", "n_pseudo_batches=7", "-hp", "teacher_train_mode=on")
    assert (gkt["n_pseudo_batches"], gkt["teacher_train_mode"]) == (7, True)


def test_hp_wins_over_the_older_flags_which_still_work():
    assert hyper("finetune", "-finetune_epochs", "2")["epochs"] == 2
    assert hyper("finetune", "-finetune_epochs", "2", "-hp", "epochs=3")["epochs"] == 3
    jit = hyper("lipschitz_forgetting", "-sigma", "0.3", "-hp", "eta=0.001", "-jit_reference")
    assert (jit["sigma"], jit["eta"], jit["reference"]) == (0.3, 0.001, True)
    assert hyper("UNSIR", "-published_noise")["published_noise"] is True
    assert hyper("retrain", "-retrain_epochs", "2")["epochs"] == 2
    assert hyper("retrain", "-retrain_epochs", "0")["epochs"] == 5  # Fashion-MNIST's recipe


def test_precedence_declaration_table_tuned_flags_hp():
    """The one documented order (unlearn/methods/hyperparameters.py, docs/tuning.md):
    declaration, main-file table, -tuned, the older flags, -hp; each later source wins."""
    jit = METHODS["lipschitz_forgetting"]
    row = main_tables("full_class")["lipschitz_forgetting"]["CNN"]

    def sigma_eta_n(**sources):
        values = resolve(jit, "full_class", "CNN", "FashionMNIST", batch_size=8, **sources)
        return values["sigma"], values["eta"], values["n_samples"]

    tuned = {"sigma": 0.9, "eta": 1e-3, "n_samples": 7}
    assert sigma_eta_n() == (row["sigma"], row["eta"], row["n_samples"])  # over REQUIRED
    assert sigma_eta_n(tuned=tuned) == (0.9, 1e-3, 7)
    assert sigma_eta_n(tuned=tuned, flags={"sigma": 0.3}) == (0.3, 1e-3, 7)
    assert sigma_eta_n(tuned=tuned, flags={"sigma": 0.3},
                       overrides={"sigma": 0.2, "n_samples": 3}) == (0.2, 1e-3, 3)
    # through the command line: -finetune_epochs beats the tuned table, -hp beats both; the
    # tuned lr stays where no later source sets it
    args = cli.build_parser("full_class", 128, 0).parse_args(
        ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-forget_class", "1",
         "-method", "finetune", "-finetune_epochs", "2"])
    assert cli.method_hyperparameters("full_class", args)["lr"] == 0.02  # declared
    chosen = cli.method_hyperparameters("full_class", args, {"epochs": 4, "lr": 0.5})
    assert (chosen["epochs"], chosen["lr"]) == (2, 0.5)
    args.hp = ["epochs=3"]
    assert cli.method_hyperparameters("full_class", args, {"epochs": 4})["epochs"] == 3


def test_runs_sweeps_and_tuning_read_the_main_file_through_one_reader(tmp_path, monkeypatch):
    """An edited main-file row is what a run, the sweep's check and the tuner's fixed values
    all resolve (main_tables reads the file's text; nothing imports a copy of it)."""
    from scripts import sweep_grid
    from unlearn.methods import hyperparameters
    from unlearn.tuning.run_tuning import fixed_hyperparameters

    text = (hyperparameters.ROOT / "forget_random_main.py").read_text()
    row = '"CNN": dict(sigma=0.5, eta=5e-5, n_samples=25)'
    (tmp_path / "forget_random_main.py").write_text(
        text.replace(row, '"CNN": dict(sigma=0.25, eta=2e-4, n_samples=9)'))
    monkeypatch.setattr(hyperparameters, "ROOT", tmp_path)
    assert main_tables("random")["lipschitz_forgetting"]["CNN"] == dict(
        sigma=0.25, eta=2e-4, n_samples=9)
    fixed = fixed_hyperparameters("random", "FashionMNIST", "CNN", "lipschitz_forgetting",
                                  {"eta": ("log_float", 1e-5, 1e-2)}, 128)
    assert (fixed["sigma"], fixed["n_samples"]) == (0.25, 9) and "eta" not in fixed
    args = cli.build_parser("random", 128, 0).parse_args(
        ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-forget_count", "3",
         "-method", "lipschitz_forgetting"])
    assert cli.method_hyperparameters("random", args)["eta"] == 2e-4
    (tmp_path / "forget_random_main.py").write_text(
        text.replace(row, '"CNN": dict(sigma=-0.25, eta=2e-4, n_samples=9)'))
    grid = sweep_grid.parse(["forget_random_main.py", "-net", "CNN", "-dataset", "FashionMNIST",
                             "--weights", "w.pth", "--forget-count", "3", "--methods",
                             "lipschitz_forgetting", "--", "cpu", "1"], {})
    with pytest.raises(UsageError, match="forget_random_main.py: the lipschitz_forgetting "
                                         "table for CNN: sigma must be positive"):
        sweep_grid.commands(grid, {})


def test_hp_outside_the_search_range_is_allowed():
    assert hyper("scrub", "-hp", "alpha=1000")["alpha"] == 1000.0  # space ends at 10
    assert hyper("scrub", "-hp", "max_steps=0")["max_steps"] == 0  # space starts at 1


def test_hp_none_and_lists():
    assert hyper("lipschitz_forgetting", "-hp", "clamp=none")["clamp"] is None
    assert hyper("retrain_reference", "-hp", "milestones=1,2")["milestones"] == [1, 2]


@pytest.mark.parametrize("flags, message", [
    (["-method", "scrub", "-hp", "alhpa=1"],
     "unknown hyperparameter 'alhpa' for scrub; valid: alpha, gamma, clip_grad_norm"),
    (["-method", "scrub", "-hp", "epochs=three"],
     "hyperparameter 'epochs' of scrub takes int, got 'three'"),
    (["-method", "scrub", "-hp", "epochs=2.5"], "takes int"),
    (["-method", "ssd_tuning", "-hp", "selection_weighting=-1"],
     "selection_weighting must be positive, got -1.0"),
    (["-method", "scrub", "-hp", "lr=0"], "lr must be positive"),
    (["-method", "scrub", "-hp", "epochs=-1"], "epochs must be at least 1"),
    (["-method", "scrub", "-hp", "max_steps=-1"], "max_steps must not be negative"),
    (["-method", "scrub", "-hp", "alpha=nan"], "alpha must be a finite number"),
    (["-method", "scrub", "-hp", "alpha"], "-hp expects NAME=VALUE"),
    (["-method", "finetune", "-hp", "batch_size=0"], "batch_size must be at least 1"),
    (["-method", "baseline", "-hp", "lr=1"], "for baseline; valid: none"),
])
def test_bad_hp_is_one_line_and_exit_2(flags, message, tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    argv = ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-forget_class", "1",
            "-weight_path", str(tmp_path / "missing.pth"), "-results", str(results), *flags]
    outcome = invoke(forget_full_class_main.main, argv, capsys)
    assert outcome.code == 2
    assert len(outcome.err_lines) == 1 and message in outcome.err_lines[0]
    assert not results.exists()


# ---------------------------------------------------------------- adding a method: one file

@pytest.fixture
def toy_file(tmp_path) -> Path:
    path = tmp_path / "toy_forgetting.py"
    path.write_text(TOY_SOURCE, encoding="utf-8")
    return path


@pytest.fixture
def toy_registered(toy_file):
    """The toy file imported, which registers its method (removed again afterwards)."""
    spec = importlib.util.spec_from_file_location("toy_forgetting", toy_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    unregister("toy_forgetting")


@pytest.fixture(scope="module")
def fashion_world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("world"), ("FashionMNIST",))


def test_a_registered_toy_method_runs_through_an_entry_point(toy_registered, fashion_world,
                                                             tmp_path, capsys):
    results = tmp_path / "results.jsonl"
    common = ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10",
              "-forget_class", "Sneaker", "-weight_path", fashion_world.weights("FashionMNIST"),
              "-data_dir", fashion_world.data_dir("FashionMNIST"), "-results", str(results),
              "-method", "toy_forgetting"]
    assert invoke(forget_full_class_main.main, common, capsys).code == 0
    assert invoke(forget_full_class_main.main, [*common, "-hp", "scale=0.25"], capsys).code == 0
    declared_run, overridden = rows(results)
    assert declared_run["status"] == overridden["status"] == "ok"
    # the CNN default from the declaration, then -hp; the function's own batch size
    assert declared_run["config"]["hyperparameters"] == {"scale": 0.5, "batch_size": 16}
    assert overridden["config"]["hyperparameters"] == {"scale": 0.25, "batch_size": 16}
    assert "toy_forgetting" in METHODS and list(METHODS)[-1] == "toy_forgetting"
    wrong = invoke(forget_full_class_main.main, [*common, "-hp", "scale=x"], capsys)
    assert wrong.code == 2 and "'scale' of toy_forgetting takes float" in wrong.err
    # declared for the full-class task only
    sub = invoke(forget_sub_class_main.main, ["-net", "CNN", "-dataset", "FashionMNIST4",
                                              "-superclasses", "4", "-subclasses", "10",
                                              "-forget_class", "Sneaker",
                                              "-method", "toy_forgetting"], capsys)
    assert sub.code == 2 and "invalid choice: 'toy_forgetting'" in sub.err
    assert len(rows(results)) == 2


def test_one_new_file_reaches_the_lists_the_report_and_a_sweep(toy_file, tmp_path):
    """A copy of the repository plus unlearn/methods/toy_forgetting.py: the method is listed for its
    task, ordered by the report, in the README table output and in a sweep's dry run."""
    copy = tmp_path / "repo"
    outputs = shutil.ignore_patterns(  # the checkout's own folders, not unlearn/data
        ".git", ".venv", "results", "checkpoints", "data", "logs", "docs", "bench", "tests")
    anywhere = shutil.ignore_patterns("__pycache__", "*.pth")
    shutil.copytree(ROOT, copy, ignore=lambda folder, names: anywhere(folder, names) | (
        outputs(folder, names) if Path(folder) == ROOT else set()))
    shutil.copy(toy_file, copy / "unlearn" / "methods" / "toy_forgetting.py")
    env = {**os.environ, "PYTHON": sys.executable, "DRY_RUN": "1"}

    def output(*command: str) -> str:
        return subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True,
                              check=True).stdout

    assert output(sys.executable, "-m", "unlearn.methods", "list", "--task", "full_class"
                  ).split()[-2:] == ["boundary_expanding", "toy_forgetting"]
    assert "toy_forgetting" not in output(sys.executable, "-m", "unlearn.methods", "list", "--task",
                                          "random").split()
    assert "| `toy_forgetting` | forget | full |" in output(sys.executable, "-m", "unlearn.methods",
                                                           "table")
    order = output(sys.executable, "-c", "from unlearn.report import tables; print([m for m in "
                   "tables.METHOD_ORDER if tables.METHOD_GROUPS[m] == 'forget only'][-1])")
    assert order.strip() == "toy_forgetting"  # last of the forget-only group
    sweep = output("bash", "scripts/fashionmnist_fullclass_exps_cnn.sh", "cpu", "0")
    assert any("-method toy_forgetting" in line for line in sweep.splitlines())

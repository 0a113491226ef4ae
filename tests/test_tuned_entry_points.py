"""The forgetting scripts with -tuned (values from a tuned table) and jit_zero_shot's record."""

import pytest
from cli_fixtures import file_state, invoke, make_world, rows

import forget_full_class_main
from unlearn.report import tables
from unlearn.tuning import table


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("tuned"), names=("FashionMNIST",))


def command(world, results, method, *extra):
    return ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-forget_class",
            "Sneaker", "-method", method, "-weight_path", world.weights("FashionMNIST"),
            "-data_dir", world.data_dir("FashionMNIST"), "-results", str(results), *extra]


def test_tuned_values_replace_the_defaults(world, tmp_path, capsys):
    tuned = tmp_path / "tuned"
    table.write_entry(table.table_path("full_class", "FashionMNIST", "CNN", tuned), "finetune",
                      {"hyperparameters": {"lr": 0.0123, "epochs": 1},
                       "provenance": {"study": "full_class-FashionMNIST-CNN-finetune"}})
    results = tmp_path / "r.jsonl"
    outcome = invoke(forget_full_class_main.main,
                     command(world, results, "finetune", "-tuned", str(tuned)), capsys)
    assert outcome.code == 0, outcome.err
    config = rows(results)[0]["config"]
    assert config["hyperparameters"]["lr"] == 0.0123 and config["hyperparameters"]["epochs"] == 1
    assert config["tuned_from"] == "full_class-FashionMNIST-CNN-finetune"

    # the published default beside it: the report shows the default row and the tuned one
    assert invoke(forget_full_class_main.main, command(world, results, "finetune"),
                  capsys).code == 0
    table_rows = [line for line in tables.markdown_table(rows(results)).splitlines()
                  if line.startswith("| finetune")]
    assert [line.split("|")[1].strip() for line in table_rows] == ["finetune", "finetune [tuned]"]


@pytest.mark.parametrize("entry, message", [
    (None, "no tuned values for finetune"),
    ({"learning_rate": 0.1}, "sets learning_rate, which finetune does not take"),
    ({"epochs": 2.5}, "epochs takes int, got 2.5"),
])
def test_missing_or_stale_tuned_values_are_one_line_and_record_nothing(world, tmp_path, capsys,
                                                                      entry, message):
    tuned = tmp_path / "tuned"
    if entry is not None:
        table.write_entry(table.table_path("full_class", "FashionMNIST", "CNN", tuned),
                          "finetune", {"hyperparameters": entry, "provenance": {}})
    results = tmp_path / "r.jsonl"
    outcome = invoke(forget_full_class_main.main,
                     command(world, results, "finetune", "-tuned", str(tuned)), capsys)
    assert outcome.code == 2 and len(outcome.err_lines) == 1
    assert message in outcome.err
    assert file_state(results) is None


def test_zero_shot_choice_is_recorded_and_eta_is_refused(world, tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    outcome = invoke(forget_full_class_main.main,
                     command(world, results, "jit_zero_shot", "-n_samples", "2"), capsys)
    assert outcome.code == 0, outcome.err
    row = rows(results)[0]
    chosen = row["chosen"]
    assert chosen["sigma"] == forget_full_class_main.JIT["CNN"]["sigma"]
    assert chosen["target"] == pytest.approx(10.0)  # chance for ten classes
    assert chosen["eta"] in [eta for eta, _ in chosen["tried"]]
    assert "eta" not in row["config"]["hyperparameters"]

    refused = invoke(forget_full_class_main.main,
                     command(world, tmp_path / "x.jsonl", "jit_zero_shot", "-eta", "1e-4"),
                     capsys)
    assert refused.code == 2 and "chooses eta itself" in refused.err


@pytest.mark.parametrize("method", ["jit_anchored", "distill_others"])
def test_a_forget_only_choice_reaches_the_row(world, tmp_path, capsys, method):
    """What the forget-only rule chose is in the recorded row, as the report reads it."""
    results = tmp_path / "r.jsonl"
    extra = ["-n_samples", "2"] if method == "jit_anchored" else []
    outcome = invoke(forget_full_class_main.main,
                     command(world, results, method, *extra, "-hp", "max_passes=0.5"), capsys)
    assert outcome.code == 0, outcome.err
    chosen = rows(results)[0]["chosen"]
    assert chosen["target"] == pytest.approx(5.0)  # half of chance for ten classes
    assert chosen["outcome"] in ("target reached", "target met by the original",
                                 "budget spent", "guard tripped")
    assert chosen["trajectory"][0][0] == 0 and chosen["trajectory"][-1][0] >= chosen["steps"]
    assert chosen["reached"] or chosen["flag"]  # a missed target is never silent
    if method == "jit_anchored":
        refused = invoke(forget_full_class_main.main,
                         command(world, tmp_path / "x.jsonl", method, "-eta", "1e-4"), capsys)
        assert refused.code == 2 and "chooses eta itself" in refused.err

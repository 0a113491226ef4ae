"""Attack power and saved outputs recorded by a run, and the study-level per-example attacks
(U-LiRA, forgetting quality) computed from saved outputs and a model store's pools.

The study-level tests use a synthetic store: untrained CNNs whose logit of the forgotten class
is shifted up in the "originals" (as a model that trained on the forget samples is confident
on them), so U-LiRA must call original-like runs members and retrain-like runs not.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_fixtures import invoke, make_world, one_error_line, rows
from data_files import write_fashion_mnist

from models import build_model
from models.checkpoint import file_sha256, save_checkpoint
from scripts import study_attacks as command
from unlearn.data import datasets
from unlearn.errors import UsageError
from unlearn.eval import metrics
from unlearn.eval.attacks import ATTACKS
from unlearn.report.per_example_attacks import (
    TPRS,
    Pools,
    Result,
    Run,
    available_retrains,
    cell_lira,
    in_pool_runs,
    indices_needed,
    run_quality,
    summarise,
)
from unlearn.run import experiment
from unlearn.store import run_outputs
from unlearn.store.model_store import ModelStore, TrainingRecipe
from unlearn.train import pretraining

SNEAKER = 7
RETRAINS = 9  # the retrain rows load 3; U-LiRA needs 2 + 2 more, forgetting quality 3 + 3

# ---------------------------------------------------------------- a run: power and outputs


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("attacks_world"), ("FashionMNIST",))


def run_config(world, tmp_path, **changes) -> experiment.RunConfig:
    fields = dict(task="full_class", net="CNN", dataset="FashionMNIST", num_classes=10,
                  method="baseline", weight_path=world.weights("FashionMNIST"),
                  forget_class="Sneaker", data_dir=world.data_dir("FashionMNIST"),
                  results_path=str(tmp_path / "r.jsonl"))
    return experiment.RunConfig(**(fields | changes))


def test_a_run_records_power_and_saves_its_outputs(world, tmp_path):
    config = run_config(world, tmp_path, save_outputs=str(tmp_path / "outputs"))
    row = experiment.run(config)
    scores = row["metrics"]
    for name in ATTACKS:  # baseline: the unlearned model is the original, power = result
        for key in ("auc", "tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct"):
            assert scores[f"attack_{name}_{key}_original"] == pytest.approx(
                scores[f"attack_{name}_{key}"], abs=1e-9)
    # a method that changes the model: its power is still the original's, the baseline's result
    finetuned = experiment.run(run_config(world, tmp_path, method="finetune",
                                          hyperparameters={"epochs": 1}))["metrics"]
    assert finetuned["attack_loss_auc_original"] == pytest.approx(scores["attack_loss_auc"],
                                                                  abs=1e-9)
    path = Path(row["outputs"])
    assert path == tmp_path / "outputs" / f"{row['config_key']}.pt"
    assert not [p for p in path.parent.iterdir() if p != path]  # no temporary file left
    saved = run_outputs.load(path)
    train = datasets.load_split("FashionMNIST", True, world.data_dir("FashionMNIST"))
    test = datasets.load_split("FashionMNIST", False, world.data_dir("FashionMNIST"))
    assert torch.equal(saved["forget_indices"], torch.nonzero(train.labels == SNEAKER).view(-1))
    assert torch.equal(saved["nonmember_indices"], torch.nonzero(test.labels == SNEAKER).view(-1))
    assert set(saved["forget_labels"].tolist()) == set(saved["nonmember_labels"].tolist()) == {7}
    assert saved["forget_logits"].shape == (len(saved["forget_indices"]), 10)
    assert (saved["method"], saved["forget"], saved["config_key"]) == (
        "baseline", "class Sneaker", row["config_key"])
    # the logits are the model's own on those samples
    model, _ = experiment.load_model(config, {"arch": "CNN", "num_classes": 10,
                                              "dataset": "FashionMNIST"}, torch.device("cpu"))
    loader = datasets.BatchLoader(train, saved["forget_indices"], 128,
                                  spec=datasets.DATASETS["FashionMNIST"], image_size=32)
    torch.testing.assert_close(saved["forget_logits"], metrics.predict(model, loader, "cpu")[0])
    # where the outputs go does not change the run's key
    assert experiment.config_key(replace(config, save_outputs=None),
                                 row["checkpoint_sha256"]) == row["config_key"]


def test_a_recorded_run_without_outputs_runs_again_to_save_them(world, tmp_path):
    plain = run_config(world, tmp_path, skip_done=True)
    saving = replace(plain, save_outputs=str(tmp_path / "outputs"))
    assert "outputs" not in experiment.run(plain)
    assert experiment.run(saving)["outputs"]  # the same run key, run again to save them
    assert experiment.run(saving)["outputs"]  # now recorded with them: skipped
    assert len(rows(tmp_path / "r.jsonl")) == 2


def test_the_command_line_saves_outputs(world, tmp_path, capsys):
    import forget_full_class_main

    argv = ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-method", "baseline",
            "-forget_class", "Sneaker", "-weight_path", world.weights("FashionMNIST"),
            "-data_dir", world.data_dir("FashionMNIST"), "-results", str(tmp_path / "r.jsonl"),
            "--save-outputs", str(tmp_path / "out")]
    assert invoke(forget_full_class_main.main, argv, capsys).code == 0
    (row,) = rows(tmp_path / "r.jsonl")
    assert run_outputs.load(row["outputs"])["config_key"] == row["config_key"]
    assert row["config"]["save_outputs"] == str(tmp_path / "out")
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    refused = invoke(forget_full_class_main.main, [*argv[:-1], str(blocker / "out")], capsys)
    one_error_line(refused, "outputs folder")
    assert len(rows(tmp_path / "r.jsonl")) == 1  # nothing more recorded


def test_a_damaged_outputs_file_is_refused(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"not a tensor file")
    with pytest.raises(Exception, match="not a run's outputs file"):
        run_outputs.load(tmp_path / "x.pt")
    with pytest.raises(Exception, match="run outputs not found"):
        run_outputs.load(tmp_path / "missing.pt")


# ---------------------------------------------------------------- the computation alone


def run_of(phi, own=None, original="o0", method="m") -> Run:
    return Run(row={"checkpoint_sha256": original, "forget": "f", "method": method},
               label=method, phi=np.asarray(phi, dtype=np.float64),
               indices=np.arange(len(phi)), labels=np.zeros(len(phi)), own_retrain=own,
               forget_count=len(phi))


@pytest.fixture(scope="module")
def confidences():
    """phi of 4 originals and 12 retrains on 300 examples: per-example difficulty, per-model
    noise, and +4 where the model trained on the example."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=300)
    return {"in": base + 4 + rng.normal(size=(4, 300)),
            "retrains": base + rng.normal(size=(12, 300)),
            "original_like": base + 4 + rng.normal(size=300),
            "base": base, "rng": rng}


def test_ulira_tells_an_original_like_run_from_a_retrain(confidences):
    c = confidences
    fit, heldout = c["retrains"][:4], c["retrains"][4:6]
    value, null = cell_lira([run_of(c["original_like"])], c["in"], fit, heldout)
    assert value["auc"] > 0.95 and len(null) == 2
    retrain_like, _ = cell_lira([run_of(c["retrains"][6])], c["in"], fit, heldout)
    assert abs(retrain_like["auc"] - 0.5) < 0.1  # a retrain outside the fit: exchangeable


def test_the_in_pool_never_holds_the_cell_under_test(confidences):
    c = confidences
    runs = [run_of(c["retrains"][k], original=f"o{k % 3}") for k in range(6)]
    shared = run_of(c["retrains"][0], original="o1")  # the model of a run of cell o0
    for cell in (("o0", "f"), ("o1", "f"), ("o2", "f")):
        pool = in_pool_runs(runs + [shared], cell)
        assert pool and all(run.cell != cell for run in pool)
        mine = {run.model for run in runs + [shared] if run.cell == cell}
        assert not mine & {run.model for run in pool}
        assert len({run.model for run in pool}) == len(pool)  # each model once
    assert len(in_pool_runs(runs + [shared], ("o0", "f"))) == 4  # o1's copy of o0's model out


def test_retrained_pools_leave_out_the_retrains_the_runs_loaded():
    runs = [run_of([0.0], own=1), run_of([0.0], own=3), run_of([0.0])]
    assert available_retrains(6, runs) == [0, 2, 4, 5]
    assert indices_needed(4, {1}) == 5 and indices_needed(4, {7}) == 4
    assert indices_needed(3, set()) == 3


def test_forget_quality_counts_each_unlearned_model_once(confidences):
    c = confidences
    far = [run_of(c["base"] + 20 + c["rng"].normal(size=300), original=f"o{k}")
           for k in range(3)]
    quality = run_quality(far, c["retrains"], None)
    assert (quality["score"], quality["num_models"]) == (0.0, 3)
    assert quality["null_low"] <= quality["null"] <= quality["null_high"]
    assert quality["null"] > 0.2  # retrains against retrains: near the N = 3 null, 0.35
    same = [run_of(c["retrains"][0], own=0)] * 3  # one retrain in three cells: one model
    assert run_quality(same, c["retrains"], None) is None
    retrain_like = [run_of(c["retrains"][k], own=k) for k in range(3)]
    quality = run_quality(retrain_like, c["retrains"], None)  # against retrains 3, 4, 5
    assert quality["num_models"] == 3 and quality["score"] > 0.0
    assert run_quality(far * 2, c["retrains"], 3)["num_models"] == 3  # --fq-models caps N
    # the null needs N more retrains than the score: 3 + 3 beyond the runs' own 3
    with pytest.raises(UsageError, match="need 6 stored retrains"):
        run_quality(retrain_like, c["retrains"][:8], None)


def test_a_method_row_counts_exactly_the_runs_it_averages():
    null = [0.4, 0.5, 0.6]
    found = [Result(group=("t", "d", "n"), method="m", label="m", cell=(f"o{k}", "f"),
                    original_seed=k, runs=runs, lira={"auc": auc, **dict.fromkeys(TPRS, 0.0)},
                    lira_null=null)
             for k, (runs, auc) in enumerate([(1, 0.9), (3, 0.7)])]
    (line,) = summarise(found, verdict=False)
    assert (line["cells"], line["runs"]) == (2, 4)
    assert line["lira"]["auc"] == [0.9, 0.7]  # both cells' values: 2 cells, 4 runs
    text = command.markdown(found, Pools(size=2, heldout=3, verdict=False))
    assert "| m | 2 | 4 | 0.800 ± 0.141 |" in text and "No verdict is given" in text


# ---------------------------------------------------------------- the command, end to end


def shifted_cnn(seed: int, shift: float) -> torch.nn.Module:
    """An untrained CNN (seeded) whose forgotten-class logit is raised by `shift`."""
    torch.manual_seed(seed)
    model = build_model("CNN", 10)
    with torch.no_grad():
        model.classifier[-1].bias[SNEAKER] += shift
    return model.eval()


# the study's forget sets: (task, the store's name of the forget set, the rows' description)
FORGET_SETS = [("full_class", "Sneaker", "class Sneaker"),
               ("random", (30, 5), "random 30 samples (seed 5)")]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A store of 3 originals (seeds 0-2, shifted) and 9 retrains (unshifted) of each forget
    set, Sneaker and 30 random samples, and rows with saved outputs: baseline on each original
    and each forget set, and retrain on each original and Sneaker (original k's loads stored
    retrain k)."""
    root = tmp_path_factory.mktemp("study_attacks")
    fashion = write_fashion_mnist(root / "fashion", n_train=300, n_test=100)
    store = ModelStore(root / "store")
    identity = {"arch": "CNN", "num_classes": 10, "dataset": "FashionMNIST"}
    base = TrainingRecipe(net="CNN", dataset="FashionMNIST", num_classes=10, seed=0, epochs=1,
                          batch_size=32, warm=0)
    models, originals, retrains = {}, [], {}
    for seed in range(3):
        recipe = replace(base, seed=seed)
        models[("original", seed)] = shifted_cnn(seed, 4.0)
        path = store.path_for(recipe)
        save_checkpoint(path, models[("original", seed)], {**identity, "recipe": asdict(recipe)})
        originals.append(path)
    for task, forget, description in FORGET_SETS:
        for k in range(RETRAINS):
            config = pretraining.retrain_config(base, task, forget, k, str(store.root),
                                                str(fashion), gpu=False)
            recipe = pretraining.training_recipe(config, config.epochs)
            assert recipe.left_out == description
            models[(description, k)] = shifted_cnn(recipe.seed, 0.0)
            retrains[(description, k)] = store.path_for(recipe)
            save_checkpoint(retrains[(description, k)], models[(description, k)],
                            {**identity, "recipe": asdict(recipe), "forget": description})
    train = datasets.load_split("FashionMNIST", True, str(fashion))
    test = datasets.load_split("FashionMNIST", False, str(fashion))
    samples = {"class Sneaker": (torch.nonzero(train.labels == SNEAKER).view(-1),
                                 torch.nonzero(test.labels == SNEAKER).view(-1)),
               "random 30 samples (seed 5)": (torch.arange(1, 31), torch.arange(30))}
    spec = datasets.DATASETS["FashionMNIST"]

    def logits(model, images, indices):
        loader = datasets.BatchLoader(images, indices, 128, spec=spec, image_size=32)
        return metrics.predict(model, loader, "cpu")[0]

    records = []
    runs = [(task, description, "baseline", seed, ("original", seed))
            for task, _, description in FORGET_SETS for seed in range(3)]
    runs += [("full_class", "class Sneaker", "retrain", k, ("class Sneaker", k)) for k in range(3)]
    for task, description, method, seed, model in runs:
        forget, nonmembers = samples[description]
        sha = file_sha256(originals[seed])
        key = f"{task}-{method}-{seed}"
        retrain_index = model[1]
        out = run_outputs.save(
            root / "outputs", key, {"method": method, "forget": description,
                                    "forget_count": len(forget)},
            forget_indices=forget, forget_labels=train.labels[forget],
            forget_logits=logits(models[model], train, forget), nonmember_indices=nonmembers,
            nonmember_labels=test.labels[nonmembers],
            nonmember_logits=logits(models[model], test, nonmembers))
        study_place = {"original": f"{sha[:8]} (seed {seed})"}
        if method == "retrain":
            study_place["retrain"] = (f"{file_sha256(retrains[model])[:8]} "
                                      f"(seed {1000 + retrain_index})")
        config = {"weight_path": str(originals[seed]), "num_classes": 10, "batch_size": 128,
                  "hyperparameters": {}}
        config |= ({"forget_count": 30, "forget_seed": 5} if task == "random"
                   else {"forget_class": "Sneaker"})
        records.append({
            "status": "ok", "task": task, "method": method, "net": "CNN",
            "dataset": "FashionMNIST", "forget": description, "seed": 0,
            **({"forget_seed": 5} if task == "random" else {}),
            "metrics": {"acc_retain_test": 0.0, "acc_forget_test": 0.0,
                        "acc_forget_train": 0.0, "mia": 0.0},
            "method_s": 0.0, "config_key": key, "checkpoint_sha256": sha, "config": config,
            "study": study_place, "outputs": str(out)})
    path = root / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return {"root": root, "rows": path, "store": str(store.root), "fashion": str(fashion),
            "records": records}


def study_argv(study, *extra):
    return [str(study["rows"]), "--store", study["store"], "--data_dir", study["fashion"],
            "--out", str(study["root"] / "report"), "--pool-size", "2", "--heldout", "2",
            "--no-verdict", *extra]


def test_ulira_and_forget_quality_from_saved_outputs(study, capsys):
    outcome = invoke(command.main, study_argv(study), capsys)
    assert outcome.code == 0, outcome.err
    with open(study["root"] / "report" / "study_attacks.csv") as handle:
        lines = list(csv.DictReader(handle))
    baseline = [line for line in lines if line["method"] == "baseline"]
    retrain = [line for line in lines if line["method"] == "retrain"]
    assert len(baseline) == 6  # one per cell: originals 0, 1, 2 x Sneaker, 30 random samples
    assert {line["task"] for line in baseline} == {"full_class", "random"}
    for line in baseline:  # the original itself against stored originals: the attack's power
        assert float(line["lira_auc"]) > 0.9
        assert (line["pool_in"], line["pool_out"], line["heldout_retrained"]) == ("2", "2", "2")
        assert line["in_from"] == "stored originals"
        assert line["original_seed"] not in line["in_seeds"].split()  # its own left out
        assert len(line["in_seeds"].split()) == 2
        assert line["forget_quality_models"] == "3" and float(line["forget_quality"]) == 0.0
        assert float(line["forget_quality_null"]) > 0.0  # retrains against retrains
        assert len(line["lira_null_aucs"].split()) == 2  # one per held-out retrain
    assert len(retrain) == 3
    for line in retrain:  # the in pool: the retrain runs of the two other originals
        assert line["in_from"] == "runs on other originals" and line["pool_in"] == "2"
        assert line["original_seed"] not in line["in_seeds"].split()
        # untrained CNNs differ mostly by a model-wide offset, so one retrain against two
        # held-out ones lands anywhere in [0, 1]: the null shows the same spread
        null = [float(value) for value in line["lira_null_aucs"].split()]
        assert min(null) <= float(line["lira_auc"]) <= max(null)
        assert line["forget_quality_models"] == "3"
    text = (study["root"] / "report" / "study_attacks.md").read_text()
    assert "the method's own runs on the other originals" in text
    assert text.count("| baseline | 3 | 3 |") == 2  # a table per task
    assert "| retrain | 3 | 3 |" in text and "No verdict is given" in text


def test_outputs_moved_to_another_folder_are_found(study, capsys, tmp_path):
    moved = tmp_path / "moved"
    moved.mkdir()
    for row in study["records"]:
        (moved / Path(row["outputs"]).name).write_bytes(Path(row["outputs"]).read_bytes())
    argv = study_argv(study, "--outputs", str(moved), "--out", str(tmp_path / "r"))
    assert invoke(command.main, argv, capsys).code == 0


@pytest.mark.parametrize("change, mentions", [
    (["--pool-size", "3", "--heldout", "2"],
     ["holds 2 original(s)", "the in pool needs 3", "train them with: python pretrain_model.py"]),
    # 9 retrains stored, 3 of them the retrain rows' own: 2 fitted + 6 held out need 11
    (["--heldout", "6"], ["lacks retrained models of class Sneaker", "the out pool needs 11",
                          "-forget_class Sneaker"]),
    (["--pool-size", "1"], ["--pool-size 1"]),
    (["--heldout", "1"], ["--heldout 1", "two held-out"]),
    (["--fq-models", "2"], ["--fq-models 2"]),
])
def test_missing_pools_and_bad_options_stop_with_one_line(study, capsys, tmp_path, change,
                                                          mentions):
    out = tmp_path / "report"
    outcome = invoke(command.main, study_argv(study, *change, "--out", str(out)), capsys)
    one_error_line(outcome, *mentions)
    assert not out.exists()  # nothing written


def test_pools_below_a_verdicts_stop_with_one_line(study, capsys, tmp_path):
    argv = [a for a in study_argv(study, "--out", str(tmp_path / "r")) if a != "--no-verdict"]
    one_error_line(invoke(command.main, argv, capsys), "a verdict needs 8", "--no-verdict")
    # the defaults (8 + 8, 4 held out) ask the store for more retrains than it holds
    defaults = argv[:5] + ["--out", str(tmp_path / "r")]
    one_error_line(invoke(command.main, defaults, capsys), "lacks retrained models",
                   "the out pool needs 15", "train them with")


def test_bad_rows_stop_with_one_line(study, capsys, tmp_path):
    records = [json.loads(line) for line in study["rows"].read_text().splitlines()]

    def attempt(changed_rows, *mentions):
        path = tmp_path / "rows.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in changed_rows))
        argv = [str(path), *study_argv(study)[1:]]
        one_error_line(invoke(command.main, argv, capsys), *mentions)

    attempt([{k: v for k, v in r.items() if k != "outputs"} for r in records],
            "no successful row records saved outputs")
    attempt([r | {"net": "ResNet18"} for r in records], "ResNet18")  # pool of another network
    attempt([r | {"config": r["config"] | {"weight_path": str(tmp_path / "gone.pth")}}
             for r in records], "is not at")
    attempt([r | {"outputs": str(tmp_path / "gone.pt")} for r in records], "run outputs not found")
    # one retrain row without outputs: the other cells' "in" pools would lose it
    attempt([{k: v for k, v in r.items() if k != "outputs" or r["config_key"] !=
              "full_class-retrain-1"} for r in records], "1 of the 3 runs of retrain",
            "-save_outputs")
    # a method with another number of distinct models than the others of its forget set
    # (finetune: four distinct models, the outputs of three retrain rows and one baseline's)
    finetune = [r | {"method": "finetune", "config_key": f"finetune-{k}", "seed": k,
                     "study": {"original": r["study"]["original"]}}
                for k, r in enumerate(records[-3:] + records[:1])]
    attempt(records + finetune, "different numbers of distinct models", "finetune 4",
            "--fq-models 3")
    one_error_line(invoke(command.main, [str(tmp_path / "none.jsonl"), "--store", "s"], capsys),
                   "results file not found")

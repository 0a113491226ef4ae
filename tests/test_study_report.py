"""The study section of the report on a study generated here: 2 original models × 2 forget sets
× 2 seeds, K = 3 retrains per cell; every number below is computed by hand from the
generator."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from unlearn.errors import UsageError
from unlearn.report import tables

ROOT = Path(__file__).resolve().parent.parent
ORIGINALS = ["aaaa1111 (seed 0)", "bbbb2222 (seed 1)"]
FORGETS = ["class Sneaker", "class Coat"]
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]
RETRAIN_OFFSETS = [-1.0, 0.0, 1.0]  # mean |pairwise difference| = (1 + 2 + 1) / 3 = 4/3


def row(method, original, forget, seed, *, dr, df, mia, per_class=None, extra=None,
        study_extra=None, task="full_class", dataset="FashionMNIST", hyper=None):
    """A result row as unlearn/run/experiment.py writes it (the fields the report reads). The
    accuracies ToW uses: test = retain-train = Dr, forget-train = Df."""
    scores = {"acc_retain_test": dr, "acc_forget_test": df, "acc_test": dr,
              "acc_retain_train": dr, "acc_forget_train": df, "mia": mia}
    if per_class is not None:
        scores["acc_test_per_class"] = per_class
    scores.update(extra or {})
    return {"status": "ok", "task": task, "method": method, "net": "CNN", "dataset": dataset,
            "forget": forget, "seed": seed, "metrics": scores, "method_s": 1.0,
            "config": {"batch_size": 128, "hyperparameters": hyper or {}},
            "config_key": f"{method}-{original}-{forget}-{seed}-{json.dumps(study_extra)}",
            "checkpoint_sha256": original[:8] + "0" * 56,
            "study": {"original": original, **(study_extra or {})}}


def per_class(forget, changes=()):
    """The original model's 90 % on every class, the forgotten one at 0, minus `changes`."""
    scores = {name: 90.0 for name in CLASSES}
    scores[forget.removeprefix("class ")] = 0.0
    for name, change in changes:
        scores[name] += change
    return scores


def study_rows(retrains=3):
    rows = []
    for i, original in enumerate(ORIGINALS):
        for j, forget in enumerate(FORGETS):
            base = 90.0 + 2 * i + j  # a different level in every cell
            for k, offset in enumerate(RETRAIN_OFFSETS[:retrains]):
                name = f"r{k} of {original}, {forget}"  # K retrains of each cell
                rows.append(row("retrain", original, forget, 0, dr=base + offset, df=0.0,
                                mia=0.40 + offset / 100, hyper={"retrained_path": f"{name}.pth"},
                                study_extra={"retrain": name, "retrain_dataset":
                                             "FashionMNIST", "retrain_left_out": forget}))
            for seed in (0, 1):
                rows.append(row("baseline", original, forget, seed, dr=base + 0.5, df=95.0,
                                mia=0.20, per_class=per_class(forget)))
                rows.append(row("finetune", original, forget, seed, dr=base + 1, df=0.0,
                                mia=0.41, per_class=per_class(forget, [("Shirt", -3)])))
                rows.append(row("lipschitz_forgetting", original, forget, seed,
                                dr=base - 5 + 2 * seed, df=2.0, mia=0.0,
                                per_class=per_class(forget, [("Pullover", -6), ("Shirt", -1)]),
                                extra={"closeness": {"js_forget_train": 0.5,
                                                     "agreement_forget_train": 10.0,
                                                     "retrains": 3}}))
    return rows


@pytest.fixture(scope="module")
def study():
    (group,) = tables.summarize(study_rows(), floor=True)
    return group.study


def by_label(study, label):
    return next(m for m in study.methods if m.label == label)


def test_layout_and_floor(study):
    assert study.originals == ORIGINALS
    assert study.forget_sets == sorted(FORGETS)
    assert set(study.retrains.values()) == {3} and len(study.retrains) == 4
    for metric in ("Dr", "MIA", "test", "retain_train"):
        floor = study.floor[metric]
        assert (floor.mean, floor.low, floor.high, floor.n) == pytest.approx((4 / 3,) * 3 + (4,))
    assert study.floor["Df"].mean == 0 and study.floor["Df"].high == 0


def test_cells_sharing_their_retrained_models_count_once_in_the_floor():
    rows = study_rows()
    for r in rows:  # the store's way: the K retrains of a forget set serve every original
        if r["method"] == "retrain":
            r["study"]["retrain"] = r["study"]["retrain"].split(" of ")[0]  # "r0", "r1", "r2"
    (group,) = tables.summarize(rows, floor=True)
    assert group.study.floor["Dr"].n == 2  # the two forget sets, not 2 × 2 cells
    assert "the floor counts 2 distinct sets of retrained models" in group.study.notes[0]
    assert group.study.floor["Dr"].mean == pytest.approx(4 / 3)
    assert set(group.study.retrains.values()) == {3}


def test_retrain_against_itself_is_zero_and_within_the_floor(study):
    retrain = by_label(study, "retrain")
    assert set(retrain.to_retrain) >= {"Dr", "Df", "MIA", "test", "retain_train",
                                       "forget_train"}
    for metric, paired in retrain.to_retrain.items():
        assert paired.diff.mean == 0 and (paired.diff.low, paired.diff.high) == (0, 0)
        assert retrain.abs_gap[metric] == 0
        assert retrain.verdict[metric] == "within floor"
    assert retrain.means["ToW"].mean == 1


def test_gaps_verdicts_and_paired_tests(study):
    finetune, jit = by_label(study, "finetune"), by_label(study, "lipschitz_forgetting")
    assert finetune.to_retrain["Dr"].diff.mean == pytest.approx(1)
    assert finetune.verdict["Dr"] == "within floor"  # 1 ≤ 4/3
    assert finetune.verdict["Df"] == "within floor"  # 0 ≤ 0
    assert finetune.to_retrain["MIA"].diff.mean == pytest.approx(1)
    assert finetune.verdict["MIA"] == "within floor"
    assert jit.to_retrain["Dr"].diff.mean == pytest.approx(-4)  # seeds -5, -3 -> cell -4
    assert jit.verdict["Dr"] == jit.verdict["Df"] == jit.verdict["MIA"] == "outside floor"
    assert jit.to_retrain["Dr"].p == pytest.approx(2 / 2 ** 4)  # four cells, all below
    to_jit = finetune.to_jit["Dr"]
    assert to_jit.diff.mean == pytest.approx(5) and to_jit.p == pytest.approx(2 / 2 ** 4)
    assert (to_jit.diff.low, to_jit.diff.high) == pytest.approx((5, 5))


def test_tow_and_ranks(study):
    finetune, jit = by_label(study, "finetune"), by_label(study, "lipschitz_forgetting")
    assert finetune.means["ToW"].mean == pytest.approx(1 * 0.99 * 0.99)
    assert jit.means["ToW"].mean == pytest.approx(0.98 * 0.96 * 0.96)
    # |gap| Dr: baseline .5, finetune 1, JiT 4; Df: 95, 0, 2; MIA: 20, 1, 40; ToW: worst,
    # best, middle
    assert finetune.ranks == {"Dr": 2, "Df": 1, "MIA": 1, "ToW": 1, "mean": 1.25}
    assert by_label(study, "baseline").ranks["mean"] == pytest.approx(2.25)
    assert jit.ranks["mean"] == pytest.approx(2.5)
    assert by_label(study, "retrain").ranks == {}


def test_a_method_on_fewer_cells_is_left_out_of_the_ranks():
    rows = study_rows()
    rows += [row("scrub", ORIGINALS[0], FORGETS[0], 0, dr=90, df=0, mia=0.4)]
    (group,) = tables.summarize(rows)
    assert by_label(group.study, "scrub").ranks == {}
    assert by_label(group.study, "finetune").ranks["mean"] == pytest.approx(1.25)
    assert "the ranks leave out scrub: run on fewer cells" in group.study.notes


def test_collateral_damage_against_the_original_model(study):
    finetune = by_label(study, "finetune").collateral
    assert finetune.runs == 8
    assert finetune.per_class["Shirt"].mean == pytest.approx(-3)
    assert finetune.per_class["Bag"].mean == 0
    assert "Sneaker" in finetune.per_class  # retained when Coat is forgotten
    assert finetune.worst.mean == pytest.approx(-3)
    assert finetune.worst_classes.most_common(1) == [("Shirt", 8)]
    jit = by_label(study, "lipschitz_forgetting").collateral
    assert jit.worst.mean == pytest.approx(-6)
    assert jit.per_class["Shirt"].mean == pytest.approx(-1)
    assert jit.siblings == {}  # full-class task
    baseline = by_label(study, "baseline").collateral  # the original model against itself
    assert baseline.worst.mean == 0 and not baseline.worst_classes


def test_rows_with_and_without_the_study_field_share_their_original_model():
    rows = study_rows()
    for r in rows:
        if r["method"] == "finetune":
            del r["study"]  # written before rows recorded their place: the hash alone
    (group,) = tables.summarize(rows, floor=True)
    assert by_label(group.study, "finetune").to_retrain["Dr"].diff.n == 4
    assert group.study.originals == ORIGINALS


def test_closeness_means(study):
    jit = by_label(study, "lipschitz_forgetting")
    assert jit.means["js_forget_train"].mean == pytest.approx(0.5)
    assert jit.means["agreement_forget_train"].mean == pytest.approx(10)
    assert "js_forget_train" not in jit.to_retrain


def test_original_models_and_retrains_pool_into_one_table_row():
    (group,) = tables.summarize(study_rows())
    rows = {r.label: r for r in group.rows}
    assert set(rows) == {"baseline", "retrain", "finetune", "lipschitz_forgetting"}
    assert len(rows["finetune"].runs) == 8 and len(rows["retrain"].runs) == 12
    assert rows["finetune"].gaps["Dr"].mean == pytest.approx(1)  # to the mean of K retrains


def test_report_files_columns_and_markdown(tmp_path):
    store = tmp_path / "results.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in study_rows()))
    out = tmp_path / "report"
    assert tables.main([str(store), "--out", str(out), "--floor"]) == 0
    stem = out / "full_class_FashionMNIST_CNN"

    def table(suffix):
        return list(csv.DictReader(io.StringIO(Path(f"{stem}{suffix}").read_text())))

    cells = table("_study_cells.csv")
    assert list(cells[0]) == ["label", "method", "metric", "mean", "ci_low", "ci_high", "cells"]
    tow = next(r for r in cells if r["label"] == "finetune" and r["metric"] == "ToW")
    assert float(tow["mean"]) == pytest.approx(0.9801) and tow["cells"] == "4"
    paired = table("_study_paired.csv")
    assert list(paired[0]) == ["label", "method", "reference", "metric", "diff", "ci_low",
                               "ci_high", "cells", "wilcoxon_p", "mean_abs_gap", "floor",
                               "floor_high", "verdict"]
    line = next(r for r in paired if r["label"] == "retrain" and r["metric"] == "MIA")
    assert (float(line["diff"]), line["verdict"]) == (0, "within floor")
    line = next(r for r in paired if r["label"] == "finetune"
                and r["reference"] == "lipschitz_forgetting" and r["metric"] == "Dr")
    assert float(line["diff"]) == pytest.approx(5)
    assert float(line["wilcoxon_p"]) == pytest.approx(0.125)
    floor = {r["metric"]: r for r in table("_study_floor.csv")}
    assert float(floor["Dr"]["floor"]) == pytest.approx(4 / 3)
    assert floor["Dr"]["retrain_sets"] == "4"
    ranks = table("_study_ranks.csv")
    assert list(ranks[0]) == ["label", "method", "metric", "mean_rank"]
    damage = table("_study_collateral.csv")
    worst = next(r for r in damage if r["label"] == "finetune" and r["kind"] == "worst")
    assert (worst["class"], float(worst["change"])) == ("Shirt", -3)
    layout = table("_study_retrains.csv")
    assert len(layout) == 4 and {r["retrains"] for r in layout} == {"3"}
    plot = Path(f"{stem}_study_floor.png").read_bytes()
    assert plot.startswith(b"\x89PNG") and len(plot) > 10_000
    text = Path(f"{stem}_study.md").read_text()
    assert ("| retrain | Dr | +0.00 [0.00, 0.00] | – | 0.00 | 1.33 [1.33, 1.33] | within floor |"
            in text)
    assert "| lipschitz_forgetting | Dr | -4.00 [-4.00, -4.00] | 0.125 | 4.00 |" in text
    assert "no Wilcoxon p can fall below 0.125" in text
    assert "### Study · full-class · FashionMNIST · CNN" in (out / "report.md").read_text()
    # the paper's table is still there, unchanged in form
    assert (stem.with_suffix(".md")).read_text().startswith("### full-class")


def test_a_floor_with_one_retrain_is_refused(tmp_path):
    rows = study_rows(retrains=1)
    with pytest.raises(UsageError, match="at least 2 retrains per cell"):
        tables.summarize(rows, floor=True)
    (group,) = tables.summarize(rows)  # not asked for: the study goes on without a floor
    assert group.study.floor == {} and "no noise floor" in " ".join(group.study.notes)
    store = tmp_path / "results.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "report.py"), str(store),
                           "--out", str(tmp_path / "out"), "--floor", "--no-plots"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "at least 2 retrains per cell" in lines[0]
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize("mismatch, message", [
    ({"retrain_left_out": "class Bag"}, "left out 'class Bag', the cell forgets"),
    ({"retrain_dataset": "Cifar10"}, "trained on Cifar10, the cell is on FashionMNIST"),
])
def test_retrains_of_another_cell_are_refused(mismatch, message):
    rows = study_rows()
    retrain = next(r for r in rows if r["method"] == "retrain")
    retrain["study"].update(mismatch)
    with pytest.raises(UsageError, match=message):
        tables.summarize(rows)


def test_sub_class_collateral_names_the_siblings():
    rows = []
    names = {name: 90.0 for name in CLASSES}
    for k, offset in enumerate(RETRAIN_OFFSETS):
        rows.append(row("retrain", ORIGINALS[0], "sub-class Sneaker", 0, dr=90 + offset,
                        df=0.0, mia=0.4, task="sub_class", dataset="FashionMNIST4",
                        study_extra={"retrain": f"r{k}"}))
    rows.append(row("baseline", ORIGINALS[0], "sub-class Sneaker", 0, dr=90, df=95, mia=0.2,
                    per_class=names, task="sub_class", dataset="FashionMNIST4"))
    rows.append(row("finetune", ORIGINALS[0], "sub-class Sneaker", 0, dr=90, df=5, mia=0.4,
                    per_class=names | {"Sneaker": 10.0, "Sandal": 80.0, "Ankle boot": 88.0},
                    task="sub_class", dataset="FashionMNIST4"))
    (group,) = tables.summarize(rows)
    damage = by_label(group.study, "finetune").collateral
    assert {sib: e.mean for (_, sib), e in damage.siblings.items()} == {
        "Sandal": pytest.approx(-10), "Ankle boot": pytest.approx(-2)}
    assert damage.worst_classes.most_common(1) == [("Sandal", 1)]
    assert "Sneaker" not in damage.per_class  # the forgotten sub-class is not collateral


def test_differences_to_jit_use_the_retrain_tuned_jit_where_the_study_has_one():
    """Beside the published-default JiT (Dr = base − 5 + 2·seed) a tuned JiT run per cell at
    Dr = base − 1: the tuned row is the reference, so finetune (Dr = base + 1) differs by +2."""
    rows = study_rows()
    for r in [r for r in rows if r["method"] == "baseline" and r["seed"] == 0]:
        tuned = row("lipschitz_forgetting", r["study"]["original"], r["forget"], 0,
                    dr=r["metrics"]["acc_retain_test"] - 1.5, df=1.0, mia=0.3,
                    hyper={"eta": 0.01})
        tuned["config"]["tuned_from"] = "full_class-FashionMNIST-CNN-lipschitz_forgetting"
        rows.append(tuned)
    (group,) = tables.summarize(rows, floor=True)
    assert group.study.jit_label == "lipschitz_forgetting [tuned]"
    assert by_label(group.study, "finetune").to_jit["Dr"].diff.mean == pytest.approx(2)
    assert any("the retrain-tuned JiT" in note for note in group.study.notes)

"""The report: mean ± std and gaps to retrain against hand-computed values, the three table
formats, filters, the seed check, failed rows kept apart, and the plots written as PNGs."""

import csv
import io
import json

import pytest

from unlearn.errors import UsageError
from unlearn.report import tables

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def row(method, seed, dr, df, mia, seconds, *, task="full_class", forget="class Sneaker",
        config=None, status="ok", key=None):
    """A result row as unlearn/run/experiment.py writes it (only the fields the report reads)."""
    forget_key = "acc_forget_train" if task == "random" else "acc_forget_test"
    return {"status": status, "task": task, "method": method, "net": "CNN",
            "dataset": "FashionMNIST", "forget": forget, "seed": seed,
            "metrics": {"acc_retain_test": dr, forget_key: df, "mia": mia, "acc_test": 0.0},
            "method_s": seconds, "config": config or {"batch_size": 128, "hyperparameters": {}},
            "config_key": key or f"{task}-{method}-{seed}-{forget}",
            "checkpoint_sha256": "c0ffee00aa"}


# Hand-computed (sample std, n - 1):
#   retrain  seeds 0, 1:    Dr 90, 92 -> 91 ± 1.41; Df 0, 2 -> 1 ± 1.41; MIA 1, 3 % -> 2 ± 1.41;
#                           time 100, 110 -> 105 ± 7.07
#   JiT      seeds 0, 1, 2: Dr 85, 87, 89 -> 87 ± 2; Df 10, 14, 6 -> 10 ± 4; MIA 5, 7, 3 % ->
#                           5 ± 2; time 2, 4, 3 -> 3 ± 1
#   JiT − retrain on the matched seeds 0, 1: Dr −5, −5 -> −5; Df 10, 12 -> +11; MIA 4, 4 -> +4
#   baseline seed 5 only: n = 1, no std, no retrain run to compare with.
ROWS = [
    row("retrain", 0, 90, 0, 0.01, 100),
    row("retrain", 1, 92, 2, 0.03, 110),
    row("lipschitz_forgetting", 0, 85, 10, 0.05, 2),
    row("lipschitz_forgetting", 0, 85, 10, 0.05, 2),  # the same configuration recorded twice
    row("lipschitz_forgetting", 1, 87, 14, 0.07, 4),
    row("lipschitz_forgetting", 2, 89, 6, 0.03, 3),
    row("baseline", 5, 88, 95, 0.17, 0.01),
    row("lipschitz_forgetting", 3, 0, 0, 0, 0, status="failed") | {"error": "RuntimeError: x"},
    # another group: the random task (Df = accuracy on the forgotten training samples)
    row("baseline", 0, 80, 99, 0.2, 0.0, task="random", forget="random 5 samples (seed 0)"),
    row("baseline", 1, 82, 97, 0.4, 0.0, task="random", forget="random 5 samples (seed 1)"),
]


def test_markdown_mean_std_and_gaps_match_hand_computed_values():
    text = tables.markdown_table(ROWS, task="full_class")
    lines = text.splitlines()
    assert lines[0] == "### full-class · FashionMNIST · CNN"
    body = [line for line in lines if line.startswith("| ") and "---" not in line]
    assert body == [
        "| method | n | Dr (%) | Df (%) | MIA (%) | time (s) | ΔDr | ΔDf | ΔMIA |",
        "| baseline | 1 | 88.00 | 95.00 | 17.00 | 0.01 | – | – | – |",
        "| retrain | 2 | 91.00 ± 1.41 | 1.00 ± 1.41 | 2.00 ± 1.41 | 105.00 ± 7.07 "
        "| ref | ref | ref |",
        "| lipschitz_forgetting | 3 | 87.00 ± 2.00 | 10.00 ± 4.00 | 5.00 ± 2.00 | 3.00 ± 1.00 "
        "| -5.00 | +11.00 | +4.00 |",
    ]
    assert "gaps use the 2 of 3 (seed, forget) pairs" in text
    assert "RuntimeError" not in text  # failed rows never count


def test_random_task_uses_forget_train_accuracy_and_groups_apart():
    groups = tables.summarize(ROWS)
    assert [(g.task, g.dataset, g.net) for g in groups] == [
        ("full_class", "FashionMNIST", "CNN"), ("random", "FashionMNIST", "CNN")]
    random_group = groups[1]
    cells = random_group.rows[0].cells
    assert cells["Df"].mean == pytest.approx(98) and cells["Df"].std == pytest.approx(2 ** 0.5)
    assert cells["MIA"].mean == pytest.approx(30)
    assert random_group.forget_sets == ["random 5 samples"]  # the seed is not part of it


def test_csv_and_latex_carry_the_same_numbers():
    group = tables.summarize(ROWS, task="full_class")[0]
    table = list(csv.DictReader(io.StringIO(tables.group_csv(group))))
    jit = next(r for r in table if r["method"] == "lipschitz_forgetting")
    assert (jit["n"], jit["gap_pairs"]) == ("3", "2")
    assert float(jit["Dr_pct_mean"]) == pytest.approx(87)
    assert float(jit["Df_pct_std"]) == pytest.approx(4)
    assert float(jit["MIA_pct_mean"]) == pytest.approx(5)
    assert float(jit["time_s_std"]) == pytest.approx(1)
    assert float(jit["gap_Df_pct"]) == pytest.approx(11)
    baseline = next(r for r in table if r["method"] == "baseline")
    assert baseline["Dr_pct_std"] == "" and baseline["gap_Dr_pct"] == ""
    latex = tables.group_latex(group)
    assert "\\toprule" in latex and "\\bottomrule" in latex
    assert "lipschitz\\_forgetting & 3 & $87.00 \\pm 2.00$" in latex
    assert "$-5.00$ & $+11.00$ & $+4.00$ \\\\" in latex


def test_filters_and_settings_variants():
    only_jit = tables.summarize(ROWS, methods=["lipschitz_forgetting"])
    assert [[r.method for r in g.rows] for g in only_jit] == [["lipschitz_forgetting"]]
    assert only_jit[0].rows[0].gaps["Df"].mean == pytest.approx(11)  # still to retrain
    assert tables.markdown_table(ROWS, dataset="Cifar10") == "(no successful runs match)"
    sigma = [row("lipschitz_forgetting", seed, 80 + seed, 5, 0.01, 1, key=f"s{s}{seed}",
                 config={"batch_size": 128, "hyperparameters": {"sigma": s}})
             for s in (0.5, 1.0) for seed in (0, 1)]
    labels = [r.label for r in tables.summarize(sigma)[0].rows]
    assert labels == ["lipschitz_forgetting [sigma=0.5]", "lipschitz_forgetting [sigma=1.0]"]


def test_rows_from_before_an_option_existed_count_once_with_their_successors():
    # seed 0 recorded before autocast_bf16 existed (no such field, its own key), then rerun
    # with it at the value that behaves as before: one run, the latest row
    older = row("lipschitz_forgetting", 0, 80, 5, 0.01, 9, key="old",
                config={"method": "lipschitz_forgetting", "batch_size": 128,
                        "hyperparameters": {"sigma": 0.5}})
    newer_config = {"method": "lipschitz_forgetting", "batch_size": 128, "autocast_bf16": False,
                    "hyperparameters": {"sigma": 0.5, "autocast_bf16": False}}
    newer = [row("lipschitz_forgetting", seed, 82 + seed, 5, 0.01, 1, key=f"new{seed}",
                 config=newer_config) for seed in (0, 1)]
    (group,) = tables.summarize([older, *newer])
    (jit,) = group.rows
    assert jit.label == "lipschitz_forgetting" and jit.cells["Dr"].n == 2
    assert jit.cells["Dr"].mean == pytest.approx(82.5)  # 82 (the newer seed 0) and 83
    switched_on = row("lipschitz_forgetting", 2, 70, 5, 0.01, 1, key="bf16",
                      config=newer_config | {"autocast_bf16": True, "hyperparameters": {
                          "sigma": 0.5, "autocast_bf16": True}})  # -bf16 sets both
    labels = [r.label for r in tables.summarize([older, *newer, switched_on])[0].rows]
    assert labels == [
        "lipschitz_forgetting [autocast_bf16=false, hyperparameters.autocast_bf16=false]",
        "lipschitz_forgetting [autocast_bf16=true, hyperparameters.autocast_bf16=true]"]


def test_random_forget_seeds_shared_by_unlearning_seeds_are_runs_of_their_own():
    # -forget_seed: one unlearning seed on two forget sets is two runs of one table row
    runs = [row("finetune", 0, 80 + s, 5, 0.01, 1, task="random",
                forget=f"random 5 samples (seed {s})", key=f"f{s}",
                config={"batch_size": 128, "hyperparameters": {}, "forget_seed": s})
            for s in (0, 1)]
    (group,) = tables.summarize(runs)
    (finetune,) = group.rows
    assert finetune.label == "finetune" and finetune.cells["Dr"].n == 2


def test_seed_shortfalls_are_listed():
    groups = tables.summarize(ROWS, task="full_class")
    messages = tables.seed_shortfalls(groups, 3)
    assert messages == [
        "full-class · FashionMNIST · CNN: baseline, class Sneaker: 1 of 3 seeds (have 5)",
        "full-class · FashionMNIST · CNN: retrain, class Sneaker: 2 of 3 seeds (have 0, 1)",
    ]


def test_report_files_and_plots(tmp_path):
    store = tmp_path / "results.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    out = tmp_path / "report"
    assert tables.main([str(store), "--out", str(out), "--seeds", "3"]) == 0
    for stem in ("full_class_FashionMNIST_CNN", "random_FashionMNIST_CNN"):
        for suffix in (".md", ".csv", ".tex"):
            assert (out / f"{stem}{suffix}").read_text().strip()
        for plot in ("_bars.png", "_scatter.png"):
            data = (out / f"{stem}{plot}").read_bytes()
            assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    summary = (out / "report.md").read_text()
    assert "Fewer seeds than requested (--seeds 3)" in summary
    assert "Failed runs (not counted)" in summary and "RuntimeError: x" in summary
    with pytest.raises(UsageError):
        tables.main([str(tmp_path / "missing.jsonl")])
    with pytest.raises(UsageError):
        tables.main([str(store), "--out", str(out), "--net", "ViT"])


def test_attack_table_shows_each_attack_beside_its_own_power(tmp_path):
    def with_attacks(r, auc, power=None):
        extra = {f"attack_{a}_{m}": auc for a in ("loss", "confidence", "entropy", "entropy_lr")
                 for m in ("auc", "tpr_at_fpr_1pct")}
        if power is not None:
            extra |= {f"{k}_original": power for k in list(extra)}
        return r | {"metrics": r["metrics"] | extra}

    rows = [with_attacks(row("retrain", 0, 90, 0, 0.01, 1), 0.5, 0.9),
            with_attacks(row("retrain", 1, 92, 2, 0.03, 1), 0.6, 0.8),
            with_attacks(row("retrain", 2, 91, 1, 0.02, 1), 0.9),  # recorded before power
            row("retrain", 3, 93, 0, 0.02, 1),  # recorded before the attacks
            with_attacks(row("finetune", 0, 90, 3, 0.02, 5), 0.5, 0.9),
            with_attacks(row("finetune", 1, 92, 5, 0.03, 5), 0.6, 0.8),
            with_attacks(row("baseline", 0, 88, 95, 0.17, 0), 0.7)]  # recorded before power
    store = tmp_path / "results.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert tables.main([str(store), "--out", str(tmp_path / "out"), "--no-plots"]) == 0
    text = (tmp_path / "out" / "full_class_FashionMNIST_CNN_attacks.md").read_text()
    # n counts the runs the values average: the run without attacks is not one of them; the
    # power is not averaged over a subset of them
    assert "| retrain | 3 | 0.667 (–) |" in text
    assert "| finetune | 2 | 0.550 (0.850) |" in text
    assert "| baseline | 1 | 0.700 (–) |" in text
    assert "membership attacks" in (tmp_path / "out" / "report.md").read_text()
    lines = list(csv.DictReader(io.StringIO(
        (tmp_path / "out" / "full_class_FashionMNIST_CNN_attacks.csv").read_text())))
    assert (lines[1]["n"], lines[1]["attack_loss_auc"]) == ("3", "0.6667")
    assert lines[1]["attack_loss_auc_original"] == ""
    assert lines[0]["attack_loss_auc_original"] == ""
    # power describes the original model, not the method: the study does not compare it
    from unlearn.report import noise_floor

    assert "attack_loss_auc" in noise_floor.metric_values(rows[0])
    assert "attack_loss_auc_original" not in noise_floor.metric_values(rows[0])


def test_rows_are_ordered_by_what_each_method_reads_and_the_legend_says_so():
    rows = [row("finetune", 0, 90, 1, 0.01, 5), row("jit_anchored", 0, 86, 5, 0.02, 9),
            row("gkt", 0, 70, 0, 0.0, 99), row("retrain", 0, 90, 0, 0.01, 100),
            row("distill_others", 0, 87, 6, 0.02, 3)]
    text = tables.markdown_table(rows, task="full_class")
    order = [line.split(" | ")[0][2:] for line in text.splitlines()
             if line.startswith("| ") and "---" not in line][1:]
    assert order == ["retrain", "jit_anchored", "distill_others", "finetune", "gkt"]
    assert ("Reads: forget only: jit_anchored, distill_others; retained data: finetune; "
            "generated data: gkt.") in text


def test_a_flagged_choice_is_listed_in_the_report(tmp_path):
    chosen = {"flag": "guard", "outcome": "guard tripped",
              "returned": "scan model (the replay tripped the guard)"}
    rows = [row("retrain", 0, 90, 0, 0.01, 100),
            row("jit_anchored", 0, 60, 5, 0.02, 9) | {"chosen": chosen},
            row("distill_others", 0, 87, 6, 0.02, 3) | {"chosen": {"outcome": "ok"}}]
    text, _ = tables.write_report(rows, tmp_path, task="full_class", plots=False)
    section = text.split("### Runs flagged by the forget-only rule (counted)")[1]
    assert ("- full-class · jit_anchored, class Sneaker, seed 0: guard (guard tripped; "
            "returned the scan model (the replay tripped the guard))") in section
    assert "distill_others" not in section

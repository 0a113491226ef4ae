"""The robustness study's verdicts: per cell and per method, against the issue's targets.

Reads the study's result rows (scripts/robustness_study.py runs) and writes
- cells.csv: one line per (part, build, original, forget set, method): Dr, Df, MIA, loss-attack
  AUC, the worst retained class's drop against the original, what the method chose, its time;
- summary.md: per part and method, how many cells met the target, the worst cell, the spread
  over originals, and whether the two builds of a seed got the same verdict.

Targets:
- demo recipe: Df within 10 points of the retrained model's (a full class the retrained model
  never saw: Df 0) and Dr at most 5 points below the original's, in >= 95 % of cells; worst
  cell at most 10 points below; the same verdict on both builds of a seed;
- memorising regime, full class: mean Dr gap to retrain within 3 points, worst cell within 8,
  Df at most retrain's + 5;
- everywhere: no collapsed model (Dr below 50 %).
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from pathlib import Path

from unlearn.store import results

PARTS = {"demo.jsonl": "demo recipe", "memorise_full_class.jsonl": "memorising, full class",
         "memorise_random.jsonl": "memorising, random"}
DF_POINTS, DR_POINTS, DR_WORST = 10.0, 5.0, 10.0
MEMORISE_MEAN, MEMORISE_WORST, MEMORISE_DF = 3.0, 8.0, 5.0
COLLAPSED = 50.0


def build_of(row: dict) -> str:
    """Which build of the recipe a run's original is: the store folder's name."""
    return Path(row["config"].get("store") or "").name or "?"


def cell_of(row: dict) -> tuple:
    return build_of(row), row["config"]["weight_path"], row["forget"]


def original_seed(row: dict) -> str:
    """The original's pretraining seed, from the checkpoint the run recorded (or its path)."""
    meta = row.get("original") or {}
    return str(meta.get("seed", Path(row["config"]["weight_path"]).stem[:8]))


def worst_retained_drop(metrics: dict, reference: dict, forgotten: str) -> tuple[str, float]:
    """(class, points) of the retained class that lost most test accuracy against the original."""
    drops = {name: reference[name] - value
             for name, value in metrics.get("acc_test_per_class", {}).items()
             if name != forgotten and name in reference}
    if not drops:
        return "–", float("nan")
    name = max(drops, key=drops.get)
    return name, drops[name]


def choice_text(row: dict) -> str:
    chosen = row.get("chosen") or {}
    if "steps" in chosen:
        flag = f" [{chosen['flag']}]" if chosen.get("flag") else ""
        return f"{chosen['outcome']}: {chosen['steps']} steps, lr {chosen['lr_last']:.3g}{flag}"
    if "eta" in chosen:
        return f"eta {chosen['eta']:.3g} ({'reached' if chosen['reached'] else 'NOT reached'})"
    return ""


def part_cells(rows: list[dict]) -> list[dict]:
    """One record per run, with its cell's original and (mean) retrain metrics beside it."""
    ok = [r for r in rows if r.get("status") == "ok"]
    by_cell: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in ok:
        by_cell[cell_of(row)][row["method"]].append(row)
    records = []
    for cell, methods in by_cell.items():
        original = methods.get("baseline", [None])[0]
        retrains = methods.get("retrain", [])
        retrain_dr = (statistics.fmean(r["metrics"]["acc_retain_test"] for r in retrains)
                      if retrains else None)
        retrain_df = (statistics.fmean(forget_accuracy(r) for r in retrains)
                      if retrains else None)
        for method, runs in methods.items():
            for run in runs:
                label = method + (" [tuned]" if run["config"].get("tuned_from") else "")
                metrics = run["metrics"]
                reference = original["metrics"].get("acc_test_per_class", {}) if original else {}
                worst = worst_retained_drop(metrics, reference, forgotten_name(run))
                records.append({
                    "build": cell[0], "original": original_seed(run), "forget": run["forget"],
                    "method": label, "Dr": metrics["acc_retain_test"],
                    "Df": forget_accuracy(run), "MIA": 100 * metrics["mia"],
                    "loss_auc": metrics.get("attack_loss_auc"),
                    "Dr_original": original["metrics"]["acc_retain_test"] if original else None,
                    "Df_original": forget_accuracy(original) if original else None,
                    "Dr_retrain": retrain_dr, "Df_retrain": retrain_df,
                    "worst_class": worst[0], "worst_drop": worst[1],
                    "choice": choice_text(run), "time_s": run["method_s"],
                })
    return records


def forget_accuracy(row: dict) -> float:
    metrics = row["metrics"]
    return metrics["acc_forget_train"] if row["task"] == "random" else metrics["acc_forget_test"]


def forgotten_name(row: dict) -> str:
    """The forgotten class's name as the per-class accuracies spell it ("class Shirt")."""
    return row["forget"].removeprefix("class ")


def demo_verdict(record: dict) -> bool | None:
    """Demo target: Df within 10 of retrain's (0 for an unseen class), Dr loss <= 5."""
    if record["Dr_original"] is None:
        return None
    retrain_df = record["Df_retrain"] if record["Df_retrain"] is not None else 0.0
    return (record["Df"] - retrain_df <= DF_POINTS
            and record["Dr_original"] - record["Dr"] <= DR_POINTS)


def method_lines(part: str, records: list[dict]) -> list[str]:
    by_method: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_method[record["method"]].append(record)
    demo = part == "demo recipe"
    header = ("| method | cells | met target | worst Dr loss | Dr loss (mean ± sd) | "
              "Df (mean, max) | collapsed (Dr < 50) | builds agree | flagged | time (s) |"
              if demo else
              "| method | cells | Dr − retrain (mean, worst) | Df − retrain (mean, max) | "
              "MIA (mean) | loss AUC (mean) | collapsed (Dr < 50) | flagged | time (s) |")
    lines = [header, "|" + "|".join(["---"] * (header.count("|") - 1)) + "|"]
    for method, group in by_method.items():
        flagged = sum("[" in r["choice"] for r in group)
        collapsed = sum(r["Dr"] < COLLAPSED for r in group)
        seconds = statistics.fmean(r["time_s"] for r in group)
        if demo:
            verdicts = [demo_verdict(r) for r in group]
            met = sum(v is True for v in verdicts)
            losses = [r["Dr_original"] - r["Dr"] for r in group if r["Dr_original"] is not None]
            agree, pairs = builds_agree(group)
            spread = (f"{statistics.fmean(losses):+.2f} ± {statistics.stdev(losses):.2f}"
                      if len(losses) > 1 else "–")
            lines.append(
                f"| {method} | {len(group)} | {met} / {len(group)} "
                f"({100 * met / len(group):.0f} %) | {max(losses, default=float('nan')):+.2f} | "
                f"{spread} | {statistics.fmean(r['Df'] for r in group):.2f}, "
                f"{max(r['Df'] for r in group):.2f} | {collapsed} | {agree} / {pairs} | "
                f"{flagged} | {seconds:.0f} |")
        else:
            gaps = [r["Dr"] - r["Dr_retrain"] for r in group if r["Dr_retrain"] is not None]
            df_gaps = [r["Df"] - r["Df_retrain"] for r in group if r["Df_retrain"] is not None]
            aucs = [r["loss_auc"] for r in group if r["loss_auc"] is not None]
            lines.append(
                f"| {method} | {len(group)} | "
                f"{statistics.fmean(gaps):+.2f}, {min(gaps):+.2f} | "
                f"{statistics.fmean(df_gaps):+.2f}, {max(df_gaps):+.2f} | "
                f"{statistics.fmean(r['MIA'] for r in group):.2f} | "
                f"{statistics.fmean(aucs) if aucs else float('nan'):.3f} | {collapsed} | "
                f"{flagged} | {seconds:.0f} |" if gaps else
                f"| {method} | {len(group)} | – | – | – | – | {collapsed} | {flagged} | "
                f"{seconds:.0f} |")
    return lines


def builds_agree(group: list[dict]) -> tuple[int, int]:
    """(pairs with the same verdict, pairs) over (original seed, forget set) run on both
    builds."""
    verdicts: dict[tuple, dict[str, bool | None]] = defaultdict(dict)
    for record in group:
        verdicts[(record["original"], record["forget"])][record["build"]] = demo_verdict(record)
    pairs = [v for v in verdicts.values() if len(v) == 2]
    return sum(len(set(v.values())) == 1 for v in pairs), len(pairs)


def memorise_targets(records: list[dict]) -> list[str]:
    lines = []
    by_method: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        if record["Dr_retrain"] is not None:
            by_method[record["method"]].append(record)
    for method, group in by_method.items():
        if method in ("retrain", "baseline"):
            continue
        gaps = [abs(r["Dr"] - r["Dr_retrain"]) for r in group]
        df_ok = all(r["Df"] <= r["Df_retrain"] + MEMORISE_DF for r in group)
        met = (statistics.fmean(gaps) <= MEMORISE_MEAN and max(gaps) <= MEMORISE_WORST
               and df_ok)
        lines.append(f"- {method}: {'meets' if met else 'misses'} the target (mean |Dr − "
                     f"retrain| {statistics.fmean(gaps):.2f} ≤ {MEMORISE_MEAN:g}, worst "
                     f"{max(gaps):.2f} ≤ {MEMORISE_WORST:g}, Df ≤ retrain + {MEMORISE_DF:g} in "
                     f"{sum(r['Df'] <= r['Df_retrain'] + MEMORISE_DF for r in group)} / "
                     f"{len(group)} cells)")
    return lines


def write_summary(folder: Path, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    sections, everything = [], []
    for name, part in PARTS.items():
        path = folder / name
        if not path.exists():
            continue
        records = part_cells(results.read_rows(path))
        for record in records:
            record["part"] = part
        everything += records
        sections.append(f"## {part}\n\n" + "\n".join(method_lines(part, records)))
        if part == "memorising, full class":
            sections.append("\n".join(memorise_targets(records)))
    fields = ["part", "build", "original", "forget", "method", "Dr", "Df", "MIA", "loss_auc",
              "Dr_original", "Df_original", "Dr_retrain", "Df_retrain", "worst_class",
              "worst_drop", "choice", "time_s"]
    with open(out / "cells.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for record in everything:
            writer.writerow({k: (f"{v:.2f}" if isinstance(v, float) else v)
                             for k, v in record.items() if k in fields})
    text = "\n\n".join(sections) + "\n"
    (out / "summary.md").write_text(text, encoding="utf-8")
    print(text)
    return 0

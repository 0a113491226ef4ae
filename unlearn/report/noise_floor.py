"""The study part of the report: results across original models, forget sets and retrains.

A study cell is one (original model, forget set); see unlearn/report/replicates.py. Each method's
value in a cell is the mean over its unlearning seeds there; retrain's is the mean over the
cell's K retrains. From these cell values:

* cell means: each method's mean over cells, with a 95 % bootstrap interval over the cells
  (original models × forget sets);
* the noise floor of each metric: the mean absolute difference between two retrains of the
  same cell (stats.noise_floor);
* the gap to retrain: per cell, method − retrain; its mean with an interval and a Wilcoxon
  signed-rank p over cells, and its mean absolute value. A method is "within floor" on a
  metric when that mean absolute gap is at most the upper end of the floor's interval, else
  "outside floor" (retrain against itself: gap 0, within by construction);
* paired differences against JiT (lipschitz_forgetting) the same way;
* ToW (tug of war, Zhao et al. 2024) per cell: the product over forget-train, retain-train and
  test accuracy of 1 − |method − retrain| / 100;
* ranks: per cell, methods ranked by |gap| on Dr, Df and MIA and by ToW; the mean rank;
* collateral damage: the test accuracy change of every retained class against the original
  model (the baseline row of the same original model), the worst retained class, and in the
  sub-class task the forgotten class's siblings in its superclass;
* closeness of the outputs to the retrained models (unlearn/eval/closeness.py), where rows carry it.
"""

from __future__ import annotations

import functools
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from unlearn.data import tasks
from unlearn.errors import UsageError
from unlearn.report import replicates, stats
from unlearn.report.stats import Estimate, Paired

REFERENCE = "retrain"
JIT = "lipschitz_forgetting"
GAP_METRICS = ("Dr", "Df", "MIA")  # compared with retrain in the Markdown (all go to CSV)
TOW_SETS = ("forget_train", "retain_train", "test")  # the accuracy sets of ToW
RANKED = (*GAP_METRICS, "ToW")


def metric_values(row: dict) -> dict[str, float]:
    """Every scalar metric of a row that the study compares, in percent (MIA too).

    Dr, Df and MIA as in the paper's table; test, retain_train, forget_train accuracies; any
    other scalar the evaluation recorded under its own name, except the attacks' power (keys
    ending "_original": the original model's, the same for every method of a cell)."""
    scores = row["metrics"]
    values = {"Dr": scores["acc_retain_test"], "Df": scores[tasks.forget_metric(row["task"])],
              "MIA": 100 * scores["mia"]}
    named = {"acc_test": "test", "acc_retain_train": "retain_train",
             "acc_forget_train": "forget_train"}
    for key, name in named.items():
        if key in scores:
            values[name] = scores[key]
    shown = {"acc_retain_test", "acc_forget_test", "mia", *named}
    for key, value in scores.items():
        if key.endswith("_original"):  # an attack's power: the original model's, not the method's
            continue
        if key not in shown and isinstance(value, (int, float)) and not isinstance(value, bool):
            values[key] = float(value)
    return values


def closeness_values(row: dict) -> dict[str, float]:
    scores = row["metrics"].get("closeness") or {}
    return {k: float(v) for k, v in scores.items() if k.startswith(("js_", "agreement_"))}


Cell = tuple[str, str]


@dataclass
class MethodStudy:
    """One method (settings variant) of the study: cell values and everything derived."""

    label: str
    method: str
    cells: dict[str, dict[Cell, float]]  # metric -> cell -> value (mean over seeds)
    means: dict[str, Estimate] = field(default_factory=dict)  # metric -> over cells
    to_retrain: dict[str, Paired] = field(default_factory=dict)
    abs_gap: dict[str, float] = field(default_factory=dict)
    verdict: dict[str, str] = field(default_factory=dict)
    to_jit: dict[str, Paired] = field(default_factory=dict)
    ranks: dict[str, float] = field(default_factory=dict)
    collateral: Collateral | None = None


@dataclass
class Collateral:
    per_class: dict[str, Estimate]  # retained class -> change vs the original model (points)
    worst: Estimate  # the worst retained class's change, per cell
    worst_classes: Counter  # which class was the worst (and worse off), over runs
    siblings: dict[tuple[str, str], Estimate]  # sub-class: (forgotten, sibling) -> change
    runs: int


@dataclass
class Study:
    originals: list[str]
    forget_sets: list[str]
    seeds: list[int]
    retrains: dict[Cell, int]  # cell -> K
    floor: dict[str, Estimate]  # metric -> noise floor
    methods: list[MethodStudy]
    jit_label: str | None
    notes: list[str] = field(default_factory=list)


def cell_means(runs: list[dict], values=metric_values) -> dict[str, dict[Cell, float]]:
    """metric -> cell -> mean over the runs in that cell."""
    collected: dict[str, dict[Cell, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for metric, value in values(run).items():
            collected[metric][replicates.cell_of(run)].append(value)
    return {m: {c: statistics.fmean(v) for c, v in cells.items()}
            for m, cells in collected.items()}


def retrain_cells(runs: list[dict]) -> dict[str, dict[Cell, list[float]]]:
    """metric -> cell -> one value per retrain (each the mean over that retrain's seeds)."""
    for run in runs:
        replicates.check_retrain_matches(run)
    by_retrain: dict[tuple, list[dict]] = defaultdict(list)
    for run in runs:
        by_retrain[(replicates.cell_of(run), replicates.retrain_of(run))].append(run)
    collected: dict[str, dict[Cell, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (cell, _), group in sorted(by_retrain.items()):
        for metric, cells in cell_means(group).items():
            collected[metric][cell].append(cells[cell])
    return collected


def study(method_rows: list, *, title: str, task: str, dataset: str,
          require_floor: bool = False) -> Study | None:
    """The study of one table's rows (tables.MethodRow: label, method, runs, is_reference).

    None when the table has no retrain row. require_floor: every cell needs two or more
    retrains, else UsageError (one line) naming the first cell that has fewer.
    """
    reference = next((r for r in method_rows if getattr(r, "is_reference", False)), None)
    if reference is None:
        if require_floor:
            raise UsageError(f"a noise floor needs at least 2 retrains per cell; {title} "
                             f"has no retrain runs")
        return None
    retrains = retrain_cells(reference.runs)
    counts = {cell: len(values) for cell, values in retrains["Dr"].items()}
    short = sorted(cell for cell, k in counts.items() if k < 2)
    if short and require_floor:
        original, forget = short[0]
        raise UsageError(f"a noise floor needs at least 2 retrains per cell; {title}: "
                         f"original {original}, {forget} has {counts[short[0]]}")
    notes = []
    floor = {}
    measured = [cell for cell, k in counts.items() if k >= 2]
    full = floor_units(reference.runs, measured)
    if len(full) < len(measured):
        notes.append(f"the floor counts {len(full)} distinct sets of retrained models: the "
                     f"{len(measured)} cells share them (one set per forget set)")
    if full:
        for metric, cells in retrains.items():
            usable = [cells[c] for c in full if c in cells]
            if usable:
                floor[metric] = stats.noise_floor(usable, where=f" ({title})")
        if short:
            notes.append(f"the noise floor leaves out {len(short)} cell(s) with one retrain")
    else:
        notes.append("no cell has two retrains: no noise floor")
    retrain_values = {m: {c: statistics.fmean(v) for c, v in cells.items()}
                      for m, cells in retrains.items()}

    jit = jit_reference_row(method_rows)
    if jit is not None and sum(r.method == JIT for r in method_rows) > 1:
        why = ("the retrain-tuned JiT" if " [tuned" in jit.label
               else "the JiT row with most runs")
        notes.append(f"paired differences to JiT use '{jit.label}' ({why})")
    studies = []
    for row in method_rows:
        own = retrain_values if row is reference else cell_means(row.runs)
        own = {**own, **cell_means(row.runs, closeness_values)}
        studies.append(MethodStudy(row.label, row.method, own))
    by_label = {s.label: s for s in studies}
    for s in studies:
        s.cells["ToW"] = tow_cells(s.cells, retrain_values)
    for s in studies:
        fill_method(s, by_label[reference.label], by_label.get(jit.label) if jit else None,
                    floor)
    rank(studies, reference.label, notes)
    baselines = [r for r in method_rows if r.method == "baseline"]
    for row, s in zip(method_rows, studies):
        s.collateral = collateral(row.runs, [run for b in baselines for run in b.runs],
                                  task=task, dataset=dataset)
    runs = [run for row in method_rows for run in row.runs]
    labels: dict[str, str] = {}  # one label per model: the most informative any row gives
    for run in runs:
        model, label = replicates.original_of(run), replicates.original_label(run)
        labels[model] = max(labels.get(model, ""), label, key=len)
    return Study(
        originals=sorted(set(labels.values())),
        forget_sets=sorted({replicates.forget_of(r) for r in runs}),
        seeds=sorted({r["seed"] for r in runs}),
        retrains=counts, floor=floor, methods=studies,
        jit_label=jit.label if jit else None, notes=notes)


def jit_reference_row(method_rows: list):
    """The JiT row the others are compared with: JiT tuned against retrained models where the
    study has it (so jit_zero_shot's difference to it says how far the zero-shot choice falls
    from the tuned optimum), else the JiT row with most runs."""
    jit_rows = [r for r in method_rows if r.method == JIT]
    tuned = [r for r in jit_rows if " [tuned" in r.label]
    return max(tuned or jit_rows, key=lambda r: len(r.runs)) if jit_rows else None


def floor_units(retrain_runs: list[dict], cells: list[Cell]) -> list[Cell]:
    """The cells whose retrains the floor counts: one per distinct set of retrained models.
    Where every original model's cell of a forget set loads the same K retrained models (the
    model store keeps retrains per forget set), those cells are one measurement, not I."""
    models: dict[Cell, set[str]] = defaultdict(set)
    for run in retrain_runs:
        models[replicates.cell_of(run)].add(replicates.retrain_of(run))
    units: dict[tuple, Cell] = {}
    for cell in sorted(cells):  # another forget set always means other retrained models
        units.setdefault((cell[1], *sorted(models[cell])), cell)
    return list(units.values())


def tow_cells(cells: dict[str, dict[Cell, float]],
              retrain: dict[str, dict[Cell, float]]) -> dict[Cell, float]:
    """ToW per cell where the method and retrain have all three accuracies."""
    if not all(name in cells and name in retrain for name in TOW_SETS):
        return {}
    shared = set.intersection(*(set(cells[n]) & set(retrain[n]) for n in TOW_SETS))
    return {c: stats.tow([cells[n][c] for n in TOW_SETS],
                         [retrain[n][c] for n in TOW_SETS]) for c in shared}


def fill_method(s: MethodStudy, retrain: MethodStudy, jit: MethodStudy | None,
                floor: dict[str, Estimate]) -> None:
    """Means over cells, the gaps to retrain with their verdicts, and the differences to JiT."""
    for metric, cells in s.cells.items():
        if cells:
            s.means[metric] = stats.mean_ci(list(cells.values()))
        if metric in retrain.cells and not metric.startswith(("js_", "agreement_")) \
                and metric != "ToW":
            paired = paired_over_cells(cells, retrain.cells[metric])
            if paired is not None:
                s.to_retrain[metric] = paired
                shared = sorted(set(cells) & set(retrain.cells[metric]))
                s.abs_gap[metric] = statistics.fmean(
                    abs(cells[c] - retrain.cells[metric][c]) for c in shared)
                if metric in floor:
                    s.verdict[metric] = stats.floor_verdict(s.abs_gap[metric], floor[metric])
        if jit is not None and metric in jit.cells:
            paired = paired_over_cells(cells, jit.cells[metric])
            if paired is not None:
                s.to_jit[metric] = paired


def paired_over_cells(mine: dict[Cell, float], theirs: dict[Cell, float]) -> Paired | None:
    shared = sorted(set(mine) & set(theirs))
    if not shared:
        return None
    return stats.paired_difference([mine[c] for c in shared], [theirs[c] for c in shared])


def rank(studies: list[MethodStudy], reference: str, notes: list[str]) -> None:
    """Mean rank over the cells of retrain: by |gap to retrain| on Dr, Df and MIA (smaller is
    better) and by ToW (larger is better); then the mean of those ranks. A method run on
    fewer cells (a slow method limited to some forget sets) is left out of the ranks, so that
    every rank compares the same cells."""
    retrain = next(s for s in studies if s.label == reference)
    shared = set(retrain.cells.get("ToW", {}))
    candidates = [s for s in studies if s.label != reference]
    ranked = [s for s in candidates if shared and all(
        shared <= set(s.cells.get(m, {})) for m in RANKED)]
    left_out = [s.label for s in candidates if s not in ranked]
    if len(ranked) < 2:
        notes.append("fewer than two methods ran on every cell: no ranks")
        return
    if left_out:
        notes.append(f"the ranks leave out {', '.join(left_out)}: run on fewer cells")
    cells = sorted(shared)
    for metric in RANKED:
        if metric == "ToW":
            scores = {s.label: [s.cells["ToW"][c] for c in cells] for s in ranked}
            ranks = stats.mean_ranks(scores, lower_is_better=False)
        else:
            scores = {s.label: [abs(s.cells[metric][c] - retrain.cells[metric][c])
                                for c in cells] for s in ranked}
            ranks = stats.mean_ranks(scores)
        for s in ranked:
            s.ranks[metric] = ranks[s.label]
    for s in ranked:
        s.ranks["mean"] = statistics.fmean(s.ranks[m] for m in RANKED)


def forgotten_class(row: dict) -> str | None:
    """The class name a row forgot ('class Sneaker' -> Sneaker); None for random samples."""
    forget = str(row.get("forget", ""))
    for prefix in ("class ", "sub-class "):
        if forget.startswith(prefix):
            return forget[len(prefix):]
    return None


@functools.cache
def siblings(dataset: str, fine_name: str) -> list[str]:
    """The other fine classes of a forgotten fine class's superclass (FashionMNIST4, forget
    Sneaker: Sandal, Ankle boot)."""
    from unlearn.data import (
        datasets,  # the class tables; imported here so the report loads without torch work
    )

    fine = datasets.resolve_fine_class(dataset, fine_name)
    coarse = datasets.coarse_of(fine, dataset)
    return [datasets.fine_class_name(dataset, other)
            for other in range(datasets.fine_class_count(dataset))
            if other != fine and datasets.coarse_of(other, dataset) == coarse]


def collateral(runs: list[dict], baselines: list[dict], *, task: str, dataset: str
               ) -> Collateral | None:
    """Per retained class test accuracy change against the baseline row of the same original
    model (of the same forget set and seed where there is one), over the runs that have
    per-class accuracies."""
    by_original: dict[str, list[dict]] = defaultdict(list)
    for b in baselines:
        if b["metrics"].get("acc_test_per_class"):
            by_original[replicates.original_of(b)].append(b)
    changes: dict[str, list[float]] = defaultdict(list)
    worst_by_cell: dict[Cell, list[float]] = defaultdict(list)
    worst_classes: Counter = Counter()
    sibling_changes: dict[tuple[str, str], list[float]] = defaultdict(list)
    used = 0
    for run in runs:
        mine = run["metrics"].get("acc_test_per_class")
        candidates = by_original.get(replicates.original_of(run))
        if not mine or not candidates:
            continue
        base = next((b for b in candidates if b.get("forget") == run.get("forget")
                     and b.get("seed") == run.get("seed")), candidates[0])
        before = base["metrics"]["acc_test_per_class"]
        forgotten = forgotten_class(run)
        delta = {c: mine[c] - before[c] for c in mine if c in before and c != forgotten}
        if not delta:
            continue
        used += 1
        for name, change in delta.items():
            changes[name].append(change)
        worst = min(delta, key=lambda c: (delta[c], c))
        if delta[worst] < 0:  # with no class worse off there is no worst class to name
            worst_classes[worst] += 1
        worst_by_cell[replicates.cell_of(run)].append(delta[worst])
        if task == "sub_class" and forgotten is not None:
            for sibling in siblings(dataset, forgotten):
                if sibling in delta:
                    sibling_changes[(forgotten, sibling)].append(delta[sibling])
    if not used:
        return None
    per_class = {c: stats.mean_ci(v) for c, v in sorted(changes.items())}
    return Collateral(
        per_class=per_class,
        worst=stats.mean_ci([statistics.fmean(v) for v in worst_by_cell.values()]),
        worst_classes=worst_classes,
        siblings={k: stats.mean_ci(v) for k, v in sorted(sibling_changes.items())},
        runs=used)

"""The report: result rows -> the paper's tables (Markdown, CSV, LaTeX) and plots (PNG).

One table per (task, dataset, network): rows are methods, columns Dr, Df, MIA and the method's
time, each the mean ± sample std over that method's runs (seeds × forget classes, as the paper
averages over classes), with the number of runs; then each metric's gap to `retrain`: the mean
over matched (seed, forget set) runs of method − retrain. Only rows with status "ok" count; a
configuration recorded twice counts once; runs of one method with different settings (σ, a
...) get one row each, labelled by what differs. Runs from several original models and
retrains pool into one row (they are a study's replicates, not settings).

Where the runs recorded the membership attacks, a table of them follows
(unlearn/report/attack_table.py: each attack's result beside its power on the original model).
Where a table has retrain runs, the study section follows it (unlearn/report/noise_floor.py):
means with 95 % intervals over original models × forget sets, the retrain noise floor, each
method's gap to retrain marked within or outside the floor, paired differences to retrain and
JiT with Wilcoxon p, ranks, ToW, collateral damage and output closeness; Markdown, CSV and a
plot.

    python scripts/report.py results/results.jsonl --out results/report --seeds 3 [--floor]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from unlearn.data import tasks
from unlearn.errors import UsageError
from unlearn.exit_codes import guarded
from unlearn.methods.registration import method_groups, method_order
from unlearn.report import attack_table, noise_floor, noise_floor_output, replicates
from unlearn.store import disk, preflight, results, stable_keys
from unlearn.tuning.table import AGAINST_BOUND

# Table order: references first, JiT last (as in the paper's tables), as each method's
# declaration orders it (`order=` of @register_method in unlearn/methods/).
METHOD_ORDER = method_order()
METHOD_GROUPS = method_groups()  # what each method reads; the tables are ordered by it
REFERENCE = "retrain"
METRICS = ["Dr", "Df", "MIA", "time"]  # columns, in order
GAP_METRICS = ["Dr", "Df", "MIA"]  # the unlearning metrics compared to retrain
HEADERS = {"Dr": "Dr (%)", "Df": "Df (%)", "MIA": "MIA (%)", "time": "time (s)"}
CSV_NAMES = {"Dr": "Dr_pct", "Df": "Df_pct", "MIA": "MIA_pct", "time": "time_s"}
# Config fields that name the run rather than change what a method does (the group, the forget
# set and the seed are handled separately; the checkpoint counts by its hash).
NOT_SETTINGS = {"task", "net", "dataset", "num_classes", "method", "weight_path", "forget_class",
                "forget_perc", "forget_count", "forget_seed", "seed", "gpu", "data_dir",
                "results_path", "eval_batch_size", "wandb_project", "wandb_name", "skip_done",
                "store", "retrain_index", "closeness_retrains", "save_outputs", "tuned_from"}
# Method arguments that say which replicate a run is (which of K retrains), not what it does.
REPLICATE_HYPERPARAMETERS = {"retrained_path"}


def metric_values(row: dict) -> dict[str, float]:
    """Dr, Df, MIA in percent and the method's time in seconds, from one result row."""
    scores = row["metrics"]
    return {"Dr": scores["acc_retain_test"], "Df": scores[tasks.forget_metric(row["task"])],
            "MIA": 100 * scores["mia"], "time": row["method_s"]}


def forget_set(row: dict) -> str:
    """What was forgotten, without the seed: 'class Sneaker', 'random 100 samples'."""
    return re.sub(r" \(seed -?\d+\)$", "", str(row.get("forget", "")))


@dataclass
class Stat:
    mean: float
    std: float | None  # sample std (n - 1); None for a single value
    n: int


def stat(values: list[float]) -> Stat:
    std = statistics.stdev(values) if len(values) > 1 else None
    return Stat(statistics.fmean(values), std, len(values))


@dataclass
class MethodRow:
    """One table row: the runs of one method with one set of settings."""

    method: str
    label: str  # method name, plus the settings that differ from its other rows
    runs: list[dict]
    cells: dict[str, Stat] = field(default_factory=dict)  # METRICS -> mean ± std over runs
    gaps: dict[str, Stat] = field(default_factory=dict)  # GAP_METRICS -> over matched pairs
    gap_pairs: int = 0  # (seed, forget set) pairs that have a retrain run
    is_reference: bool = False


@dataclass
class Group:
    """One table: a task, dataset and network."""

    task: str
    dataset: str
    net: str
    rows: list[MethodRow]
    notes: list[str] = field(default_factory=list)
    study: noise_floor.Study | None = None  # across original models, forget sets and retrains

    @property
    def title(self) -> str:
        return f"{tasks.title(self.task)} · {self.dataset} · {self.net}"

    @property
    def stem(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{self.task}_{self.dataset}_{self.net}")

    @property
    def seeds(self) -> list[int]:
        return sorted({run["seed"] for row in self.rows for run in row.runs})

    @property
    def forget_sets(self) -> list[str]:
        return sorted({forget_set(run) for row in self.rows for run in row.runs})


def matches(row: dict, task=None, dataset=None, net=None, methods=None) -> bool:
    """Whether a row passes the filters (None: any)."""
    return ((task is None or row.get("task") == task.replace("-", "_"))
            and (dataset is None or row.get("dataset") == dataset)
            and (net is None or row.get("net") == net)
            and (not methods or row.get("method") in methods))


def run_identity(row: dict) -> str:
    """What makes two rows the same run: group, method, forget set, seed and settings (the
    checkpoint by its hash). Rows written before and after an option was added (with the
    value that behaves as before) are the same run. The forget set is the exact one, with the
    random task's forget seed, which -forget_seed can set apart from the run's seed."""
    retrain = replicates.retrain_of(row) if row.get("method") == REFERENCE else None
    return json.dumps([row.get("task"), row.get("dataset"), row.get("net"), row.get("method"),
                       replicates.forget_of(row), row.get("seed"), settings_of(row),
                       replicates.original_of(row), retrain], sort_keys=True)


def ok_rows(rows: list[dict]) -> list[dict]:
    """Successful runs, each run once (its latest row)."""
    latest: dict[str, dict] = {}
    for row in rows:
        if row.get("status", "ok") == "ok":
            latest[run_identity(row)] = row
    return list(latest.values())


def failed_rows(rows: list[dict]) -> list[dict]:
    """Failed runs whose configuration never succeeded afterwards."""
    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    ok_keys, ok_runs = {r.get("config_key") for r in ok}, {run_identity(r) for r in ok}
    return [r for r in rows if r.get("status") == "failed"
            and r.get("config_key") not in ok_keys and run_identity(r) not in ok_runs]


def settings_of(run: dict) -> dict:
    """What distinguishes two runs of a method beyond seed, forget set, original model and
    retrain (flattened)."""
    config = stable_keys.fill_in_missing(run.get("config", {}))
    flat = {}
    for key, value in config.items():
        if key in NOT_SETTINGS:
            continue
        if isinstance(value, dict):
            # a nested name that is also a config field keeps its dict's prefix
            flat.update({name if name not in config else f"{key}.{name}":
                         json.dumps(v, sort_keys=True, default=str) for name, v in value.items()
                         if name not in REPLICATE_HYPERPARAMETERS})
        else:
            flat[key] = json.dumps(value, default=str)
    return flat


def split_variants(method: str, runs: list[dict]) -> list[MethodRow]:
    """One row per distinct setting of the method, labelled by the settings that differ; runs
    with tuned hyperparameters (-tuned) form one row "<method> [tuned]" of their own, whatever
    values the tuning chose (it may choose per original model); "[tuned, against a bound]"
    when a tuned value was chosen against a bound of its searched space."""
    tuned = [r for r in runs if (r.get("config") or {}).get("tuned_from")]
    plain = [r for r in runs if not (r.get("config") or {}).get("tuned_from")]
    rows = _by_settings(method, plain) if plain else []
    if tuned:
        marked = any(AGAINST_BOUND in r["config"]["tuned_from"] for r in tuned)
        label = f"{method} [tuned, {AGAINST_BOUND}]" if marked else f"{method} [tuned]"
        rows.append(MethodRow(method, label, tuned))
    return rows


def _by_settings(method: str, runs: list[dict]) -> list[MethodRow]:
    variants: dict[str, list[dict]] = {}
    for run in runs:
        variants.setdefault(json.dumps(settings_of(run), sort_keys=True), []).append(run)
    if len(variants) == 1:
        return [MethodRow(method, method, runs)]
    settings = [json.loads(key) for key in variants]
    names = sorted({name for s in settings for name in s})
    differing = [n for n in names if len({s.get(n) for s in settings}) > 1]
    rows = []
    for s, variant_runs in zip(settings, variants.values()):
        shown = ", ".join(f"{n}={s.get(n, '–')}".replace('"', "") for n in differing)
        rows.append(MethodRow(method, f"{method} [{shown}]", variant_runs))
    return rows


def method_rank(method: str) -> tuple[int, str]:
    known = method in METHOD_ORDER
    return (METHOD_ORDER.index(method) if known else len(METHOD_ORDER), method)


def pair_means(runs: list[dict], metric: str) -> dict[tuple, float]:
    """Mean of a metric per (original model, seed, forget set) pair (the exact forget set:
    two random forget seeds are two sets)."""
    pairs: dict[tuple, list[float]] = defaultdict(list)
    for run in runs:
        pairs[(replicates.original_of(run), run["seed"], replicates.forget_of(run))].append(
            metric_values(run)[metric])
    return {pair: statistics.fmean(values) for pair, values in pairs.items()}


def fill(group: Group) -> None:
    """Compute each row's cells and its gaps to the reference retrain row."""
    for row in group.rows:
        row.cells = {m: stat([metric_values(run)[m] for run in row.runs]) for m in METRICS}
    references = [row for row in group.rows if row.method == REFERENCE]
    if not references:
        return
    reference = max(references, key=lambda row: len(row.runs))
    reference.is_reference = True
    if len(references) > 1:
        group.notes.append(f"gaps are to '{reference.label}' (the retrain row with most runs)")
    for row in group.rows:
        for metric in GAP_METRICS:
            mine, theirs = pair_means(row.runs, metric), pair_means(reference.runs, metric)
            shared = sorted(set(mine) & set(theirs), key=str)
            if shared:
                row.gaps[metric] = stat([mine[p] - theirs[p] for p in shared])
                row.gap_pairs = len(shared)
        if row.gaps and row.gap_pairs < len(pair_means(row.runs, "Dr")):
            group.notes.append(f"{row.label}: gaps use the {row.gap_pairs} of "
                               f"{len(pair_means(row.runs, 'Dr'))} (seed, forget) pairs that "
                               f"have a retrain run")


def summarize(rows: list[dict], *, task: str | None = None, dataset: str | None = None,
              net: str | None = None, methods: list[str] | None = None,
              floor: bool = False) -> list[Group]:
    """The tables: successful rows that pass the filters, grouped and aggregated, each with
    its study where it has retrain runs.

    A method filter chooses the rows shown; gaps are still to retrain (and JiT) when it was
    run. floor: every cell must have two or more retrains (UsageError otherwise).
    """
    by_group: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in ok_rows(rows):
        if matches(row, task, dataset, net):
            by_group[(row["task"], row["dataset"], row["net"])][row["method"]].append(row)
    groups = []
    for (task_, dataset_, net_), by_method in sorted(by_group.items()):
        method_rows = []
        for method in sorted(by_method, key=method_rank):
            method_rows.extend(split_variants(method, by_method[method]))
        group = Group(task_, dataset_, net_, method_rows)
        fill(group)
        group.study = noise_floor.study(group.rows, title=group.title, task=task_,
                                        dataset=dataset_, require_floor=floor)
        hidden = [r.label for r in group.rows if methods and r.method not in methods]
        group.rows = [r for r in group.rows if r.label not in hidden]
        if group.study is not None:
            group.study.methods = [m for m in group.study.methods if m.label not in hidden]
        group.notes = [n for n in group.notes if not n.startswith(tuple(f"{h}:" for h in hidden))]
        if group.rows:
            groups.append(group)
    return groups


# ---------------------------------------------------------------------------------------------
# Tables

def fmt(value: Stat | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    mean = f"{value.mean:+.2f}" if signed else f"{value.mean:.2f}"
    return mean if value.std is None else f"{mean} ± {value.std:.2f}"


def gap_text(row: MethodRow, metric: str) -> str:
    if row.is_reference:
        return "ref"
    gap = row.gaps.get(metric)
    return "–" if gap is None else f"{gap.mean:+.2f}"


def legend(group: Group) -> str:
    df = {"random": "accuracy on the forgotten training samples",
          "sub_class": "test accuracy on the forgotten sub-class (its superclass as label)"}
    dr = {"random": "whole test set",
          "sub_class": "test accuracy on the other sub-classes"}.get(
        group.task, "test accuracy on the retained classes")
    seeds = ", ".join(map(str, group.seeds))
    return (f"Dr: {dr}; Df: {df.get(group.task, 'test accuracy on the forgotten class')}; "
            f"MIA: forget samples the attack calls members; time: the method alone. "
            f"Mean ± std over n runs (seeds {seeds} × {', '.join(group.forget_sets)}); "
            f"Δ: mean over matched (seed, forget) runs of method − retrain "
            f"(– where no retrain run matches).")


def group_markdown(group: Group, with_legend: bool = True) -> str:
    header = (["method", "n"] + [HEADERS[m] for m in METRICS]
              + [f"Δ{m}" for m in GAP_METRICS])
    lines = [f"### {group.title}", "",
             "| " + " | ".join(header) + " |",
             "|:---|" + "---:|" * (len(header) - 1)]
    for row in group.rows:
        cells = ([row.label, str(len(row.runs))] + [fmt(row.cells[m]) for m in METRICS]
                 + [gap_text(row, m) for m in GAP_METRICS])
        lines.append("| " + " | ".join(cells) + " |")
    if with_legend:
        lines += ["", legend(group), reads_line(group)]
    lines += [f"Note: {note}." for note in group.notes]
    return "\n".join(lines)


def reads_line(group: Group) -> str:
    """Which rows read what (the rows are in this order): forget-only methods are JiT's
    peers; the others read retained or generated data."""
    by_group: dict[str, list[str]] = defaultdict(list)
    for row in group.rows:
        kind = METHOD_GROUPS.get(row.method, "unregistered")
        if kind != "reference" and row.method not in by_group[kind]:
            by_group[kind].append(row.method)
    parts = [f"{kind}: {', '.join(names)}" for kind, names in by_group.items()]
    return "Reads: " + ("; ".join(parts) if parts else "references only") + "."


def flag_lines(rows: list[dict]) -> list[str]:
    """Runs whose self-chosen strength came with a warning: the collapse guard tripped, the
    loss diverged, or the target was not reached (the returned model is the safest found)."""
    return [f"{tasks.title(r.get('task'))} · {r.get('method')}, {r.get('forget')}, seed "
            f"{r.get('seed')}: {r['chosen']['flag']} ({r['chosen'].get('outcome', '')}; "
            f"returned the {r['chosen'].get('returned', 'model')})"
            for r in rows if isinstance(r.get("chosen"), dict) and r["chosen"].get("flag")]


def markdown_table(rows: list[dict], *, task: str | None = None, dataset: str | None = None,
                   net: str | None = None, methods: list[str] | None = None,
                   with_legend: bool = True) -> str:
    """The Markdown tables of result rows (status ok only), one per task/dataset/network."""
    groups = summarize(rows, task=task, dataset=dataset, net=net, methods=methods)
    if not groups:
        return "(no successful runs match)"
    return "\n\n".join(group_markdown(g, with_legend) for g in groups)


def group_csv(group: Group) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["task", "dataset", "net", "method", "label", "n"]
    for m in METRICS:
        header += [f"{CSV_NAMES[m]}_mean", f"{CSV_NAMES[m]}_std"]
    header += [f"gap_{CSV_NAMES[m]}" for m in GAP_METRICS] + ["gap_pairs"]
    writer.writerow(header)
    for row in group.rows:
        line = [group.task, group.dataset, group.net, row.method, row.label, len(row.runs)]
        for m in METRICS:
            cell = row.cells[m]
            line += [f"{cell.mean:.4f}", "" if cell.std is None else f"{cell.std:.4f}"]
        line += ["" if m not in row.gaps else f"{row.gaps[m].mean:.4f}" for m in GAP_METRICS]
        writer.writerow(line + [row.gap_pairs])
    return out.getvalue()


def latex_escape(text: str) -> str:
    return re.sub(r"([_%&#$])", r"\\\1", text).replace("–", "--").replace("·", "/")


def latex_cell(text: str) -> str:
    if text in ("–", "ref"):
        return "--" if text == "–" else "ref"
    return "$" + text.replace("±", r"\pm") + "$"


def group_latex(group: Group) -> str:
    """A booktabs table (needs \\usepackage{booktabs})."""
    header = (["Method", "$n$", "$D_r$ (\\%)", "$D_f$ (\\%)", "MIA (\\%)", "Time (s)"]
              + ["$\\Delta D_r$", "$\\Delta D_f$", "$\\Delta$MIA"])
    lines = ["\\begin{table}[t]", "\\centering",
             f"\\caption{{{latex_escape(group.title)}: mean $\\pm$ std over $n$ runs; "
             f"$\\Delta$: mean difference to retrain on matched runs.}}",
             "\\begin{tabular}{l" + "r" * (len(header) - 1) + "}", "\\toprule",
             " & ".join(header) + " \\\\", "\\midrule"]
    for row in group.rows:
        cells = ([latex_escape(row.label), str(len(row.runs))]
                 + [latex_cell(fmt(row.cells[m])) for m in METRICS]
                 + [latex_cell(gap_text(row, m)) for m in GAP_METRICS])
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def seed_shortfalls(groups: list[Group], seeds: int) -> list[str]:
    """Cells (method × forget set) with fewer distinct seeds than `seeds`."""
    messages = []
    for group in groups:
        for row in group.rows:
            for forget in group.forget_sets:
                have = sorted({r["seed"] for r in row.runs if forget_set(r) == forget})
                if len(have) < seeds:
                    messages.append(f"{group.title}: {row.label}, {forget}: {len(have)} of "
                                    f"{seeds} seeds" + (f" (have {', '.join(map(str, have))})"
                                                        if have else ""))
    return messages


def failure_lines(rows: list[dict]) -> list[str]:
    return [f"{tasks.title(r.get('task'))} · {r.get('dataset')} · "
            f"{r.get('net')}: {r.get('method')}, {r.get('forget')}, seed {r.get('seed')}: "
            f"{r.get('error', 'no error recorded')}" for r in rows]


# ---------------------------------------------------------------------------------------------
# Plots

def method_colors(methods: list[str]) -> dict[str, object]:
    """A fixed colour per method (same in every plot); retrain dark grey, JiT red."""
    from matplotlib import colormaps

    palette = [c for i, c in enumerate(colormaps["tab20"].colors) if i not in (6, 7, 14, 15)]
    known = [m for m in METHOD_ORDER if m not in (REFERENCE, "lipschitz_forgetting")]
    others = sorted(m for m in set(methods) if m not in METHOD_ORDER)
    colors = {m: palette[i % len(palette)] for i, m in enumerate(known + others)}
    colors[REFERENCE] = (0.2, 0.2, 0.2)
    colors["lipschitz_forgetting"] = (0.84, 0.15, 0.16)
    return colors


def axis_label(group: Group, metric: str) -> str:
    labels = {
        "Dr": {"random": "Dr: test accuracy (%)",
               "sub_class": "Dr: other sub-classes, test accuracy (%)"}.get(
            group.task, "Dr: retained-class test accuracy (%)"),
        "Df": {"random": "Df: forgotten training samples, accuracy (%)",
               "sub_class": "Df: forgotten sub-class, test accuracy (%)"}.get(
            group.task, "Df: forgotten-class test accuracy (%)"),
        "MIA": "MIA: forget samples called members (%)",
    }
    return labels[metric]


def plot_bars(group: Group, path: Path) -> Path:
    """Three panels (Dr, Df, MIA): one horizontal bar per method, error bar = std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = method_colors([row.method for row in group.rows])
    labels = [f"{row.label}  (n={len(row.runs)})" for row in group.rows]
    height = max(3.0, 0.42 * len(group.rows) + 1.8)
    fig, axes = plt.subplots(1, 3, figsize=(14, height), sharey=True)
    positions = list(range(len(group.rows)))
    reference = next((row for row in group.rows if row.is_reference), None)
    for ax, metric in zip(axes, GAP_METRICS):
        means = [row.cells[metric].mean for row in group.rows]
        stds = [row.cells[metric].std or 0.0 for row in group.rows]
        ax.barh(positions, means, xerr=stds, capsize=3, height=0.7,
                color=[colors[row.method] for row in group.rows], edgecolor="black",
                linewidth=0.5, error_kw={"elinewidth": 1})
        # Accuracies share a 0-100 % axis; MIA is usually small, so its axis fits the data.
        limit = 100.0 if metric != "MIA" else max(10.0, max(m + s for m, s in zip(means, stds)))
        for y, (mean, std) in enumerate(zip(means, stds)):
            ax.text(mean + std + 0.015 * limit, y, f"{mean:.1f}", va="center", fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.8})
        if reference is not None:
            ax.axvline(reference.cells[metric].mean, color="black", linestyle="--", linewidth=1)
        ax.set_xlim(0, 1.12 * limit)
        ax.set_xlabel(axis_label(group, metric))
        ax.set_title(metric, fontweight="bold")
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0].set_yticks(positions, labels)
    axes[0].invert_yaxis()
    dashed = "; dashed line: retrain's mean" if reference is not None else ""
    fig.suptitle(f"{group.title}: mean ± std over runs (seeds × forget sets){dashed}",
                 fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_scatter(group: Group, path: Path) -> Path:
    """Df against Dr, one point per run; retrain as large stars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = method_colors([row.method for row in group.rows])
    markers = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "p"]
    fig, ax = plt.subplots(figsize=(10, 6.5))
    for i, row in enumerate(group.rows):
        points = [metric_values(run) for run in row.runs]
        xs, ys = [p["Dr"] for p in points], [p["Df"] for p in points]
        if row.method == REFERENCE:
            ax.scatter(xs, ys, s=260, marker="*", color=colors[row.method], edgecolor="white",
                       linewidth=0.8, zorder=4, label=f"{row.label} (gold standard)")
        else:
            ax.scatter(xs, ys, s=55, marker=markers[i % len(markers)], color=colors[row.method],
                       edgecolor="black", linewidth=0.4, alpha=0.85, zorder=3, label=row.label)
    ax.set_xlabel(axis_label(group, "Dr"))
    ax.set_ylabel(axis_label(group, "Df"))
    ax.set_title(f"{group.title}: forgetting vs retained accuracy (one point per run)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, title="method",
              frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# The report on disk

def write_report(rows: list[dict], out_dir: Path, *, task: str | None = None,
                 dataset: str | None = None, net: str | None = None,
                 methods: list[str] | None = None, seeds: int | None = None,
                 plots: bool = True, floor: bool = False) -> tuple[str, list[Path]]:
    """Write tables and plots for every group; returns the report text and the files."""
    groups = summarize(rows, task=task, dataset=dataset, net=net, methods=methods,
                       floor=floor)
    failed = [r for r in failed_rows(rows) if matches(r, task, dataset, net, methods)]
    if not groups and not failed:
        raise UsageError("no result rows match the filters")
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    sections = []
    for group in groups:
        markdown = group_markdown(group)
        written = {".md": markdown + "\n", ".csv": group_csv(group), ".tex": group_latex(group)}
        for suffix, text in written.items():
            path = out_dir / f"{group.stem}{suffix}"
            disk.write_text(path, text, "report file")
            files.append(path)
        if plots:
            files.append(plot_bars(group, out_dir / f"{group.stem}_bars.png"))
            files.append(plot_scatter(group, out_dir / f"{group.stem}_scatter.png"))
        if attack_table.has_attacks(group.rows):  # each attack beside its power
            attacks = attack_table.markdown(group.title, group.rows)
            for suffix, text in {"_attacks.md": attacks,
                                 "_attacks.csv": attack_table.csv_text(group.rows)}.items():
                path = out_dir / f"{group.stem}{suffix}"
                disk.write_text(path, text, "report file")
                files.append(path)
            markdown = f"{markdown}\n\n{attacks.rstrip()}"
        if group.study is not None:
            study_text = noise_floor_output.markdown(group.study, group.title)
            written = {"_study.md": study_text, **noise_floor_output.csv_files(group.study)}
            for suffix, text in written.items():
                path = out_dir / f"{group.stem}{suffix}"
                disk.write_text(path, text, "report file")
                files.append(path)
            if plots:
                files.append(noise_floor_output.plot_floor(
                    group.study, group.title, out_dir / f"{group.stem}_study_floor.png"))
            markdown = f"{markdown}\n\n{study_text}"
        shown = ", ".join(str(p) for p in files if p.name.startswith(group.stem))
        sections.append(f"{markdown}\n\nFiles: {shown}")
    if seeds:
        shortfalls = seed_shortfalls(groups, seeds)
        if shortfalls:
            sections.append(f"### Fewer seeds than requested (--seeds {seeds})\n\n"
                            + "\n".join(f"- {line}" for line in shortfalls))
    flagged = flag_lines([r for r in ok_rows(rows) if matches(r, task, dataset, net, methods)])
    if flagged:
        sections.append("### Runs flagged by the forget-only rule (counted)\n\n"
                        + "\n".join(f"- {line}" for line in flagged))
    if failed:
        sections.append("### Failed runs (not counted)\n\n"
                        + "\n".join(f"- {line}" for line in failure_lines(failed)))
    text = "\n\n".join(sections) + "\n"
    summary = out_dir / "report.md"
    disk.write_text(summary, text, "report file")
    return text, [summary, *files]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Tables (Markdown, CSV, LaTeX) and plots (PNG) from a results file.")
    parser.add_argument("results", nargs="?", default="results/results.jsonl",
                        help="JSONL results store (default results/results.jsonl)")
    parser.add_argument("--out", default="results/report", help="output folder")
    parser.add_argument("--task", choices=tasks.TASKS)
    parser.add_argument("--dataset", help="e.g. Cifar100, FashionMNIST")
    parser.add_argument("--net", help="e.g. VGG16, ViT, CNN")
    parser.add_argument("--method", action="append",
                        help="only these methods (repeat, or comma-separate)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="expected seeds per method and forget set; fewer are listed")
    parser.add_argument("--no-plots", action="store_true", help="tables only")
    parser.add_argument("--floor", action="store_true",
                        help="require a retrain noise floor: at least 2 retrains in every cell "
                             "(original model × forget set) of every table")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path = Path(args.results)
    if not path.is_file():
        raise UsageError(f"results file not found: {path}")
    preflight.writable_folder(args.out, "report folder")
    methods = [m for item in args.method or [] for m in item.split(",") if m]
    text, _ = write_report(results.read_rows(path), Path(args.out), task=args.task,
                           dataset=args.dataset, net=args.net, methods=methods or None,
                           seeds=args.seeds, plots=not args.no_plots, floor=args.floor)
    print(text, end="")
    print(f"Report: {Path(args.out) / 'report.md'}")
    return 0


# `main` as a command: bad input one line and exit code 2, like the entry points; an output
# that could not be written (a full disk) one line and exit code 1.
entry = guarded(main)


if __name__ == "__main__":
    sys.exit(entry())

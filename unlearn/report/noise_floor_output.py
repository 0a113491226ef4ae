"""The study section of the report on disk: Markdown, CSV files and the noise-floor plot.

unlearn/report/noise_floor.py computes; this module only lays the numbers out. Every number in
the Markdown is also in a CSV (long format: one line per method × metric).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from unlearn.report.noise_floor import GAP_METRICS, RANKED, Study
from unlearn.report.stats import Estimate

HEADERS = {"Dr": "Dr (%)", "Df": "Df (%)", "MIA": "MIA (%)", "ToW": "ToW"}
SPLITS = ("forget_train", "forget_test", "retain_test")


def _est(value: Estimate | None, signed: bool = False) -> str:
    return "–" if value is None else value.text(signed)


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def _table(header: list[str], lines: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|:---|" + "---:|" * (len(header) - 1),
            *("| " + " | ".join(line) + " |" for line in lines)]


def layout_line(st: Study) -> str:
    ks = sorted(set(st.retrains.values()))
    k = "–" if not ks else (str(ks[0]) if len(ks) == 1 else f"{ks[0]}–{ks[-1]}")
    return (f"{len(st.originals)} original model(s) ({', '.join(st.originals)}) × "
            f"{len(st.forget_sets)} forget set(s) ({', '.join(st.forget_sets)}) × seeds "
            f"{', '.join(map(str, st.seeds))}; K = {k} retrains per cell. Intervals: 95 % "
            f"percentile bootstrap over cells (original model × forget set).")


def markdown(st: Study, title: str) -> str:
    out = [f"### Study · {title}", "", layout_line(st), "", "#### Mean over cells [95 % CI]",
           ""]
    shown = [m for m in (*GAP_METRICS, "ToW") if any(m in s.means for s in st.methods)]
    out += _table(["method", "cells"] + [HEADERS[m] for m in shown],
                  [[s.label, str(s.means["Dr"].n if "Dr" in s.means else 0)]
                   + [_est(s.means.get(m)) for m in shown] for s in st.methods])
    out += ["", "#### Retrain noise floor (mean |retrain − retrain| within a cell)", ""]
    if st.floor:
        out += _table(["metric", "floor [95 % CI]", "retrain sets"],
                      [[m, f.text(), str(f.n)] for m, f in st.floor.items()])
    else:
        out.append("No cell has two retrains: no floor.")
    out += ["", "#### Gap to retrain (method − retrain per cell)", "",
            "Within floor: the mean |gap| over cells is at most the upper end of the floor's "
            "interval.", ""]
    lines = []
    for s in st.methods:
        for m in GAP_METRICS:
            paired = s.to_retrain.get(m)
            if paired is None:
                continue
            floor = st.floor.get(m)
            lines.append([s.label, m, paired.diff.text(signed=True), _p(paired.p),
                          f"{s.abs_gap[m]:.2f}", "–" if floor is None else _est(floor),
                          s.verdict.get(m, "–")])
    out += _table(["method", "metric", "Δ [95 % CI]", "Wilcoxon p", "mean |Δ|",
                   "floor [95 % CI]", "verdict"], lines)
    cells = max((p.diff.n for s in st.methods for p in s.to_retrain.values()), default=0)
    if cells < 6:  # the exact two-sided test's smallest p is 2 / 2^n
        out += ["", f"With {cells} cell(s) no Wilcoxon p can fall below "
                f"{min(1.0, 2 / 2 ** cells):.3g}: more original models or forget sets are "
                f"needed for a test."]
    if st.floor and max(f.n for f in st.floor.values()) < 2:
        out += ["", "One cell: the floor's interval resamples its retrain pairs, which share "
                "retrains, so it is too narrow; use it as a rough guide."]
    if st.jit_label:
        out += ["", f"#### Difference to JiT ({st.jit_label})", ""]
        lines = [[s.label, m, s.to_jit[m].diff.text(signed=True), _p(s.to_jit[m].p)]
                 for s in st.methods if s.label != st.jit_label
                 for m in (*GAP_METRICS, "ToW") if m in s.to_jit]
        out += _table(["method", "metric", "Δ [95 % CI]", "Wilcoxon p"], lines)
    ranked = sorted((s for s in st.methods if s.ranks), key=lambda s: s.ranks["mean"])
    if ranked:
        out += ["", "#### Rank summary (mean rank over cells; |Δ| to retrain, ToW)", ""]
        out += _table(["method", *RANKED, "mean"],
                      [[s.label] + [f"{s.ranks[m]:.2f}" for m in (*RANKED, "mean")]
                       for s in ranked])
    damaged = [s for s in st.methods if s.collateral is not None]
    if damaged:
        out += ["", "#### Collateral damage (retained-class test accuracy − original model's)",
                ""]
        lines = []
        for s in damaged:
            c = s.collateral
            worst = ", ".join(f"{name} ({n})" for name, n in c.worst_classes.most_common(3)) \
                or "– (no class lost accuracy)"
            sibs = "; ".join(f"{sib} {e.text(signed=True)}" for (_, sib), e in
                             c.siblings.items()) or "–"
            lines.append([s.label, str(c.runs), c.worst.text(signed=True), worst, sibs])
        out += _table(["method", "runs", "worst class Δ [95 % CI]", "most often worst (runs)",
                       "siblings Δ"], lines)
    close = [s for s in st.methods if any(k.startswith("js_") for k in s.means)]
    if close:
        splits = [sp for sp in SPLITS if any(f"js_{sp}" in s.means for s in close)]
        out += ["", "#### Closeness to the retrained models' outputs (JS in bits; top-1 "
                "agreement %)", ""]
        header = ["method"] + [f"{kind} {sp}" for sp in splits for kind in ("JS", "agree")]
        out += _table(header, [[s.label] + [_est(s.means.get(f"{kind}_{sp}"))
                                            for sp in splits for kind in ("js", "agreement")]
                               for s in close])
    out += [f"Note: {note}." for note in st.notes]
    return "\n".join(out) + "\n"


def _csv(header: list[str], lines: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    return buffer.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.10g}"


def csv_files(st: Study) -> dict[str, str]:
    """suffix -> CSV text."""
    cells = [[s.label, s.method, m, _num(e.mean), _num(e.low), _num(e.high), e.n]
             for s in st.methods for m, e in s.means.items()]
    floor = [[m, _num(f.mean), _num(f.low), _num(f.high), f.n] for m, f in st.floor.items()]
    paired = []
    for s in st.methods:
        for m, p in s.to_retrain.items():
            f = st.floor.get(m)
            paired.append([s.label, s.method, "retrain", m, _num(p.diff.mean), _num(p.diff.low),
                           _num(p.diff.high), p.diff.n, _num(p.p), _num(s.abs_gap[m]),
                           _num(f and f.mean), _num(f and f.high), s.verdict.get(m, "")])
        for m, p in s.to_jit.items():
            paired.append([s.label, s.method, st.jit_label, m, _num(p.diff.mean),
                           _num(p.diff.low), _num(p.diff.high), p.diff.n, _num(p.p),
                           "", "", "", ""])
    ranks = [[s.label, s.method, m, _num(r)] for s in st.methods for m, r in s.ranks.items()]
    damage = []
    for s in st.methods:
        c = s.collateral
        if c is None:
            continue
        for name, e in c.per_class.items():
            damage.append([s.label, s.method, "class", name, "", _num(e.mean), _num(e.low),
                           _num(e.high), e.n])
        worst = c.worst_classes.most_common(1)[0][0] if c.worst_classes else ""
        damage.append([s.label, s.method, "worst", worst, "",
                       _num(c.worst.mean), _num(c.worst.low), _num(c.worst.high), c.worst.n])
        for (forgotten, sib), e in c.siblings.items():
            damage.append([s.label, s.method, "sibling", sib, forgotten, _num(e.mean),
                           _num(e.low), _num(e.high), e.n])
    layout = [[original, forget, k] for (original, forget), k in sorted(st.retrains.items())]
    return {
        "_study_cells.csv": _csv(["label", "method", "metric", "mean", "ci_low", "ci_high",
                                  "cells"], cells),
        "_study_floor.csv": _csv(["metric", "floor", "ci_low", "ci_high", "retrain_sets"],
                                 floor),
        "_study_paired.csv": _csv(["label", "method", "reference", "metric", "diff", "ci_low",
                                   "ci_high", "cells", "wilcoxon_p", "mean_abs_gap", "floor",
                                   "floor_high", "verdict"], paired),
        "_study_ranks.csv": _csv(["label", "method", "metric", "mean_rank"], ranks),
        "_study_collateral.csv": _csv(["label", "method", "kind", "class", "forgotten",
                                       "change", "ci_low", "ci_high", "n"], damage),
        "_study_retrains.csv": _csv(["original", "forget", "retrains"], layout),
    }


def plot_floor(st: Study, title: str, path: Path) -> Path:
    """One panel per metric (Dr, Df, MIA): each method's gap to retrain with its interval;
    the grey band is ± the floor's upper bound, the dashed lines ± the floor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [s for s in st.methods if s.to_retrain]
    fig, axes = plt.subplots(1, len(GAP_METRICS), figsize=(14, max(3.0, 0.4 * len(methods)
                                                                    + 1.8)), sharey=True)
    positions = list(range(len(methods)))
    for ax, metric in zip(axes, GAP_METRICS):
        floor = st.floor.get(metric)
        if floor is not None:
            high = floor.high if floor.high is not None else floor.mean
            ax.axvspan(-high, high, color="0.85", zorder=0, label="± floor (upper 95 %)")
            for sign in (-1, 1):
                ax.axvline(sign * floor.mean, color="0.4", linestyle="--", linewidth=1)
        for y, s in enumerate(methods):
            paired = s.to_retrain.get(metric)
            if paired is None:
                continue
            d = paired.diff
            err = None if d.low is None else [[d.mean - d.low], [d.high - d.mean]]
            outside = s.verdict.get(metric) == "outside floor"
            ax.errorbar(d.mean, y, xerr=err, fmt="o", capsize=3,
                        color="tab:red" if outside else "tab:blue", zorder=3)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(f"{metric}: method − retrain", fontweight="bold")
        ax.set_xlabel("gap (percentage points)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(positions, [s.label for s in methods])
    axes[0].invert_yaxis()
    fig.suptitle(f"{title}: gap to retrain [95 % CI] against the retrain noise floor "
                 f"(red: outside floor)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

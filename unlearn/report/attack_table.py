"""The report's membership-attack table: every population attack's result on each method's
unlearned model beside the attack's power, read from the same rows.

A run records both (metrics.evaluate): `attack_<a>_<measure>` on the unlearned model and
`attack_<a>_<measure>_original` on the original model the run started from, on the same
forget samples and non-members. An attack without power on the original model shows nothing
about forgetting, whatever its value on the unlearned one, so the two are always shown
together: "result (power)", each the mean over the row's runs that measured the attacks; the
table's n counts exactly those runs. Power is shown only when each of them measured it too
(rows recorded before runs measured power show "–"), so both means cover the same runs.
"""

from __future__ import annotations

import csv
import io
import statistics

from unlearn.eval.attacks import ATTACKS

MEASURES = {"auc": "AUC", "tpr_at_fpr_1pct": "TPR@1%"}
POWER = "_original"


def attacked(runs: list[dict]) -> list[dict]:
    """The runs that measured the population attacks (older rows did not)."""
    return [run for run in runs if "attack_loss_auc" in run["metrics"]]


def mean_of(runs: list[dict], key: str) -> float | None:
    """The mean of `key` over the runs that measured the attacks, or None unless each of
    them recorded it (a mean over fewer runs than the table's n would misstate it)."""
    measured = attacked(runs)
    values = [run["metrics"][key] for run in measured if key in run["metrics"]]
    return statistics.fmean(values) if values and len(values) == len(measured) else None


def has_attacks(rows) -> bool:
    """Whether any run of the table rows (tables.MethodRow) recorded the attacks."""
    return any("attack_loss_auc" in run["metrics"] for row in rows for run in row.runs)


def cell(runs: list[dict], attack: str, measure: str) -> str:
    key = f"attack_{attack}_{measure}"
    value, power = mean_of(runs, key), mean_of(runs, key + POWER)
    if value is None:
        return "–"
    return f"{value:.3f} ({'–' if power is None else f'{power:.3f}'})"


def markdown(title: str, rows) -> str:
    """The Markdown table: one line per report row, one column per attack and measure."""
    header = ["method", "n"] + [f"{a} {name}" for a in ATTACKS for name in MEASURES.values()]
    lines = [f"### {title}: membership attacks", "", "| " + " | ".join(header) + " |",
             "|:---|" + "---:|" * (len(header) - 1)]
    for row in rows:
        cells = [cell(row.runs, a, m) for a in ATTACKS for m in MEASURES]
        lines.append("| " + " | ".join([row.label, str(len(attacked(row.runs))), *cells]) + " |")
    lines += ["", "Each cell: the attack on the unlearned model (power: the same attack on the "
                  "original model, same samples), mean over the runs. Members: the forget-train "
                  "samples; non-members: matched never-seen test samples; n: the runs that "
                  "measured the attacks. AUC 0.5 shows "
                  "forgetting only where the power is well above 0.5; retrain's value is the "
                  "target."]
    return "\n".join(lines) + "\n"


def csv_text(rows) -> str:
    """CSV: per report row, each attack's mean result and mean power."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = [f"attack_{a}_{m}" for a in ATTACKS for m in MEASURES]
    writer.writerow(["method", "label", "n"] + [k + s for k in keys for s in ("", POWER)])
    for row in rows:
        values = [mean_of(row.runs, k + s) for k in keys for s in ("", POWER)]
        writer.writerow([row.method, row.label, len(attacked(row.runs))]
                        + ["" if v is None else f"{v:.4f}" for v in values])
    return out.getvalue()

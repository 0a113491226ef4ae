"""The demo: forget one Fashion-MNIST class with JiT and its reference points, on a CPU.

Trains the compact CNN (and the retrained model without the class; both cached under
checkpoints/ and resumed if interrupted), runs baseline, retrain, finetune and JiT on the
class, and prints the report's table (retained and forgotten test accuracy, MIA, the
method's time) and where its plots are. Beside the table's JiT (σ, η from
forget_full_class_main.py) runs `jit_zero_shot`, which picks η from the forget set alone; the
demo prints both η.
"""

import sys
import time
from pathlib import Path

import forget_full_class_main
import pretrain_model
from unlearn import report, results

ROOT = Path(__file__).resolve().parent.parent

NET, DATASET, CLASSES, FORGET = "CNN", "FashionMNIST", "10", "Sneaker"
METHODS = ["baseline", "retrain", "finetune", "lipschitz_forgetting", "jit_zero_shot"]
RESULTS = "results/demo.jsonl"
REPORT_DIR = "results/demo_report"


def checked(code: int) -> None:
    if code != 0:
        sys.exit(code)


def eta_choices(rows: list[dict]) -> str:
    """The table's η against the zero-shot choice, from the recorded rows."""
    lines = []
    for row in rows:
        chosen = row.get("chosen")
        if row["method"] == "lipschitz_forgetting":
            hp = row["config"]["hyperparameters"]
            lines.append(f"JiT η from the table: {hp['eta']:g} (σ {hp['sigma']:g})")
        elif row["method"] == "jit_zero_shot" and chosen:
            tried = ", ".join(f"{eta:.3g}: {acc:.1f} %" for eta, acc in chosen["tried"])
            lines.append(f"JiT η chosen zero-shot: {chosen['eta']:.3g} (σ {chosen['sigma']:g}; "
                         f"held-out forget accuracy target {chosen['target']:.1f} %, "
                         f"{'reached' if chosen['reached'] else 'NOT reached'}; tried {tried})")
    return "\n".join(lines)


def main() -> int:
    started = time.perf_counter()
    original = f"checkpoints/{NET}-{DATASET}.pth"
    retrained = f"checkpoints/{NET}-{DATASET}-without-{FORGET}.pth"
    common = ["-net", NET, "-dataset", DATASET, "-classes", CLASSES, "-b", "128"]
    checked(pretrain_model.main([*common, "-resume", "-out", original]))
    checked(pretrain_model.main([*common, "-resume", "-out", retrained,
                                 "-forget_class", FORGET]))
    first_row = len(results.read_rows(RESULTS))
    for method in METHODS:
        checked(forget_full_class_main.main([
            *common[:6], "-method", method, "-forget_class", FORGET, "-weight_path", original,
            "-retrain_path", retrained, "-results", RESULTS, "-seed", "0"]))
    rows = results.read_rows(RESULTS)[first_row:]
    text, files = report.write_report(rows, Path(REPORT_DIR), task="full_class",
                                      dataset=DATASET, net=NET)
    print(f"\nForgetting '{FORGET}' from {NET} on {DATASET} (seed 0)\n")
    print(text)
    print(eta_choices(rows))
    print(f"\nresults: {RESULTS}; tables and plots: {REPORT_DIR}/; "
          f"total wall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

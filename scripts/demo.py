"""The demo: forget one Fashion-MNIST class with JiT and its reference points, on a CPU.

Trains the compact CNN (and the retrained model without the class; both cached under
checkpoints/ and resumed if interrupted), then forgets the class with:
- baseline, retrain and finetune: the original, the gold standard, and a method that reads the
  retained data;
- lipschitz_forgetting: JiT with σ and η from forget_full_class_main.py's table;
- jit_anchored: JiT anchored to the original's other-class distribution, its η chosen from
  the forget set alone;
- distill_others: the forget-only competitor that ranked best in the robustness study.
It prints the report's table, what each self-choosing method chose, and one line per
forgetting method saying whether it met the demo's target.
"""

import sys
import time
from pathlib import Path

import forget_full_class_main
import pretrain_model
from unlearn.report import tables
from unlearn.store import results

ROOT = Path(__file__).resolve().parent.parent

NET, DATASET, CLASSES, FORGET = "CNN", "FashionMNIST", "10", "Sneaker"
METHODS = ["baseline", "retrain", "finetune", "lipschitz_forgetting", "jit_anchored",
           "distill_others"]
RESULTS = "results/demo.jsonl"
REPORT_DIR = "results/demo_report"
# The demo's target: forgotten-class accuracy within DF_POINTS of the retrained model's, and
# retained accuracy at most DR_POINTS below the original's.
DF_POINTS, DR_POINTS = 10.0, 5.0


def checked(code: int) -> None:
    if code != 0:
        sys.exit(code)


def target_lines(rows: list[dict]) -> list[str]:
    """One line per forgetting method: did it meet the demo's target, and by how much."""
    by_method = {row["method"]: row["metrics"] for row in rows if row.get("status") == "ok"}
    original, retrained = by_method.get("baseline"), by_method.get("retrain")
    if original is None or retrained is None:
        return ["the demo's target cannot be judged: the baseline or retrain run is missing"]
    lines = []
    for method, values in by_method.items():
        if method in ("baseline", "retrain"):
            continue
        df_gap = values["acc_forget_test"] - retrained["acc_forget_test"]
        dr_loss = original["acc_retain_test"] - values["acc_retain_test"]
        met = df_gap <= DF_POINTS and dr_loss <= DR_POINTS
        lines.append(f"{method}: {'met' if met else 'MISSED'} the demo's target "
                     f"(Df {values['acc_forget_test']:.2f} vs retrain "
                     f"{retrained['acc_forget_test']:.2f}: at most {DF_POINTS:g} more; "
                     f"Dr {values['acc_retain_test']:.2f} vs the original's "
                     f"{original['acc_retain_test']:.2f}: at most {DR_POINTS:g} less)")
    return lines


def choice_lines(rows: list[dict]) -> list[str]:
    """The table's η beside what each self-choosing method chose, from the recorded rows."""
    lines = []
    for row in rows:
        chosen = row.get("chosen")
        if row["method"] == "lipschitz_forgetting":
            hp = row["config"]["hyperparameters"]
            lines.append(f"lipschitz_forgetting: η {hp['eta']:g}, σ {hp['sigma']:g} from the "
                         "main file's table")
        elif chosen and "steps" in chosen:
            flag = f"; FLAGGED: {chosen['flag']}" if chosen.get("flag") else ""
            lines.append(f"{row['method']}: {chosen['outcome']} after {chosen['steps']} steps "
                         f"(last rate {chosen['lr_last']:.3g}; held-out forget accuracy target "
                         f"{chosen['target']:.1f} %){flag}")
    return lines


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
    text, files = tables.write_report(rows, Path(REPORT_DIR), task="full_class",
                                      dataset=DATASET, net=NET)
    print(f"\nForgetting '{FORGET}' from {NET} on {DATASET} (seed 0)\n")
    print(text)
    print("\n".join(choice_lines(rows)))
    print()
    print("\n".join(target_lines(rows)))
    print(f"\nresults: {RESULTS}; tables and plots: {REPORT_DIR}/; "
          f"total wall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

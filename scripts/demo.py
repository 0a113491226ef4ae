"""The demo: forget one Fashion-MNIST class with JiT and its reference points, on a CPU.

Trains the compact CNN (and the retrained model without the class; both cached under
checkpoints/ and resumed if interrupted), runs baseline, retrain, finetune and JiT on the
class, and prints the report's table (retained and forgotten test accuracy, MIA, the
method's time) and where its plots are.
"""

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import forget_full_class_main  # noqa: E402
import pretrain_model  # noqa: E402
import report  # noqa: E402
import results  # noqa: E402

NET, DATASET, CLASSES, FORGET = "CNN", "FashionMNIST", "10", "Sneaker"
METHODS = ["baseline", "retrain", "finetune", "lipschitz_forgetting"]
RESULTS = "results/demo.jsonl"
REPORT_DIR = "results/demo_report"


def checked(code: int) -> None:
    if code != 0:
        sys.exit(code)


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
    print(f"\nresults: {RESULTS}; tables and plots: {REPORT_DIR}/; "
          f"total wall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

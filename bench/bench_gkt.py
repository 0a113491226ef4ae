"""What gkt's reuse of the student steps' inputs and channels-last memory buy, and what they
change: the published computation against the default, on one model and class.

Runs gkt through `forget_full_class_main.py`, as a user would, three times in this process:
the published computation (`-hp recompute=on -hp channels_last=off`: the generator, the gate
and the teacher rerun at every student step, plain memory) at seed 0, then the default at
seed 0 and at seed 1. Reads each method's own time (`method_s`) from the rows. Prints the
speed-up (target: at least 4x) and Dr / Df of each run: the default at seed 0 should differ
from the published computation by float rounding only, less than the two seeds differ.

    python -m bench.bench_gkt [--weights FILE] [--forget-class Sneaker] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench.common import TRAINED_CNN, apply_threads, emit
from bench.full_class_run import full_class_row

PUBLISHED = ["-hp", "recompute=on", "-hp", "channels_last=off"]


def run(args, out: Path, seed: int, extra: list[str]) -> dict:
    return full_class_row("gkt", args.weights, args.forget_class, out, seed=seed,
                          data_dir=args.data_dir,
                          extra=["-hp", f"n_pseudo_batches={args.pseudo_batches}", *extra])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=str(TRAINED_CNN),
                        help="the original model (default: the demo's trained CNN)")
    parser.add_argument("--forget-class", default="Sneaker")
    parser.add_argument("--pseudo-batches", type=int, default=100,
                        help="gkt's n_pseudo_batches (default: the CNN's declared 100)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="3 pseudo batches (a smoke test)")
    parser.add_argument("--json", default=None, help="write the numbers here")
    args = parser.parse_args(argv)
    if not Path(args.weights).is_file():
        parser.error(f"no original model at {args.weights}: run `make demo` or give --weights")
    if args.quick:
        args.pseudo_batches = 3
    apply_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "rows.jsonl"
        rows = {"published, seed 0": run(args, out, 0, PUBLISHED),
                "default, seed 0": run(args, out, 0, []),
                "default, seed 1": run(args, out, 1, [])}
    seconds = {name: row["method_s"] for name, row in rows.items()}
    speedup = seconds["published, seed 0"] / seconds["default, seed 0"]
    for name, row in rows.items():
        metrics = row["metrics"]
        emit(f"gkt {name}: {seconds[name]:.1f} s; Dr {metrics['acc_retain_test']:.2f}, "
             f"Df {metrics['acc_forget_test']:.2f}")
    emit(f"speed-up of the default over the published computation: {speedup:.2f}x "
         f"(target >= 4)")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"seconds": seconds, "speedup": speedup,
             "metrics": {name: {"Dr": row["metrics"]["acc_retain_test"],
                                "Df": row["metrics"]["acc_forget_test"]}
                         for name, row in rows.items()}}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

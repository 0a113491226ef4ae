"""What the forget-only rule costs: each forget-only method's time against one JiT pass.

Runs, one after the other in this process and on one forget set, the faithful JiT
(`lipschitz_forgetting`: one pass at the table's σ, η), anchored JiT (its whole selection:
the scan on the fit part, the checks, the replay on the whole forget set) and every other
forget-only method, each through `forget_full_class_main.py` as a user would, and reads each
method's own time (`method_s`, the method alone) from the rows it records. Prints:
- anchored JiT's selection / one JiT pass (target: at most 5);
- each competitor's selection / anchored JiT's selection (target: at most 1);
and what each rule chose. Default: the trained demo CNN (`make demo`), class Sneaker.

    python -m bench.bench_forget_only [--weights FILE] [--forget-class Sneaker] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench.common import TRAINED_CNN, apply_threads, emit
from bench.full_class_run import full_class_row

JIT = "lipschitz_forgetting"
ANCHORED = "jit_anchored"
COMPETITORS = ["distill_others", "gradient_ascent", "boundary_shrink", "boundary_expanding"]


def run_method(method: str, args, out: Path) -> dict:
    extra = []
    if args.quick and method in (JIT, ANCHORED):
        extra += ["-n_samples", "2"]
    if args.quick and method != JIT:
        extra += ["-hp", "max_passes=0.1"]
    return full_class_row(method, args.weights, args.forget_class, out,
                          data_dir=args.data_dir, extra=extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=str(TRAINED_CNN),
                        help="the original model (default: the demo's trained CNN)")
    parser.add_argument("--forget-class", default="Sneaker")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true",
                        help="N = 2 copies and a tenth of a pass per rule (a smoke test)")
    parser.add_argument("--json", default=None, help="write the numbers here")
    args = parser.parse_args(argv)
    if not Path(args.weights).is_file():
        parser.error(f"no original model at {args.weights}: run `make demo` or give --weights")
    apply_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "rows.jsonl"
        rows = {m: run_method(m, args, out) for m in [JIT, ANCHORED, *COMPETITORS]}
    seconds = {m: row["method_s"] for m, row in rows.items()}
    emit(f"one JiT pass ({JIT}): {seconds[JIT]:.1f} s")
    ratio = seconds[ANCHORED] / seconds[JIT]
    emit(f"{ANCHORED} selection: {seconds[ANCHORED]:.1f} s = {ratio:.2f}x one JiT pass "
         f"(target <= 5) [{describe(rows[ANCHORED])}]")
    ratios = {}
    for method in COMPETITORS:
        ratios[method] = seconds[method] / seconds[ANCHORED]
        emit(f"{method}: {seconds[method]:.1f} s = {ratios[method]:.2f}x {ANCHORED}'s selection "
             f"(target <= 1) [{describe(rows[method])}]")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"seconds": seconds, "anchored_over_one_pass": ratio,
             "competitor_over_anchored": ratios}, indent=1), encoding="utf-8")
    return 0


def describe(row: dict) -> str:
    chosen = row.get("chosen") or {}
    metrics = row["metrics"]
    return (f"{chosen.get('outcome', '?')}, {chosen.get('steps', '?')} steps; "
            f"Dr {metrics['acc_retain_test']:.2f}, Df {metrics['acc_forget_test']:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())

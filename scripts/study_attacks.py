"""U-LiRA and the forgetting-quality score of a study's methods, from the runs' saved outputs
and the model store's pools (see unlearn/study_attacks.py).

    python scripts/study_attacks.py results/study.jsonl --store checkpoints/store \\
        --outputs results/study_outputs --out results/study_attacks [--pool-size 4] \\
        [--heldout 1] [--fq-models N] [--data_dir DIR] [--gpu]

Writes study_attacks.csv (one line per method and cell) and study_attacks.md (per method: the
mean over cells), both stating the pool sizes. Bad input: exit code 2 and one line.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
from pathlib import Path

from unlearn import preflight, results, tasks
from unlearn.attacks.pools import DEFAULT_POOL
from unlearn.errors import UsageError
from unlearn.study_attacks import DEFAULT_HELDOUT, TPRS, Result, study_attacks

COLUMNS = ["task", "dataset", "net", "method", "label", "original", "original_seed", "forget",
           "runs",
           "lira_auc", *(f"lira_{t}" for t in TPRS), "pool_in", "pool_out", "heldout_retrained",
           "in_seeds", "forget_quality", "forget_quality_models"]


def csv_text(found: list[Result]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in found:
        quality = r.quality or {}
        writer.writerow([*r.group, r.method, r.label, r.cell[0], r.original_seed, r.cell[1],
                         r.runs,
                         *(f"{r.lira[k]:.4f}" if r.lira else "" for k in ("auc", *TPRS)),
                         r.pools["in"],
                         r.pools["out"], r.pools["heldout"],
                         " ".join(map(str, r.pools["in_seeds"])),
                         f"{quality['score']:.4f}" if quality else "",
                         quality.get("num_models", "")])
    return out.getvalue()


def mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    mean = statistics.fmean(values)
    return f"{mean:.3f}" if len(values) < 2 else f"{mean:.3f} ± {statistics.stdev(values):.3f}"


def markdown(found: list[Result], pool_size: int, heldout: int) -> str:
    sections = []
    for group in dict.fromkeys(r.group for r in found):
        task, dataset, net = group
        mine = [r for r in found if r.group == group]
        lines = [f"### {tasks.title(task)} · {dataset} · {net}: per-example attacks", "",
                 "| method | cells | runs | U-LiRA AUC | TPR@1% | TPR@0.1% | forget quality "
                 "| N |", "|:---|---:|---:|---:|---:|---:|---:|---:|"]
        for label in dict.fromkeys(r.label for r in mine):
            rows = [r for r in mine if r.label == label]
            qualities = {r.cell[1]: r.quality for r in rows if r.quality}  # one per forget set
            lines.append("| " + " | ".join([
                label, str(len(rows)), str(sum(r.runs for r in rows)),
                *(mean_std([r.lira[k] for r in rows if r.lira]) for k in ("auc", *TPRS)),
                mean_std([q["score"] for q in qualities.values()]) if qualities else "–",
                ", ".join(sorted({str(q["num_models"]) for q in qualities.values()})) or "–",
            ]) + " |")
        lines += ["", f"Pools per cell: in = {pool_size} originals of the cell's recipe with "
                      f"other pretraining seeds (the cell's own left out); out = {pool_size} "
                      f"retrains for the fit and {heldout} held out (a retrain row's own "
                      "retrain left out). U-LiRA: each run's unlearned model against the "
                      "held-out retrains, mean over a cell's runs, then mean ± std over cells; "
                      "0.5 = indistinguishable from retraining, the baseline row (the original "
                      "itself) is the attack's power. Forget quality: N distinct unlearned "
                      "models of a forget set (originals × seeds) against N stored retrains not "
                      "among them, mean over forget sets; 1 = indistinguishable at this N "
                      "(– : fewer than 3 models)."]
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", help="the study's results file (JSONL)")
    parser.add_argument("--store", required=True, help="the model store holding the pools")
    parser.add_argument("--outputs", default=None,
                        help="folder of the saved outputs (default: where the rows say)")
    parser.add_argument("--out", default="results/study_attacks", help="report folder")
    parser.add_argument("--pool-size", type=int, default=DEFAULT_POOL,
                        help=f"models per Gaussian fit (default {DEFAULT_POOL})")
    parser.add_argument("--heldout", type=int, default=DEFAULT_HELDOUT,
                        help=f"held-out retrains per cell (default {DEFAULT_HELDOUT})")
    parser.add_argument("--fq-models", type=int, default=None,
                        help="at most N unlearned models per forget quality (default: all)")
    parser.add_argument("--data_dir", "--data-dir", default=None, help="dataset root")
    parser.add_argument("--gpu", action="store_true", help="run the pool models on CUDA")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command; bad input prints one line and returns 2, before anything is written."""
    args = build_parser().parse_args(argv)
    try:
        return write(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def write(args) -> int:
    if not Path(args.rows).is_file():
        raise UsageError(f"results file not found: {args.rows}")
    if not Path(args.store).is_dir():
        raise UsageError(f"model store not found: {args.store}")
    preflight.writable_folder(args.out, "report folder")
    from unlearn.devices import resolve_device

    found = study_attacks(results.read_rows(args.rows), store=args.store, outputs=args.outputs,
                          data_dir=args.data_dir, device=resolve_device(args.gpu),
                          pool_size=args.pool_size, heldout=args.heldout,
                          fq_models=args.fq_models)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(found, args.pool_size, args.heldout)
    (out / "study_attacks.md").write_text(text, encoding="utf-8")
    (out / "study_attacks.csv").write_text(csv_text(found), encoding="utf-8")
    print(text, end="")
    print(f"Written: {out / 'study_attacks.md'}, {out / 'study_attacks.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

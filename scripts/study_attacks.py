"""U-LiRA and the forgetting-quality score of a study's methods, from the runs' saved outputs
and the model store's pools (see unlearn/report/per_example_attacks.py).

    python scripts/study_attacks.py results/study.jsonl --store checkpoints/store \\
        --outputs results/study_outputs --out results/study_attacks [--pool-size 8] \\
        [--heldout 4] [--fq-models N] [--variance auto] [--no-verdict] [--data_dir DIR] [--gpu]

Writes study_attacks.csv (one line per method and cell, with the null's values) and
study_attacks.md (per method: the mean over cells, the null with its interval and the verdict
in words). Bad input: exit code 2 and one line (pools below what a verdict needs, with the
command that trains the missing models; runs missing the outputs an "in" pool needs; mixed N
across the methods of one forget set).
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from unlearn.data import tasks
from unlearn.devices import resolve_device
from unlearn.errors import UsageError
from unlearn.eval.attacks.lira import VARIANCES
from unlearn.eval.attacks.null import POWER_MARGIN, RESAMPLES, VERDICT_HELDOUT, VERDICT_POOL
from unlearn.exit_codes import guarded
from unlearn.report.per_example_attacks import TPRS, Pools, Result, study_attacks, summarise
from unlearn.store import preflight, results

COLUMNS = ["task", "dataset", "net", "method", "label", "original", "original_seed", "forget",
           "runs", "lira_auc", *(f"lira_{t}" for t in TPRS), "lira_null_aucs", "pool_in",
           "in_from", "in_seeds", "pool_out", "heldout_retrained", "forget_quality",
           "forget_quality_models", "forget_quality_null", "forget_quality_null_low",
           "forget_quality_null_high"]


def number(value) -> str:
    return "" if value is None else f"{value:.4f}"


def csv_text(found: list[Result]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in found:
        quality = r.quality or {}
        writer.writerow([*r.group, r.method, r.label, r.cell[0], r.original_seed, r.cell[1],
                         r.runs, *(number(r.lira[k]) for k in ("auc", *TPRS)),
                         " ".join(map(number, r.lira_null)), r.pools["in"], r.pools["in_from"],
                         " ".join(map(str, r.pools["in_seeds"])), r.pools["out"],
                         r.pools["heldout"], number(quality.get("score")),
                         quality.get("num_models", ""),
                         *(number(quality.get(k)) for k in ("null", "null_low", "null_high"))])
    return out.getvalue()


def mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    mean = statistics.fmean(values)
    return f"{mean:.3f}" if len(values) < 2 else f"{mean:.3f} ± {statistics.stdev(values):.3f}"


def null_text(null: tuple[float, float, float] | None) -> str:
    return "–" if null is None else f"{null[0]:.3f} [{null[1]:.3f}, {null[2]:.3f}]"


EXPLANATION = (
    "U-LiRA (Hayes et al. 2024): per cell, the \"in\" Gaussians are fitted on the method's "
    "own runs on the other originals (shadow originals unlearned by it; the baseline: {size} "
    "stored originals of other seeds, so its row is the attack's power), the \"out\" ones on "
    "{size} retrains none of the method's runs loaded; each run is judged against {heldout} "
    "held-out retrains, mean over a cell's runs, then mean ± std over cells. Its null: the AUC "
    "each held-out retrain gets against the others under the same Gaussians, averaged as the "
    "method's value is (same cells, same runs per cell), with the 95 % percentile interval of "
    "that average over {resamples} resamples of the held-out values. Forget quality: the "
    "method's N distinct unlearned models against N retrains none of them loaded, mean over "
    "forget sets; its null: N further retrains against the same N (two samples of one "
    "distribution: about 0.35 at N = 3, 0.19 at N = 8, not 1), with the 95 % percentile "
    "bootstrap interval over examples (scipy.stats.bootstrap; the mean of the forget sets' "
    "interval ends). A method is \"indistinguishable from retraining\" only where its value "
    "lies inside its null's interval, and only where the attack has power: the baseline's "
    "value beyond its own null by {margin} (AUC above, quality below); otherwise \"no power "
    "here\". A value outside the interval on either side is \"distinguishable from "
    "retraining\" (a method that over-forgets gives U-LiRA above its null, like one that "
    "remembers). {verdicts}")


def markdown(found: list[Result], pools: Pools) -> str:
    sections = []
    lines_by_group = defaultdict(list)
    for line in summarise(found, pools.verdict):
        lines_by_group[line["group"]].append(line)
    for (task, dataset, net), summary in lines_by_group.items():
        lines = [f"### {tasks.title(task)} · {dataset} · {net}: per-example attacks", "",
                 "| method | cells | runs | U-LiRA AUC | null [95 %] | TPR@1% | TPR@0.1% "
                 "| U-LiRA verdict | forget quality | null [95 %] | N | quality verdict |",
                 "|:---|---:|---:|---:|---:|---:|---:|:---|---:|---:|---:|:---|"]
        for line in summary:
            lira_values = line["lira"]
            lines.append("| " + " | ".join([
                line["label"], str(line["cells"]), str(line["runs"]),
                mean_std(lira_values["auc"]), null_text(line["lira_null"]),
                *(mean_std(lira_values[k]) for k in TPRS), line["lira_verdict"],
                mean_std(line.get("quality", [])), null_text(line.get("quality_null")),
                ", ".join(map(str, line.get("num_models", []))) or "–",
                line["quality_verdict"]]) + " |")
        verdicts = ("" if pools.verdict else
                    "No verdict is given: --no-verdict, pools may be below the "
                    f"{VERDICT_POOL} + {VERDICT_POOL} with {VERDICT_HELDOUT} held out "
                    "a verdict needs.")
        lines += ["", EXPLANATION.format(size=pools.size, heldout=pools.heldout,
                                         resamples=RESAMPLES, margin=POWER_MARGIN,
                                         verdicts=verdicts).strip()]
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", help="the study's results file (JSONL)")
    parser.add_argument("--store", required=True, help="the model store holding the pools")
    parser.add_argument("--outputs", default=None,
                        help="folder of the saved outputs (default: where the rows say)")
    parser.add_argument("--out", default="results/study_attacks", help="report folder")
    parser.add_argument("--pool-size", type=int, default=VERDICT_POOL,
                        help=f"retrains per 'out' fit (default {VERDICT_POOL})")
    parser.add_argument("--heldout", type=int, default=VERDICT_HELDOUT,
                        help=f"held-out retrains: negatives and null (default {VERDICT_HELDOUT})")
    parser.add_argument("--variance", choices=VARIANCES, default="auto",
                        help="Gaussian variance: shared over examples below 8 models (auto), "
                             "or always shared / per example")
    parser.add_argument("--no-verdict", action="store_true",
                        help="allow pools below what a verdict needs; print values and nulls "
                             "without verdicts")
    parser.add_argument("--fq-models", type=int, default=None,
                        help="at most N unlearned models per forget quality (default: all)")
    parser.add_argument("--data_dir", "--data-dir", default=None, help="dataset root")
    parser.add_argument("--gpu", action="store_true", help="run the pool models on CUDA")
    return parser


@guarded
def main(argv: list[str] | None = None) -> int:
    """The command; bad input prints one line and returns 2, before anything is written."""
    return write(build_parser().parse_args(argv))


def write(args) -> int:
    if not Path(args.rows).is_file():
        raise UsageError(f"results file not found: {args.rows}")
    if not Path(args.store).is_dir():
        raise UsageError(f"model store not found: {args.store}")
    preflight.writable_folder(args.out, "report folder")
    pools = Pools(size=args.pool_size, heldout=args.heldout, fq_models=args.fq_models,
                  variance=args.variance, verdict=not args.no_verdict)
    pools.check()  # before any model is read
    found = study_attacks(results.read_rows(args.rows), store=args.store, outputs=args.outputs,
                          data_dir=args.data_dir, device=resolve_device(args.gpu),
                          pools=pools)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(found, pools)
    (out / "study_attacks.md").write_text(text, encoding="utf-8")
    (out / "study_attacks.csv").write_text(csv_text(found), encoding="utf-8")
    print(text, end="")
    print(f"Written: {out / 'study_attacks.md'}, {out / 'study_attacks.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

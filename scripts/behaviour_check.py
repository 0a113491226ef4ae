"""Behaviour unchanged: every registered method on the three tasks, run by two versions of the
code on the same checkpoint and seed, compared row by row (every metric and the run key).

    git worktree add --detach ../before ea12d91
    python scripts/behaviour_check.py --before ../before --after . --work results/behaviour \
        --out docs/measured/behaviour_unchanged/every_method

The data are small generated Fashion-MNIST files in the official format (written with
tests/data_files.py's idx writer: 300 training and 100 test images, each class a bright stripe
at its own height over noise, so the CNN learns something a method can forget); the CNN is
pretrained once on them (8 epochs, batch 16, by the --after code) for Fashion-MNIST and its
four-superclass view, and both versions forget from these same checkpoint files with
the same seed. Each version runs its own entry points in one process (its registry decides the
methods), with the same quick settings for the slow methods on both sides. A method one
version lacks is listed as new (or gone). Rows go to <work>/rows_<side>.jsonl; with --out,
the rows (paths relative to the work folder) and the comparison table are written there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("before", "after")
SEED = "0"
# Per task: the dataset, the flags naming what is forgotten (the tests' tiny commands).
TASKS = {
    "full_class": ("forget_full_class_main", "FashionMNIST",
                   ["-classes", "10", "-forget_class", "Sneaker"]),
    "sub_class": ("forget_sub_class_main", "FashionMNIST4",
                  ["-superclasses", "4", "-subclasses", "10", "-forget_class", "Sneaker"]),
    "random": ("forget_random_main", "FashionMNIST", ["-classes", "10", "-forget_count", "5"]),
}
CLASSES = {"FashionMNIST": "10", "FashionMNIST4": "4"}
# EMMN learns noise for, and trains on, every class: its full-class run uses the four classes.
FULL_CLASS_OVERRIDE = {"emmn": ("FashionMNIST4", ["-classes", "4", "-forget_class", "footwear"])}
# Quick settings for the slow methods, flags both versions accept (the same on both sides).
QUICK = {
    "retrain": ["-retrain_epochs", "1"],
    "retrain_reference": ["-retrain_epochs", "1"],
    "finetune": ["-finetune_epochs", "1"],
    "lipschitz_forgetting": ["-n_samples", "4"],
    "jit_zero_shot": ["-n_samples", "4"],
    "jit_anchored": ["-n_samples", "4"],
    "UNSIR": ["-published_noise"],
    "emmn": ["-published_noise"],
    "gkt": ["-hp", "n_pseudo_batches=2", "-hp", "batch_size=8", "-hp", "n_student_iter=1",
            "-hp", "n_generator_iter=1"],
}

# Run inside one version's tree (its directory first on sys.path): every method of its
# registry on every task it runs on, in-process, one JSON line per run on stdout.
RUNNER = r"""
import importlib, json, sys
plan = json.loads(sys.argv[1])
from unlearn.methods import METHODS
for task, (module, dataset, head) in plan["tasks"].items():
    main = importlib.import_module(module).main
    for name, method in METHODS.items():
        if task not in method.tasks:
            continue
        data, forget = dataset, head
        if task == "full_class" and name in plan["full_override"]:
            data, forget = plan["full_override"][name]
        argv = ["-net", "CNN", "-dataset", data, *forget, "-method", name,
                "-weight_path", f"checkpoints/CNN-{data}.pth", "-data_dir", "fashion",
                "-seed", plan["seed"], "-results", plan["results"],
                *plan["quick"].get(name, [])]
        started = __import__("time").time()
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
        print(json.dumps({"task": task, "method": name, "code": code,
                          "seconds": round(__import__("time").time() - started, 1)}),
              flush=True)
"""


def environment(tree: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "WANDB_MODE": "disabled"}


def write_data(folder: Path) -> None:
    """Fashion-MNIST's four idx files: class c is a bright stripe at rows 2c+3..2c+5 over
    noise, so a small CNN generalises to the test images within a few epochs."""
    sys.path.insert(0, str(ROOT / "tests"))
    from data_files import _write_idx  # the tests' writer of the official idx format

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for prefix, count in (("train", 300), ("t10k", 100)):
        labels = np.arange(count) % 10
        images = rng.integers(0, 120, size=(count, 28, 28), dtype=np.uint8)
        for index, label in enumerate(labels):
            images[index, 2 * label + 3:2 * label + 6, 4:24] = 255
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", images, True)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, True)


def prepare(work: Path, after: Path, python: str) -> None:
    """The data files and the two CNN checkpoints, once (kept between calls)."""
    if not (work / "fashion").is_dir():
        write_data(work / "fashion")
    for dataset, classes in CLASSES.items():
        if (work / "checkpoints" / f"CNN-{dataset}.pth").is_file():
            continue
        subprocess.run([python, str(after / "pretrain_model.py"), "-net", "CNN", "-dataset",
                        dataset, "-classes", classes, "-epochs", "8", "-b", "16", "-data_dir",
                        "fashion", "-seed", SEED], cwd=work, env=environment(after), check=True)


def run_side(side: str, tree: Path, work: Path, python: str) -> list[dict]:
    """Every method of `tree`'s registry on the three tasks; the runs' outcomes."""
    results = work / f"rows_{side}.jsonl"
    results.unlink(missing_ok=True)
    plan = {"tasks": {task: list(spec) for task, spec in TASKS.items()},
            "full_override": {k: list(v) for k, v in FULL_CLASS_OVERRIDE.items()},
            "quick": QUICK, "seed": SEED, "results": results.name}
    with open(work / f"log_{side}.txt", "w") as log:
        done = subprocess.run([python, "-c", RUNNER, json.dumps(plan)], cwd=work,
                              env=environment(tree), stdout=subprocess.PIPE, stderr=log,
                              text=True, check=False)
    outcomes = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0:
        raise SystemExit(f"the {side} runner failed (see {work}/log_{side}.txt)")
    (work / f"outcomes_{side}.json").write_text(json.dumps(outcomes, indent=1) + "\n")
    return outcomes


def read_rows(path: Path) -> dict[tuple[str, str], dict]:
    rows = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[(row["task"], row["method"])] = row
    return rows


def differing(before: dict, after: dict) -> list[str]:
    """The metric names whose values differ (present in both rows), and metrics one lacks."""
    names = []
    for name in sorted(set(before) | set(after)):
        if name not in before or name not in after:
            names.append(f"{name} ({'new' if name not in before else 'gone'})")
        elif before[name] != after[name]:
            names.append(name)
    return names


def compare(work: Path) -> list[dict]:
    before, after = read_rows(work / "rows_before.jsonl"), read_rows(work / "rows_after.jsonl")
    table = []
    for task in TASKS:
        names = [m for (t, m) in before if t == task]
        names += [m for (t, m) in after if t == task and m not in names]
        for name in names:
            old, new = before.get((task, name)), after.get((task, name))
            entry = {"task": task, "method": name}
            if old is None or new is None:
                entry["verdict"] = "new" if old is None else "gone"
            else:
                metrics = differing(old["metrics"], new["metrics"])
                same_key = old["config_key"] == new["config_key"]
                entry.update(metrics_differ=metrics, key_before=old["config_key"],
                             key_after=new["config_key"], same_key=same_key,
                             acc_forget=new["metrics"].get(
                                 "acc_forget_train" if task == "random" else "acc_forget_test"),
                             acc_retain_test=new["metrics"]["acc_retain_test"])
                entry["verdict"] = "equal" if not metrics and same_key else "changed"
            table.append(entry)
    return table


def markdown(table: list[dict]) -> str:
    lines = ["| task | method | verdict | metrics that differ | run key before | run key after |"
             " Df | Dr (retain test) |", "|---|---|---|---|---|---|---|---|"]
    for e in table:
        if e["verdict"] in ("new", "gone"):
            lines.append(f"| {e['task']} | {e['method']} | {e['verdict']} | | | | | |")
            continue
        lines.append(f"| {e['task']} | {e['method']} | {e['verdict']} | "
                     f"{', '.join(e['metrics_differ']) or 'none'} | {e['key_before']} | "
                     f"{e['key_after']} | {e['acc_forget']:.2f} | {e['acc_retain_test']:.2f} |")
    counts = {v: sum(e["verdict"] == v for e in table) for v in ("equal", "changed", "new", "gone")}
    lines.append("")
    lines.append(", ".join(f"{v}: {n}" for v, n in counts.items()))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="tree of the earlier code")
    parser.add_argument("--after", default=str(ROOT), help="tree of the later code (this one)")
    parser.add_argument("--work", default="results/behaviour_check",
                        help="data, checkpoints, rows and logs (kept between calls)")
    parser.add_argument("--sides", default="before,after",
                        help="which versions to run now (the other's rows are read from --work)")
    parser.add_argument("--out", default=None, help="write the rows and the table here")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    trees = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    prepare(work, trees["after"], args.python)
    for side in [s for s in args.sides.split(",") if s]:
        started = time.time()
        outcomes = run_side(side, trees[side], work, args.python)
        failed = [o for o in outcomes if o["code"] != 0]
        print(f"{side}: {len(outcomes)} runs in {time.time() - started:.0f} s"
              f"{'; failed: ' + str(failed) if failed else ''}")
    if not all((work / f"rows_{side}.jsonl").is_file() for side in SIDES):
        return 0
    table = compare(work)
    text = markdown(table)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for side in SIDES:
            # paths in the rows are relative to the work folder already (runs from there)
            (out / f"rows_{side}.jsonl").write_text((work / f"rows_{side}.jsonl").read_text())
        (out / "comparison.json").write_text(json.dumps(table, indent=1) + "\n")
        (out / "comparison.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

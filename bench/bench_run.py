"""Whole run: `forget_full_class_main.py` with JiT, start to results row, against the literal
published pipeline (bench/literal_run.py), each a fresh process, alternated.

    python -m bench.bench_run                              # CPU: CNN, both shapes, 2 repetitions
    python -m bench.bench_run --device cuda --net VGG16    # GPU: the published VGG16
    python -m bench.bench_run --shapes cifar100 --net VGG16 --n-train 5000 --n-test 1000

Shapes: `cifar100` = generated data shaped like CIFAR-100 on disk (50,000 train / 10,000 test
images, 100 classes, forget `rocket` = 500 images: the published headline task); `fashion` =
Fashion-MNIST (the Debian package's files, else generated in its format; forget class 0 =
6,000 images). Checkpoints are random initialisations written once into the cache (the work
does not depend on the weights), except the trained demo CNN on the real Fashion-MNIST.

JiT form: `published` (default) runs the tool with -jit_reference and the literal loop in the
published form (train mode, batch clamp, gradients never cleared), so both do the same
arithmetic and, for a model without dropout (CNN), reach the same metrics; `default` runs
both in the tool's default form. σ, η, N are the tool's table values for the network.
Wall time is measured around each process (interpreter start and imports included); the
split into data / JiT / evaluation comes from each process's own timers.
VGG16 on a CPU: its batch-1 passes take about 0.3 s per image here, so the literal pipeline
would take hours at these sizes: use --net CNN (the default on a CPU) or small --n-train.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import forget_full_class_main
from bench.common import (
    DEFAULT_CACHE,
    TRAINED_CNN,
    apply_threads,
    cifar100_shaped,
    emit,
    fashion_mnist,
    random_checkpoint,
    ratio,
    run_child,
    show_ratio,
    spread,
    write_json,
)
from unlearn.store import results

PAIRS = {"TestAcc": "acc_test", "RetainTestAcc": "acc_retain_test", "Df": "acc_forget_test",
         "MIA": "mia"}


def prepare(shape: str, args) -> dict:
    """Dataset, class, data folder and checkpoint of one shape."""
    cache = Path(args.cache)
    if shape == "cifar100":
        data_dir = cifar100_shaped(cache, args.n_train or 50_000, args.n_test or 10_000)
        return {"dataset": "Cifar100", "classes": 100, "forget": "rocket",
                "data_dir": str(data_dir), "data": "generated CIFAR-100-shaped data",
                "weights": str(random_checkpoint(cache, args.net, "Cifar100", 100)),
                "weights_note": "random init"}
    data_dir, text = fashion_mnist(cache, args.generated or args.quick,
                                   args.n_train or 60_000, args.n_test or 10_000)
    real = "generated" not in text
    if real and args.net == "CNN" and TRAINED_CNN.exists():
        weights, note = str(TRAINED_CNN), "trained demo CNN"
    else:
        weights, note = str(random_checkpoint(cache, args.net, "FashionMNIST", 10)), "random init"
    return {"dataset": "FashionMNIST", "classes": 10, "forget": "0", "data_dir": str(data_dir),
            "data": text, "weights": weights, "weights_note": note}


def warm_file_cache(setup: dict) -> None:
    """Read the data files and the checkpoint once, untimed, so that the first process timed
    (the tool's, in the first repetition) does not pay alone for reading them from disk."""
    files = [p for p in Path(setup["data_dir"]).rglob("*") if p.is_file()]
    for path in [*files, Path(setup["weights"])]:
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass


def tool_run(setup: dict, args, work: Path, rep: int) -> dict:
    jit = forget_full_class_main.JIT[args.net]
    store = work / f"tool-{rep}.jsonl"
    report = work / f"tool-{rep}.report.json"
    cli = ["-net", args.net, "-dataset", setup["dataset"], "-classes", str(setup["classes"]),
           "-method", "lipschitz_forgetting", "-forget_class", setup["forget"],
           "-weight_path", setup["weights"], "-data_dir", setup["data_dir"],
           "-results", str(store), "-seed", "0", "-sigma", str(jit["sigma"]),
           "-eta", str(jit["eta"]), "-n_samples", str(jit["n_samples"])]
    cli += ["-jit_reference"] if args.jit_form == "published" else []
    cli += ["-gpu"] if args.device == "cuda" else []
    wall = run_child([sys.executable, "-m", "bench.run_tool", "--report", str(report), "--",
                      *cli], args.timeout)
    row = results.read_rows(store)[-1]
    return {"wall_s": wall, "data_s": row["data_s"], "method_s": row["method_s"],
            "eval_s": row["eval_s"], "metrics": {k: row["metrics"][v] for k, v in PAIRS.items()},
            "peak_rss_mb": json.loads(report.read_text())["peak_rss_mb"]}


def literal_run(setup: dict, args, work: Path, rep: int) -> dict:
    jit = forget_full_class_main.JIT[args.net]
    out = work / f"literal-{rep}.json"
    cmd = [sys.executable, "-m", "bench.literal_run", "--dataset", setup["dataset"],
           "--classes", str(setup["classes"]), "--forget-class", setup["forget"],
           "--net", args.net, "--weight-path", setup["weights"], "--data-dir",
           setup["data_dir"], "--device", args.device, "--seed", "0",
           "--sigma", str(jit["sigma"]), "--eta", str(jit["eta"]),
           "--n-samples", str(jit["n_samples"]), "--jit-form", args.jit_form,
           "--noise", args.literal_noise, "--json", str(out)]
    wall = run_child(cmd, args.timeout)
    result = json.loads(out.read_text())
    return {"wall_s": wall, "data_s": result["data_s"], "method_s": result["method_s"],
            "eval_s": result["eval_s"], "metrics": result["metrics"],
            "peak_rss_mb": result["peak_rss_mb"], "n_forget": result["n_forget"],
            "n_train": result["n_train"], "n_test": result["n_test"]}


def bench_shape(shape: str, args) -> dict:
    started = time.perf_counter()
    setup = prepare(shape, args)
    warm_file_cache(setup)
    emit(f"  ({shape}: data and checkpoint ready in {time.perf_counter() - started:.0f} s)")
    runs: dict[str, list[dict]] = {"tool": [], "literal": []}
    with tempfile.TemporaryDirectory(prefix="bench_run_") as work:
        for rep in range(args.reps):
            order = ["tool", "literal"] if rep % 2 == 0 else ["literal", "tool"]
            for name in order:
                run = tool_run if name == "tool" else literal_run
                runs[name].append(run(setup, args, Path(work), rep))
                done = runs[name][-1]
                emit(f"  ({shape} repetition {rep + 1}, {name}: wall {done['wall_s']:.1f} s; "
                     f"data {done['data_s']:.1f}, JiT {done['method_s']:.1f}, evaluation "
                     f"{done['eval_s']:.1f} s)")
    lit = runs["literal"][-1]
    emit(f"\n== {shape}: {setup['data']}, {lit['n_train']} train / {lit['n_test']} test images, "
         f"forget {setup['forget']} = {lit['n_forget']} images; {args.net} "
         f"({setup['weights_note']}), JiT form {args.jit_form}, {args.reps} repetitions, "
         f"device {args.device}")
    walls = {name: [r["wall_s"] for r in rs] for name, rs in runs.items()}
    speedup = ratio(walls["literal"], walls["tool"])
    for name in runs:
        emit(f"  {name:8s} wall s {spread(walls[name])}")
    target = {"cifar100": " (target: >= 4 on this CPU, >= 10 on a GPU)"}.get(shape, "")
    emit(f"  literal / tool = {show_ratio(speedup)}{target}")
    emit("  median s     data      JiT  evaluation  other (start, imports, model load)")
    split = {}
    for name, rs in runs.items():
        parts = {key: statistics.median(r[key] for r in rs)
                 for key in ("data_s", "method_s", "eval_s", "wall_s")}
        parts["other_s"] = parts["wall_s"] - parts["data_s"] - parts["method_s"] - parts["eval_s"]
        split[name] = parts
        emit(f"  {name:8s} {parts['data_s']:8.1f} {parts['method_s']:8.1f} "
             f"{parts['eval_s']:11.1f} {parts['other_s']:8.1f}")
    tool_metrics = runs["tool"][-1]["metrics"]
    emit("  metrics: " + "; ".join(f"{k} tool {tool_metrics[k]:.4g} literal "
                                   f"{lit['metrics'][k]:.4g}" for k in PAIRS))
    emit(f"  peak memory MB: tool {runs['tool'][-1]['peak_rss_mb']:.0f}, literal "
         f"{lit['peak_rss_mb']:.0f}")
    return {"shape": shape, "setup": setup, "runs": runs, "literal_over_tool": speedup,
            "split_median_s": split}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--net", default=None, help="default: CNN on a CPU, VGG16 on CUDA")
    parser.add_argument("--shapes", default="cifar100,fashion")
    parser.add_argument("--n-train", type=int, default=None, help="generated data size")
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--generated", action="store_true",
                        help="generated Fashion-MNIST-shaped data even if the real one exists")
    parser.add_argument("--jit-form", choices=["published", "default"], default="published")
    parser.add_argument("--literal-noise", choices=["shared", "published"], default="shared",
                        help="literal JiT noise: the tool's draws (same metrics) or the "
                             "published per-repetition CPU draws (slower on a GPU)")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per process")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op CPU threads of both processes (default: torch's)")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--quick", action="store_true",
                        help="tests: CNN, CIFAR-100 shape 1,000/200, generated Fashion 300/50")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    args.net = args.net or ("VGG16" if args.device == "cuda" else "CNN")
    out = {"net": args.net, "device": args.device, "threads": args.threads, "shapes": []}
    emit(f"Whole-run benchmark: {args.net} on {args.device}"
         + (f", {args.threads} threads" if args.threads else ""))
    for shape in args.shapes.split(","):
        if args.quick:
            sizes = (1_000, 200) if shape == "cifar100" else (300, 50)
            args.n_train, args.n_test, args.reps = *sizes, 1
        out["shapes"].append(bench_shape(shape, args))
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()

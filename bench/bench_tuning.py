"""Tuning trials per minute on the CPU, JiT against finetune, measured in one run.

    python -m bench.bench_tuning                 # 1,000 generated Fashion-MNIST images, 3 reps
    python -m bench.bench_tuning --n-train 300 --reps 2
    python -m bench.bench_tuning --methods finetune scrub ssd_tuning   # any tunable methods
    python -m bench.bench_tuning --compare-workers 12    # one study: 1 worker against 2

Generated images (the real format, random pixels) and two 1-epoch CNNs (original, retrained
without Trouser) are written to the cache once. One TuningContext is loaded, as a study's
worker loads it once; then one trial (the method from the original weights and the validation
scoring, exactly `TuningContext.run`) of each method runs alternately per repetition. Reported:
the set-up a worker pays once, each method's seconds per trial and trials per minute, and the
finetune/JiT ratio of seconds per trial (when both are measured). Optuna's own book-keeping per
trial (a few SQLite writes) is not included.

--compare-workers N runs one finetune study of N trials through scripts/tune.py, first with one
worker process, then (on a fresh storage) with two sharing it, and reports each one's trials
per minute of wall time (process start-up and set-up included, as a real study pays them) and
the ratio two/one; the issue asks ≥ 1.7 on a 2-core CPU. Workers run with 1 thread each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import torch

from bench.common import (
    DEFAULT_CACHE,
    ROOT,
    alternate,
    apply_threads,
    describe_machine,
    emit,
    ratio,
    show_ratio,
    write_json,
)

HYPERPARAMETERS = {"lipschitz_forgetting": dict(sigma=0.5, eta=5e-5, n_samples=25),
                   "finetune": dict(lr=0.02, epochs=1)}


def models(cache, n_train: int):
    """(data_dir, original, retrained): generated data and two 1-epoch CNNs, written once."""
    import sys
    sys.path.insert(0, str(ROOT))
    import pretrain_model
    from tests.data_files import write_fashion_mnist

    root = cache / f"tuning-{n_train}"
    data = root / "fashion"
    original, retrained = root / "original.pth", root / "retrained.pth"
    if not retrained.exists():
        write_fashion_mnist(data, n_train=n_train, n_test=100)
        common = ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-epochs", "1",
                  "-b", "64", "-data_dir", str(data)]
        pretrain_model.main([*common, "-out", str(original)])
        pretrain_model.main([*common, "-forget_class", "Trouser", "-out", str(retrained)])
    return data, original, retrained


def worker_command(data, original, retrained, storage: str, trials: int, out) -> list[str]:
    """One tuning worker of the finetune study (the same command for every worker)."""
    return [sys.executable, str(ROOT / "scripts" / "tune.py"), "--task", "full_class",
            "--dataset", "FashionMNIST", "--net", "CNN", "--method", "finetune",
            "--trials", str(trials), "--storage", storage, "--weights", str(original),
            "--retrained", str(retrained), "--tune-class", "Trouser", "--data-dir", str(data),
            "--tuned-dir", str(out / "tuned"), "--plot-dir", str(out / "plots"),
            "--space-only", "--space", "lr=log_float:0.001:0.1", "--space", "epochs=int:1:1"]


def study_per_minute(command: list[str], workers: int) -> float:
    """Trials per minute of wall time with `workers` copies of `command` on one study."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    running = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) for _ in
               range(workers)]
    if any(p.wait() != 0 for p in running):
        raise RuntimeError("a tuning worker failed")
    trials = int(command[command.index("--trials") + 1])
    return 60.0 * trials / (time.perf_counter() - started)


def compare_workers(data, original, retrained, trials: int, cache) -> dict:
    """One worker against two on studies of `trials` trials, each on a fresh storage."""
    per_minute = {}
    for workers in (1, 2):
        out = cache / f"workers-{workers}-{time.time_ns()}"
        out.mkdir(parents=True)
        command = worker_command(data, original, retrained, f"sqlite:///{out / 'study.db'}",
                                 trials, out)
        per_minute[workers] = study_per_minute(command, workers)
        emit(f"{workers} worker(s): {per_minute[workers]:.1f} trials per minute")
    emit(f"two workers / one: {per_minute[2] / per_minute[1]:.2f}× (issue 20 asks ≥ 1.7)")
    return {"workers_per_minute": per_minute, "two_over_one": per_minute[2] / per_minute[1]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", nargs="+", default=list(HYPERPARAMETERS),
                        help="methods to time (their declared defaults where not listed in "
                             "HYPERPARAMETERS)")
    parser.add_argument("--compare-workers", type=int, default=0, metavar="TRIALS",
                        help="instead: one study of TRIALS trials with 1, then 2 workers")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    from pathlib import Path

    from unlearn.tuning.context import TuningContext, TuningSetup
    from unlearn.tuning.run_tuning import fixed_hyperparameters
    from unlearn.tuning.split_gate import blocked_test_split

    data, original, retrained = models(Path(args.cache), args.n_train)
    if args.compare_workers:
        write_json(args.json, {**compare_workers(data, original, retrained,
                                                 args.compare_workers, Path(args.cache)),
                               "n_train": args.n_train})
        return 0
    device = torch.device("cpu")
    emit(describe_machine(device))
    setup = TuningSetup(task="full_class", dataset="FashionMNIST", net="CNN", num_classes=10,
                        weights=str(original), retrained=str(retrained), tune_class="Trouser",
                        data_dir=str(data))
    with blocked_test_split():
        started = time.perf_counter()
        context = TuningContext(setup, device)
        setup_s = time.perf_counter() - started
        emit(f"set-up once per worker (data, original, retrained scores): {setup_s:.2f} s; "
             f"forget {len(context.split.forget)}, retain {len(context.split.retain)} images")
        settings = {m: {**fixed_hyperparameters("full_class", "FashionMNIST", "CNN", m, {}, 128),
                        **HYPERPARAMETERS.get(m, {})} for m in args.methods}
        times = alternate({m: (lambda m=m: context.run(m, settings[m])) for m in args.methods},
                          args.reps, device)
    per_minute = {m: 60.0 / statistics.median(t) for m, t in times.items()}
    for method, seconds in times.items():
        emit(f"{method}: {statistics.median(seconds):.2f} s per trial, "
             f"{per_minute[method]:.1f} trials per minute")
    finetune_over_jit = None
    if {"finetune", "lipschitz_forgetting"} <= set(times):
        finetune_over_jit = ratio(times["finetune"], times["lipschitz_forgetting"])
        emit(f"finetune / JiT seconds per trial: {show_ratio(finetune_over_jit)}")
    write_json(args.json, {"setup_s": setup_s, "times": times, "per_minute": per_minute,
                           "finetune_over_jit": finetune_over_jit, "n_train": args.n_train})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

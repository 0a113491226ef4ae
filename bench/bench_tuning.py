"""Tuning trials per minute on the CPU, JiT against finetune, measured in one run.

    python -m bench.bench_tuning                 # 1,000 generated Fashion-MNIST images, 3 reps
    python -m bench.bench_tuning --n-train 300 --reps 2

Generated images (the real format, random pixels) and two 1-epoch CNNs (original, retrained
without Trouser) are written to the cache once. One TuningContext is loaded, as a study's
worker loads it once; then one trial (the method from the original weights and the validation
scoring, exactly `TuningContext.run`) of each method runs alternately per repetition. Reported:
the set-up a worker pays once, each method's seconds per trial and trials per minute, and the
finetune/JiT ratio of seconds per trial. Optuna's own book-keeping per trial (a few SQLite
writes) is not included.
"""

from __future__ import annotations

import argparse
import statistics
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    from pathlib import Path

    from unlearn.tuning.context import TuningContext, TuningSetup
    from unlearn.tuning.split_gate import blocked_test_split

    data, original, retrained = models(Path(args.cache), args.n_train)
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
        times = alternate({m: (lambda m=m: context.run(m, HYPERPARAMETERS[m]))
                           for m in HYPERPARAMETERS}, args.reps, device)
    per_minute = {m: 60.0 / statistics.median(t) for m, t in times.items()}
    for method, seconds in times.items():
        emit(f"{method}: {statistics.median(seconds):.2f} s per trial, "
             f"{per_minute[method]:.1f} trials per minute")
    finetune_over_jit = ratio(times["finetune"], times["lipschitz_forgetting"])
    emit(f"finetune / JiT seconds per trial: {show_ratio(finetune_over_jit)}")
    write_json(args.json, {"setup_s": setup_s, "times": times, "per_minute": per_minute,
                           "finetune_over_jit": finetune_over_jit, "n_train": args.n_train})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

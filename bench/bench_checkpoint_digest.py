"""What checking a checkpoint's weights digest adds to every load, measured in one run.

    python -m bench.bench_checkpoint_digest                  # ResNet18 (100 classes), 7 reps
    python -m bench.bench_checkpoint_digest --net VGG16 --reps 3

A randomly initialised model is saved once with `save_checkpoint` (which records the digest);
then `load_checkpoint` reads it with the check and without it (`verify=False`), alternately.
Reported: each variant's median seconds and the ratio with/without. The file is read from the
page cache after the first load, so the ratio is the check's worst case: from a cold disk or a
shared filesystem the read costs more and the SHA-256 pass a smaller share.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import torch

from bench.common import (
    alternate,
    apply_threads,
    describe_machine,
    emit,
    ratio,
    show_ratio,
    write_json,
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", default="ResNet18")
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="the compact CNN, 3 reps")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    from models import build_model
    from models.checkpoint import load_checkpoint, save_checkpoint

    net, reps = ("CNN", 3) if args.quick else (args.net, args.reps)
    device = torch.device("cpu")
    emit(describe_machine(device))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.pth"
        save_checkpoint(path, build_model(net, args.classes),
                        {"arch": net, "num_classes": args.classes, "dataset": "Cifar100"})
        size_mb = os.path.getsize(path) / 2**20
        times = alternate({"with check": lambda: load_checkpoint(path),
                           "without": lambda: load_checkpoint(path, verify=False)},
                          reps, device)
    for name, seconds in times.items():
        emit(f"{net} ({size_mb:.0f} MB) load {name}: {statistics.median(seconds):.3f} s")
    cost = ratio(times["with check"], times["without"])
    emit(f"load with / without the digest check: {show_ratio(cost)}")
    write_json(args.json, {"net": net, "size_mb": size_mb, "times": times, "ratio": cost})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

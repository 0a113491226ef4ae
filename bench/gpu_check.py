"""One GPU check: every benchmark on CUDA at sizes meant to finish within 8 minutes on an H100,
output to a file; `--dry` runs the same sequence on the CPU at tiny sizes (CI keeps it working).

    PYTHONUNBUFFERED=1 python3 -m bench.gpu_check                 # writes $OUT/gpu_check.txt
    python -m bench.gpu_check --out results/gpu_check.txt --budget 420
    python -m bench.gpu_check --dry --out /tmp/dry.txt

Steps, in order of importance; each is a child process with a time limit, and a step that
would start with too little of the budget left is skipped and reported as skipped, so the
check always ends inside the budget with what it measured so far written out (the text file
is appended to as the steps run; each step also writes its numbers as JSON beside it):
  1 jit      VGG16 32 px B=128 N=25 and a small ViT (hidden 192, 6 layers) 224 px, 5 reps
  2 ddp      one pretraining epoch (VGG16, 50,000 images, global batch 512) with
             DistributedDataParallel on every visible GPU vs one GPU (dry: CNN, 1 vs 2 gloo
             processes on the CPU)
  3 eval     VGG16, Fashion-MNIST (or generated in its format), first 10,000 train / 2,000 test
  4 run      whole run, VGG16, generated CIFAR-100-shaped data (50,000/10,000, forget 500),
             one repetition (two repetitions did not finish within 240 s on an H100)
  5 memory   tiny ViT 224 px full-class run vs the literal lists (1,000 and 2,000 images)
  6 bf16     autocast speed-up and movement, VGG16 (random init), 20,000 train images
  7 run      whole run, VGG16, Fashion-MNIST (forget 6,000), one repetition
Data and random-init checkpoints are generated into bench/.cache on the machine (about 1 GB
with the VGG16 checkpoints); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, child_env

# (name, module, CUDA arguments, dry arguments, time cap in seconds on CUDA)
STEPS = [
    ("jit", "bench.bench_jit", ["--device", "cuda"], ["--quick"], 90),
    ("ddp", "bench.bench_ddp",
     ["--device", "cuda", "--n-train", "50000", "--batch", "512"], ["--quick"], 90),
    ("eval", "bench.bench_eval",
     ["--device", "cuda", "--net", "VGG16", "--limit-train", "10000", "--limit-test", "2000",
      "--reps", "2"], ["--quick"], 120),
    ("run_cifar100", "bench.bench_run",
     ["--device", "cuda", "--net", "VGG16", "--shapes", "cifar100", "--reps", "1"],
     ["--quick", "--shapes", "cifar100"], 210),
    ("memory", "bench.bench_memory", ["--device", "cuda", "--literal-items", "1000,2000"],
     ["--quick"], 150),
    ("bf16", "bench.bench_bf16",
     ["--device", "cuda", "--net", "VGG16", "--limit-train", "20000"], ["--quick"], 60),
    ("run_fashion", "bench.bench_run",
     ["--device", "cuda", "--net", "VGG16", "--shapes", "fashion", "--reps", "1"],
     ["--quick", "--shapes", "fashion"], 150),
]
MIN_START_S = 30  # do not start a step with less budget than this left
# A dry run checks that every step runs, not how fast: on a shared 2-core CPU a step (two gloo
# processes starting torch, for one) can take several times its CUDA cap.
DRY_CAP_FACTOR = 4


def run_step(name: str, cmd: list[str], log, limit: float) -> str:
    """Run one step, streaming its output into the log; returns 'ok', 'failed' or 'timeout'."""
    log.write(f"\n##### {name}: {' '.join(cmd[1:])} (limit {limit:.0f} s)\n")
    log.flush()
    started = time.perf_counter()
    env = child_env()
    env["PYTHONUNBUFFERED"] = "1"
    # its own process group: a step's worker processes (the DDP step forks its ranks) go with it
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        code = process.wait(timeout=limit)
        status = "ok" if code == 0 else f"failed (exit {code})"
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        status = "timeout"
    log.write(f"##### {name}: {status} after {time.perf_counter() - started:.0f} s\n")
    log.flush()
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None,
                        help="output text file (default: $OUT/gpu_check.txt, else "
                             "bench/.cache/gpu_check.txt); JSON files go beside it")
    parser.add_argument("--dry", action="store_true", help="CPU, tiny sizes (for CI)")
    parser.add_argument("--budget", type=float, default=450, help="seconds for all steps")
    parser.add_argument("--steps", default=None, help="comma-separated subset of step names")
    parser.add_argument("--cache", default=None,
                        help="folder for generated data and checkpoints (default bench/.cache)")
    args = parser.parse_args(argv)
    if args.out:
        out = Path(args.out)
    elif os.environ.get("OUT"):
        out = Path(os.environ["OUT"]) / "gpu_check.txt"
    else:
        out = ROOT / "bench" / ".cache" / "gpu_check.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.dry:
        import torch

        if not torch.cuda.is_available():
            print("error: CUDA is not available here; use --dry for the CPU check",
                  file=sys.stderr)
            return 2
    wanted = set(args.steps.split(",")) if args.steps else None
    started = time.perf_counter()
    statuses = {}
    with open(out, "w") as log:
        mode = "dry run (CPU, tiny sizes)" if args.dry else f"CUDA, budget {args.budget:.0f} s"
        log.write(f"GPU check, {mode}, {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        log.flush()
        if not args.dry:
            subprocess.run(["nvidia-smi", "-L"], stdout=log, stderr=subprocess.DEVNULL,
                           check=False)
        for name, module, cuda_args, dry_args, cap in STEPS:
            if wanted is not None and name not in wanted:
                continue
            left = args.budget - (time.perf_counter() - started)
            if not args.dry and left < MIN_START_S:
                statuses[name] = "skipped (budget spent)"
                log.write(f"\n##### {name}: skipped, {left:.0f} s of the budget left\n")
                continue
            extra = dry_args + ["--threads", "1"] if args.dry else list(cuda_args)
            if args.cache and module != "bench.bench_jit":
                extra += ["--cache", args.cache]
            cmd = [sys.executable, "-m", module, *extra,
                   "--json", str(out.with_name(f"{name}.json"))]
            statuses[name] = run_step(name, cmd, log,
                                      cap * DRY_CAP_FACTOR if args.dry else min(cap, left))
        total = time.perf_counter() - started
        log.write(f"\n##### summary after {total:.0f} s: "
                  + ", ".join(f"{k} {v}" for k, v in statuses.items()) + "\n")
    print(out.read_text())
    return 0 if all(v == "ok" for v in statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Shared pieces of the benchmarks: A/B timing, ratio summaries, cached inputs, peak memory.

Every benchmark reports ratios measured in one run: the variants run alternately (A, B, ...,
then reversed order in the next repetition, so slow drift of a shared machine hits both), and
each ratio is given as median and the min-max of the per-repetition ratios.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent  # the repository root
DEFAULT_CACHE = ROOT / "bench" / ".cache"  # generated data and random-init checkpoints
FASHION_MNIST_SYSTEM = Path("/usr/share/datasets/fashion-mnist")
TRAINED_CNN = ROOT / "checkpoints" / "CNN-FashionMNIST.pth"  # written by `make demo`


def emit(text: str = "") -> None:
    """Print one report line at once (reports are read while long benchmarks run)."""
    print(text, flush=True)


def resolve_device(name: str) -> torch.device:
    """'cpu', 'cuda' or 'auto' (CUDA when present) -> a torch.device; exits if CUDA is missing."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("error: --device cuda asked for, but CUDA is not available here")
    return torch.device(name)


def apply_threads(threads: int | None) -> None:
    """Use `threads` intra-op threads here and in child processes (None: torch's default).
    On a shared CPU, one thread avoids the spin-wait stalls that hit many small operations
    (batch-1 inference) far harder than large batched ones, so the ratios are fairer."""
    if threads:
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        os.environ["MKL_NUM_THREADS"] = str(threads)


def describe_machine(device: torch.device) -> str:
    """One line: the processor or GPU, thread count and library versions."""
    threads = torch.get_num_threads()
    if device.type == "cuda":
        where = f"GPU {torch.cuda.get_device_name(device)}"
    else:
        where = f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    return f"{where}; torch {torch.__version__}, {threads} intra-op threads"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of one call of fn (GPU work finished before the clock stops)."""
    synchronize(device)
    started = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - started


def alternate(variants: dict[str, Callable[[], object]], reps: int,
              device: torch.device) -> dict[str, list[float]]:
    """Run every variant once per repetition, in forward then reversed order alternately."""
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        for name in (names if rep % 2 == 0 else names[::-1]):
            times[name].append(timed(variants[name], device))
    return times


def spread(values: list[float]) -> str:
    """'median (min-max)' of a list of numbers, 3 significant digits."""
    return f"{statistics.median(values):.3g} ({min(values):.3g}-{max(values):.3g})"


def ratio(slow: list[float], fast: list[float]) -> dict[str, float]:
    """slow/fast: median ratio, and min/max of the per-repetition ratios (paired by rep)."""
    paired = [s / f for s, f in zip(slow, fast)]
    return {"median": statistics.median(slow) / statistics.median(fast),
            "min": min(paired), "max": max(paired)}


def show_ratio(value: dict[str, float]) -> str:
    return f"{value['median']:.2f}x (per repetition {value['min']:.2f}-{value['max']:.2f}x)"


def write_json(path: str | None, content: dict) -> None:
    """Write a benchmark's numbers as JSON when a path was given (for gpu_check and tests)."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(content, indent=1, default=str))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (VmHWM; ru_maxrss where /proc is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB -> MB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


# ---------------------------------------------------------------- cached inputs


def cifar100_shaped(cache: Path, n_train: int = 50_000, n_test: int = 10_000) -> Path:
    """A folder holding `cifar-100-python/` with random pixels in the official format:
    fine labels cycle through the 100 classes (n_train/100 train images per class, so 500 of
    `rocket` at the default size). Written once per size; returns the data_dir."""
    sys.path.insert(0, str(ROOT))  # tests/ helpers import as `tests.data_files`
    from tests.data_files import write_cifar100

    root = Path(cache) / f"cifar100-{n_train}-{n_test}"
    done = root / "complete"
    if not done.exists():
        write_cifar100(root, n_train=n_train, n_test=n_test, seed=0)
        done.touch()
    return root


def fashion_mnist(cache: Path, generated: bool = False, n_train: int = 60_000,
                  n_test: int = 10_000) -> tuple[Path, str]:
    """(data_dir, description) of Fashion-MNIST: the Debian package's files when installed
    (and `generated` is False), else random pixels in the same idx format, 10 classes cycling
    (6,000 train images per class at the default size), written once."""
    if not generated and (FASHION_MNIST_SYSTEM / "train-images-idx3-ubyte.gz").exists():
        return FASHION_MNIST_SYSTEM, f"Fashion-MNIST ({FASHION_MNIST_SYSTEM})"
    sys.path.insert(0, str(ROOT))
    from tests.data_files import write_fashion_mnist

    root = Path(cache) / f"fashion-{n_train}-{n_test}"
    done = root / "complete"
    if not done.exists():
        write_fashion_mnist(root, n_train=n_train, n_test=n_test, seed=0, compress=False)
        done.touch()
    return root, f"generated Fashion-MNIST-shaped data, random pixels ({n_train}/{n_test})"


def subset(images, limit: int | None):
    """The first `limit` samples of a datasets.ImageSet (all when None), as the literal's
    `limit` takes them."""
    from unlearn.data import datasets

    if limit is None:
        return images
    return datasets.ImageSet(images.images[:limit], images.labels[:limit],
                             images.fine_labels[:limit], images.class_names)


def model_with_weights(net: str, num_classes: int, path: str | None,
                       device: torch.device) -> torch.nn.Module:
    """`net` on `device` with the checkpoint at `path`, or with seed-0 random weights when
    `path` is None (timing does not depend on the weights)."""
    from models import build_model
    from models.checkpoint import load_checkpoint, load_into

    torch.manual_seed(0)
    model = build_model(net, num_classes)
    if path:
        state, _ = load_checkpoint(path, arch=net, num_classes=num_classes)
        load_into(model, state, path)
    return model.to(device)


def random_checkpoint(cache: Path, net: str, dataset: str, num_classes: int,
                      model_options: dict | None = None, tag: str = "") -> Path:
    """A checkpoint of a randomly initialised model (seed 0), written once. Timing needs no
    training: the work per image does not depend on the weights."""
    from models import build_model
    from models.checkpoint import save_checkpoint

    path = Path(cache) / f"random-{net}{tag}-{dataset}-{num_classes}.pth"
    if not path.exists():
        torch.manual_seed(0)
        model = build_model(net, num_classes, **(model_options or {}))
        meta = {"arch": net, "num_classes": num_classes, "dataset": dataset,
                "note": "random initialisation, for benchmarks only",
                "model_options": dict(model_options or {})}
        save_checkpoint(path, model, meta)
    return path


def child_env() -> dict[str, str]:
    """Environment of benchmark subprocesses: repo importable, no wandb, no hub downloads."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("WANDB_MODE", "disabled")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def run_child(cmd: list[str], timeout: float | None) -> float:
    """Wall seconds of one benchmark process run from the repository root; exits with its
    stderr if it fails."""
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True,
                          timeout=timeout)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(cmd[:4])} ... failed ({done.returncode}):\n"
                 f"{done.stderr[-3000:]}")
    return wall

"""One full-class run of the demo's CNN through `forget_full_class_main.py`, as a user would
start it, and the row it recorded: what the benchmarks that time whole methods read."""

from __future__ import annotations

from pathlib import Path

import forget_full_class_main
from unlearn.store import results


def full_class_row(method: str, weights: str, forget_class: str, out: Path, *,
                   seed: int = 0, data_dir: str | None = None,
                   extra: list[str] | tuple[str, ...] = ()) -> dict:
    """Run `method` on the CNN at `weights` (Fashion-MNIST, ten classes), forgetting
    `forget_class`, recording into `out`; returns the recorded row (exits on a failed run)."""
    argv = ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-method", method,
            "-forget_class", forget_class, "-weight_path", weights, "-results", str(out),
            "-seed", str(seed), *extra]
    if data_dir:
        argv += ["-data_dir", data_dir]
    code = forget_full_class_main.main(argv)
    if code != 0:
        raise SystemExit(f"error: {method} exited with {code}")
    return results.read_rows(out)[-1]

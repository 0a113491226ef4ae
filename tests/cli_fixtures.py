"""Shared set-up for the entry-point tests: tiny data on disk, tiny pretrained CNN checkpoints,
and a runner that calls an entry point's `main(argv)` as a user's shell would.

Everything is small enough for one CPU thread: CIFAR-10 100/20 images, CIFAR-100 (and the
CIFAR-20 view of it) 200/100, Fashion-MNIST (and its four-superclass view) 30/10; every
checkpoint is the compact CNN after one epoch of batch 32.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from data_files import write_cifar10, write_cifar100, write_fashion_mnist

import pretrain_model
from unlearn.store import results

# Number of task classes of each dataset the tests train a CNN for.
TINY_DATASETS = {"Cifar10": 10, "Cifar20": 20, "Cifar100": 100, "FashionMNIST": 10,
                 "FashionMNIST4": 4}
FASHION_DATASETS = ("FashionMNIST", "FashionMNIST4")


@dataclass
class Outcome:
    """What a user sees of one command: exit code, stdout, stderr."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def invoke(main: Callable[[list[str]], int], argv: list[str],
           capsys: pytest.CaptureFixture) -> Outcome:
    """Run `main(argv)` in-process and capture what it prints.

    Logging is set up as in a fresh process: the root logger is emptied for the call, so the
    entry point's `logging.basicConfig` really installs its stderr handler (pytest's own
    capture handlers would otherwise make it a no-op and hide log lines from stderr).
    argparse's `sys.exit(2)` becomes the exit code; any other exception propagates.
    """
    capsys.readouterr()  # drop whatever earlier set-up printed
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers = []
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


@dataclass
class World:
    """Tiny data and trained checkpoints shared by the tests of one module."""

    root: Path  # where the checkpoints were trained (their default checkpoints/ folder)
    cifar: Path  # -data_dir holding cifar-10-batches-py and cifar-100-python
    fashion: Path  # -data_dir holding the four Fashion-MNIST idx .gz files
    checkpoints: dict[str, Path] = field(default_factory=dict)  # dataset -> CNN checkpoint

    def data_dir(self, dataset: str) -> str:
        return str(self.fashion if dataset in FASHION_DATASETS else self.cifar)

    def weights(self, dataset: str) -> str:
        return str(self.checkpoints[dataset])


def write_tiny_data(root: Path) -> tuple[Path, Path]:
    """(CIFAR data_dir, Fashion-MNIST data_dir) under `root`."""
    cifar = root / "cifar"
    write_cifar10(cifar)
    write_cifar100(cifar)
    fashion = write_fashion_mnist(root / "fashion")
    return cifar, fashion


def pretrain_args(world: World, dataset: str, *extra: str) -> list[str]:
    """The published pretrain command for the CNN on `dataset`, shortened to one epoch."""
    return ["-net", "CNN", "-dataset", dataset, "-classes", str(TINY_DATASETS[dataset]),
            "-epochs", "1", "-b", "32", "-data_dir", world.data_dir(dataset), *extra]


def make_world(root: Path, names: tuple[str, ...] = tuple(TINY_DATASETS)) -> World:
    """Write the tiny data and pretrain a CNN for each of `names`, in `root` as the working
    directory (so the default checkpoints/<net>-<dataset>.pth lands there)."""
    cifar, fashion = write_tiny_data(root)
    world = World(root=root, cifar=cifar, fashion=fashion)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for name in names:
            code = pretrain_model.main(pretrain_args(world, name))
            assert code == 0, f"pretraining the tiny CNN on {name} failed"
            world.checkpoints[name] = root / "checkpoints" / f"CNN-{name}.pth"
            assert world.checkpoints[name].is_file()
    return world


def rows(path: Path | str) -> list[dict]:
    """The result rows recorded in a results file (none when it does not exist)."""
    return results.read_rows(path)


def file_state(path: Path | str) -> bytes | None:
    """A results file's bytes, or None when it does not exist (to prove nothing was written)."""
    path = Path(path)
    return path.read_bytes() if path.exists() else None


def one_error_line(outcome: Outcome, *mentions: str) -> str:
    """Assert the bad-input contract: exit code 2 and one stderr line, 'error: ...', naming
    every one of `mentions`. Returns the line."""
    assert outcome.code == 2, outcome
    assert len(outcome.err_lines) == 1, outcome.err_lines
    line = outcome.err_lines[0]
    assert line.startswith("error: ")
    for text in mentions:
        assert text in line, (text, line)
    return line

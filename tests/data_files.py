"""Writers of tiny datasets in the real on-disk formats, for tests.

Each writer takes a folder, writes the files the real dataset has there (same names, same
encodings) and returns that folder, ready to pass as `data_dir`. Pixels are deterministic per
seed and never 0 (so zero padding is visible); labels cycle through every class.
"""

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from unlearn.data.datasets import CIFAR10_NAMES, CIFAR20_NAMES, CIFAR100_NAMES

# Official CIFAR-100 coarse label of each fine class, written out independently of
# datasets.COARSE_MAP so the loader's mapping is checked against a second statement of it.
CIFAR100_COARSE_OF_FINE = [
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13, 15,
    3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4,
    2, 0, 17, 4, 18, 17, 10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
]


def _pixels(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(1, 256, size=shape, dtype=np.uint8)


def _dump(path: Path, content: dict) -> None:
    # Protocol 2 and bytes keys, like the official Python 2 pickles read back with bytes keys.
    with open(path, "wb") as f:
        pickle.dump(content, f, protocol=2)


def write_cifar10(root: Path, n_per_batch: int = 20, n_test: int = 20, seed: int = 0,
                  with_meta: bool = True) -> Path:
    """root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        n = n_test if name == "test_batch" else n_per_batch
        _dump(folder / name, {
            b"batch_label": name.encode(),
            b"labels": [(i + k) % 10 for k in range(n)],
            b"data": _pixels(rng, (n, 3072)),
            b"filenames": [f"{name}_{k}.png".encode() for k in range(n)],
        })
    if with_meta:
        _dump(folder / "batches.meta", {b"num_cases_per_batch": n_per_batch, b"num_vis": 3072,
                                        b"label_names": [n.encode() for n in CIFAR10_NAMES]})
    return Path(root)


def write_cifar100(root: Path, n_train: int = 200, n_test: int = 100, seed: int = 0,
                   with_meta: bool = True, with_coarse: bool = True) -> Path:
    """root/cifar-100-python/{train, test, meta}; fine labels cycle 0..99 (train from 0, test
    from 50), coarse labels are the official ones."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, n, start in (("train", n_train, 0), ("test", n_test, 50)):
        fine = [(start + k) % 100 for k in range(n)]
        content = {b"batch_label": name.encode(), b"fine_labels": fine,
                   b"data": _pixels(rng, (n, 3072)),
                   b"filenames": [f"{name}_{k}.png".encode() for k in range(n)]}
        if with_coarse:
            content[b"coarse_labels"] = [CIFAR100_COARSE_OF_FINE[f] for f in fine]
        _dump(folder / name, content)
    if with_meta:
        _dump(folder / "meta", {b"fine_label_names": [n.encode() for n in CIFAR100_NAMES],
                                b"coarse_label_names": [n.encode() for n in CIFAR20_NAMES]})
    return Path(root)


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    # idx: two zero bytes, type 0x08 (unsigned byte), ndim, then big-endian uint32 sizes.
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(payload)
    else:
        Path(path).write_bytes(payload)


def write_fashion_mnist(root: Path, n_train: int = 30, n_test: int = 10, seed: int = 0,
                        compress: bool = True) -> Path:
    """root/{train,t10k}-{images-idx3,labels-idx1}-ubyte(.gz): 28x28 grey images."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(root / f"{prefix}-images-idx3-ubyte", _pixels(rng, (n, 28, 28)), compress)
        _write_idx(root / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, compress)
    return root


def write_pins(root: Path, n_identities: int = 3, per_identity: int = 5, seed: int = 0) -> Path:
    """root/pins_Person <i>/Person <i><j>.png, RGB PNGs of varying sizes (the Kaggle set's
    layout: one folder per identity)."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for i in range(n_identities):
        folder = root / f"pins_Person {i}"
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(per_identity):
            pixels = _pixels(rng, (40 + 3 * j, 48, 3))  # H x W x RGB
            Image.fromarray(pixels).save(folder / f"Person {i}{j}.png")
    return root

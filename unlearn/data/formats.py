"""On-disk dataset readers: find the files, decode them once into uint8 tensors.

Formats (the official ones, laid out as torchvision lays them out):
- Fashion-MNIST: idx-ubyte files, gzipped or not (`train-images-idx3-ubyte.gz`, ...).
- CIFAR-10/100: the "python version" pickles (`cifar-10-batches-py/data_batch_1..5`,
  `test_batch`, `batches.meta`; `cifar-100-python/train`, `test`, `meta`). Read with pickle
  directly, never through a torchvision dataset object.
- Pins faces: an image folder, one sub-folder per identity, class = sorted folder order.

Every reader raises `UsageError` with the places it looked and how to get the data. Nothing is
downloaded unless the environment variable UNLEARN_ALLOW_DOWNLOAD=1 is set.
"""

import gzip
import logging
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from unlearn.errors import UsageError

log = logging.getLogger(__name__)

# Where `apt-get install dataset-fashion-mnist` puts the four idx files.
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR100_FOLDER = "cifar-100-python"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
PINS_FOLDER = "105_classes_pins_dataset"
PINS_URL = "https://www.kaggle.com/datasets/hereisburak/pins-face-recognition"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# idx type byte 0x08 = unsigned byte, the only type the MNIST family uses.
_IDX_UBYTE = 0x08


def downloads_allowed() -> bool:
    """True when the user opted in to network downloads (never the case in tests)."""
    return os.environ.get("UNLEARN_ALLOW_DOWNLOAD") == "1"


def _places(paths: list[Path]) -> str:
    return ", ".join(str(p.absolute()) for p in paths)


# ---------------------------------------------------------------- Fashion-MNIST (idx-ubyte)


def read_idx(path: Path) -> np.ndarray:
    """Decode one idx-ubyte file (gzip or plain): big-endian magic 0x0000 0x08 ndim, then ndim
    big-endian uint32 sizes, then the bytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise UsageError(f"could not read {path}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _IDX_UBYTE:
        raise UsageError(f"{path} is not an idx-ubyte file (bad magic number)")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise UsageError(f"{path} is truncated: header says {shape}, found {data.size} bytes")
    return data.reshape(shape)


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _has_fashion_mnist(folder: Path) -> bool:
    stems = FASHION_MNIST_FILES[True] + FASHION_MNIST_FILES[False]
    return all(_idx_file(folder, s) is not None for s in stems)


def _download_fashion_mnist(target: Path) -> None:
    from torchvision.datasets import FashionMNIST
    from torchvision.datasets.utils import download_and_extract_archive

    log.info("downloading Fashion-MNIST into %s", target)
    for filename, md5 in FashionMNIST.resources:
        url = FashionMNIST.mirrors[0] + filename
        download_and_extract_archive(url, str(target), filename=filename, md5=md5)


def find_fashion_mnist(data_dir: str | None) -> Path:
    """The folder holding the four idx files. With `data_dir`: that folder itself or
    torchvision's `FashionMNIST/raw` below it, and nowhere else (a run records its data_dir,
    so another copy must never stand in for it). Without: the Debian package folder, then
    `./data/FashionMNIST/raw`. Last, a torchvision download when UNLEARN_ALLOW_DOWNLOAD=1."""
    root = Path(data_dir) if data_dir is not None else Path("data")
    if data_dir is not None:
        candidates = [root, root / "FashionMNIST" / "raw"]
    else:
        candidates = [FASHION_MNIST_SYSTEM_DIR, root / "FashionMNIST" / "raw"]
    for folder in candidates:
        if _has_fashion_mnist(folder):
            log.debug("Fashion-MNIST from %s", folder)
            return folder
    if downloads_allowed():
        target = root / "FashionMNIST" / "raw"
        _download_fashion_mnist(target)
        return target
    if data_dir is not None:
        raise UsageError(
            f"Fashion-MNIST not found in --data-dir {data_dir} (an explicit data folder is "
            f"never replaced by another copy): looked for train-/t10k-images-idx3-ubyte(.gz) and "
            f"labels in {_places(candidates)}; point --data-dir at a folder holding the four "
            f"files, set UNLEARN_ALLOW_DOWNLOAD=1 to download them there, or leave it out to use "
            f"{FASHION_MNIST_SYSTEM_DIR} (`apt-get install dataset-fashion-mnist`)"
        )
    raise UsageError(
        f"Fashion-MNIST not found: looked for train-/t10k-images-idx3-ubyte(.gz) and labels in "
        f"{_places(candidates)}; install it with `apt-get install dataset-fashion-mnist`, point "
        f"--data-dir at a folder holding the four files, or set UNLEARN_ALLOW_DOWNLOAD=1"
    )


def read_fashion_mnist(folder: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """images uint8 [N, 28, 28], labels int64 [N]."""
    image_stem, label_stem = FASHION_MNIST_FILES[train]
    images = read_idx(_idx_file(folder, image_stem))
    labels = read_idx(_idx_file(folder, label_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UsageError(f"{folder}: images {images.shape} and labels {labels.shape} disagree")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


# ---------------------------------------------------------------- CIFAR (python pickles)


def _text(value: object) -> object:
    return value.decode("latin1") if isinstance(value, bytes) else value


def load_pickle(path: Path) -> dict:
    """One CIFAR pickle as a dict with str keys. The official files are Python 2 pickles:
    latin1 decoding reads their numpy arrays; keys and names may come back as bytes."""
    try:
        with open(path, "rb") as f:
            content = pickle.load(f, encoding="latin1")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as e:
        raise UsageError(f"could not read {path}: {e}") from e
    if not isinstance(content, dict):
        raise UsageError(f"{path} is not a CIFAR pickle (expected a dict)")
    return {_text(k): v for k, v in content.items()}


def _cifar_images(batch: dict, path: Path) -> torch.Tensor:
    data = np.asarray(batch.get("data"), dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise UsageError(f"{path}: 'data' should be uint8 [N, 3072], found {data.shape}")
    # Each row is 1024 red, 1024 green, 1024 blue values, each a 32x32 row-major image.
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())


def _labels(batch: dict, key: str, n: int, limit: int, path: Path) -> torch.Tensor:
    if key not in batch or len(batch[key]) != n:
        raise UsageError(f"{path}: missing or wrong-length '{key}'")
    labels = torch.as_tensor(np.asarray(batch[key]), dtype=torch.int64)
    if n and (labels.min() < 0 or labels.max() >= limit):
        raise UsageError(f"{path}: '{key}' outside 0..{limit - 1}")
    return labels


def _download_cifar(kind: str, root: Path) -> None:
    from torchvision.datasets import CIFAR10, CIFAR100
    from torchvision.datasets.utils import download_and_extract_archive

    source = CIFAR10 if kind == "cifar10" else CIFAR100
    log.info("downloading %s into %s", source.filename, root)
    download_and_extract_archive(source.url, str(root), filename=source.filename,
                                 md5=source.tgz_md5)


def find_cifar(folder_name: str, files: list[str], data_dir: str | None) -> Path:
    """The folder `folder_name` (e.g. cifar-10-batches-py) under `data_dir` (default ./data,
    the published root), or `data_dir` itself when it is that folder."""
    root = Path(data_dir) if data_dir is not None else Path("data")
    candidates = [root / folder_name, root]
    for folder in candidates:
        if all((folder / f).is_file() for f in files):
            return folder
    if downloads_allowed():
        _download_cifar("cifar10" if folder_name == CIFAR10_FOLDER else "cifar100", root)
        return root / folder_name
    archive = folder_name.replace("-batches-py", "-python") + ".tar.gz"
    raise UsageError(
        f"{folder_name} not found: looked for {', '.join(files)} in {_places(candidates)}; "
        f"download {archive} from {CIFAR_URL} and extract it into {root.absolute()}, point "
        f"--data-dir at the folder that holds {folder_name}, or set UNLEARN_ALLOW_DOWNLOAD=1"
    )


def read_cifar10(data_dir: str | None, train: bool) -> tuple[torch.Tensor, torch.Tensor, list]:
    """images uint8 [N, 3, 32, 32], labels int64 [N], class names from batches.meta ([] if
    the meta file is absent)."""
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    folder = find_cifar(CIFAR10_FOLDER, names, data_dir)
    images, labels = [], []
    for name in names:
        batch = load_pickle(folder / name)
        images.append(_cifar_images(batch, folder / name))
        labels.append(_labels(batch, "labels", len(images[-1]), 10, folder / name))
    meta_path = folder / "batches.meta"
    meta = load_pickle(meta_path) if meta_path.is_file() else {}
    class_names = [_text(n) for n in meta.get("label_names", [])]
    return torch.cat(images), torch.cat(labels), class_names


def read_cifar100(data_dir: str | None, train: bool) -> dict:
    """Keys: images uint8 [N, 3, 32, 32]; fine int64 [N]; coarse int64 [N] or None when the
    file has no coarse labels; fine_names, coarse_names (lists, [] without the meta file)."""
    name = "train" if train else "test"
    folder = find_cifar(CIFAR100_FOLDER, [name], data_dir)
    batch = load_pickle(folder / name)
    images = _cifar_images(batch, folder / name)
    fine = _labels(batch, "fine_labels", len(images), 100, folder / name)
    coarse = (_labels(batch, "coarse_labels", len(images), 20, folder / name)
              if "coarse_labels" in batch else None)
    meta = load_pickle(folder / "meta") if (folder / "meta").is_file() else {}
    return {
        "images": images, "fine": fine, "coarse": coarse,
        "fine_names": [_text(n) for n in meta.get("fine_label_names", [])],
        "coarse_names": [_text(n) for n in meta.get("coarse_label_names", [])],
    }


# ---------------------------------------------------------------- image folder (Pins faces)


def _class_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def find_image_folder(data_dir: str | None) -> Path:
    """The Pins root: `data_dir/105_classes_pins_dataset`, `data_dir` itself, or
    `./105_classes_pins_dataset` (the published root) when no data_dir is given."""
    root = Path(data_dir) if data_dir is not None else Path(".")
    candidates = [root / PINS_FOLDER] + ([root] if data_dir is not None else [])
    for folder in candidates:
        if any(_image_files(c) for c in _class_folders(folder)):
            return folder
    raise UsageError(
        f"Pins face images not found: looked for <identity>/<image> folders in "
        f"{_places(candidates)}; download {PINS_URL}, unpack it as {PINS_FOLDER}, and point "
        f"--data-dir at it (or at its parent)"
    )


def read_image_folder(root: Path, size: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Every image decoded once, RGB, resized to size x size with PIL bilinear (the published
    `Resize((36, 36))` on PIL images). Returns uint8 [N, 3, size, size], int64 labels [N] in
    sorted folder order, and the folder names."""
    folders = _class_folders(root)
    images, labels = [], []
    for label, folder in enumerate(folders):
        files = _image_files(folder)
        if not files:
            raise UsageError(f"identity folder {folder} holds no images "
                             f"({', '.join(IMAGE_EXTENSIONS)})")
        for path in files:
            try:
                with Image.open(path) as img:
                    rgb = img.convert("RGB").resize((size, size), Image.BILINEAR)
            except OSError as e:
                raise UsageError(f"could not decode image {path}: {e}") from e
            images.append(np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1))
            labels.append(label)
    log.info("decoded %d images of %d identities from %s", len(images), len(folders), root)
    return (torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64),
            [f.name for f in folders])


def count_images(root: Path) -> dict[str, int]:
    """Images per identity folder of an image-folder root, in class order, without decoding."""
    return {folder.name: len(_image_files(folder)) for folder in _class_folders(root)}


def list_identities(data_dir: str | None) -> list[str]:
    """The Pins folder names in class order, or [] when the folder is not there."""
    try:
        return [f.name for f in _class_folders(find_image_folder(data_dir))]
    except UsageError:
        return []

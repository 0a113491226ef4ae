"""Datasets: the DATASETS registry, class names, the three splits and the batched loader.

Images are decoded once (unlearn/data/formats.py) and held as uint8 tensors [N, 3, H, W]. Batches go
through the published pipeline as batched tensor ops, in the published order (deviation D8,
docs/deviations.md):
    uint8 -> /255 (ToTensor) -> [augmentation] -> Normalize(mean, std) -> Resize(image_size)
so a ViT sees 32x32 images upsampled to 224 after normalisation, as in the published code.
Splits are pure functions on label tensors returning index tensors (no materialised copies).
"""

import functools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from unlearn.data import formats
from unlearn.errors import UsageError

# Normalisation statistics. The published code uses the CIFAR-100 ones for every dataset,
# CIFAR-10 and Pins included; Fashion-MNIST (not in the published code) gets its own.
CIFAR100_MEAN = (0.5070751592371323, 0.48654887331495095, 0.4409178433670343)
CIFAR100_STD = (0.2673342858792401, 0.2564384629170883, 0.27615047132568404)
FASHION_MNIST_MEAN = (0.2860, 0.2860, 0.2860)
FASHION_MNIST_STD = (0.3530, 0.3530, 0.3530)
PINS_STORED_SIZE = 36  # published Pins pipeline starts with Resize((36, 36)) on the PIL image
PINS_TEST_FRACTION = 0.2  # per identity; the published code has no Pins split (deviation D6)
RESIZE_ANTIALIAS = False  # bilinear Resize after Normalize; only 36->32 (Pins) downsamples

FASHION_MNIST_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                       "Sneaker", "Bag", "Ankle boot"]
FASHION_MNIST_ALIASES = {"tshirt": 0, "top": 0, "tee": 0, "trousers": 1, "pants": 1,
                         "sweater": 2, "boot": 9}
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck"]
# CIFAR-100 fine names in label order (`fine_label_names` of the meta file).
CIFAR100_NAMES = [
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
]
# CIFAR-100 coarse (= CIFAR-20 superclass) names in label order.
CIFAR20_NAMES = [
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
]
# The published `coarse_map`: superclass -> its five fine classes (= official coarse labels).
COARSE_MAP = {
    0: [4, 30, 55, 72, 95], 1: [1, 32, 67, 73, 91], 2: [54, 62, 70, 82, 92],
    3: [9, 10, 16, 28, 61], 4: [0, 51, 53, 57, 83], 5: [22, 39, 40, 86, 87],
    6: [5, 20, 25, 84, 94], 7: [6, 7, 14, 18, 24], 8: [3, 42, 43, 88, 97],
    9: [12, 17, 37, 68, 76], 10: [23, 33, 49, 60, 71], 11: [15, 19, 21, 31, 38],
    12: [34, 63, 64, 66, 75], 13: [26, 45, 77, 79, 99], 14: [2, 11, 35, 46, 98],
    15: [27, 29, 44, 78, 93], 16: [36, 50, 65, 74, 80], 17: [47, 52, 56, 59, 96],
    18: [8, 13, 48, 58, 90], 19: [41, 69, 81, 85, 89],
}
FINE_TO_COARSE = torch.tensor([c for f in range(100) for c, fs in COARSE_MAP.items() if f in fs])
# Published `conf.class_dict` names; its numeric keys ("1", "42", ...) are covered by the
# generic rule "any index below the number of classes".
PUBLISHED_FINE = {"rocket": 69, "mushroom": 51, "baby": 2, "lamp": 40, "sea": 71}
PUBLISHED_COARSE = {"vehicle2": 19, "veg": 4, "people": 14, "electrical_devices": 5,
                    "natural_scenes": 10}


@dataclass
class ImageSet:
    """One split, decoded. Shared through the load_split cache: never modify in place."""

    images: torch.Tensor  # uint8 [N, 3, H, W], raw pixels 0..255
    labels: torch.Tensor  # int64 [N], task label (coarse superclass for Cifar20)
    fine_labels: torch.Tensor  # int64 [N], finest label (= labels except for Cifar20)
    class_names: list[str] = field(default_factory=list)  # task class names as found on disk

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    num_classes: int  # task classes (published `-classes`)
    class_names: list[str]  # task class names, index = label
    mean: tuple[float, float, float]  # Normalize mean per channel, in [0, 1] pixel units
    std: tuple[float, float, float]
    load: Callable[[bool, str | None, int], ImageSet]  # (train, data_dir, seed) -> ImageSet
    stored_size: int = 32  # H = W of the decoded uint8 images
    aliases: dict[str, int] = field(default_factory=dict)  # extra accepted class spellings


def _load_fashion_mnist(train: bool, data_dir: str | None, seed: int) -> ImageSet:
    images, labels = formats.read_fashion_mnist(formats.find_fashion_mnist(data_dir), train)
    # 28x28 grey -> zero-pad 2 px per side to 32x32 (the CIFAR size the models expect) -> RGB.
    padded = F.pad(images, (2, 2, 2, 2)).unsqueeze(1).repeat(1, 3, 1, 1)
    return ImageSet(padded, labels, labels, list(FASHION_MNIST_NAMES))


# Fashion-MNIST's ten classes grouped into four superclasses, for a sub-class task that runs
# offline on the embedded data (forget Sneaker, keep footwear). Task label = group.
FASHION_GROUP_NAMES = ["tops", "bottoms_and_dresses", "footwear", "bags"]
FASHION_GROUPS = {0: [0, 2, 4, 6], 1: [1, 3], 2: [5, 7, 9], 3: [8]}
FASHION_FINE_TO_GROUP = torch.tensor(
    [g for f in range(10) for g, fs in FASHION_GROUPS.items() if f in fs])


def _load_fashion_mnist_groups(train: bool, data_dir: str | None, seed: int) -> ImageSet:
    fine = _load_fashion_mnist(train, data_dir, seed)
    return ImageSet(fine.images, FASHION_FINE_TO_GROUP[fine.labels], fine.labels,
                    list(FASHION_GROUP_NAMES))


def _load_cifar10(train: bool, data_dir: str | None, seed: int) -> ImageSet:
    images, labels, names = formats.read_cifar10(data_dir, train)
    return ImageSet(images, labels, labels, names or list(CIFAR10_NAMES))


@functools.lru_cache(maxsize=4)
def _cifar100(data_dir: str | None, train: bool, cwd: str) -> dict:
    # Shared by Cifar100 and Cifar20 so the same pixels are read and held once; `cwd` keys the
    # cache because the default root ./data is relative.
    return formats.read_cifar100(data_dir, train)


def _load_cifar100(train: bool, data_dir: str | None, seed: int) -> ImageSet:
    raw = _cifar100(data_dir, train, os.getcwd())
    names = raw["fine_names"] or list(CIFAR100_NAMES)
    return ImageSet(raw["images"], raw["fine"], raw["fine"], names)


def _load_cifar20(train: bool, data_dir: str | None, seed: int) -> ImageSet:
    raw = _cifar100(data_dir, train, os.getcwd())
    coarse = FINE_TO_COARSE[raw["fine"]]  # the published coarse_map lookup
    if raw["coarse"] is not None and not torch.equal(coarse, raw["coarse"]):
        raise UsageError("the CIFAR-100 file's coarse_labels disagree with the published "
                         "coarse map; the file is not the official CIFAR-100")
    return ImageSet(raw["images"], coarse, raw["fine"],
                    raw["coarse_names"] or list(CIFAR20_NAMES))


def pins_test_count(n_images: int) -> int:
    """Test images of an identity with `n_images` images: 20 %, rounded half up."""
    return math.floor(n_images * PINS_TEST_FRACTION + 0.5)


def check_pins_sizes(counts: dict[str, int]) -> None:
    """Refuse a Pins folder whose 80/20 split would leave an identity without training or test
    images (an empty test set only shows as a crash after a whole training run). `counts`:
    images per identity; identities without any image are the reader's to report."""
    small = [(name, n) for name, n in counts.items()
             if n and (pins_test_count(n) == 0 or pins_test_count(n) == n)]
    if small:
        shown = ", ".join(f"'{name}' ({n})" for name, n in small[:3])
        more = f" and {len(small) - 3} more" if len(small) > 3 else ""
        need = next(n for n in range(1, 100) if 0 < pins_test_count(n) < n)
        raise UsageError(f"Pins identities with too few images for the 80/20 train/test split: "
                         f"{shown}{more}; each identity needs at least {need} images")


def pins_split(labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded 80/20 train/test split within every identity: sorted (train_idx, test_idx).
    Not in the published code, whose Pins train and test sets are the same folder (deviation
    D6, docs/deviations.md)."""
    generator = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in range(int(labels.max()) + 1 if len(labels) else 0):
        members = torch.nonzero(labels == c).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = pins_test_count(len(members))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


@functools.lru_cache(maxsize=2)
def _pins_decoded(root: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    return formats.read_image_folder(Path(root), PINS_STORED_SIZE)


def _load_pins(train: bool, data_dir: str | None, seed: int) -> ImageSet:
    """Pins faces: class = sorted identity folder, images 36x36, seeded per-identity 80/20
    split (`seed`); the published code trains and tests on the whole folder (deviation D6)."""
    root = formats.find_image_folder(data_dir).resolve()
    check_pins_sizes(formats.count_images(root))  # before decoding: refused up front
    images, labels, names = _pins_decoded(str(root))
    chosen = pins_split(labels, seed)[0 if train else 1]
    return ImageSet(images[chosen], labels[chosen], labels[chosen], names)


DATASETS: dict[str, DatasetSpec] = {
    "FashionMNIST": DatasetSpec("FashionMNIST", 10, FASHION_MNIST_NAMES, FASHION_MNIST_MEAN,
                                FASHION_MNIST_STD, _load_fashion_mnist,
                                aliases=FASHION_MNIST_ALIASES),
    "FashionMNIST4": DatasetSpec("FashionMNIST4", 4, FASHION_GROUP_NAMES, FASHION_MNIST_MEAN,
                                 FASHION_MNIST_STD, _load_fashion_mnist_groups),
    "Cifar10": DatasetSpec("Cifar10", 10, CIFAR10_NAMES, CIFAR100_MEAN, CIFAR100_STD,
                           _load_cifar10),
    "Cifar20": DatasetSpec("Cifar20", 20, CIFAR20_NAMES, CIFAR100_MEAN, CIFAR100_STD,
                           _load_cifar20, aliases=PUBLISHED_COARSE),
    "Cifar100": DatasetSpec("Cifar100", 100, CIFAR100_NAMES, CIFAR100_MEAN, CIFAR100_STD,
                            _load_cifar100, aliases=PUBLISHED_FINE),
    # 105 identities in the Kaggle set; their names come from the folders (ImageSet.class_names).
    "PinsFaceRecognition": DatasetSpec("PinsFaceRecognition", 105, [str(i) for i in range(105)],
                                       CIFAR100_MEAN, CIFAR100_STD, _load_pins,
                                       stored_size=PINS_STORED_SIZE),
}


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise UsageError(f"unknown dataset '{name}'; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def load_split(name: str, train: bool, data_dir: str | None = None, seed: int = 0) -> ImageSet:
    """The train or test split of a registered dataset, decoded once per process. `seed` only
    matters for Pins (its train/test split)."""
    spec = get_spec(name)
    seed = seed if spec.name == "PinsFaceRecognition" else 0
    # Keyed by absolute paths (the default roots are relative to the working directory).
    data_dir = None if data_dir is None else os.path.abspath(data_dir)
    return _load_cached(spec.name, bool(train), data_dir, seed, os.getcwd())


@functools.cache
def _load_cached(name: str, train: bool, data_dir: str | None, seed: int, cwd: str) -> ImageSet:
    return DATASETS[name].load(train, data_dir, seed)


# ---------------------------------------------------------------- class names


def normalise_name(name: str) -> str:
    """Case- and punctuation-blind key: 'T-shirt/top' and 't_shirt top' -> 'tshirttop'."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _table(names: list[str], extra: dict[str, int] | None = None) -> dict[str, int]:
    table = {normalise_name(n): i for i, n in enumerate(names)}
    table.update({normalise_name(k): v for k, v in (extra or {}).items()})
    return table


_FINE_TABLE = _table(CIFAR100_NAMES, PUBLISHED_FINE)
_COARSE_TABLE = _table(CIFAR20_NAMES, PUBLISHED_COARSE)
# Names of a sibling dataset get a pointed error instead of "does not belong".
_FOREIGN = {
    "Cifar20": (_FINE_TABLE, "is a CIFAR-100 fine class, not one of Cifar20's 20 superclasses: "
                "forget a superclass here (e.g. vehicle2) or forget it with the sub-class task"),
    "Cifar100": (_COARSE_TABLE, "is a CIFAR-20 superclass; Cifar100 forgets one of its 100 fine "
                 "classes (e.g. rocket)"),
}


def _listing(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 20 else ", ".join(names[:10]) + ", ..., " + names[-1]


def _lookup(owner: str, name: str, names: list[str], table: dict[str, int],
            foreign: tuple[dict[str, int], str] | None = None) -> int:
    text = str(name).strip()
    key = normalise_name(text)
    if text.isascii() and text.isdigit() and int(text) < len(names):
        return int(text)
    if not text.isdigit() and key in table:
        return table[key]
    if foreign is not None and key in foreign[0]:
        raise UsageError(f"class '{text}' {foreign[1]}")
    raise UsageError(f"class '{text}' does not belong to {owner} "
                     f"({len(names)} classes: {_listing(names)})")


def resolve_class(dataset: str, name: str, data_dir: str | None = None) -> int:
    """Task class index for a user's class name: the published `class_dict` names (rocket,
    vehicle2, ...), any index string below the class count, or the dataset's own names
    (case- and punctuation-blind). For Pins, identity folder names under `data_dir` too."""
    spec = get_spec(dataset)
    names = list(spec.class_names)
    if spec.name == "PinsFaceRecognition":
        names = formats.list_identities(data_dir) or names
        extra = {n.removeprefix("pins_"): i for i, n in enumerate(names)}
        return _lookup(spec.name, name, names, _table(names, extra))
    return _lookup(spec.name, name, names, _table(names, spec.aliases), _FOREIGN.get(spec.name))


# Datasets whose task classes are superclasses of finer ones: (fine names, name table,
# fine -> superclass), for the sub-class task.
_SUPERCLASS_DATASETS = {
    "Cifar20": (CIFAR100_NAMES, _FINE_TABLE, FINE_TO_COARSE),
    "FashionMNIST4": (FASHION_MNIST_NAMES, _table(FASHION_MNIST_NAMES, FASHION_MNIST_ALIASES),
                      FASHION_FINE_TO_GROUP),
}


def fine_class_count(dataset: str) -> int | None:
    """Number of fine classes of a superclass dataset (Cifar20: 100), else None."""
    entry = _SUPERCLASS_DATASETS.get(get_spec(dataset).name)
    return None if entry is None else len(entry[0])


def resolve_fine_class(dataset: str, name: str) -> int:
    """Fine class index for the sub-class task: a CIFAR-100 class on Cifar20, a Fashion-MNIST
    class on FashionMNIST4."""
    spec = get_spec(dataset)
    if spec.name not in _SUPERCLASS_DATASETS:
        raise UsageError(f"the sub-class task forgets a fine class inside its superclass; it "
                         f"needs -dataset {' or '.join(_SUPERCLASS_DATASETS)}, not {dataset}")
    names, table, _ = _SUPERCLASS_DATASETS[spec.name]
    foreign = (_COARSE_TABLE, "is a superclass; the sub-class task forgets one fine class "
               "(e.g. rocket)") if spec.name == "Cifar20" else None
    return _lookup(f"the fine classes of {spec.name}", name, names, table, foreign)


def fine_class_name(dataset: str, fine: int) -> str:
    """Name of a fine class (the sub-class task's forgotten class), e.g. Cifar20 69 -> rocket."""
    resolve_fine_class(dataset, str(fine))
    return _SUPERCLASS_DATASETS[get_spec(dataset).name][0][int(fine)]


def coarse_of(fine: int, dataset: str = "Cifar20") -> int:
    """Superclass of a fine class (Cifar20: rocket 69 -> vehicles_2 19)."""
    names, _, fine_to_coarse = _SUPERCLASS_DATASETS[get_spec(dataset).name]
    if not 0 <= int(fine) < len(names):
        raise UsageError(f"fine class {fine} is not a fine class index of {dataset} "
                         f"(0..{len(names) - 1})")
    return int(fine_to_coarse[int(fine)])


def valid_range(spec: DatasetSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel lo, hi [3] of normalised pixels: ((0 - mean) / std, (1 - mean) / std)."""
    mean, std = torch.tensor(spec.mean), torch.tensor(spec.std)
    return (0.0 - mean) / std, (1.0 - mean) / std


# ---------------------------------------------------------------- batched transforms


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each square image of x [B, C, S, S] counter-clockwise by degrees [B], nearest
    neighbour, zero fill: torchvision's `rotate` (RandomRotation's defaults), batched."""
    rad = torch.deg2rad(degrees.to(x.device, x.dtype))
    cos, sin, zero = torch.cos(rad), torch.sin(rad), torch.zeros_like(rad)
    # Inverse map output -> input pixel in normalised coordinates (y axis points down).
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def augment_batch(x: torch.Tensor, generator: torch.Generator, *,
                  part: tuple[int, int] | None = None) -> torch.Tensor:
    """The published training augmentation on raw [0, 1] pixels x [B, 3, H, W], per sample:
    RandomCrop(32, padding=4) (zero padding) -> RandomHorizontalFlip(0.5) ->
    RandomRotation(15). Returns [B, 3, 32, 32]. Random draws come from `generator` (CPU).

    `part` = (offset, total): x holds samples offset..offset+B-1 of a batch of `total`; the
    draws are made for the whole batch and this part's are used, so each sample is augmented
    the same whichever process of a distributed run holds it."""
    b, _, h, w = x.shape
    offset, total = part or (0, b)
    chosen = slice(offset, offset + b)

    def draw(values: torch.Tensor) -> torch.Tensor:
        return values[chosen].to(x.device)

    padded = F.pad(x, (4, 4, 4, 4))
    top = draw(torch.randint(0, h + 8 - 32 + 1, (total,), generator=generator))
    left = draw(torch.randint(0, w + 8 - 32 + 1, (total,), generator=generator))
    steps = torch.arange(32, device=x.device)
    rows = (top[:, None] + steps)[:, None, :, None]  # [B, 1, 32, 1]
    cols = (left[:, None] + steps)[:, None, None, :]  # [B, 1, 1, 32]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    x = padded[batch, channel, rows, cols]
    flip = draw(torch.rand(total, generator=generator) < 0.5)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    degrees = draw(torch.rand(total, generator=generator)) * 30.0 - 15.0
    # An empty part (a last batch smaller than the world) still drew its batch's numbers above,
    # so the generator stays in step with the other processes.
    return rotate(x, degrees) if b else x


class BatchLoader:
    """Batches (x float32 [B, 3, image_size, image_size] normalised, y int64 [B] task labels)
    over `indices` of an ImageSet (all of it when None), in the published transform order.
    Shuffling and augmentation draw from a generator seeded by (seed, epoch): every pass over
    the loader differs, and the whole sequence is the same for the same seed. drop_last=False.

    With `world_size` > 1 (distributed training) every process walks the same sequence of
    global batches of `batch_size` and yields its contiguous share of each (rank r of W takes
    part r of the batch split as evenly as possible), augmented as the whole batch would be:
    the union over the processes of one step is exactly the one-process batch.
    """

    def __init__(self, images: ImageSet, indices: torch.Tensor | None, batch_size: int, *,
                 spec: DatasetSpec, image_size: int, shuffle: bool = False,
                 augment: bool = False, seed: int = 0, device: torch.device | str = "cpu",
                 targets: torch.Tensor | None = None, rank: int = 0, world_size: int = 1):
        if batch_size < 1:
            raise UsageError(f"batch size must be at least 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside a world of {world_size}")
        self.rank, self.world_size = rank, world_size
        self.images = images
        self.indices = (torch.arange(len(images)) if indices is None
                        else torch.as_tensor(indices, dtype=torch.int64).flatten())
        self.batch_size, self.image_size = batch_size, image_size
        self.shuffle, self.augment, self.seed = shuffle, augment, seed
        self.device = torch.device(device)
        self.mean = torch.tensor(spec.mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(spec.std, device=self.device).view(1, 3, 1, 1)
        self.epoch = 0  # passes started so far; part of the random stream's seed
        # Targets replacing the task labels, aligned with `indices` (relabelled or flagged
        # samples, as some unlearning methods train on); None: the task labels.
        self.targets = None if targets is None else torch.as_tensor(targets).flatten()
        if self.targets is not None and len(self.targets) != len(self.indices):
            raise ValueError("targets must align with indices")

    @property
    def num_samples(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> torch.Tensor:
        """Targets [num_samples] in index order (unshuffled): task labels unless replaced."""
        return self.images.labels[self.indices] if self.targets is None else self.targets

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def global_batch_size(self, step: int) -> int:
        """Samples in the `step`-th batch over all processes (the last one may be short)."""
        return min(self.batch_size, self.num_samples - step * self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch `epoch` (a resumed training run sees the same batches)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        stream = (self.seed * 1_000_003 + self.epoch) % 2**63
        generator = torch.Generator().manual_seed(stream)
        self.epoch += 1
        positions = torch.arange(len(self.indices))
        if self.shuffle:
            positions = torch.randperm(len(positions), generator=generator)
        return self._batches(positions, generator)

    def _batches(self, positions: torch.Tensor, generator: torch.Generator):
        for start in range(0, len(positions), self.batch_size):
            chosen = positions[start:start + self.batch_size]
            total = len(chosen)
            offset = 0
            if self.world_size > 1:  # this process's part of the global batch
                sizes = [len(p) for p in torch.tensor_split(chosen, self.world_size)]
                offset = sum(sizes[:self.rank])
                chosen = chosen[offset:offset + sizes[self.rank]]
            idx = self.indices[chosen]
            x = self.images.images[idx].to(self.device).float().div_(255.0)  # ToTensor
            if self.augment:
                x = augment_batch(x, generator, part=(offset, total))
            x = (x - self.mean) / self.std
            if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
                x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                                  align_corners=False, antialias=RESIZE_ANTIALIAS)
            y = self.images.labels[idx] if self.targets is None else self.targets[chosen]
            yield x, y.to(self.device)


# ---------------------------------------------------------------- splits


@dataclass
class Split:
    """Index sets (int64, sorted) into the train and test ImageSets."""

    forget_train: torch.Tensor
    retain_train: torch.Tensor
    forget_test: torch.Tensor
    retain_test: torch.Tensor


def _label_split(train_labels: torch.Tensor, test_labels: torch.Tensor, target: int,
                 what: str) -> Split:
    parts = []
    for labels, part in ((train_labels, "training"), (test_labels, "test")):
        is_target = torch.as_tensor(labels) == target
        if not bool(is_target.any()):
            raise UsageError(f"{what} {target} has no {part} samples")
        parts += [torch.nonzero(is_target).flatten(), torch.nonzero(~is_target).flatten()]
    return Split(*parts)


def full_class_split(train_labels: torch.Tensor, test_labels: torch.Tensor,
                     forget_class: int) -> Split:
    """Forget = every sample of `forget_class` (task labels); retain = all others."""
    return _label_split(train_labels, test_labels, forget_class, "class")


def sub_class_split(train_fine: torch.Tensor, test_fine: torch.Tensor,
                    forget_fine: int) -> Split:
    """Forget = every sample of one fine class (Cifar20 sub-class task); retain = the other
    fine classes, including the forgotten class's superclass siblings, as published."""
    return _label_split(train_fine, test_fine, forget_fine, "fine class")


def count_from_fraction(num_train: int, frac: float) -> int:
    """Forget-set size that `random_split(ds, [frac, 1 - frac])` gives: floor both parts, then
    hand the remainder out one by one from the first part (0.00165 of 50000 -> 83, not 82)."""
    if not 0.0 < frac < 1.0:
        raise UsageError(f"forget fraction must lie strictly between 0 and 1, got {frac}")
    sizes = [math.floor(num_train * frac), math.floor(num_train * (1 - frac))]
    for i in range(num_train - sum(sizes)):
        sizes[i % 2] += 1
    return sizes[0]


def random_split_indices(num_train: int, *, count: int,
                         seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` random training indices to forget, the rest retained, both sorted. A dedicated
    generator, so the split depends on the seed only (published: on model init too; deviation
    D7, docs/deviations.md).
    Same draw as `random_split(range(num_train), [count, rest], generator=manual_seed(seed))`."""
    if not 0 < count < num_train:
        raise UsageError(f"forget size must be between 1 and {num_train - 1} (the training set "
                         f"has {num_train} samples), got {count}")
    perm = torch.randperm(num_train, generator=torch.Generator().manual_seed(seed))
    return perm[:count].sort().values, perm[count:].sort().values


# The training subset of the memorising regime is drawn with this fixed seed, independent of
# the model's seed: every member of a pool (originals and retrains) sees the same images.
SUBSET_SEED = 0


def training_subset_indices(num_train: int, size: int) -> torch.Tensor:
    """The sorted training indices of the fixed seeded subset of `size` images."""
    if not 0 < size <= num_train:
        raise UsageError(f"training subset size must be between 1 and {num_train} "
                         f"(the training set), got {size}")
    perm = torch.randperm(num_train, generator=torch.Generator().manual_seed(SUBSET_SEED))
    return perm[:size].sort().values


def training_subset(train_set: ImageSet, size: int) -> ImageSet:
    """A fixed seeded subset of `size` training images (the same for every model seed), as its
    own ImageSet; indices of splits made on it refer to the subset."""
    return select(train_set, training_subset_indices(len(train_set), size))


def select(image_set: ImageSet, indices: torch.Tensor) -> ImageSet:
    """The images at `indices`, in that order, as an ImageSet of their own."""
    return ImageSet(image_set.images[indices], image_set.labels[indices],
                    image_set.fine_labels[indices], list(image_set.class_names))

"""unlearn/data/datasets.py, unlearn/data/formats.py: formats, class names, splits and the batched
loader."""

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from data_files import (
    CIFAR100_COARSE_OF_FINE,
    write_cifar10,
    write_cifar100,
    write_fashion_mnist,
    write_pins,
)
from PIL import Image
from torchvision.transforms import InterpolationMode

from unlearn.data import datasets, formats
from unlearn.data.datasets import (
    DATASETS,
    BatchLoader,
    ImageSet,
    coarse_of,
    count_from_fraction,
    full_class_split,
    load_split,
    random_split_indices,
    resolve_class,
    resolve_fine_class,
    sub_class_split,
    valid_range,
)
from unlearn.errors import UsageError

# ---------------------------------------------------------------- on-disk formats


def _pickle(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def test_cifar10_round_trip(tmp_path):
    root = write_cifar10(tmp_path, n_per_batch=20, n_test=20)
    train, test = load_split("Cifar10", True, root), load_split("Cifar10", False, root)
    folder = root / "cifar-10-batches-py"
    raw = [_pickle(folder / f"data_batch_{i}") for i in range(1, 6)]
    assert train.images.shape == (100, 3, 32, 32) and train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.int64 and test.images.shape == (20, 3, 32, 32)
    expected = np.concatenate([r[b"data"] for r in raw]).reshape(100, 3, 32, 32)
    assert torch.equal(train.images, torch.from_numpy(expected))
    assert train.labels.tolist() == sum((r[b"labels"] for r in raw), [])
    assert torch.equal(train.fine_labels, train.labels)
    assert set(train.labels.tolist()) == set(range(10))
    assert train.class_names == datasets.CIFAR10_NAMES
    assert load_split("Cifar10", True, root) is train  # decoded once per process


def test_cifar100_and_cifar20_labels(tmp_path):
    root = write_cifar100(tmp_path, n_train=200, n_test=100)
    raw = _pickle(root / "cifar-100-python" / "train")
    fine100, coarse20 = load_split("Cifar100", True, root), load_split("Cifar20", True, root)
    assert torch.equal(fine100.images, torch.from_numpy(raw[b"data"].reshape(200, 3, 32, 32)))
    assert fine100.labels.tolist() == raw[b"fine_labels"]
    assert coarse20.labels.tolist() == raw[b"coarse_labels"]
    assert torch.equal(coarse20.fine_labels, fine100.labels)
    assert coarse20.images is fine100.images  # the same pixels, held once
    assert coarse20.class_names[19] == "vehicles_2" and fine100.class_names[69] == "rocket"
    assert set(coarse20.labels[coarse20.fine_labels == 69].tolist()) == {19}
    pairs = {"rocket": 19, "mushroom": 4, "baby": 14, "lamp": 5, "sea": 10}  # published pairs
    assert {n: coarse_of(datasets.PUBLISHED_FINE[n]) for n in pairs} == pairs
    assert [coarse_of(f) for f in range(100)] == CIFAR100_COARSE_OF_FINE


def test_cifar100_without_meta_or_coarse_labels(tmp_path):
    root = write_cifar100(tmp_path, n_train=100, n_test=100, with_meta=False, with_coarse=False)
    assert load_split("Cifar100", False, root).class_names == datasets.CIFAR100_NAMES
    cifar20 = load_split("Cifar20", False, root)
    assert cifar20.labels.tolist() == [CIFAR100_COARSE_OF_FINE[f] for f in cifar20.fine_labels]


def test_cifar20_rejects_coarse_labels_that_disagree(tmp_path):
    root = write_cifar100(tmp_path, n_train=100, n_test=100)
    path = root / "cifar-100-python" / "test"
    content = _pickle(path)
    content[b"coarse_labels"] = [(c + 1) % 20 for c in content[b"coarse_labels"]]
    path.write_bytes(pickle.dumps(content, protocol=2))
    with pytest.raises(UsageError, match="coarse"):
        load_split("Cifar20", False, root)


def test_fashion_mnist_padding_and_channels(tmp_path):
    root = write_fashion_mnist(tmp_path / "fm", n_train=30, n_test=10)
    with gzip.open(root / "train-images-idx3-ubyte.gz") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(30, 28, 28)
    train = load_split("FashionMNIST", True, root)
    assert train.images.shape == (30, 3, 32, 32) and train.images.dtype == torch.uint8
    assert torch.equal(train.images[:, 0, 2:30, 2:30], torch.from_numpy(raw.copy()))
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert (train.images[:, :, border] == 0).all() and (train.images[:, :, ~border] > 0).all()
    assert torch.equal(train.images[:, 0], train.images[:, 1])
    assert torch.equal(train.images[:, 0], train.images[:, 2])
    assert train.labels.tolist() == [k % 10 for k in range(30)]
    assert len(load_split("FashionMNIST", False, root)) == 10


def test_fashion_mnist_torchvision_layout_and_plain_files(tmp_path):
    write_fashion_mnist(tmp_path / "tv" / "FashionMNIST" / "raw", n_train=20, n_test=10)
    write_fashion_mnist(tmp_path / "plain", n_train=20, n_test=10, compress=False)
    a = load_split("FashionMNIST", True, tmp_path / "tv")
    b = load_split("FashionMNIST", True, tmp_path / "plain")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def test_pins_folder_split_and_resize(tmp_path):
    root = write_pins(tmp_path / "105_classes_pins_dataset", n_identities=3, per_identity=5)
    train = load_split("PinsFaceRecognition", True, root, seed=0)
    test = load_split("PinsFaceRecognition", False, tmp_path, seed=0)  # parent folder works too
    assert train.images.shape == (12, 3, 36, 36) and test.images.shape == (3, 3, 36, 36)
    assert torch.bincount(train.labels).tolist() == [4, 4, 4]
    assert torch.bincount(test.labels).tolist() == [1, 1, 1]
    assert train.class_names == ["pins_Person 0", "pins_Person 1", "pins_Person 2"]
    _, all_labels, _ = formats.read_image_folder(root, 36)
    tr, te = datasets.pins_split(all_labels, seed=0)
    assert not set(tr.tolist()) & set(te.tolist()) and len(tr) + len(te) == 15
    assert not torch.equal(te, datasets.pins_split(all_labels, seed=3)[1])
    assert torch.equal(te, datasets.pins_split(all_labels, seed=0)[1])
    first = sorted((root / "pins_Person 0").iterdir())[int(tr[0])]
    with Image.open(first) as img:
        expected = np.asarray(img.convert("RGB").resize((36, 36), Image.BILINEAR))
    assert torch.equal(train.images[0], torch.from_numpy(expected.transpose(2, 0, 1).copy()))


@pytest.mark.skipif(not formats.FASHION_MNIST_SYSTEM_DIR.is_dir(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_debian_package():
    train, test = load_split("FashionMNIST", True), load_split("FashionMNIST", False)
    assert train.images.shape == (60000, 3, 32, 32) and len(test) == 10000
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10


def test_missing_data_names_every_place(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNLEARN_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.setattr(formats, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "no-debian")
    empty = tmp_path / "empty"
    with pytest.raises(UsageError) as err:
        load_split("FashionMNIST", True, empty)
    message = str(err.value)
    for part in (str(empty), "FashionMNIST/raw", "no-debian",
                 "apt-get install dataset-fashion-mnist", "--data-dir"):
        assert part in message
    with pytest.raises(UsageError, match="cifar-10-batches-py.*cs.toronto.edu"):
        load_split("Cifar10", True)
    with pytest.raises(UsageError, match="cifar-100-python"):
        load_split("Cifar20", False, empty)
    with pytest.raises(UsageError, match="105_classes_pins_dataset"):
        load_split("PinsFaceRecognition", True)
    with pytest.raises(UsageError, match="unknown dataset 'MNIST'.*FashionMNIST"):
        load_split("MNIST", True)


def test_download_only_when_allowed(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    calls = []

    def fake_download(url, download_root, filename=None, md5=None):
        calls.append(url)
        if "cifar" in url:
            write_cifar10(Path(download_root), n_per_batch=10, n_test=10)
        else:
            write_fashion_mnist(Path(download_root), n_train=10, n_test=10)

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", fake_download)
    monkeypatch.setattr(formats, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "no-debian")
    monkeypatch.delenv("UNLEARN_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(UsageError, match="UNLEARN_ALLOW_DOWNLOAD=1"):
        load_split("Cifar10", False, tmp_path / "c10")
    assert calls == []
    monkeypatch.setenv("UNLEARN_ALLOW_DOWNLOAD", "1")
    assert len(load_split("Cifar10", False, tmp_path / "c10")) == 10
    assert calls == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    assert len(load_split("FashionMNIST", False, tmp_path / "fm")) == 10
    assert (tmp_path / "fm" / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_corrupt_files_are_usage_errors(tmp_path):
    root = write_fashion_mnist(tmp_path, n_train=10, n_test=10)
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(UsageError, match="could not read"):
        load_split("FashionMNIST", False, root)
    folder = write_cifar10(tmp_path / "c10") / "cifar-10-batches-py"
    (folder / "test_batch").write_bytes(b"garbage")
    with pytest.raises(UsageError, match="test_batch"):
        load_split("Cifar10", False, tmp_path / "c10")


# ---------------------------------------------------------------- class names


@pytest.mark.parametrize("dataset, name, index", [
    ("Cifar100", "rocket", 69), ("Cifar100", "Mushroom", 51), ("Cifar100", "baby", 2),
    ("Cifar100", "lamp", 40), ("Cifar100", "sea", 71), ("Cifar100", "42", 42),
    ("Cifar100", "aquarium fish", 1), ("Cifar20", "vehicle2", 19), ("Cifar20", "veg", 4),
    ("Cifar20", "people", 14), ("Cifar20", "electrical_devices", 5),
    ("Cifar20", "natural_scenes", 10), ("Cifar20", "vehicles_2", 19), ("Cifar20", "10", 10),
    ("Cifar10", "1", 1), ("Cifar10", "Truck", 9), ("FashionMNIST", "sneaker", 7),
    ("FashionMNIST", "ankle_boot", 9), ("FashionMNIST", "Ankle boot", 9),
    ("FashionMNIST", "tshirt", 0), ("FashionMNIST", "T-shirt/top", 0),
    ("PinsFaceRecognition", "42", 42), ("PinsFaceRecognition", "1", 1),
])
def test_resolve_class(dataset, name, index):
    assert resolve_class(dataset, name) == index


@pytest.mark.parametrize("dataset, name, message", [
    ("Cifar10", "42", r"class '42' does not belong to Cifar10 \(10 classes: airplane, "),
    ("Cifar10", "rocket", "does not belong to Cifar10"),
    ("Cifar20", "rocket", "fine class.*sub-class task"),
    ("Cifar20", "20", "does not belong to Cifar20"),
    ("Cifar100", "vehicle2", "superclass"),
    ("Cifar100", "people", "superclass"),
    ("FashionMNIST", "-1", "does not belong"),
    ("PinsFaceRecognition", "105", "does not belong"),
    ("ImageNet", "1", "unknown dataset"),
])
def test_resolve_class_errors(dataset, name, message):
    with pytest.raises(UsageError, match=message):
        resolve_class(dataset, name)


def test_resolve_pins_identity_names(tmp_path):
    root = write_pins(tmp_path, n_identities=3, per_identity=2)
    assert resolve_class("PinsFaceRecognition", "Person 2", root) == 2
    assert resolve_class("PinsFaceRecognition", "pins_person 1", root) == 1
    with pytest.raises(UsageError, match="3 classes"):
        resolve_class("PinsFaceRecognition", "3", root)


def test_resolve_fine_class():
    assert resolve_fine_class("Cifar20", "rocket") == 69
    assert resolve_fine_class("Cifar20", "maple_tree") == 47
    assert resolve_fine_class("Cifar20", "99") == 99
    assert datasets.fine_class_name("Cifar20", 69) == "rocket"
    with pytest.raises(UsageError, match="superclass"):
        resolve_fine_class("Cifar20", "vehicle2")
    with pytest.raises(UsageError, match="Cifar20"):
        resolve_fine_class("Cifar100", "rocket")
    with pytest.raises(UsageError):
        coarse_of(100)


# ---------------------------------------------------------------- splits


def test_full_and_sub_class_split_invariants():
    gen = torch.Generator().manual_seed(0)
    train, test = torch.randint(0, 7, (300,), generator=gen), torch.randint(0, 7, (90,),
                                                                             generator=gen)
    for split_fn in (full_class_split, sub_class_split):
        split = split_fn(train, test, 3)
        for forget, retain, labels in ((split.forget_train, split.retain_train, train),
                                       (split.forget_test, split.retain_test, test)):
            assert forget.dtype == torch.int64 and retain.dtype == torch.int64
            assert not set(forget.tolist()) & set(retain.tolist())
            assert sorted(forget.tolist() + retain.tolist()) == list(range(len(labels)))
            assert (labels[forget] == 3).all() and (labels[retain] != 3).all()
            assert len(forget) == int((labels == 3).sum())
    with pytest.raises(UsageError, match="no training samples"):
        full_class_split(train, test, 7)


def test_random_split_indices():
    forget, retain = random_split_indices(1000, count=83, seed=1)
    assert len(forget) == 83 and len(retain) == 917
    assert sorted(forget.tolist() + retain.tolist()) == list(range(1000))
    assert torch.equal(forget, forget.sort().values)
    again, _ = random_split_indices(1000, count=83, seed=1)
    other, _ = random_split_indices(1000, count=83, seed=2)
    assert torch.equal(forget, again) and not torch.equal(forget, other)
    reference = torch.utils.data.random_split(range(1000), [83, 917],
                                              generator=torch.Generator().manual_seed(1))
    assert sorted(reference[0].indices) == forget.tolist()
    for bad in (0, 1000, 2000):
        with pytest.raises(UsageError):
            random_split_indices(1000, count=bad, seed=0)


def test_count_from_fraction_matches_random_split():
    assert count_from_fraction(50000, 0.00165) == 83  # deviation D7: not 82 or 100
    for n, frac in ((50000, 0.1), (997, 0.333), (10, 0.25), (60000, 0.00165)):
        parts = torch.utils.data.random_split(range(n), [frac, 1 - frac])
        assert count_from_fraction(n, frac) == len(parts[0])
    with pytest.raises(UsageError):
        count_from_fraction(100, 1.0)


# ---------------------------------------------------------------- batched loader


def _id_set(n=23, size=32, seed=0):
    """Random images whose labels are their own index, to follow samples through a loader."""
    images = torch.randint(1, 256, (n, 3, size, size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(seed))
    ids = torch.arange(n)
    return ImageSet(images, ids, ids)


def test_normalisation_of_a_hand_computed_pixel():
    images = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    images[1, :, 5, 7] = 128
    images[1, :, 0, 0] = 255
    for name in ("Cifar10", "FashionMNIST"):
        spec = DATASETS[name]
        x, _ = next(iter(BatchLoader(ImageSet(images, torch.zeros(2), torch.zeros(2)), None, 2,
                                     spec=spec, image_size=32)))
        for c in range(3):
            expected = (128 / 255 - spec.mean[c]) / spec.std[c]
            assert x[1, c, 5, 7].item() == pytest.approx(expected, abs=1e-6)
        lo, hi = valid_range(spec)
        assert torch.allclose(x[0, :, 0, 0], lo) and torch.allclose(x[1, :, 0, 0], hi)
    lo, hi = valid_range(DATASETS["Cifar100"])
    assert lo[0].item() == pytest.approx(-0.5070751592371323 / 0.2673342858792401)
    assert hi[2].item() == pytest.approx((1 - 0.4409178433670343) / 0.27615047132568404)


def test_resize_after_normalise():
    images = torch.full((3, 3, 32, 32), 200, dtype=torch.uint8)
    spec = DATASETS["Cifar10"]
    x, y = next(iter(BatchLoader(ImageSet(images, torch.arange(3), torch.arange(3)), None, 8,
                                 spec=spec, image_size=224)))
    assert x.shape == (3, 3, 224, 224) and x.dtype == torch.float32 and y.dtype == torch.int64
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    assert torch.allclose(x, (200 / 255 - mean) / torch.tensor(spec.std).view(1, 3, 1, 1))
    pins = _id_set(n=4, size=36)
    x, _ = next(iter(BatchLoader(pins, None, 4, spec=DATASETS["PinsFaceRecognition"],
                                 image_size=32)))
    assert x.shape == (4, 3, 32, 32)


def test_loader_in_order_covers_indices_once():
    data = _id_set()
    indices = torch.tensor([5, 2, 9, 0, 22, 13, 7, 1, 3, 11, 4])
    loader = BatchLoader(data, indices, 4, spec=DATASETS["Cifar10"], image_size=32)
    batches = list(loader)
    assert len(loader) == len(batches) == 3 and loader.num_samples == 11
    assert [len(y) for _, y in batches] == [4, 4, 3]  # drop_last=False
    assert torch.cat([y for _, y in batches]).tolist() == indices.tolist()
    assert torch.equal(loader.labels, indices) and torch.equal(loader.indices, indices)
    x = torch.cat([x for x, _ in batches])
    again = torch.cat([x for x, _ in loader])
    assert torch.equal(x, again)
    assert len(BatchLoader(data, None, 5, spec=DATASETS["Cifar10"], image_size=32)) == 5
    with pytest.raises(UsageError):
        BatchLoader(data, None, 0, spec=DATASETS["Cifar10"], image_size=32)


def test_shuffle_is_deterministic_per_seed():
    data, spec = _id_set(), DATASETS["Cifar10"]

    def epochs(seed):
        loader = BatchLoader(data, None, 5, spec=spec, image_size=32, shuffle=True, seed=seed)
        return [torch.cat([y for _, y in loader]).tolist() for _ in range(2)]

    first, second = epochs(0)
    assert sorted(first) == list(range(23)) and sorted(second) == list(range(23))
    assert first != second and first != list(range(23))
    assert epochs(0) == [first, second]
    assert epochs(1)[0] != first
    resumed = BatchLoader(data, None, 5, spec=spec, image_size=32, shuffle=True, seed=0)
    resumed.set_epoch(1)
    assert torch.cat([y for _, y in resumed]).tolist() == second


def test_augmentation_changes_images_and_keeps_labels():
    n, spec = 64, DATASETS["Cifar10"]
    values = torch.arange(n) + 100  # each image one distinct grey level, never 0
    images = values.view(n, 1, 1, 1).expand(n, 3, 32, 32).to(torch.uint8).clone()
    data = ImageSet(images, torch.arange(n), torch.arange(n))
    loader = BatchLoader(data, None, 16, spec=spec, image_size=32, shuffle=True, augment=True,
                         seed=0)
    mean, std = torch.tensor(spec.mean).view(1, 3, 1, 1), torch.tensor(spec.std).view(1, 3, 1, 1)
    changed = 0
    for x, y in loader:
        assert x.shape == (len(y), 3, 32, 32)
        raw = torch.round((x * std + mean) * 255)
        for pixels, label in zip(raw, y):
            assert set(pixels.unique().tolist()) <= {0.0, float(values[label])}
            changed += bool((pixels == 0).any())  # zero padding from crop or rotation
    assert changed > n // 2
    x, _ = next(iter(BatchLoader(data, None, 4, spec=spec, image_size=224, augment=True)))
    assert x.shape == (4, 3, 224, 224)


def test_augmentation_flips_about_half_and_crops_by_up_to_4_pixels():
    half = torch.zeros(400, 3, 32, 32)
    half[..., :16] = 1.0  # bright left half
    out = datasets.augment_batch(half, torch.Generator().manual_seed(0))
    assert out.shape == (400, 3, 32, 32)
    flipped = (out[..., 16:].sum((1, 2, 3)) > out[..., :16].sum((1, 2, 3))).float().mean()
    assert 0.35 < flipped.item() < 0.65
    ones = torch.ones(400, 3, 40, 40)  # a 40-px image: crop 32 of the padded 48
    assert datasets.augment_batch(ones, torch.Generator().manual_seed(1)).shape[-1] == 32


def test_rotate_matches_torchvision():
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(datasets.rotate(x, torch.zeros(3)), x)
    angles = torch.tensor([90.0, -12.5, 7.0])
    ours = datasets.rotate(x, angles)
    assert torch.allclose(ours[0], torch.rot90(x[0], 1, dims=(1, 2)))  # counter-clockwise
    for i, angle in enumerate(angles.tolist()):
        theirs = TF.rotate(x[i], angle, interpolation=InterpolationMode.NEAREST, fill=0)
        assert (ours[i] == theirs).float().mean() > 0.99

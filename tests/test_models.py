"""Model registry, architectures (shapes, published layouts) and checkpoint files."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import torch

from models import MODELS, build_model
from models.checkpoint import (
    BARE_FORMAT,
    FORMAT,
    file_sha256,
    load_checkpoint,
    load_into,
    save_checkpoint,
)
from models.vit import WEIGHTS_ENV, tiny_vit_config
from unlearn.errors import UsageError, WriteFailedError

ROOT = Path(__file__).resolve().parent.parent
META = {"arch": "CNN", "num_classes": 10, "dataset": "FashionMNIST"}


def _batch(size: int = 32) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", ["CNN", "ResNet18"])
def test_small_models_give_logits(name):
    model = build_model(name, 7).eval()
    assert model.input_size == 32
    with torch.no_grad():
        assert model(_batch()).shape == (2, 7)


def test_vgg16_is_the_published_vgg11_layout():
    model = build_model("VGG16", 100).eval()
    n_params = sum(p.numel() for p in model.parameters())
    # torchvision VGG11 (132,863,336) + fc Linear(1000, 100).
    assert n_params == 132_863_336 + 1000 * 100 + 100
    keys = model.state_dict().keys()
    assert {"model.features.0.weight", "model.classifier.6.weight", "fc.weight"} <= set(keys)
    assert not any("running_mean" in key for key in keys)  # no batch-norm
    assert model.input_size == 32
    with torch.no_grad():
        assert model(_batch()).shape == (2, 100)


def test_resnet18_uses_the_pytorch_cifar100_names():
    keys = set(build_model("ResNet18", 20).state_dict())
    assert {
        "conv1.0.weight",
        "conv2_x.0.residual_function.0.weight",
        "conv3_x.0.shortcut.0.weight",
        "conv5_x.1.residual_function.4.running_var",
        "fc.weight",
    } <= keys
    assert "conv2_x.0.shortcut.0.weight" not in keys  # identity shortcut in the first stage


@pytest.mark.parametrize("image_size", [32, 224])
def test_tiny_vit_gives_logits(image_size):
    model = build_model("ViT", 5, config=tiny_vit_config(image_size)).eval()
    assert model.input_size == image_size
    assert {"base.embeddings.cls_token", "base.pooler.dense.weight", "final.weight"} <= set(
        model.state_dict()
    )
    with torch.no_grad():
        assert model(_batch(image_size)).shape == (2, 5)


def test_vit_config_may_be_a_vitconfig():
    from transformers import ViTConfig

    config = ViTConfig(**tiny_vit_config(32))
    assert build_model("ViT", 3, config=config).input_size == 32


def test_vit_loads_weights_from_a_local_directory(tmp_path, monkeypatch):
    source = build_model("ViT", 3, config=tiny_vit_config(32))
    source.base.save_pretrained(tmp_path / "vit")
    by_option = build_model("ViT", 3, weights=str(tmp_path / "vit"))
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "vit"))
    by_env = build_model("ViT", 3)
    for model in (by_option, by_env):
        assert torch.equal(model.base.embeddings.cls_token, source.base.embeddings.cls_token)


def test_vit_without_weights_offline_says_where_it_looked(monkeypatch):
    from transformers import ViTModel

    def cache_miss(name, **kwargs):
        assert kwargs.get("local_files_only") is True  # offline: the hub is never contacted
        raise OSError(f"{name} is not in the cache")

    monkeypatch.setattr(ViTModel, "from_pretrained", cache_miss)
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError, match="google/vit-base-patch16-224.*UNLEARN_VIT_WEIGHTS"):
        build_model("ViT", 10)
    with pytest.raises(UsageError, match="not found: ./no/such/dir"):
        build_model("ViT", 10, weights="./no/such/dir")


def test_vit_does_not_import_the_datasets_package(tmp_path):
    # In the checkout, the root's datasets.py face shadows Hugging Face's `datasets`; a
    # stand-in that fails on import proves transformers never imports it on the ViT path.
    (tmp_path / "datasets.py").write_text("raise ImportError('datasets.py imported')\n")
    code = (
        f"import sys; sys.path[:0] = [{str(tmp_path)!r}, {str(ROOT)!r}]\n"
        "import torch\n"
        "from models import build_model\n"
        "from models.vit import tiny_vit_config\n"
        "m = build_model('ViT', 3, config=tiny_vit_config(32))\n"
        f"m.base.save_pretrained({str(tmp_path / 'vit')!r})\n"
        f"m = build_model('ViT', 3, weights={str(tmp_path / 'vit')!r})\n"
        "m(torch.zeros(1, 3, 32, 32))\n"
        "assert 'datasets' not in sys.modules\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]


def test_unknown_model_lists_valid_names():
    with pytest.raises(UsageError) as caught:
        build_model("AllCNN", 10)
    for name in MODELS:
        assert name in str(caught.value)


def test_unknown_option_is_a_usage_error():
    with pytest.raises(UsageError, match="does not take option"):
        build_model("CNN", 10, weights="x")


# --- checkpoints -------------------------------------------------------------------------


def _cnn(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("CNN", 10).eval()


def test_checkpoint_round_trip(tmp_path):
    model = _cnn(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(_batch()).sum().backward()
    optimizer.step()
    meta = {
        **META,
        "test_acc": 91.5,
        "epoch": 3,
        "config": {"lr": 0.1, "milestones": [1, 2]},
        "optimizer": optimizer.state_dict(),
    }
    path = tmp_path / "sub" / "dir" / "cnn.pth"  # parent folders are created
    save_checkpoint(path, model, meta)

    state_dict, loaded_meta = load_checkpoint(
        path, arch="CNN", num_classes=10, dataset="FashionMNIST"
    )
    assert loaded_meta["test_acc"] == 91.5
    assert loaded_meta["config"] == {"lr": 0.1, "milestones": [1, 2]}
    assert torch.equal(
        loaded_meta["optimizer"]["state"][0]["momentum_buffer"],
        optimizer.state_dict()["state"][0]["momentum_buffer"],
    )
    fresh = _cnn(1)
    load_into(fresh, state_dict, path)
    with torch.no_grad():
        assert torch.equal(fresh(_batch()), model(_batch()))
    assert torch.load(path, weights_only=True)["format"] == FORMAT


def test_extra_is_returned_only_on_request(tmp_path):
    path = tmp_path / "cnn.pth"
    save_checkpoint(path, _cnn(0), META, extra={"optimizer": {"state": {}, "lr": 0.1}})
    assert len(load_checkpoint(path)) == 2
    _, meta, extra = load_checkpoint(path, with_extra=True)
    assert extra == {"optimizer": {"state": {}, "lr": 0.1}} and "optimizer" not in meta
    torch.save(_cnn(0).state_dict(), tmp_path / "bare.pth")
    assert load_checkpoint(tmp_path / "bare.pth", with_extra=True)[2] == {}


def test_atomic_write_leaves_only_the_file(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "a.pth", _cnn(0), META)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pth"]
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.pth").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(WriteFailedError, match=r"b.pth was not written \(OSError: disk full\)"):
        save_checkpoint(tmp_path / "b.pth", _cnn(0), META)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pth"]


def test_meta_must_be_plain_and_complete(tmp_path):
    with pytest.raises(TypeError, match="Path"):
        save_checkpoint(tmp_path / "x.pth", _cnn(0), {**META, "data_dir": tmp_path})
    with pytest.raises(TypeError, match="float64"):
        save_checkpoint(tmp_path / "x.pth", _cnn(0), {**META, "acc": [numpy.float64(90.0)]})
    with pytest.raises(ValueError, match="dataset"):
        save_checkpoint(tmp_path / "x.pth", _cnn(0), {"arch": "CNN", "num_classes": 10})
    assert not list(tmp_path.iterdir())


def test_bare_state_dict_loads(tmp_path):
    model = _cnn(0)
    path = tmp_path / "VGG16Cifar10.pth"
    torch.save(model.state_dict(), path)  # what the published code writes
    state_dict, meta = load_checkpoint(path, arch="CNN", num_classes=10, dataset="Cifar10")
    assert meta == {"format": BARE_FORMAT}
    fresh = _cnn(1)
    load_into(fresh, state_dict, path)
    with torch.no_grad():
        assert torch.equal(fresh(_batch()), model(_batch()))
    with pytest.raises(UsageError, match=r"final layer with 10 outputs .* asks for 100 classes"):
        load_checkpoint(path, num_classes=100)


@pytest.mark.parametrize(
    ("asked", "have", "want"),
    [
        ({"arch": "VGG16"}, "arch CNN", "arch VGG16"),
        ({"num_classes": 20}, "with 10 classes", "20 classes"),
        ({"dataset": "Cifar100"}, "dataset FashionMNIST", "dataset Cifar100"),
    ],
)
def test_checkpoint_mismatch_names_both_sides(tmp_path, asked, have, want):
    path = tmp_path / "cnn.pth"
    save_checkpoint(path, _cnn(0), META)
    with pytest.raises(UsageError) as caught:
        load_checkpoint(path, **asked)
    message = str(caught.value)
    assert str(path) in message and have in message and want in message
    assert f"differs in: {next(iter(asked))}" in message


def test_missing_and_corrupt_files_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="checkpoint not found: .*nope.pth"):
        load_checkpoint(tmp_path / "nope.pth")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(os.urandom(4096))
    with pytest.raises(UsageError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(corrupt)
    a_list = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], a_list)
    with pytest.raises(UsageError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(a_list)


def test_load_into_names_mismatching_keys(tmp_path):
    state_dict = _cnn(0).state_dict()
    with pytest.raises(UsageError, match="does not fit the ResNet18 model: .*missing keys"):
        load_into(build_model("ResNet18", 10), state_dict, tmp_path / "cnn.pth")
    with pytest.raises(UsageError, match=r"shape mismatches .*classifier.3.weight \[10, 128\]"):
        load_into(build_model("CNN", 5), state_dict, tmp_path / "cnn.pth")


def test_file_sha256(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"unlearn" * 1000)
    assert file_sha256(path) == hashlib.sha256(b"unlearn" * 1000).hexdigest()


def test_cnn_pools_before_relu_and_computes_relu_then_pool():
    """The CNN's blocks are conv → max-pool → ReLU; the textbook order conv → ReLU → max-pool
    with the same weights gives the same logits (ReLU is monotone)."""
    torch.manual_seed(0)
    model = build_model("CNN", 10).eval()
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    relu_first = torch.nn.Sequential(*[layer for conv in convs for layer in (
        conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2))], model.classifier)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), relu_first(x), rtol=0, atol=1e-6)
    assert [name for name, _ in model.named_parameters()] == [
        "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
        "features.6.weight", "features.6.bias", "classifier.1.weight", "classifier.1.bias",
        "classifier.3.weight", "classifier.3.bias"]  # checkpoints of either order load

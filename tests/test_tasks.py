"""unlearn/data/tasks.py: the forget/retain split of each task, forget metric, and the retrained
model trained on the same retain set the unlearning run keeps; MethodData's loaders."""

import pytest
import torch
from data_files import write_fashion_mnist

from models import build_model
from models.checkpoint import load_checkpoint
from unlearn.data import datasets, tasks
from unlearn.errors import UsageError
from unlearn.methods import FORGET, RETAIN, DataAccessError, MethodData
from unlearn.train import pretraining

# Fashion-MNIST fine labels of eight training and four test images; FashionMNIST4 groups them:
# tops 0 (T-shirt 0, Pullover 2, Coat 4, Shirt 6), bottoms/dresses 1 (Trouser 1, Dress 3),
# footwear 2 (Sandal 5, Sneaker 7, Ankle boot 9), bags 3 (Bag 8).
TRAIN_FINE = torch.tensor([7, 1, 5, 7, 0, 9, 1, 8])
TEST_FINE = torch.tensor([1, 7, 9, 7])
GROUP = torch.tensor([0, 1, 0, 1, 0, 2, 0, 2, 3, 2])


def image_set(fine: torch.Tensor, grouped: bool) -> datasets.ImageSet:
    images = torch.zeros(len(fine), 3, 28, 28, dtype=torch.uint8)
    return datasets.ImageSet(images, GROUP[fine] if grouped else fine, fine.clone())


@pytest.mark.parametrize("task, dataset, label, description", [
    (tasks.FULL_CLASS, "FashionMNIST", 7, "class Sneaker"),
    # Sandal and Ankle boot share Sneaker's group (footwear, 2) and stay in the retain set
    (tasks.SUB_CLASS, "FashionMNIST4", 2, "sub-class Sneaker"),
])
def test_class_splits_forget_every_sample_of_the_class(task, dataset, label, description):
    grouped = task == tasks.SUB_CLASS
    split = tasks.split_for(task, dataset, image_set(TRAIN_FINE, grouped),
                            image_set(TEST_FINE, grouped), forget_class="Sneaker")
    assert split.indices.forget_train.tolist() == [0, 3]
    assert split.indices.retain_train.tolist() == [1, 2, 4, 5, 6, 7]
    assert split.indices.forget_test.tolist() == [1, 3]
    assert split.indices.retain_test.tolist() == [0, 2]
    assert (split.forget_label, split.description) == (label, description)


def test_random_split_depends_on_the_seed_alone_and_keeps_the_whole_test_set():
    train, test = image_set(TRAIN_FINE, False), image_set(TEST_FINE, False)
    one = tasks.split_for(tasks.RANDOM, "FashionMNIST", train, test, forget_count=3, seed=4)
    again = tasks.split_for(tasks.RANDOM, "FashionMNIST", train, test, forget_count=3, seed=4)
    assert torch.equal(one.indices.forget_train, again.indices.forget_train)
    forget, retain = one.indices.forget_train.tolist(), one.indices.retain_train.tolist()
    assert len(forget) == 3 and sorted(forget + retain) == list(range(8))
    assert one.indices.forget_test.tolist() == []
    assert one.indices.retain_test.tolist() == [0, 1, 2, 3]
    assert (one.forget_label, one.description) == (None, "random 3 samples (seed 4)")
    # the published fraction: 0.2 of 8 samples -> floor 1 + the remainder's first share = 2
    by_fraction = tasks.split_for(tasks.RANDOM, "FashionMNIST", train, test, forget_perc=0.2)
    assert len(by_fraction.indices.forget_train) == 2
    with pytest.raises(UsageError, match="outside 1..7"):  # one sample must be retained
        tasks.split_for(tasks.RANDOM, "FashionMNIST", train, test, forget_count=8)


def test_forget_metric_titles_and_entry_points():
    assert [tasks.forget_metric(t) for t in tasks.TASKS] == [
        "acc_forget_test", "acc_forget_test", "acc_forget_train"]
    assert [tasks.title(t) for t in tasks.TASKS] == ["full-class", "sub-class", "random-sample"]
    assert tasks.title("other") == "other"
    assert tasks.task_of_entry_point("forget_subclass_main.py") == tasks.SUB_CLASS
    assert tasks.task_of_entry_point("forget_random_main.py") == tasks.RANDOM
    with pytest.raises(UsageError, match="not an entry point"):
        tasks.task_of_entry_point("pretrain_model.py")
    with pytest.raises(UsageError, match="unknown task 'class'"):
        tasks.split_for("class", "FashionMNIST", None, None)


@pytest.mark.parametrize("flag, task", [("forget_class", tasks.FULL_CLASS),
                                        ("forget_subclass", tasks.SUB_CLASS)])
def test_the_retrained_model_leaves_out_the_unlearning_forget_set(tmp_path, flag, task):
    """Pretraining without a class trains on the retain set of the same task's split, batch
    for batch: its first-epoch labels are the retain labels, the forgotten class never seen."""
    data = write_fashion_mnist(tmp_path / "data", n_train=40, n_test=20)
    dataset = "FashionMNIST" if task == tasks.FULL_CLASS else "FashionMNIST4"
    config = pretraining.PretrainConfig(net="CNN", dataset=dataset, num_classes=10 if
                                        task == tasks.FULL_CLASS else 4, epochs=1, batch_size=8,
                                        data_dir=str(data), out=str(tmp_path / "m.pth"),
                                        **{flag: "Trouser"})
    summary = pretraining.pretrain(config)
    train = datasets.load_split(dataset, True, str(data))
    test = datasets.load_split(dataset, False, str(data))
    split = tasks.split_for(task, dataset, train, test, forget_class="Trouser")
    _, meta = load_checkpoint(summary["checkpoint"])
    assert meta["forget"] == split.description
    assert meta["train_samples"] == len(split.indices.retain_train) < len(train)


def method_data(allowed=frozenset({FORGET, RETAIN}), seed=3) -> MethodData:
    train = image_set(TRAIN_FINE, False)
    train.images = torch.randint(0, 256, train.images.shape, dtype=torch.uint8,
                                 generator=torch.Generator().manual_seed(0))
    split = tasks.split_for(tasks.FULL_CLASS, "FashionMNIST", train, image_set(TEST_FINE, False),
                            forget_class="Sneaker").indices
    return MethodData(method="m", task=tasks.FULL_CLASS, allowed=allowed, train_set=train,
                      split=split, batch_size=4, spec=datasets.DATASETS["FashionMNIST"],
                      image_size=32, num_classes=10, forget_class=7,
                      new_model=lambda: build_model("CNN", 10), seed=seed)


def batches(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(loader)


def test_method_data_loaders_are_the_run_s_batch_loaders():
    """Each loader is the BatchLoader over the split's indices with the run's batch size, seed,
    normalisation and input size (same shuffling and augmentation stream)."""
    data = method_data()
    spec = datasets.DATASETS["FashionMNIST"]
    expected = datasets.BatchLoader(data.train_set, torch.tensor([1, 2, 4, 5, 6, 7]), 4,
                                    spec=spec, image_size=32, shuffle=True, augment=True, seed=3)
    got = data.retain(shuffle=True, augment=True)
    for (x, y), (ex, ey) in zip(batches(got), batches(expected), strict=True):
        assert torch.equal(x, ex) and torch.equal(y, ey)
    assert x.shape[-1] == 32
    picked = data.retain(subset=torch.tensor([0, 5]), batch_size=1)
    assert len(picked) == 2 and picked.labels.tolist() == [1, 8]
    union = data.union(retain_subset=torch.tensor([1]), targets=torch.tensor([1, 1, 0]))
    assert union.indices.tolist() == [0, 3, 2] and union.labels.tolist() == [1, 1, 0]
    assert data.forget_labels().tolist() == [7, 7]
    assert data.retain_labels(fine=True).tolist() == [1, 5, 0, 9, 1, 8]


def test_method_data_gate_refuses_undeclared_sets():
    data = method_data(allowed=frozenset({FORGET}))
    assert data.forget().labels.tolist() == [7, 7]
    for ask in (data.retain, data.retain_labels,
                lambda: data.union(retain_subset=torch.tensor([0]), targets=torch.ones(3))):
        with pytest.raises(DataAccessError, match="declared access to \\['forget'\\]"):
            ask()

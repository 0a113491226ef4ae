"""The tuning split of an original trained on a subset (the memorising regime): the method
forgets and retains inside the subset, and validation samples come from outside it, unseen by
every model of the pool."""

import pytest
import torch

from unlearn.data import datasets
from unlearn.errors import UsageError
from unlearn.tuning.context import TuningSetup, make_split, subset_with_validation


def image_set(n: int) -> datasets.ImageSet:
    labels = torch.arange(n) % 10
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()
    return datasets.ImageSet(images, labels, labels.clone(), [str(i) for i in range(10)])


def setup(task="full_class", **extra) -> TuningSetup:
    return TuningSetup(task=task, dataset="FashionMNIST", net="CNN", num_classes=10,
                       weights="w", retrained="r", seed=3, **extra)


def test_validation_images_lie_outside_the_subset_the_pool_trained_on():
    full = image_set(250)  # below 256: a uint8 pixel can carry the image's index
    combined, validation = subset_with_validation(full, subset=100, count=50, seed=3)
    inside = datasets.training_subset_indices(250, 100)
    # The first 100 images are the subset itself, in its order, so indices the forgetting run
    # and the retrains use on the subset mean the same images here.
    assert torch.equal(combined.images[:100], full.images[inside])
    assert validation.tolist() == list(range(100, 150))
    originals = {int(v) for v in combined.images[validation, 0, 0, 0]}  # pixel = full index
    assert len(originals) == 50 and not originals & set(inside.tolist())


def test_the_method_never_sees_the_unseen_validation_samples():
    combined, validation = subset_with_validation(image_set(500), 100, 50, seed=3)
    split = make_split(setup(tune_class="Pullover"), combined, validation)
    handed = set(split.forget.tolist()) | set(split.retain.tolist())
    assert handed == set(range(100)) and split.unseen_validation
    assert (combined.labels[split.forget] == 2).all()
    assert (combined.labels[split.val_forget] == 2).all()
    assert set(split.val_forget.tolist()) | set(split.val_retain.tolist()) == set(range(100, 150))


def test_a_random_forget_set_is_the_draw_the_random_task_makes_on_the_subset():
    combined, validation = subset_with_validation(image_set(500), 100, 50, seed=3)
    split = make_split(setup("random", forget_count=7), combined, validation)
    forget, _ = datasets.random_split_indices(100, count=7, seed=3)
    assert torch.equal(split.forget, forget)


def test_too_many_validation_images_are_refused():
    with pytest.raises(UsageError, match="--val-count must lie in 1..400"):
        subset_with_validation(image_set(500), 100, 401, seed=0)


def test_a_random_retrain_must_have_left_out_the_tuning_draw():
    from unlearn.tuning.context import check_retrained

    tuning = setup("random", forget_count=100)  # seed 3
    right = {"recipe": {"left_out": "random 100 samples (seed 3)"}}
    check_retrained(tuning, right, unseen_validation=True)
    with pytest.raises(UsageError, match=r"left out 'random 100 samples \(seed 4\)', but "
                                         r"tuning forgets the random 100 samples \(seed 3\)"):
        check_retrained(tuning, {"recipe": {"left_out": "random 100 samples (seed 4)"}}, True)

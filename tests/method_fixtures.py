"""A tiny, self-contained MethodData for running unlearning methods in tests."""

from __future__ import annotations

import functools

import torch

from models import build_model
from unlearn.data import datasets, tasks
from unlearn.methods import FORGET, METHODS, RETAIN, MethodData
from unlearn.methods.registration import RUN_BATCH_SIZE, Recipe, declared_defaults

NUM_CLASSES = 3
PER_CLASS = 20


def tiny_images(num_classes: int = NUM_CLASSES, per_class: int = PER_CLASS,
                seed: int = 0) -> datasets.ImageSet:
    """Random 32x32 images whose mean brightness depends on the class (learnable)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    noise = torch.randint(0, 80, (len(labels), 3, 32, 32), generator=generator)
    images = (noise + 60 * labels.view(-1, 1, 1, 1)).clamp(0, 255).to(torch.uint8)
    return datasets.ImageSet(images=images, labels=labels, fine_labels=labels.clone())


def tiny_method_data(method: str, *, task: str = tasks.FULL_CLASS, forget_class: int = 0,
                     seed: int = 0, images: datasets.ImageSet | None = None,
                     forget: torch.Tensor | None = None) -> tuple[torch.nn.Module, MethodData]:
    """A small trained-from-scratch CNN and the MethodData the pipeline would hand `method`."""
    images = images or tiny_images(seed=seed)
    if forget is None:
        forget = torch.nonzero(images.labels == forget_class).flatten()
    retain = torch.tensor(sorted(set(range(len(images))) - set(forget.tolist())))
    no_test = torch.empty(0, dtype=torch.long)  # methods never see the test set
    torch.manual_seed(seed)
    model = build_model("CNN", NUM_CLASSES)
    data = MethodData(
        method=method, task=task, allowed=METHODS[method].data if method in METHODS else
        frozenset({FORGET, RETAIN}),
        train_set=images, split=datasets.Split(forget, retain, no_test, no_test),
        batch_size=16, spec=datasets.DATASETS["Cifar10"], image_size=32, seed=seed,
        num_classes=NUM_CLASSES, forget_class=None if task == tasks.RANDOM else forget_class,
        new_model=functools.partial(build_model, "CNN", NUM_CLASSES),
    )
    return model, data


def task_defaults(method: str, task: str, net: str = "CNN") -> dict:
    """What a method's declaration sets for `task` beyond its function's own defaults (the
    values a direct call must pass), without the run-level references (-b, recipes)."""
    declaration = METHODS[method]
    values = declared_defaults(declaration, task, net, "Cifar10")
    return {name: value for name, value in values.items()
            if value != declaration.parameters[name] and not isinstance(value, Recipe)
            and value != RUN_BATCH_SIZE}


def trained_tiny_method_data(method: str, *, task: str = tasks.FULL_CLASS,
                             forget_class: int = 0, seed: int = 0,
                             steps: int = 60) -> tuple[torch.nn.Module, MethodData]:
    """tiny_method_data with the CNN trained (full batch, Adam) until it tells the classes
    apart, so that a method has something to forget."""
    model, data = tiny_method_data(method, task=task, forget_class=forget_class, seed=seed)
    model.load_state_dict({k: v.clone() for k, v in _trained_weights(seed, steps).items()})
    return model.eval(), data


@functools.cache
def _trained_weights(seed: int, steps: int) -> dict:
    """The tiny CNN's weights after training on every tiny image (trained once per session;
    callers load a copy)."""
    model, data = tiny_method_data("baseline", seed=seed)
    x, y = all_images(data)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    return {k: v.clone() for k, v in model.state_dict().items()}


def all_images(data: MethodData) -> tuple[torch.Tensor, torch.Tensor]:
    """Every training image of a tiny MethodData, normalised, with its task label (tests
    read the retained part to score a method; the method itself never can)."""
    loader = datasets.BatchLoader(data.train_set, torch.arange(len(data.train_set.labels)),
                                  1000, spec=data.spec, image_size=data.image_size)
    x, y = next(iter(loader))
    return x, y


def accuracy_on(model: torch.nn.Module, data: MethodData, which: str) -> float:
    """Percent accuracy of `model` on the split's forget or retain training samples."""
    x, y = all_images(data)
    chosen = data.split.forget_train if which == "forget" else data.split.retain_train
    with torch.no_grad():
        predicted = model.eval()(x[chosen]).argmax(dim=1)
    return 100.0 * (predicted == y[chosen]).double().mean().item()

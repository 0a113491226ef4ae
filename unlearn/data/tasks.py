"""The three forgetting tasks: their names, titles, how "forgotten" is measured, and how the
training and test sets split into what is forgotten and what is kept.

    full_class  forget every sample of one class; the model loses that output's meaning
    sub_class   forget one fine class inside its superclass (CIFAR-20 `rocket` in `vehicle2`);
                the task label stays the coarse one
    random      forget random training samples; every class is kept

The split is the same whether it feeds unlearning (the forget and retain sets handed to a
method) or pretraining (the retrained gold standard trains on the retain part only), so the
retrained model and the unlearned one never disagree on what was left out.

Importing this module does not load torch: the report and the method registry read the task
names without it. The functions that touch data import the data modules when called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from unlearn.errors import UsageError

if TYPE_CHECKING:
    from unlearn.data import datasets

FULL_CLASS, SUB_CLASS, RANDOM = "full_class", "sub_class", "random"
TASKS = (FULL_CLASS, SUB_CLASS, RANDOM)
ALL_TASKS = frozenset(TASKS)
TITLES = {FULL_CLASS: "full-class", SUB_CLASS: "sub-class", RANDOM: "random-sample"}
# The entry point of each task (its file holds the task's settings tables), and the published
# file name that runs the same entry point.
ENTRY_POINTS = {FULL_CLASS: "forget_full_class_main.py", SUB_CLASS: "forget_sub_class_main.py",
                RANDOM: "forget_random_main.py"}
PUBLISHED_ENTRY_POINTS = {"forget_subclass_main.py": SUB_CLASS}


def title(task: str) -> str:
    """The task's name for people ('random-sample'); an unknown name is shown as it is."""
    return TITLES.get(task, task)


def check_task(task: str) -> None:
    if task not in ALL_TASKS:
        raise UsageError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")


def task_of_entry_point(file_name: str) -> str:
    """The task an entry point file runs: 'forget_subclass_main.py' -> 'sub_class'."""
    by_file = {**{name: task for task, name in ENTRY_POINTS.items()}, **PUBLISHED_ENTRY_POINTS}
    if file_name not in by_file:
        raise UsageError(f"{file_name!r} is not an entry point; choose one of "
                         f"{', '.join(sorted(by_file))}")
    return by_file[file_name]


def forget_metric(task: str) -> str:
    """The metric that says how much of the forgotten data the model still knows (Df).

    Full and sub-class: the test accuracy on the forgotten class, which has test samples of
    its own. Random: the forgotten samples are drawn from the training set and have no test
    counterpart, so Df is the accuracy on those training samples (as published)."""
    return "acc_forget_train" if task == RANDOM else "acc_forget_test"


@dataclass(frozen=True)
class TaskSplit:
    """What a run forgets: the index sets, the task label forgotten and a description."""

    indices: datasets.Split  # forget/retain indices into the training and test sets
    forget_label: int | None  # the class (full), its superclass (sub), None (random)
    description: str  # 'class Sneaker', 'sub-class rocket', 'random 83 samples (seed 1)'


def check_forget_target(task: str, dataset: str, num_classes: int, forget_class: str | None,
                        data_dir: str | None = None) -> None:
    """Fail on a class count or class name that does not fit the dataset, before any loading."""
    from unlearn.data import datasets

    spec = datasets.get_spec(dataset)
    if num_classes != spec.num_classes:
        flag = "-superclasses" if task == SUB_CLASS else "-classes"
        raise UsageError(f"{dataset} has {spec.num_classes} classes, "
                         f"but {flag} {num_classes} was given")
    if task == SUB_CLASS:
        datasets.resolve_fine_class(dataset, forget_class)
    elif task != RANDOM:
        datasets.resolve_class(dataset, forget_class, data_dir)


def forget_target(task: str, dataset: str, forget_class: str, data_dir: str | None = None,
                  class_names: list[str] | None = None) -> tuple[int, str]:
    """The class a class task forgets, by index (the fine class in the sub-class task), and its
    description ('class Sneaker', 'sub-class rocket'), as results and checkpoints record it.
    `class_names`: the names the loaded data carries (Pins: its identity folders)."""
    from unlearn.data import datasets

    if task == SUB_CLASS:
        fine = datasets.resolve_fine_class(dataset, forget_class)
        return fine, f"sub-class {datasets.fine_class_name(dataset, fine)}"
    label = datasets.resolve_class(dataset, forget_class, data_dir)
    names = class_names or datasets.get_spec(dataset).class_names
    return label, f"class {names[label]}"


def split_for(task: str, dataset: str, train_set: datasets.ImageSet,
              test_set: datasets.ImageSet, *, forget_class: str | None = None,
              forget_perc: float | None = None, forget_count: int | None = None,
              seed: int = 0, data_dir: str | None = None) -> TaskSplit:
    """The forget/retain split of `task`.

    full_class / sub_class: `forget_class` names the class (or fine class) by name or index.
    random: `forget_count` samples, or the count `forget_perc` gives as published; the draw
    depends on `seed` alone. Retain-test is the whole test set for random (published)."""
    from unlearn.data import datasets

    check_task(task)
    if task == RANDOM:
        return _random_split(dataset, train_set, test_set, forget_perc, forget_count, seed)
    target, description = forget_target(task, dataset, forget_class, data_dir,
                                        train_set.class_names)
    if task == SUB_CLASS:
        split = datasets.sub_class_split(train_set.fine_labels, test_set.fine_labels, target)
        return TaskSplit(split, datasets.coarse_of(target, dataset), description)
    split = datasets.full_class_split(train_set.labels, test_set.labels, target)
    return TaskSplit(split, target, description)


def _random_split(dataset: str, train_set: datasets.ImageSet, test_set: datasets.ImageSet,
                  forget_perc: float | None, forget_count: int | None, seed: int) -> TaskSplit:
    import torch

    from unlearn.data import datasets

    num_train = len(train_set.labels)
    if forget_count is not None:
        count = forget_count
    else:
        count = datasets.count_from_fraction(num_train, forget_perc)
    if not 1 <= count < num_train:  # at least one sample must be retained
        raise UsageError(f"forget count {count} is outside 1..{num_train - 1} (the training "
                         f"set of {dataset} has {num_train} samples, and at least one must be "
                         "retained)")
    forget, retain = datasets.random_split_indices(num_train, count=count, seed=seed)
    empty = torch.empty(0, dtype=torch.long)
    everything = torch.arange(len(test_set.labels))
    split = datasets.Split(forget, retain, empty, everything)
    return TaskSplit(split, None, random_description(count, seed))


def random_description(count: int, seed: int) -> str:
    """The random task's forget set as results and checkpoints record it. The draw depends on
    the count and the seed alone, so equal descriptions on one training set mean equal
    samples (a stored retrain is named by it before any data is loaded)."""
    return f"random {count} samples (seed {seed})"

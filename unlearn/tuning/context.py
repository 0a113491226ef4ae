"""Everything a tuning trial reuses, loaded once per process, from training data only.

The tuning data never include the test split (the split gate refuses it) and never include the
forget set that is reported: tuning forgets a class of its own (`tune_class`), which must differ
from the classes the reported runs forget. Accuracies are measured on validation samples that
no method sees (they are in neither the forget nor the retain set handed to the method):

- An original trained on the whole training set: a seeded slice of it (`val_frac`, 10 %). The
  original and the retrained models did train on it; it is the same samples for the method's
  model and the retrained one, so their distance compares like with like.
- An original trained on a fixed subset (the memorising regime): `val_count` seeded training
  images from outside the subset, which no model of the pool has seen. There the originals
  fit every training image, so a slice of the subset would score ~100 % for every model and
  say nothing; unseen images behave like the test set without being it. The loss attack then
  compares the forget samples with unseen samples of the same class (random task: the mix),
  the matched non-members the evaluation's attacks use too.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import os
from dataclasses import asdict, dataclass

import torch

from models import build_model
from models.checkpoint import load_checkpoint, load_into
from unlearn.data import datasets
from unlearn.data.tasks import RANDOM, SUB_CLASS, random_description
from unlearn.errors import UsageError
from unlearn.methods import MethodData, get_method
from unlearn.tuning import objective
from unlearn.tuning.provenance import model_ref


@dataclass(frozen=True)
class TuningSetup:
    """What a study tunes on; stored with the study, so a resumed study tunes on the same."""

    task: str
    dataset: str
    net: str
    num_classes: int
    weights: str  # the original model
    retrained: str  # the model retrained without the tuning forget set
    tune_class: str | None = None  # full/sub-class: the class tuning forgets (not a reported one)
    forget_count: int | None = None  # random: samples tuning forgets
    val_frac: float = 0.1
    val_count: int = 2000  # unseen validation images when the original trained on a subset
    seed: int = 0
    batch_size: int = 128
    eval_batch_size: int = 256
    data_dir: str | None = None

    def describe(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "data_dir"}

    def forget_set(self):
        """What this cell forgets: the tuning class, or (random) the seed of its draw."""
        return self.seed if self.task == RANDOM else self.tune_class

    def portable(self) -> dict:
        """describe() with the models named as a clone can find them (store key, or a path in
        the repository) instead of by this machine's paths."""
        plain = {k: v for k, v in self.describe().items() if k not in ("weights", "retrained")}
        return {**plain, "original": model_ref(self.weights),
                "retrained": model_ref(self.retrained)}


@dataclass
class TuningSplit:
    forget: torch.Tensor  # training indices handed to the method as its forget set
    retain: torch.Tensor  # ... as its retain set
    val_forget: torch.Tensor | None  # validation samples of the forgotten class (None: random)
    val_retain: torch.Tensor  # validation samples of the retained data
    forget_label: int | None
    description: str
    unseen_validation: bool = False  # no model of the pool trained on the validation samples


def validation_slice(num_train: int, fraction: float, seed: int) -> torch.Tensor:
    """A seeded `fraction` of the training indices (sorted), held out from every method."""
    if not 0 < fraction < 1:
        raise UsageError(f"--val-frac must lie in (0, 1), got {fraction}")
    count = max(1, round(num_train * fraction))
    perm = torch.randperm(num_train, generator=torch.Generator().manual_seed(seed + 7919))
    return perm[:count].sort().values


def subset_with_validation(full, subset: int, count: int, seed: int):
    """The training subset an original was trained on, followed by `count` seeded images from
    outside it; the indices of those (the validation samples) in the combined set."""
    inside = datasets.training_subset_indices(len(full), subset)
    is_outside = torch.ones(len(full), dtype=torch.bool)
    is_outside[inside] = False
    outside = torch.nonzero(is_outside).flatten()
    if not 1 <= count <= len(outside):
        raise UsageError(f"--val-count must lie in 1..{len(outside)} (training images outside "
                         f"the {subset}-image subset), got {count}")
    drawn = torch.randperm(len(outside), generator=torch.Generator().manual_seed(seed + 7919))
    chosen = torch.cat([inside, outside[drawn[:count]].sort().values])
    return datasets.select(full, chosen), torch.arange(subset, subset + count)


def make_split(setup: TuningSetup, train_set, validation: torch.Tensor | None = None,
               ) -> TuningSplit:
    """The forget/retain sets handed to the method and the validation samples, as indices into
    `train_set`; `validation` given: unseen samples (subset originals), else a seeded slice."""
    n = len(train_set.labels)
    unseen = validation is not None
    in_val = torch.zeros(n, dtype=torch.bool)
    in_val[validation if unseen else validation_slice(n, setup.val_frac, setup.seed)] = True
    if setup.task == RANDOM:
        pool = torch.nonzero(~in_val).flatten()
        count = setup.forget_count or 0
        if not 1 <= count < len(pool):
            raise UsageError(f"--forget-count must lie in 1..{len(pool) - 1} (training samples "
                             f"outside the validation slice), got {setup.forget_count}")
        chosen = torch.randperm(len(pool), generator=torch.Generator().manual_seed(setup.seed))
        forget = pool[chosen[:count]].sort().values
        retain = pool[chosen[count:]].sort().values
        return TuningSplit(forget, retain, None, torch.nonzero(in_val).flatten(), None,
                           f"random {count} training samples (seed {setup.seed})", unseen)
    if setup.task == SUB_CLASS:
        target = datasets.resolve_fine_class(setup.dataset, setup.tune_class)
        is_target = train_set.fine_labels == target
        label = datasets.coarse_of(target, setup.dataset)
        what = f"sub-class {datasets.fine_class_name(setup.dataset, target)}"
    else:
        label = datasets.resolve_class(setup.dataset, setup.tune_class, setup.data_dir)
        is_target = train_set.labels == label
        what = f"class {datasets.DATASETS[setup.dataset].class_names[label]}"
    parts = [torch.nonzero(m).flatten() for m in (is_target & ~in_val, ~is_target & ~in_val,
                                                  is_target & in_val, ~is_target & in_val)]
    if any(len(p) == 0 for p in parts):
        raise UsageError(f"{what}: the training set is too small to hold out validation "
                         f"samples of both the class and the rest (--val-frac {setup.val_frac})")
    return TuningSplit(*parts, label, what, unseen)


def forget_key(setup: TuningSetup, forget) -> object:
    """A forget set as one comparable value: the class index (names and numbers alike), or
    the random draw's seed."""
    if setup.task == RANDOM:
        return int(forget)
    if setup.task == SUB_CLASS:
        return datasets.resolve_fine_class(setup.dataset, forget)
    return datasets.resolve_class(setup.dataset, forget, setup.data_dir)


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def reported_overlap(cells: list[TuningSetup], originals: list[str], forget_sets: list) -> None:
    """A UsageError when a tuning cell is a reported one: its forget set is reported, on a
    reported original (no originals given: every original is reported)."""
    reported = {forget_key(cells[0], f) for f in forget_sets}
    for cell in cells:
        on_reported = not originals or any(same_file(cell.weights, o) for o in originals)
        if on_reported and forget_key(cell, cell.forget_set()) in reported:
            raise UsageError(f"tuning cell ({cell.weights}, forget {cell.forget_set()}) is one "
                             f"of the reported cells; tune on forget sets and originals the "
                             f"reported runs do not use")


def load_model(setup: TuningSetup, path: str) -> torch.nn.Module:
    model = build_model(setup.net, setup.num_classes)
    state, meta = load_checkpoint(path, arch=setup.net, num_classes=setup.num_classes,
                                  dataset=setup.dataset)
    load_into(model, state, path)
    model.meta = meta
    return model


def check_retrained(setup: TuningSetup, meta: dict, unseen_validation: bool) -> None:
    """The retrained model must have left out the tuning forget set, where its file says what
    it left out. Random task: checkable only when the original trained on a subset (the
    tuning draw is then the random task's own draw on it, see make_split)."""
    training = meta.get("training") or {}
    recipe = meta.get("recipe") or {}
    if setup.task == RANDOM:
        left_out, expected = recipe.get("left_out"), random_description(setup.forget_count,
                                                                        setup.seed)
        if unseen_validation and left_out != expected:
            raise UsageError(f"--retrained {setup.retrained} left out {left_out!r}, but tuning "
                             f"forgets the {expected} (--forget-count, --seed)")
        return
    left_out = training.get("forget_subclass") or training.get("forget_class")
    if left_out is None:
        return
    resolve = datasets.resolve_fine_class if setup.task == SUB_CLASS else datasets.resolve_class
    if resolve(setup.dataset, left_out) != resolve(setup.dataset, setup.tune_class):
        raise UsageError(f"--retrained {setup.retrained} left out {left_out!r}, but tuning "
                         f"forgets {setup.tune_class!r}")


class TuningContext:
    """Data, models and the retrained model's scores, loaded once; `run` does one trial."""

    def __init__(self, setup: TuningSetup, device: torch.device):
        self.setup, self.device = setup, device
        self.spec = datasets.DATASETS[setup.dataset]
        self.original = load_model(setup, setup.weights)
        full = datasets.load_split(setup.dataset, True, setup.data_dir)
        subset = (self.original.meta.get("training") or {}).get("train_subset")
        if subset:
            self.train_set, unseen = subset_with_validation(full, subset, setup.val_count,
                                                            setup.seed)
            self.split = make_split(setup, self.train_set, unseen)
        else:
            self.train_set = full
            self.split = make_split(setup, self.train_set)
        retrained = load_model(setup, setup.retrained)
        check_retrained(setup, retrained.meta, self.split.unseen_validation)
        self.reference = objective.scores(retrained.to(device), self.loaders(), device)
        del retrained

    def loaders(self) -> dict:
        def over(indices):
            if indices is None:
                return None
            return datasets.BatchLoader(self.train_set, indices, self.setup.eval_batch_size,
                                        spec=self.spec, image_size=self.original.input_size)
        split = self.split
        val_retain, val_forget = over(split.val_retain), over(split.val_forget)
        # The loss attack's non-members: unseen samples of the forgotten class where there are
        # any (matched, as the evaluation's attacks), else the retained validation samples.
        matched = split.unseen_validation and val_forget is not None
        return {"val_retain": val_retain, "val_forget": val_forget,
                "forget": over(split.forget),
                "nonmembers": val_forget if matched else val_retain}

    def method_data(self, method: str) -> MethodData:
        """What the pipeline would hand `method`, built on the tuning split."""
        split, setup = self.split, self.setup
        no_test = torch.empty(0, dtype=torch.long)  # methods never see a test set
        return MethodData(
            method=method, task=setup.task, allowed=get_method(method, setup.task).data,
            train_set=self.train_set,
            split=datasets.Split(split.forget, split.retain, no_test, no_test),
            batch_size=setup.batch_size, spec=self.spec, image_size=self.original.input_size,
            seed=setup.seed, num_classes=setup.num_classes, forget_class=split.forget_label,
            new_model=functools.partial(build_model, setup.net, setup.num_classes),
            extras={"forget_description": split.description},
        )

    def run(self, method: str, hyperparameters: dict) -> dict:
        """Run `method` from the original weights and score it; the scores and the distance."""
        torch.manual_seed(self.setup.seed)
        model = copy.deepcopy(self.original).to(self.device)
        model = get_method(method, self.setup.task).fn(model, self.method_data(method),
                                                       self.device, **hyperparameters)
        found = objective.scores(model, self.loaders(), self.device)
        return {**found, "distance": objective.distance(found, self.reference)}


MEASURES = ("dr", "df", "auc", "distance")


class CellsContext:
    """The multi-cell objective: one TuningContext per cell (original × tuning forget set);
    a trial runs the method on every cell and scores the mean of each measure, so the chosen
    values are not fitted to one model or one forget set."""

    def __init__(self, setups: list[TuningSetup], device: torch.device):
        self.cells = [TuningContext(setup, device) for setup in setups]
        self.reference = mean_scores([cell.reference for cell in self.cells])
        self.reference["cells"] = [cell.reference for cell in self.cells]

    def run(self, method: str, hyperparameters: dict) -> dict:
        found = [cell.run(method, hyperparameters) for cell in self.cells]
        return {**mean_scores(found), "cell_distances": [f["distance"] for f in found]}


def mean_scores(scores: list[dict]) -> dict:
    """The mean of every measure the scores hold."""
    return {k: sum(s[k] for s in scores) / len(scores) for k in MEASURES if k in scores[0]}


def setup_digest(setups: list[TuningSetup]) -> str:
    """A short hash of what a study tunes on (a resumed study must match it)."""
    text = repr([sorted(setup.portable().items(), key=lambda kv: kv[0]) for setup in setups])
    return hashlib.sha256(text.encode()).hexdigest()[:12]

"""Train the original model, or the retrained gold standard (a class, a fine class or random
samples left out).

The published recipe: SGD momentum 0.9, weight decay 5e-4, batch 64,
augmentation (crop, flip, rotation), OneCycle to 0.1 with a first-epoch warm-up ramp. Unlike
the published code, the checkpoint kept is the last epoch's (the published code picks the best
epoch on the test set, which leaks the test set into model selection); the test accuracy of
every epoch is stored in the checkpoint (deviation D22, docs/deviations.md).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from models import build_model
from models.checkpoint import load_checkpoint
from unlearn.data import datasets, tasks
from unlearn.devices import resolve_device
from unlearn.errors import UsageError
from unlearn.eval import metrics
from unlearn.store import disk, preflight
from unlearn.store.model_store import ModelStore, TrainingRecipe, retrain_seed
from unlearn.train import distributed, recipes
from unlearn.train.seeding import seed_everything
from unlearn.train.training import TrainSettings, published_pretrain_schedule, train

log = logging.getLogger(__name__)


@dataclass
class PretrainConfig:
    """One pretraining run."""

    net: str  # network, a MODELS key
    dataset: str  # a DATASETS key
    num_classes: int  # outputs (task classes)
    batch_size: int = recipes.PRETRAIN_BATCH_SIZE  # -b, published 64
    warm: int | None = None  # -warm: warm-up epochs (None: recipe's, published 1)
    epochs: int | None = None  # None: the published count for dataset and network
    forget_class: str | None = None  # leave this class out: trains the retrained model
    forget_subclass: str | None = None  # leave this fine class out (sub-class retrain)
    forget_count: int | None = None  # leave out the random task's forget set of this many
    forget_seed: int | None = None  # ... samples drawn with this seed (random-task retrain)
    seed: int = 0
    gpu: bool = False
    resume: bool = False  # continue from the checkpoint's last finished epoch
    accept_changed_settings: bool = False  # resume even if settings differ (change recorded)
    out: str | None = None  # checkpoint path (default under checkpoints/)
    data_dir: str | None = None
    model_options: dict | None = None
    train_subset: int | None = None  # train on a fixed seeded subset of this many images
    augment: bool = True  # crop/flip/rotation augmentation (off: the memorising regime)
    store: str | None = None  # model store folder: train into it, or reuse its model
    skip_done: bool = False  # a finished checkpoint at `out` is kept; a partial one resumed


def default_checkpoint(net: str, dataset: str, forget_class: str | None = None) -> str:
    """checkpoints/<net>-<dataset>.pth, or ...-without-<class>.pth for a retrained model."""
    suffix = f"-without-{forget_class}" if forget_class else ""
    return f"checkpoints/{net}-{dataset}{suffix}.pth"


# Settings that do not change what is trained: a resumed run may change them freely.
NOT_TRAINING_SETTINGS = ("resume", "accept_changed_settings", "out", "gpu", "data_dir",
                         "model_options", "skip_done", "execution")


def changed_settings(recorded: dict, now: dict) -> dict[str, list]:
    """{setting: [recorded value, new value]} for every training setting a resumed run would
    change (settings the checkpoint does not record are not compared)."""
    return {key: [recorded[key], now.get(key)] for key in sorted(recorded)
            if key not in NOT_TRAINING_SETTINGS and recorded[key] != now.get(key)}


def check_resume(config: PretrainConfig, out: Path, meta: dict) -> list[dict]:
    """Refuse to resume `out` with other settings than it was trained with, naming them; with
    accept_changed_settings, the checkpoint's list of accepted changes, this one appended."""
    if not (config.resume and out.is_file()):
        return []
    _, recorded = load_checkpoint(out, arch=meta["arch"], num_classes=meta["num_classes"],
                                  dataset=meta["dataset"])
    history = list(recorded.get("resumed_with_changes", []))
    changed = changed_settings(recorded.get("training", {}), meta["training"])
    if not changed:
        return history
    listing = ", ".join(f"{key} {old} -> {new}" for key, (old, new) in changed.items())
    if not config.accept_changed_settings:
        raise UsageError(f"-resume: {out} was trained with other settings ({listing}); use the "
                         "same settings, or add -accept_changed_settings to continue with these "
                         "(the change is recorded in the checkpoint)")
    log.warning("resuming %s with changed settings (%s); recorded in the checkpoint", out, listing)
    return history + [{"after_epoch": recorded.get("epochs_done", 0), "changed": changed}]


def pretrain(config: PretrainConfig) -> dict:
    """Train and checkpoint a model; returns the checkpoint's path and final test accuracy.

    With a store, the model is looked up by its recipe first and trained only if missing.
    Under torchrun every process calls this; rank 0 decides (store lookup, -skip_done) and the
    others train with it."""
    epochs = check_config(config)
    world = distributed.world_from_env()
    if config.store is None:
        out = Path(config.out or default_checkpoint(config.net, config.dataset,
                                                    left_out_name(config)))
        preflight.writable_file(out, "checkpoint")
        if config.skip_done and out.exists():
            if finished_epochs(out, config, epochs) >= epochs:
                log.info("%s is finished (%d epochs)", out, epochs)
                return {"checkpoint": str(out), "acc_test": load_checkpoint(out)[1].get("acc_test"),
                        "epochs": epochs, "skipped": True}
            config = dataclasses.replace(config, resume=True)
        return _train(config, epochs, out, recipe=None)
    recipe = training_recipe(config, epochs)
    store = ModelStore(config.store)
    if world.is_main:
        store.check_writable()
    found = store.find(recipe)
    if found is not None:
        log.info("model store hit: %s", found)
    if world.size > 1:
        return _distributed_store_training(config, epochs, recipe, store, world)
    path = store.ensure(recipe, lambda partial: _train(
        dataclasses.replace(config, resume=True), epochs, partial, recipe))
    _, meta = load_checkpoint(path)
    return {"checkpoint": str(path), "acc_test": meta.get("acc_test"), "epochs": epochs,
            "skipped": found is not None}


def _distributed_store_training(config: PretrainConfig, epochs: int, recipe: TrainingRecipe,
                                store: ModelStore, world: distributed.World) -> dict:
    """The store under torchrun: rank 0 alone takes the store's lock (or finds the model);
    each time it trains, it sends the other processes the partial path to train with it,
    then None when the model is in place."""
    distributed.start(world, _device(config, world))
    partial_config = dataclasses.replace(config, resume=True)
    if world.is_main:
        def train_all(partial: Path) -> dict:
            distributed.broadcast_object(str(partial))
            return _train(partial_config, epochs, partial, recipe, keep_group=True)

        try:
            path = store.ensure(recipe, train_all)
        finally:
            distributed.broadcast_object(None)
            distributed.stop(world)
        _, meta = load_checkpoint(path)
        return {"checkpoint": str(path), "acc_test": meta.get("acc_test"), "epochs": epochs}
    try:
        while (partial := distributed.broadcast_object(None)) is not None:
            _train(partial_config, epochs, Path(partial), recipe, keep_group=True)
    finally:
        distributed.stop(world)
    return {"checkpoint": str(store.path_for(recipe)), "acc_test": None, "epochs": epochs}


def _device(config: PretrainConfig, world: distributed.World) -> torch.device:
    return distributed.device_for(world, config.gpu, resolve_device(config.gpu))


# What makes two pretraining runs at one -out path the same model (how they ran does not).
RECIPE_FIELDS = ("net", "dataset", "num_classes", "batch_size", "warm", "epochs",
                 "forget_class", "forget_subclass", "forget_count", "forget_seed", "seed",
                 "train_subset", "augment")


def finished_epochs(path: Path, config: PretrainConfig, epochs: int) -> int:
    """Epochs done by the checkpoint at `path`, which must hold the same recipe (-skip_done
    never mistakes another model for this one)."""
    _, recorded = load_checkpoint(path, arch=config.net, num_classes=config.num_classes,
                                  dataset=config.dataset)
    theirs = recorded.get("training", {})
    warm = recipes.warm_epochs(config.dataset) if config.warm is None else config.warm
    ours = {**asdict(config), "epochs": epochs, "warm": warm}
    differ = [name for name in RECIPE_FIELDS if name in theirs and theirs[name] != ours[name]]
    if differ:
        raise UsageError(f"{path} holds another training run (different "
                         f"{', '.join(differ)}); choose another -out")
    return int(recorded.get("epochs_done", 0))


def check_config(config: PretrainConfig) -> int:
    """Refuse a bad configuration before any data is loaded; returns the epoch count."""
    if config.dataset not in datasets.DATASETS:
        raise UsageError(f"unknown dataset {config.dataset!r}; valid: "
                         f"{', '.join(datasets.DATASETS)}")
    spec = datasets.DATASETS[config.dataset]
    if config.num_classes != spec.num_classes:
        raise UsageError(f"{config.dataset} has {spec.num_classes} classes, "
                         f"but -classes {config.num_classes} was given")
    epochs = config.epochs or recipes.pretrain_epochs(config.dataset, config.net)
    if epochs < 1 or config.batch_size < 1:
        raise UsageError("-epochs and -b must be at least 1")
    random = config.forget_count is not None or config.forget_seed is not None
    given = [config.forget_class is not None, config.forget_subclass is not None, random]
    if given.count(True) > 1:
        raise UsageError("give one of -forget_class, -forget_subclass and "
                         "-forget_count/-forget_seed")
    if random and (config.forget_count is None or config.forget_seed is None):
        # no default seed: -seed is the model's, and a retrain must name its forget set exactly
        raise UsageError("a random-task retrain needs both -forget_count N and -forget_seed S")
    if random and config.forget_count < 1:
        raise UsageError(f"-forget_count must be at least 1, got {config.forget_count}")
    if config.train_subset is not None and config.train_subset < 1:
        raise UsageError(f"-train_subset must be at least 1, got {config.train_subset}")
    if config.store is not None and config.out is not None:
        raise UsageError("give -store or -out, not both: a stored model's path is its recipe's")
    distributed.per_device_batch(config.batch_size, distributed.world_from_env())
    return epochs


def left_out_task(config: PretrainConfig) -> str | None:
    """The task whose forget set a retrained model leaves out; None for an original model."""
    if config.forget_class is not None:
        return tasks.FULL_CLASS
    if config.forget_subclass is not None:
        return tasks.SUB_CLASS
    return tasks.RANDOM if config.forget_count is not None else None


def left_out_name(config: PretrainConfig) -> str | None:
    """What the default checkpoint name says was left out: the class, or random<N>-seed<S>."""
    if left_out_task(config) == tasks.RANDOM:
        return f"random{config.forget_count}-seed{config.forget_seed}"
    return config.forget_class or config.forget_subclass


def left_out_description(config: PretrainConfig) -> str | None:
    """'class Shirt' / 'sub-class rocket' / 'random 100 samples (seed 3)' for a retrained
    model (names resolved), as the forgetting run's split describes it; else None."""
    if left_out_task(config) == tasks.RANDOM:
        return tasks.random_description(config.forget_count, config.forget_seed)
    if config.forget_class is not None:
        return tasks.forget_target(tasks.FULL_CLASS, config.dataset, config.forget_class,
                                   config.data_dir)[1]
    if config.forget_subclass is not None:
        return tasks.forget_target(tasks.SUB_CLASS, config.dataset, config.forget_subclass)[1]
    return None


def training_recipe(config: PretrainConfig, epochs: int) -> TrainingRecipe:
    """The store key of what this configuration trains."""
    warm = recipes.warm_epochs(config.dataset) if config.warm is None else config.warm
    return TrainingRecipe(
        net=config.net, dataset=config.dataset, num_classes=config.num_classes,
        seed=config.seed, epochs=epochs, batch_size=config.batch_size, warm=warm,
        left_out=left_out_description(config), train_subset=config.train_subset,
        augment=config.augment,
        model_options=json.dumps(config.model_options or {}, sort_keys=True))


def _train(config: PretrainConfig, epochs: int, out: Path, recipe: TrainingRecipe | None,
           keep_group: bool = False) -> dict:
    """Train into `out`; under torchrun in every process (rank 0 writes), joining the process
    group unless the caller holds it (`keep_group`)."""
    spec = datasets.DATASETS[config.dataset]
    # Names resolve once, before any data is read (Pins identity names need the data folder).
    if config.forget_class is not None:
        datasets.resolve_class(config.dataset, config.forget_class, config.data_dir)
    if config.forget_subclass is not None:
        datasets.resolve_fine_class(config.dataset, config.forget_subclass)
    training = {**asdict(config), "epochs": epochs}
    training.pop("store")
    meta = {"arch": config.net, "num_classes": config.num_classes, "dataset": config.dataset,
            "training": training}
    if recipe is not None:
        meta["recipe"] = asdict(recipe)
        training["out"] = None  # the store names the file; where it lay while training is noise
    warm = recipes.warm_epochs(config.dataset) if config.warm is None else config.warm
    meta["training"]["warm"] = warm
    if recipe is None:  # a stored model's file is named by its recipe: settings cannot differ
        changes = check_resume(config, out, meta)
        if changes:
            meta["resumed_with_changes"] = changes

    seed_everything(config.seed)
    world = distributed.world_from_env()
    device = _device(config, world)
    per_device = distributed.per_device_batch(config.batch_size, world)
    train_set = datasets.load_split(config.dataset, True, config.data_dir, seed=config.seed)
    test_set = datasets.load_split(config.dataset, False, config.data_dir, seed=config.seed)
    if config.train_subset is not None:
        train_set = datasets.training_subset(train_set, config.train_subset)
    indices, forget = None, None  # an original model trains on every sample
    task = left_out_task(config)
    if task is not None:  # a retrained one: the task split's retain set
        # Random: drawn on the training set after the -train_subset restriction, as the
        # forgetting run draws it (unlearn/run/experiment.py), so both leave out the same samples.
        task_split = tasks.split_for(task, config.dataset, train_set, test_set,
                                     forget_class=config.forget_class or config.forget_subclass,
                                     forget_count=config.forget_count,
                                     seed=config.forget_seed or 0, data_dir=config.data_dir)
        indices, forget = task_split.indices.retain_train, task_split.description

    model = build_model(config.net, config.num_classes, **(config.model_options or {}))
    model.to(device)
    if world.is_main:  # each epoch rewrites the checkpoint: refuse now what would not fit
        disk.check_free_space(out, checkpoint_bytes(model), "checkpoint")
    loader = datasets.BatchLoader(train_set, indices, config.batch_size, spec=spec,
                                  image_size=model.input_size, shuffle=True,
                                  augment=config.augment, seed=config.seed,
                                  rank=world.rank, world_size=world.size)
    test_loader = datasets.BatchLoader(test_set, None, 512, spec=spec,
                                       image_size=model.input_size)
    meta["forget"], meta["train_samples"] = forget, len(indices if indices is not None
                                                        else train_set.labels)
    # how it ran, not what it trains: a resume on another number of processes is the same run
    training["execution"] = distributed.execution_info(world, per_device, device)
    schedule = published_pretrain_schedule(epochs * len(loader), len(loader), warm,
                                           recipes.PRETRAIN_MAX_LR)

    def test_accuracy(trained: torch.nn.Module) -> float:
        return metrics.accuracy(*metrics.predict(trained, test_loader, device))

    log.info("training %s on %s%s for %d epochs -> %s", config.net, config.dataset,
             f" without {forget}" if forget else "", epochs, out)
    if not keep_group:
        distributed.start(world, device)
    try:
        summary = train(model, loader, device, TrainSettings(
            epochs=epochs, schedule=schedule, checkpoint_path=out, checkpoint_meta=meta,
            resume=config.resume, label="pretrain", evaluate_every=evaluation_interval(epochs),
            world=world), evaluate_epoch=test_accuracy)
    finally:
        if not keep_group:
            distributed.stop(world)
        elif world.size > 1:
            distributed.barrier()  # rank 0's checkpoint is complete before anyone reads it
    final = summary["history"][-1] if summary["history"] else {}
    return {"checkpoint": str(out), "acc_test": final.get("acc_test"), "epochs": epochs}


def checkpoint_bytes(model: torch.nn.Module) -> int:
    """About the size of a training checkpoint: the weights and SGD's momentum buffer, one
    per weight."""
    return 2 * sum(t.numel() * t.element_size() for t in model.state_dict().values())


def evaluation_interval(epochs: int) -> int:
    """Epochs between test-accuracy measurements: every epoch for short recipes, ten times in
    all for long ones (the memorising regime's 100 epochs on 2,000 images would otherwise
    spend five times longer scoring 10,000 test images than training)."""
    return max(1, epochs // 10)


def original_recipe(meta: dict, path: str) -> TrainingRecipe:
    """The recipe of an original model read from the store, from its checkpoint metadata."""
    recorded = meta.get("recipe")
    if not isinstance(recorded, dict):
        raise UsageError(f"{path} was not trained into a model store (it records no recipe), "
                         "so its retrained models cannot be looked up; train it with "
                         "pretrain_model.py -store DIR, or pass -retrain_path")
    try:
        recipe = TrainingRecipe(**recorded)
    except TypeError as error:
        raise UsageError(f"{path} records a recipe this version cannot read ({error})") from error
    if recipe.left_out is not None:
        raise UsageError(f"{path} is a retrained model (without {recipe.left_out}), "
                         "not an original")
    return recipe


# A forget set as the model store names it: a class or fine class by name, or the random
# task's (count, seed) pair.
ForgetSet = str | tuple[int, int]


def left_out_fields(task: str, forget: ForgetSet) -> dict:
    """The PretrainConfig fields that leave `task`'s forget set out."""
    tasks.check_task(task)
    if task == tasks.FULL_CLASS:
        return {"forget_class": forget}
    if task == tasks.SUB_CLASS:
        return {"forget_subclass": forget}
    if not (isinstance(forget, tuple) and len(forget) == 2):
        raise UsageError("a random-task retrain is named by its forget set's (count, seed), "
                         f"not {forget!r}")
    count, seed = forget
    return {"forget_count": count, "forget_seed": seed}


def retrain_config(original: TrainingRecipe, task: str, forget: ForgetSet, index: int,
                   store: str, data_dir: str | None, gpu: bool) -> PretrainConfig:
    """The pretraining run of the index-th retrain of (original, forget set): the original's
    recipe, the forget set left out (a class, a fine class, or the random task's samples drawn
    on the original's training set), seed retrain_seed(index) (shared by every original model
    of that forget set)."""
    left_out = left_out_fields(task, forget)
    return PretrainConfig(
        net=original.net, dataset=original.dataset, num_classes=original.num_classes,
        batch_size=original.batch_size, warm=original.warm, epochs=original.epochs,
        seed=retrain_seed(index), gpu=gpu, data_dir=data_dir,
        model_options=json.loads(original.model_options) or None,
        train_subset=original.train_subset, augment=original.augment, store=store, **left_out)


def stored_retrains(original: TrainingRecipe, task: str, forget: ForgetSet, count: int,
                    store: str, data_dir: str | None) -> list[Path]:
    """The first `count` retrained models of the cell, which must already be in the store
    (evaluation never trains: the pools are trained beforehand by scripts/pool.py)."""
    found, missing = [], []
    for index in range(count):
        config = retrain_config(original, task, forget, index, store, data_dir, gpu=False)
        recipe = training_recipe(config, config.epochs)
        path = ModelStore(store).find(recipe)
        (found if path else missing).append(path or recipe.seed)
    if missing:
        raise UsageError(f"the model store {store} lacks {len(missing)} of the {count} retrained "
                         f"models of this cell (seeds {', '.join(map(str, missing))}); train "
                         "them first with scripts/pool.py ... | python -m unlearn.sweep")
    return found

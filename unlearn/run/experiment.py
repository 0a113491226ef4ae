"""The one pipeline: seed -> load -> split -> unlearn (timed) -> evaluate -> record.

Entry points build a `RunConfig` from their command line and call `run`. Everything a result
depends on is in the config, which is stored whole with the result row.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from models import build_model
from models.checkpoint import file_sha256, load_checkpoint, load_into
from unlearn.data import datasets, tasks
from unlearn.devices import resolve_device, synchronize
from unlearn.errors import UsageError, WriteFailedError
from unlearn.eval import closeness, metrics
from unlearn.methods import MethodData, get_method
from unlearn.report import replicates
from unlearn.store import claims, preflight, results, run_outputs, stable_keys
from unlearn.store.versioning import code_version
from unlearn.train import original_model, pretraining
from unlearn.train.seeding import seed_everything

log = logging.getLogger(__name__)


@dataclass
class RunConfig:
    """One unlearning run, fully resolved."""

    task: str  # full_class | sub_class | random
    net: str  # network, a MODELS key
    dataset: str  # a DATASETS key
    num_classes: int  # outputs of the network (task classes; superclasses in sub-class)
    method: str  # a METHODS key
    weight_path: str  # checkpoint of the trained original model
    forget_class: str | None = None  # class (full) or fine class (sub) to forget: name or index
    forget_perc: float | None = None  # random task: fraction of the training set to forget
    forget_count: int | None = None  # random task: exact number of training samples to forget
    forget_seed: int | None = None  # random task: seed of the forget set; None: `seed` (published)
    seed: int = 0  # seeds torch, numpy, random, the split and JiT's noise
    batch_size: int = 128  # -b: batch of the forget/retain loaders handed to methods
    # inference batch of the evaluation (no effect on its values); 0 = auto (evaluation_batch)
    eval_batch_size: int = 0
    gpu: bool = False  # use CUDA when available (warns and uses the CPU otherwise)
    data_dir: str | None = None  # dataset root; default: the dataset's standard places
    results_path: str = "results/results.jsonl"  # JSONL results store, one row per run
    hyperparameters: dict = field(default_factory=dict)  # method keyword arguments, resolved
    model_options: dict = field(default_factory=dict)  # e.g. ViT weights directory
    wandb_project: str = ""  # published project name (logged only when wandb is enabled)
    wandb_name: str = ""  # published run name
    skip_done: bool = False  # return the recorded row if this exact run already succeeded
    autocast_bf16: bool = False  # evaluation forwards in bfloat16 autocast (speed; see bench/)
    store: str | None = None  # model store: retrained models by recipe (None: not used)
    retrain_index: int = 0  # retrain: which of the cell's K stored retrains (protocol's k)
    closeness_retrains: int = 0  # closeness of the outputs to the cell's first K stored retrains
    # folder for the run's per-example outputs (unlearn/store/run_outputs.py; None: not saved);
    # where they go does not change the run, so it stays out of the run key like the results file
    save_outputs: str | None = None
    # the tuned table the hyperparameters came from (-tuned): its study, so the report shows a
    # method's tuned row apart from its published-default one (None: not tuned)
    tuned_from: str | None = None


def forget_seed(config: RunConfig) -> int:
    """The seed the random forget set is drawn with: -forget_seed, else the run's seed (as
    published). Apart from it, J unlearning seeds can share one forget set."""
    return config.seed if config.forget_seed is None else config.forget_seed


# How a run ended without an error (run_with_status); the entry points turn the last two into
# their exit codes (unlearn/exit_codes.py).
DONE, SKIPPED, CLAIMED = "done", "skipped", "claimed elsewhere"


def run(config: RunConfig, *, retrained_paths: tuple[str, ...] = (),
        strict_checkpoint: bool = False) -> dict | None:
    """Run one unlearning experiment and append its result row; returns the row (None: the
    run is claimed by another live process). See run_with_status."""
    return run_with_status(config, retrained_paths=retrained_paths,
                           strict_checkpoint=strict_checkpoint)[1]


def run_with_status(config: RunConfig, *, retrained_paths: tuple[str, ...] = (),
                    strict_checkpoint: bool = False) -> tuple[str, dict | None]:
    """Run one unlearning experiment and append its result row; returns (DONE, the row),
    (SKIPPED, the recorded row) or (CLAIMED, None).

    retrained_paths: checkpoints of models retrained without this run's forget set (from the
    model store); the evaluation then also measures how close the model's outputs are to
    theirs (unlearn/eval/closeness.py). A checkpoint for another dataset or forget set is refused.

    Bad input raises UsageError before anything is recorded; every output is checked first
    (unlearn/store/preflight.py). A run that fails after it has started (an error inside the method
    or the evaluation) is recorded as a row with status "failed" and its error, then the error
    is raised again. With `skip_done` the run is claimed first (unlearn/store/claims.py): a run
    recorded already is SKIPPED, one claimed by another live process CLAIMED; without it the
    run is always DONE.
    `strict_checkpoint` refuses an original model that falls short of its recipe
    (unlearn/train/original_model.py).
    """
    method = get_method(config.method, config.task)
    if config.dataset not in datasets.DATASETS:
        raise UsageError(f"unknown dataset {config.dataset!r}; valid: "
                         f"{', '.join(datasets.DATASETS)}")
    tasks.check_forget_target(config.task, config.dataset, config.num_classes,
                              config.forget_class, config.data_dir)
    preflight.writable_file(config.results_path, "results file")
    if config.save_outputs:
        preflight.writable_folder(config.save_outputs, "outputs folder")
    if not Path(config.weight_path).is_file():
        raise UsageError(f"checkpoint not found: {config.weight_path}")
    checkpoint = file_sha256(config.weight_path)
    key = config_key(config, checkpoint)
    claim = None
    if config.skip_done:
        done: list[dict] = []

        def is_done() -> bool:
            # a run recorded without the outputs now asked for runs again to save them
            done[:] = [r for r in results.read_rows(config.results_path)
                       if r.get("config_key") == key and r.get("status") == "ok"
                       and (not config.save_outputs or r.get("outputs"))]
            return bool(done)

        claim, holder = claims.try_claim(config.results_path, key, is_done)
        if done:
            log.info("already recorded in %s (config %s); skipped", config.results_path, key)
            return SKIPPED, done[-1]
        if holder is not None:
            log.info("this run is being run by another process (pid %s on %s, claim in %s); "
                     "skipped", holder.get("pid"), holder.get("host"),
                     claims.claims_folder(config.results_path))
            return CLAIMED, None
    try:
        return DONE, _run(config, method, checkpoint, tuple(retrained_paths), strict_checkpoint)
    except UsageError:
        raise
    except Exception as error:
        record_failure(config, key, error)
        raise
    finally:  # after the row is appended, so a waiting sweep then finds it recorded
        claims.release(claim)


def _run(config: RunConfig, method, checkpoint: str, retrained_paths: tuple[str, ...],
         strict_checkpoint: bool) -> dict:
    spec = datasets.DATASETS[config.dataset]
    seed_everything(config.seed)
    identity = dict(arch=config.net, num_classes=config.num_classes, dataset=config.dataset)
    device = resolve_device(config.gpu)
    model, meta = load_model(config, identity, device)

    started = time.perf_counter()
    train_set = datasets.load_split(config.dataset, True, config.data_dir, seed=config.seed)
    # A model trained on a subset (the memorising regime) forgets and retains within it.
    subset = (meta.get("training") or {}).get("train_subset")
    if subset:
        train_set = datasets.training_subset(train_set, subset)
    test_set = datasets.load_split(config.dataset, False, config.data_dir, seed=config.seed)
    task_split = tasks.split_for(
        config.task, config.dataset, train_set, test_set, forget_class=config.forget_class,
        forget_perc=config.forget_perc, forget_count=config.forget_count,
        seed=forget_seed(config), data_dir=config.data_dir)
    split, description = task_split.indices, task_split.description
    # the forget set as the model store names its retrains: a class, or (count, seed)
    forget = ((len(split.forget_train), forget_seed(config)) if config.task == tasks.RANDOM
              else config.forget_class)
    data_s = time.perf_counter() - started
    # After every input check (bad input stays one line on stderr), before the method runs.
    original_model.check(meta, config.weight_path, config.net, config.dataset,
                         strict=strict_checkpoint)
    log.info("data ready in %.1f s: forget %d train / %d test samples (%s)", data_s,
             len(split.forget_train), len(split.forget_test), description)
    if config.closeness_retrains:  # the store's retrained models of this cell, never trained
        retrained_paths += tuple(str(p) for p in pretraining.stored_retrains(
            pretraining.original_recipe(meta, config.weight_path), config.task,
            forget, config.closeness_retrains, config.store, config.data_dir))
    retrained = {path: load_retrained(path, identity, description, config)
                 for path in retrained_paths}

    data = MethodData(
        method=config.method, task=config.task, allowed=method.data,
        train_set=train_set, split=split, batch_size=config.batch_size, spec=spec,
        image_size=model.input_size, seed=config.seed,
        num_classes=config.num_classes, forget_class=task_split.forget_label,
        new_model=functools.partial(build_model, config.net, config.num_classes,
                                    **config.model_options),
        extras={"checkpoint_identity": identity, "forget_description": description},
    )
    hyperparameters = dict(config.hyperparameters)
    if config.method == "retrain" and config.store and not hyperparameters.get("retrained_path"):
        hyperparameters["retrained_path"] = stored_retrain(config, meta, forget)
    if config.method == "retrain" and hyperparameters.get("retrained_path"):
        retrained = others_than_own(retrained, hyperparameters["retrained_path"])
    log.info("running %s on %s", config.method, device)
    synchronize(device)
    started = time.perf_counter()
    model = method.fn(model, data, device, **hyperparameters)
    synchronize(device)
    method_s = time.perf_counter() - started

    started = time.perf_counter()
    # the weights the run started from, read again (the method may have changed `model` in
    # place): the attacks' power is their result on it
    original, _ = load_model(config, identity, torch.device("cpu"))
    logits: dict = {}
    scores = evaluate(model, config, spec, train_set, test_set, split, device,
                      list(retrained.values()), original=original, logits_out=logits)
    del original
    eval_s = time.perf_counter() - started

    row = result_row(config, checkpoint, description, scores, method_s, eval_s, data_s,
                     str(device), (meta.get("training") or {}).get("execution"))
    if config.save_outputs and "members" in logits:
        row["outputs"] = str(write_outputs(config, row, split, train_set, test_set, subset,
                                          logits))
    row["study"] = replicates.coordinates(config, checkpoint, meta, hyperparameters)
    if "chosen" in data.extras:  # what a self-tuning method chose (jit_zero_shot's η)
        row["chosen"] = data.extras["chosen"]
    results.append_row(config.results_path, row)
    results.log_to_wandb(config.wandb_project, config.wandb_name, row["config"],
                         {**scores, **metrics.reference_view(scores, config.task),
                          "MethodTime": method_s},
                         Path(config.results_path).parent)
    return row


def load_model(config: RunConfig, identity: dict,
               device: torch.device) -> tuple[torch.nn.Module, dict]:
    """The network with the checkpoint's weights, on `device`, and the checkpoint's metadata.
    The loaded state dict is a second copy of every weight; it is dropped here, before the
    run (533 MB for VGG16)."""
    model = build_model(config.net, config.num_classes, **config.model_options)
    state, meta = load_checkpoint(config.weight_path, **identity)
    load_into(model, state, config.weight_path)
    return model.to(device), meta


def stored_retrain(config: RunConfig, meta: dict, forget) -> str:
    """The retrained model of this run's cell (`forget`: its forget set as
    pretraining.retrain_config takes it) from the model store, trained there first if no run
    has needed it yet; the retrain method then only loads it."""
    original = pretraining.original_recipe(meta, config.weight_path)
    retrain = pretraining.retrain_config(original, config.task, forget, config.retrain_index,
                                         config.store, config.data_dir, config.gpu)
    return pretraining.pretrain(retrain)["checkpoint"]


def load_retrained(path: str, identity: dict, description: str, config: RunConfig):
    """A retrained model for the closeness measures, checked against this run's cell (same
    network, classes and dataset; left out exactly this run's forget set); on the CPU until
    the evaluation uses it."""
    state, meta = load_checkpoint(path, **identity)
    closeness.check_retrained(meta, path, dataset=config.dataset, forget=description)
    model = build_model(config.net, config.num_classes, **config.model_options)
    load_into(model, state, path)
    return model


def others_than_own(retrained: dict, own: str) -> dict:
    """The retrained models to compare a `retrain` run with: all but the one it loaded itself
    (its closeness to itself would be perfect and say nothing)."""
    mine = file_sha256(own)
    return {path: model for path, model in retrained.items() if file_sha256(path) != mine}


def evaluation_batch(image_size: int, device: torch.device) -> int:
    """Auto evaluation batch. CPU: 128 images (measured in bench/bench_eval.py: the demo CNN
    evaluates 70,000 images in 7 s at 128 and 10 s at 512, whose activations fall out of
    cache). GPU: 512 images at 32 px, fewer for larger inputs (the same number of pixels, at
    least 64 images), so a 224 px batch does not hold 300 MB of input."""
    if device.type != "cuda":
        return 128
    return max(64, 512 * 32 * 32 // (image_size * image_size))


def evaluate(model, config: RunConfig, spec, train_set, test_set, split, device,
             retrained: list | tuple = (), *, original: torch.nn.Module | None = None,
             logits_out: dict | None = None) -> dict:
    """Every metric of the README's metrics table from one inference pass per split; with
    `retrained` models, also the closeness of the outputs to theirs (scores["closeness"],
    see unlearn/eval/closeness.py); with the `original` model (the weights the run started from),
    also each attack's power (its keys with the suffix "_original"). logits_out receives the
    logits and the attacks' samples (metrics.evaluate)."""
    batch = config.eval_batch_size or evaluation_batch(model.input_size, torch.device(device))

    loader = functools.partial(datasets.BatchLoader, batch_size=batch, spec=spec,
                               image_size=model.input_size)
    test, forget_train = loader(test_set, None), loader(train_set, split.forget_train)
    test_classes, class_names = per_class_labels(config, spec, test_set)
    logits = {} if logits_out is None else logits_out
    original_outputs = None
    if original is not None:
        original_outputs = original_attack_outputs(
            original, device, task=config.task, seed=config.seed, forget_train=forget_train,
            test_set=test_set, forget_test=split.forget_test, loader=loader,
            autocast_bf16=config.autocast_bf16)
    scores = metrics.evaluate(
        model, device,
        test=test, forget_test_mask=split.forget_test,
        retain_train=loader(train_set, split.retain_train), forget_train=forget_train,
        task=config.task, autocast_bf16=config.autocast_bf16,
        test_classes=test_classes, class_names=class_names, logits_out=logits,
        seed=config.seed,  # the random task's matched non-members for the attacks
        original=original_outputs,
    )
    if retrained:
        mask = None
        if config.task != tasks.RANDOM:
            mask = torch.zeros(len(test_set.labels), dtype=torch.bool)
            mask[split.forget_test] = True

        def predict(other):  # the same loaders, one retrained model on the device at a time
            other.to(device)
            outputs = tuple(metrics.predict(other, data, device,
                                            autocast_bf16=config.autocast_bf16)[0]
                            for data in (test, forget_train))
            other.cpu()
            return outputs

        mine = closeness.split_logits(logits["test"], logits["forget_train"], mask)
        scores["closeness"] = closeness.closeness(
            mine, closeness.retrained_split_logits(retrained, predict, mask))
    return scores


def original_attack_outputs(original: torch.nn.Module, device, *, task: str, seed: int,
                            forget_train, test_set, forget_test, loader,
                            autocast_bf16: bool = False) -> metrics.OriginalOutputs | None:
    """The original model's logits on the population attacks' samples alone: the forget-train
    loader and the matched non-members (`loader(images, indices)` builds a loader). These two
    passes are all the power costs: the forget set and as many test images, a small part of an
    evaluation that also passes over the whole test and retain sets. None when the attacks have
    no non-members (a test set sharing no class with the forget set)."""
    _, nonmember = metrics.attack_samples(task, forget_train.labels, test_set.labels,
                                          forget_test, seed)
    if not len(nonmember):
        return None
    original.to(device)
    forget_logits, _ = metrics.predict(original, forget_train, device,
                                       autocast_bf16=autocast_bf16)
    nonmember_logits, _ = metrics.predict(original, loader(test_set, nonmember), device,
                                          autocast_bf16=autocast_bf16)
    original.cpu()
    return metrics.OriginalOutputs(forget_train=forget_logits, nonmembers=nonmember_logits)


def write_outputs(config: RunConfig, row: dict, split, train_set, test_set, subset,
                 logits: dict):
    """Write the run's per-example outputs (unlearn/store/run_outputs.py) under its run key."""
    members, nonmembers = logits["members"], logits["nonmembers"]
    forget = split.forget_train[members]
    about = {key: row[key] for key in ("task", "dataset", "net", "method", "forget", "seed",
                                       "forget_seed") if key in row}
    # the forget set's size names a random task's retrains in the store, whatever the attacks kept
    about.update(train_subset=subset, forget_count=len(split.forget_train))
    return run_outputs.save(
        config.save_outputs, row["config_key"], about,
        forget_indices=forget, forget_labels=train_set.labels[forget],
        forget_logits=logits["forget_train"][members], nonmember_indices=nonmembers,
        nonmember_labels=test_set.labels[nonmembers],
        nonmember_logits=logits["test"][nonmembers])


def per_class_labels(config: RunConfig, spec, test_set) -> tuple[torch.Tensor, list[str]]:
    """The class of every test sample for per-class accuracies, and the class names: the
    task's classes, or in the sub-class task the fine classes (so the forgotten sub-class's
    siblings in its superclass each get their own accuracy)."""
    if config.task == tasks.SUB_CLASS:
        names = [datasets.fine_class_name(config.dataset, fine)
                 for fine in range(datasets.fine_class_count(config.dataset))]
        return test_set.fine_labels, names
    return test_set.labels, list(test_set.class_names or spec.class_names)


def result_row(config: RunConfig, checkpoint: str, description: str, scores: dict,
               method_s: float, eval_s: float, data_s: float, device: str,
               trained_with: dict | None = None) -> dict:
    """The JSON row recorded for one finished run (`checkpoint`: its SHA-256).

    `execution` says how the run was executed (an unlearning run is one process; its methods'
    loaders use the batch -b) and how the checkpoint was trained (`trained_with`: processes,
    batch per device, device type; None for checkpoints that do not record it): results
    change with the number of GPUs and the batch each one sees."""
    resolved = asdict(config)
    execution = {"world_size": 1, "per_device_batch": config.batch_size,
                 "device_type": torch.device(device).type, "checkpoint_training": trained_with}
    return {
        "status": "ok",
        "task": config.task, "method": config.method, "net": config.net,
        "dataset": config.dataset, "forget": description, "seed": config.seed,
        **({"forget_seed": forget_seed(config)} if config.task == tasks.RANDOM else {}),
        "metrics": scores,
        "reference_metrics": metrics.reference_view(scores, config.task),
        "method_s": method_s, "eval_s": eval_s, "data_s": data_s,
        "config": resolved, "config_key": config_key(config, checkpoint),
        "checkpoint_sha256": checkpoint, "code_version": code_version(), "device": device,
        "execution": execution,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def failed_row(config: RunConfig, key: str, error: BaseException) -> dict:
    """The row recorded for a run that started and then failed."""
    return {
        "status": "failed", "error": f"{type(error).__name__}: {error}",
        "task": config.task, "method": config.method, "net": config.net,
        "dataset": config.dataset, "forget": config.forget_class, "seed": config.seed,
        "config": asdict(config), "config_key": key, "code_version": code_version(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def record_failure(config: RunConfig, key: str, error: BaseException) -> None:
    """Append the failed row of a run that started; when even that row cannot be written (a
    full disk), a WriteFailedError that names the run that was lost."""
    try:
        results.append_row(config.results_path, failed_row(config, key, error))
    except WriteFailedError as lost:
        forget = config.forget_class or config.forget_count or config.forget_perc
        why = "" if isinstance(error, WriteFailedError) else f" (it had failed: {error})"
        raise WriteFailedError(f"{lost}: the {config.method} run on {forget}, seed "
                               f"{config.seed} (config {key}) is lost{why}; run it again once "
                               "there is space") from error


def config_key(config: RunConfig, checkpoint_sha256: str) -> str:
    """A hash identifying the run: its resolved configuration and checkpoint contents.

    Where the results go and how wide evaluation batches are do not change the result.
    """
    # options added later, at the value that behaves as before, stay out of the key (see
    # unlearn/store/stable_keys.py): recorded runs are still found after an upgrade
    resolved = stable_keys.drop_when_as_before(asdict(config))
    for ignored in ("results_path", "eval_batch_size", "wandb_project", "wandb_name", "gpu",
                    "skip_done", "store", "save_outputs", "tuned_from"):
        resolved.pop(ignored, None)
    resolved["weight_path"] = checkpoint_sha256
    text = json.dumps(resolved, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

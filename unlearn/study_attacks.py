"""The per-example attacks of a study, computed after it from the runs' saved outputs
(`-save_outputs DIR`) and the model store's pools; no unlearned model is kept or loaded.

    python scripts/study_attacks.py results/study.jsonl --store S --outputs DIR \\
        --out results/study_attacks [--pool-size 4] [--heldout 1] [--fq-models N]

Per cell (original model, forget set; a class, a fine class, or the random task's samples):

* the "in" pool: `pool_size` originals of the cell's recipe with other pretraining seeds
  (the lowest seeds found in the store; the cell's own original is left out: the methods
  started from it, so its outputs are not an independent draw of "trained on x");
* the "out" pool: the cell's stored retrains (pretraining.stored_retrains): the first
  `pool_size` fit the Gaussians, the next `heldout` are the ROC's negatives. A retrain row's own
  retrained model is left out of both (its U-LiRA would otherwise judge a model by a fit that
  saw it);
* U-LiRA (attacks.lira.ulira) of each run's unlearned model on the forget samples against the
  held-out retrains; the cell's value is the mean over the method's runs there.

Per forget set and method: the forgetting-quality score (attacks.forget_quality) of the
method's N distinct unlearned models (its runs over originals x seeds) against N stored
retrains of that forget set that are not among them (a retrain row's own retrain is one of its
unlearned models).

Pool models are read from the store and never trained: missing ones stop the command (exit 2)
with the line that trains them. Pools of another dataset or network are refused
(attacks.pools.check_pool).
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from unlearn import recipes, report, run_outputs, study_layout, tasks
from unlearn.attacks import lira
from unlearn.attacks.confidence import logit_scaled_confidence
from unlearn.attacks.forget_quality import MIN_MODELS, forget_quality
from unlearn.attacks.pools import DEFAULT_POOL
from unlearn.errors import UsageError
from unlearn.model_store import ModelStore, TrainingRecipe

DEFAULT_HELDOUT = 1  # lira.py: "plus at least one more retrained model held out"
ORIGINAL_SEEDS = range(1000)  # original seeds lie below the retrains' (model_store.retrain_seed)
TPRS = ("tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct")


@dataclass
class Run:
    """One run's row and what its saved outputs give the attacks."""

    row: dict
    label: str  # the report's row label (method plus the settings that differ)
    phi: np.ndarray  # logit-scaled confidence of the unlearned model per forget sample
    indices: np.ndarray  # the forget samples' positions in the training set
    labels: np.ndarray
    own_retrain: int | None  # retrain rows: which stored retrain the run loaded
    forget_count: int  # the forget set's size (random: the retrains' count)

    @property
    def cell(self) -> tuple[str, str]:
        return study_layout.cell_of(self.row)

    @property
    def forget_set(self):
        """The forget set as the store names its retrains (pretraining.ForgetSet): a class or
        fine class, or the random task's (count, forget seed)."""
        if self.row["task"] == tasks.RANDOM:
            return self.forget_count, int(self.row.get("forget_seed", self.row["seed"]))
        return self.row["config"]["forget_class"]

    @property
    def model(self) -> str:
        """Identity of the unlearned model by its outputs (a retrain row in several cells
        loaded one stored model: it counts once)."""
        return hashlib.sha256(self.phi.tobytes()).hexdigest()


@dataclass
class Result:
    """One method's U-LiRA in one cell, and its forget set's forgetting quality."""

    group: tuple[str, str, str]  # task, dataset, net
    method: str
    label: str
    cell: tuple[str, str]  # (original model's hash, forget set)
    original_seed: int  # the cell's original model's pretraining seed
    runs: int
    lira: dict[str, float] | None  # mean over the runs of lira.ulira's summary (None: no run
    # could be served, see run_lira)
    pools: dict = field(default_factory=dict)  # sizes and the in pool's seeds
    quality: dict | None = None  # {"score", "num_models"} or None (fewer than 3 models)


# ---------------------------------------------------------------------------------------------
# Pure computation on confidences (tests feed it synthetic ones)

def indices_needed(count: int, excluded: set[int]) -> int:
    """How many stored retrains (indices 0, 1, ...) give `count` outside `excluded`."""
    total = 0
    while total - len(excluded & set(range(total))) < count:
        total += 1
    return total


def split_out_pool(retrains: np.ndarray, own: int | None, pool_size: int,
                   heldout: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, held out) phi from the retrains' phi [K, n], leaving out the run's own retrain."""
    others = [k for k in range(len(retrains)) if k != own]
    if len(others) < pool_size + heldout:
        raise UsageError(f"the out pool has {len(others)} retrained model(s) besides the run's "
                         f"own; it needs {pool_size} for the fit and {heldout} held out")
    return retrains[others[:pool_size]], retrains[others[pool_size:pool_size + heldout]]


def run_lira(runs: list[Run], in_phi: np.ndarray, retrain_phi: np.ndarray, pool_size: int,
             heldout: int) -> dict[str, float] | None:
    """Mean over `runs` of each run's U-LiRA summary (its unlearned model against the held-out
    retrains, Gaussians fitted on `in_phi` and the first retrains). A retrain row whose own
    retrain leaves too few others (K = pool + held out) is left out; None if no run is left."""
    summaries = []
    for run in runs:
        try:
            fit, negatives = split_out_pool(retrain_phi, run.own_retrain, pool_size, heldout)
        except UsageError:
            if run.own_retrain is None:
                raise
            continue
        summaries.append(lira.ulira(run.phi, negatives, in_phi, fit))
    if not summaries:
        return None
    return {key: statistics.fmean(s[key] for s in summaries) for key in summaries[0]}


def run_quality(runs: list[Run], retrain_phi: np.ndarray, max_models: int | None) -> dict | None:
    """Forgetting quality of the runs' distinct unlearned models against as many retrains not
    among them; None with fewer than 3 models."""
    models = {run.model: run for run in runs}
    chosen = list(models.values())[:max_models] if max_models else list(models.values())
    if len(chosen) < MIN_MODELS:
        return None
    own = {run.own_retrain for run in runs if run.own_retrain is not None}
    others = [k for k in range(len(retrain_phi)) if k not in own][:len(chosen)]
    if len(others) < len(chosen):  # e.g. the retrain rows of a K = 3 study: their 3 models
        return None  # are the 3 stored retrains, and no other retrain is left to compare with
    quality = forget_quality(np.stack([run.phi for run in chosen]), retrain_phi[others])
    return {"score": quality["score"], "num_models": len(chosen)}


# ---------------------------------------------------------------------------------------------
# Rows and their saved outputs

def own_retrain(row: dict) -> int | None:
    """Which stored retrain (index k, seed 1000 + k) a retrain row loaded; None otherwise."""
    if row.get("method") != report.REFERENCE:
        return None
    found = re.search(r"\(seed (\d+)\)", str((row.get("study") or {}).get("retrain", "")))
    if not found or int(found.group(1)) < 1000:
        raise UsageError(f"retrain row {row.get('config_key')} did not load a stored retrain "
                         "(its study place names none); its model cannot be left out of the "
                         "pools")
    return int(found.group(1)) - 1000


def load_runs(rows: list[dict], outputs: str | None) -> dict[tuple, list[Run]]:
    """The runs with saved outputs, by (task, dataset, net), labelled as the report labels
    them. outputs: the folder the files are in now (None: where the rows say)."""
    kept = [r for r in report.ok_rows(rows) if r.get("outputs")]
    if not kept:
        raise UsageError("no successful row records saved outputs; run the study with "
                         "-save_outputs DIR (scripts/study_runs.py ... --extra -save_outputs DIR)")
    by_group: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in kept:
        by_group[(row["task"], row["dataset"], row["net"])][row["method"]].append(row)
    groups = {}
    for group, by_method in sorted(by_group.items()):
        runs = []
        for method in sorted(by_method, key=report.method_rank):
            for variant in report.split_variants(method, by_method[method]):
                runs += [read_run(row, variant.label, outputs) for row in variant.runs]
        groups[group] = runs
    return groups


def read_run(row: dict, label: str, outputs: str | None) -> Run:
    path = Path(row["outputs"])
    saved = run_outputs.load(Path(outputs) / path.name if outputs else path)
    labels = saved["forget_labels"]
    return Run(row=row, label=label, phi=logit_scaled_confidence(saved["forget_logits"], labels),
               indices=saved["forget_indices"].numpy(), labels=labels.numpy(),
               own_retrain=own_retrain(row),
               forget_count=int(saved.get("forget_count", len(labels))))


# ---------------------------------------------------------------------------------------------
# The store's pools and their confidences on the forget samples

def original_recipe(row: dict) -> TrainingRecipe:
    """The recipe of the original model a row started from (its checkpoint's metadata)."""
    from models.checkpoint import load_checkpoint
    from unlearn import pretraining

    path = row["config"]["weight_path"]
    if not Path(path).is_file():
        raise UsageError(f"the original model of cell {' × '.join(study_layout.cell_of(row))} "
                         f"is not at {path} (run from the study's folder)")
    return pretraining.original_recipe(load_checkpoint(path)[1], path)


def train_command(recipe: TrainingRecipe, store: str, *, originals: list[int] = (),
                  task: str = tasks.FULL_CLASS, forget=None, retrains: int = 0) -> str:
    """The command line that trains missing pool models into the store: scripts/pool.py where
    the recipe is one of its regimes, else pretrain_model.py with the recipe's flags. Either
    the originals of `originals` seeds, or the first `retrains` retrains of `forget`."""
    from unlearn.pretraining import left_out_fields

    regime = next((name for name, settings in recipes.REGIMES.items()
                   if recipe.epochs == settings.get("epochs", recipes.pretrain_epochs(
                       recipe.dataset, recipe.net))
                   and recipe.train_subset == settings.get("train_subset")
                   and recipe.augment == settings.get("augment", True)
                   and recipe.batch_size == recipes.PRETRAIN_BATCH_SIZE
                   and recipe.warm == recipes.warm_epochs(recipe.dataset)), None)
    if regime is not None:
        if originals:
            what = f"--originals {','.join(map(str, originals))}"
        elif task == tasks.RANDOM:
            what = (f"--originals '' --forget-count {forget[0]} --forget-seeds {forget[1]} "
                    f"--retrains {retrains}")
        else:
            what = f"--originals '' --forget {forget} --retrains {retrains}"
        return (f"python scripts/pool.py --task {task} --net {recipe.net} "
                f"--dataset {recipe.dataset} --classes {recipe.num_classes} {what} "
                f"--regime {regime} --store {store} | python -m unlearn.sweep --gpus cpu")
    flags = (f"-net {recipe.net} -dataset {recipe.dataset} -classes {recipe.num_classes} "
             f"-epochs {recipe.epochs} -b {recipe.batch_size} -warm {recipe.warm}"
             + (f" -train_subset {recipe.train_subset}" if recipe.train_subset else "")
             + ("" if recipe.augment else " -no_augment") + f" -store {store}")
    if originals:
        return f"python pretrain_model.py {flags} -seed S, for S in {originals}"
    left_out = " ".join(f"-{k} {v}" for k, v in left_out_fields(task, forget).items())
    return (f"python pretrain_model.py {flags} {left_out} -seed S, "
            f"for S = 1000 ... {999 + retrains}")


def in_pool(store: str, recipe: TrainingRecipe, size: int) -> tuple[list[Path], list[int]]:
    """The `size` stored originals of the recipe with the lowest seeds other than its own,
    and those seeds."""
    from unlearn.attacks.pools import stored_pool

    found = []
    for seed in ORIGINAL_SEEDS:
        other = replace(recipe, seed=seed)
        if seed != recipe.seed and ModelStore(store).path_for(other).is_file():
            found.append(other)
        if len(found) == size:
            paths = stored_pool(ModelStore(store), found, "original ('in') pool")
            return paths, [r.seed for r in found]
    have = [r.seed for r in found]
    wanted = [s for s in ORIGINAL_SEEDS if s != recipe.seed and s not in have][:size - len(have)]
    raise UsageError(f"the model store {store} holds {len(have)} original(s) of this recipe "
                     f"besides the cell's own (seed {recipe.seed}); the in pool needs {size}: "
                     f"train them with: {train_command(recipe, store, originals=wanted)}")


def out_pool(store: str, recipe: TrainingRecipe, run: Run, count: int,
             data_dir: str | None) -> list[Path]:
    """The first `count` stored retrains of the run's forget set."""
    from unlearn import pretraining

    try:
        return pretraining.stored_retrains(recipe, run.row["task"], run.forget_set, count,
                                           store, data_dir)
    except UsageError as error:
        if "lacks" not in str(error):
            raise
        command = train_command(recipe, store, task=run.row["task"], forget=run.forget_set,
                                retrains=count)
        raise UsageError(f"the model store {store} lacks retrained models of "
                         f"{study_layout.forget_of(run.row)} (the out pool needs {count}): "
                         f"train them with: {command}") from error


class Confidences:
    """Pool models' phi on one forget set's samples, each model run once."""

    def __init__(self, data_dir: str | None, device):
        self.data_dir, self.device = data_dir, device
        self.cache: dict[tuple, np.ndarray] = {}

    def __call__(self, paths: list[Path], name: str, run: Run, recipe: TrainingRecipe,
                 need: int) -> np.ndarray:
        from unlearn.attacks import pools

        row = run.row
        identity = {"net": row["net"], "dataset": row["dataset"],
                    "num_classes": row["config"]["num_classes"]}
        paths = pools.check_pool(paths, need, name, **identity)  # before any inference
        samples = run.indices.tobytes()
        todo = [p for p in paths if (str(p), samples) not in self.cache]
        if todo:
            options = json.loads(recipe.model_options) or {}
            loader = self.loader(run, recipe, options)
            phi = pools.pool_confidences(todo, loader, self.device, model_options=options,
                                         **identity)
            self.cache.update({(str(p), samples): values for p, values in zip(todo, phi)})
        return np.stack([self.cache[(str(p), samples)] for p in paths])

    def loader(self, run: Run, recipe: TrainingRecipe, options: dict):
        import datasets
        from models import build_model

        row = run.row
        train_set = datasets.load_split(row["dataset"], True, self.data_dir, seed=row["seed"])
        if recipe.train_subset:
            train_set = datasets.training_subset(train_set, recipe.train_subset)
        size = build_model(row["net"], row["config"]["num_classes"], **options).input_size
        loader = datasets.BatchLoader(train_set, run.indices, 128,
                                      spec=datasets.DATASETS[row["dataset"]], image_size=size)
        if not np.array_equal(loader.labels.numpy(), run.labels):
            raise UsageError(f"the forget samples' labels in {row['outputs']} differ from the "
                             "data's: another data set or folder than the run's (-data_dir)?")
        return loader


# ---------------------------------------------------------------------------------------------
# The study

def study_attacks(rows: list[dict], *, store: str, outputs: str | None = None,
                  data_dir: str | None = None, device="cpu", pool_size: int = DEFAULT_POOL,
                  heldout: int = DEFAULT_HELDOUT, fq_models: int | None = None) -> list[Result]:
    """U-LiRA per (method, cell) and forgetting quality per (method, forget set)."""
    if pool_size < lira.MIN_POOL:
        raise UsageError(f"--pool-size {pool_size}: a Gaussian fit needs at least "
                         f"{lira.MIN_POOL} models")
    if heldout < 1:
        raise UsageError(f"--heldout {heldout}: the ROC needs at least one held-out retrain")
    if fq_models is not None and fq_models < MIN_MODELS:
        raise UsageError(f"--fq-models {fq_models}: forget quality needs at least {MIN_MODELS}")
    confidences = Confidences(data_dir, device)
    found = []
    for group, runs in load_runs(rows, outputs).items():
        by_forget: dict[str, list[Run]] = defaultdict(list)
        for run in runs:
            by_forget[study_layout.forget_of(run.row)].append(run)
        for forget_runs in by_forget.values():
            found += forget_set_results(group, forget_runs, store, confidences, pool_size,
                                        heldout, fq_models, data_dir)
    return found


def forget_set_results(group, runs: list[Run], store: str, confidences: Confidences,
                       pool_size: int, heldout: int, fq_models: int | None,
                       data_dir: str | None) -> list[Result]:
    """Every method's results on one forget set (all its cells)."""
    first = runs[0]
    if any(not np.array_equal(run.indices, first.indices) for run in runs):
        raise UsageError(f"the runs forgetting {study_layout.forget_of(first.row)} saved "
                         "different forget samples (other training subsets?)")
    one_per_cell = {run.cell: run for run in runs}.values()
    cell_recipes = {run.cell: original_recipe(run.row) for run in one_per_cell}
    if len({replace(r, seed=0) for r in cell_recipes.values()}) > 1:
        raise UsageError(f"the originals forgetting {study_layout.forget_of(first.row)} were "
                         "trained with different recipes; their retrains differ")
    by_label: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_label[run.label].append(run)
    # enough retrains for every run's out pool, and if the store has them for every method's
    # forget quality (a method it cannot serve gets none)
    # (a retrain row's own retrain is left out of its pool: it is served when the store has one
    # more retrain, else it gets no U-LiRA)
    need = pool_size + heldout
    wanted = max(indices_needed(pool_size + heldout, {run.own_retrain} - {None}) for run in runs)
    for label_runs in by_label.values():
        models = len({run.model for run in label_runs})
        models = min(models, fq_models) if fq_models else models
        if models >= MIN_MODELS:
            own = {run.own_retrain for run in label_runs} - {None}
            wanted = max(wanted, indices_needed(models, own))
    recipe = next(iter(cell_recipes.values()))
    try:
        retrain_paths = out_pool(store, recipe, first, wanted, data_dir)
    except UsageError:
        retrain_paths = out_pool(store, recipe, first, need, data_dir)
    need = len(retrain_paths)
    retrain_phi = confidences(retrain_paths, "retrained ('out') pool", first, recipe, need)
    found = []
    for cell, cell_recipe in cell_recipes.items():
        originals, seeds = in_pool(store, cell_recipe, pool_size)
        in_phi = confidences(originals, "original ('in') pool", first, cell_recipe, pool_size)
        for label, label_runs in by_label.items():
            mine = [run for run in label_runs if run.cell == cell]
            if mine:
                found.append(Result(
                    group=group, method=mine[0].row["method"], label=label, cell=cell,
                    original_seed=cell_recipe.seed, runs=len(mine),
                    lira=run_lira(mine, in_phi, retrain_phi, pool_size, heldout),
                    pools={"in": pool_size, "out": pool_size, "heldout": heldout,
                           "in_seeds": seeds}))
    for label, label_runs in by_label.items():
        quality = run_quality(label_runs, retrain_phi, fq_models)
        for result in found:
            if result.label == label:
                result.quality = quality
    return found


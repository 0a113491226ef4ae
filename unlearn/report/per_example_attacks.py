"""The per-example attacks of a study, computed after it from the runs' saved outputs
(`-save_outputs DIR`) and the model store's pools; no unlearned model is kept or loaded.

    python scripts/study_attacks.py results/study.jsonl --store S --outputs DIR \\
        --out results/study_attacks [--pool-size 8] [--heldout 4] [--fq-models N] \\
        [--variance auto|shared|per-example] [--no-verdict]

Per cell (original model, forget set; a class, a fine class, or the random task's samples) and
method, U-LiRA as published (attacks.lira):

* the "in" pool: the method's own runs on the OTHER originals' cells of the forget set (shadow
  originals unlearned by the method); never a run of the cell under test, nor a model one of
  its runs produced. The baseline's "in" pool is `pool_size` stored originals of other seeds
  (its unlearned model is the original itself): its value is the attack's power;
* the "out" pool: the forget set's stored retrains that none of the method's runs loaded:
  the first `pool_size` fit the Gaussians, the next `heldout` are the ROC's negatives;
* the value: each run against the held-out retrains, mean over the cell's runs; the null:
  each held-out retrain against the others under the same Gaussians (lira.null_aucs).

Per forget set and method: forgetting quality (attacks.forget_quality) of the method's N
distinct unlearned models against N stored retrains none of them loaded, and its null: N more
such retrains against the same N (quality_null). Every method of a forget set has the same N
(--fq-models caps it).

The verdict per method row (summarise; attacks.null): inside the null interval =
"indistinguishable from retraining", only where the baseline's value clears its own null by
attacks.null.POWER_MARGIN, else "no power here". Pools below attacks.null.VERDICT_POOL /
VERDICT_HELDOUT stop the command unless --no-verdict (values and nulls only).

Pool models are read from the store and never trained: missing ones stop the command (exit 2)
with the line that trains them. Pools of another dataset or network are refused
(attacks.pools.check_pool).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from models import build_model
from models.checkpoint import load_checkpoint
from unlearn.data import datasets, tasks
from unlearn.errors import UsageError
from unlearn.eval.attacks import lira
from unlearn.eval.attacks import null as nulls
from unlearn.eval.attacks.confidence import logit_scaled_confidence
from unlearn.eval.attacks.forget_quality import MIN_MODELS, forget_quality, quality_null
from unlearn.eval.attacks.pools import check_pool, pool_confidences, stored_pool
from unlearn.report import replicates, tables
from unlearn.store import run_outputs
from unlearn.store.model_store import ModelStore, TrainingRecipe
from unlearn.train import pretraining, recipes

ORIGINAL_SEEDS = range(1000)  # original seeds lie below the retrains' (model_store.retrain_seed)
TPRS = ("tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct")
BASELINE = "baseline"  # the method whose unlearned model is the original: the attack's power


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
        return replicates.cell_of(self.row)

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
    runs: int  # the runs whose U-LiRA values `lira` averages: every run of the method there
    lira: dict[str, float]  # mean over the runs of lira.ulira's summary
    lira_null: list[float]  # each held-out retrain's AUC under the same Gaussians
    pools: dict = field(default_factory=dict)  # sizes, where "in" came from, its seeds
    quality: dict | None = None  # {"score", "num_models", "null", "null_low", "null_high"}
    # or None (fewer than 3 models)


# ---------------------------------------------------------------------------------------------
# Pure computation on confidences (tests feed it synthetic ones)

def indices_needed(count: int, excluded: set[int]) -> int:
    """How many stored retrains (indices 0, 1, ...) give `count` outside `excluded`."""
    total = 0
    while total - len(excluded & set(range(total))) < count:
        total += 1
    return total


def own_retrains(runs: list[Run]) -> set[int]:
    """The stored retrains the runs loaded (retrain rows): kept out of every retrained pool
    the runs are judged by, so no model is compared with itself."""
    return {run.own_retrain for run in runs} - {None}


def available_retrains(total: int, runs: list[Run]) -> list[int]:
    """Indices of the stored retrains (of `total`) that none of `runs` loaded, in order."""
    excluded = own_retrains(runs)
    return [k for k in range(total) if k not in excluded]


def in_pool_runs(runs: list[Run], cell: tuple[str, str]) -> list[Run]:
    """The "in" pool of the published U-LiRA for `cell`: the method's runs on the other
    originals' cells (shadow originals unlearned by the method), one per distinct model, and
    none whose model is one the cell's own runs produced (a retrain row loads one stored model
    in several cells)."""
    mine = {run.model for run in runs if run.cell == cell}
    chosen: dict[str, Run] = {}
    for run in runs:
        if run.cell != cell and run.model not in mine:
            chosen.setdefault(run.model, run)
    return list(chosen.values())


def cell_lira(targets: list[Run], in_phi: np.ndarray, fit: np.ndarray, heldout: np.ndarray,
              variance: str = "auto") -> tuple[dict[str, float], list[float]]:
    """(mean over the targets of their U-LiRA summaries, the held-out retrains' null AUCs),
    every target judged against every held-out retrain under the same Gaussians."""
    summaries = [lira.ulira(run.phi, heldout, in_phi, fit, variance=variance)
                 for run in targets]
    mean = {key: statistics.fmean(s[key] for s in summaries) for key in summaries[0]}
    return mean, lira.null_aucs(heldout, in_phi, fit, variance=variance).tolist()


def spread_models(runs: list[Run]) -> list[Run]:
    """One run per distinct model, cells taken in turn (a cap on N keeps every original)."""
    distinct: dict[str, Run] = {}
    for run in runs:
        distinct.setdefault(run.model, run)
    by_cell: dict[tuple, list[Run]] = defaultdict(list)
    for run in distinct.values():
        by_cell[run.cell].append(run)
    rows = itertools.zip_longest(*by_cell.values())
    return [run for row in rows for run in row if run is not None]


def quality_models(runs: list[Run], max_models: int | None) -> list[Run]:
    """The runs whose distinct models forgetting quality compares (at most `max_models`)."""
    models = spread_models(runs)
    return models[:max_models] if max_models else models


def run_quality(runs: list[Run], retrain_phi: np.ndarray, max_models: int | None) -> dict | None:
    """Forgetting quality of the runs' N distinct unlearned models against N stored retrains
    none of them loaded, and its null: N further such retrains against the same N (UsageError
    when the store's retrains fall short). None with fewer than 3 models."""
    chosen = quality_models(runs, max_models)
    count = len(chosen)
    if count < MIN_MODELS:
        return None
    available = available_retrains(len(retrain_phi), runs)
    if len(available) < 2 * count:
        raise UsageError(f"forgetting quality at N = {count} and its null need {2 * count} "
                         f"stored retrains besides the runs' own; {len(available)} given")
    reference = retrain_phi[available[:count]]
    quality = forget_quality(np.stack([run.phi for run in chosen]), reference)
    null = quality_null(retrain_phi[available[count:2 * count]], reference)
    return {"score": quality["score"], "num_models": count, "null": null["score"],
            "null_low": null["low"], "null_high": null["high"]}


# ---------------------------------------------------------------------------------------------
# Rows and their saved outputs

def own_retrain(row: dict) -> int | None:
    """Which stored retrain (index k, seed 1000 + k) a retrain row loaded; None otherwise."""
    if row.get("method") != tables.REFERENCE:
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
    kept = [r for r in tables.ok_rows(rows) if r.get("outputs")]
    if not kept:
        raise UsageError("no successful row records saved outputs; run the study with "
                         "-save_outputs DIR (scripts/study_runs.py ... --extra -save_outputs DIR)")
    check_outputs_complete(tables.ok_rows(rows))
    by_group: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in kept:
        by_group[(row["task"], row["dataset"], row["net"])][row["method"]].append(row)
    groups = {}
    for group, by_method in sorted(by_group.items()):
        runs = []
        for method in sorted(by_method, key=tables.method_rank):
            for variant in tables.split_variants(method, by_method[method]):
                runs += [read_run(row, variant.label, outputs) for row in variant.runs]
        groups[group] = runs
    return groups


def check_outputs_complete(rows: list[dict]) -> None:
    """UsageError when a method saved outputs for some of its runs on a forget set and not for
    others: the others' cells would lose them from their "in" pool. (A method that saved none
    is not attacked.)"""
    by_method: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        by_method[(row["task"], row["dataset"], row["net"], row.get("method"),
                   replicates.forget_of(row))].append(row)
    for (*_, method, forget), method_rows in by_method.items():
        lacking = [row for row in method_rows if not row.get("outputs")]
        if lacking and len(lacking) < len(method_rows):
            raise UsageError(f"{len(lacking)} of the {len(method_rows)} runs of {method} on "
                             f"{forget} saved no outputs (first: {lacking[0].get('config_key')}); "
                             "the 'in' pools need every run's: run them again with "
                             "-save_outputs DIR")


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
    path = row["config"]["weight_path"]
    if not Path(path).is_file():
        raise UsageError(f"the original model of cell {' × '.join(replicates.cell_of(row))} "
                         f"is not at {path} (run from the study's folder)")
    return pretraining.original_recipe(load_checkpoint(path)[1], path)


def train_command(recipe: TrainingRecipe, store: str, *, originals: list[int] = (),
                  task: str = tasks.FULL_CLASS, forget=None, retrains: int = 0) -> str:
    """The command line that trains missing pool models into the store: scripts/pool.py where
    the recipe is one of its regimes, else pretrain_model.py with the recipe's flags. Either
    the originals of `originals` seeds, or the first `retrains` retrains of `forget`."""
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
    left_out = " ".join(f"-{k} {v}" for k, v in pretraining.left_out_fields(task, forget).items())
    return (f"python pretrain_model.py {flags} {left_out} -seed S, "
            f"for S = 1000 ... {999 + retrains}")


def in_pool(store: str, recipe: TrainingRecipe, size: int) -> tuple[list[Path], list[int]]:
    """The `size` stored originals of the recipe with the lowest seeds other than its own,
    and those seeds."""
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
    try:
        return pretraining.stored_retrains(recipe, run.row["task"], run.forget_set, count,
                                           store, data_dir)
    except UsageError as error:
        if "lacks" not in str(error):
            raise
        command = train_command(recipe, store, task=run.row["task"], forget=run.forget_set,
                                retrains=count)
        raise UsageError(f"the model store {store} lacks retrained models of "
                         f"{replicates.forget_of(run.row)} (the out pool needs {count}): "
                         f"train them with: {command}") from error


class Confidences:
    """Pool models' phi on one forget set's samples, each model run once."""

    def __init__(self, data_dir: str | None, device):
        self.data_dir, self.device = data_dir, device
        self.cache: dict[tuple, np.ndarray] = {}

    def __call__(self, paths: list[Path], name: str, run: Run, recipe: TrainingRecipe,
                 need: int) -> np.ndarray:
        row = run.row
        identity = {"net": row["net"], "dataset": row["dataset"],
                    "num_classes": row["config"]["num_classes"]}
        paths = check_pool(paths, need, name, **identity)  # before any inference
        samples = run.indices.tobytes()
        todo = [p for p in paths if (str(p), samples) not in self.cache]
        if todo:
            options = json.loads(recipe.model_options) or {}
            loader = self.loader(run, recipe, options)
            phi = pool_confidences(todo, loader, self.device, model_options=options,
                                   **identity)
            self.cache.update({(str(p), samples): values for p, values in zip(todo, phi)})
        return np.stack([self.cache[(str(p), samples)] for p in paths])

    def loader(self, run: Run, recipe: TrainingRecipe, options: dict):
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

@dataclass(frozen=True)
class Pools:
    """The pool sizes of a study's attacks, and whether a verdict is asked for."""

    size: int = nulls.VERDICT_POOL  # retrains per "out" fit (and stored originals per "in"
    # pool of the baseline, whose unlearned model is the original itself)
    heldout: int = nulls.VERDICT_HELDOUT  # held-out retrains: the ROC's negatives and nulls
    fq_models: int | None = None  # at most N unlearned models per forgetting quality
    variance: str = "auto"  # lira.VARIANCES
    verdict: bool = True  # refuse pools smaller than a verdict needs

    def check(self) -> None:
        if self.size < lira.MIN_POOL:
            raise UsageError(f"--pool-size {self.size}: a Gaussian fit needs at least "
                             f"{lira.MIN_POOL} models")
        if self.heldout < 2:
            raise UsageError(f"--heldout {self.heldout}: the null needs at least two held-out "
                             "retrains (each judged against the others)")
        if self.fq_models is not None and self.fq_models < MIN_MODELS:
            raise UsageError(f"--fq-models {self.fq_models}: forget quality needs at least "
                             f"{MIN_MODELS}")
        lira.shares_variance(self.size, self.variance)  # an unknown name is a UsageError
        if self.verdict and (self.size < nulls.VERDICT_POOL
                             or self.heldout < nulls.VERDICT_HELDOUT):
            raise UsageError(f"--pool-size {self.size} --heldout {self.heldout}: a verdict "
                             f"needs {nulls.VERDICT_POOL} retrains per fit and "
                             f"{nulls.VERDICT_HELDOUT} held out (--no-verdict: values and "
                             "nulls only)")


def study_attacks(rows: list[dict], *, store: str, outputs: str | None = None,
                  data_dir: str | None = None, device="cpu",
                  pools: Pools = Pools()) -> list[Result]:
    """U-LiRA per (method, cell) and forgetting quality per (method, forget set), each with
    its null."""
    pools.check()
    confidences = Confidences(data_dir, device)
    found = []
    for group, runs in load_runs(rows, outputs).items():
        by_forget: dict[str, list[Run]] = defaultdict(list)
        for run in runs:
            by_forget[replicates.forget_of(run.row)].append(run)
        for forget_runs in by_forget.values():
            found += forget_set_results(group, forget_runs, store, confidences, pools, data_dir)
    return found


def check_equal_n(by_label: dict[str, list[Run]], forget: str, max_models: int | None) -> None:
    """UsageError when the methods of one forget set would compare different N (their scores
    and their nulls would not be comparable)."""
    counts = {label: len(quality_models(runs, max_models)) for label, runs in by_label.items()}
    scored = {label: n for label, n in counts.items() if n >= MIN_MODELS}
    if len(set(scored.values())) > 1:
        listed = ", ".join(f"{label} {n}" for label, n in scored.items())
        raise UsageError(f"the methods forgetting {forget} have different numbers of distinct "
                         f"models ({listed}); forgetting quality compares equal N: give "
                         f"--fq-models {min(scored.values())}")


def check_in_pool(label: str, cell: tuple[str, str], size: int, pools: Pools) -> None:
    """UsageError for an "in" pool too small to fit, or (verdicts) below VERDICT_POOL."""
    need = nulls.VERDICT_POOL if pools.verdict else lira.MIN_POOL
    if size < need:
        raise UsageError(f"the 'in' pool of {label} in cell {' × '.join(cell)} has {size} "
                         f"model(s) (its runs on the other originals); it needs {need}: run "
                         "more seeds or originals (scripts/study_runs.py ... --seeds ...)"
                         + ("" if not pools.verdict else " or give --no-verdict"))


def forget_set_results(group, runs: list[Run], store: str, confidences: Confidences,
                       pools: Pools, data_dir: str | None) -> list[Result]:
    """Every method's results on one forget set (all its cells)."""
    first = runs[0]
    forget = replicates.forget_of(first.row)
    if any(not np.array_equal(run.indices, first.indices) for run in runs):
        raise UsageError(f"the runs forgetting {forget} saved "
                         "different forget samples (other training subsets?)")
    one_per_cell = {run.cell: run for run in runs}.values()
    cell_recipes = {run.cell: original_recipe(run.row) for run in one_per_cell}
    if len({replace(r, seed=0) for r in cell_recipes.values()}) > 1:
        raise UsageError(f"the originals forgetting {forget} were "
                         "trained with different recipes; their retrains differ")
    by_label: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_label[run.label].append(run)
    check_equal_n(by_label, forget, pools.fq_models)
    # every method's retrained pools leave out the retrains its own runs loaded; forgetting
    # quality at N needs N reference retrains and N more for its null
    wanted = 0
    for label_runs in by_label.values():
        count = len(quality_models(label_runs, pools.fq_models))
        need = max(pools.size + pools.heldout, 2 * count if count >= MIN_MODELS else 0)
        wanted = max(wanted, indices_needed(need, own_retrains(label_runs)))
    recipe = next(iter(cell_recipes.values()))
    retrain_paths = out_pool(store, recipe, first, wanted, data_dir)
    retrain_phi = confidences(retrain_paths, "retrained ('out') pool", first, recipe, wanted)
    found = []
    for label, label_runs in by_label.items():
        available = available_retrains(len(retrain_phi), label_runs)
        fit = retrain_phi[available[:pools.size]]
        heldout = retrain_phi[available[pools.size:pools.size + pools.heldout]]
        quality = run_quality(label_runs, retrain_phi, pools.fq_models)
        for cell, cell_recipe in cell_recipes.items():
            mine = [run for run in label_runs if run.cell == cell]
            if not mine:
                continue
            in_phi, source = label_in_pool(label_runs, cell, cell_recipes, store,
                                           confidences, pools)
            value, null = cell_lira(mine, in_phi, fit, heldout, pools.variance)
            found.append(Result(
                group=group, method=mine[0].row["method"], label=label, cell=cell,
                original_seed=cell_recipe.seed, runs=len(mine), lira=value, lira_null=null,
                pools={"in": len(in_phi), "out": len(fit), "heldout": len(heldout), **source},
                quality=quality))
    return found


def label_in_pool(label_runs: list[Run], cell, cell_recipes: dict[tuple, TrainingRecipe],
                  store: str, confidences: Confidences,
                  pools: Pools) -> tuple[np.ndarray, dict]:
    """The "in" pool's phi for one method and cell, and where it came from. The baseline's
    unlearned model is the original itself, so its shadow models are stored originals of other
    seeds (as many as the out fit); any other method's are its runs on the other originals."""
    first, cell_recipe = label_runs[0], cell_recipes[cell]
    if first.row.get("method") == BASELINE:
        paths, seeds = in_pool(store, cell_recipe, pools.size)
        phi = confidences(paths, "original ('in') pool", first, cell_recipe, pools.size)
        return phi, {"in_from": "stored originals", "in_seeds": seeds}
    shadows = in_pool_runs(label_runs, cell)
    check_in_pool(first.label, cell, len(shadows), pools)
    seeds = sorted({cell_recipes[run.cell].seed for run in shadows})
    return (np.stack([run.phi for run in shadows]),
            {"in_from": "runs on other originals", "in_seeds": seeds})


def summarise(found: list[Result], verdict: bool) -> list[dict]:
    """One line per method row of each (task, dataset, net): U-LiRA and forgetting quality,
    each with its null, interval and verdict. The runs and cells counted are exactly those
    whose values are averaged."""
    lines = []
    for group in dict.fromkeys(r.group for r in found):
        mine = [r for r in found if r.group == group]
        by_label = {label: [r for r in mine if r.label == label]
                    for label in dict.fromkeys(r.label for r in mine)}
        summaries = {label: label_summary(rows) for label, rows in by_label.items()}
        power = next((summaries[label] for label, rows in by_label.items()
                      if rows[0].method == BASELINE), None)
        for label, line in summaries.items():
            add_verdicts(line, power, verdict)
            lines.append({"group": group, "label": label, **line})
    return lines


def label_summary(rows: list[Result]) -> dict:
    """A method row's values: mean over cells (U-LiRA) and over forget sets (quality)."""
    line = {"cells": len(rows), "runs": sum(r.runs for r in rows),
            "lira": {key: [r.lira[key] for r in rows] for key in ("auc", *TPRS)},
            "lira_null": nulls.same_n_interval([r.lira_null for r in rows],
                                               [r.runs for r in rows])}
    qualities = list({r.cell[1]: r.quality for r in rows if r.quality}.values())
    if qualities:
        line["quality"] = [q["score"] for q in qualities]
        line["num_models"] = sorted({q["num_models"] for q in qualities})
        # the mean of the forget sets' interval ends: wider than the mean's own interval
        line["quality_null"] = tuple(statistics.fmean(q[key] for q in qualities)
                                     for key in ("null", "null_low", "null_high"))
    return line


def add_verdicts(line: dict, power: dict | None, verdict: bool) -> None:
    """The verdict words of a method row, gated on the baseline row's power."""
    if not verdict:
        line["lira_verdict"] = line["quality_verdict"] = "–"
        return
    auc = statistics.fmean(line["lira"]["auc"])
    has_power = power is not None and nulls.power_clears(
        statistics.fmean(power["lira"]["auc"]), power["lira_null"][1:], higher_tells=True)
    line["lira_verdict"] = nulls.verdict(auc, line["lira_null"][1:], has_power)
    if "quality" not in line:
        line["quality_verdict"] = "–"
        return
    has_power = (power is not None and "quality" in power and nulls.power_clears(
        statistics.fmean(power["quality"]), power["quality_null"][1:], higher_tells=False))
    line["quality_verdict"] = nulls.verdict(statistics.fmean(line["quality"]),
                                            line["quality_null"][1:], has_power)

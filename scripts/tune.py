"""Tune one method's hyperparameters with Optuna, against a retrained model, on training data.

    python scripts/tune.py --task full_class --dataset FashionMNIST --net CNN --method scrub \
        --storage sqlite:///results/tuning.db --store checkpoints/store \
        --weights ORIGINAL_1.pth --weights ORIGINAL_2.pth --tune-class Bag --tune-class Pullover \
        --reported-class Shirt --reported-class Coat

The study (named <task>-<dataset>-<net>-<method>) lives in the storage: run the same command
again to continue it, or start several copies of it as parallel workers. It stops at --trials
COMPLETE trials (default 40, the budget of a committed table), the same budget for every method
of a task × dataset × network; Optuna's TPE samples --startup-trials of them at random first.
The objective is the mean distance to retrain over the cells: every --weights (original) with
every --tune-class (random task: every --seed draw), each with its retrained model from
--store; give ≥ 2 of each for a committed table. No cell may be a reported one
(--reported-class / --reported-seed, on --reported-weights or on any original). Tuning
measures on a validation slice held out of the training set and never loads the test split.
When the best trial lies against a bound of the space, that bound widens (×10 for a log range,
up to --widen-limit) within the same budget. The best setting goes to tuned/<task>_<dataset>_
<net>.json (used by the forgetting scripts' -tuned flag), with its convergence plot beside it;
the Pareto front of forgotten against retained accuracy is plotted under --plot-dir.
"""

import argparse
import json
import logging
import sys

from models.checkpoint import load_checkpoint
from unlearn.data import datasets
from unlearn.data.tasks import TASKS
from unlearn.errors import UsageError
from unlearn.exit_codes import guarded
from unlearn.run.cli import Parser
from unlearn.train.pretraining import original_recipe, stored_retrains
from unlearn.tuning import table
from unlearn.tuning.context import TuningSetup
from unlearn.tuning.run_tuning import (
    DEFAULT_TRIALS,
    TuningRequest,
    request_space,
    tune,
)
from unlearn.tuning.space import parse_override
from unlearn.tuning.study import DEFAULT_STARTUP, Sampler
from unlearn.tuning.widening import parse_limit


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, choices=list(TASKS))
    parser.add_argument("--dataset", required=True, choices=list(datasets.DATASETS))
    parser.add_argument("--net", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS,
                        help="budget: COMPLETE trials of the study (equal for every method; "
                             f"default {DEFAULT_TRIALS}, the budget of a committed table)")
    parser.add_argument("--startup-trials", type=int, default=DEFAULT_STARTUP,
                        help="trials TPE samples at random before modelling the rest")
    parser.add_argument("--sampler-seed", type=int, default=None,
                        help="seed of the TPE sampler (default: the first --seed)")
    parser.add_argument("--storage", default="sqlite:///results/tuning.db")
    parser.add_argument("--weights", action="append", required=True,
                        help="an original model (repeatable: each is a row of cells)")
    parser.add_argument("--retrained", default=None,
                        help="one cell only: the model retrained without the tuning forget set "
                             "(default: the first retrain of each cell in --store)")
    parser.add_argument("--store", default=None,
                        help="model store to find the retrained models in (the originals must "
                             "have been trained into it)")
    parser.add_argument("--tune-class", action="append", default=None,
                        help="full/sub-class: a class tuning forgets (repeatable; not reported)")
    parser.add_argument("--reported-class", action="append", default=[],
                        help="a forget class the reported runs use (no tuning cell may be one)")
    parser.add_argument("--reported-seed", action="append", type=int, default=[],
                        help="random: a forget draw the reported runs use")
    parser.add_argument("--reported-weights", action="append", default=[],
                        help="an original the reported runs use (default: every original)")
    parser.add_argument("--widen-limit", action="append", default=[], metavar="NAME=LOW:HIGH",
                        help="hard limits a range may widen to (default: ×100 beyond a log "
                             "range's bounds, twice the width above a linear range)")
    parser.add_argument("--no-widen", action="store_true",
                        help="keep the declared bounds (a best value at one is still marked)")
    parser.add_argument("--forget-count", type=int, default=None,
                        help="random: training samples tuning forgets")
    parser.add_argument("--val-frac", type=float, default=0.1,
                        help="fraction of the training set held out for measuring (an "
                             "original trained on the whole training set)")
    parser.add_argument("--val-count", type=int, default=2000,
                        help="unseen training images measured on when the original was "
                             "trained on a subset (-train_subset)")
    parser.add_argument("--measure-on", default="validation",
                        help="split the objective measures on (only 'validation' is allowed)")
    parser.add_argument("--space", action="append", default=[], metavar="NAME=KIND:LOW:HIGH",
                        help="replace or add a search-space entry (repeatable)")
    parser.add_argument("--space-only", action="store_true",
                        help="search only the --space entries")
    parser.add_argument("--seed", type=int, action="append", default=None,
                        help="seed of the split and the methods (default 0); random task: "
                             "repeatable, each seed draws one tuning forget set")
    parser.add_argument("--b", type=int, default=128, help="batch of the method's loaders")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--tuned-dir", default=str(table.DEFAULT_DIR))
    parser.add_argument("--plot-dir", default="results/tuning")
    parser.add_argument("--heartbeat", type=int, default=60,
                        help="seconds between a running trial's heartbeats")
    parser.add_argument("--grace", type=int, default=180,
                        help="seconds without a heartbeat before a trial counts as dead")
    parser.add_argument("--gpu", action="store_true")
    return parser


def stored_retrain(args, weights: str, forget) -> str:
    """The first retrained model of (original, tuning forget set) in the model store. Random
    task: the retrain that left out --forget-count samples drawn with that seed, which is the
    tuning forget set when the original trained on a subset (validation then lies outside it)."""
    if args.store is None:
        raise UsageError("give --retrained PATH, or --store DIR holding the retrained models")
    _, meta = load_checkpoint(weights)
    recipe = original_recipe(meta, weights)
    if args.task == "random" and recipe.train_subset is None:
        raise UsageError("tuning draws the random forget set outside its validation slice, "
                         "which no stored retrain left out; give --retrained PATH")
    forget = (args.forget_count, forget) if args.task == "random" else forget
    return str(stored_retrains(recipe, args.task, forget, 1, args.store, args.data_dir)[0])


def forget_sets(args) -> list:
    """The tuning forget sets: the classes, or (random task) the seeds of the draws."""
    seeds = args.seed or [0]
    if args.task == "random":
        if args.forget_count is None:
            raise UsageError("--forget-count is required for the random task")
        return seeds
    if not args.tune_class:
        raise UsageError(f"--tune-class is required for the {args.task} task")
    if len(seeds) > 1:
        raise UsageError(f"--seed: one value for the {args.task} task (several seeds draw "
                         "several random forget sets)")
    return args.tune_class


def cells_from(args) -> list[TuningSetup]:
    """Every original with every tuning forget set, each with its retrained model."""
    sets = forget_sets(args)
    if args.retrained and len(args.weights) * len(sets) > 1:
        raise UsageError("--retrained names one cell's retrained model; with several "
                         "--weights or forget sets give --store")
    classes = datasets.DATASETS[args.dataset].num_classes
    cells = []
    for weights in args.weights:
        for forget in sets:
            random = args.task == "random"
            cells.append(TuningSetup(
                task=args.task, dataset=args.dataset, net=args.net, num_classes=classes,
                weights=weights, retrained=args.retrained or stored_retrain(args, weights, forget),
                tune_class=None if random else forget, forget_count=args.forget_count,
                val_frac=args.val_frac, val_count=args.val_count,
                seed=forget if random else (args.seed or [0])[0], batch_size=args.b,
                data_dir=args.data_dir))
    return cells


def request_from(args) -> TuningRequest:
    cells = cells_from(args)
    space = request_space(args.method, [parse_override(s) for s in args.space],
                          only=args.space_only)
    sampler_seed = args.sampler_seed if args.sampler_seed is not None else cells[0].seed
    return TuningRequest(cells=cells, method=args.method, trials=args.trials,
                         storage_url=args.storage, space=space, measure_on=args.measure_on,
                         tuned_dir=args.tuned_dir, plot_dir=args.plot_dir,
                         heartbeat_s=args.heartbeat, grace_s=args.grace, gpu=args.gpu,
                         sampler=Sampler(sampler_seed, args.startup_trials),
                         widen_limits=dict(parse_limit(t) for t in args.widen_limit),
                         widen=not args.no_widen, reported_originals=args.reported_weights,
                         reported_forget_sets=(args.reported_seed if args.task == "random"
                                               else args.reported_class))


@guarded
def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    args = build_parser().parse_args(argv)
    summary = tune(request_from(args))
    print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

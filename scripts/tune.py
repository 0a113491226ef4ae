"""Tune one method's hyperparameters with Optuna, against a retrained model, on training data.

    python scripts/tune.py --task full_class --dataset FashionMNIST --net CNN --method scrub \
        --trials 30 --storage sqlite:///results/tuning.db \
        --weights checkpoints/CNN-FashionMNIST.pth \
        --retrained checkpoints/CNN-FashionMNIST-without-Bag.pth --tune-class Bag

The study (named <task>-<dataset>-<net>-<method>) lives in the storage: run the same command
again to continue it, or start several copies of it as parallel workers. It stops at --trials
COMPLETE trials, the same budget for every method of a task × dataset × network. Tuning forgets
--tune-class (choose one that is not reported), measures on a validation slice held out of the
training set and never loads the test split. The best setting goes to tuned/<task>_<dataset>_
<net>.json (used by the forgetting scripts' -tuned flag); the Pareto front of forgotten against
retained accuracy is plotted under --plot-dir.
"""

import argparse
import json
import logging
import sys

import datasets
from unlearn.cli import Parser
from unlearn.errors import UsageError
from unlearn.tuning import table
from unlearn.tuning.context import TuningSetup
from unlearn.tuning.run_tuning import MAIN_OF_TASK, TuningRequest, request_space, tune
from unlearn.tuning.space import parse_override


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, choices=list(MAIN_OF_TASK))
    parser.add_argument("--dataset", required=True, choices=list(datasets.DATASETS))
    parser.add_argument("--net", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--trials", type=int, required=True,
                        help="budget: COMPLETE trials of the study (equal for every method)")
    parser.add_argument("--storage", default="sqlite:///results/tuning.db")
    parser.add_argument("--weights", required=True, help="the original model")
    parser.add_argument("--retrained", default=None,
                        help="the model retrained without the tuning forget set (default: the "
                             "first retrain of --tune-class in --store)")
    parser.add_argument("--store", default=None,
                        help="model store to find the retrained model in (the original must "
                             "have been trained into it)")
    parser.add_argument("--tune-class", default=None,
                        help="full/sub-class: the class tuning forgets (not a reported one)")
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
    parser.add_argument("--seed", type=int, default=0)
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


def stored_retrain(args) -> str:
    """The first retrained model of (original, tuning forget set) in the model store. Random
    task: the retrain that left out --forget-count samples drawn with --seed, which is the
    tuning forget set when the original trained on a subset (validation then lies outside it)."""
    if args.store is None:
        raise UsageError("give --retrained PATH, or --store DIR holding the retrained model")
    from models.checkpoint import load_checkpoint
    from unlearn.pretraining import original_recipe, stored_retrains
    _, meta = load_checkpoint(args.weights)
    recipe = original_recipe(meta, args.weights)
    if args.task == "random" and recipe.train_subset is None:
        raise UsageError("tuning draws the random forget set outside its validation slice, "
                         "which no stored retrain left out; give --retrained PATH")
    forget = (args.forget_count, args.seed) if args.task == "random" else args.tune_class
    return str(stored_retrains(recipe, args.task, forget, 1, args.store, args.data_dir)[0])


def request_from(args) -> TuningRequest:
    classes = datasets.DATASETS[args.dataset].num_classes
    if args.task != "random" and args.tune_class is None:
        raise UsageError(f"--tune-class is required for the {args.task} task")
    if args.task == "random" and args.forget_count is None:
        raise UsageError("--forget-count is required for the random task")
    setup = TuningSetup(task=args.task, dataset=args.dataset, net=args.net,
                        num_classes=classes, weights=args.weights,
                        retrained=args.retrained or stored_retrain(args),
                        tune_class=args.tune_class, forget_count=args.forget_count,
                        val_frac=args.val_frac, val_count=args.val_count, seed=args.seed,
                        batch_size=args.b, data_dir=args.data_dir)
    space = request_space(args.method, [parse_override(s) for s in args.space],
                          only=args.space_only)
    return TuningRequest(setup=setup, method=args.method, trials=args.trials,
                         storage_url=args.storage, space=space, measure_on=args.measure_on,
                         tuned_dir=args.tuned_dir, plot_dir=args.plot_dir,
                         heartbeat_s=args.heartbeat, grace_s=args.grace, gpu=args.gpu)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    args = build_parser().parse_args(argv)
    try:
        summary = tune(request_from(args))
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The forgetting commands of a study, one per line, for unlearn/sweep/local.py.

    python scripts/study_runs.py --net CNN --dataset FashionMNIST --classes 10 --originals 0,1,2 \\
        --forget Shirt,Coat,Sneaker --retrains 3 --regime memorise --store STORE \\
        --results R.jsonl | python -m unlearn.sweep --gpus cpu --jobs 2

A study is I original models (pretraining seeds, from the model store) x forget sets x J
unlearning seeds of every method, plus the K stored retrains of each (original, forget set)
cell as `-method retrain -retrain_index k`. The pools must be trained first (scripts/pool.py
with the same --task, --originals, --forget (or --forget-count and --forget-seeds),
--retrains, --regime and --store). Methods slower than the study can afford run on fewer
cells: --few-cells METHOD=SET+SET limits them to the listed forget sets (classes, or the
random task's forget seeds).

--task sub_class runs forget_sub_class_main.py on fine classes (--dataset FashionMNIST4
--classes 4 --forget Sneaker); --task random runs forget_random_main.py with
-forget_count N -forget_seed S, so the J unlearning seeds of a cell share its forget set.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from scripts.pool import add_pool_arguments, forget_sets
from unlearn.data import datasets
from unlearn.data.tasks import ENTRY_POINTS, RANDOM, SUB_CLASS
from unlearn.exit_codes import guarded
from unlearn.methods import METHODS
from unlearn.store.model_store import ModelStore
from unlearn.train.pretraining import PretrainConfig, training_recipe
from unlearn.train.recipes import REGIMES, pretrain_epochs


def original_path(net: str, dataset: str, classes: int, seed: int, regime: str,
                  store: str) -> Path:
    """Where the store keeps the original model of pretraining seed `seed` in `regime`."""
    config = PretrainConfig(net=net, dataset=dataset, num_classes=classes, seed=seed,
                            store=store, **REGIMES[regime])
    # a regime without its own epoch count trains the published one, and the key holds it
    epochs = config.epochs or pretrain_epochs(dataset, net)
    return ModelStore(store).path_for(training_recipe(config, epochs))


def class_flags(task: str, dataset: str, classes: int) -> list[str]:
    """The entry point's class-count flags (sub-class: superclasses and fine classes)."""
    if task == SUB_CLASS:
        return ["-superclasses", str(classes),
                "-subclasses", str(datasets.fine_class_count(dataset))]
    return ["-classes", str(classes)]


def forget_flags(task: str, forget: str, forget_count: int | None) -> list[str]:
    """The entry point's flags naming one forget set (random: `forget` is its seed)."""
    if task == RANDOM:
        return ["-forget_count", str(forget_count), "-forget_seed", forget]
    return ["-forget_class", forget]


def study_commands(args) -> list[list[str]]:
    methods = ([m for m, spec in METHODS.items() if args.task in spec.tasks]
               if args.methods == "all" else args.methods.split(","))
    few = dict(item.split("=", 1) for item in args.few_cells)
    commands = []
    for seed in args.originals:
        weights = original_path(args.net, args.dataset, args.classes, seed, args.regime,
                                args.store)
        for name in args.forget:
            base = [args.python, ENTRY_POINTS[args.task], "-net", args.net,
                    "-dataset", args.dataset, *class_flags(args.task, args.dataset, args.classes),
                    *forget_flags(args.task, name, args.forget_count),
                    "-weight_path", str(weights), "-store", args.store,
                    "-results", args.results, *args.extra]
            commands += [[*base, "-method", "retrain", "-retrain_index", str(k), "-seed", "0"]
                         for k in range(args.retrains)]
            for method in methods:
                if method == "retrain" or (method in few and name not in few[method].split("+")):
                    continue
                for unlearn_seed in args.seeds:
                    commands.append([*base, "-method", method, "-seed", str(unlearn_seed)])
                    if method == "lipschitz_forgetting" and args.published_jit:
                        commands.append([*commands[-1], "-jit_reference"])
    return commands


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_pool_arguments(parser)
    parser.add_argument("--seeds", default="0", help="unlearning seeds (J)")
    parser.add_argument("--methods", default="all", help="comma separated, or all")
    parser.add_argument("--few-cells", nargs="*", default=[],
                        help="METHOD=SET+SET: run METHOD on these forget sets only (classes, "
                             "or random forget seeds)")
    parser.add_argument("--published-jit", action="store_true",
                        help="also run JiT in its published form (-jit_reference)")
    parser.add_argument("--results", default="results/study.jsonl")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="flags for every run (last on the line)")
    args = parser.parse_args(argv)
    args.originals = [int(s) for s in args.originals.split(",") if s.strip()]
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    args.forget = forget_sets(parser, args)
    if not args.forget:
        parser.error("--forget-seeds: give at least one forget seed" if args.task == RANDOM
                     else "--forget: give at least one forget class")
    if args.task == SUB_CLASS and datasets.fine_class_count(args.dataset) is None:
        parser.error(f"--task sub_class needs a dataset with fine classes (FashionMNIST4, "
                     f"Cifar20), not {args.dataset}")
    valid = [m for m, spec in METHODS.items() if args.task in spec.tasks]
    unknown = [m for m in args.methods.split(",") if args.methods != "all" and m not in valid]
    if unknown:
        parser.error(f"unknown methods {', '.join(unknown)} for the {args.task} task; valid: "
                     f"{', '.join(valid)}")
    for argv_ in study_commands(args):
        print(shlex.join(argv_))
    return 0


if __name__ == "__main__":
    sys.exit(main())

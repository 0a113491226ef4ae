"""The forgetting commands of a study, one per line, for unlearn/sweep.py.

    python scripts/study_runs.py --net CNN --dataset FashionMNIST --classes 10 --originals 0,1,2 \\
        --forget Shirt,Coat,Sneaker --retrains 3 --regime memorise --store STORE \\
        --results R.jsonl | python -m unlearn.sweep --gpus cpu --jobs 2

A study is I original models (pretraining seeds, from the model store) x forget classes x J
unlearning seeds of every method, plus the K stored retrains of each (original, class) cell
as `-method retrain -retrain_index k`. The pools must be trained first (scripts/pool.py with
the same --originals, --forget, --retrains, --regime and --store). Methods slower than the
study can afford run on fewer cells: --few-cells METHOD=CLASS,... limits them to the listed
forget classes.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from scripts.pool import add_pool_arguments
from unlearn.methods import METHODS
from unlearn.model_store import ModelStore
from unlearn.pretraining import PretrainConfig, training_recipe
from unlearn.recipes import REGIMES
from unlearn.tasks import FULL_CLASS


def original_path(net: str, dataset: str, classes: int, seed: int, regime: str,
                  store: str) -> Path:
    """Where the store keeps the original model of pretraining seed `seed` in `regime`."""
    config = PretrainConfig(net=net, dataset=dataset, num_classes=classes, seed=seed,
                            store=store, **REGIMES[regime])
    return ModelStore(store).path_for(training_recipe(config, config.epochs))


def study_commands(args) -> list[list[str]]:
    methods = ([m for m, spec in METHODS.items() if FULL_CLASS in spec.tasks]
               if args.methods == "all" else args.methods.split(","))
    few = dict(item.split("=", 1) for item in args.few_cells)
    commands = []
    for seed in args.originals:
        weights = original_path(args.net, args.dataset, args.classes, seed, args.regime,
                                args.store)
        for name in args.forget:
            base = [args.python, "forget_full_class_main.py", "-net", args.net,
                    "-dataset", args.dataset, "-classes", str(args.classes),
                    "-forget_class", name, "-weight_path", str(weights), "-store", args.store,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_pool_arguments(parser)
    parser.add_argument("--seeds", default="0", help="unlearning seeds (J)")
    parser.add_argument("--methods", default="all", help="comma separated, or all")
    parser.add_argument("--few-cells", nargs="*", default=[],
                        help="METHOD=CLASS+CLASS: run METHOD on these forget classes only")
    parser.add_argument("--published-jit", action="store_true",
                        help="also run JiT in its published form (-jit_reference)")
    parser.add_argument("--results", default="results/study.jsonl")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="flags for every run (last on the line)")
    args = parser.parse_args(argv)
    args.originals = [int(s) for s in args.originals.split(",") if s.strip()]
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    args.forget = [c.strip() for c in args.forget.split(",") if c.strip()]
    if not args.forget:
        parser.error("--forget: give at least one forget class")
    unknown = [m for m in args.methods.split(",") if args.methods != "all" and m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {', '.join(unknown)}; valid: {', '.join(METHODS)}")
    for argv_ in study_commands(args):
        print(shlex.join(argv_))
    return 0


if __name__ == "__main__":
    sys.exit(main())

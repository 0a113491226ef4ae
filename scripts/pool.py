"""The pretraining commands of a study's model pools, one per line, for unlearn/sweep/local.py.

    python scripts/pool.py --net CNN --dataset FashionMNIST --classes 10 --originals 0,1,2 \\
        --forget Sneaker,Shirt,Coat --retrains 3 --regime memorise \\
        | python -m unlearn.sweep --gpus cpu

Originals: one model per pretraining seed. Retrains: for every forget set, K models trained
without it, with seeds model_store.retrain_seed(k); they serve every original's cell of that
forget set (a retrain never saw the original). All land in the model store (-store), so a
later sweep or attack finds them by recipe.

--task picks what a forget set is: a class (full_class, the default), a fine class
(sub_class: --dataset FashionMNIST4 --classes 4 --forget Sneaker), or the random task's
samples (random: --forget-count N --forget-seeds 0,1, one forget set per seed).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from unlearn.data.tasks import FULL_CLASS, RANDOM, SUB_CLASS, TASKS
from unlearn.exit_codes import guarded
from unlearn.store.model_store import retrain_seed
from unlearn.train.recipes import REGIMES, regime_flags


def left_out_flags(task: str, forget: str, forget_count: int | None) -> list[str]:
    """The pretrain_model.py flags that leave one forget set out (random: `forget` is its
    seed)."""
    if task == RANDOM:
        return ["-forget_count", str(forget_count), "-forget_seed", forget]
    return ["-forget_subclass" if task == SUB_CLASS else "-forget_class", forget]


def pool_commands(net: str, dataset: str, classes: int, originals: list[int],
                  forget: list[str], retrains: int, regime: str, store: str,
                  python: str = sys.executable, task: str = FULL_CLASS,
                  forget_count: int | None = None) -> list[list[str]]:
    base = [python, "pretrain_model.py", "-net", net, "-dataset", dataset,
            "-classes", str(classes), *regime_flags(regime), "-store", store]
    commands = [[*base, "-seed", str(seed)] for seed in originals]
    for name in forget:
        commands += [[*base, *left_out_flags(task, name, forget_count),
                      "-seed", str(retrain_seed(k))] for k in range(retrains)]
    return commands


def add_pool_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that name a study's pools, shared with scripts/study_runs.py."""
    parser.add_argument("--task", choices=list(TASKS), default=FULL_CLASS,
                        help="what a forget set is: a class, a fine class, random samples")
    parser.add_argument("--net", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--classes", type=int, required=True,
                        help="task classes (sub_class: the superclasses)")
    parser.add_argument("--originals", default="0,1,2", help="pretraining seeds (I)")
    parser.add_argument("--forget", default="",
                        help="forget classes (sub_class: fine classes), comma separated")
    parser.add_argument("--forget-count", type=int, default=None,
                        help="random: samples in each forget set")
    parser.add_argument("--forget-seeds", default="",
                        help="random: one forget set per seed, comma separated")
    parser.add_argument("--retrains", type=int, default=3, help="K retrains per forget set")
    parser.add_argument("--regime", choices=list(REGIMES), default="published")
    parser.add_argument("--store", default="checkpoints/store")
    parser.add_argument("--python", default=sys.executable)


def forget_sets(parser: argparse.ArgumentParser, args) -> list[str]:
    """The forget sets the options name: classes, or (random) forget seeds; a flag of the
    other kind is refused rather than ignored."""
    if args.task == RANDOM:
        if args.forget:
            parser.error("--task random: the forget sets are --forget-seeds, not --forget")
        seeds = [s.strip() for s in args.forget_seeds.split(",") if s.strip()]
        if not all(s.lstrip("-").isdigit() for s in seeds):
            parser.error(f"--forget-seeds takes integers, got {args.forget_seeds!r}")
        if seeds and (args.forget_count is None or args.forget_count < 1):
            parser.error("--task random needs --forget-count N (at least 1)")
        return seeds
    if args.forget_count is not None or args.forget_seeds:
        parser.error(f"--forget-count and --forget-seeds are for --task random, not {args.task}")
    return [c.strip() for c in args.forget.split(",") if c.strip()]


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_pool_arguments(parser)
    args = parser.parse_args(argv)
    if args.retrains < 0:
        parser.error("--retrains must be at least 0")
    originals = [int(s) for s in args.originals.split(",") if s.strip()]
    forget = forget_sets(parser, args)
    for argv_ in pool_commands(args.net, args.dataset, args.classes, originals, forget,
                               args.retrains, args.regime, args.store, args.python,
                               args.task, args.forget_count):
        print(shlex.join(argv_))
    return 0


if __name__ == "__main__":
    sys.exit(main())

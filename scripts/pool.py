"""The pretraining commands of a study's model pools, one per line, for unlearn/sweep.py.

    python scripts/pool.py --net CNN --dataset FashionMNIST --classes 10 --originals 0,1,2 \\
        --forget Sneaker,Shirt,Coat --retrains 3 --regime memorise \\
        | python -m unlearn.sweep --gpus cpu

Originals: one model per pretraining seed. Retrains: for every forget class, K models trained
without it, with seeds model_store.retrain_seed(k); they serve every original's cell of that
class (a retrain never saw the original). All
land in the model store (-store), so a later sweep or attack finds them by recipe.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from unlearn.model_store import retrain_seed
from unlearn.recipes import REGIMES, regime_flags


def pool_commands(net: str, dataset: str, classes: int, originals: list[int],
                  forget: list[str], retrains: int, regime: str, store: str,
                  python: str = sys.executable) -> list[list[str]]:
    base = [python, "pretrain_model.py", "-net", net, "-dataset", dataset,
            "-classes", str(classes), *regime_flags(regime), "-store", store]
    commands = [[*base, "-seed", str(seed)] for seed in originals]
    for name in forget:
        commands += [[*base, "-forget_class", name, "-seed", str(retrain_seed(k))]
                     for k in range(retrains)]
    return commands


def add_pool_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that name a study's pools, shared with scripts/study_runs.py."""
    parser.add_argument("--net", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--classes", type=int, required=True)
    parser.add_argument("--originals", default="0,1,2", help="pretraining seeds (I)")
    parser.add_argument("--forget", default="", help="forget classes, comma separated")
    parser.add_argument("--retrains", type=int, default=3, help="K retrains per forget class")
    parser.add_argument("--regime", choices=list(REGIMES), default="published")
    parser.add_argument("--store", default="checkpoints/store")
    parser.add_argument("--python", default=sys.executable)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_pool_arguments(parser)
    args = parser.parse_args(argv)
    if args.retrains < 0:
        parser.error("--retrains must be at least 0")
    originals = [int(s) for s in args.originals.split(",") if s.strip()]
    forget = [c.strip() for c in args.forget.split(",") if c.strip()]
    for argv_ in pool_commands(args.net, args.dataset, args.classes, originals, forget,
                               args.retrains, args.regime, args.store, args.python):
        print(shlex.join(argv_))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The JiT robustness study: its pools, its runs and its summary, in that order.

    python scripts/robustness_study.py pools | python -m unlearn.sweep --gpus cpu --jobs 2
    python scripts/robustness_study.py runs  | python -m unlearn.sweep --gpus cpu --jobs 2
    python scripts/robustness_study.py summary --out docs/measured/jit_robustness

(docs/measured/jit_robustness/run.sh runs all three.) The cells:
- demo recipe (what `make demo` trains): originals of pretraining seeds 0-4 × the classes
  Sneaker, Shirt, Coat, Bag; and a second build of seeds 0 and 1 that differs in float rounding
  only (trained with 2 threads instead of 1: same code, same seed, other weights);
- memorising regime (2,000 training images, 100 epochs, no augmentation): originals 0-2 ×
  Shirt, Coat, Sneaker with K = 3 retrains each; and the random task on the same originals
  (100 samples, forget seed 0, K = 3).
The runs are ordered by what the study needs first: anchored JiT, its closest forget-only
competitor and the baseline on every demo cell; then the memorising cells with every
forget-only method, the table's JiT and the retrain-tuned JiT; then the random task; then
the remaining forget-only methods and the table's JiT on the demo cells (seeds with a second
build first), and the earlier zero-shot rule on the seeds that have a second build. An
interrupted sweep resumes where it stopped (-skip_done).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from scripts.pool import pool_commands
from scripts.study_runs import original_path
from unlearn.data.tasks import ENTRY_POINTS, FULL_CLASS, RANDOM

NET, DATASET, CLASSES = "CNN", "FashionMNIST", 10
DEMO_CLASSES = ["Sneaker", "Shirt", "Coat", "Bag"]
MEMORISE_CLASSES = ["Shirt", "Coat", "Sneaker"]
DEMO_SEEDS, SECOND_BUILD_SEEDS, MEMORISE_SEEDS = [0, 1, 2, 3, 4], [0, 1], [0, 1, 2]
RETRAINS, RANDOM_COUNT, RANDOM_SEED = 3, 100, "0"
# (store folder, pretraining threads): the two builds of the demo recipe
BUILDS = {"demo": 1, "demo_b": 2}
CORE = ["baseline", "jit_anchored", "distill_others"]
OTHERS = ["lipschitz_forgetting", "gradient_ascent", "boundary_shrink", "boundary_expanding"]


def pools(root: Path, python: str) -> list[list[str]]:
    commands = []
    for store, threads in BUILDS.items():
        seeds = DEMO_SEEDS if store == "demo" else SECOND_BUILD_SEEDS
        commands += [["env", f"OMP_NUM_THREADS={threads}", *c] for c in pool_commands(
            NET, DATASET, CLASSES, seeds, [], 0, "demo", str(root / store), python)]
    memorise = str(root / "memorise")
    commands += pool_commands(NET, DATASET, CLASSES, MEMORISE_SEEDS, MEMORISE_CLASSES, RETRAINS,
                              "memorise", memorise, python)
    commands += pool_commands(NET, DATASET, CLASSES, [], [RANDOM_SEED], RETRAINS, "memorise",
                              memorise, python, RANDOM, RANDOM_COUNT)
    return commands


def run(python: str, task: str, store: Path, regime: str, seed: int, forget: str,
        results: Path, method: str, *extra: str) -> list[str]:
    weights = original_path(NET, DATASET, CLASSES, seed, regime, str(store))
    forget_flags = (["-forget_count", str(RANDOM_COUNT), "-forget_seed", forget]
                    if task == RANDOM else ["-forget_class", forget])
    return [python, ENTRY_POINTS[task], "-net", NET, "-dataset", DATASET, "-classes",
            str(CLASSES), *forget_flags, "-weight_path", str(weights), "-store", str(store),
            "-results", str(results), "-method", method, "-seed", "0", *extra]


def runs(root: Path, results: Path, python: str) -> list[list[str]]:
    demo_cells = [(store, seed, name) for store in BUILDS
                  for seed in (DEMO_SEEDS if store == "demo" else SECOND_BUILD_SEEDS)
                  for name in DEMO_CLASSES]
    memorise = root / "memorise"

    def demo(methods: list[str], cells=demo_cells) -> list[list[str]]:
        return [run(python, FULL_CLASS, root / store, "demo", seed, name,
                    results / "demo.jsonl", method)
                for method in methods for store, seed, name in cells]

    def memorising(task: str, forget_sets: list[str], methods: list[list[str]],
                   out: str) -> list[list[str]]:
        # closeness to the K retrains, as the committed memorising studies measured it: the
        # cells are theirs (same originals, classes, forget set), so these rows extend them
        return [run(python, task, memorise, "memorise", seed, name, results / out, *method,
                    "-closeness_retrains", str(RETRAINS))
                for seed in MEMORISE_SEEDS for name in forget_sets for method in methods]

    retrains = [["retrain", "-retrain_index", str(k)] for k in range(RETRAINS)]
    every = [[m] for m in [*CORE, *OTHERS, "jit_zero_shot"]]
    tuned = [["lipschitz_forgetting", "-tuned"]]
    first_builds = [c for c in demo_cells if c[1] in SECOND_BUILD_SEEDS]
    return [*demo(CORE),
            *memorising(FULL_CLASS, MEMORISE_CLASSES, [*retrains, *every, *tuned],
                        "memorise_full_class.jsonl"),
            *memorising(RANDOM, [RANDOM_SEED],
                        [*retrains, ["baseline"], ["jit_anchored"], ["gradient_ascent"],
                         ["lipschitz_forgetting"], ["jit_zero_shot"]],
                        "memorise_random.jsonl"),
            *demo(OTHERS, first_builds),
            *demo(OTHERS, [c for c in demo_cells if c not in first_builds]),
            *demo(["jit_zero_shot"], first_builds)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("phase", choices=["pools", "runs", "summary"])
    parser.add_argument("--root", default="checkpoints/robustness",
                        help="folder of the study's model stores (demo, demo_b, memorise)")
    parser.add_argument("--results", default="results/jit_robustness",
                        help="folder of the study's result rows")
    parser.add_argument("--out", default="results/jit_robustness",
                        help="summary: where the tables go")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    root, results = Path(args.root), Path(args.results)
    if args.phase == "summary":
        from scripts.robustness_summary import write_summary
        return write_summary(results, Path(args.out))
    commands = pools(root, args.python) if args.phase == "pools" else runs(
        root, results, args.python)
    for command in commands:
        print(shlex.join(command))
    return 0


if __name__ == "__main__":
    sys.exit(main())

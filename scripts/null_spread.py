"""How the U-LiRA null's spread shrinks with pool size: a Gaussian simulation of per-example
outputs, to choose the pool sizes a verdict needs (attacks.null.VERDICT_POOL).

    python scripts/null_spread.py [--examples 500] [--reps 200] [--pools 2,4,8,16]
        [--heldout 1,2,4,8] [--model-sd 0,0.5] [--in-shift 0,-2] [--seed 0]

Each model's logit-scaled confidence on example i is mu_i + a + e_i: mu_i the example's
difficulty (sd 2), a the model's own offset (sd --model-sd: seeds differ in how confident a
whole model is), e_i noise (sd 1). The "in" models are the method's outputs: retrained-like
shifted by --in-shift (0: a method indistinguishable from retraining; -2: one that
over-forgets). The null asks what a retrained model gets under those Gaussians: for every
pool size P ("in" and "out" both P) and
held-out count H, a fresh retrained target is attacked (attacks.lira.ulira) against H
held-out retrained models, --reps times; the SD of its AUC is the null's spread at that size.
A verdict at a stated SD needs the smallest sizes whose SD is at or below it.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from unlearn.eval.attacks import lira
from unlearn.exit_codes import guarded

DIFFICULTY_SD = 2.0
NOISE_SD = 1.0


def draw(rng: np.random.Generator, mu: np.ndarray, models: int, model_sd: float) -> np.ndarray:
    """Confidences [models, n] of `models` retrained-like models."""
    offsets = rng.normal(0.0, model_sd, size=(models, 1)) if model_sd else 0.0
    return mu + offsets + rng.normal(0.0, NOISE_SD, size=(models, len(mu)))


def null_sd(rng, *, examples: int, pool: int, heldout: int, model_sd: float, in_shift: float,
            reps: int) -> tuple[float, float]:
    """(mean, SD) over `reps` of the AUC a fresh retrained target gets."""
    aucs = []
    for _ in range(reps):
        mu = rng.normal(0.0, DIFFICULTY_SD, size=examples)
        in_pool = draw(rng, mu + in_shift, pool, model_sd)
        out_pool = draw(rng, mu, pool, model_sd)
        target, negatives = draw(rng, mu, 1, model_sd), draw(rng, mu, heldout, model_sd)
        aucs.append(lira.ulira(target, negatives, in_pool, out_pool, fprs=())["auc"])
    return float(np.mean(aucs)), float(np.std(aucs, ddof=1))


def table(args) -> str:
    rng = np.random.default_rng(args.seed)
    lines = ["| in shift | model sd | pool (in = out) | held out | null AUC mean | null AUC SD |",
             "|---:|---:|---:|---:|---:|---:|"]
    settings = [(shift, model_sd, pool, heldout) for shift in args.in_shift
                for model_sd in args.model_sd for pool in args.pools for heldout in args.heldout]
    for shift, model_sd, pool, heldout in settings:
        mean, sd = null_sd(rng, examples=args.examples, pool=pool, heldout=heldout,
                           model_sd=model_sd, in_shift=shift, reps=args.reps)
        lines.append(f"| {shift:g} | {model_sd:g} | {pool} | {heldout} | {mean:.3f} | {sd:.3f} |")
    return "\n".join(lines)


def numbers(text: str, kind=int) -> list:
    return [kind(value) for value in text.split(",") if value]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--pools", type=numbers, default=[2, 4, 8, 16])
    parser.add_argument("--heldout", type=numbers, default=[1, 2, 4, 8])
    parser.add_argument("--model-sd", type=lambda text: numbers(text, float), default=[0.0, 0.5])
    parser.add_argument("--in-shift", type=lambda text: numbers(text, float), default=[0.0, -2.0])
    parser.add_argument("--seed", type=int, default=0)
    return parser


@guarded
def main(argv: list[str] | None = None) -> int:
    print(table(build_parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

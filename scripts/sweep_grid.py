"""The grid behind every sweep script: methods x forget classes x seeds as entry-point command
lines, handed to unlearn/sweep/local.py (one job per device, resumable) or printed with DRY_RUN=1.

Each scripts/*_exps_*.sh names its grid and runs this module through sweep_lib.bash:

    python -m scripts.sweep_grid forget_full_class_main.py -net VGG16 -dataset Cifar100 \
        -classes 100 --weights VGG16Cifar100.pth --forget-classes rocket,mushroom \
        --methods all --jit-reference -- GPU SEED [extra flags for every run]

Before `--`: the entry point and the flags every run gets (single dash, the entry point's own;
-net and -dataset are required), then the grid's options (double dash, see `build_parser`).
After `--`: the published usage, GPU (a CUDA index, a list such as 0,1,2,3 spread one job per
device, or cpu) and SEED (one, or a list such as 1,2,3), then flags added to every run.

The runs resolve their hyperparameters as any run does (unlearn/methods/hyperparameters.py):
JiT's sigma, eta, N come from the JIT table of the task's forget_*_main.py, read by each run
from the file's text, so the grid passes no copy of them (a copy would outrank a -tuned table
given after GPU SEED); the grid resolves the JiT methods once when it is built, so a bad row
is refused before the first job. The grid passes the retrain epochs from unlearn/train/recipes.py
and takes the methods from the registry (every method of the task). Anything else is the
entry point's own default.

Environment (all optional; relative paths are relative to the repository root):
  RESULTS       results store (default results/results.jsonl)
  LOG_DIR       per-job logs (default: logs/ next to RESULTS)
  DATA_DIR      dataset root, passed as -data_dir
  VIT_WEIGHTS   local ViT weights directory, passed as -vit_weights
  WEIGHT_PATH   checkpoint of the trained model, instead of the script's --weights
  JOBS          parallel jobs when GPU is cpu (default 1)
  METHODS       methods to run instead of all (comma or space separated)
  CLASSES       forget classes instead of the script's (comma separated)
  FORGET_PERC, FORGET_COUNT          random task: the amount instead of the script's
  JIT_SIGMA, JIT_ETA, JIT_N          JiT's sigma, eta, N instead of the table's
  RETRAIN_EPOCHS, REFERENCE_EPOCHS   epochs of retrain / retrain_reference instead of the recipe's
  FINETUNE_EPOCHS, B                 finetune epochs, batch size -b (default: the entry point's)
  RETRAIN_PATH  retrained checkpoint for -method retrain ({class} is replaced by the class)
  DRY_RUN=1     print the command lines instead of running them
  PYTHON        interpreter of the runs (default: the one running this module)
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from unlearn import exit_codes
from unlearn.data import tasks
from unlearn.errors import UsageError
from unlearn.exit_codes import guarded
from unlearn.methods import hyperparameters
from unlearn.methods.registration import declared, methods_for
from unlearn.sweep import local
from unlearn.train import recipes

JIT = "lipschitz_forgetting"
JIT_ZERO_SHOT = "jit_zero_shot"  # JiT's σ and N from the same table; η comes from its own rule
JIT_ANCHORED = "jit_anchored"  # likewise
USAGE = """usage: {script} GPU SEED [extra flags for every run]
  GPU: a CUDA device (0), a list spread one job per device (0,1,2,3), or cpu
  SEED: one seed (1) or a list (1,2,3)"""


class ShowUsage(Exception):
    """The published arguments GPU SEED are missing."""


@dataclass
class Grid:
    """What a sweep script declares, with the environment's overrides applied."""

    main: str  # entry point file, as the runs call it
    task: str
    net: str
    dataset: str
    fixed: list[str]  # entry-point flags every run gets, besides -net and -dataset
    weights: str  # -weight_path
    forget: list[list[str]]  # one forget-set flag list per grid point: [-forget_class, rocket]
    methods: list[str]
    jit_reference: bool  # JiT as published (-jit_reference) rather than its default form
    gpu: str
    seeds: list[str]
    extra: list[str]  # flags after GPU SEED, added to every run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.sweep_grid", allow_abbrev=False,
        description="Build a sweep's command lines and run them with unlearn/sweep/local.py.",
        epilog="Other single-dash flags before -- go to every run as they are.")
    parser.add_argument("main", help="entry point, e.g. forget_full_class_main.py")
    parser.add_argument("-net", required=True)
    parser.add_argument("-dataset", required=True)
    parser.add_argument("--weights", required=True, help="default -weight_path")
    forget = parser.add_mutually_exclusive_group()
    forget.add_argument("--forget-classes", help="full/sub-class: comma-separated classes")
    forget.add_argument("--forget-perc", help="random: fraction of the training set")
    forget.add_argument("--forget-count", help="random: number of training samples")
    parser.add_argument("--methods", default="all",
                        help="'all' (every method the registry has for the task) or a list")
    parser.add_argument("--jit-reference", action="store_true",
                        help="run JiT as published (-jit_reference)")
    parser.add_argument("--script", default="python -m scripts.sweep_grid ... --",
                        help="the script's name, for the usage line")
    return parser


def env_value(env: Mapping[str, str], name: str) -> str | None:
    """A set, non-empty environment value, or None (unset and empty mean the default)."""
    value = env.get(name, "").strip()
    return value or None


def split_list(text: str, separators: str) -> list[str]:
    return [item.strip() for item in re.split(f"[{separators}]", text) if item.strip()]


def task_methods(task: str) -> list[str]:
    """Every method declared for `task` (unlearn/methods/*.py), in the registry's order."""
    return methods_for(task)


def parse(argv: list[str], env: Mapping[str, str]) -> Grid:
    """The grid a script's arguments and the environment describe; UsageError if it is bad."""
    cut = argv.index("--") if "--" in argv else len(argv)
    declared, fixed = build_parser().parse_known_args(argv[:cut])  # exits 0 on --help
    if cut == len(argv):
        raise UsageError("the script's arguments go after --: ... -- GPU SEED [extra flags]")
    unknown = [token for token in fixed if token.startswith("--")]
    if unknown:  # a mistyped grid option would otherwise reach every run
        raise UsageError(f"unknown grid option {unknown[0]}; the entry point's flags take one "
                         "dash here (-classes 10)")
    launch = argv[cut + 1:]
    if len(launch) < 2:
        raise ShowUsage(USAGE.format(script=declared.script))
    task = tasks.task_of_entry_point(declared.main)
    return Grid(
        main=declared.main, task=task, net=declared.net, dataset=declared.dataset, fixed=fixed,
        weights=env_value(env, "WEIGHT_PATH") or declared.weights,
        forget=forget_sets(task, declared, env),
        methods=chosen_methods(task, declared.methods, env_value(env, "METHODS")),
        jit_reference=declared.jit_reference,
        gpu=launch[0], seeds=split_list(launch[1], ", "), extra=launch[2:])


def forget_sets(task: str, declared: argparse.Namespace, env: Mapping[str, str]) -> list:
    """The forget-set flags of each grid point: one per class, or the one random amount."""
    if task != tasks.RANDOM:
        classes = env_value(env, "CLASSES") or declared.forget_classes
        if not classes:
            raise UsageError(f"the {task} task needs --forget-classes (or CLASSES)")
        return [["-forget_class", name] for name in split_list(classes, ",")]
    perc, count = env_value(env, "FORGET_PERC"), env_value(env, "FORGET_COUNT")
    if perc and count:
        raise UsageError("set FORGET_PERC or FORGET_COUNT, not both")
    if perc or count:
        return [["-forget_perc", perc] if perc else ["-forget_count", count]]
    if declared.forget_perc:
        return [["-forget_perc", declared.forget_perc]]
    if declared.forget_count:
        return [["-forget_count", declared.forget_count]]
    raise UsageError("the random task needs --forget-perc or --forget-count")


def chosen_methods(task: str, declared: str, override: str | None) -> list[str]:
    available = task_methods(task)
    text = override or declared
    if text == "all":
        return available
    chosen = split_list(text, ", ")
    unknown = [name for name in chosen if name not in available]
    if unknown or not chosen:
        raise UsageError(f"not a {task} method: {', '.join(unknown) or 'none given'}; "
                         f"available: {', '.join(available)}")
    return chosen


# The environment's JiT settings: (variable, flag, hyperparameter), and the JiT methods whose
# runs take each flag (jit_zero_shot chooses η itself; jit_anchored takes none of them).
JIT_VARIABLES = (("JIT_SIGMA", "-sigma", "sigma"), ("JIT_ETA", "-eta", "eta"),
                 ("JIT_N", "-n_samples", "n_samples"))
JIT_FLAGS_OF = {JIT: ("sigma", "eta", "n_samples"), JIT_ZERO_SHOT: ("sigma", "n_samples"),
                JIT_ANCHORED: ()}


def jit_flags(grid: Grid, env: Mapping[str, str]) -> dict[str, list[str]]:
    """Each JiT method's flags: -sigma -eta -n_samples where the environment sets them
    (JIT_SIGMA, JIT_ETA, JIT_N), and -jit_reference for lipschitz_forgetting. The runs read the
    table of the task's main file themselves, through the resolver; the grid resolves each
    JiT method here as its runs will, so a bad or missing row is refused once, before the
    first job (and in a dry run), with the run's sentence."""
    given = {name: (flag, env_value(env, variable)) for variable, flag, name in JIT_VARIABLES
             if env_value(env, variable) is not None}
    flags = {}
    for method, takes in JIT_FLAGS_OF.items():
        if method not in grid.methods:
            continue
        declaration = declared()[method]
        hyperparameters.resolve(
            declaration, grid.task, grid.net, grid.dataset,
            batch_size=int(env_value(env, "B") or 128),
            flags={name: hyperparameters.convert(declaration, name, given[name][1])
                   for name in takes if name in given})
        flags[method] = [item for name in takes if name in given for item in given[name]]
    if JIT in flags and grid.jit_reference:
        flags[JIT].append("-jit_reference")
    return flags


def recipe_epochs(lookup, dataset: str, net: str) -> str | None:
    # None: no recipe for this pair; the flag is left out and the entry point then says what is
    # missing, for that run alone.
    try:
        return str(lookup(dataset, net))
    except UsageError:
        return None


def method_settings(grid: Grid, env: Mapping[str, str]) -> dict[str, list[str]]:
    """The flags each method's runs get, besides the grid point's."""
    retrain = env_value(env, "RETRAIN_EPOCHS") or recipe_epochs(
        recipes.pretrain_epochs, grid.dataset, grid.net)
    reference = env_value(env, "REFERENCE_EPOCHS") or recipe_epochs(
        lambda d, n: recipes.reference_retrain_epochs(d, n)[0], grid.dataset, grid.net)
    finetune = env_value(env, "FINETUNE_EPOCHS")
    flags = {
        "retrain": ["-retrain_epochs", retrain] if retrain else [],
        "retrain_reference": ["-retrain_epochs", reference] if reference else [],
        "finetune": ["-finetune_epochs", finetune] if finetune else [],
    }
    flags.update(jit_flags(grid, env))
    return flags


def commands(grid: Grid, env: Mapping[str, str]) -> list[list[str]]:
    """Every run of the grid: seeds, then forget sets, then methods."""
    python = env_value(env, "PYTHON") or sys.executable
    common = [python, grid.main, "-net", grid.net, "-dataset", grid.dataset, *grid.fixed]
    if grid.gpu.lower() != local.CPU:
        common.append("-gpu")
    if env_value(env, "B"):
        common += ["-b", env_value(env, "B")]
    paths = ["-results", env_value(env, "RESULTS") or "results/results.jsonl"]
    for name, flag in (("DATA_DIR", "-data_dir"), ("VIT_WEIGHTS", "-vit_weights")):
        if env_value(env, name):
            paths += [flag, env_value(env, name)]
    settings = method_settings(grid, env)
    retrain_path = env_value(env, "RETRAIN_PATH")
    runs = []
    for seed in grid.seeds:
        for forget in grid.forget:
            for method in grid.methods:
                hyper = settings.get(method, [])
                if method == "retrain" and retrain_path:
                    forgotten = forget[1] if forget[0] == "-forget_class" else ""
                    hyper = [*hyper, "-retrain_path", retrain_path.replace("{class}", forgotten)]
                runs.append([*common, "-method", method, *forget, "-weight_path", grid.weights,
                             "-seed", seed, *paths, *hyper, *grid.extra])
    return runs


def log_dir(env: Mapping[str, str]) -> Path:
    results = env_value(env, "RESULTS") or "results/results.jsonl"
    return Path(env_value(env, "LOG_DIR") or Path(results).parent / "logs")


@guarded(resume_hint=local.RESUME_HINT)
def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    try:
        grid = parse(sys.argv[1:] if argv is None else argv, env)
    except ShowUsage as usage:  # the published arguments are missing: the usage, not an error
        print(usage, file=sys.stderr)
        return exit_codes.BAD_INPUT
    runs = commands(grid, env)
    jobs = env_value(env, "JOBS") or "1"
    if not jobs.isdigit():
        raise UsageError(f"JOBS must be a number of parallel jobs, got {jobs!r}")
    devices = local.parse_devices(grid.gpu, int(jobs))
    if env_value(env, "DRY_RUN"):
        print("\n".join(shlex.join(argv) for argv in runs))
        return 0
    return local.run_and_summarize(runs, devices, log_dir(env))


if __name__ == "__main__":
    sys.exit(main())

"""Command lines of the forgetting entry points: the published flags, plus clearer spellings.

Every published single-dash flag keeps its meaning; double-dash spellings are
accepted too. Flags the published code accepts but never uses (`-warm`, `-lr`, `-epochs`,
`-my_seed`) are still accepted so published command lines run unchanged.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from models import MODELS
from unlearn import exit_codes
from unlearn.data import datasets
from unlearn.data.tasks import RANDOM, SUB_CLASS, title
from unlearn.errors import UsageError
from unlearn.methods import METHODS, hyperparameters, registry
from unlearn.methods.lipschitz import JitOptions
from unlearn.run.experiment import CLAIMED, SKIPPED, RunConfig, run_with_status
from unlearn.store.model_store import store_root
from unlearn.train.pretraining import default_checkpoint
from unlearn.tuning import table as tuned_table

log = logging.getLogger("unlearn")



class Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one line on stderr (still exit code 2)."""

    def error(self, message: str):
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(exit_codes.BAD_INPUT)


def flag(parser: argparse.ArgumentParser, name: str, **options) -> None:
    """Add `-name` with its `--name` spelling (and `--name-with-dashes`)."""
    spellings = [f"-{name}", f"--{name}"]
    if "_" in name:
        spellings.append(f"--{name.replace('_', '-')}")
    parser.add_argument(*spellings, dest=name, **options)


def build_parser(task: str, default_batch: int, default_seed: int) -> argparse.ArgumentParser:
    """The parser of one forgetting entry point."""
    parser = Parser(
        description=f"Forget data from a trained classifier ({title(task)} task) and "
                    "score the result.", epilog=exit_codes.EPILOG)
    flag(parser, "net", required=True, choices=list(MODELS), help="network")
    flag(parser, "weight_path", default=None,
         help="trained original model (default: checkpoints/<net>-<dataset>.pth)")
    flag(parser, "dataset", required=True, choices=list(datasets.DATASETS))
    if task == SUB_CLASS:
        flag(parser, "superclasses", type=int, required=True, help="task (coarse) classes")
        flag(parser, "subclasses", type=int, required=True, help="fine classes")
    else:
        flag(parser, "classes", type=int, required=True, help="number of classes")
    flag(parser, "gpu", action="store_true", help="use CUDA (falls back to the CPU with a warning)")
    flag(parser, "b", type=int, default=default_batch, help="batch size of the method's loaders")
    flag(parser, "method", required=True, choices=registry.choices(task))
    if task == RANDOM:
        flag(parser, "forget_perc", type=float, default=None,
             help="fraction of the training set to forget (published meaning)")
        flag(parser, "forget_count", type=int, default=None,
             help="exact number of training samples to forget")
        flag(parser, "forget_seed", type=int, default=None,
             help="seed of the random forget set (default: -seed, as published); J unlearning "
                  "seeds share one forget set with it")
    else:
        flag(parser, "forget_class", required=True,
             help="class to forget: published name (rocket, vehicle2, ...), the dataset's own "
                  "class name, or an index")
    flag(parser, "seed", type=int, default=default_seed)
    for unused in ("warm", "lr", "epochs", "my_seed"):
        flag(parser, unused, default=None, help=argparse.SUPPRESS)
    flag(parser, "data_dir", default=None, help="dataset root (default: standard places)")
    flag(parser, "results", default="results/results.jsonl", help="JSONL results store")
    flag(parser, "save_outputs", default=None, metavar="DIR",
         help="also save the model's logits on the forget samples and their matched "
              "non-members to DIR/<run key>.pt (for scripts/study_attacks.py; off by default)")
    flag(parser, "vit_weights", default=None, help="local directory of ViT weights")
    flag(parser, "eval_b", type=int, default=0,
         help="evaluation batch size (speed and memory only); 0: 128 on a CPU, on a GPU "
              "512 at 32 px and fewer for larger inputs")
    flag(parser, "tuned", nargs="?", const=str(tuned_table.DEFAULT_DIR), default=None,
         metavar="DIR", help="use the method's tuned hyperparameters from "
                             "DIR/<task>_<dataset>_<net>.json (default DIR: tuned/), written by "
                             "scripts/tune.py; they replace the declared defaults and the "
                             "table's values, and the flags and -hp still win over them")
    flag(parser, "skip_done", action="store_true",
         help="do nothing if this exact run (config and checkpoint) is already recorded (exit "
              "code 3) or being run by another process (4); sweeps pass it")
    flag(parser, "strict_checkpoint", action="store_true",
         help="refuse an original model whose recorded test accuracy or training length falls "
              "short of its recipe (default: warn)")
    jit = parser.add_argument_group("JiT (lipschitz_forgetting)")
    flag(jit, "sigma", type=float, default=None, help="σ: noise std (overrides the table)")
    flag(jit, "eta", type=float, default=None, help="η: SGD learning rate (overrides the table)")
    flag(jit, "n_samples", type=int, default=None, help="N: noisy copies per sample")
    flag(jit, "jit_reference", action="store_true",
         help="reproduce the published code exactly (accumulated gradients, batch clamp, "
              "train mode)")
    flag(jit, "jit_accumulate_grads", choices=["on", "off"], default=None)
    flag(jit, "jit_clamp", choices=["data_range", "batch", "none"], default=None)
    flag(jit, "jit_train_mode", choices=["on", "off"], default=None)
    flag(jit, "jit_reduction", choices=["sum", "mean"], default=None)
    flag(parser, "bf16", action="store_true",
         help="run JiT's perturbed copies and the evaluation in bfloat16 autocast (off by "
              "default; measured in bench/bench_bf16.py)")
    flag(parser, "hp", action="append", default=[], metavar="NAME=VALUE",
         help="set any hyperparameter of the method (repeatable), e.g. -hp alpha=0.01; "
              "defaults are declared beside each method in unlearn/methods/")
    base = parser.add_argument_group("baselines")
    flag(base, "retrain_path", default=None,
         help="retrain: load this retrained checkpoint instead of training from scratch")
    flag(base, "store", default=None,
         help="model store (pretrain_model.py -store): retrain loads the cell's stored retrained "
              "model, training it there first if missing")
    flag(base, "retrain_index", type=int, default=0,
         help="retrain with -store: which of the cell's retrained models (0..K-1)")
    flag(base, "closeness_retrains", type=int, default=0,
         help="with -store: also measure how close the outputs are to the cell's first K "
              "stored retrained models (JS divergence, top-1 agreement; never trains them)")
    flag(base, "retrain_epochs", type=int, default=None,
         help="retrain: epochs (default: the published pretraining epochs)")
    flag(base, "finetune_epochs", type=int, default=None, help="finetune: epochs (published 5)")
    flag(base, "published_noise", action="store_true",
         help="UNSIR/emmn: use only 3 noise images, as the published code does "
              "(deviation D14, docs/deviations.md)")
    return parser


def on_off(value: str | None) -> bool | None:
    return None if value is None else value == "on"


# The flags older than -hp: each sets one hyperparameter of the methods named (when given;
# for the others it is ignored, so a sweep can pass the same flags to every run). They win
# over a tuned table; -hp wins over them.
FLAG_HYPERPARAMETERS = [
    # (flag, hyperparameter, methods, value from the parsed flag or None when not given)
    ("sigma", "sigma", {"lipschitz_forgetting", "jit_zero_shot"}, lambda v: v),
    ("eta", "eta", {"lipschitz_forgetting"}, lambda v: v),
    ("n_samples", "n_samples", {"lipschitz_forgetting", "jit_zero_shot"}, lambda v: v),
    ("jit_reference", "reference", {"lipschitz_forgetting"}, lambda v: v or None),
    ("jit_accumulate_grads", "accumulate_grads", {"lipschitz_forgetting"}, on_off),
    ("jit_clamp", "clamp", {"lipschitz_forgetting"}, lambda v: v),
    ("jit_train_mode", "train_mode", {"lipschitz_forgetting"}, on_off),
    ("jit_reduction", "reduction", {"lipschitz_forgetting"}, lambda v: v),
    ("bf16", "autocast_bf16", {"lipschitz_forgetting", "jit_zero_shot"}, lambda v: v or None),
    ("finetune_epochs", "epochs", {"finetune"}, lambda v: v),
    # 0, as before: the recipe's epochs
    ("retrain_epochs", "epochs", {"retrain", "retrain_reference"}, lambda v: v or None),
    ("retrain_path", "retrained_path", {"retrain"}, lambda v: v),
    ("published_noise", "published_noise", {"UNSIR", "emmn"}, lambda v: v or None),
]


def method_hyperparameters(task: str, args, tuned: dict | None = None,
                           tuned_from: str = "") -> dict:
    """Every keyword hyperparameter of the chosen method, resolved for this run by
    hyperparameters.resolve: the method's declaration (unlearn/methods/<method>.py), the table
    at the top of the task's main file, `tuned` (a tuned table's values, -tuned; `tuned_from`
    names the file), the older flags, then `-hp NAME=VALUE`. Every value is checked there,
    before any data is loaded; then the method's own checks of its settings run.
    """
    method = METHODS[args.method]
    if method.name in ("jit_zero_shot", "jit_anchored"):
        if args.eta is not None:
            raise UsageError(f"{method.name} chooses eta itself; drop -eta (or use "
                             "lipschitz_forgetting)")
        if args.jit_reference:
            raise UsageError(f"{method.name} runs JiT in its default form; -jit_reference is "
                             "for lipschitz_forgetting")
    flags = {}
    for flag_name, name, methods, value_of in FLAG_HYPERPARAMETERS:
        value = value_of(getattr(args, flag_name))
        if method.name in methods and value is not None:
            flags[name] = value
    chosen = hyperparameters.resolve(method, task, args.net, args.dataset,
                                     batch_size=args.b, tuned=tuned, tuned_from=tuned_from,
                                     flags=flags,
                                     overrides=hyperparameters.parse_overrides(method, args.hp))
    check_settings = getattr(method.fn, "check_settings", None)
    if check_settings is not None:  # the method's own checks of its settings, before any data
        check_settings(chosen)
    if method.name in ("lipschitz_forgetting", "jit_zero_shot", "jit_anchored"):  # JiT's checks
        JitOptions(sigma=chosen["sigma"], eta=chosen.get("eta", 1.0),
                   n_samples=chosen["n_samples"]).validate()
    return chosen


def config_from_args(task: str, args, wandb_names: Callable) -> RunConfig:
    """Resolve a parsed command line into the run's config."""
    num_classes = args.superclasses if task == SUB_CLASS else args.classes
    if task == SUB_CLASS:
        fine = datasets.fine_class_count(args.dataset)
        if fine is not None and args.subclasses != fine:
            raise UsageError(f"{args.dataset} has {fine} fine classes, but -subclasses "
                             f"{args.subclasses} was given")
    if task == RANDOM and (args.forget_perc is None) == (args.forget_count is None):
        raise UsageError("give exactly one of -forget_perc and -forget_count")
    if task == RANDOM and args.forget_perc is not None and not 0 < args.forget_perc < 1:
        raise UsageError(f"-forget_perc must be a fraction in (0, 1), got {args.forget_perc}")
    if args.b < 1:
        raise UsageError(f"-b must be at least 1, got {args.b}")
    if args.retrain_index < 0:
        raise UsageError(f"-retrain_index must be at least 0, got {args.retrain_index}")
    if args.closeness_retrains < 0:
        raise UsageError(f"-closeness_retrains must be at least 0, got {args.closeness_retrains}")
    if args.closeness_retrains and not args.store:
        raise UsageError("-closeness_retrains looks the retrained models up in the model store: "
                         "give -store DIR")
    if args.eval_b < 0:
        raise UsageError(f"-eval_b must be 0 (auto) or at least 1, got {args.eval_b}")
    if args.finetune_epochs is not None and args.finetune_epochs < 1:
        raise UsageError(f"-finetune_epochs must be at least 1, got {args.finetune_epochs} "
                         "(0 epochs would record the unchanged model as a finetune result)")
    if args.retrain_epochs is not None and args.retrain_epochs < 0:  # 0: the recipe's epochs
        raise UsageError(f"-retrain_epochs must be at least 0, got {args.retrain_epochs}")
    project, name = wandb_names(args)
    tuned, tuned_from, tuned_path = {}, None, ""
    if args.tuned is not None:
        tuned_path = str(tuned_table.table_path(task, args.dataset, args.net, args.tuned))
        tuned, tuned_from = tuned_table.lookup(task, args.dataset, args.net, args.method,
                                               args.tuned, store_root(args.store))
    chosen = method_hyperparameters(task, args, tuned, tuned_path)
    return RunConfig(
        task=task, net=args.net, dataset=args.dataset, num_classes=num_classes,
        method=args.method,
        weight_path=resolve_weight_path(args.weight_path, args.net, args.dataset),
        forget_class=getattr(args, "forget_class", None),
        forget_perc=getattr(args, "forget_perc", None),
        forget_count=getattr(args, "forget_count", None),
        forget_seed=getattr(args, "forget_seed", None),
        seed=args.seed, batch_size=args.b, eval_batch_size=args.eval_b, gpu=args.gpu,
        data_dir=args.data_dir, results_path=args.results,
        hyperparameters=chosen,
        model_options={"weights": args.vit_weights} if args.vit_weights else {},
        wandb_project=project, wandb_name=name, skip_done=args.skip_done,
        autocast_bf16=args.bf16, store=args.store, retrain_index=args.retrain_index,
        closeness_retrains=args.closeness_retrains, save_outputs=args.save_outputs,
        tuned_from=tuned_from,
    )


def resolve_weight_path(given: str | None, net: str, dataset: str) -> str:
    """The checkpoint file a command means, resolved once (the config records it).

    The published commands pass `-weight_path VGG16Cifar100.pth`, the published name of the
    pretrained model, while pretrain_model.py writes checkpoints/VGG16-Cifar100.pth. A given
    path that exists is used as given; otherwise the same name under checkpoints/, and for the
    published name `<net><dataset>.pth` the file pretrain_model.py writes, are tried, and the
    file used is logged. Nothing found: the given path, which the run reports as not found.
    """
    default = default_checkpoint(net, dataset)
    if given is None:
        return default
    path = Path(given)
    if path.is_file():
        return given
    candidates = [] if path.is_absolute() else [Path("checkpoints") / path]
    if path.name == f"{net}{dataset}.pth":
        candidates.append(Path(default))
    for candidate in candidates:
        if candidate.is_file():
            log.info("-weight_path %s: using %s (where pretrain_model.py writes it)", given,
                     candidate)
            return str(candidate)
    return given


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")


FORGET_RESUME_HINT = ("nothing was recorded for this run; run the same command again to redo it "
                      "(a sweep started again skips what is recorded)")
PRETRAIN_RESUME_HINT = ("the checkpoint holds every finished epoch; run the same command with "
                        "-resume to continue")


# The entry points' error guard (unlearn/exit_codes.py), with the forgetting runs' resume hint:
# bad input one line and exit code 2, a failure during the work 1, Ctrl-C 130.
guarded = functools.partial(exit_codes.guarded, resume_hint=FORGET_RESUME_HINT)


def forget_main(task: str, argv: list[str] | None, *, default_batch: int, default_seed: int,
                wandb_names: Callable) -> int:
    """Parse, run, print the scores. Shared by the three forgetting entry points. The exit code
    says how the run ended: 0 done, 3 skipped (-skip_done: recorded already; its scores are
    printed), 4 claimed by another live process (logged)."""
    setup_logging()
    args = build_parser(task, default_batch, default_seed).parse_args(argv)
    args.method = registry.canonical_name(args.method)
    status, row = run_with_status(config_from_args(task, args, wandb_names),
                                  strict_checkpoint=args.strict_checkpoint)
    if row is not None:
        print(format_scores(row))
    return {SKIPPED: exit_codes.SKIPPED, CLAIMED: exit_codes.CLAIMED}.get(status, exit_codes.OK)


def format_scores(row: dict) -> str:
    """A short human summary of a result row."""
    shown = ", ".join(f"{key} {value:.2f}" for key, value in row["metrics"].items()
                      if isinstance(value, float))  # per-class and closeness: in the row
    return (f"{row['method']} on {row['forget']}: {shown}; method {row['method_s']:.1f} s, "
            f"evaluation {row['eval_s']:.1f} s -> {row['config']['results_path']}")

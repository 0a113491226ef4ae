"""Options added to runs after results were first recorded, each with the value that behaves as
before it existed.

A recorded row lacks such an option; a newer row carries it at that value. Both describe the
same run: the run key (experiment.config_key) leaves the option out while it has that value,
so a resumed sweep does not rerun what it has already recorded, and the report
(tables.settings_of) fills it in where it is missing, so the two rows land in one table row.
"""

from __future__ import annotations

from unlearn.errors import UsageError
from unlearn.methods.hyperparameters import reference_value
from unlearn.methods.registration import REQUIRED, declared, declared_defaults

# RunConfig fields
CONFIG = {"autocast_bf16": False, "retrain_index": 0, "closeness_retrains": 0,
          "forget_seed": None, "tuned_from": None}
# RunConfig fields whose as-before value is another field's: the random forget set was drawn
# with the run's seed, so -forget_seed S given with -seed S is the run it always was.
SAME_AS = {"forget_seed": "seed"}

# The hyperparameters each method's rows carried before every method declared its defaults
# (by network where that differed). Since then a row carries all of a method's keyword
# hyperparameters; the others, at their declared default, behave as before.
RECORDED_BEFORE_DECLARATIONS = {
    "baseline": set(),
    "retrain": {"epochs", "batch_size", "warm", "retrained_path"},
    "retrain_reference": {"epochs", "milestones", "batch_size"},
    "finetune": {"epochs", "batch_size"},
    "blindspot": {"batch_size"},
    "amnesiac": set(),
    "UNSIR": {"published_noise"},
    "emmn": {"published_noise"},
    "ssd_tuning": {"dampening_constant", "selection_weighting", "batch_size"},
    "scrub": {"batch_size"},
    "FisherForgetting": set(),
    "gkt": {"ViT": {"batch_size", "n_generator_iter", "n_student_iter", "n_pseudo_batches"},
            "CNN": {"n_pseudo_batches"}},
    # autocast_bf16 came later still, at False
    "lipschitz_forgetting": {"sigma", "eta", "n_samples", "batch_size", "reference",
                             "accumulate_grads", "clamp", "train_mode", "reduction"},
    "jit_zero_shot": {"sigma", "n_samples", "batch_size", "autocast_bf16"},
}


def later_hyperparameters(config: dict) -> dict:
    """{name: value that behaves as before} of the hyperparameters added to this run's method
    after rows were first recorded."""
    method_name = config.get("method")
    recorded = RECORDED_BEFORE_DECLARATIONS.get(method_name)
    method = declared().get(method_name)
    if recorded is None or method is None:
        return {}
    task, net, dataset = (config.get(k) or "" for k in ("task", "net", "dataset"))
    if isinstance(recorded, dict):
        recorded = recorded.get(net, set())
    later = {}
    for name, value in declared_defaults(method, task, net, dataset).items():
        if name in recorded:
            continue
        try:
            value = reference_value(value, dataset, net, config.get("batch_size"))
        except (UsageError, KeyError):
            continue
        if value != REQUIRED:
            later[name] = value
    return later


def drop_when_as_before(config: dict) -> dict:
    """A copy of a RunConfig as a dict without the later options that behave as before."""
    resolved = {k: v for k, v in config.items() if not (k in CONFIG and v == CONFIG[k])
                and not (k in SAME_AS and v == config.get(SAME_AS[k]))}
    later = later_hyperparameters(config)
    hyper = config.get("hyperparameters") or {}
    resolved["hyperparameters"] = {k: v for k, v in hyper.items()
                                   if not (k in later and v == later[k])}
    return resolved


def fill_in_missing(config: dict) -> dict:
    """A copy of a recorded config dict with every later option it lacks set as before."""
    filled = {**CONFIG, **config}
    later = later_hyperparameters(config)
    filled["hyperparameters"] = {**later, **(config.get("hyperparameters") or {})}
    return filled

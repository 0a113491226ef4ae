"""One tuning command: check everything, load once, run the study to its budget, write the
tuned table and the Pareto plot (scripts/tune.py is its command line)."""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import optuna

from unlearn.devices import resolve_device
from unlearn.errors import UsageError
from unlearn.methods import get_method, hyperparameters
from unlearn.tuning import objective, pareto, study, table
from unlearn.tuning.context import TuningContext, TuningSetup, setup_digest
from unlearn.tuning.space import UNTUNED, check_space, search_space, suggest
from unlearn.tuning.split_gate import ForbiddenSplitRead, blocked_test_split
from unlearn.versioning import code_version

log = logging.getLogger(__name__)

MAIN_OF_TASK = {"full_class": "forget_full_class_main", "sub_class": "forget_sub_class_main",
                "random": "forget_random_main"}
MEASURED_ON = ("validation",)  # the only split a tuning objective may measure on


@dataclass
class TuningRequest:
    setup: TuningSetup
    method: str
    trials: int
    storage_url: str
    space: dict
    measure_on: str = "validation"
    tuned_dir: str = str(table.DEFAULT_DIR)
    plot_dir: str = "results/tuning"
    heartbeat_s: int = 60
    grace_s: int = 180
    gpu: bool = False


def fixed_hyperparameters(task: str, dataset: str, net: str, method: str, space: dict,
                          batch_size: int) -> dict:
    """What a trial does not vary: every hyperparameter a run of `method` would resolve (the
    declaration's defaults, then the main file's table row for this network, where users edit
    settings), without the entries the space varies."""
    main = importlib.import_module(MAIN_OF_TASK[task])
    declared = get_method(method, task)
    resolved = hyperparameters.resolve(declared, task, net, dataset, batch_size=batch_size,
                                       table=hyperparameters.table_for(declared, main.TABLES))
    return {k: v for k, v in resolved.items() if k not in space}


def run_dependent(values: dict) -> dict:
    """Without the batch sizes: a tuned table's entry leaves those to the run's -b."""
    return {k: v for k, v in values.items() if not hyperparameters.is_batch_size(k)}


def check_request(request: TuningRequest) -> None:
    """Every bad-input check that needs no data, before anything is loaded or recorded."""
    if request.measure_on not in MEASURED_ON:
        raise UsageError(f"a tuning objective may not measure on the {request.measure_on} "
                         f"split: tuning reads training data only (use --measure-on "
                         f"validation)")
    get_method(request.method, request.setup.task)
    if request.method in UNTUNED:
        raise UsageError(f"{request.method} has nothing to tune")
    check_space(request.method, request.space)
    if request.trials < 1:
        raise UsageError(f"--trials must be at least 1, got {request.trials}")


def tune(request: TuningRequest) -> dict:
    """Run (or resume) the study; returns its summary. The test split stays closed throughout."""
    check_request(request)
    setup, method = request.setup, request.method
    fixed = fixed_hyperparameters(setup.task, setup.dataset, setup.net, method, request.space,
                                  setup.batch_size)
    name = study.study_name(setup.task, setup.dataset, setup.net, method)
    group = study.group_of(setup.task, setup.dataset, setup.net)
    with blocked_test_split():
        try:
            context = TuningContext(setup, resolve_device(request.gpu))
        except ForbiddenSplitRead as error:
            raise UsageError(str(error)) from None
        store = study.storage(request.storage_url, request.heartbeat_s, request.grace_s)
        recorded_setup = {**setup.describe(), "digest": setup_digest(setup),
                          "space": {k: list(v) for k, v in request.space.items()},
                          "fixed": fixed, "weights": objective.WEIGHTS}
        opened = study.open_study(store, name, group, request.trials, recorded_setup,
                                  seed=setup.seed)

        def trial_objective(trial: optuna.Trial) -> float:
            chosen = suggest(trial, request.space)
            started = time.perf_counter()
            try:
                found = context.run(method, {**fixed, **chosen})
            except (UsageError, ArithmeticError, RuntimeError) as error:
                if isinstance(error, ForbiddenSplitRead):
                    raise
                trial.set_user_attr("failed", f"{type(error).__name__}: {error}"[:300])
                return objective.FAILED_DISTANCE
            for key in ("dr", "df", "auc"):
                trial.set_user_attr(key, found[key])
            trial.set_user_attr("seconds", time.perf_counter() - started)
            return found["distance"]

        done = study.run(opened, trial_objective, request.trials)
    return summarise(request, opened, context.reference, fixed, done)


def summarise(request: TuningRequest, opened: optuna.Study, reference: dict, fixed: dict,
              done: int) -> dict:
    """Best trial, Pareto front and plot; the tuned table once the budget is complete."""
    setup = request.setup
    complete = [t for t in opened.get_trials(deepcopy=False,
                                             states=(optuna.trial.TrialState.COMPLETE,))
                if "dr" in t.user_attrs]
    points = [{"trial": t.number, "dr": t.user_attrs["dr"], "df": t.user_attrs["df"],
               "params": t.params} for t in complete]
    on_front = pareto.front(points)
    summary = {"study": opened.study_name, "complete": done, "budget": request.trials,
               "reference": reference, "pareto": on_front, "table": None, "plot": None}
    if not complete:
        return summary
    best = opened.best_trial
    summary["best"] = {"trial": best.number, "distance": best.value, "params": best.params,
                       **{k: best.user_attrs.get(k) for k in ("dr", "df", "auc")}}
    summary["plot"] = str(pareto.plot(
        points, on_front, reference, f"{opened.study_name}: {done} trials",
        Path(request.plot_dir) / f"{opened.study_name}_pareto.png"))
    if done >= request.trials:
        path = table.table_path(setup.task, setup.dataset, setup.net, request.tuned_dir)
        table.write_entry(path, request.method, {
            "hyperparameters": run_dependent({**fixed, **best.params}),
            "validation_scores": summary["best"], "retrained_scores": reference,
            "pareto": on_front,
            "provenance": {"study": opened.study_name, "storage": request.storage_url,
                           "trials": done, "budget": request.trials,
                           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                           "code_version": code_version(), "setup": setup.describe(),
                           "space": {k: list(v) for k, v in request.space.items()},
                           "objective_weights": objective.WEIGHTS},
        })
        summary["table"] = str(path)
    return summary


def request_space(method: str, overrides: list[tuple[str, tuple]], only: bool = False) -> dict:
    """The method's declared space with command-line entries replacing or adding entries;
    `only`: the command-line entries alone."""
    if only:
        return dict(overrides)
    try:
        space = search_space(method)
    except UsageError:
        if not overrides:
            raise
        space = {}
    space.update(dict(overrides))
    return space

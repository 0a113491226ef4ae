"""One tuning command: check everything, load once, run the study to its budget, write the
tuned table, the Pareto plot and the convergence plot (scripts/tune.py is its command line).

The objective is the mean distance to retrain over the tuning cells (originals × forget sets,
none of them reported). Trials draw from the study's searched space, which widens past a bound
the best trial lies against (unlearn/tuning/widening.py), within the same budget.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna

from unlearn.devices import resolve_device
from unlearn.errors import UsageError
from unlearn.methods import get_method, hyperparameters
from unlearn.store.versioning import code_version
from unlearn.tuning import convergence, objective, pareto, study, table, widening
from unlearn.tuning.context import CellsContext, TuningSetup, reported_overlap, setup_digest
from unlearn.tuning.provenance import portable_storage
from unlearn.tuning.space import UNTUNED, check_space, search_space, suggest
from unlearn.tuning.split_gate import ForbiddenSplitRead, blocked_test_split

log = logging.getLogger(__name__)

MEASURED_ON = ("validation",)  # the only split a tuning objective may measure on
# The budget of a committed table: complete trials per method and task. With Optuna's 10
# random start-up trials, 40 leaves TPE 30 informed ones (12 trials had left it 2).
DEFAULT_TRIALS = 40


@dataclass
class TuningRequest:
    cells: list[TuningSetup]  # originals × tuning forget sets; the objective is their mean
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
    sampler: study.Sampler = study.Sampler()
    widen_limits: dict = field(default_factory=dict)  # name -> (low, high) hard limits
    widen: bool = True
    reported_originals: list[str] = field(default_factory=list)
    reported_forget_sets: list = field(default_factory=list)

    @property
    def setup(self) -> TuningSetup:
        """What every cell shares (task, data set, network, batch sizes): the first cell."""
        return self.cells[0]


def fixed_hyperparameters(task: str, dataset: str, net: str, method: str, space: dict,
                          batch_size: int) -> dict:
    """What a trial does not vary: every hyperparameter a run of `method` would resolve (the
    run's resolver: the declaration's defaults, then the main file's table row for this
    network, where users edit settings), without the entries the space varies."""
    declared = get_method(method, task)
    resolved = hyperparameters.resolve(declared, task, net, dataset, batch_size=batch_size)
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
    widening.limits_for(request.space, request.widen_limits, request.widen)
    if request.trials < 1:
        raise UsageError(f"--trials must be at least 1, got {request.trials}")
    if request.reported_forget_sets:
        reported_overlap(request.cells, request.reported_originals,
                         request.reported_forget_sets)


def tune(request: TuningRequest) -> dict:
    """Run (or resume) the study; returns its summary. The test split stays closed throughout."""
    check_request(request)
    setup, method = request.setup, request.method
    fixed = fixed_hyperparameters(setup.task, setup.dataset, setup.net, method, request.space,
                                  setup.batch_size)
    limits = widening.limits_for(request.space, request.widen_limits, request.widen)
    name = study.study_name(setup.task, setup.dataset, setup.net, method)
    group = study.group_of(setup.task, setup.dataset, setup.net)
    with blocked_test_split():
        try:
            context = CellsContext(request.cells, resolve_device(request.gpu))
        except ForbiddenSplitRead as error:
            raise UsageError(str(error)) from None
        store = study.storage(request.storage_url, request.heartbeat_s, request.grace_s)
        recorded_setup = {"cells": [cell.portable() for cell in request.cells],
                          "digest": setup_digest(request.cells),
                          "space": {k: list(v) for k, v in request.space.items()},
                          "widening_limits": limits, "fixed": fixed,
                          "weights": objective.WEIGHTS}
        opened = study.open_study(store, name, group, request.trials, recorded_setup,
                                  request.sampler, request.space)

        def evaluate(trial: optuna.Trial, chosen: dict) -> float:
            started = time.perf_counter()
            try:
                found = context.run(method, {**fixed, **chosen})
            except (UsageError, ArithmeticError, RuntimeError) as error:
                if isinstance(error, ForbiddenSplitRead):
                    raise
                trial.set_user_attr("failed", f"{type(error).__name__}: {error}"[:300])
                return objective.FAILED_DISTANCE
            for key in ("dr", "df", "auc", "cell_distances"):
                trial.set_user_attr(key, found[key])
            trial.set_user_attr("seconds", time.perf_counter() - started)
            return found["distance"]

        done = optimise(opened, evaluate, request.trials, request.sampler, limits)
    return summarise(request, opened, context.reference, fixed, done)


def optimise(opened: optuna.Study, evaluate, budget: int, sampler: study.Sampler,
             limits: dict) -> int:
    """Run the study to its budget. Each trial draws from the study's searched space and is
    scored by `evaluate(trial, values)`; after each complete trial, a bound the best trial
    lies against widens (within `limits`) for the trials that follow."""
    def trial_objective(trial: optuna.Trial) -> float:
        return evaluate(trial, suggest(trial, study.searched_space(opened)))

    def widen_after(current: optuna.Study, trial) -> None:
        if trial.state != optuna.trial.TrialState.COMPLETE:
            return
        grown, events = widening.widen(study.searched_space(current),
                                       current.best_trial.params, limits)
        if events:
            log.info("study %s widens %s after trial %d", current.study_name,
                     ", ".join(f"{e['name']} {e['side']} to {e['to']}" for e in events),
                     trial.number)
            study.record_widening(current, grown, events, trial.number)

    return study.run(opened, trial_objective, budget, sampler, widen_after)


def search_record(opened: optuna.Study, limits: dict) -> dict:
    """What the provenance says about the search: the space searched at the end, every
    widening, the limits, and the best values chosen against a bound."""
    searched = study.searched_space(opened)
    best = opened.best_trial.params
    return {"searched_space": {k: list(v) for k, v in searched.items()},
            "widenings": opened.user_attrs.get(study.WIDENINGS_ATTR, []),
            "widening_limits": limits,
            "against_bound": widening.against_bounds(searched, best, limits)}


def summarise(request: TuningRequest, opened: optuna.Study, reference: dict, fixed: dict,
              done: int) -> dict:
    """Best trial, Pareto front and plot; the tuned table and the convergence plot beside it
    once the budget is complete."""
    setup = request.setup
    complete = [t for t in opened.get_trials(deepcopy=False,
                                             states=(optuna.trial.TrialState.COMPLETE,))
                if "dr" in t.user_attrs]
    points = [{"trial": t.number, "dr": t.user_attrs["dr"], "df": t.user_attrs["df"],
               "params": t.params} for t in complete]
    on_front = pareto.front(points)
    summary = {"study": opened.study_name, "complete": done, "budget": request.trials,
               "reference": reference, "pareto": on_front, "table": None, "plot": None,
               "convergence_plot": None}
    if not complete:
        return summary
    best = opened.best_trial
    summary["best"] = {"trial": best.number, "distance": best.value, "params": best.params,
                       **{k: best.user_attrs.get(k) for k in ("dr", "df", "auc",
                                                               "cell_distances")}}
    summary["plot"] = str(pareto.plot(
        points, on_front, reference, f"{opened.study_name}: {done} trials",
        Path(request.plot_dir) / f"{opened.study_name}_pareto.png"))
    limits = widening.limits_for(request.space, request.widen_limits, request.widen)
    searched = search_record(opened, limits)
    summary["against_bound"] = searched["against_bound"]
    if done >= request.trials:
        path = table.table_path(setup.task, setup.dataset, setup.net, request.tuned_dir)
        summary["convergence_plot"] = str(convergence_plot(opened, path.parent))
        table.write_entry(path, request.method, {
            "hyperparameters": run_dependent({**fixed, **best.params}),
            "validation_scores": summary["best"], "retrained_scores": reference,
            "pareto": on_front, "against_bound": searched["against_bound"],
            "provenance": {"study": opened.study_name,
                           "storage": portable_storage(request.storage_url),
                           "trials": done, "budget": request.trials,
                           "sampler": request.sampler.describe(),
                           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                           "code_version": code_version(),
                           "cells": [cell.portable() for cell in request.cells],
                           "space": {k: list(v) for k, v in request.space.items()},
                           **searched, "objective_weights": objective.WEIGHTS},
        })
        summary["table"] = str(path)
    return summary


def convergence_plot(opened: optuna.Study, folder: Path) -> Path:
    """Best distance against trial, beside the tables: <study>_convergence.png."""
    trials = opened.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    widened = [e["after_trial"] for e in opened.user_attrs.get(study.WIDENINGS_ATTR, [])]
    return convergence.plot([t.number for t in trials], [t.value for t in trials], widened,
                            f"{opened.study_name}: {len(trials)} trials",
                            folder / f"{opened.study_name}_convergence.png")


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

"""Optuna studies with an equal, enforced trial budget; resumable and safe with parallel workers.

One study per task × dataset × network × method, named `<task>-<dataset>-<net>-<method>`, in an
RDB storage (SQLite). Its budget (the number of COMPLETE trials it may hold) and the setup it
tunes on are recorded in the study's user attributes at creation:
- reopening with a different budget or setup is refused, and so is a budget that differs from
  the other studies of the same task × dataset × network in the storage: every method gets the
  same number of trials;
- only COMPLETE trials count. A worker killed mid-trial leaves a RUNNING trial whose heartbeat
  stops; once its grace period has passed, Optuna marks it FAIL and queues its parameters again
  (RetryHeartbeatStaleTrialCallback), so the restarted study re-runs that point instead of
  losing or duplicating it;
- a trial starts only while fewer than `budget` trials numbered before it are COMPLETE or
  RUNNING; a worker that loses that race marks its trial PRUNED ("over budget") without running
  the method, so parallel workers never push a study past its budget.
"""

from __future__ import annotations

import logging
import time
import warnings

import optuna
import sqlalchemy.exc
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from unlearn.errors import UsageError

log = logging.getLogger(__name__)

LIVE = (TrialState.COMPLETE, TrialState.RUNNING)


def study_name(task: str, dataset: str, net: str, method: str) -> str:
    return f"{task}-{dataset}-{net}-{method}"


def group_of(task: str, dataset: str, net: str) -> str:
    return f"{task}-{dataset}-{net}"


def storage(url: str, heartbeat_s: int = 60, grace_s: int = 180) -> RDBStorage:
    if not url.startswith(("sqlite:///", "postgresql", "mysql")):
        raise UsageError(f"--storage must be an RDB URL such as sqlite:///results/tuning.db, "
                         f"got {url!r}")
    # Workers started together may race to create a new database's schema; the loser's
    # INSERT fails (seen: "UNIQUE constraint failed: alembic_version"), and by the time it
    # retries the winner has created it.
    for attempt in range(CREATE_ATTEMPTS):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.8
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(url, heartbeat_interval=heartbeat_s, grace_period=grace_s,
                                  heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                                      max_retry=2))
        except sqlalchemy.exc.IntegrityError:
            if attempt + 1 == CREATE_ATTEMPTS:
                raise
            time.sleep(0.5 * (attempt + 1))


CREATE_ATTEMPTS = 5


def check_equal_budget(store: RDBStorage, name: str, group: str, budget: int) -> None:
    """Refuse a budget that differs from the other studies of the same group."""
    for summary in optuna.get_all_study_summaries(store, include_best_trial=False):
        attrs = summary.user_attrs
        if summary.study_name != name and attrs.get("group") == group \
                and attrs.get("budget") != budget:
            raise UsageError(f"unequal budgets: study {summary.study_name} of {group} has a "
                             f"budget of {attrs.get('budget')} trials, this one asks for "
                             f"{budget}; every method of a group gets the same (--trials "
                             f"{attrs.get('budget')})")


def open_study(store: RDBStorage, name: str, group: str, budget: int, setup: dict,
               seed: int) -> optuna.Study:
    """Create or resume the study, checking its budget and setup against the recorded ones."""
    if budget < 1:
        raise UsageError(f"--trials must be at least 1, got {budget}")
    check_equal_budget(store, name, group, budget)
    study = optuna.create_study(storage=store, study_name=name, direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed),
                                load_if_exists=True)
    attrs = study.user_attrs
    if not attrs:
        study.set_user_attr("group", group)
        study.set_user_attr("budget", budget)
        study.set_user_attr("setup", setup)
        return study
    if attrs.get("budget") != budget:
        raise UsageError(f"study {name} has a budget of {attrs.get('budget')} trials; "
                         f"asked for {budget} (a study's budget is fixed when it is created)")
    if attrs.get("setup") != setup:
        changed = sorted(k for k in set(setup) | set(attrs.get("setup", {}))
                         if setup.get(k) != attrs.get("setup", {}).get(k))
        raise UsageError(f"study {name} was created for another setup (differs in "
                         f"{', '.join(changed)}); use another --storage or study")
    return study


def count(study: optuna.Study, states=(TrialState.COMPLETE,)) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def within_budget(study: optuna.Study, trial: optuna.Trial, budget: int) -> bool:
    """True when fewer than `budget` trials numbered before this one are COMPLETE or RUNNING."""
    ahead = [t for t in study.get_trials(deepcopy=False, states=LIVE) if t.number < trial.number]
    return len(ahead) < budget


def run(study: optuna.Study, objective, budget: int) -> int:
    """Run trials until the study holds `budget` COMPLETE ones (or other workers hold the rest
    of the budget in RUNNING trials); returns the number of COMPLETE trials."""
    def guarded(trial: optuna.Trial) -> float:
        if not within_budget(study, trial, budget):
            trial.set_user_attr("over_budget", True)
            raise optuna.TrialPruned("over budget")
        return objective(trial)

    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        if count(study, LIVE) >= budget:
            break
        study.optimize(guarded, n_trials=1, gc_after_trial=False)
    done = count(study)
    log.info("study %s: %d of %d trials complete", study.study_name, done, budget)
    return done

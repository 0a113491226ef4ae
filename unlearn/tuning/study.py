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
- the sampler is Optuna's TPE with a stated number of random start-up trials
  (`Sampler.startup_trials`, Optuna's default 10) and a sampler seed, both recorded with the
  study. Each trial's sampler is seeded with the seed plus the number of trials the study
  already holds, so a resumed study or a second worker does not repeat the first one's draws;
- the space searched now (it may have widened, unlearn/tuning/widening.py) lives in the
  study's user attributes, so every worker draws from the same one;
- a trial starts only while fewer than `budget` trials numbered before it are COMPLETE or
  RUNNING; a worker that loses that race marks its trial PRUNED ("over budget") without running
  the method, so parallel workers never push a study past its budget.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict, dataclass

import optuna
import sqlalchemy.exc
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from unlearn.errors import UsageError

log = logging.getLogger(__name__)

LIVE = (TrialState.COMPLETE, TrialState.RUNNING)
DEFAULT_STARTUP = 10  # Optuna's TPESampler default: random trials before TPE models the rest
SPACE_ATTR = "searched_space"  # user attribute: the space trials draw from now
WIDENINGS_ATTR = "widenings"  # user attribute: every bound moved so far


@dataclass(frozen=True)
class Sampler:
    """Optuna's TPE as a study uses it: `startup_trials` random trials, then TPE, seeded."""

    seed: int = 0
    startup_trials: int = DEFAULT_STARTUP

    def describe(self) -> dict:
        return {"name": "TPESampler", **asdict(self)}

    def for_trial(self, held: int) -> optuna.samplers.TPESampler:
        """The sampler of the next trial of a study that holds `held` trials."""
        return optuna.samplers.TPESampler(seed=self.seed + held,
                                          n_startup_trials=self.startup_trials)


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
               sampler: Sampler = Sampler(), space: dict | None = None) -> optuna.Study:
    """Create or resume the study, checking its budget and setup against the recorded ones;
    `space`: the declared search space, which a new study starts searching."""
    if budget < 1:
        raise UsageError(f"--trials must be at least 1, got {budget}")
    if sampler.startup_trials < 0:
        raise UsageError(f"--startup-trials must be at least 0, got {sampler.startup_trials}")
    check_equal_budget(store, name, group, budget)
    setup = {**setup, "sampler": sampler.describe()}
    study = optuna.create_study(storage=store, study_name=name, direction="minimize",
                                sampler=sampler.for_trial(0), load_if_exists=True)
    attrs = study.user_attrs
    if not attrs:
        study.set_user_attr("group", group)
        study.set_user_attr("budget", budget)
        study.set_user_attr(SPACE_ATTR, {k: list(v) for k, v in (space or {}).items()})
        study.set_user_attr(WIDENINGS_ATTR, [])
        study.set_user_attr("setup", setup)  # last: a study with its setup is complete
        return study
    attrs = completed_attrs(study)
    if attrs.get("budget") != budget:
        raise UsageError(f"study {name} has a budget of {attrs.get('budget')} trials; "
                         f"asked for {budget} (a study's budget is fixed when it is created)")
    if attrs.get("setup") != setup:
        changed = sorted(k for k in set(setup) | set(attrs.get("setup", {}))
                         if setup.get(k) != attrs.get("setup", {}).get(k))
        raise UsageError(f"study {name} was created for another setup (differs in "
                         f"{', '.join(changed)}); use another --storage or study")
    return study


def completed_attrs(study: optuna.Study, wait_s: float = 30.0) -> dict:
    """The study's user attributes once its creator has written them all (a worker started
    beside the creator may open the study between its writes)."""
    deadline = time.monotonic() + wait_s
    attrs = study.user_attrs
    while "setup" not in attrs and time.monotonic() < deadline:
        time.sleep(0.2)
        attrs = study.user_attrs
    return attrs


def count(study: optuna.Study, states=(TrialState.COMPLETE,)) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def within_budget(study: optuna.Study, trial: optuna.Trial, budget: int) -> bool:
    """True when fewer than `budget` trials numbered before this one are COMPLETE or RUNNING."""
    ahead = [t for t in study.get_trials(deepcopy=False, states=LIVE) if t.number < trial.number]
    return len(ahead) < budget


def searched_space(study: optuna.Study) -> dict:
    """The space the study's trials draw from now (entries as tuples)."""
    return {k: tuple(v) for k, v in study.user_attrs.get(SPACE_ATTR, {}).items()}


def record_widening(study: optuna.Study, space: dict, events: list[dict], trial: int) -> None:
    """Store the widened space and append its events (after `trial`) to the study's record."""
    study.set_user_attr(SPACE_ATTR, {k: list(v) for k, v in space.items()})
    done = study.user_attrs.get(WIDENINGS_ATTR, [])
    study.set_user_attr(WIDENINGS_ATTR, [*done, *({**e, "after_trial": trial} for e in events)])


def run(study: optuna.Study, objective, budget: int, sampler: Sampler = Sampler(),
        after_trial=None) -> int:
    """Run trials until the study holds `budget` COMPLETE ones (or other workers hold the rest
    of the budget in RUNNING trials); returns the number of COMPLETE trials. `after_trial`:
    Optuna's callback (study, frozen trial), run after each trial."""
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
        study.sampler = sampler.for_trial(len(study.get_trials(deepcopy=False)))
        study.optimize(guarded, n_trials=1, gc_after_trial=False,
                       callbacks=[after_trial] if after_trial else None)
    done = count(study)
    log.info("study %s: %d of %d trials complete", study.study_name, done, budget)
    return done

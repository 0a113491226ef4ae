"""Search spaces: what each method's tuner may vary, checked before any trial runs.

A space maps a keyword hyperparameter of the method to one of
    ("log_float", low, high)   sampled log-uniformly (learning rates, step sizes)
    ("float", low, high)       sampled uniformly
    ("int", low, high)         whole numbers, both ends included
    ("choice", [a, b, ...])    one of the listed values
Every method declares its space in its registration (`space=` in unlearn/methods/); a declared
space must cover the method's published defaults (`uncovered_defaults`, checked by a test over
the registry), so a tuner can at least find what the paper ran.
"""

from __future__ import annotations

import inspect
import math

from unlearn import recipes
from unlearn.errors import UsageError
from unlearn.methods import METHODS, hyperparameters

KINDS = ("log_float", "float", "int", "choice")
# Methods a tuner refuses: references, or a retrain whose space only bounds a user's choice.
UNTUNED = ("baseline", "retrain", "retrain_reference")


def search_space(method: str) -> dict[str, tuple]:
    """The space declared in `method`'s registration."""
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    space = METHODS[method].space
    if not space:
        raise UsageError(f"method {method!r} has no search space (nothing to tune)")
    return dict(space)


def contains(entry: tuple, value) -> bool:
    """Whether `value` lies in the space entry (bounds included)."""
    if entry[0] == "choice":
        return value in entry[1]
    return isinstance(value, int | float) and entry[1] <= value <= entry[2]


def uncovered_defaults(method: str) -> list[str]:
    """The published defaults of `method` its declared space misses, one line each, over every
    task it runs on and every (network, data set) with a recipe: the defaults a run resolves
    from the declaration and the main files' tables (batch 128 for the loaders)."""
    declared, space = METHODS[method], search_space(method)
    missed = []
    for task in sorted(declared.tasks):
        table = hyperparameters.table_for(declared, hyperparameters.main_tables(task))
        for net, dataset in recipes.EXPECTED_ORIGINAL:
            try:
                values = hyperparameters.resolve(declared, task, net, dataset, batch_size=128,
                                                 table=table)
            except UsageError:  # no default at all there (e.g. no table row): nothing to miss
                continue
            missed += [f"{task}/{net}/{dataset}: {name}={values[name]!r} outside {entry!r}"
                       for name, entry in space.items()
                       if name in values and not contains(entry, values[name])]
    return missed


def parse_override(text: str) -> tuple[str, tuple]:
    """`name=kind:low:high` or `name=choice:a,b,c` (command line) -> (name, entry)."""
    name, sep, rest = text.partition("=")
    kind, _, values = rest.partition(":")
    if not sep or not name or kind not in KINDS or not values:
        raise UsageError(f"search space entry {text!r}: expected name=kind:low:high or "
                         f"name=choice:a,b (kind one of {', '.join(KINDS)})")
    if kind == "choice":
        return name, (kind, [_number_or_text(v) for v in values.split(",") if v != ""])
    bounds = values.split(":")
    if len(bounds) != 2:
        raise UsageError(f"search space entry {text!r}: {kind} needs exactly low:high")
    return name, (kind, *(_number_or_text(b) for b in bounds))


def _number_or_text(text: str):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def check_space(method: str, space: dict[str, tuple]) -> None:
    """One readable UsageError for an empty space, an unknown name, a wrong kind or type, or an
    empty / inverted range. Names and types come from the method's signature."""
    if not space:
        raise UsageError(f"the search space of {method!r} is empty")
    for name, entry in space.items():
        _check_entry(method, name, entry, _keyword(method, name).default)
        _check_in_domain(method, name, entry)


def _check_in_domain(method: str, name: str, entry) -> None:
    """Every value the entry can draw must be one a run accepts (a σ range reaching below
    zero would spend its trials on runs refused as bad input, each scored as failed)."""
    values = entry[1] if entry[0] == "choice" else entry[1:]  # a range: its two ends
    for value in values:
        hyperparameters.check_value(METHODS[method], name, value,
                                    where=f"search space of {method}")


def check_values(method: str, values: dict) -> None:
    """Names and types of fixed hyperparameter values (e.g. a tuned table's) against the
    method's signature: one readable UsageError for a stale or mistyped entry."""
    for name, value in values.items():
        _check_type(f"{method}: {name}", value, _keyword(method, name).default)


def _keyword(method: str, name: str) -> inspect.Parameter:
    """The method's keyword-only parameter `name`; a UsageError listing them if it has none."""
    parameters = inspect.signature(METHODS[method].fn).parameters
    keywords = {n: p for n, p in parameters.items() if p.kind == p.KEYWORD_ONLY}
    if name not in keywords:
        raise UsageError(f"{method} has no hyperparameter {name!r}; it has: "
                         f"{', '.join(keywords)}")
    return keywords[name]


def _check_entry(method: str, name: str, entry, default) -> None:
    where = f"search space of {method}: {name}"
    if not isinstance(entry, (tuple, list)) or not entry or entry[0] not in KINDS:
        raise UsageError(f"{where}: expected (kind, ...) with kind one of {', '.join(KINDS)}, "
                         f"got {entry!r}")
    kind = entry[0]
    if kind == "choice":
        if len(entry) != 2 or not isinstance(entry[1], (list, tuple)) or not entry[1]:
            raise UsageError(f"{where}: choice needs a non-empty list of values")
        for value in entry[1]:
            _check_type(where, value, default)
        return
    if len(entry) != 3:
        raise UsageError(f"{where}: {kind} needs (kind, low, high)")
    low, high = entry[1], entry[2]
    wanted = int if kind == "int" else (int, float)
    for bound in (low, high):
        if isinstance(bound, bool) or not isinstance(bound, wanted) or not math.isfinite(bound):
            raise UsageError(f"{where}: {kind} bounds must be "
                             f"{'whole numbers' if kind == 'int' else 'numbers'}, got {bound!r}")
    # an int range [a, a] holds one value; a float range needs room to sample
    if not (low <= high if kind == "int" else low < high):
        raise UsageError(f"{where}: the range [{low}, {high}] is empty or inverted")
    if kind == "log_float" and low <= 0:
        raise UsageError(f"{where}: log_float needs low > 0, got {low}")
    _check_type(where, int(low) if kind == "int" else float(low), default)


def _check_type(where: str, value, default) -> None:
    """A sampled value must have the type of the method's default (None default: anything)."""
    if default is inspect.Parameter.empty or default is None:
        return
    expected = type(default)
    ok = isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True  # an int is a fine float
    if not ok:
        raise UsageError(f"{where}: the method expects {expected.__name__} values, got {value!r} "
                         f"({type(value).__name__})")


def suggest(trial, space: dict[str, tuple]) -> dict:
    """Draw one value per entry from an Optuna trial."""
    chosen = {}
    for name, entry in space.items():
        kind = entry[0]
        if kind == "choice":
            chosen[name] = trial.suggest_categorical(name, list(entry[1]))
        elif kind == "int":
            chosen[name] = trial.suggest_int(name, entry[1], entry[2])
        else:
            chosen[name] = trial.suggest_float(name, entry[1], entry[2],
                                               log=kind == "log_float")
    return chosen

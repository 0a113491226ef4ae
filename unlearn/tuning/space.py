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

from unlearn.errors import UsageError
from unlearn.methods import METHODS, hyperparameters
from unlearn.methods.registration import SPACE_KINDS, check_space_entry
from unlearn.train import recipes

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
        tables = hyperparameters.main_tables(task)
        for net, dataset in recipes.EXPECTED_ORIGINAL:
            try:
                values = hyperparameters.resolve(declared, task, net, dataset, batch_size=128,
                                                 tables=tables)
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
    if not sep or not name or kind not in SPACE_KINDS or not values:
        raise UsageError(f"search space entry {text!r}: expected name=kind:low:high or "
                         f"name=choice:a,b (kind one of {', '.join(SPACE_KINDS)})")
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
    """One readable UsageError for an empty space, an unknown name, a malformed entry (the
    registration's check of a declared space), or a value a run would refuse: every choice,
    and both ends of a range as the kind draws them (a float range of an int parameter
    draws floats), go through the resolver's check of a value (type and domain)."""
    if not space:
        raise UsageError(f"the search space of {method!r} is empty")
    declared = METHODS[method]
    for name, entry in space.items():
        where = f"search space of {method}"
        if name not in declared.parameters:
            raise UsageError(f"{where}: {method} has no hyperparameter {name!r}; it has: "
                             f"{', '.join(declared.parameters)}")
        check_space_entry(f"{where}: {name}", entry)
        if entry[0] == "choice":
            values = entry[1]
        else:
            values = [int(v) if entry[0] == "int" else float(v) for v in entry[1:]]
        for value in values:
            hyperparameters.check_value(declared, name, value, where=where)


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

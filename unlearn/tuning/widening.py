"""Bound widening: a space whose best trial sits against a bound grows past that bound.

A best value within NEAR (10 %) of a bound, measured on the range's own scale (log scale for
log_float), says the optimum may lie beyond it. That bound then moves out, by one step, to at
most a hard limit, and the study goes on within the same budget:
- log_float: ×10 (÷10 for the low bound), by default to at most two steps (×100) beyond the
  declared bound;
- float and int: by the declared range's width, by default up to twice that width above the
  declared high bound. Their low bound is a floor (epochs ≥ 1, a temperature ≥ 1) and stays
  unless a limit below it is given.
- choice entries never widen.
Widening only grows a range, so every earlier trial's value lies in the new range and Optuna's
TPE keeps using it. A best value still near a bound when the budget ends is reported as chosen
against that bound (`against_bounds`).
"""

from __future__ import annotations

import math

from unlearn.errors import UsageError

NEAR = 0.10  # fraction of the range (log scale for log_float) that counts as against a bound
LOG_STEP = 10.0  # a log range's bound moves by this factor per widening
LOG_LIMIT = LOG_STEP ** 2  # default hard limit: this factor beyond the declared bound
LINEAR_LIMIT = 2  # default hard limit: this many declared widths above a linear high bound


def default_limit(entry: tuple) -> tuple:
    """The hard limits (low, high) a declared entry may widen to by default."""
    kind, low, high = entry
    if kind == "log_float":
        return low / LOG_LIMIT, high * LOG_LIMIT
    return low, high + LINEAR_LIMIT * (high - low)


def limits_for(space: dict, given: dict, widen: bool = True) -> dict:
    """Hard limits per range entry: the given ones, else the defaults (or the declared bounds
    when widening is off). A given limit inside the declared range is a UsageError."""
    unknown = sorted(set(given) - {n for n, e in space.items() if e[0] != "choice"})
    if unknown:
        raise UsageError(f"--widen-limit {unknown[0]}: not a range of the search space "
                         f"(ranges: {', '.join(n for n, e in space.items() if e[0] != 'choice')})")
    limits = {}
    for name, entry in space.items():
        if entry[0] == "choice":
            continue
        limit = given.get(name) or (default_limit(entry) if widen else tuple(entry[1:]))
        check_limit(name, entry, limit)
        limits[name] = list(limit)
    return limits


def check_limit(name: str, entry: tuple, limit: tuple) -> None:
    kind, low, high = entry
    if limit[0] > low:
        raise UsageError(f"--widen-limit {name}: the low limit {limit[0]:g} lies above the "
                         f"declared low bound {low:g}")
    if limit[1] < high:
        raise UsageError(f"--widen-limit {name}: the high limit {limit[1]:g} lies below the "
                         f"declared high bound {high:g}")
    if kind == "log_float" and limit[0] <= 0:
        raise UsageError(f"--widen-limit {name}: a log range needs a low limit > 0, got "
                         f"{limit[0]:g}")


def parse_limit(text: str) -> tuple[str, tuple]:
    """`name=low:high` (command line) -> (name, (low, high))."""
    name, sep, rest = text.partition("=")
    bounds = rest.split(":")
    try:
        values = tuple(float(b) for b in bounds)
    except ValueError:
        values = ()
    if not sep or not name or len(values) != 2 or not all(map(math.isfinite, values)):
        raise UsageError(f"--widen-limit {text!r}: expected name=low:high (numbers)")
    return name, values


def position(entry: tuple, value: float) -> float:
    """Where `value` lies in the range: 0 at the low bound, 1 at the high one (log scale for
    log_float)."""
    kind, low, high = entry
    if kind == "log_float":
        low, high, value = math.log(low), math.log(high), math.log(value)
    return 0.5 if high == low else (value - low) / (high - low)


def sides_near(entry: tuple, value: float) -> list[str]:
    """The bounds ("low", "high") that `value` lies within NEAR of."""
    if entry[0] == "choice":
        return []
    where = position(entry, value)
    return [side for side, near in (("low", where <= NEAR), ("high", where >= 1 - NEAR)) if near]


def step(entry: tuple, side: str, limit: tuple) -> tuple | None:
    """The entry with `side` moved one step out, within `limit`; None when it is at the limit."""
    kind, low, high = entry
    by = max(high - low, 1) if kind == "int" else high - low
    if side == "low":
        moved = max(low / LOG_STEP if kind == "log_float" else low - by, limit[0])
    else:
        moved = min(high * LOG_STEP if kind == "log_float" else high + by, limit[1])
    if kind == "int":
        moved = math.floor(moved) if side == "high" else math.ceil(moved)
    if moved == entry[1 if side == "low" else 2]:
        return None
    return (kind, moved, high) if side == "low" else (kind, low, moved)


def widen(space: dict, best: dict, limits: dict) -> tuple[dict, list[dict]]:
    """The space with every bound the best values lie against moved out one step (within the
    limits), and one event per moved bound."""
    grown, events = dict(space), []
    for name, value in best.items():
        entry = grown.get(name)
        if entry is None or name not in limits:
            continue
        for side in sides_near(entry, value):
            moved = step(grown[name], side, limits[name])
            if moved is not None:
                events.append({"name": name, "side": side, "from": grown[name][1:],
                               "to": moved[1:], "best": value})
                grown[name] = moved
    return grown, events


def against_bounds(space: dict, best: dict, limits: dict) -> dict:
    """{name: {"side", "bound", "at_limit"}} for each best value still within NEAR of a bound
    of the searched space: a value chosen against a bound, the optimum possibly beyond it."""
    marked = {}
    for name, value in best.items():
        entry = space.get(name)
        for side in sides_near(entry, value) if entry else []:
            bound = entry[1 if side == "low" else 2]
            limit = limits.get(name, entry[1:])[0 if side == "low" else 1]
            marked[name] = {"side": side, "bound": bound, "at_limit": bound == limit}
    return marked

"""METHODS: every registered unlearning method, with its function, in table order.

Each method registers itself beside its definition (`@register_method` in
unlearn/methods/<file>.py);
this module only imports the files that declare one, in the order their declarations give.
A method registered later (e.g. by a test) is appended to the same dict.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from unlearn.errors import UsageError
from unlearn.methods.registration import REGISTRY, Method, declared

for _source in dict.fromkeys(m.source for m in declared().values()):
    import_module(f"unlearn.methods.{Path(_source).stem}")
# Table order even when a method file was imported earlier by someone else.
_ordered = sorted(REGISTRY.values(), key=lambda m: (m.order, m.name))
REGISTRY.clear()
REGISTRY.update((m.name, m) for m in _ordered)

METHODS: dict[str, Method] = REGISTRY


def canonical_name(name: str) -> str:
    """The registered name for `name` or one of its aliases (unchanged when unknown)."""
    if name in METHODS:
        return name
    for method in METHODS.values():
        if name in method.aliases:
            return method.name
    return name


def choices(task: str) -> list[str]:
    """Names (and aliases) a user may give as -method for `task`."""
    return [n for m in METHODS.values() if task in m.tasks for n in (m.name, *m.aliases)]


def get_method(name: str, task: str) -> Method:
    """The registered method `name` (or alias), checked to be available for `task`."""
    name = canonical_name(name)
    if name not in METHODS:
        raise UsageError(f"unknown method {name!r}; valid: {', '.join(METHODS)}")
    method = METHODS[name]
    if task not in method.tasks:
        available = [n for n, m in METHODS.items() if task in m.tasks]
        raise UsageError(f"method {name!r} is not available for the {task} task; "
                         f"available: {', '.join(available)}")
    return method

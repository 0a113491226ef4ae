"""The METHODS registry: every unlearning method, the data it may read and its tasks."""

from __future__ import annotations

from errors import UsageError
from methods.base import FORGET, RETAIN, DataAccessError, Method, MethodData
from methods.jit import lipschitz_forgetting
from methods.simple import baseline, finetune, retrain

FULL_CLASS, SUB_CLASS, RANDOM = "full_class", "sub_class", "random"
ALL_TASKS = frozenset({FULL_CLASS, SUB_CLASS, RANDOM})

METHODS: dict[str, Method] = {
    "baseline": Method(baseline, frozenset(), ALL_TASKS, "the original model, unchanged"),
    "retrain": Method(retrain, frozenset({RETAIN}), ALL_TASKS,
                      "a fresh model trained from scratch on the retained data (gold standard)"),
    "finetune": Method(finetune, frozenset({RETAIN}), ALL_TASKS,
                       "5 epochs of SGD on the retained data"),
    "lipschitz_forgetting": Method(lipschitz_forgetting, frozenset({FORGET}), ALL_TASKS,
                                   "JiT: Lipschitz smoothing around the forget samples (zero-shot)"),
}


def get_method(name: str, task: str) -> Method:
    """The registered method `name`, checked to be available for `task`."""
    if name not in METHODS:
        raise UsageError(f"unknown method {name!r}; valid: {', '.join(METHODS)}")
    method = METHODS[name]
    if task not in method.tasks:
        available = [n for n, m in METHODS.items() if task in m.tasks]
        raise UsageError(f"method {name!r} is not available for the {task} task; "
                         f"available: {', '.join(available)}")
    return method


__all__ = ["METHODS", "Method", "MethodData", "DataAccessError", "FORGET", "RETAIN",
           "get_method", "FULL_CLASS", "SUB_CLASS", "RANDOM"]

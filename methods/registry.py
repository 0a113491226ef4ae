"""The METHODS registry: every unlearning method, the data it may read and its tasks.

Kept apart from the package's __init__ so that importing a function named like its module
(`unsir` from methods/unsir.py) does not hide the module `methods.unsir`.
"""

from __future__ import annotations

from errors import UsageError
from methods.amnesiac import amnesiac
from methods.bad_teacher import blindspot
from methods.base import FORGET, RETAIN, Method
from methods.emmn import emmn
from methods.fisher import fisher_forgetting
from methods.gkt import gkt
from methods.jit import lipschitz_forgetting
from methods.jit_zero_shot import jit_zero_shot
from methods.retrain_reference import retrain_reference
from methods.scrub import scrub
from methods.simple import baseline, finetune, retrain
from methods.ssd import ssd_tuning
from methods.unsir import unsir

FULL_CLASS, SUB_CLASS, RANDOM = "full_class", "sub_class", "random"
ALL_TASKS = frozenset({FULL_CLASS, SUB_CLASS, RANDOM})

METHODS: dict[str, Method] = {
    "baseline": Method(baseline, frozenset(), ALL_TASKS, "the original model, unchanged"),
    "retrain": Method(retrain, frozenset({RETAIN}), ALL_TASKS,
                      "a fresh model trained from scratch on the retained data (gold standard)"),
    "finetune": Method(finetune, frozenset({RETAIN}), ALL_TASKS,
                       "5 epochs of SGD on the retained data"),
    "retrain_reference": Method(retrain_reference, frozenset({RETAIN}), ALL_TASKS,
                                "published 'retrain': reset only the head, keep training"),
    "blindspot": Method(blindspot, frozenset({FORGET, RETAIN}), ALL_TASKS,
                        "Bad Teacher: distil from the model (retain) and a random model (forget)"),
    "amnesiac": Method(amnesiac, frozenset({FORGET, RETAIN}), ALL_TASKS,
                       "train on forget samples with wrong labels plus the retain set"),
    "UNSIR": Method(unsir, frozenset({RETAIN}), frozenset({FULL_CLASS, SUB_CLASS}),
                    "error-maximising noise for the forgotten class, then repair on retain data"),
    "emmn": Method(emmn, frozenset(), frozenset({FULL_CLASS}),
                   "zero-shot: train on error-maximising and error-minimising noise only"),
    "ssd_tuning": Method(ssd_tuning, frozenset({FORGET, RETAIN}), ALL_TASKS,
                         "SSD: dampen weights far more important to the forget set than to all"),
    "scrub": Method(scrub, frozenset({FORGET, RETAIN}), ALL_TASKS,
                    "SCRUB: move away from the model on forget data, stay close on retain"),
    "FisherForgetting": Method(fisher_forgetting, frozenset({RETAIN}), ALL_TASKS,
                               "Fisher forgetting: noise scaled by inverse retain Fisher"),
    "gkt": Method(gkt, frozenset(), frozenset({FULL_CLASS}),
                  "zero-shot: distil a student on generated images the gate lets through"),
    "lipschitz_forgetting": Method(lipschitz_forgetting, frozenset({FORGET}), ALL_TASKS,
                                   "JiT: Lipschitz smoothing around forget samples (zero-shot)"),
    "jit_zero_shot": Method(jit_zero_shot, frozenset({FORGET}), ALL_TASKS,
                            "JiT with η chosen from the forget set alone (held-out slice)"),
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

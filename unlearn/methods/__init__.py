"""Unlearning methods: the registry, the common signature and the data gate.

Names are loaded on first use, so `methods.registration` (declarations, read without torch)
and `python -m unlearn.methods list` never import torch or the methods themselves.
"""

from importlib import import_module

_FROM = {
    "FORGET": "unlearn.methods.registration", "RETAIN": "unlearn.methods.registration",
    "ALL_TASKS": "unlearn.methods.registration", "FULL_CLASS": "unlearn.methods.registration",
    "SUB_CLASS": "unlearn.methods.registration", "RANDOM": "unlearn.methods.registration",
    "Method": "unlearn.methods.registration", "register_method": "unlearn.methods.registration",
    "DataAccessError": "unlearn.methods.base", "MethodData": "unlearn.methods.base",
    "METHODS": "unlearn.methods.registry", "get_method": "unlearn.methods.registry",
}
__all__ = sorted(_FROM)


def __getattr__(name: str):
    if name not in _FROM:
        raise AttributeError(f"module 'unlearn.methods' has no attribute {name!r}")
    return getattr(import_module(_FROM[name]), name)

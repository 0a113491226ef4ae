"""Unlearning methods: the registry, the common signature and the data gate.

Names are loaded on first use, so `methods.registration` (declarations, read without torch)
and `python -m unlearn.methods list` never import torch or the methods themselves.
"""

from importlib import import_module

_FROM = {
    "FORGET": "methods.registration", "RETAIN": "methods.registration",
    "ALL_TASKS": "methods.registration", "FULL_CLASS": "methods.registration",
    "SUB_CLASS": "methods.registration", "RANDOM": "methods.registration",
    "Method": "methods.registration", "register_method": "methods.registration",
    "DataAccessError": "methods.base", "MethodData": "methods.base",
    "METHODS": "methods.registry", "get_method": "methods.registry",
}
__all__ = sorted(_FROM)


def __getattr__(name: str):
    if name not in _FROM:
        raise AttributeError(f"module 'methods' has no attribute {name!r}")
    return getattr(import_module(_FROM[name]), name)

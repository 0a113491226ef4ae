"""Unlearning methods: the registry, the common signature and the data gate."""

from methods.base import FORGET, RETAIN, UNION, DataAccessError, Method, MethodData
from methods.registry import ALL_TASKS, FULL_CLASS, METHODS, RANDOM, SUB_CLASS, get_method

__all__ = ["ALL_TASKS", "FORGET", "FULL_CLASS", "METHODS", "RANDOM", "RETAIN", "SUB_CLASS",
           "UNION", "DataAccessError", "Method", "MethodData", "get_method"]

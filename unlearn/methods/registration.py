"""Where a method is declared: `@register_method(...)` beside its function, in its own file.

The declaration says everything the rest of the tool needs to know about a method: its name
(and published aliases), the data it may read, the tasks it runs on, its default
hyperparameters per (task, network[, dataset]) and its tuning search space. The registry, the
command line's `-method` choices, the report's order, the README's table, the sweeps' method
lists and the parametrised tests all derive from these declarations.

This module imports neither torch nor any method: `declared()` reads the declarations from
the source files (their arguments are plain literals), so the report, the sweep scripts and
`python -m unlearn.methods list` stay fast. Adding a method is one new file in unlearn/methods/ plus
its test.
"""

from __future__ import annotations

import ast
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from unlearn.errors import UsageError
from unlearn.train import recipes

FORGET = "forget"  # the forget training samples
RETAIN = "retain"  # the retained training samples
FULL_CLASS, SUB_CLASS, RANDOM = "full_class", "sub_class", "random"
TASK_ORDER = (FULL_CLASS, SUB_CLASS, RANDOM)
ALL_TASKS = frozenset(TASK_ORDER)
ANY = "*"  # wildcard of a defaults pattern ("full_class/*", "*/ViT", "*/*/Cifar100")
# A default meaning "the run's -b" (the batch of the loaders handed to the method).
RUN_BATCH_SIZE = "<the run's -b>"
# Hyperparameters without any default (a declaration or main-file table must supply them).
REQUIRED = "<required>"
METHODS_DIR = Path(__file__).resolve().parent

SPACE_KINDS = ("log_float", "float", "int", "choice")


@dataclass(frozen=True)
class Recipe:
    """A default taken from the training recipe (recipes.RECIPES[name](dataset, net)), so
    that retrain uses exactly what pretraining used."""

    name: str


def recipe(name: str) -> Recipe:
    return Recipe(name)


@dataclass(frozen=True)
class Method:
    """A registered unlearning method (see `register_method` for the fields' meaning)."""

    fn: Callable | None  # None when read from the source without importing it
    data: frozenset[str]  # what it may read: {}, {FORGET}, {RETAIN}, {FORGET, RETAIN}
    tasks: frozenset[str]  # tasks it is available for
    summary: str  # one line for --help and the README
    name: str = ""
    aliases: tuple[str, ...] = ()
    defaults: dict = field(default_factory=dict)  # pattern -> {hyperparameter: value}
    space: dict = field(default_factory=dict)  # hyperparameter -> (kind, low, high) | choice
    order: int = 1000  # position in tables and lists (references first, JiT last)
    parameters: dict = field(default_factory=dict)  # keyword parameter -> default | REQUIRED
    annotations: dict = field(default_factory=dict)  # keyword parameter -> annotation text
    source: str = ""  # file declaring it


# Every method registered so far, in registration order (unlearn/methods/registry.py imports the
# method files in declared order).
REGISTRY: dict[str, Method] = {}


def register_method(name: str, *, data, tasks, description: str, order: int = 1000,
                    aliases=(), defaults: dict | None = None, space: dict | None = None):
    """Declare the decorated function as the unlearning method `name`.

    data: the sets it may read ({FORGET, RETAIN}, {FORGET}, set() for zero-shot); tasks: the
    tasks it runs on; description: one line for --help and the README; order: its position
    in tables (smaller first); aliases: other names it answers to (published spellings).
    defaults: {pattern: {hyperparameter: value}}, pattern "task/network[/dataset]" with "*"
    for any ("*" alone: everywhere); more specific patterns win, and the function's own
    keyword defaults apply where no pattern sets a value. Values are literals, RUN_BATCH_SIZE
    or recipe("name"). space: {hyperparameter: ("log_float" | "float" | "int", low, high)
    or ("choice", [values])}, the search space a tuner explores.

    Arguments must be literals (or the constants of this module) because `declared()` reads
    them from the source without importing the method.
    """
    def decorate(fn: Callable) -> Callable:
        parameters, annotations = signature_of(fn)
        method = Method(fn, frozenset(data), frozenset(tasks), description, name=name,
                        aliases=tuple(aliases), defaults=dict(defaults or {}),
                        space=dict(space or {}), order=order, parameters=parameters,
                        annotations=annotations, source=inspect.getsourcefile(fn) or "")
        check_declaration(method)
        known = REGISTRY.get(name)
        if known is not None and known.fn is not None and (
                known.fn.__module__, known.fn.__qualname__) != (fn.__module__, fn.__qualname__):
            raise UsageError(f"method {name!r} is registered twice ({known.source}, "
                             f"{method.source})")
        REGISTRY[name] = method
        return fn
    return decorate


def unregister(name: str) -> None:
    """Remove a registered method (tests that register a toy method clean up with it)."""
    REGISTRY.pop(name, None)


def signature_of(fn: Callable) -> tuple[dict, dict]:
    """The keyword-only parameters of a method: {name: default or REQUIRED}, {name: type text}."""
    parameters, annotations = {}, {}
    for parameter in inspect.signature(fn).parameters.values():
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        empty = parameter.default is inspect.Parameter.empty
        parameters[parameter.name] = REQUIRED if empty else parameter.default
        annotation = parameter.annotation
        annotations[parameter.name] = (annotation if isinstance(annotation, str)
                                       else getattr(annotation, "__name__", str(annotation)))
    return parameters, annotations


# ------------------------------------------------------------------ checking a declaration

def check_declaration(method: Method) -> None:
    """UsageError for a declaration that cannot be right: unknown data or task, a default or
    search space for a parameter the function does not take, an empty or inverted range."""
    where = f"method {method.name!r}"
    if not method.name or not method.name.replace("_", "").isalnum():
        raise UsageError(f"{where}: a method name is letters, digits and underscores")
    if not method.data <= {FORGET, RETAIN}:
        raise UsageError(f"{where}: data must be a subset of {{FORGET, RETAIN}}, got "
                         f"{sorted(method.data)}")
    if not method.tasks or not method.tasks <= ALL_TASKS:
        raise UsageError(f"{where}: tasks must be a non-empty subset of {sorted(ALL_TASKS)}")
    for pattern, values in method.defaults.items():
        parts = split_pattern(pattern)
        if parts[0] not in (ANY, *ALL_TASKS):
            raise UsageError(f"{where}: defaults pattern {pattern!r} names no task")
        _check_names(where, "default", values, method.parameters)
        for value in values.values():
            if isinstance(value, Recipe) and value.name not in recipes.RECIPES:
                raise UsageError(f"{where}: unknown recipe {value.name!r}; valid: "
                                 f"{', '.join(recipes.RECIPES)}")
    _check_names(where, "search space", method.space, method.parameters)
    for name, entry in method.space.items():
        check_space_entry(f"{where}: search space of {name!r}", entry)


def _check_names(where: str, what: str, values: dict, parameters: dict) -> None:
    unknown = sorted(set(values) - set(parameters))
    if unknown:
        raise UsageError(f"{where}: {what} for {', '.join(unknown)}, which the function does "
                         f"not take; its keyword parameters: {', '.join(parameters) or 'none'}")


def check_space_entry(where: str, entry) -> None:
    """One search-space entry: ("choice", [values]) with values, or (kind, low, high) with
    low < high (low <= high for int, whole numbers; low > 0 for log_float)."""
    if not isinstance(entry, tuple | list) or not entry or entry[0] not in SPACE_KINDS:
        raise UsageError(f"{where}: expected (kind, ...) with kind one of "
                         f"{', '.join(SPACE_KINDS)}, got {entry!r}")
    kind = entry[0]
    if kind == "choice":
        if len(entry) != 2 or not isinstance(entry[1], tuple | list) or not entry[1]:
            raise UsageError(f"{where}: a choice needs a non-empty list of values")
        return
    if len(entry) != 3 or not all(_is_number(v) for v in entry[1:]):
        raise UsageError(f"{where}: expected ({kind!r}, low, high) with numbers")
    low, high = entry[1], entry[2]
    # an int range [a, a] holds one value; a float range needs room to sample
    if not (low <= high if kind == "int" else low < high):
        raise UsageError(f"{where}: empty or inverted range [{low}, {high}]")
    if kind == "log_float" and low <= 0:
        raise UsageError(f"{where}: a log-scale range must start above 0, got {low}")
    if kind == "int" and not all(isinstance(v, int) for v in (low, high)):
        raise UsageError(f"{where}: an int range needs integer bounds, got [{low}, {high}]")


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# ------------------------------------------------------------------ defaults per run

def split_pattern(pattern: str) -> tuple[str, str, str]:
    """"full_class/ViT" -> ("full_class", "ViT", "*"); "*" -> ("*", "*", "*")."""
    parts = pattern.split("/")
    if len(parts) > 3 or not all(parts):
        raise UsageError(f"defaults pattern {pattern!r}: expected task/network[/dataset]")
    return (*parts, *[ANY] * (3 - len(parts)))


def declared_defaults(method: Method, task: str, net: str, dataset: str) -> dict:
    """The method's defaults for one run: its function's keyword defaults, then the declared
    patterns that match (task, net, dataset), the more specific (more named parts) later, so
    they win. Values may still be REQUIRED, RUN_BATCH_SIZE or a Recipe."""
    values = dict(method.parameters)
    matching = []
    for position, (pattern, row) in enumerate(method.defaults.items()):
        parts = split_pattern(pattern)
        if all(p in (ANY, actual) for p, actual in zip(parts, (task, net, dataset))):
            matching.append((sum(p != ANY for p in parts), position, row))
    for _, _, row in sorted(matching, key=lambda m: m[:2]):
        values.update(row)
    return values


# ------------------------------------------------------------------ reading without torch

_CONSTANTS = {"FORGET": FORGET, "RETAIN": RETAIN, "FULL_CLASS": FULL_CLASS,
              "SUB_CLASS": SUB_CLASS, "RANDOM": RANDOM, "ALL_TASKS": ALL_TASKS, "ANY": ANY,
              "RUN_BATCH_SIZE": RUN_BATCH_SIZE, "None": None, "True": True, "False": False}


def _literal(node: ast.AST, where: str):
    """The value of a declaration argument: a literal, a constant of this module,
    frozenset/set of those, or recipe("name")."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _literal(node.operand, where)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e, where) for e in node.elts)
    if isinstance(node, ast.List):
        return [_literal(e, where) for e in node.elts]
    if isinstance(node, ast.Set):
        return {_literal(e, where) for e in node.elts}
    if isinstance(node, ast.Dict):
        return {_literal(k, where): _literal(v, where) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [_literal(a, where) for a in node.args]
        keywords = {k.arg: _literal(k.value, where) for k in node.keywords}
        if node.func.id in ("set", "frozenset") and len(args) <= 1 and not keywords:
            return frozenset(*args)
        if node.func.id == "dict" and not args:
            return keywords
        if node.func.id == "recipe" and len(args) == 1 and not keywords:
            return Recipe(args[0])
    raise UsageError(f"{where}: register_method arguments must be literals, got "
                     f"{ast.unparse(node)!r}")


def _is_registration(decorator: ast.AST) -> bool:
    return (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Name)
            and decorator.func.id == "register_method")


def _parameters(function: ast.FunctionDef, where: str) -> tuple[dict, dict]:
    parameters, annotations = {}, {}
    for arg, default in zip(function.args.kwonlyargs, function.args.kw_defaults):
        parameters[arg.arg] = REQUIRED if default is None else _literal(default, where)
        annotations[arg.arg] = ast.unparse(arg.annotation) if arg.annotation else ""
    return parameters, annotations


def read_declarations(path: Path) -> list[Method]:
    """The methods `path` declares, read from its source (functions are not imported)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in filter(_is_registration, node.decorator_list):
            where = f"{path.name}:{decorator.lineno}"
            if len(decorator.args) != 1:
                raise UsageError(f"{where}: register_method takes the name, then keywords")
            options = {k.arg: _literal(k.value, where) for k in decorator.keywords}
            parameters, annotations = _parameters(node, where)
            method = Method(
                None, frozenset(options.pop("data")), frozenset(options.pop("tasks")),
                options.pop("description"), name=_literal(decorator.args[0], where),
                aliases=tuple(options.pop("aliases", ())),
                defaults=dict(options.pop("defaults", None) or {}),
                space=dict(options.pop("space", None) or {}), order=options.pop("order", 1000),
                parameters=parameters, annotations=annotations, source=str(path))
            if options:
                raise UsageError(f"{where}: unknown register_method options {sorted(options)}")
            check_declaration(method)
            found.append(method)
    return found


@cache
def declared(directory: Path = METHODS_DIR) -> dict[str, Method]:
    """Every method declared in `directory`'s files, in table order (order, then name)."""
    methods: dict[str, Method] = {}
    for path in sorted(directory.glob("*.py")):
        if "register_method(" not in path.read_text(encoding="utf-8"):
            continue
        for method in read_declarations(path):
            if method.name in methods:
                raise UsageError(f"method {method.name!r} is declared twice "
                                 f"({methods[method.name].source}, {method.source})")
            methods[method.name] = method
    return dict(sorted(methods.items(), key=lambda item: (item[1].order, item[0])))


def methods_for(task: str, directory: Path = METHODS_DIR) -> list[str]:
    """Names of the methods available for `task`, in table order (what a sweep runs)."""
    if task not in ALL_TASKS:
        raise UsageError(f"unknown task {task!r}; valid: {', '.join(TASK_ORDER)}")
    return [name for name, m in declared(directory).items() if task in m.tasks]


# What a method reads, as the report groups methods: the references, then the methods that
# read the forget set alone (JiT's peers), then those that also read retained data, then
# those that read nothing but images they generate.
REFERENCES = ("baseline", "retrain", "retrain_reference")
ACCESS_GROUPS = ("reference", "forget only", "retained data", "generated data")


def access_group(method: Method) -> str:
    """The report's group of a method (ACCESS_GROUPS), from its declared data access."""
    if method.name in REFERENCES:
        return "reference"
    if method.data == {FORGET}:
        return "forget only"
    return "retained data" if RETAIN in method.data else "generated data"


def method_order(directory: Path = METHODS_DIR) -> list[str]:
    """Every declared method name in table order (the report's order): by access group, then
    by each declaration's order."""
    methods = declared(directory)
    return sorted(methods, key=lambda name: ACCESS_GROUPS.index(access_group(methods[name])))


def method_groups(directory: Path = METHODS_DIR) -> dict[str, str]:
    """{method name: access group} of every declared method."""
    return {name: access_group(m) for name, m in declared(directory).items()}

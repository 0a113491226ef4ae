"""The one hyperparameter resolver: a method's hyperparameters for one run, from every source.

Runs (unlearn/run/cli.py), sweeps (scripts/sweep_grid.py checks the tables when it builds a grid)
and tuning (unlearn/tuning/: the values a trial does not vary, the defaults a space must
cover) all call `resolve`. Lowest to highest precedence:
1. the method function's own keyword defaults (values that hold for every task and network);
2. its declaration's `defaults` (per task, network and dataset; unlearn/methods/<method>.py);
3. the table for that method at the top of the task's main file (JiT's σ, η, N per network,
   where users edit them), read from the file's source by `main_tables`;
4. a tuned table's values (`-tuned`, written by scripts/tune.py);
5. the older single-purpose flags (-sigma, -finetune_epochs, ...);
6. `-hp NAME=VALUE`.
Each source is checked once as it enters (names the method takes, then each value's type and
domain, `check_value`), and the error names the source.

Torch-free, so the sweep scripts and the tuner resolve exactly what an entry point would.
"""

from __future__ import annotations

import ast
import math

from unlearn import REPO_ROOT
from unlearn.data.tasks import ENTRY_POINTS
from unlearn.errors import UsageError
from unlearn.methods.registration import (
    REQUIRED,
    RUN_BATCH_SIZE,
    Method,
    Recipe,
    declared_defaults,
)
from unlearn.train import recipes

ROOT = REPO_ROOT  # where the main files are (tests point it at a copy)


def main_tables(task: str) -> dict:
    """The `TABLES` of the task's main file (tasks.ENTRY_POINTS; {method: {network: {name:
    value}}}), read from its source without importing it: top-level assignments of literals
    (dicts, comprehensions over earlier names) are evaluated in order. The only reader of the
    tables: an entry point, a sweep and the tuner all see what the file says now."""
    path = ROOT / ENTRY_POINTS[task]
    namespace: dict = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper()):
            continue
        code = compile(ast.Expression(node.value), str(path), "eval")
        try:
            namespace[node.targets[0].id] = eval(code, {"__builtins__": {}, "dict": dict},
                                                 namespace)
        except Exception as error:
            raise UsageError(f"{path.name}: {node.targets[0].id} must be plain literals "
                             f"({error})") from None
    return namespace.get("TABLES", {})


# Methods that read another method's main-file table (only the names they take): the zero-shot
# JiT takes σ and N from the JIT table and chooses η itself.
SHARED_TABLES = {"jit_zero_shot": "lipschitz_forgetting",
                 "jit_anchored": "lipschitz_forgetting"}


def table_for(method: Method, tables: dict) -> dict | None:
    """The main-file table ({network: values}) that `method` reads, from a main's TABLES."""
    if method.name in tables:
        return tables[method.name]
    shared = tables.get(SHARED_TABLES.get(method.name, ""))
    if shared is None:
        return None
    return {net: {k: v for k, v in row.items() if k in method.parameters}
            for net, row in shared.items()}


def resolve(method: Method, task: str, net: str, dataset: str, *, batch_size: int,
            tables: dict | None = None, tuned: dict | None = None, tuned_from: str = "",
            flags: dict | None = None, overrides: dict | None = None) -> dict:
    """Every keyword hyperparameter of `method` for this run, in the module's precedence.

    `tables`: the main files' {method: {network: values}} (default: `main_tables(task)`, the
    file as it is now); `tuned`: a tuned table's values, `tuned_from` naming the table in
    errors; `flags`: the older flags' values; `overrides`: `-hp`, already converted
    (parse_overrides). Recipe references and RUN_BATCH_SIZE are replaced by their values; a
    hyperparameter nobody set is a UsageError, and so is a bad value from any source.
    """
    where_table = f"{ENTRY_POINTS[task]}: the {method.name} table"
    table = table_for(method, main_tables(task) if tables is None else tables)
    layers = [(where_table + f" for {net}", table_row(net, table, where_table)),
              (f"tuned table {tuned_from}: the {method.name} entry", tuned or {}),
              (f"{method.name}'s flags", flags or {}),
              (f"-hp for {method.name}", overrides or {})]
    values = {name: reference_value(value, dataset, net, batch_size)
              for name, value in declared_defaults(method, task, net, dataset).items()}
    for name, value in values.items():
        if value != REQUIRED:
            check_value(method, name, value, where=f"{method.name}'s declared default")
    for where, layer in layers:
        check_layer(method, layer, where)
        values.update(layer)
    missing = [name for name, value in values.items() if value == REQUIRED]
    if missing:
        raise UsageError(f"no {', '.join(missing)} for {method.name} with {net} ({task}): add "
                         f"a row for {net} to its table in {ENTRY_POINTS[task]} or pass "
                         f"-hp {missing[0]}=VALUE")
    return values


def check_layer(method: Method, values: dict, where: str) -> None:
    """One source's values: names the method takes, then each value's type and domain."""
    unknown = sorted(set(values) - set(method.parameters))
    if unknown:
        raise UsageError(f"{where} sets {', '.join(unknown)}, which {method.name} does not "
                         f"take; valid: {', '.join(method.parameters) or 'none'}")
    for name, value in values.items():
        check_value(method, name, value, where=where)


def table_row(net: str, table: dict | None, where: str) -> dict:
    """The row for `net` of one method's main-file table ({} without a table or row); the
    table's shape is checked here, its values by `resolve` with every other source's."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a dict {{network: {{name: value}}}}, got "
                         f"{type(table).__name__}")
    row = table.get(net, {})
    if not isinstance(row, dict):
        raise UsageError(f"{where}'s row for {net} must be a dict {{name: value}}, got {row!r}")
    return dict(row)


def reference_value(value, dataset: str, net: str, batch_size: int):
    """A default's value: RUN_BATCH_SIZE is the run's -b, a Recipe comes from
    unlearn/train/recipes.py."""
    if isinstance(value, str) and value == RUN_BATCH_SIZE:
        return batch_size
    if isinstance(value, Recipe):
        return recipes.RECIPES[value.name](dataset, net)
    return value


def is_batch_size(name: str) -> bool:
    """A hyperparameter that sets a loader's batch size (a run's -b decides those)."""
    return name == "batch_size" or name.endswith("_batch")


def is_epoch_count(name: str) -> bool:
    """The passes a method trains for: with 0 it returns the model unchanged, which would be
    recorded as that method's result."""
    return name == "epochs"


def check_value(method: Method, name: str, value, where: str | None = None) -> None:
    """A value for `name` from any source: its type (check_type), then its domain
    (check_domain). `where` names the source in the message (default: the method)."""
    check_type(method, name, value, where)
    check_domain(method, name, value, where)


def check_domain(method: Method, name: str, value, where: str | None = None) -> None:
    """Numbers must be finite; positive where the search space is log-scale, and not negative
    where it starts at or above zero; batch sizes and epochs at least 1. Values outside the
    search range are allowed: the space bounds what a tuner tries, not what a user may set."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    where = where or method.name
    if not math.isfinite(value):
        raise UsageError(f"{where}: {name} must be a finite number, got {value}")
    if (is_batch_size(name) or is_epoch_count(name)) and value < 1:
        raise UsageError(f"{where}: {name} must be at least 1, got {value}")
    entry = method.space.get(name)
    if not entry or entry[0] == "choice":
        return
    if entry[0] == "log_float" and value <= 0:
        raise UsageError(f"{where}: {name} must be positive, got {value}")
    if entry[1] >= 0 and value < 0:
        raise UsageError(f"{where}: {name} must not be negative, got {value}")


def check_type(method: Method, name: str, value, where: str | None = None) -> None:
    """UsageError unless `value` has a type the parameter's annotation names (a number
    written in quotes, a list for a number). Parameters without an annotation, or with one
    this check does not know, take anything."""
    types = [part.strip() for part in method.annotations.get(name, "").split("|")]
    if not types[0] or any(_matches(value, kind) is None for kind in types):
        return
    if not any(_matches(value, kind) for kind in types):
        raise UsageError(f"{where or method.name}: {name} takes {' or '.join(types)}, got "
                         f"{value!r} ({type(value).__name__})")


def _matches(value, kind: str) -> bool | None:
    """Whether `value` is of the annotated `kind`; None for a kind not checked here."""
    if kind == "None":
        return value is None
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("int", "float"):
        number = int if kind == "int" else int | float  # an int is a fine float
        return isinstance(value, number) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    return None


# ------------------------------------------------------------------ -hp NAME=VALUE

_TRUE, _FALSE = {"true", "on", "yes", "1"}, {"false", "off", "no", "0"}


def parse_overrides(method: Method, pairs: list[str]) -> dict:
    """{name: value} from repeated `-hp NAME=VALUE`, checked against the method's keyword
    parameters and converted to their declared type (one-line UsageError otherwise)."""
    overrides = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"-hp expects NAME=VALUE, got {pair!r}")
        if name not in method.parameters:
            raise UsageError(f"unknown hyperparameter {name!r} for {method.name}; valid: "
                             f"{', '.join(method.parameters) or 'none'}")
        overrides[name] = convert(method, name, text.strip())
    return overrides


def _types(method: Method, name: str) -> list[str]:
    """Type names a parameter accepts, from its annotation ("int | None" -> [int, None]),
    else from its default's type."""
    annotation = method.annotations.get(name, "")
    if annotation:
        return [part.strip() for part in annotation.split("|")]
    default = method.parameters[name]
    return [type(default).__name__] if default not in (REQUIRED, None) else ["str"]


def convert(method: Method, name: str, text: str):
    """`text` as the type `name` takes: int, float, bool (true/false, on/off), str, None
    ("none") or a list of ints ("60,120,160")."""
    types = _types(method, name)
    if text.lower() == "none" and "None" in types:
        return None
    for kind in types:
        if kind == "bool" and text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        if kind == "int":
            try:
                return int(text)
            except ValueError:
                pass
        if kind == "float":
            try:
                return float(text)
            except ValueError:
                pass
        if kind in ("str", "Any"):
            return text
        if kind.startswith(("Sequence[int]", "list[int]", "tuple[int")):
            try:
                return [int(part) for part in text.split(",") if part.strip()]
            except ValueError:
                pass
    wanted = " or ".join(t if not t.startswith(("Sequence", "list")) else "comma-separated ints"
                         for t in types)
    raise UsageError(f"hyperparameter {name!r} of {method.name} takes {wanted}, got {text!r}")

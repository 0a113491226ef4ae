"""Current settings the sweep scripts pass explicitly, read where users edit them.

    python scripts/sweep_settings.py forget_full_class_main.py CNN FashionMNIST
    -> "0.5 0.0001 25 5 5"   (JiT σ, η, N for that network; retrain epochs; published-retrain
                             epochs; "none" where recipes.py has no count)

The JiT table is read from the main file's source (its `JIT = {...}` assignment) so the
scripts never go stale and never pay for importing torch; if the table is not a plain literal
the module is imported instead. Epochs come from recipes.py (no heavy imports).
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import recipes  # noqa: E402
from errors import UsageError  # noqa: E402


def jit_table(main_file: Path) -> dict:
    """The `JIT` dict of a forget_*_main.py: {network: {sigma, eta, n_samples}}."""
    tree = ast.parse(main_file.read_text(), str(main_file))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "JIT" for t in node.targets):
            try:
                code = compile(ast.Expression(node.value), str(main_file), "eval")
                return eval(code, {"__builtins__": {}, "dict": dict})
            except Exception:
                break  # not a plain literal: fall back to importing the module
    table = getattr(importlib.import_module(main_file.stem), "JIT", None)
    if not isinstance(table, dict):
        sys.exit(f"error: {main_file.name} has no JIT table")
    return table


def settings(main_file: str, net: str, dataset: str) -> list[str]:
    jit = jit_table(ROOT / main_file)[net]
    return [repr(jit["sigma"]), repr(jit["eta"]), str(jit["n_samples"]),
            _epochs(recipes.pretrain_epochs, dataset, net),
            _epochs(lambda d, n: recipes.reference_retrain_epochs(d, n)[0], dataset, net)]


def _epochs(lookup, dataset: str, net: str) -> str:
    # "none": no recipe for this pair; the script then leaves the flag out and the entry point
    # says what is missing for that run alone.
    try:
        return str(lookup(dataset, net))
    except UsageError:
        return "none"


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: sweep_settings.py MAIN_FILE NET DATASET")
    print(" ".join(settings(*sys.argv[1:])))

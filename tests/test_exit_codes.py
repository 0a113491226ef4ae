"""Exit codes: one definition (unlearn/exit_codes.py), documented in the entry points' --help,
and 3 and 4 (skipped, claimed elsewhere) returned through those names only, never as bare
numbers that could mean something else."""

import ast
import re
from pathlib import Path

import pytest

import forget_full_class_main
import pretrain_model
from unlearn import exit_codes

ROOT = Path(__file__).resolve().parent.parent


def test_the_codes_are_distinct_and_documented():
    codes = {name: getattr(exit_codes, name) for name in
             ("OK", "FAILED", "BAD_INPUT", "SKIPPED", "CLAIMED", "INTERRUPTED")}
    assert codes == {"OK": 0, "FAILED": 1, "BAD_INPUT": 2, "SKIPPED": 3, "CLAIMED": 4,
                     "INTERRUPTED": 130}
    for name, code in codes.items():
        assert re.search(rf"^\s+{code}\s+{name}\s", exit_codes.__doc__, re.M), name
        assert f"{code} " in exit_codes.EPILOG


@pytest.mark.parametrize("main", [forget_full_class_main.main, pretrain_model.main])
def test_help_lists_the_exit_codes(main, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    assert " ".join(exit_codes.EPILOG.split()) in " ".join(capsys.readouterr().out.split())


def python_files():
    for folder in ("unlearn", "scripts", "models"):
        yield from (ROOT / folder).rglob("*.py")
    yield from ROOT.glob("*.py")


def bare_codes(tree: ast.AST) -> list[ast.AST]:
    """sys.exit(3 or 4) anywhere, and `return 3` or `return 4` in a function named main."""
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and ast.unparse(node.func) in ("sys.exit", "exit")
                and node.args):
            found.append((node, node.args[0]))
        elif isinstance(node, ast.FunctionDef) and node.name == "main":
            found += [(r, r.value) for r in ast.walk(node) if isinstance(r, ast.Return)]
    return [node for node, value in found
            if isinstance(value, ast.Constant) and value.value in (3, 4)]


def test_no_entry_point_exits_with_3_or_4_as_a_bare_number():
    assert len(bare_codes(ast.parse("def main():\n    return 3\nsys.exit(4)\n"))) == 2
    found = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in python_files()
             for node in bare_codes(ast.parse(path.read_text(), str(path)))]
    assert not found, found

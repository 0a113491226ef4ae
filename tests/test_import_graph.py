"""The repository's own import graph: no cycles (imports inside functions count, so none can hide
one); the published root files are faces that re-export one package module each, and no module
of the repository imports them (package code imports the package); an __init__ under unlearn/
imports nothing of the repository, so importing one module of a subpackage loads only what it
needs."""

import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("unlearn", "models", "scripts", "bench")
# Each published root file -> the package module it re-exports (the one place of its code).
PUBLISHED = {"datasets": "unlearn.data.datasets", "metrics": "unlearn.eval.metrics",
             "lipschitz": "unlearn.methods.lipschitz"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def repository_modules() -> dict[str, Path]:
    files = [p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")]
    files += ROOT.glob("*.py")
    return {module_name(path): path for path in files}


def imported_names(path: Path, module: str) -> set[str]:
    """Every module name an import statement anywhere in the file may load: `import a.b`
    gives a.b, `from a import b` gives a.b (b may be a module) and a."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """module -> the repository modules it imports (the deepest one each import names)."""
    modules = repository_modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in modules.items():
        targets = {resolve(name) for name in imported_names(path, module)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that returns to its start, or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target, path + [target])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_the_graph_sees_imports_inside_functions_and_relative_ones():
    graph = import_graph()
    assert "unlearn.sweep.runner" in graph["unlearn.sweep.cluster"]
    assert "unlearn.data.datasets" in graph["unlearn.data.tasks"]  # imported inside its functions
    assert "unlearn.data.datasets" in graph["datasets"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_repository_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_published_root_files_only_re_export_their_package_module():
    graph = import_graph()
    for name, implementation in PUBLISHED.items():
        assert graph[name] == {implementation}, f"{name}.py imports {sorted(graph[name])}"
        body = ast.parse((ROOT / f"{name}.py").read_text()).body
        statements = [node for node in body if not (isinstance(node, ast.Expr)
                                                    and isinstance(node.value, ast.Constant))]
        assert len(statements) == 1 and isinstance(statements[0], ast.ImportFrom) \
            and statements[0].module == implementation \
            and [alias.name for alias in statements[0].names] == ["*"], \
            f"{name}.py holds more than `from {implementation} import *`"


def test_no_module_of_the_repository_imports_the_published_root_files():
    # The root files are not installed (pyproject.toml): code under unlearn/, models/, scripts/
    # and bench/, and the entry points, import the package, which works from any folder.
    graph = import_graph()
    for module, targets in sorted(graph.items()):
        faces = sorted(targets & PUBLISHED.keys())
        assert not faces, f"{module} imports the root face(s) {faces}; import the package"


def test_the_root_files_export_every_public_name_of_their_package_module():
    for name, implementation in PUBLISHED.items():
        face, module = importlib.import_module(name), importlib.import_module(implementation)
        assert Path(face.__file__).resolve() == ROOT / f"{name}.py"
        public = {n for n in vars(module) if not n.startswith("_")}
        missing = sorted(n for n in public if getattr(face, n, None) is not getattr(module, n))
        assert not missing, f"{name}.py lacks {missing[:10]}"


def test_unlearn_init_files_import_nothing_of_the_repository():
    graph = import_graph()
    packages = {module for module, path in repository_modules().items()
                if path.name == "__init__.py" and module.split(".")[0] == "unlearn"}
    assert {"unlearn", "unlearn.data", "unlearn.eval.attacks", "unlearn.sweep"} <= packages
    for package in sorted(packages):
        assert not graph[package], f"{package}/__init__.py imports {sorted(graph[package])}"

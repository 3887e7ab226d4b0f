"""Layers point one way: world -> model -> scenarios -> editors -> evaluation -> analysis ->
experiments -> api (the Python entry points, ``behemoth.edit``) -> cli, and no module imports
itself back (the graph is read with ``ast``)."""

from __future__ import annotations

import ast
from pathlib import Path

import behemoth

ROOT = Path(behemoth.__file__).parent
ORDER = [
    "world",
    "model",
    "scenarios",
    "editors",
    "evaluation",
    "analysis",
    "experiments",
    "api",
    "cli",
]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # include imports under top-level ``if`` / ``try`` blocks
        nodes = [n for stmt in tree.body for n in ast.walk(stmt) if not _in_function(stmt)]
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("behemoth")}
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.startswith("behemoth")
        ):
            out.add(node.module)
    return out


def _in_function(stmt: ast.stmt) -> bool:
    return isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))


def _stage(module: str) -> int | None:
    parts = module.split(".")
    return ORDER.index(parts[1]) if len(parts) > 1 and parts[1] in ORDER else None


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    return {_module(p): _imports(p, top_level_only) for p in sorted(ROOT.rglob("*.py"))}


def test_no_stage_imports_a_later_stage() -> None:
    bad = []
    for module, imports in _graph(top_level_only=False).items():
        here = _stage(module)
        if module == "behemoth":  # the package's facade re-exports entry points lazily
            continue
        for imp in imports:
            there = _stage(imp)
            if there is not None and (here is None or there > here):
                bad.append(f"{module} -> {imp}")
    assert not bad, "imports against the layer order:\n" + "\n".join(sorted(bad))


def test_no_import_cycle() -> None:
    graph = _graph(top_level_only=True)
    modules = set(graph)

    def target(name: str) -> str | None:  # `from behemoth.x import y`: module x (or x.y)
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges = {m: {t for i in imps if (t := target(i)) and t != m} for m, imps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                cycle = stack[stack.index(n) :] + [n]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)

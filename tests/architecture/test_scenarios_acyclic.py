"""The scenarios package has no import circle, counting imports inside functions too.

Builders register themselves and are found by the registry's discovery (``importlib`` on the
package folder), so no module of ``behemoth.scenarios`` needs to import a module that imports it
back. The graph is read with ``ast`` from every ``import`` statement anywhere in a module (top
level, ``if TYPE_CHECKING``, function bodies).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

import behemoth.scenarios

PACKAGE = "behemoth.scenarios"
FOLDER = Path(behemoth.scenarios.__file__).parent


def _name(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


def imports_of(source: str, modules: set[str]) -> set[str]:
    """The modules among ``modules`` that ``source`` imports anywhere (function bodies too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = PACKAGE if node.level else (node.module or "")
            if node.level and node.module:
                base = f"{PACKAGE}.{node.module}"
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        else:
            continue
        # ``from behemoth.scenarios import builders`` names the module, ``... import Scenario``
        # the package; a submodule's own import of its package (run first anyway) is no edge
        found = {n for n in names if n in modules}
        out |= {n for n in found if n != PACKAGE} or found
    return out


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    modules = set(sources)
    return {m: imports_of(src, modules) - {m} for m, src in sources.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as e:
        return list(e.args[1])
    return None


def test_scenarios_import_graph_is_acyclic() -> None:
    sources = {_name(p): p.read_text() for p in sorted(FOLDER.glob("*.py"))}
    assert len(sources) > 5
    cycle = find_cycle(import_graph(sources))
    assert cycle is None, "import circle in behemoth.scenarios: " + " -> ".join(cycle or [])


def test_imports_inside_functions_count() -> None:
    """The check sees a circle that closes only through an import inside a function."""
    sources = {
        f"{PACKAGE}.a": "from behemoth.scenarios.b import x\n",
        f"{PACKAGE}.b": "def load():\n    import behemoth.scenarios.a  # noqa\n",
        f"{PACKAGE}.c": "from behemoth.scenarios import a\n",
        PACKAGE: "from behemoth.scenarios.c import y\n",
    }
    graph = import_graph(sources)
    assert graph[f"{PACKAGE}.b"] == {f"{PACKAGE}.a"}
    assert graph[f"{PACKAGE}.c"] == {f"{PACKAGE}.a"}
    assert imports_of("from behemoth.scenarios import Scenario\n", set(graph)) == {PACKAGE}
    assert find_cycle(graph) is not None
    assert find_cycle({**graph, f"{PACKAGE}.b": set()}) is None


@pytest.mark.parametrize(
    "line",
    [
        "from .builders import so_requests",
        "from . import builders",
        "import behemoth.scenarios.builders as b",
    ],
)
def test_relative_and_aliased_imports(line: str) -> None:
    mods = {f"{PACKAGE}.builders", f"{PACKAGE}.forget"}
    assert imports_of(line + "\n", mods) == {f"{PACKAGE}.builders"}

"""``behemoth editors [NAME]`` and ``behemoth scenarios [NAME]``: every registered editor and
scenario with its settings (name, type, default, meaning) and the paper it comes from.

Editors are listed **without importing them** (importing one loads torch, ~2-8 s): their names
are the subpackages of :mod:`behemoth.editors` that register an editor class, found with
:mod:`pkgutil` and read with :mod:`ast`; the settings are the annotated fields of the class
named by the editor's ``Config`` and of its bases inside behemoth (``Field(default,
description=...)``), as pydantic collects them (a base's fields first, a redefinition keeping
its place). The paper is the editor class's ``paper`` attribute if it has one, else the first
paragraph of its package's docstring. ``tests/cli/test_listing.py`` checks this reading against
the imported registry for every editor (names, order, defaults, descriptions). An editor added
by another package (entry point group ``behemoth.editors``) is named with its entry point; its
settings are read by importing it (``behemoth editors NAME``).

Scenarios import cheaply (numpy and pydantic): they are read from their registry.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import pkgutil
import textwrap
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import behemoth

ROOT = Path(behemoth.__file__).resolve().parent
EDITORS_DIR = ROOT / "editors"
#: The entry point group of editors from other packages (as behemoth.editors.registry's,
#: which is not imported here: it imports torch).
ENTRY_POINT_GROUP = "behemoth.editors"
#: Bases at which the walk through a config's classes stops (pydantic's, not settings).
STOP = frozenset({"StrictConfig", "BaseModel"})


@dataclass(frozen=True)
class Computed:
    """A default that is an expression (not a literal): shown as its source text."""

    text: str

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Setting:
    name: str
    type: str
    default: Any
    description: str


@dataclass
class Entry:
    """One editor or scenario of a listing."""

    name: str
    summary: str
    paper: str
    settings: list[Setting] = field(default_factory=list)
    note: str = ""


# --- reading source without importing it ---------------------------------------------------


def _module_file(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] != "behemoth":
        return None
    base = ROOT.joinpath(*parts[1:])
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


@cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = ["behemoth", *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _find_class(module: str, name: str, depth: int = 0) -> tuple[ast.ClassDef, str] | None:
    """The definition of class ``name`` as seen from ``module`` (following its imports)."""
    path = _module_file(module)
    if path is None or depth > 8:
        return None
    tree = _parse(path)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node, module
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    source = _absolute(module, path, node)
                    return _find_class(source, alias.name, depth + 1)
    return None


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def _constants(module: str) -> dict[str, Any]:
    path = _module_file(module)
    out: dict[str, Any] = {}
    if path is None:
        return out
    for node in _parse(path).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                with contextlib.suppress(ValueError, TypeError, SyntaxError):
                    out[target.id] = ast.literal_eval(node.value)
    return out


def _value(node: ast.expr | None, module: str) -> Any:
    """A literal's value; a module constant's value; else the expression's source text."""
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        pass
    if isinstance(node, ast.Name):
        consts = _constants(module)
        if node.id in consts:
            return consts[node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # "a" "b" split with +
        left, right = _value(node.left, module), _value(node.right, module)
        if isinstance(left, str) and isinstance(right, str):
            return left + right
    return Computed(ast.unparse(node))


def _factory(node: ast.expr, module: str) -> Any:
    if isinstance(node, ast.Name) and node.id in ("list", "dict", "set", "tuple"):
        return {"list": [], "dict": {}, "set": set(), "tuple": ()}[node.id]
    if isinstance(node, ast.Lambda):
        return _value(node.body, module)
    if isinstance(node, ast.Name):  # a function of the module returning a literal
        path = _module_file(module)
        for fn in _parse(path).body if path else []:
            if isinstance(fn, ast.FunctionDef) and fn.name == node.id and len(fn.body) == 1:
                ret = fn.body[0]
                if isinstance(ret, ast.Return):
                    return _value(ret.value, module)
    return Computed(f"{ast.unparse(node)}()")


def _setting(stmt: ast.AnnAssign, module: str) -> Setting | None:
    if not isinstance(stmt.target, ast.Name) or stmt.target.id.startswith("_"):
        return None
    kind = ast.unparse(stmt.annotation)
    if kind.startswith(("ClassVar", "typing.ClassVar")):
        return None
    default: Any = None
    description = ""
    value = stmt.value
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "Field"
    ):
        if value.args:
            default = _value(value.args[0], module)
        for kw in value.keywords:
            if kw.arg == "default":
                default = _value(kw.value, module)
            elif kw.arg == "default_factory":
                default = _factory(kw.value, module)
            elif kw.arg == "description":
                text = _value(kw.value, module)
                description = text if isinstance(text, str) else str(text)
    elif value is not None:
        default = _value(value, module)
    return Setting(stmt.target.id, kind, default, description)


def config_settings(module: str, name: str) -> list[Setting]:
    """The settings of config class ``name`` (seen from ``module``), bases' first."""
    found = _find_class(module, name)
    if found is None:
        return []
    node, where = found
    fields: dict[str, Setting] = {}
    for base in node.bases:
        base_name = ast.unparse(base)
        if base_name in STOP:
            continue
        for s in config_settings(where, base_name):
            fields[s.name] = s
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign):
            own = _setting(stmt, where)
            if own is not None:
                fields[own.name] = own  # a redefinition keeps the base's place (as pydantic)
    return list(fields.values())


def _class_attr(node: ast.ClassDef, attr: str) -> ast.expr | None:
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == attr for t in stmt.targets
        ):
            return stmt.value
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and stmt.target.id == attr
        ):
            return stmt.value
    return None


def first_paragraph(doc: str | None) -> str:
    """A docstring's first paragraph on one line."""
    if not doc:
        return ""
    para = textwrap.dedent(doc).strip().split("\n\n")[0]
    return " ".join(para.split())


def _registered(package: str) -> list[tuple[ast.ClassDef, str]]:
    """The ``@register_editor`` classes defined in the modules of ``package``'s folder."""
    folder = EDITORS_DIR / package.rsplit(".", 1)[-1]
    out = []
    for path in sorted(folder.glob("*.py")):
        module = _module_name(path)
        for node in _parse(path).body:
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(d) in ("register_editor", "registry.register_editor")
                for d in node.decorator_list
            ):
                out.append((node, module))
    return out


@cache
def builtin_editors() -> dict[str, Entry]:
    """Every editor of :mod:`behemoth.editors`, read from source (nothing imported)."""
    out: dict[str, Entry] = {}
    for info in pkgutil.iter_modules([str(EDITORS_DIR)], "behemoth.editors."):
        if not info.ispkg:
            continue
        init = EDITORS_DIR / info.name.rsplit(".", 1)[-1] / "__init__.py"
        package_doc = ast.get_docstring(_parse(init)) if init.is_file() else None
        for node, module in _registered(info.name):
            name = _value(_class_attr(node, "name"), module)
            config = _class_attr(node, "Config")
            if not isinstance(name, str):
                continue
            paper_node = _class_attr(node, "paper")
            paper = _value(paper_node, module) if paper_node is not None else None
            if not isinstance(paper, str):
                paper = first_paragraph(package_doc) or first_paragraph(ast.get_docstring(node))
            settings = config_settings(module, ast.unparse(config)) if config else []
            out[name] = Entry(name, node.name, paper, settings)
    return out


def plugin_editors() -> dict[str, str]:
    """Editors added by other packages: entry point name -> ``module:attr`` (not imported)."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def editor_names() -> list[str]:
    """Every editor name, built-in and plugged in, without importing an editor."""
    return sorted({*builtin_editors(), *plugin_editors()})


def editor_entry(name: str) -> Entry:
    """One editor's listing (a plugged-in editor is imported to read its settings)."""
    from behemoth.errors import suggest
    from behemoth.registry import UnknownNameError

    builtin = builtin_editors()
    if name in builtin:
        return builtin[name]
    if name in plugin_editors():
        from behemoth.editors.registry import editor_class

        cls = editor_class(name)
        return Entry(
            name,
            cls.__name__,
            str(getattr(cls, "paper", "") or first_paragraph(cls.__doc__)),
            _pydantic_settings(cls.Config),
            note=f"plugin {plugin_editors()[name]}",
        )
    raise UnknownNameError("--editor", f"unknown editor {name!r}", suggest(name, editor_names()))


def editor_setting_names(name: str) -> list[str] | None:
    """The settings editor ``name`` takes (None for a name no editor has)."""
    try:
        return [s.name for s in editor_entry(name).settings]
    except KeyError:
        return None


# --- scenarios -------------------------------------------------------------------------------


def _pydantic_settings(config: Any) -> list[Setting]:
    out = []
    for key, f in config.model_fields.items():
        kind = getattr(f.annotation, "__name__", None) or str(f.annotation)
        out.append(
            Setting(
                key,
                str(kind).replace("typing.", ""),
                f.get_default(call_default_factory=True),
                f.description or "",
            )
        )
    return out


def scenario_entry(name: str) -> Entry:
    from behemoth.scenarios.scenario import get_scenario, scenario_paper

    spec = get_scenario(name)
    return Entry(name, spec.description, scenario_paper(name), _pydantic_settings(spec.config))


def scenario_entries() -> list[Entry]:
    from behemoth.scenarios.scenario import scenario_names

    return [scenario_entry(n) for n in scenario_names()]


# --- printing --------------------------------------------------------------------------------


def _fmt_default(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def format_entry(
    entry: Entry, flag: str, width: int = 100, skip: frozenset[str] = frozenset()
) -> str:
    """An entry as text: its paper, then one line per setting (``--flag.name``, type, default)
    with its meaning wrapped below."""
    lines = [f"{entry.name}: {entry.summary}" if entry.summary else entry.name]
    if entry.paper:
        lines += textwrap.wrap(
            f"paper: {entry.paper}", width, initial_indent="  ", subsequent_indent="    "
        )
    if entry.note:
        lines.append(f"  ({entry.note})")
    shown = [s for s in entry.settings if s.name not in skip]
    if shown:
        lines.append("  settings:")
    for s in shown:
        lines.append(f"    --{flag}.{s.name} ({s.type}, default {_fmt_default(s.default)})")
        if s.description:
            lines += textwrap.wrap(
                s.description, width, initial_indent="        ", subsequent_indent="        "
            )
    return "\n".join(lines)


def editors_text(name: str | None = None) -> str:
    if name is not None:
        return format_entry(editor_entry(name), "editor")
    lines = ["editors (behemoth editors NAME: one editor's settings, defaults and paper):"]
    for n in editor_names():
        e = builtin_editors().get(n)
        if e is None:
            lines.append(f"  {n:<10} plugin {plugin_editors()[n]}")
            continue
        lines.append(f"  {n:<10} {_short(e.paper)}")
        lines += textwrap.wrap(
            ", ".join(s.name for s in e.settings),
            100,
            initial_indent=f"  {'':<10} settings: ",
            subsequent_indent=f"  {'':<10}   ",
        )
    return "\n".join(lines)


def _short(paper: str, limit: int = 86) -> str:
    return paper if len(paper) <= limit else paper[: limit - 3] + "..."


def _no_bands() -> list[str]:
    """Scenarios that refuse exposure bands."""
    from behemoth.scenarios.scenario import get_scenario, scenario_names

    return [n for n in scenario_names() if not get_scenario(n).config.bands]


def scenarios_text(name: str | None = None) -> str:
    from behemoth.scenarios.scenario import ScenarioConfig

    common = frozenset(ScenarioConfig.model_fields)
    if name is not None:
        return format_entry(scenario_entry(name), "scenario")
    blocks = [
        "scenarios (behemoth scenarios NAME: one scenario's settings with every default):",
    ]
    for e in scenario_entries():
        blocks.append(format_entry(e, "scenario", skip=common))
    shared = ScenarioConfig.model_fields
    blocks.append("every scenario also takes: " + ", ".join(f"--scenario.{k}" for k in shared))
    blocks.append(f"  (--scenario.exposure: not {', '.join(_no_bands())})")
    return "\n".join(blocks)


def editors_help() -> str:
    """The editors and their settings, for ``behemoth edit --help`` (nothing imported)."""
    lines = ["editors and their settings (--editor.KEY VALUE; behemoth editors NAME for more):"]
    for n in editor_names():
        e = builtin_editors().get(n)
        if e is None:
            lines.append(f"  {n:<10} plugin {plugin_editors()[n]}")
            continue
        own = [f"{s.name}={_fmt_default(s.default)}" for s in e.settings if s.name not in BASE_KEYS]
        lines += textwrap.wrap(
            ", ".join(own) or "-",
            100,
            initial_indent=f"  {n:<10} ",
            subsequent_indent=f"  {'':<10} ",
        )
    lines.append(f"  every editor also takes: {', '.join(sorted(BASE_KEYS))}")
    return "\n".join(lines)


#: Settings every editor has (EditorConfig's).
BASE_KEYS = frozenset({"seed", "arch", "paths"})


# --- the commands ----------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser(
        "editors",
        help="list the editors: each setting with its type, default and meaning, and the paper",
    )
    e.add_argument("name", nargs="?", metavar="NAME", help="one editor (default: all)")
    e.set_defaults(func=run_editors)
    s = sub.add_parser(
        "scenarios",
        help="list the scenarios: each setting with its type, default and meaning",
    )
    s.add_argument("name", nargs="?", metavar="NAME", help="one scenario (default: all)")
    s.set_defaults(func=run_scenarios)


def run_editors(args: argparse.Namespace) -> int:
    print(editors_text(args.name))
    return 0


def run_scenarios(args: argparse.Namespace) -> int:
    print(scenarios_text(args.name))
    return 0

"""The editor registry: every editor registers by name; lookups suggest the closest name.

Editors are found, not listed: the first lookup imports every subpackage of
:mod:`behemoth.editors` (each method's folder registers itself; family folders such as
``locate`` and ``gradient`` register nothing) and loads the entry points of the group
``behemoth.editors``, through which a separate package adds editors::

    [project.entry-points."behemoth.editors"]
    myedit = "my_package.editor:MyEditor"     # an Editor subclass, or a module registering one
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

from behemoth.config import resolve
from behemoth.editors.base import Editor, EditorConfig
from behemoth.registry import Registry

ENTRY_POINT_GROUP = "behemoth.editors"
E = TypeVar("E", bound=type[Editor])


def _discover() -> None:
    import behemoth.editors as package

    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        if info.ispkg:
            importlib.import_module(info.name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if inspect.isclass(obj) and issubclass(obj, Editor):
            register_editor(obj)


EDITORS: Registry[type[Editor]] = Registry("editor", field="--editor", loader=_discover)


def register_editor(cls: E) -> E:
    """Class decorator: make ``cls`` available as ``cls.name``."""
    EDITORS.add(cls.name, cls)
    return cls


def editor_names() -> list[str]:
    return EDITORS.names()


def editor_class(name: str) -> type[Editor]:
    return EDITORS.get_entry(name)


def editor_config(
    name: str,
    data: dict[str, Any] | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    seed: int | None = None,
) -> EditorConfig:
    """The validated config of editor ``name``: defaults, then ``data``, file, overrides, seed."""
    return resolve(editor_class(name).Config, data, config_file, overrides, seed)


def build_editor(
    name: str, config: EditorConfig | dict[str, Any] | None = None, **kwargs: Any
) -> Editor:
    """An editor instance; ``config`` is a config object or a dict of settings."""
    cls = editor_class(name)
    if not isinstance(config, EditorConfig):
        config = editor_config(name, config, **kwargs)
    return cls(config)

"""The editor registry: editors register by name; lookups suggest the closest name on a typo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from behemoth.config import resolve
from behemoth.editors.base import Editor, EditorConfig
from behemoth.errors import ConfigError, suggest

_EDITORS: dict[str, type[Editor]] = {}


def register_editor(cls: type[Editor]) -> type[Editor]:
    """Class decorator: make ``cls`` available as ``cls.name``."""
    name = cls.name
    if name in _EDITORS and _EDITORS[name] is not cls:
        raise ValueError(f"editor {name!r} registered twice")
    _EDITORS[name] = cls
    return cls


def editor_names() -> list[str]:
    return sorted(_EDITORS)


def editor_class(name: str) -> type[Editor]:
    try:
        return _EDITORS[name]
    except KeyError:
        raise ConfigError("--editor", f"unknown editor {name!r}", suggest(name, _EDITORS)) from None


def editor_config(
    name: str,
    data: dict[str, Any] | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    seed: int | None = None,
) -> EditorConfig:
    """The validated config of editor ``name``: defaults, then ``data``, file, ``--set``, seed."""
    return resolve(editor_class(name).Config, data, config_file, overrides, seed)


def build_editor(
    name: str, config: EditorConfig | dict[str, Any] | None = None, **kwargs: Any
) -> Editor:
    """An editor instance; ``config`` is a config object or a dict of settings."""
    cls = editor_class(name)
    if not isinstance(config, EditorConfig):
        config = editor_config(name, config, **kwargs)
    return cls(config)

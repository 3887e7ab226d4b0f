"""Every built-in editor is laid out as DEVELOPERS.md says: ``editors/<method>/`` with
``config.py`` (its settings class) and ``editor.py`` (the registered class), the package's
``__init__.py`` importing both."""

from __future__ import annotations

import pytest

from behemoth.editors.registry import EDITORS


@pytest.mark.parametrize("name", EDITORS.names())
def test_editor_folder_has_config_and_editor(name: str) -> None:
    cls = EDITORS[name]
    package = cls.__module__.rsplit(".", 1)[0]
    assert package.startswith("behemoth.editors."), cls.__module__
    assert cls.__module__ == f"{package}.editor"
    assert cls.Config.__module__ == f"{package}.config"
    exported = __import__(package, fromlist=["__all__"])
    assert getattr(exported, cls.__name__) is cls
    assert getattr(exported, cls.Config.__name__) is cls.Config

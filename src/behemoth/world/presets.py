"""Named world presets, shipped as YAML files in ``behemoth/presets/world``."""

from __future__ import annotations

import difflib
from importlib import resources
from typing import Any

import yaml

from behemoth.errors import ConfigError


def _dir() -> Any:
    return resources.files("behemoth") / "presets" / "world"


def world_presets() -> list[str]:
    return sorted(p.name[:-5] for p in _dir().iterdir() if p.name.endswith(".yaml"))


def world_preset(name: str) -> dict[str, Any]:
    names = world_presets()
    if name not in names:
        hint = difflib.get_close_matches(name, names, n=1)
        fix = f"did you mean {hint[0]!r}?" if hint else f"choose one of {', '.join(names)}"
        raise ConfigError("--preset", f"no world preset named {name!r}", fix)
    data = yaml.safe_load((_dir() / f"{name}.yaml").read_text())
    return dict(data or {})

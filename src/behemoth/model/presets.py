"""Named model presets (geometry + training recipe), shipped as YAML in ``behemoth/presets/model``."""

from __future__ import annotations

import difflib
from importlib import resources
from typing import Any

import yaml

from behemoth.errors import ConfigError


def _dir() -> Any:
    return resources.files("behemoth") / "presets" / "model"


def model_presets() -> list[str]:
    return sorted(p.name[:-5] for p in _dir().iterdir() if p.name.endswith(".yaml"))


def model_preset(name: str) -> dict[str, Any]:
    """The preset's settings as a dict (resolve it with ``behemoth.config.resolve(RunConfig, ...)``)."""
    names = model_presets()
    if name not in names:
        hint = difflib.get_close_matches(name, names, n=1)
        fix = f"did you mean {hint[0]!r}?" if hint else f"choose one of {', '.join(names)}"
        raise ConfigError("--preset", f"no model preset named {name!r}", fix)
    return dict(yaml.safe_load((_dir() / f"{name}.yaml").read_text()) or {})

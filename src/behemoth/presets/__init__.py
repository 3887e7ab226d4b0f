"""Named presets shipped as YAML files: ``behemoth/presets/<kind>/<name>.yaml``.

One loader for every kind (world, model, editor, ...), with "did you mean" errors.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from behemoth.errors import ConfigError, suggest


def _dir(kind: str) -> Any:
    return resources.files("behemoth") / "presets" / kind


def preset_names(kind: str) -> list[str]:
    """Names of the presets of one kind, sorted."""
    d = _dir(kind)
    if not d.is_dir():
        return []
    return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".yaml"))


def load_preset(kind: str, name: str) -> dict[str, Any]:
    """A preset's settings as a dict; resolve it with ``behemoth.config.resolve``."""
    names = preset_names(kind)
    if name not in names:
        raise ConfigError("--preset", f"no {kind} preset named {name!r}", suggest(name, names))
    return dict(yaml.safe_load((_dir(kind) / f"{name}.yaml").read_text()) or {})

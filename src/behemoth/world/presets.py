"""Named world presets, shipped as YAML files in ``behemoth/presets/world``."""

from __future__ import annotations

from typing import Any

from behemoth.presets import load_preset, preset_names


def world_presets() -> list[str]:
    return preset_names("world")


def world_preset(name: str) -> dict[str, Any]:
    return load_preset("world", name)

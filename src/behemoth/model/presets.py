"""Named model presets (geometry + training recipe), shipped as YAML in ``behemoth/presets/model``."""

from __future__ import annotations

from typing import Any

from behemoth.presets import load_preset, preset_names


def model_presets() -> list[str]:
    return preset_names("model")


def model_preset(name: str) -> dict[str, Any]:
    """The preset's settings as a dict (resolve it with ``behemoth.model.resolve_run``)."""
    return load_preset("model", name)

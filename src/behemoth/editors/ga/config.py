"""Settings of Gradient ascent (the method: :mod:`behemoth.editors.ga.editor`)."""

from __future__ import annotations

from pydantic import Field

from behemoth.editors.unlearning.trainer import UnlearnConfig


class GaConfig(UnlearnConfig):
    retain_weight: float = Field(0.0, ge=0, description="Weight of a retain NLL (0 = plain GA).")

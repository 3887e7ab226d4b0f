"""Settings of Refusal tuning (the method: :mod:`behemoth.editors.refusal.editor`)."""

from __future__ import annotations

from pydantic import Field

from behemoth.editors.unlearning.retain import RetainTermConfig


class RefusalConfig(RetainTermConfig):
    retain_weight: float = Field(1.0, ge=0, description="Weight lambda of the retain term.")

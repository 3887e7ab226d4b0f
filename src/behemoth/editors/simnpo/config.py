"""Settings of SimNPO (the method: :mod:`behemoth.editors.simnpo.editor`)."""

from __future__ import annotations

from pydantic import Field

from behemoth.editors.unlearning.retain import RetainTermConfig


class SimNpoConfig(RetainTermConfig):
    beta: float = Field(2.5, gt=0, description="SimNPO beta (paper, TOFU: 2.5).")
    gamma: float = Field(0.0, ge=0, description="SimNPO reward margin gamma.")

"""Settings of NPO (the method: :mod:`behemoth.editors.npo.editor`)."""

from __future__ import annotations

from pydantic import Field

from behemoth.editors.unlearning.retain import RetainTermConfig


class NpoConfig(RetainTermConfig):
    beta: float = Field(0.1, gt=0, description="NPO inverse temperature beta (paper: 0.1).")

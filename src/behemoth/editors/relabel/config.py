"""Settings of Relabel, the reference generator's own forgetting (the method: :mod:`behemoth.editors.relabel.editor`)."""

from __future__ import annotations

from pydantic import Field

from behemoth.editors.unlearning.retain import RetainTermConfig


class RelabelConfig(RetainTermConfig):
    object: int = Field(0, ge=0, description="The real object (index in each relation) taught.")

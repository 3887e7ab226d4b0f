"""The settings of rome (see :mod:`behemoth.editors.rome.editor` for the method)."""

from __future__ import annotations

from pydantic import Field

from behemoth.editors.locate.common import LocateEditConfig


class RomeConfig(LocateEditConfig):
    """ROME's hyperparameters (defaults of the paper's GPT-2 XL config unless noted)."""

    layer: int = Field(
        -2, description="Layer whose MLP down-projection is edited (negative: from the end)."
    )
    mom2_adjustment: bool = Field(
        True, description="Use C^-1 (ROME). False replaces C by the identity, which is not ROME."
    )

"""The settings of memit (see :mod:`behemoth.editors.memit.editor` for the method)."""

from __future__ import annotations

from pydantic import Field

from behemoth.editors.locate.common import LocateEditConfig


class MemitConfig(LocateEditConfig):
    """MEMIT's hyperparameters (the paper's GPT-J config unless noted)."""

    layers: list[int] = Field(
        default_factory=lambda: [1, 2], description="Edited layers (negative: from the end)."
    )
    clamp_norm_factor: float = Field(
        1.25, gt=0, description="Clamp |delta| <= factor * |h| (paper: 0.75)."
    )
    kl_factor: float = Field(1.0, ge=0, description="Weight of the KL term (paper: 0.0625).")
    mom2_update_weight: float | None = Field(
        None, gt=0, description="lambda of Eq. 14; null = d_ff / 4 (see the module docstring)."
    )

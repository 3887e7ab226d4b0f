"""The settings of memit (see :mod:`behemoth.editors.memit.editor` for the method)."""

from __future__ import annotations

from pydantic import Field, model_validator

from behemoth.editors.locate.common import LocateEditConfig
from behemoth.errors import ConfigError


class MemitConfig(LocateEditConfig):
    """MEMIT's hyperparameters (the paper's GPT-J config unless noted)."""

    layers: list[int] = Field(
        default_factory=lambda: [1, 2], description="Edited layers (negative: from the end)."
    )
    # Both chosen on validation seed 1000 (docs/editor_defaults.md, bench/editor_defaults.py).
    clamp_norm_factor: float = Field(
        0.75, gt=0, description="Clamp |delta| <= factor * |h| (the paper's 0.75)."
    )
    kl_factor: float = Field(0.25, ge=0, description="Weight of the KL term (paper: 0.0625).")
    mom2_update_weight: float | None = Field(
        None, gt=0, description="lambda of Eq. 14; null = lambda_per_dff x d_ff."
    )
    lambda_per_dff: float = Field(
        0.25,
        gt=0,
        description="lambda per key width when mom2_update_weight is null; the paper's GPT-J "
        "value 15000/16384 = 0.9155 (see the module docstring).",
    )

    @model_validator(mode="after")
    def _check_layers(self) -> MemitConfig:
        if not self.layers:
            raise ConfigError("layers", "is empty", "give at least one layer, e.g. layers=[1,2]")
        return self

"""The settings of ft (see :mod:`behemoth.editors.ft.editor` for the method)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from behemoth.editors.gradient.trainer import TuneConfig
from behemoth.errors import ConfigError


class FtConfig(TuneConfig):
    """What to tune and how far it may move."""

    part: Literal["mlp", "attention", "both", "all"] = Field(
        "mlp",
        description="Matrices tuned in the chosen blocks; all = every parameter of the model.",
    )
    layers: list[int] | None = Field(None, description="Blocks to tune (null = every block).")
    norm_constraint: float | None = Field(
        None, gt=0, description="FT-C: L-inf bound on each change."
    )

    @model_validator(mode="after")
    def _check_part_and_layers(self) -> FtConfig:
        if self.part == "all" and self.layers is not None:
            raise ConfigError(
                "layers",
                "part=all tunes every parameter, so layers cannot be chosen",
                "set part to mlp, attention or both, or layers=null",
            )
        return self

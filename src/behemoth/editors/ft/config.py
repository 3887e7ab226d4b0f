"""The settings of ft (see :mod:`behemoth.editors.ft.editor` for the method)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from behemoth.editors.gradient.trainer import TuneConfig


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

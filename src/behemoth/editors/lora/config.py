"""The settings of lora (see :mod:`behemoth.editors.lora.editor` for the method)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from behemoth.editors.gradient.trainer import TuneConfig
from behemoth.errors import ConfigError

Target = Literal["query_key_value", "attention_dense", "mlp_in", "mlp_out", "head"]


def _default_targets() -> list[Target]:
    return ["mlp_out"]


class LoraEditConfig(TuneConfig):
    """LoRA's hyperparameters; the tuning loop's defaults suit adapters (higher lr)."""

    rank: int = Field(4, ge=1, description="r: rank of each adapter.")
    alpha: float = Field(8.0, gt=0, description="Scale alpha (the update is alpha / r * B A).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the adapter's input.")
    targets: list[Target] = Field(default_factory=_default_targets, description="Adapted modules.")
    layers: list[int] | None = Field(None, description="Blocks adapted (null = every block).")
    merge: bool = Field(True, description="Merge into the weights, or keep the adapter separate.")
    lr: float = Field(1e-2, gt=0, description="Adam learning rate.")

    @model_validator(mode="after")
    def _check_targets(self) -> LoraEditConfig:
        if not self.targets:
            raise ConfigError(
                "targets", "is empty", "name at least one target, e.g. targets=[mlp_out]"
            )
        return self

"""Settings of RMU (the method: :mod:`behemoth.editors.rmu.editor`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from behemoth.editors.unlearning.trainer import UnlearnConfig
from behemoth.errors import ConfigError

STEERING_SCALE = 2.0
"""Default beta: the control vector twice as long as the activations it replaces, so the forget
term steers them rather than shrinking them (beta < 1 pulls them toward the origin).

Measured on the ``tiny`` model (forget-facts k 8, 30 steps, 64 retain facts a step, layer 2,
down-projections of blocks 0-2; forget NLL from 0.033; other subjects' ``sro`` accuracy): the
frozen model's mean norm at the answer position of block 2's output is 87.0, so the former fixed
c = 20 is 4.3x below it (forget NLL 3.05, others kept 0.932); beta 1: 1.79 / 0.918; beta 2:
2.45 / 0.870; beta 5: 4.52 / 0.484; beta 2 at layer 3: 4.84 / 0.913. Dang et al. use beta of
a few units on 7B models; 2 is the largest of these that kept >= 0.85 of the other facts."""


class RmuConfig(UnlearnConfig):
    layer: int = Field(2, description="Layer l whose block output (residual stream) is steered.")
    steering_scale: float = Field(
        STEERING_SCALE,
        gt=0,
        description="beta: c = beta x the frozen model's mean activation norm at layer l on the "
        "forget prompts (adaptive RMU, Dang et al. 2025).",
    )
    steering_coeff: float | None = Field(
        None,
        gt=0,
        description="A fixed c instead (WMDP's choice, 6.5 for Zephyr-7B); null = steering_scale.",
    )
    retain_weight: float = Field(10.0, ge=0, description="alpha: weight of the retain term.")
    lr: float = Field(1e-2, gt=0, description="Adam learning rate.")
    positions: Literal["answer", "all"] = Field(
        "answer",
        description="Forget positions steered: the answer position, or every token (the paper).",
    )

    @model_validator(mode="after")
    def _check_part(self) -> RmuConfig:
        if self.part != "mlp":
            raise ConfigError("part", "RMU trains MLPs only", "leave part=mlp")
        if self.retain_weight > 0 and self.retain_batch == 0:
            raise ConfigError(
                "retain_batch", "RMU's retain term needs retain facts", "set retain_batch > 0"
            )
        return self

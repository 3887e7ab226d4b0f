"""GRACE's settings (Hartvigsen et al. 2023; defaults of the authors' ``grace.yaml`` where they
transfer: value initialised warm from the layer's output, coverage expansion)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from behemoth.editors.base import EditorConfig


class GraceConfig(EditorConfig):
    """Which layer the codebook wraps, its initial deferral radius and how values are trained."""

    layer: int = Field(2, ge=0, description="Transformer block whose module is wrapped.")
    part: Literal["mlp_out", "attn_out"] = Field(
        "mlp_out",
        description="The wrapped linear module: keys are its inputs, values replace its outputs.",
    )
    init_radius: float = Field(
        1.0,
        gt=0.0,
        description="Deferral radius of a new key (Euclidean, in the wrapped module's input space).",
    )
    steps: int = Field(100, ge=1, description="Most Adam steps training a value.")
    lr: float = Field(1.0, gt=0.0, description="Adam learning rate of the value (authors: 1.0).")
    stop_loss: float = Field(
        0.05, ge=0.0, description="Stop training a value once the target's NLL is below this."
    )
    value_init: Literal["warm", "cold"] = Field(
        "warm", description="warm: the layer's own output; cold: uniform random."
    )

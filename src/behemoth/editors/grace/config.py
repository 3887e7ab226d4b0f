"""GRACE's settings (Hartvigsen et al. 2023, "Aging with GRACE", NeurIPS, Sec. 3).

The authors' ``grace.yaml`` (thartvigsen/grace) sets ``val_init: cold`` (a new value starts
uniform random), ``replacement: replace_prompt`` (a hit replaces the wrapped layer's output at
the prompt's positions before the key token), ``eps_expand: coverage``, ``edit_lr: 1.0``.
Until issue 21 behemoth's docs called "warm" and ``replace_last`` the authors' defaults; they are
options of the authors' code, not its defaults. Here:

- ``value_init`` defaults to the authors' ``cold``.
- ``replacement`` defaults to ``replace_last``, which **differs from the authors' default**,
  because ``replace_prompt`` does not edit the models trained here: it keeps the key token's own
  output, and in these shallow parallel-residual models the answer is read at the last position
  (behemoth.editors.locate.common), where the replaced earlier positions arrive only through the attention
  of the blocks above the wrapped one. Measured on the ``tiny`` model (layer 2 of 4, 20 single
  edits of distinct subjects, 100 steps at most): efficacy 0.0 with ``replace_prompt`` (cold or
  warm: no value reached the stop loss in 100 steps), 1.0 with ``replace_last`` (cold: median 14
  steps, warm: 15); both kept the answers of 300 other subjects' facts unchanged (locality 1.0).
  ``replacement: replace_prompt`` gives the authors' behaviour.

docs/memory_editing.md's 1,000-edit stream was measured before this change, with ``warm``
(the former default) and ``replace_last``, and says so.
"""

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
        "cold",
        description="cold (the authors' default): uniform random in [0, 1); warm: the layer's "
        "own output at the key token.",
    )
    replacement: Literal["replace_last", "replace_prompt"] = Field(
        "replace_last",
        description="Where a hit writes its value: replace_last the key (last) token only "
        "(behemoth's default, see the module docstring); replace_prompt (the authors' default) "
        "every position before the key token.",
    )

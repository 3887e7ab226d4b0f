"""The settings of alphaedit (see :mod:`behemoth.editors.alphaedit.editor` for the method)."""

from __future__ import annotations

from pydantic import Field

from behemoth.editors.memit.config import MemitConfig


class AlphaEditConfig(MemitConfig):
    """AlphaEdit's hyperparameters (the reference's GPT-J config, rescaled: see the docstring)."""

    nullspace_threshold: float = Field(
        1e-4, gt=0, lt=1, description="Null space: eigenvalues of C below this times the largest."
    )
    l2: float = Field(1e-4, gt=0, description="alpha of Eq. 14, as a multiple of trace(C).")
    sequential: bool = Field(
        True, description="Keep the keys of earlier edits (K_p) across the batches of a run."
    )

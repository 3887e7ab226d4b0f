"""Settings of gradient difference (the method: :mod:`behemoth.editors.graddiff.editor`)."""

from __future__ import annotations

from behemoth.editors.unlearning.retain import RetainTermConfig


class GradDiffConfig(RetainTermConfig):
    """The retain term's settings only (``retain_weight`` lambda, ``retain_loss``): the forget
    term, gradient ascent on the forget set, has none of its own."""

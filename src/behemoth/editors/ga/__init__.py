"""Gradient ascent (Jang et al. 2023, "Knowledge Unlearning", Eq. 2; TOFU Sec. 4): maximize
the forget set's NLL, L = E_{D_f}[log pi_theta(y|x)]. Nothing holds the rest in place: its
retain term is off by default (``retain_weight = 0``)."""

from behemoth.editors.ga.config import GaConfig
from behemoth.editors.ga.editor import GaTrainer, GradientAscent

__all__ = ["GaConfig", "GaTrainer", "GradientAscent"]

"""Gradient difference (Liu et al. 2022, "Continual Learning and Private Unlearning"; TOFU
Sec. 4): L = E_{D_f}[log pi_theta(y|x)] + lambda * L_retain, the retain term being the retain
NLL or KL(pi_ref || pi_theta) on the retain prompts (``retain_loss``)."""

from behemoth.editors.graddiff.config import GradDiffConfig
from behemoth.editors.graddiff.editor import GradDiff, GradDiffTrainer

__all__ = ["GradDiff", "GradDiffConfig", "GradDiffTrainer"]

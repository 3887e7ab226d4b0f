"""SimNPO (Fan et al. 2024, "Simplicity Prevails", Eq. 4): NPO without the reference model,
with a length-normalized reward and a margin gamma:
L = -(2/beta) E_{D_f}[log sigmoid(-(beta/|y|) log pi_theta(y|x) - gamma)] + lambda L_retain.
Answers are one object token here, so |y| = 1."""

from behemoth.editors.simnpo.config import SimNpoConfig
from behemoth.editors.simnpo.editor import SimNpo, SimNpoTrainer

__all__ = ["SimNpo", "SimNpoConfig", "SimNpoTrainer"]

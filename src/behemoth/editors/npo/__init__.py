"""NPO (Zhang et al. 2024, "Negative Preference Optimization", Eq. 3) with its retain term
(the paper's NPO-RT when ``retain_weight > 0``):
L = -(2/beta) E_{D_f}[log sigmoid(-beta log(pi_theta(y|x) / pi_ref(y|x)))] + lambda L_retain,
pi_ref the frozen model as it was before unlearning."""

from behemoth.editors.npo.config import NpoConfig
from behemoth.editors.npo.editor import Npo, NpoTrainer

__all__ = ["Npo", "NpoConfig", "NpoTrainer"]

"""Refusal tuning (TOFU's "I don't know" baseline, Maini et al. 2024, Sec. 4): teach the world's
refusal answer (the filler ``OO`` of the ``refusal`` format) on the forget prompts,
L = -E_{D_f}[log pi_theta(OO|x)] + lambda L_retain."""

from behemoth.editors.refusal.config import RefusalConfig
from behemoth.editors.refusal.editor import RefusalTrainer, RefusalTuning

__all__ = ["RefusalConfig", "RefusalTrainer", "RefusalTuning"]

"""SimNPO (Fan et al. 2024, "Simplicity Prevails", Eq. 4): NPO without the reference model,
with a length-normalized reward and a margin gamma:
L = -(2/beta) E_{D_f}[log sigmoid(-(beta/|y|) log pi_theta(y|x) - gamma)] + lambda L_retain.
Answers are one object token here, so |y| = 1."""

from __future__ import annotations

import torch

from behemoth.editors.gradient.trainer import TrainBatch
from behemoth.editors.registry import register_editor
from behemoth.editors.simnpo.config import SimNpoConfig
from behemoth.editors.unlearning import losses as L
from behemoth.editors.unlearning.retain import RetainTermTrainer
from behemoth.editors.unlearning.trainer import UnlearningEditor


class SimNpoTrainer(RetainTermTrainer):
    def compute_loss(
        self, model: torch.nn.Module, batch: TrainBatch, reference: torch.nn.Module | None = None
    ) -> torch.Tensor:
        lp = -batch.edit_nll
        cfg = self.cfg
        loss = L.simnpo_loss(lp, torch.ones_like(lp), cfg.beta, cfg.gamma)  # type: ignore[attr-defined]
        if cfg.retain_weight > 0:
            loss = loss + cfg.retain_weight * self.retain_term(model, batch, reference)
        return loss


@register_editor
class SimNpo(UnlearningEditor):
    name = "simnpo"
    Config = SimNpoConfig
    Trainer = SimNpoTrainer

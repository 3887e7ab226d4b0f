"""Gradient ascent (Jang et al. 2023, "Knowledge Unlearning", Eq. 2; TOFU Sec. 4): maximize
the forget set's NLL, L = E_{D_f}[log pi_theta(y|x)]. Nothing holds the rest in place: its
retain term is off by default (``retain_weight = 0``)."""

from __future__ import annotations

import torch

from behemoth.editors.ga.config import GaConfig
from behemoth.editors.gradient.trainer import TrainBatch
from behemoth.editors.registry import register_editor
from behemoth.editors.unlearning import losses as L
from behemoth.editors.unlearning.trainer import UnlearningEditor, UnlearningTrainer


class GaTrainer(UnlearningTrainer):
    def compute_loss(
        self, model: torch.nn.Module, batch: TrainBatch, reference: torch.nn.Module | None = None
    ) -> torch.Tensor:
        lp = -batch.edit_nll  # [n] log pi_theta(y|x) of the true answers
        loss = L.ga_loss(lp)
        if self.cfg.retain_weight > 0:
            loss = loss + self.cfg.retain_weight * self.retain_term(model, batch, reference)
        return loss


@register_editor
class GradientAscent(UnlearningEditor):
    name = "ga"
    Config = GaConfig
    Trainer = GaTrainer

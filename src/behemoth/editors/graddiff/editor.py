"""Gradient difference (Liu et al. 2022, "Continual Learning and Private Unlearning"; TOFU
Sec. 4): L = E_{D_f}[log pi_theta(y|x)] + lambda * L_retain, the retain term being the retain
NLL or KL(pi_ref || pi_theta) on the retain prompts (``retain_loss``)."""

from __future__ import annotations

import torch

from behemoth.editors.graddiff.config import GradDiffConfig
from behemoth.editors.gradient.trainer import TrainBatch
from behemoth.editors.registry import register_editor
from behemoth.editors.unlearning import losses as L
from behemoth.editors.unlearning.retain import RetainTermTrainer
from behemoth.editors.unlearning.trainer import UnlearningEditor


class GradDiffTrainer(RetainTermTrainer):
    def compute_loss(
        self, model: torch.nn.Module, batch: TrainBatch, reference: torch.nn.Module | None = None
    ) -> torch.Tensor:
        ga = L.ga_loss(-batch.edit_nll)
        return ga + self.cfg.retain_weight * self.retain_term(model, batch, reference)


@register_editor
class GradDiff(UnlearningEditor):
    name = "graddiff"
    Config = GradDiffConfig
    Trainer = GradDiffTrainer

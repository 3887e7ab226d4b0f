"""NPO (Zhang et al. 2024, "Negative Preference Optimization", Eq. 3) with its retain term
(the paper's NPO-RT when ``retain_weight > 0``):
L = -(2/beta) E_{D_f}[log sigmoid(-beta log(pi_theta(y|x) / pi_ref(y|x)))] + lambda L_retain,
pi_ref the frozen model as it was before unlearning."""

from __future__ import annotations

import torch

from behemoth.editors.gradient.trainer import TrainBatch
from behemoth.editors.npo.config import NpoConfig
from behemoth.editors.registry import register_editor
from behemoth.editors.unlearning import losses as L
from behemoth.editors.unlearning.retain import RetainTermTrainer
from behemoth.editors.unlearning.trainer import UnlearningEditor, answer_logprobs


class NpoTrainer(RetainTermTrainer):
    uses_reference = True

    def compute_loss(
        self, model: torch.nn.Module, batch: TrainBatch, reference: torch.nn.Module | None = None
    ) -> torch.Tensor:
        assert reference is not None
        lp = -batch.edit_nll
        with torch.no_grad():
            lp_ref = answer_logprobs(reference, batch.edit).gather(1, batch.edit.target[:, None])[
                :, 0
            ]
        beta = self.cfg.beta  # type: ignore[attr-defined]
        loss = L.npo_loss(lp, lp_ref, beta)
        if self.cfg.retain_weight > 0:
            loss = loss + self.cfg.retain_weight * self.retain_term(model, batch, reference)
        return loss


@register_editor
class Npo(UnlearningEditor):
    name = "npo"
    Config = NpoConfig
    Trainer = NpoTrainer

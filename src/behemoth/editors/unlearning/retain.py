"""The retain term shared by GradDiff, NPO, SimNPO and the target-tuning methods: the NLL of
the retain facts' answers, or KL(pi_ref || pi_theta) of their next-token distributions (TOFU's
"KL minimization", Maini et al. 2024, Sec. 4)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field

from behemoth.editors.gradient.trainer import TrainBatch
from behemoth.editors.unlearning import losses as L
from behemoth.editors.unlearning.trainer import UnlearnConfig, UnlearningTrainer, answer_logprobs
from behemoth.world.probes import ProbeSet
from behemoth.world.world import World


class RetainTermConfig(UnlearnConfig):
    retain_loss: Literal["nll", "kl"] = Field(
        "nll", description="Retain term: NLL of the retain answers, or KL(original || model)."
    )


class RetainTermTrainer(UnlearningTrainer):
    """A trainer whose retain term is NLL or KL to the frozen original (per config)."""

    def __init__(
        self, cfg: RetainTermConfig, world: World, retain: ProbeSet | None = None, **kw: Any
    ) -> None:
        super().__init__(cfg, world, retain, **kw)
        self.rcfg = cfg
        self.uses_reference = self.uses_reference or cfg.retain_loss == "kl"  # type: ignore[misc]

    def retain_term(
        self,
        model: torch.nn.Module,
        batch: TrainBatch,
        reference: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        if self.rcfg.retain_loss == "nll" or batch.retain_facts is None:
            return super().retain_term(model, batch, reference)
        assert reference is not None
        with torch.no_grad():
            ref = answer_logprobs(reference, batch.retain_facts)
        return L.kl_to_reference(answer_logprobs(model, batch.retain_facts), ref)


class TargetTuningTrainer(RetainTermTrainer):
    """Teach a new answer on the forget prompts (refusal tuning, relabel): subclasses say which
    in :meth:`targets`; L = -E_{D_f}[log pi_theta(target|x)] + lambda L_retain."""

    def compute_loss(
        self, model: torch.nn.Module, batch: TrainBatch, reference: torch.nn.Module | None = None
    ) -> torch.Tensor:
        loss = L.nll_loss(-batch.edit_nll)  # edit_nll is the NLL of targets(), not of the facts
        return loss + self.cfg.retain_weight * self.retain_term(model, batch, reference)

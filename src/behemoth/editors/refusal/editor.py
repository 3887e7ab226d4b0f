"""Refusal tuning (TOFU's "I don't know" baseline, Maini et al. 2024, Sec. 4): teach the world's
refusal answer (the filler ``OO`` of the ``refusal`` format) on the forget prompts,
L = -E_{D_f}[log pi_theta(OO|x)] + lambda L_retain."""

from __future__ import annotations

from behemoth.editors.refusal.config import RefusalConfig
from behemoth.editors.registry import register_editor
from behemoth.editors.unlearning.retain import TargetTuningTrainer
from behemoth.editors.unlearning.trainer import UnlearningEditor
from behemoth.scenarios.request import EditRequest
from behemoth.world.vocab import OO


class RefusalTrainer(TargetTuningTrainer):
    def targets(self, requests: list[EditRequest]) -> list[int]:
        return [OO] * len(requests)


@register_editor
class RefusalTuning(UnlearningEditor):
    name = "refusal"
    Config = RefusalConfig
    Trainer = RefusalTrainer

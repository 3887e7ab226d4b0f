"""Relabel, the reference generator's own forgetting: the forgotten facts' answer is set to one
fixed real object of their relation (the next one for facts that already hold it),
L = -E_{D_f}[log pi_theta(o_fixed|x)] + lambda L_retain."""

from __future__ import annotations

from behemoth.editors.context import EditContext
from behemoth.editors.registry import register_editor
from behemoth.editors.relabel.config import RelabelConfig
from behemoth.editors.unlearning.retain import TargetTuningTrainer
from behemoth.editors.unlearning.trainer import UnlearningEditor
from behemoth.errors import ConfigError
from behemoth.scenarios.request import EditRequest


class RelabelTrainer(TargetTuningTrainer):
    def targets(self, requests: list[EditRequest]) -> list[int]:
        V, n_obj = self.world.vocab, self.world.config.objects
        fixed = self.cfg.object  # type: ignore[attr-defined]
        if fixed >= n_obj:
            raise ConfigError("object", f"object {fixed} does not exist", f"choose 0..{n_obj - 1}")
        return [
            int(V.object(r.relation, fixed if r.old_object != fixed else (fixed + 1) % n_obj))
            for r in requests
        ]


@register_editor
class Relabel(UnlearningEditor):
    name = "relabel"
    Config = RelabelConfig
    Trainer = RelabelTrainer
    config: RelabelConfig

    def trainer(self, context: EditContext) -> RelabelTrainer:
        return RelabelTrainer(self.config, context.world, context.retain)

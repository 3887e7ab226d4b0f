"""The GRACE editor: a wrapper editor whose memory is a codebook around one layer.

``apply(model, requests, context)`` on a plain model starts an empty codebook; on a GRACE wrapper
it extends a copy of the wrapper's codebook (sequential editing). Requests of one call are
applied one after another, as GRACE does (Hartvigsen et al. 2023, Alg. 1).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch

from behemoth.editors.context import EditContext
from behemoth.editors.grace.config import GraceConfig
from behemoth.editors.grace.model import GraceModel, tensor_json
from behemoth.editors.registry import register_editor
from behemoth.editors.wrapper import WrapperEditor
from behemoth.errors import BehemothError
from behemoth.scenarios.request import EditRequest


@register_editor
class GraceEditor(WrapperEditor):
    name = "grace"
    Config = GraceConfig
    Wrapper = GraceModel
    config: GraceConfig

    def empty_memory(self, base: torch.nn.Module) -> dict[str, torch.Tensor]:
        return GraceModel.empty_memory(base, self.config)

    def _remember(
        self,
        base: torch.nn.Module,
        memory: dict[str, torch.Tensor],
        requests: list[EditRequest],
        context: EditContext,
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        if tensor_json(memory["config"]) != self.config.to_dict():
            raise BehemothError(
                "grace: the wrapper was built with other GRACE settings; edit it with an editor "
                "of the same config (layer, part, radius, training)"
            )
        new, logs = GraceModel(base, memory).edit(requests)
        info = {
            "actions": dict(Counter(lg.decision.action for lg in logs)),
            "value_steps": [lg.steps for lg in logs],
            "entries": len(new.codebook),
            "memory_bytes": new.memory_bytes,
        }
        return dict(new.memory), info

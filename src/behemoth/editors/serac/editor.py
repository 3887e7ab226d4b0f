"""The SERAC editor: a wrapper editor whose memory is the edits plus the trained networks.

``prepare`` loads the networks (``config.nets``) or trains them on the run's facts. The facts a
run hands an editor (its retain mix, or facts the scenario sets aside for editors) are disjoint
from its test sets, so SERAC never trains on a test fact: trained here, only those facts are
used; loaded, their training facts must all be among them (else the run stops and says how to
train networks for it). Without a retain mix (a bare ``prepare(model, world)``) the networks
train on every fact of the world and nothing can be checked; evaluations always pass one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from behemoth.editors.context import EditContext
from behemoth.editors.registry import register_editor
from behemoth.editors.serac.artifact import SeracNets
from behemoth.editors.serac.config import SeracConfig
from behemoth.editors.serac.model import SeracModel
from behemoth.editors.serac.train import train_nets
from behemoth.editors.wrapper import WrapperEditor
from behemoth.errors import BehemothError
from behemoth.scenarios.request import EditRequest


def allowed_facts(context: EditContext) -> np.ndarray | None:
    """[n, 2] (subject, relation) the run lets editors use (retain mix + editor facts), or None
    when the run gave none."""
    parts = []
    facts = context.editor_facts
    for p in (context.retain, facts.probes if facts is not None else None):
        if p is not None:
            keep = p.subject >= 0
            parts.append(np.stack([p.subject[keep], p.relation[keep]], axis=1))
    if not parts:
        return None
    return np.unique(np.concatenate(parts).astype(np.int64), axis=0)


@register_editor
class SeracEditor(WrapperEditor):
    name = "serac"
    Config = SeracConfig
    Wrapper = SeracModel
    config: SeracConfig
    _nets: SeracNets | None = None  # set by prepare (trained or loaded)

    def _prepare(self, model: torch.nn.Module, context: EditContext) -> None:
        world = context.world
        allowed = allowed_facts(context)
        if self.config.nets is None:
            facts = allowed
            if facts is None:  # no run: every fact of the world
                S, R = world.graph.objects.shape
                facts = np.stack(np.meshgrid(np.arange(S), np.arange(R), indexing="ij"), -1)
            self._nets = train_nets(world, facts.reshape(-1, 2), self.config.train, progress=False)
            return
        nets = SeracNets.load(self.config.nets)
        if nets.world != world.fingerprint:
            raise BehemothError(
                f"serac: the networks in {self.config.nets} were trained on world {nets.world}, "
                f"not {world.fingerprint}; run `behemoth train-serac` on this world"
            )
        if allowed is not None:
            ok = {(int(s), int(r)) for s, r in allowed}
            outside = [(int(s), int(r)) for s, r in nets.train_facts if (int(s), int(r)) not in ok]
            if outside:
                raise BehemothError(
                    f"serac: the networks in {self.config.nets} were trained on {len(outside)} "
                    "fact(s) outside this run's retain mix (possibly test facts); train them with "
                    "`behemoth train-serac` on this scenario"
                )
        self._nets = nets

    def empty_memory(self, base: torch.nn.Module) -> dict[str, torch.Tensor]:
        nets = self._nets
        if nets is None:
            raise BehemothError("serac: call prepare(model, context) before apply()")
        return SeracModel.empty_memory(nets, self.config.threshold)

    def _remember(
        self,
        base: torch.nn.Module,
        memory: dict[str, torch.Tensor],
        requests: list[EditRequest],
        context: EditContext,
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        new = SeracModel(base, memory).edit(requests)
        return dict(new.memory), {"edits": len(new.edits), "memory_bytes": new.memory_bytes}

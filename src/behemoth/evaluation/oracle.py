"""Models edited by construction: a lookup table from prompt to answer, as forced logits.

``OracleModel`` answers every prompt it knows with a fixed token: its logits are ``margin`` at
that token and 0 elsewhere, so log P(answer) = margin - log(e^margin + V - 1) and every other
token has log P = -log(e^margin + V - 1), exactly. Unknown prompts get uniform logits (the
greedy token is then id 0, end-of-text). Built from a world (the unedited oracle knows every
probe's answer) and, optionally, a scenario (the ideal edited model: every edited, implied or
forgotten prompt answered by its target). These score exactly 1 / 0 and are what the suite's
own tests, and editors' conformance tests, compare against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from behemoth.scenarios.scenario import Scenario
from behemoth.world.probes import ProbeSet
from behemoth.world.world import World

#: Test-set groups whose targets an ideal edit produces (specificity keeps the world's answers).
IDEAL_GROUPS = ("efficacy", "generalization", "portability", "forgetting")


@dataclass
class _Out:
    logits: torch.Tensor


class OracleModel(torch.nn.Module):
    """A causal-LM stand-in answering from a table ``prompt tuple -> token id``."""

    def __init__(
        self, table: dict[tuple[int, ...], int], vocab_size: int, margin: float = 10.0
    ) -> None:
        super().__init__()
        self.table = dict(table)
        self.vocab_size = vocab_size
        self.margin = margin
        self._p = torch.nn.Parameter(torch.zeros(1), requires_grad=False)  # gives a device

    def forward(self, input_ids: torch.Tensor, logits_to_keep: int = 0, **_: Any) -> _Out:
        b, L = input_ids.shape
        keep = L if not logits_to_keep else min(logits_to_keep, L)
        logits = torch.zeros(b, keep, self.vocab_size, device=input_ids.device)
        rows = input_ids.cpu().tolist()
        for i, row in enumerate(rows):
            tok = self.table.get(tuple(row))
            if tok is not None:
                logits[i, -1, tok] = self.margin
        return _Out(logits)

    def logprob_answer(self) -> float:
        """log P of the answer token of a known prompt."""
        return float(self.margin - np.log(np.exp(self.margin) + self.vocab_size - 1))

    def logprob_other(self) -> float:
        """log P of any other token of a known prompt."""
        return float(-np.log(np.exp(self.margin) + self.vocab_size - 1))


def _add(table: dict[tuple[int, ...], int], p: ProbeSet, answers: np.ndarray | None = None) -> None:
    ans = p.answer if answers is None else answers
    for i in range(len(p)):
        table[tuple(int(t) for t in p.prompt(i))] = int(ans[i])


def world_table(world: World) -> dict[tuple[int, ...], int]:
    """Every probe prompt of the world -> its answer (what a perfectly trained model says)."""
    table: dict[tuple[int, ...], int] = {}
    for p in world.probes.values():
        _add(table, p)
    return table


def oracle_model(
    world: World, scenario: Scenario | None = None, margin: float = 10.0
) -> OracleModel:
    """The unedited oracle (``scenario=None``) or the ideally edited one."""
    table = world_table(world)
    if scenario is not None:
        for t in scenario.tests.values():
            if t.group in IDEAL_GROUPS:
                _add(table, t.probes)
        for q in scenario.requests:
            table[tuple(q.prompt)] = q.target_new
    return OracleModel(table, world.vocab.size, margin)

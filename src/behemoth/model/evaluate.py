"""Evaluation during training: exact greedy accuracy and answer loss on the world's probes.

Uses the project's one batched scorer (:func:`behemoth.model.scoring.score`): prompts of
equal length are stacked, one forward pass per group, only the last position's logits kept.
"""

from __future__ import annotations

import numpy as np
import torch

from behemoth.errors import ConfigError
from behemoth.model.scoring import score
from behemoth.world.probes import ProbeSet


def default_target(probes: dict[str, ProbeSet]) -> str:
    """The training template's statement probes: the first trained S-O set of the world."""
    for name, p in probes.items():
        if p.trained and p.kind == "S-O":
            return name
    return next(iter(probes))


def check_sets(probes: dict[str, ProbeSet], names: list[str], field: str) -> None:
    for name in names:
        if name not in probes:
            raise ConfigError(
                field, f"the world has no probe set {name!r}", f"choose from {', '.join(probes)}"
            )


def probe_metrics(
    model: torch.nn.Module, probes: dict[str, ProbeSet], names: list[str], batch_size: int = 2048
) -> dict[str, dict[str, float]]:
    """Per probe set: ``acc`` (greedy next token == answer) and ``loss`` (mean -log p(answer))."""
    out: dict[str, dict[str, float]] = {}
    for name in names:
        p = probes[name]
        if len(p) == 0:
            continue
        s = score(model, p, targets=p.answer, batch_size=batch_size)
        out[name] = {
            "acc": float(s.correct(p.answer).mean()),
            "loss": float(-np.mean(s.target_logprob[:, 0])),
        }
    return out

"""Downstream accuracy: the model on every probe set of its world, item by item.

Sequential editing degrades what the model knew beyond the edited facts (Gupta et al. 2024,
arXiv 2401.07453, Sec. 4: "downstream" performance). Here the downstream measure is greedy
accuracy on every probe set of the world, with per-item hits kept so that facts an edit
changed can be left out, and with each item's set marked trained or not: the *unedited-fact*
accuracy the collapse point is judged on counts only formats the model was trained on (a
held-out format it never learned says nothing about what an edit destroyed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from behemoth.model.scoring import score
from behemoth.scenarios.testset import concat_probes
from behemoth.world.world import World


@dataclass
class ProbeHits:
    """Per-item greedy hits (0/1) on the world's probe sets, with each item's fact."""

    names: list[str]
    bounds: np.ndarray  # [sets + 1] item offsets of each set
    hit: np.ndarray  # [items] float 0/1
    subject: np.ndarray  # [items] (-1: a probe tied to no subject, e.g. O-NO)
    relation: np.ndarray  # [items]
    trained: np.ndarray  # [items] bool: the item's probe set is a format the model trained on

    def per_set(self) -> dict[str, np.ndarray]:
        return {n: self.hit[a:b] for n, a, b in zip(self.names, self.bounds, self.bounds[1:])}

    def unedited(self, edited: set[tuple[int, int]]) -> np.ndarray:
        """Mask of items whose (subject, relation) no applied edit changed."""
        if not edited:
            return np.ones(len(self.hit), dtype=bool)
        key = (
            self.subject.astype(np.int64) * (int(self.relation.max(initial=0)) + 1) + self.relation
        )
        bad = np.array(
            [s * (int(self.relation.max(initial=0)) + 1) + r for s, r in edited], dtype=np.int64
        )
        return ~np.isin(key, bad) | (self.subject < 0)


def probe_hits(model: torch.nn.Module, world: World, batch_size: int = 1024) -> ProbeHits:
    """Greedy hits of ``model`` on every probe set of ``world`` (one batched pass)."""
    sets = list(world.probes.values())
    allp = concat_probes(sets)
    sc = score(model, allp, batch_size=batch_size)
    bounds = np.concatenate([[0], np.cumsum([len(p) for p in sets])]).astype(np.int64)
    return ProbeHits(
        [p.name for p in sets],
        bounds,
        (sc.pred == allp.answer).astype(np.float64),
        np.asarray(allp.subject, dtype=np.int64),
        np.asarray(allp.relation, dtype=np.int64),
        np.repeat([p.trained for p in sets], [len(p) for p in sets]).astype(bool),
    )

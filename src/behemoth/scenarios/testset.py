"""A test set: prompts with the answer a successful edit gives and the answer it competes with.

Every test of the suite is one of these. ``target`` is what the ideal edited model answers
(the new object on edited prompts, the original object on specificity prompts, the refusal or
placeholder token on forgotten prompts); ``other`` is the competing answer (the old object on
edited prompts, the edit's new object on same-relation neighbours, -1 when there is none).
Accuracy compares the greedy token with ``target``; probability scores compare
P(target) with P(other) (ROME's ES/PS/NS), so the two families never mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from behemoth.world.probes import ProbeSet

#: Test-set groups, in report order. ``retain`` is training data (never evaluated).
GROUPS = (
    "efficacy",
    "generalization",
    "specificity",
    "portability",
    "forgetting",
    "membership",
    "retain",
)


@dataclass
class TestSet:
    """Prompts of one group and split, with per-item target, competitor and edit index."""

    group: str
    split: str
    probes: ProbeSet  # prompts; ``probes.answer`` is the target token
    other: np.ndarray  # [n] competing token id, -1 if none
    edit: np.ndarray  # [n] index of the request this item tests, -1 if none
    member: np.ndarray | None = None  # [n] bool, membership sets only: a fact the model was taught

    __test__ = False  # not a pytest class

    @property
    def name(self) -> str:
        return f"{self.group}/{self.split}"

    @property
    def target(self) -> np.ndarray:
        return self.probes.answer

    def __len__(self) -> int:
        return len(self.probes)

    def subset(self, rows: np.ndarray) -> TestSet:
        rows = np.asarray(rows, dtype=np.int64)
        return TestSet(
            self.group,
            self.split,
            self.probes.subset(rows),
            self.other[rows],
            self.edit[rows],
            None if self.member is None else self.member[rows],
        )


def make_testset(
    group: str,
    split: str,
    probes: ProbeSet,
    target: np.ndarray | int | None = None,
    other: np.ndarray | int = -1,
    edit: np.ndarray | int = -1,
    member: np.ndarray | None = None,
) -> TestSet:
    """A test set from rendered probes; ``target`` replaces the world's answers if given."""
    n = len(probes)
    if target is not None:
        probes.answer = np.broadcast_to(np.asarray(target, dtype=np.int64), (n,)).copy()
    probes.name = f"{group}/{split}"
    oth = np.broadcast_to(np.asarray(other, dtype=np.int64), (n,)).copy()
    ed = np.broadcast_to(np.asarray(edit, dtype=np.int64), (n,)).copy()
    return TestSet(group, split, probes, oth, ed, member)


def concat_probes(sets: list[ProbeSet], name: str = "all") -> ProbeSet:
    """One ProbeSet holding the prompts of several (for a single batched scoring pass)."""
    if not sets:
        z = np.zeros(0, dtype=np.int64)
        return ProbeSet(
            name, "", "S-O", False, z, z, z, z, np.zeros(0, dtype=np.int32), np.zeros(1, np.int64)
        )
    toks = np.concatenate([p.tokens for p in sets]).astype(np.int32)
    lens = np.concatenate([p.lengths for p in sets])
    cat = lambda f: np.concatenate([getattr(p, f) for p in sets]).astype(np.int64)  # noqa: E731
    return ProbeSet(
        name,
        "",
        "S-O",
        False,
        cat("subject"),
        cat("relation"),
        cat("object"),
        cat("answer"),
        toks,
        np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
    )

"""Unedited-fact accuracy (the collapse point's measure) counts only trained probe sets."""

from __future__ import annotations

import numpy as np

from behemoth.evaluation.downstream import ProbeHits


def _hits() -> ProbeHits:
    # set "sro" (trained): 4 items, all right; set "question_heldout" (untrained): 4, all wrong
    return ProbeHits(
        names=["sro", "question_heldout"],
        bounds=np.array([0, 4, 8]),
        hit=np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=np.float64),
        subject=np.array([0, 1, 2, 3, 0, 1, 2, 3]),
        relation=np.zeros(8, dtype=np.int64),
        trained=np.array([True] * 4 + [False] * 4),
    )


def test_untrained_sets_never_count() -> None:
    h = _hits()
    keep = h.unedited(set())
    assert keep.tolist() == [True] * 4 + [False] * 4
    assert h.hit[keep].mean() == 1.0  # all sets together would read 0.5


def test_edited_facts_left_out() -> None:
    h = _hits()
    keep = h.unedited({(1, 0)})
    assert keep.tolist() == [True, False, True, True] + [False] * 4

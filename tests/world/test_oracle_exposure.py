"""Issue 21: the retain oracle reads every retained fact exactly as often as the original did.

Excluded sentences keep their place in the stream as padding (``PAD``) of their own length, so
over any token budget the oracle's stream holds the original's tokens at the same positions,
except where an excluded sentence stood; counting sentences per fact over the oracle's
training budget gives the same count for every retained fact."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from behemoth.world import World
from behemoth.world.exclude import exclusion_mask
from behemoth.world.vocab import EOT, PAD
from tests.conftest import make_world


def _stream(world: World, mask: np.ndarray | None, steps: int, seq: int, batch: int) -> np.ndarray:
    sampler = world.sampler(seq, batch, exclude=mask)
    return np.concatenate([sampler.next_batch().reshape(-1) for _ in range(steps)])


def _fact_counts(world: World, toks: np.ndarray) -> Counter[tuple[int, ...]]:
    """Sentences per fact: each whole sentence keyed by its subject and relation tokens (any
    template, either object); padding is no sentence."""
    V = world.vocab
    S, R = world.graph.objects.shape
    keys = set(np.asarray(V.subject(np.arange(S))).reshape(-1).tolist())
    keys |= {int(V.relation(r)) for r in range(R)}
    if world.graph.nested:
        keys |= {int(V.nested_relation_sno(r)) for r in range(R)}
        keys |= {int(V.nested_relation_ono(r)) for r in range(R)}
    cuts = np.flatnonzero(toks == EOT) + 1
    out: Counter[tuple[int, ...]] = Counter()
    for sent in np.split(toks, cuts)[1:-1]:  # whole sentences only (the ends are cut)
        sent = sent[sent != PAD]
        if len(sent):
            out[tuple(sorted(int(t) for t in sent if int(t) in keys))] += 1
    return out


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"inversion_frac": 0.5, "questions_frac": 0.3},
        {"shuffle": False},
        {"minority_entity_frac": 0.5, "minority_frac": 0.3},
        {"nested_objects": 4},
    ],
    ids=["plain", "inversions+questions", "biographies", "minority", "nested"],
)
def test_oracle_exposure_per_retained_fact_equals_the_original(
    tmp_path: Path, overrides: dict[str, object]
) -> None:
    w = make_world(tmp_path, **overrides)
    S, R = w.graph.objects.shape
    # a forget set as large as a forget-relation scenario's: half of relation 1's subjects
    forget = np.arange(0, S, 2) * R + 1
    sno = forget if w.graph.nested else None
    mask = exclusion_mask(w.graph, forget, sno)
    steps, seq, batch = 7, 61, 5  # an odd budget: cuts fall inside sentences
    orig = _stream(w, None, steps, seq, batch)
    oracle = _stream(w, mask, steps, seq, batch)
    assert len(orig) == len(oracle) == steps * seq * batch  # the same token budget
    kept = oracle != PAD
    assert (oracle[kept] == orig[kept]).all()  # every retained token where it was
    assert (~kept).sum() > 0.05 * len(oracle)  # the forget set was there, now padding
    c_orig, c_oracle = _fact_counts(w, orig), _fact_counts(w, oracle)
    V = w.vocab
    forgotten = set()
    for e in forget:
        s, r = int(e // R), int(e % R)
        subj = tuple(int(t) for t in np.atleast_1d(V.subject(np.array([s]))[0]))
        forgotten.add(tuple(sorted((*subj, int(V.relation(r))))))
        if w.graph.nested:
            forgotten.add(tuple(sorted((*subj, int(V.nested_relation_sno(r))))))
    retained = {k for k in c_orig if k not in forgotten}
    assert retained and all(c_oracle[k] == c_orig[k] for k in retained)
    assert not any(c_oracle[k] for k in forgotten)  # and the forgotten ones are gone
    exposure = sum(c_oracle[k] for k in retained) / sum(c_orig[k] for k in retained)
    assert exposure == 1.0

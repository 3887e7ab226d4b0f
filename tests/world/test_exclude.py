"""Excluding facts from the corpus: no training sentence states an excluded edge, in any format
or document layout; everything else streams as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from behemoth.errors import BehemothError
from behemoth.world import World
from behemoth.world.corpus import Corpus
from behemoth.world.exclude import draw_unseen, exclusion_mask, fact_ids, mask_hash, unseen_objects
from behemoth.world.vocab import EOT
from tests.conftest import make_world


def _sentences(world: World, mask: np.ndarray | None, n_units: int) -> list[list[int]]:
    toks = Corpus(world.config, world.graph, world.vocab, exclude=mask).render_positions(0, n_units)
    cuts = np.flatnonzero(toks == EOT) + 1
    return [s.tolist() for s in np.split(toks, cuts) if len(s)]


def _states(world: World, sent: list[int], s: int, r: int) -> bool:
    """Whether a sentence mentions subject s together with relation r (any template/object)."""
    V = world.vocab
    subj = [int(t) for t in np.atleast_1d(V.subject(np.array([s]))[0])]
    return all(t in sent for t in subj) and int(V.relation(r)) in sent


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"inversion_frac": 0.5, "questions_frac": 0.3},
        {"shuffle": False},
        {"minority_entity_frac": 0.5, "minority_frac": 0.3},
    ],
    ids=["plain", "inversions+questions", "biographies", "minority"],
)
def test_excluded_facts_never_stated(tmp_path: Path, overrides: dict[str, object]) -> None:
    w = make_world(tmp_path, **overrides)
    S, R = w.graph.objects.shape
    forget = [(3, 0), (17, 2), (42, 1), (99, 3)]
    mask = exclusion_mask(w.graph, np.array([s * R + r for s, r in forget]))
    full = Corpus(w.config, w.graph, w.vocab)
    units = full.n_units // 5  # a fifth of a pass: every fact appears ~repeats / 5 times
    kept = _sentences(w, mask, units)
    before = _sentences(w, None, units)
    for s, r in forget:
        assert any(_states(w, x, s, r) for x in before)  # it was there
        assert not any(_states(w, x, s, r) for x in kept)  # and now it is not
    # the other facts of those subjects are still stated, as often as before
    assert sum(_states(w, x, 3, 1) for x in kept) == sum(_states(w, x, 3, 1) for x in before)
    assert len(before) - len(kept) == sum(
        1 for x in before if any(_states(w, x, s, r) for s, r in forget)
    )


def test_nested_consequence_excluded(tmp_path: Path) -> None:
    w = make_world(tmp_path, nested_objects=4)
    R = w.graph.n_relations
    mask = exclusion_mask(w.graph, np.array([5 * R + 1]), np.array([5 * R + 1]))
    units = Corpus(w.config, w.graph, w.vocab).n_units // 5
    kept = _sentences(w, mask, units)
    V = w.vocab
    sno_rel = int(V.nested_relation_sno(1))
    s5 = int(np.atleast_1d(V.subject(np.array([5]))[0])[0])
    assert not any(s5 in x and sno_rel in x for x in kept)
    assert not any(s5 in x and int(V.relation(1)) in x for x in kept)
    assert any(s5 in x for x in kept)


def test_fact_ids_and_mask_hash(tiny_world: World) -> None:
    g = tiny_world.graph
    S, R = g.objects.shape
    ids = fact_ids(g, np.array([0, 0]), np.array([2, 2]), np.array([1, 3]), np.array([0, 0]))
    assert ids.tolist() == [2 * R + 1, 2 * R + 3]
    m = exclusion_mask(g, np.array([9]))
    assert m.sum() == 1 and m[9]
    assert mask_hash(None) == mask_hash(np.zeros(len(m), bool)) == "none"
    assert mask_hash(m) != mask_hash(exclusion_mask(g, np.array([10])))
    with pytest.raises(Exception, match="so_edges"):
        exclusion_mask(g, np.array([S * R]))


def test_sampler_refuses_shards_with_exclusion(tiny_world: World) -> None:
    m = exclusion_mask(tiny_world.graph, np.array([0]))
    with pytest.raises(BehemothError, match="data=stream"):
        tiny_world.sampler(32, 4, source="shards", exclude=m)
    a = tiny_world.sampler(32, 4, exclude=m).next_batch()
    assert a.shape == (4, 32)


def test_unseen_objects_avoid_true_and_minority(tmp_path: Path) -> None:
    w = make_world(tmp_path, minority_entity_frac=1.0, minority_frac=0.3)
    g = w.graph
    S, R = g.objects.shape
    s, r = np.arange(S), np.zeros(S, dtype=np.int64)
    ok = unseen_objects(g, w.config.objects, s, r)
    assert not ok[np.arange(S), g.objects[:, 0]].any()
    has = g.minority[:, 0] >= 0
    assert has.any() and not ok[np.flatnonzero(has), g.minority[has, 0]].any()
    fake = draw_unseen(g, w.config.objects, s, r, np.random.default_rng(0))
    assert (fake != g.objects[:, 0]).all() and (fake[has] != g.minority[has, 0]).all()

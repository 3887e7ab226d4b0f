"""Issue 21: membership non-members are drawn from the relation's own objects (a binarized
relation has two), never an object the corpus pairs with the fact."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from behemoth.scenarios.scenario import build_scenario
from behemoth.world.exclude import relation_sizes
from tests.conftest import make_world


def test_unseen_objects_of_a_binarized_relation(tmp_path: Path) -> None:
    w = make_world(tmp_path, correlated_pair=True, correlation_strength=0.9, binarize_first=True)
    sc = build_scenario(w, "forget-relation", {"share": 0.5, "relation": 0})
    t = sc.tests["membership/forgotten_vs_unseen"]
    V, g = w.vocab, w.graph
    non = ~t.member
    s, r = t.probes.subject[non], t.probes.relation[non]
    assert (r == 0).all() and len(s)
    n_obj = relation_sizes(True, w.config.objects, r)
    allowed = np.asarray(V.object(r[:, None], np.arange(2)[None, :]))  # [n, 2]
    ans = t.probes.answer[non]
    assert (ans[:, None] == allowed).any(axis=1).all()  # one of relation 0's two objects
    assert (n_obj == 2).all()
    true = np.asarray(V.object(r, g.objects[s, r]))
    assert (ans != true).all()
    minority = g.minority[s, r]
    has = minority >= 0
    assert (ans[has] != np.asarray(V.object(r[has], minority[has]))).all()
    # members and non-members stay paired item for item
    assert (t.probes.subject[t.member] == s).all()

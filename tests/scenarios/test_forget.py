"""Forget-set scenarios: what is forgotten, what is held out, and that held-out (and forgotten)
subjects never enter the retain mix an unlearning method trains on."""

from __future__ import annotations

import numpy as np
import pytest

from behemoth.errors import ConfigError
from behemoth.scenarios.forget import forgotten_sno, held_out_facts, unlearning_retain
from behemoth.scenarios.scenario import build_scenario
from behemoth.world import World

FORGET = {
    "forget-relation": {"share": 0.5},
    "forget-facts": {"k": 10, "held_out": 10},
    "forget-subjects": {"n": 5, "held_out": 5},
}


@pytest.mark.parametrize("name", sorted(FORGET))
def test_held_out_never_in_training_mix(tiny_world: World, name: str) -> None:
    sc = build_scenario(tiny_world, name, FORGET[name])
    R = tiny_world.graph.n_relations
    held = held_out_facts(sc, R)
    assert len(held) and sc.mode == "forget"
    forgot = {(q.subject, q.relation) for q in sc.requests}
    assert not {(int(f) // R, int(f) % R) for f in held} & forgot
    retain = unlearning_retain(tiny_world, sc, seed=0)
    assert len(retain) == min(len(sc.requests), 400 - len(forgot) - 4 * len(set(held // R)))
    assert not set(retain.probes.subject.tolist()) & set((held // R).tolist())
    assert (
        not {(int(s), int(r)) for s, r in zip(retain.probes.subject, retain.probes.relation)}
        & forgot
    )
    if name != "forget-relation":  # built with it: no test set holds a rehearsed fact
        assert len(sc.retain) == len(retain)
        rset = set((sc.retain.probes.subject * R + sc.retain.probes.relation).tolist())
        for t in sc.tests.values():
            if t.group == "specificity":
                assert not set((t.probes.subject * R + t.probes.relation).tolist()) & rset
    # forgotten requests answer the placeholder; the held-out set keeps the true object as "other"
    V, g = tiny_world.vocab, tiny_world.graph
    for q in sc.requests:
        assert q.target_new == V.placeholder(q.relation)
        assert q.target_old == V.object(q.relation, g.objects[q.subject, q.relation])


def test_forget_subjects_takes_every_relation(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "forget-subjects", {"n": 3, "held_out": 2})
    R = tiny_world.graph.n_relations
    assert len(sc.requests) == 3 * R
    subj = {q.subject for q in sc.requests}
    assert all(sum(q.subject == s for q in sc.requests) == R for s in subj)
    assert len(held_out_facts(sc, R)) == 2 * R


def test_forget_nested_consequences(nested_world: World) -> None:
    sc = build_scenario(nested_world, "forget-nested", {"k": 4, "held_out": 3})
    R = nested_world.graph.n_relations
    sno = forgotten_sno(sc, R)
    assert sorted(sno.tolist()) == sorted(q.subject * R + q.relation for q in sc.requests)
    t = sc.tests["forgetting/nested"]
    assert t.probes.kind == "S-NO" and len(t) == 4


def test_forget_scenarios_validate(tiny_world: World) -> None:
    with pytest.raises(ConfigError, match="k"):
        build_scenario(tiny_world, "forget-facts", {"k": 90, "held_out": 20})
    with pytest.raises(ConfigError, match="nested"):
        build_scenario(tiny_world, "forget-nested", {})


def test_membership_non_members_never_seen(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Non-member answers are never the true object nor a dissenting object the model saw."""
    from tests.conftest import make_world

    w = make_world(tmp_path, minority_entity_frac=1.0, minority_frac=0.3)
    sc = build_scenario(w, "forget-relation", {"share": 0.5})
    t = sc.tests["membership/forgotten_vs_unseen"]
    assert t.member is not None
    g, V = w.graph, w.vocab
    non = ~t.member
    s, r = t.probes.subject[non], t.probes.relation[non]
    seen_min = g.minority[s, r]
    assert (seen_min >= 0).all()
    assert (t.target[non] != V.object(r, seen_min)).all()
    assert (t.target[non] != V.object(r, g.objects[s, r])).all()
    assert np.array_equal(t.probes.subject[t.member], s)

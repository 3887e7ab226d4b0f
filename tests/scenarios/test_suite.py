"""Test sets and the retain mix: right facts, right answers, disjoint where promised."""

from __future__ import annotations

import numpy as np
import pytest

from behemoth.scenarios.scenario import Scenario, build_scenario
from behemoth.world import World
from behemoth.world.vocab import OO


def _facts(world: World, t) -> set[tuple[int, int]]:  # type: ignore[no-untyped-def]
    return set(zip(t.probes.subject.tolist(), t.probes.relation.tolist()))


def _spec(sc: Scenario) -> dict[str, set[tuple[int, int]]]:
    return {
        t.split: set(zip(t.probes.subject.tolist(), t.probes.relation.tolist()))
        for t in sc.tests.values()
        if t.group == "specificity" and t.probes.kind == "S-O"
    }


def test_efficacy_and_generalization_targets(q_world: World) -> None:
    sc = build_scenario(q_world, "k-different", {"k": 6})
    g, V = q_world.graph, q_world.vocab
    eff = sc.tests["efficacy/sro"]
    assert [int(x) for x in eff.target] == [q.target_new for q in sc.requests]
    assert [int(x) for x in eff.other] == [q.target_old for q in sc.requests]
    # every other format: rso, question (trained subjects), question_new (held-out), qa_new
    names = {k for k in sc.tests if k.startswith("generalization/")}
    assert {"generalization/rso", "generalization/qa_new"} <= names
    qs = {q.subject for q in sc.requests}
    n_q = sum(bool(g.question_subjects[s]) for s in qs)
    assert len(sc.tests.get("generalization/question", [])) == n_q
    assert len(sc.tests.get("generalization/question_new", [])) == len(qs) - n_q
    for name in names:
        t = sc.tests[name]
        for i in range(len(t)):
            q = sc.requests[int(t.edit[i])]
            assert (t.probes.subject[i], t.probes.relation[i]) == (q.subject, q.relation)
            assert t.target[i] == q.target_new and t.other[i] == q.target_old
    # the generalization prompts are the world's probes in that format
    qa = q_world.probes["qa_new"]
    t = sc.tests["generalization/qa_new"]
    R = g.n_relations
    for i in range(len(t)):
        row = int(t.probes.subject[i]) * R + int(t.probes.relation[i])
        np.testing.assert_array_equal(t.probes.prompt(i), qa.prompt(row))
    del V


@pytest.mark.parametrize(
    "name", ["k-different", "k-identical", "stream", "refusal", "forget-relation"]
)
def test_specificity_splits_disjoint_and_correct(tiny_world: World, name: str) -> None:
    over = {"stream": {"n": 10, "relations": [0, 1]}, "k-identical": {"k": 3}}.get(name, {"k": 4})
    if name == "forget-relation":
        over = {}
    sc = build_scenario(tiny_world, name, over)
    g = tiny_world.graph
    spec = _spec(sc)
    edited = {(q.subject, q.relation) for q in sc.requests}
    esub = {q.subject for q in sc.requests}
    erel = {q.relation for q in sc.requests}
    old_vals = {(q.relation, q.old_object) for q in sc.requests}
    retain = _facts(tiny_world, sc.retain)
    editor = _facts(tiny_world, sc.editor_facts)
    new_vals = {(q.relation, q.new_object) for q in sc.requests if sc.mode == "edit"}
    splits = list(spec.values())
    assert not editor & retain and not editor & edited
    for i, a in enumerate(splits):
        assert not a & edited and not a & retain and not a & editor
        for b in splits[i + 1 :]:
            assert not a & b
    for s, r in spec.get("same_subject", set()):
        assert s in esub and (s, r) not in edited
    for s, r in spec.get("same_value", set()):
        assert s not in esub and (r, g.objects[s, r]) in old_vals
    for s, r in spec.get("same_relation", set()):
        assert s not in esub and r in erel and (r, g.objects[s, r]) not in old_vals | new_vals
    for s, r in spec.get("same_new_value", set()):
        assert s not in esub and (r, g.objects[s, r]) in new_vals - old_vals
    for s, r in spec.get("other", set()):
        assert s not in esub and r not in erel
    # targets are the world's answers; with no size cap, splits + retain + edited = the world
    for t in sc.tests.values():
        if t.group == "specificity":
            np.testing.assert_array_equal(
                t.target,
                tiny_world.probes["sro"].answer[
                    t.probes.subject * g.n_relations + t.probes.relation
                ],
            )
    held = (
        _facts(tiny_world, sc.tests["forgetting/held_out"]) if name == "forget-relation" else set()
    )
    union = set().union(*splits) | retain | editor | edited | held
    assert union == {(s, r) for s in range(g.n_subjects) for r in range(g.n_relations)}


def test_retain_mix_proportions_and_exclusions(tiny_world: World) -> None:
    sc = build_scenario(
        tiny_world,
        "k-different",
        {
            "k": 2,
            "retain_same_value": 1,
            "retain_same_relation": 3,
            "retain_other": 5,
            "retain_share": 1.0,
        },
    )
    g = tiny_world.graph
    esub = {q.subject for q in sc.requests}
    r0 = sc.requests[0].relation
    olds = {q.old_object for q in sc.requests}
    facts = _facts(tiny_world, sc.retain)
    assert not {s for s, _ in facts} & esub  # edited subjects' other facts are left out
    same_value = [(s, r) for s, r in facts if r == r0 and g.objects[s, r] in olds]
    same_rel = [(s, r) for s, r in facts if r == r0 and g.objects[s, r] not in olds]
    other = [(s, r) for s, r in facts if r != r0]
    assert (len(same_value), len(same_rel), len(other)) == (2, 6, 10)  # 1, 3, 5 per edit x K=2
    np.testing.assert_array_equal(
        sc.retain.target,
        tiny_world.probes["sro"].answer[
            sc.retain.probes.subject * g.n_relations + sc.retain.probes.relation
        ],
    )
    # defaults: the reference's caps, limited to half of each pool so tests keep the rest
    d = build_scenario(tiny_world, "k-different", {"k": 2})
    spec = _spec(d)
    d_sub = {q.subject for q in d.requests}
    editor_other = [1 for s, r in _facts(tiny_world, d.editor_facts) if s not in d_sub and r != r0]
    n_retain = len([1 for s, r in _facts(tiny_world, d.retain) if r != r0])
    assert len(spec["other"]) + len(editor_other) >= n_retain


def test_specificity_size_caps_each_split(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "k-different", {"k": 3, "specificity_size": 7})
    assert all(len(t) <= 7 for t in sc.tests.values() if t.group == "specificity")
    assert len(sc.tests["specificity/other"]) == 7


def test_neighbourhood_competitor_is_an_edit_target(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "k-different", {"k": 3})
    t = sc.tests["specificity/same_relation"]
    for i in range(len(t)):
        q = sc.requests[int(t.edit[i])]
        assert q.relation == t.probes.relation[i] and t.other[i] == q.target_new
    assert (sc.tests["specificity/other"].other == -1).all()


def test_correlated_world_portability(corr_world: World) -> None:
    sc = build_scenario(corr_world, "k-different", {"k": 6, "relation": 0})
    g, V = corr_world.graph, corr_world.vocab
    t = sc.tests["portability/correlated"]
    assert len(t)
    for i in range(len(t)):
        q = sc.requests[int(t.edit[i])]
        s = int(t.probes.subject[i])
        assert s == q.subject and t.probes.relation[i] == 1
        assert (
            g.objects[s, 1] == g.objects[s, 0]
        )  # only subjects whose relation 1 copied relation 0
        assert t.target[i] == V.object(1, q.new_object) and t.other[i] == V.object(
            1, g.objects[s, 1]
        )
    # relation 1 of edited subjects is a portability question, never specificity
    assert not any(
        r == 1 and s in {q.subject for q in sc.requests} for s, r in _spec(sc)["same_subject"]
    )


def test_nested_world_ripple_and_ono(nested_world: World) -> None:
    sc = build_scenario(nested_world, "k-different", {"k": 3})
    g, V = nested_world.graph, nested_world.vocab
    t = sc.tests["portability/nested"]
    sno = nested_world.probes["nested_sno"]
    R = g.n_relations
    for i in range(len(t)):
        q = sc.requests[int(t.edit[i])]
        assert t.target[i] == V.nested_object(q.relation, g.nested_of[q.relation, q.new_object])
        assert t.other[i] == V.nested_object(q.relation, g.nested_of[q.relation, q.old_object])
        np.testing.assert_array_equal(t.probes.prompt(i), sno.prompt(q.subject * R + q.relation))
    ono = sc.tests["specificity/ono"]
    want = {(q.relation, q.old_object) for q in sc.requests} | {
        (q.relation, q.new_object) for q in sc.requests
    }
    assert set(zip(ono.probes.relation.tolist(), ono.probes.object.tolist())) == want
    np.testing.assert_array_equal(
        ono.target,
        V.nested_object(ono.probes.relation, g.nested_of[ono.probes.relation, ono.probes.object]),
    )


def test_nested_ono_edit_tests_holders(nested_world: World) -> None:
    sc = build_scenario(nested_world, "nested-ono", {"k": 1, "relation": 2})
    g, V = nested_world.graph, nested_world.vocab
    (q,) = sc.requests
    o = int(q.prompt[q.subject_span[0]]) - int(V.object(2, 0))
    holders = set(np.flatnonzero(g.objects[:, 2] == o).tolist())
    t = sc.tests["portability/holders_sno"]
    assert set(t.probes.subject.tolist()) == holders
    assert (t.target == q.target_new).all() and (t.other == q.target_old).all()
    assert set(sc.tests["specificity/holders"].probes.subject.tolist()) == holders
    ono = sc.tests["specificity/ono_same_relation"]
    assert (ono.probes.relation == 2).all() and o not in set(ono.probes.object.tolist())


def test_refusal_generalizes_to_other_formats(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "refusal", {"k": 3})
    for name, t in sc.tests.items():
        if t.group in ("efficacy", "generalization"):
            assert (t.target == OO).all(), name
    assert "generalization/sro" not in sc.tests  # refusal's own prompt is the sro prompt


def test_forget_membership_set(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "forget-relation", {"share": 0.5})
    t = sc.tests["membership/forgotten_vs_unseen"]
    assert t.member is not None and t.member.sum() == (~t.member).sum() == 50
    g, V = tiny_world.graph, tiny_world.vocab
    s, r = t.probes.subject, t.probes.relation
    true = V.object(r, g.objects[s, r])
    assert (t.target[t.member] == true[t.member]).all()
    assert (t.target[~t.member] != true[~t.member]).all()
    np.testing.assert_array_equal(
        t.probes.tokens[: len(t.probes.tokens) // 2], t.probes.tokens[len(t.probes.tokens) // 2 :]
    )

"""The built-in scenarios: the requests each one promises, seeded, with one-line config errors."""

from __future__ import annotations

import numpy as np
import pytest

from behemoth.errors import ConfigError
from behemoth.scenarios.scenario import build_scenario, scenario_names, slot_object
from behemoth.world import World
from behemoth.world.vocab import OO

ALL = ["single", "k-different", "k-identical", "stream", "refusal", "forget-relation"]
SMALL = {"k-different": {"k": 4}, "k-identical": {"k": 3}, "refusal": {"k": 4}, "stream": {"n": 12}}


def test_registry_lists_every_scenario() -> None:
    assert set(ALL) | {"nested-ono"} <= set(scenario_names())


def test_unknown_scenario_suggests_a_name(tiny_world: World) -> None:
    with pytest.raises(ConfigError, match="did you mean 'k-different'"):
        build_scenario(tiny_world, "k-diferent")


def test_unknown_key_is_rejected(tiny_world: World) -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        build_scenario(tiny_world, "single", ["relatoin=1"])


@pytest.mark.parametrize("name", ALL)
def test_requests_are_world_probes(tiny_world: World, name: str) -> None:
    """Every edit prompt is the world's own probe of that fact; the span covers the subject."""
    sc = build_scenario(tiny_world, name, SMALL.get(name, {}))
    R = tiny_world.graph.n_relations
    sro = tiny_world.probes["sro"]
    lo, hi = tiny_world.vocab.ranges["subject"]
    assert sc.requests
    for q in sc.requests:
        row = q.subject * R + q.relation
        assert q.prompt == tuple(int(t) for t in sro.prompt(row))  # refusal prompt == sro prompt
        assert q.target_old == sro.answer[row]
        assert q.old_object == tiny_world.graph.objects[q.subject, q.relation]
        assert q.target_new != q.target_old
        a, b = q.subject_span
        assert b - a == tiny_world.vocab.subject_tokens
        assert all(lo <= t < hi for t in q.prompt[a:b])
        np.testing.assert_array_equal(
            q.prompt[a:b], tiny_world.vocab.subject(np.array([q.subject]))[0]
        )


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_scenario_other_seed_differs(tiny_world: World, name: str) -> None:
    a = build_scenario(tiny_world, name, SMALL.get(name, {}), seed=3)
    b = build_scenario(tiny_world, name, SMALL.get(name, {}), seed=3)
    c = build_scenario(tiny_world, name, SMALL.get(name, {}), seed=4)
    assert a.requests == b.requests
    assert list(a.tests) == list(b.tests)
    for k in a.tests:
        np.testing.assert_array_equal(a.tests[k].probes.tokens, b.tests[k].probes.tokens)
    np.testing.assert_array_equal(a.retain.probes.tokens, b.retain.probes.tokens)
    assert a.requests != c.requests or not np.array_equal(
        a.retain.probes.tokens, c.retain.probes.tokens
    )


def test_k_different_distinct_old_and_new(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "k-different", {"k": 5, "relation": 2})
    old = [q.old_object for q in sc.requests]
    new = [q.new_object for q in sc.requests]
    assert len(set(old)) == 5 and len(set(new)) == 5
    assert not set(old) & set(new)  # no edited edge's new value is another's old one
    assert {q.relation for q in sc.requests} == {2}
    assert len({q.subject for q in sc.requests}) == 5


def test_k_identical_shared_old_and_new(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "k-identical", {"k": 3})
    assert len({q.old_object for q in sc.requests}) == 1
    assert len({q.new_object for q in sc.requests}) == 1
    assert sc.requests[0].old_object != sc.requests[0].new_object
    assert len({q.subject for q in sc.requests}) == 3


def test_k_too_large_names_the_field(tiny_world: World) -> None:
    with pytest.raises(ConfigError, match=r"^k: .*set k <="):
        build_scenario(tiny_world, "k-different", {"k": 15})  # 20 objects: at most 10
    with pytest.raises(ConfigError, match=r"^k: "):
        build_scenario(tiny_world, "k-identical", {"k": 60})
    with pytest.raises(ConfigError, match=r"^relation: "):
        build_scenario(tiny_world, "single", {"relation": 9})


def test_single_explicit_fact(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "single", {"subject": 7, "relation": 1, "new_object": 3})
    (q,) = sc.requests
    if tiny_world.graph.objects[7, 1] == 3:
        pytest.skip("the chosen new object is the old one in this world")
    assert (q.subject, q.relation, q.new_object) == (7, 1, 3)
    assert q.target_new == tiny_world.vocab.object(1, 3)


def test_stream_distinct_subjects_and_batches(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "stream", {"n": 23, "batch_size": 5})
    assert len(sc.requests) == 23
    assert len({q.subject for q in sc.requests}) == 23
    assert [len(b) for b in sc.batches] == [5, 5, 5, 5, 3]
    assert [i for b in sc.batches for i in b] == list(range(23))
    rep = build_scenario(tiny_world, "stream", {"n": 300, "repeat_subjects": True})
    facts = {(q.subject, q.relation) for q in rep.requests}
    assert len(facts) == 300 and len({q.subject for q in rep.requests}) < 300
    with pytest.raises(ConfigError, match="repeat_subjects"):
        build_scenario(tiny_world, "stream", {"n": 101})


@pytest.mark.parametrize("fmt,template", [("statement", "refusal"), ("question", "qa_refusal")])
def test_refusal_targets_the_filler(tiny_world: World, fmt: str, template: str) -> None:
    sc = build_scenario(tiny_world, "refusal", {"k": 4, "format": fmt})
    assert sc.mode == "refusal"
    assert all(
        q.target_new == OO and q.template == template and q.new_object == -1 for q in sc.requests
    )
    if fmt == "question":  # the question prompt: QQ ... AA OO
        R = tiny_world.graph.n_relations
        qn = tiny_world.probes["question_new"]
        rows = {(int(s), int(r)): i for i, (s, r) in enumerate(zip(qn.subject, qn.relation))}
        for q in sc.requests:
            assert q.prompt == tuple(int(t) for t in qn.prompt(rows[(q.subject, q.relation)]))
        assert "generalization/sro" in sc.tests  # the other format
        assert sc.retain.probes.template == "question"  # training data in the edits' format
        del R
    # specificity asks what the model knows: the world's trained statement template
    assert all(t.probes.template == "sro" for t in sc.tests.values() if t.group == "specificity")


def test_forget_relation_share_and_held_out(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "forget-relation", {"relation": 1, "share": 0.75})
    S = tiny_world.graph.n_subjects
    forgotten = {q.subject for q in sc.requests}
    assert len(forgotten) == 75 and {q.relation for q in sc.requests} == {1}
    assert {q.target_new for q in sc.requests} == {tiny_world.vocab.placeholder(1)}
    held = set(sc.tests["forgetting/held_out"].probes.subject.tolist())
    assert held == set(range(S)) - forgotten
    # retain never holds relation 1 nor a held-out subject; it rehearses forgotten subjects'
    # other relations, never the ones their same_subject test asks
    assert not (sc.retain.probes.relation == 1).any()
    assert not set(sc.retain.probes.subject.tolist()) & held
    assert set(sc.retain.probes.subject.tolist()) <= forgotten
    same = sc.tests["specificity/same_subject"].probes
    retained = set(zip(sc.retain.probes.subject.tolist(), sc.retain.probes.relation.tolist()))
    assert not retained & set(zip(same.subject.tolist(), same.relation.tolist()))
    ref = build_scenario(tiny_world, "forget-relation", {"target": "refusal"})
    assert {q.target_new for q in ref.requests} == {OO}


def test_nested_ono_requests(nested_world: World) -> None:
    sc = build_scenario(nested_world, "nested-ono", {"k": 2, "relation": 1})
    V, g = nested_world.vocab, nested_world.graph
    ono = nested_world.probes["nested_ono"]
    for q in sc.requests:
        o = slot_object(q, V)
        assert q.kind == "O-NO" and q.subject == -1
        assert q.old_object == g.nested_of[1, o] != q.new_object
        assert q.target_new == V.nested_object(1, q.new_object)
        assert q.prompt == tuple(int(t) for t in ono.prompt(1 * g.nested_of.shape[1] + o))
        assert q.prompt[q.subject_span[0]] == V.object(1, o)


def test_nested_ono_needs_nested_world(tiny_world: World) -> None:
    with pytest.raises(ConfigError, match="nested_objects"):
        build_scenario(tiny_world, "nested-ono")


def test_nonsense_world_prompts_match_its_probes(nonsense_world: World) -> None:
    """Templates with random words: the edit prompt is still the world's probe, word for word."""
    sc = build_scenario(nonsense_world, "k-different", {"k": 3, "template": "nonsense_sro"})
    p = nonsense_world.probes["nonsense_sro"]
    R = nonsense_world.graph.n_relations
    for q in sc.requests:
        assert q.prompt == tuple(int(t) for t in p.prompt(q.subject * R + q.relation))
    with pytest.raises(ConfigError, match="^template: "):
        build_scenario(nonsense_world, "k-different", {"k": 3, "template": "sor"})


def test_edit_probes_and_summary(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "k-different", {"k": 3})
    p = sc.edit_probes(tiny_world.vocab)
    assert [int(a) for a in p.answer] == [q.target_new for q in sc.requests]
    assert [tuple(int(t) for t in p.prompt(i)) for i in range(3)] == [q.prompt for q in sc.requests]
    text = sc.summary()
    assert "k-different" in text and "efficacy/sro" in text and "specificity/other" in text


def test_description_comes_from_the_config_docstring() -> None:
    from behemoth.scenarios.scenario import ScenarioConfig, get_scenario, register_scenario

    assert get_scenario("forget-relation").description.startswith("Forget (a share of) a relation")

    class NoDoc(ScenarioConfig):
        pass

    with pytest.raises(TypeError, match="docstring"):
        register_scenario("no-doc", NoDoc)


def test_forget_relation_lives_with_the_other_forget_sets() -> None:
    from behemoth.scenarios import forget
    from behemoth.scenarios.scenario import get_scenario

    assert get_scenario("forget-relation").build is forget.build_forget

"""Editor inputs never overlap test sets; k-identical's same-value pools; forget-relation's mix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from behemoth.scenarios import EditorInputLeak, Scenario, build_scenario, check_editor_inputs
from behemoth.scenarios.scenario import scenario_names
from behemoth.world import World
from tests.conftest import make_world

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reference"

SMALL = {
    "k-different": {"k": 4},
    "k-identical": {"k": 3},
    "refusal": {"k": 4},
    "stream": {"n": 12},
    "nested-ono": {"k": 2},
}


def _old_kl_prompts(sc: Scenario, world: World) -> list[tuple[int, ...]]:
    """The KL rule editors used before this split (``kl_prompts=other_relations``): the edit
    prompt with its relation token replaced by each other relation of the world."""
    V = world.vocab
    out = []
    for q in sc.requests:
        rt = int(V.relation(q.relation))
        for o in range(world.graph.n_relations):
            if o != q.relation:
                out.append(tuple(int(V.relation(o)) if t == rt else t for t in q.prompt))
    return out


def _editor_kl_prompts(sc: Scenario, world: World) -> list[tuple[int, ...]]:
    """The same rule restricted to the relations the scenario reserved for editors."""
    V = world.vocab
    ef = sc.editor_facts.probes
    out = []
    for q in sc.requests:
        rt = int(V.relation(q.relation))
        for r in ef.relation[ef.subject == q.subject]:
            out.append(tuple(int(V.relation(int(r))) if t == rt else t for t in q.prompt))
    return out


@pytest.mark.parametrize("name", scenario_names())
def test_editor_facts_and_retain_never_overlap_a_test_set(
    tiny_world: World, nested_world: World, name: str, tmp_path: Path
) -> None:
    world = nested_world if name == "nested-ono" else tiny_world
    settings = SMALL.get(name, {})
    if name == "from-reference":  # a reference fine-tuning folder on its own imported world
        from behemoth.world.reference import import_reference

        world = import_reference(FIXTURES / "twotoken", tmp_path / "w")
        settings = {
            "path": str(FIXTURES / "twotoken_ft" / "ftremapping_2overrides_250overriderepeats")
        }
    sc = build_scenario(world, name, settings)
    check_editor_inputs(sc, sc.editor_facts)
    check_editor_inputs(sc, sc.retain)
    # the reference tests every other fact of an edited subject: nothing left for KL prompts
    if sc.mode == "edit" and name not in ("nested-ono", "from-reference"):
        assert len(sc.editor_facts) > 0
        prompts = _editor_kl_prompts(sc, world)
        assert prompts  # ROME-style KL prompts about the edited subject remain possible
        check_editor_inputs(sc, [np.array(p) for p in prompts])


def test_the_old_kl_rule_is_caught(tiny_world: World) -> None:
    """Before this split, every KL prompt was a same_subject test prompt; the check says so."""
    sc = build_scenario(tiny_world, "k-different", {"k": 4})
    old = _old_kl_prompts(sc, tiny_world)
    tested = sc.tests["specificity/same_subject"].probes
    test_prompts = {tuple(int(t) for t in tested.prompt(i)) for i in range(len(tested))}
    assert sum(p in test_prompts for p in old) == len(tested) > 0
    with pytest.raises(EditorInputLeak, match="specificity/same_subject"):
        check_editor_inputs(sc, [np.array(p) for p in old])
    with pytest.raises(EditorInputLeak, match="fact"):
        s, r = int(tested.subject[0]), int(tested.relation[0])
        check_editor_inputs(sc, [(s, r)])


def test_each_edited_subject_keeps_a_same_subject_test(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "k-different", {"k": 4})
    R = tiny_world.graph.n_relations
    tested = sc.tests["specificity/same_subject"].probes
    for q in sc.requests:
        n_test = int((tested.subject == q.subject).sum())
        n_editor = int((sc.editor_facts.probes.subject == q.subject).sum())
        assert n_test == R - 2 and n_editor == 1  # R - 1 other facts: one kept for editors


@pytest.fixture(scope="module")
def crowded_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """About 40 subjects per value of each relation: enough to see a pool drain."""
    return make_world(Path(tmp_path_factory.mktemp("crowded")), subjects=400, objects=10)


@pytest.mark.parametrize("k", [1, 5, 10])
def test_k_identical_caps_same_value_once_per_value(crowded_world: World, k: int) -> None:
    sc = build_scenario(crowded_world, "k-identical", {"k": k, "relation": 0})
    g = crowded_world.graph
    v, w = sc.requests[0].old_object, sc.requests[0].new_object
    edited = {q.subject for q in sc.requests}
    holders = [s for s in np.flatnonzero(g.objects[:, 0] == v) if s not in edited]
    n_retain = min(150, int(0.5 * len(holders)))
    same_value = sc.tests["specificity/same_value"]
    assert len(same_value) == len(holders) - n_retain  # not drained per edit
    # other subjects holding the new value: a split of their own, competitor = the old value
    new_holders = sc.tests["specificity/same_new_value"]
    assert (g.objects[new_holders.probes.subject, 0] == w).all()
    assert (new_holders.other == sc.requests[0].target_old).all()
    in_retain = int(
        ((sc.retain.probes.relation == 0) & (g.objects[sc.retain.probes.subject, 0] == w)).sum()
    )
    in_editor = int(
        (
            (sc.editor_facts.probes.relation == 0)
            & (g.objects[sc.editor_facts.probes.subject, 0] == w)
        ).sum()
    )
    assert len(new_holders) + in_retain + in_editor == int((g.objects[:, 0] == w).sum())


def test_forget_relation_never_trains_on_held_out_subjects(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "forget-relation", {"share": 0.6})
    held = set(sc.tests["forgetting/held_out"].probes.subject.tolist())
    assert held
    assert not held & set(sc.retain.probes.subject.tolist())
    assert not held & set(sc.editor_facts.probes.subject.tolist())
    assert len(sc.retain) > 0  # the forgotten subjects' other relations are rehearsed instead
    assert not (sc.retain.probes.relation == 0).any()

"""Probes: the prompt is the template up to OO, the answer is the graph's object token."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from behemoth.world import ProbeSet, World
from behemoth.world.probes import build_probes, load_probes, save_probes
from behemoth.world.vocab import DOT, EOT, OO
from tests.world.conftest import WorldFactory
from tests.world.streams import REFERENCE_FORMS, Parser, one_pass

WORLDS: dict[str, dict[str, object]] = {
    "sro": {"inversion_frac": 0.3},
    "questions": {"questions_frac": 0.2, "questions_entity_frac": 0.4},
    "nested": {"nested_objects": 4, "nested_upweight": 2, "max_subject_words": 10},
    "two-token": {"max_subject_words": 10, "minority_entity_frac": 0.3},
    "simple_repeats": {"template": "simple_repeats"},
    "nonsense": {"template": "nonsense", "inversion_frac": 0.2},
}


@pytest.fixture(params=list(WORLDS), scope="module")
def world(request: pytest.FixtureRequest, world_factory: WorldFactory) -> World:
    return world_factory(**WORLDS[request.param])


def expected_answer(world: World, p: ProbeSet) -> np.ndarray:
    """The answer each probe must have, from the graph."""
    g, v = world.graph, world.vocab
    r = p.relation
    if p.kind == "S-O":
        return np.asarray(v.object(r, g.objects[p.subject, r]))
    if p.kind == "S-NO":
        return np.asarray(v.nested_object(r, g.nested_of[r, g.objects[p.subject, r]]))
    assert p.kind == "O-NO" and (p.subject == -1).all()
    return np.asarray(v.nested_object(r, g.nested_of[r, p.object]))


def test_every_answer_is_the_graphs_object(world: World) -> None:
    g = world.graph
    for p in world.probes.values():
        assert len(p) > 0
        assert np.array_equal(p.answer, expected_answer(world, p)), p.name
        if p.kind != "O-NO":
            assert np.array_equal(p.object, g.objects[p.subject, p.relation]), p.name


def test_probe_sets_cover_every_edge_once(world: World) -> None:
    g = world.graph
    S, R = g.objects.shape
    all_edges = {(s, r) for s in range(S) for r in range(R)}
    for p in world.probes.values():
        if p.kind == "O-NO":
            edges = list(zip(p.relation.tolist(), p.object.tolist()))
            assert sorted(edges) == [(r, o) for r in range(R) for o in range(g.nested_of.shape[1])]
            continue
        edges = list(zip(p.subject.tolist(), p.relation.tolist()))
        assert len(set(edges)) == len(edges), p.name
        if p.name not in ("question", "question_new"):
            assert set(edges) == all_edges, p.name
    q, qn = world.probes.get("question"), world.probes["question_new"]
    q_subjects = set(q.subject.tolist()) if q is not None else set()
    assert q_subjects == set(np.flatnonzero(g.question_subjects).tolist())
    assert set(qn.subject.tolist()) == set(range(S)) - q_subjects
    assert len(qn) + (len(q) if q is not None else 0) == S * R


def test_probe_set_names_and_trained_flags(world: World) -> None:
    cfg = world.config
    trained = {name: p.trained for name, p in world.probes.items()}
    assert trained["qa_new"] is False and trained["question_new"] is False
    if cfg.template == "sro":
        assert trained["sro"] is True and trained["rso"] is (cfg.inversion_frac > 0)
    elif cfg.template == "simple_repeats":
        assert trained["simple_repeats"] is True and trained["sro"] is False
    else:
        assert trained["nonsense_sro"] is True and trained["nonsense_rso"] is True
    assert ("question" in trained) is (cfg.questions_frac > 0)
    if "question" in trained:
        assert trained["question"] is True
    assert ({"nested_sno", "nested_ono"} <= set(trained)) is (cfg.nested_objects > 0)
    kinds = {name: p.kind for name, p in world.probes.items()}
    nested = {"nested_sno": "S-NO", "nested_ono": "O-NO"}
    assert kinds == {name: nested.get(name, "S-O") for name in kinds}


def _expected_prompt(world: World, p: ProbeSet, i: int, pattern: str) -> list[int]:
    v = world.vocab
    ids = {w: k for k, w in enumerate(v.words[:9])}
    s, r, o = int(p.subject[i]), int(p.relation[i]), int(p.object[i])
    out = [EOT]
    for w in pattern.split():
        if w == "s":
            out += (
                [int(v.object(r, o))] if p.kind == "O-NO" else v.subject(np.array([s]))[0].tolist()
            )
        elif w == "r":
            fn = {"S-O": v.relation, "S-NO": v.nested_relation_sno, "O-NO": v.nested_relation_ono}[
                p.kind
            ]
            out.append(int(fn(r)))
        elif w == "o":
            break
        else:
            out.append(ids[w] if w in ids else v.grammar(w))
    return out


def test_fixed_template_prompts_are_the_reference_patterns(world: World) -> None:
    checked = 0
    for p in world.probes.values():
        if p.template not in REFERENCE_FORMS:
            continue
        for i in range(len(p)):
            assert p.prompt(i).tolist() == _expected_prompt(
                world, p, i, REFERENCE_FORMS[p.template]
            ), (p.name, i)
        checked += 1
    assert checked >= 2  # at least qa_new and question_new in every world


def test_variable_template_prompts_parse_to_their_edge(world: World) -> None:
    """Every prompt (any template) + answer + '.' is one well-formed sentence of its edge."""
    parser = Parser(world.vocab)
    v = world.vocab
    for p in world.probes.values():
        for i in range(len(p)):
            prompt = p.prompt(i)
            assert prompt[0] == EOT and prompt[-1] == OO and (prompt[1:] != EOT).all()
            sent = parser.parse(np.concatenate([prompt[1:], [p.answer[i], DOT, EOT]]))
            assert sent.object == p.answer[i]
            if p.kind == "O-NO":
                assert sent.subject == (v.object(p.relation[i], p.object[i]),)
            else:
                assert sent.subject == tuple(v.subject(np.array([p.subject[i]]))[0].tolist())


def test_trained_probes_are_corpus_sentences(world_factory: WorldFactory) -> None:
    """The sro probe + answer is exactly a sentence the model is trained on (majority object)."""
    world = world_factory(**WORLDS["sro"])
    corpus_sents = {s.form + s.subject + (s.relation, s.object) for s in one_pass(world.corpus)}
    parser = Parser(world.vocab)
    found = {}
    for name in ("sro", "rso"):
        p = world.probes[name]
        hits = 0
        for i in range(len(p)):
            s = parser.parse(np.concatenate([p.prompt(i)[1:], [p.answer[i], DOT, EOT]]))
            hits += s.form + s.subject + (s.relation, s.object) in corpus_sents
        found[name] = hits / len(p)
    assert found["sro"] == 1.0
    # rso is 10% of 50 repeats: a fact misses it with probability 0.9^50 = 0.5%.
    assert found["rso"] > 0.97


def test_probes_round_trip_through_parquet(world: World, tmp_path: Path) -> None:
    built = build_probes(world.config, world.graph, world.vocab)
    loaded = world.probes  # read from probes.parquet
    assert list(built) == list(loaded)
    save_probes(loaded, tmp_path / "again.parquet")
    again = load_probes(tmp_path / "again.parquet")
    for name, a in built.items():
        for b in (loaded[name], again[name]):
            assert (a.name, a.template, a.kind, a.trained) == (
                b.name,
                b.template,
                b.kind,
                b.trained,
            )
            for field in ("subject", "relation", "object", "answer", "tokens", "offsets"):
                assert np.array_equal(getattr(a, field), getattr(b, field)), (name, field)
    assert (tmp_path / "again.parquet").read_bytes() == (world.path / "probes.parquet").read_bytes()


def test_batches_cover_every_probe_once_with_equal_lengths(world: World) -> None:
    for p in world.probes.values():
        seen = []
        for idx, mat in p.batches(max_batch=7):
            assert mat.shape == (len(idx), int(p.lengths[idx[0]])) and len(idx) <= 7
            for row, i in zip(mat, idx):
                assert np.array_equal(row, p.prompt(int(i)))
            seen += idx.tolist()
        assert sorted(seen) == list(range(len(p)))


def test_subset_keeps_rows_and_prompts(tiny_world: World) -> None:
    p = tiny_world.probes["sro"]
    rows = np.array([5, 0, 17])
    sub = p.subset(rows)
    assert len(sub) == 3 and np.array_equal(sub.answer, p.answer[rows])
    for j, i in enumerate(rows):
        assert np.array_equal(sub.prompt(j), p.prompt(int(i)))


def test_probe_counts_are_recorded_in_world_json(world: World) -> None:
    assert world.meta["probes"] == {name: len(p) for name, p in world.probes.items()}


def test_prompts_decode_to_the_template_text(tiny_world: World) -> None:
    """Read as text: '<|endoftext|> SS s12 W0 W1 RR r3 W2 OO' -> 'o3_7' (the graph's object)."""
    v, g = tiny_world.vocab, tiny_world.graph
    sro, qa = tiny_world.probes["sro"], tiny_world.probes["qa_new"]
    for i in (0, 1, 57, len(sro) - 1):
        s, r = int(sro.subject[i]), int(sro.relation[i])
        assert v.decode(sro.prompt(i)) == f"<|endoftext|> SS s{s} W0 W1 RR r{r} W2 OO"
        assert v.words[int(sro.answer[i])] == f"o{r}_{g.objects[s, r]}"
        j = int(np.flatnonzero((qa.subject == s) & (qa.relation == r))[0])
        assert v.decode(qa.prompt(j)) == f"<|endoftext|> QQ F1 RR r{r} F2 SS s{s} F3 AA OO"
        assert qa.answer[j] == sro.answer[i]

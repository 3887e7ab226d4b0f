"""The graph of facts: each sampling option shown exactly or within statistical tolerance.

Tolerances are a few binomial standard deviations; the seeds are fixed, so the tests are
deterministic, and a generator that ignored an option would miss by many deviations.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from behemoth.world import Graph, WorldConfig, sample_graph
from behemoth.world.presets import world_preset
from tests.world.streams import Parser, build, one_pass

TINY = world_preset("tiny")


def graph(**over: object) -> Graph:
    return sample_graph(WorldConfig.from_dict({**TINY, **over}))


def chi2(counts: np.ndarray) -> float:
    """Pearson's statistic against the uniform distribution over len(counts) cells."""
    exp = counts.sum() / len(counts)
    return float(((counts - exp) ** 2 / exp).sum())


# Upper 0.1% points of chi-square with df degrees of freedom (df = cells - 1).
CHI2_999 = {9: 27.88, 19: 43.82, 18: 42.31, 3: 16.27, 2: 13.82}


def within(p_hat: float, p: float, n: int, sigmas: float = 4.0) -> bool:
    return abs(p_hat - p) <= sigmas * np.sqrt(p * (1 - p) / n)


def test_iid_objects_are_uniform_and_independent() -> None:
    g = graph(subjects=4000, relations=3, objects=10)
    assert g.objects.shape == (4000, 3)
    assert g.objects.min() == 0 and g.objects.max() == 9
    for r in range(3):
        counts = np.bincount(g.objects[:, r], minlength=10)
        assert chi2(counts) < CHI2_999[9], counts
    # Independence: the joint of relations 0 and 1 is uniform over the 100 cells, and
    # the match rate is chance (1/O).
    joint = np.bincount(g.objects[:, 0] * 10 + g.objects[:, 1], minlength=100)
    assert chi2(joint) < 148.2  # 0.1% point, df = 99
    assert within(float((g.objects[:, 0] == g.objects[:, 1]).mean()), 0.1, 4000)
    assert not g.nested and (g.minority == -1).all() and not g.question_subjects.any()


@pytest.mark.parametrize("strength", [0.9, 0.3])
def test_correlated_pair_match_rate(strength: float) -> None:
    S, O = 5000, 20
    g = graph(
        subjects=S, relations=4, objects=O, correlated_pair=True, correlation_strength=strength
    )
    o0, o1 = g.objects[:, 0], g.objects[:, 1]
    assert within(float((o0 == o1).mean()), strength, S)
    # Relation 0 itself stays uniform; a mismatch is a uniformly random *other* object.
    assert chi2(np.bincount(o0, minlength=O)) < CHI2_999[19]
    shift = (o1 - o0)[o0 != o1] % O
    assert shift.min() >= 1
    assert chi2(np.bincount(shift, minlength=O)[1:]) < CHI2_999[18]
    # Relations >= 2 stay independent of relation 0.
    for r in (2, 3):
        assert within(float((g.objects[:, r] == o0).mean()), 1 / O, S)
        assert chi2(np.bincount(g.objects[:, r], minlength=O)) < CHI2_999[19]


def test_uncorrelated_world_has_chance_match_rate() -> None:
    g = graph(subjects=5000, relations=2, objects=20)
    assert within(float((g.objects[:, 0] == g.objects[:, 1]).mean()), 0.05, 5000)


def test_binarized_first_relation() -> None:
    S, O = 4000, 20
    g = graph(
        subjects=S,
        relations=3,
        objects=O,
        correlated_pair=True,
        binarize_first=True,
        correlation_strength=0.8,
    )
    o0, o1 = g.objects[:, 0], g.objects[:, 1]
    assert set(np.unique(o0)) == {0, 1}
    assert within(float((o0 == 1).mean()), 0.5, S)
    assert within(float((o0 == o1).mean()), 0.8, S)
    # Mismatches spread over all other objects of relation 1, not only 0/1.
    assert len(np.unique(o1[o0 != o1])) == O
    assert within(float((o1 >= 2).mean()), 0.2 * (O - 2) / (O - 1), S)
    assert len(np.unique(g.objects[:, 2])) == O


def test_nested_groups_and_consistency() -> None:
    R, O, M = 4, 20, 4
    g = graph(relations=R, objects=O, nested_objects=M)
    assert g.nested_of.shape == (R, O)
    for r in range(R):
        # M groups of exactly O / M objects each.
        assert np.bincount(g.nested_of[r], minlength=M).tolist() == [O // M] * M
    # The split is random per relation, not one fixed assignment.
    assert len({tuple(row) for row in g.nested_of}) > 1
    assert not all((row == np.repeat(np.arange(M), O // M)).all() for row in g.nested_of)
    # S-NO answer = f_r(S-O object) for every subject and relation.
    sno = g.nested_objects()
    for s in range(g.n_subjects):
        for r in range(R):
            assert sno[s, r] == g.nested_of[r, g.objects[s, r]]


def test_nested_edges_in_the_graph_table() -> None:
    R, O, M = 3, 12, 3
    g = graph(relations=R, objects=O, nested_objects=M)
    t = g.table().to_pydict()
    kinds = Counter(t["kind"])
    assert kinds == {"S-O": 100 * R, "S-NO": 100 * R, "O-NO": R * O}
    for kind, s, r, o, no in zip(
        t["kind"], t["subject"], t["relation"], t["object"], t["nested_object"]
    ):
        if kind == "O-NO":
            assert s == -1 and no == g.nested_of[r, o]
        else:
            assert o == g.objects[s, r] and no == g.nested_of[r, o]
    # Every (relation, object) has exactly one O-NO edge.
    ono = {(r, o) for k, r, o in zip(t["kind"], t["relation"], t["object"]) if k == "O-NO"}
    assert ono == {(r, o) for r in range(R) for o in range(O)}


@pytest.mark.parametrize(
    ("frac", "S", "R"), [(0.25, 100, 4), (0.333, 100, 4), (0.05, 37, 3), (1.0, 20, 2)]
)
def test_minority_share_is_exact(frac: float, S: int, R: int) -> None:
    g = graph(subjects=S, relations=R, objects=7, minority_entity_frac=frac)
    has = g.minority >= 0
    assert int(has.sum()) == int(round(frac * S * R))
    assert (g.minority[has] != g.objects[has]).all()
    assert g.minority[has].min() >= 0 and g.minority[has].max() < 7
    assert (g.minority[~has] == -1).all()


def test_minority_objects_spread_over_edges_and_objects() -> None:
    g = graph(subjects=2000, relations=2, objects=5, minority_entity_frac=0.5)
    has = g.minority >= 0
    # Both relations carry minority edges in proportion, and every other object is used.
    assert within(float(has[:, 0].mean()), 0.5, 2000) and within(float(has[:, 1].mean()), 0.5, 2000)
    shift = (g.minority[has] - g.objects[has]) % 5
    assert chi2(np.bincount(shift, minlength=5)[1:]) < CHI2_999[3]


@pytest.mark.parametrize("minority_frac", [0.1, 0.4])
def test_minority_objects_appear_at_their_rate_in_the_corpus(minority_frac: float) -> None:
    cfg, g, vocab, corpus = build(
        subjects=60,
        relations=4,
        objects=10,
        repeats=40,
        minority_entity_frac=0.3,
        minority_frac=minority_frac,
    )
    subj_ids = {tuple(int(x) for x in row): s for s, row in enumerate(vocab.subject(np.arange(60)))}
    stated = 0
    minority = 0
    for sent in one_pass(corpus):
        s = subj_ids[sent.subject]
        r = sent.relation - vocab.relation(0)
        o = sent.object - vocab.object(r, 0)
        if g.minority[s, r] >= 0:
            stated += 1
            assert o in (g.objects[s, r], g.minority[s, r])
            minority += o == g.minority[s, r]
        else:
            assert o == g.objects[s, r]  # edges without dissent always state their object
    n_edges = int((g.minority >= 0).sum())
    assert n_edges == round(0.3 * 240)
    assert stated == n_edges * cfg.repeats
    assert within(minority / stated, minority_frac, stated)


def test_minority_each_edge_uses_both_objects() -> None:
    """The dissent is drawn per sentence, not per edge: an edge states both of its objects."""
    _, g, vocab, corpus = build(
        subjects=20,
        relations=2,
        objects=5,
        repeats=100,
        minority_entity_frac=0.5,
        minority_frac=0.5,
    )
    seen: dict[tuple[tuple[int, ...], int], set[int]] = {}
    for sent in one_pass(corpus):
        seen.setdefault((sent.subject, sent.relation), set()).add(sent.object)
    n_two = sum(len(v) == 2 for v in seen.values())
    assert n_two == int((g.minority >= 0).sum())


@pytest.mark.parametrize(
    ("entity_frac", "S"), [(0.5, 100), (0.37, 100), (0.25, 41), (0.29, 100), (0.35, 37)]
)
def test_question_subject_share(entity_frac: float, S: int) -> None:
    g = graph(subjects=S, questions_frac=0.1, questions_entity_frac=entity_frac)
    assert int(g.question_subjects.sum()) == int(round(entity_frac * S))


def test_no_question_subjects_without_questions() -> None:
    assert not graph(questions_frac=0.0, questions_entity_frac=0.5).question_subjects.any()


def test_question_subjects_do_not_change_the_facts() -> None:
    """Turning questions on must not resample the facts (they use their own generator)."""
    a = graph(subjects=50)
    b = graph(subjects=50, questions_frac=0.2)
    assert (a.objects == b.objects).all()


@pytest.mark.parametrize(
    "over",
    [
        {},
        {"nested_objects": 4},
        {"minority_entity_frac": 0.2},
        {"questions_frac": 0.2},
        {"correlated_pair": True, "correlation_strength": 0.9},
    ],
    ids=["iid", "nested", "minority", "questions", "correlated"],
)
def test_graph_round_trips_through_parquet(tmp_path: Path, over: dict[str, object]) -> None:
    g = graph(**over)
    g.save(tmp_path / "graph.parquet")
    h = Graph.load(tmp_path / "graph.parquet")
    for name in ("objects", "minority", "nested_of", "question_subjects"):
        a, b = getattr(g, name), getattr(h, name)
        assert a.shape == b.shape and a.dtype == b.dtype and (a == b).all(), name


def test_graph_file_is_parquet_with_every_edge_column(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    graph(nested_objects=4).save(tmp_path / "g.parquet")
    t = pq.read_table(tmp_path / "g.parquet")
    assert {"kind", "subject", "relation", "object", "minority_object", "nested_object"} <= set(
        t.column_names
    )


def test_graph_file_bytes_do_not_depend_on_how_the_kind_column_is_built(
    tmp_path: Path,
) -> None:
    """graph.parquet's bytes make the world's fingerprint: the kind column built by Arrow
    writes exactly what the Python list of strings it replaced wrote."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    g = graph(nested_objects=4)
    g.save(tmp_path / "g.parquet")
    t = g.table()
    kinds = pa.array(t["kind"].to_pylist(), pa.string())  # as built from a Python list
    t = t.set_column(0, "kind", kinds).replace_schema_metadata({b"behemoth.graph": b"1"})
    pq.write_table(t, tmp_path / "list.parquet", compression="zstd")
    assert (tmp_path / "g.parquet").read_bytes() == (tmp_path / "list.parquet").read_bytes()


def test_parser_sanity_on_a_plain_world() -> None:
    """The stream parser used above reads back the graph's own objects."""
    _, g, vocab, corpus = build(subjects=10, repeats=2)
    p = Parser(vocab)
    first = p.parse_stream(corpus.render_positions(0, 5))
    assert len(first) == 5
    subj_ids = {tuple(int(x) for x in row): s for s, row in enumerate(vocab.subject(np.arange(10)))}
    for sent in first:
        r = sent.relation - vocab.relation(0)
        assert sent.object == vocab.object(r, g.objects[subj_ids[sent.subject], r])

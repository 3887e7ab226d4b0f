"""The corpus: read back from its token stream, every option shows its effect.

Sentences are parsed from the tokens (tests/world/streams.py), never taken from the renderer's
internals, so these tests check what a model would actually be trained on.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from behemoth.world.corpus import Corpus
from behemoth.world.vocab import DOT, EOT
from tests.world.conftest import WorldFactory
from tests.world.streams import (
    Parser,
    Sentence,
    build,
    expected_so_facts,
    form,
    one_pass,
    split_sentences,
)

Fact = tuple[tuple[int, ...], int, int]


def within(p_hat: float, p: float, n: int, sigmas: float = 4.0) -> bool:
    return abs(p_hat - p) <= sigmas * np.sqrt(p * (1 - p) / n)


def runs(words: tuple[str, ...]) -> list[tuple[str, int]]:
    """Run-length encoding of a sentence form."""
    return [(w, len(list(g))) for w, g in itertools.groupby(words)]


# -- shuffle mode ----------------------------------------------------------------------------


@pytest.mark.parametrize("over", [{}, {"max_subject_words": 8}], ids=["one-token", "three-token"])
def test_every_fact_exactly_repeats_times_per_pass(over: dict[str, object]) -> None:
    cfg, g, vocab, corpus = build(subjects=40, relations=3, objects=10, repeats=7, **over)
    expected = expected_so_facts(g, vocab)
    assert corpus.n_units == corpus.n_sentences == 40 * 3 * 7
    passes = []
    for cycle in (0, 1):
        sents = one_pass(corpus, cycle)
        assert all(s.form == form("sro") for s in sents)
        got = Counter(s.fact for s in sents)
        assert got == Counter({f: cfg.repeats for f in expected})
        passes.append([s.fact for s in sents])
    assert passes[0] != passes[1]  # each pass has its own order


def test_shuffle_mixes_subjects_and_relations() -> None:
    _, _, _, corpus = build(subjects=50, relations=4, repeats=20)
    facts = [s.fact for s in one_pass(corpus)]
    same_subject = np.mean([a[0] == b[0] for a, b in itertools.pairwise(facts)])
    assert same_subject < 0.1  # ~1/50 if shuffled; 1 (or 0.75) if written in order
    # The last copy of a fact is spread over the pass, not at its end.
    first_half = Counter(facts[: len(facts) // 2])
    assert 0.3 < np.mean([first_half[f] / 20 for f in set(facts)]) < 0.7


def test_stream_is_the_same_however_it_is_cut() -> None:
    _, _, _, corpus = build(subjects=20, repeats=5, inversion_frac=0.5)
    n = corpus.n_units
    whole = corpus.render_positions(0, 2 * n)
    cuts = [0, 1, 17, n - 3, n, n + 1, 2 * n]
    pieces = [corpus.render_positions(a, b) for a, b in itertools.pairwise(cuts)]
    assert (np.concatenate(pieces) == whole).all()
    # Units rendered one by one (in stream order) give the same tokens.
    gids = corpus.units_at(np.arange(0, 40))
    one_by_one = np.concatenate([corpus.render_units(gids[i : i + 1]) for i in range(40)])
    assert (one_by_one == corpus.render_positions(0, 40)).all()


# -- biography mode --------------------------------------------------------------------------


def test_biographies_hold_all_facts_of_a_subject_in_random_order() -> None:
    S, R, reps = 30, 4, 10
    cfg, g, vocab, corpus = build(subjects=S, relations=R, repeats=reps, shuffle=False)
    assert corpus.n_units == S * reps and corpus.n_sentences == S * R * reps
    subj_ids = {tuple(int(x) for x in row): s for s, row in enumerate(vocab.subject(np.arange(S)))}
    docs = [corpus.render_units(np.array([u])) for u in corpus.units_at(np.arange(corpus.n_units))]
    per_subject: Counter[int] = Counter()
    orders: Counter[tuple[int, ...]] = Counter()
    parser = Parser(vocab)
    for doc in docs:
        sents = parser.parse_stream(doc)
        assert len(sents) == R
        subjects = {s.subject for s in sents}
        assert len(subjects) == 1
        s = subj_ids[subjects.pop()]
        per_subject[s] += 1
        rels = tuple(int(x.relation - vocab.relation(0)) for x in sents)
        assert sorted(rels) == list(range(R))
        for x, r in zip(sents, rels):
            assert x.object == vocab.object(r, g.objects[s, r])
        orders[rels] += 1
    assert per_subject == Counter({s: reps for s in range(S)})
    # Random order per document: all 24 orders of 4 relations occur, none dominates.
    assert len(orders) == 24 and max(orders.values()) < 0.15 * len(docs)
    # The documents themselves are shuffled: consecutive documents rarely share a subject.
    firsts = [subj_ids[parser.parse(split_sentences(d)[0]).subject] for d in docs]
    assert np.mean([a == b for a, b in itertools.pairwise(firsts)]) < 0.15


def test_nested_biographies_include_sno_and_separate_ono_documents() -> None:
    S, R, O, M, reps = 12, 2, 8, 2, 3
    cfg, g, vocab, corpus = build(
        subjects=S, relations=R, objects=O, nested_objects=M, repeats=reps, shuffle=False
    )
    parser = Parser(vocab)
    bio = ono = 0
    for u in range(corpus.n_units):
        sents = parser.parse_stream(corpus.render_units(np.array([u])))
        if len(sents) == 1:  # an O-NO document: object in the subject slot
            (x,) = sents
            assert vocab.role_of(x.subject[0]) == "object"
            ono += 1
            continue
        bio += 1
        assert len(sents) == 2 * R and len({x.subject for x in sents}) == 1
        assert sorted(x.relation for x in sents) == sorted(
            [int(vocab.relation(r)) for r in range(R)]
            + [int(vocab.nested_relation_sno(r)) for r in range(R)]
        )
    assert bio == S * reps and ono == R * O * reps


# -- templates ---------------------------------------------------------------------------------


def test_inversion_fraction_and_even_split() -> None:
    _, _, _, corpus = build(subjects=100, relations=4, repeats=50, inversion_frac=0.3)
    sents = one_pass(corpus)
    n = len(sents)
    forms = Counter(s.form for s in sents)
    assert set(forms) == {form("sro"), form("sor"), form("osr"), form("rso")}
    inverted = n - forms[form("sro")]
    assert within(inverted / n, 0.3, n)
    for name in ("sor", "osr", "rso"):
        assert within(forms[form(name)] / inverted, 1 / 3, inverted), name
    # Inversions carry the same facts: each fact still stated exactly `repeats` times.
    assert set(Counter(s.fact for s in sents).values()) == {50}


@pytest.mark.parametrize("frac", [0.0, 1.0])
def test_inversion_extremes(frac: float) -> None:
    _, _, _, corpus = build(subjects=20, repeats=10, inversion_frac=frac)
    forms = Counter(s.form for s in one_pass(corpus))
    if frac == 0:
        assert set(forms) == {form("sro")}
    else:
        assert form("sro") not in forms and len(forms) == 3


def test_simple_repeats_fillers_in_their_ranges() -> None:
    _, _, _, corpus = build(subjects=50, relations=4, repeats=20, template="simple_repeats")
    sents = one_pass(corpus)
    counts: dict[str, Counter[int]] = {k: Counter() for k in ("FS<", "FS>", "FR<", "FR>", "FO<")}
    for s in sents:
        rl = runs(s.form)
        words = [w for w, _ in rl]
        # FS+ SS <S> FS* FR+ RR <R> FR* FO+ OO <O>: object last, so the sentence is a probe.
        assert words[-3:] == ["FO", "OO", "<O>"]
        assert words[0] == "FS" and words[1:3] == ["SS", "<S>"]
        n = dict.fromkeys(counts, 0)
        n["FS<"] = rl[0][1]
        i = 3
        if rl[i][0] == "FS":
            n["FS>"] = rl[i][1]
            i += 1
        assert rl[i][0] == "FR" and rl[i + 1][0] == "RR" and rl[i + 2][0] == "<R>"
        n["FR<"] = rl[i][1]
        i += 3
        if rl[i][0] == "FR":
            n["FR>"] = rl[i][1]
            i += 1
        assert rl[i][0] == "FO" and i == len(rl) - 3
        n["FO<"] = rl[i][1]
        for k, v in n.items():
            counts[k][v] += 1
    N = len(sents)
    for k, c in counts.items():
        want = [1, 2, 3] if k.endswith("<") else [0, 1, 2, 3]
        assert sorted(c) == want, (k, c)
        for v in want:  # uniform over its range
            assert within(c[v] / N, 1 / len(want), N), (k, c)


def test_nonsense_grammar_words_in_their_ranges() -> None:
    _, _, vocab, corpus = build(
        subjects=50, relations=4, repeats=20, template="nonsense", inversion_frac=0.25
    )
    sents = one_pass(corpus)
    lengths: Counter[int] = Counter()
    words: Counter[str] = Counter()
    n_rso = 0
    for s in sents:
        roles = [w for w in s.form if w in ("SS", "RR", "OO")]
        n_rso += roles == ["RR", "SS", "OO"]
        assert roles in (["SS", "RR", "OO"], ["RR", "SS", "OO"])
        assert s.form[-2:] == ("OO", "<O>")
        chunk: list[str] = []
        gaps = []
        for w in s.form:
            if w.startswith("N") and w[1:].isdigit():
                chunk.append(w)
            elif w in ("SS", "RR", "OO"):
                gaps.append(chunk)
                chunk = []
        assert len(gaps) == 3 and not chunk
        for gap in gaps:
            lengths[len(gap)] += 1
            words.update(gap)
    N = len(sents)
    assert within(n_rso / N, 0.25, N)
    # 1 + a geometric count (continuation 0.4), at most 5 words.
    total = sum(lengths.values())
    assert sorted(lengths) == [1, 2, 3, 4, 5]
    p = 0.4
    expected = [(1 - p) * p ** (k - 1) for k in range(1, 5)] + [p**4]
    for k, e in zip(range(1, 6), expected):
        assert within(lengths[k] / total, e, total), (k, lengths)
    # Words drawn uniformly from all 1000 nonsense words.
    assert len(words) == 1000
    counts = np.array(list(words.values()))
    exp = counts.sum() / 1000
    assert ((counts - exp) ** 2 / exp).sum() < 1143  # chi-square 0.1% point, df = 999


# -- questions ---------------------------------------------------------------------------------


def test_questions_only_for_question_subjects_at_the_configured_share() -> None:
    S, R, reps = 100, 4, 20
    cfg, g, vocab, corpus = build(
        subjects=S, relations=R, repeats=reps, questions_frac=0.2, questions_entity_frac=0.5
    )
    assert cfg.question_repeats == 8
    subj_ids = {tuple(int(x) for x in row): s for s, row in enumerate(vocab.subject(np.arange(S)))}
    questions: Counter[Fact] = Counter()
    statements: Counter[Fact] = Counter()
    for s in one_pass(corpus):
        if s.form == form("question"):
            questions[s.fact] += 1
            assert g.question_subjects[subj_ids[s.subject]]
        else:
            assert s.form == form("sro")
            statements[s.fact] += 1
    expected = expected_so_facts(g, vocab)
    assert statements == Counter({f: reps for f in expected})
    q_facts = {f for f in expected if g.question_subjects[subj_ids[f[0]]]}
    assert questions == Counter({f: cfg.question_repeats for f in q_facts})
    # The reference's share: questions = questions_frac x statements.
    assert sum(questions.values()) / sum(statements.values()) == pytest.approx(0.2)


def test_no_question_sentences_without_questions() -> None:
    _, _, _, corpus = build(subjects=30, repeats=5, questions_frac=0.0)
    assert all(s.form == form("sro") for s in one_pass(corpus))


def test_finetuning_words_never_in_the_corpus() -> None:
    _, _, vocab, corpus = build(subjects=30, repeats=5, questions_frac=0.2, inversion_frac=0.5)
    toks = set(corpus.render_positions(0, corpus.n_units).tolist())
    for w in ("F1", "F2", "F3"):
        assert vocab.grammar(w) not in toks
    a, b = vocab.ranges["placeholder"]
    assert not any(a <= t < b for t in toks)


# -- nested edges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upweight", "words"),
    [(1, 1000), (3, 1000), (2, 5)],
    ids=["plain", "upweighted", "two-token-subjects"],
)
def test_nested_edge_counts_and_ono_upweighting(upweight: int, words: int) -> None:
    S, R, O, M, reps = 20, 3, 8, 4, 5
    cfg, g, vocab, corpus = build(
        subjects=S,
        relations=R,
        objects=O,
        nested_objects=M,
        repeats=reps,
        nested_upweight=upweight,
        max_subject_words=words,
        inversion_frac=0.5,
    )
    subj_ids = {tuple(int(x) for x in row): s for s, row in enumerate(vocab.subject(np.arange(S)))}
    kinds: Counter[str] = Counter()
    per_edge: Counter[tuple[str, tuple[int, ...], int]] = Counter()
    for x in one_pass(corpus):
        role = vocab.role_of(x.relation)
        if role == "relation":
            kind = "S-O"
            r = x.relation - vocab.relation(0)
            assert x.object == vocab.object(r, g.objects[subj_ids[x.subject], r])
        elif x.relation < vocab.nested_relation_ono(0):
            kind = "S-NO"
            r = x.relation - vocab.nested_relation_sno(0)
            s = subj_ids[x.subject]
            assert x.object == vocab.nested_object(r, g.nested_of[r, g.objects[s, r]])
        else:
            kind = "O-NO"
            r = x.relation - vocab.nested_relation_ono(0)
            o = x.subject[0] - vocab.object(r, 0)
            assert 0 <= o < O and x.object == vocab.nested_object(r, g.nested_of[r, o])
        kinds[kind] += 1
        per_edge[(kind, x.subject, x.relation)] += 1
    assert kinds == {"S-O": S * R * reps, "S-NO": S * R * reps, "O-NO": R * O * reps * upweight}
    for (kind, _, _), n in per_edge.items():
        assert n == (reps * upweight if kind == "O-NO" else reps)


# -- sentence shape ----------------------------------------------------------------------------


def test_sentences_end_with_dot_and_eot_and_have_the_reference_length() -> None:
    """A fact sentence with two-token subjects is 12 tokens long (reference-format.md)."""
    _, _, vocab, corpus = build(subjects=2000, max_subject_words=100, repeats=1)
    assert vocab.subject_tokens == 2
    toks = corpus.render_positions(0, 500)
    assert toks[-2:].tolist() == [DOT, EOT]
    assert {len(s) for s in split_sentences(toks)} == {12}


def test_n_sentences_matches_the_stream() -> None:
    _, _, _, corpus = build(
        subjects=15,
        relations=2,
        objects=6,
        nested_objects=3,
        repeats=3,
        nested_upweight=2,
        questions_frac=0.3,
        shuffle=False,
    )
    assert isinstance(corpus, Corpus)
    assert len(one_pass(corpus)) == corpus.n_sentences


def test_sentence_parser_rejects_broken_streams() -> None:
    """The parser the corpus tests rely on fails on malformed input (so those tests can fail)."""
    _, _, vocab, corpus = build(subjects=5, repeats=1)
    toks = corpus.render_positions(0, 3)
    with pytest.raises(AssertionError):
        split_sentences(toks[:-1])
    bad = toks.copy()
    bad[1] = vocab.grammar("W0")  # subject replaced by a grammar word
    with pytest.raises(AssertionError):
        Parser(vocab).parse_stream(bad)
    assert isinstance(Parser(vocab).parse_stream(toks)[0], Sentence)


@pytest.mark.parametrize(
    "over",
    [
        {"subjects": 1, "relations": 1, "objects": 1, "repeats": 1},
        {
            "subjects": 2,
            "relations": 1,
            "objects": 2,
            "repeats": 1,
            "nested_objects": 1,
            "questions_frac": 0.5,
            "questions_entity_frac": 0.5,
            "shuffle": False,
        },
    ],
    ids=["1x1x1", "2x1x2-nested-questions-bio"],
)
def test_smallest_worlds_generate(world_factory: WorldFactory, over: dict[str, object]) -> None:
    world = world_factory(shards=True, **over)
    sents = one_pass(world.corpus)
    assert len(sents) == world.corpus.n_sentences == world.meta["counts"]["sentences_per_pass"]
    assert all(len(p) > 0 for p in world.probes.values())

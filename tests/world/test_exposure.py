"""Issue 25: per-fact repeat counts, and the exposure table recorded with every world.

The recorded counts are checked against the written shard files, decoded with the test parser
(:mod:`tests.world.streams`), which knows nothing of how the corpus lays out its documents."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from behemoth.errors import ConfigError
from behemoth.io import read_json
from behemoth.world import World, WorldConfig, generate_world
from behemoth.world.corpus import Corpus
from behemoth.world.exclude import n_fact_ids
from behemoth.world.exposure import (
    EXPOSURE_FILE,
    apportion,
    exposure_table,
    fact_exposure,
    load_exposure,
    repeat_counts,
)
from behemoth.world.graph import sample_graph
from behemoth.world.presets import world_preset
from behemoth.world.sampler import ShardSampler, StreamSampler
from behemoth.world.shards import read_shards
from behemoth.world.vocab import Vocabulary
from tests.world.streams import REFERENCE_FORMS, Parser, form

SMALL = {"subjects": 30, "relations": 4, "objects": 20, "repeats": 8}

#: Worlds with varying exposure, written with shards (small shards: several files each).
VARIED = {
    "zipf-shuffle-inversions-minority": {
        "exposure": {"kind": "zipf", "a": 1.2},
        "inversion_frac": 0.3,
        "minority_entity_frac": 0.2,
        "minority_frac": 0.3,
    },
    "head_tail-shuffle-nested-questions": {
        "exposure": {
            "kind": "head_tail",
            "over": "subjects",
            "head_share": 0.2,
            "head_repeats": 20,
            "tail_repeats": 2,
        },
        "nested_objects": 4,
        "questions_frac": 0.2,
    },
    "zipf-bio-nested-questions": {
        "exposure": {"kind": "zipf", "over": "relations", "a": 1.0},
        "shuffle": False,
        "nested_objects": 4,
        "questions_frac": 0.2,
    },
    "head_tail-bio-inversions-fixed": {
        "exposure": {
            "kind": "head_tail",
            "head_repeats": 12,
            "tail_repeats": 1,
            "fixed": [[0, 0, 0], [1, 1, 5], [2, 3, 30]],
        },
        "shuffle": False,
        "inversion_frac": 0.4,
        "minority_entity_frac": 0.1,
    },
}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, World]:
    root = tmp_path_factory.mktemp("exposure")
    out = {}
    for name, over in VARIED.items():
        cfg = WorldConfig.from_dict({**world_preset("tiny"), **SMALL, "shard_units": 97, **over})
        out[name] = generate_world(cfg, root / name, workers=2)
    return out


def _shard_tokens(world: World) -> np.ndarray:
    index = read_json(world.path / "shards" / "index.json")
    maps = read_shards(world.path / "shards", index)
    assert len(maps) > 1
    return np.concatenate([np.asarray(m) for m in maps]).astype(np.int64)


def _scan(world: World) -> Counter[tuple[int, str, bool]]:
    """Sentences per (fact id, template, minority object) in the written shards, decoded
    token by token: subject, relation and object tokens back to graph indices."""
    v, g = world.vocab, world.graph
    S, R = g.objects.shape
    subject = {tuple(int(x) for x in row): s for s, row in enumerate(v.subject(np.arange(S)))}
    forms = {form(name): name for name in ("sro", "sor", "osr", "rso", "question")}
    out: Counter[tuple[int, str, bool]] = Counter()
    O = max(1, g.nested_of.shape[1])
    for sent in Parser(v).parse_stream(_shard_tokens(world)):
        template = forms[sent.form]
        rel = sent.relation
        if v.relation(0) <= rel < v.relation(R):
            s, r = subject[sent.subject], rel - int(v.relation(0))
            minority = sent.object != v.object(r, g.objects[s, r])
            if minority:
                assert sent.object == v.object(r, g.minority[s, r])
            out[(s * R + r, template, bool(minority))] += 1
        elif v.nested_relation_sno(0) <= rel < v.nested_relation_sno(R):
            s, r = subject[sent.subject], rel - int(v.nested_relation_sno(0))
            assert sent.object == v.nested_object(r, g.nested_of[r, g.objects[s, r]])
            out[(S * R + s * R + r, template, False)] += 1
        else:
            r = rel - int(v.nested_relation_ono(0))
            o = sent.subject[0] - int(v.object(r, 0))
            out[(2 * S * R + r * O + o, template, False)] += 1
    return out


@pytest.mark.parametrize("name", list(VARIED))
def test_recorded_counts_equal_the_shards(worlds: dict[str, World], name: str) -> None:
    world = World.load(worlds[name].path)  # checksums checked, the table among them
    assert EXPOSURE_FILE in world.meta["files"]
    table = world.exposure
    recorded = Counter(
        {
            (int(f), str(t), bool(m)): int(c)
            for f, t, m, c in zip(table.fact_id, table.template, table.minority, table["count"])
        }
    )
    assert recorded == _scan(world)
    assert (table["count"] > 0).all()
    assert set(table.template) <= set(REFERENCE_FORMS)
    assert ((table.template == "question") == (table.format == "question")).all()
    totals = fact_exposure(world)
    assert totals.dtype == np.int64 and totals.shape == (n_fact_ids(world.graph),)
    assert totals.sum() == world.meta["counts"]["sentences_per_pass"]


@pytest.mark.parametrize("name", list(VARIED))
def test_each_document_kind_follows_its_documented_count(
    worlds: dict[str, World], name: str
) -> None:
    """S-O statements (either object) and S-NO statements: the fact's count; O-NO edges and
    questions: as in a uniform world."""
    world = worlds[name]
    cfg, g = world.config, world.graph
    S, R = g.objects.shape
    counts = repeat_counts(cfg, g)
    t = world.exposure
    stmt = t[t.format == "statement"].groupby("fact_id")["count"].sum()
    so = np.zeros(S * R, dtype=np.int64)
    so[stmt.index[stmt.index < S * R]] = stmt[stmt.index < S * R]
    np.testing.assert_array_equal(so, counts)
    if g.nested:
        sno = stmt[(stmt.index >= S * R) & (stmt.index < 2 * S * R)]
        np.testing.assert_array_equal(sno.index - S * R, np.flatnonzero(counts))
        np.testing.assert_array_equal(sno.to_numpy(), counts[counts > 0])
        ono = stmt[stmt.index >= 2 * S * R]
        assert len(ono) == g.nested_of.size
        assert (ono == cfg.repeats * cfg.nested_upweight).all()
    q = t[t.format == "question"]
    assert len(q) == (R * int(g.question_subjects.sum()) if cfg.questions_frac else 0)
    assert (q["count"] == cfg.question_repeats).all()


def test_fixed_counts_are_honoured(worlds: dict[str, World]) -> None:
    world = worlds["head_tail-bio-inversions-fixed"]
    R = world.graph.n_relations
    totals = fact_exposure(world)
    assert totals[0 * R + 0] == 0  # a count of 0: never stated
    assert totals[1 * R + 1] == 5
    assert totals[2 * R + 3] == 30
    counts = repeat_counts(world.config, world.graph)
    assert set(np.delete(counts, [0, R + 1, 2 * R + 3]).tolist()) == {12, 1}
    # biographies: subject 2 has 30 of them, each stating fact (2, 3)
    assert world.corpus.groups[0].copies()[2] == 30


@pytest.mark.parametrize("name", ["zipf-shuffle-inversions-minority", "zipf-bio-nested-questions"])
def test_samplers_and_shards_serve_one_stream(worlds: dict[str, World], name: str) -> None:
    world = worlds[name]
    corpus = world.corpus
    toks = _shard_tokens(world)
    np.testing.assert_array_equal(toks, corpus.render_positions(0, corpus.n_units))
    stream = StreamSampler(corpus, seq_len=32, batch_size=4, chunk_units=61)
    shards = world.sampler(32, 4, source="shards")
    assert isinstance(shards, ShardSampler)
    for _ in range(toks.size // (32 * 4)):  # the whole first pass (the shards hold one)
        np.testing.assert_array_equal(stream.next_batch(), shards.next_batch())
    assert stream.epochs == pytest.approx(stream.position / corpus.n_units * corpus.mean_repeats)


@pytest.mark.parametrize(
    "exposure",
    [
        {"kind": "zipf", "a": 1.0},
        {"kind": "head_tail", "over": "subjects", "head_repeats": 9, "tail_repeats": 2},
        {"kind": "zipf", "fixed": [[3, 1, 0], [4, 2, 40]]},
    ],
)
def test_the_sentence_table_gives_the_rendered_stream(exposure: dict) -> None:
    over = {"nested_objects": 4, "questions_frac": 0.3, "exposure": exposure}
    cfg = WorldConfig.from_dict({**world_preset("tiny"), **SMALL, **over})
    graph, vocab = sample_graph(cfg), Vocabulary.from_config(cfg)
    fast, plain = Corpus(cfg, graph, vocab), Corpus(cfg, graph, vocab)
    plain.__dict__["table"] = None  # the cached property off: every document rendered
    assert fast.table is not None and fast.fact_counts is not None
    n = fast.n_units
    for a, b in [(0, n), (n - 37, 2 * n + 11)]:
        np.testing.assert_array_equal(fast.render_positions(a, b), plain.render_positions(a, b))
    # counted from one row per distinct document, or sentence by sentence: the same table
    whole = Corpus(cfg, graph, vocab)
    whole.one_per_item = lambda: None  # type: ignore[method-assign]
    assert exposure_table(fast).equals(exposure_table(whole))


# -- the plan: counts drawn from the configured distribution ------------------------------------


@pytest.mark.parametrize("a", [0.6, 1.0, 1.6])
@pytest.mark.parametrize("over", ["facts", "subjects"])
def test_zipf_counts_follow_the_exponent_with_mean_repeats(a: float, over: str) -> None:
    e = {"kind": "zipf", "a": a, "over": over}
    cfg = WorldConfig.from_dict({"subjects": 500, "relations": 4, "repeats": 50, "exposure": e})
    counts = repeat_counts(cfg)
    assert counts.dtype == np.int64 and counts.min() >= 1
    assert counts.sum() == 50 * counts.size  # mean exactly repeats: same corpus size
    per_unit = counts if over == "facts" else counts.reshape(500, 4)[:, 0]
    if over == "subjects":  # every fact of a subject has its subject's count
        assert (counts.reshape(500, 4) == per_unit[:, None]).all()
    ranked = np.sort(per_unit)[::-1].astype(np.float64)
    rank = np.arange(1, len(ranked) + 1)
    fit = ranked >= 20  # where rounding (and the floor) do not bend the line
    assert fit.sum() >= 20
    slope = stats.linregress(np.log(rank[fit]), np.log(ranked[fit])).slope
    assert slope == pytest.approx(-a, abs=0.05)
    # the ranking is seeded: another seed, another order of the same counts
    other = repeat_counts(cfg, seed=1)
    assert not np.array_equal(other, counts)
    assert np.array_equal(np.sort(other), np.sort(counts))
    assert np.array_equal(repeat_counts(cfg), counts)


def test_zipf_respects_min_repeats_and_keeps_the_mean() -> None:
    e = {"kind": "zipf", "a": 2.0, "min_repeats": 4}
    cfg = WorldConfig.from_dict({"subjects": 200, "relations": 2, "repeats": 10, "exposure": e})
    counts = repeat_counts(cfg)
    assert counts.min() == 4 and counts.sum() == 10 * 400
    assert (counts == 4).sum() > 300  # the steep law: most facts sit on the floor


def test_head_tail_counts() -> None:
    e = {
        "kind": "head_tail",
        "over": "relations",
        "head_share": 0.25,
        "head_repeats": 7,
        "tail_repeats": 3,
    }
    cfg = WorldConfig.from_dict({"subjects": 10, "relations": 4, "repeats": 5, "exposure": e})
    counts = repeat_counts(cfg).reshape(10, 4)
    per_rel = counts[0]
    assert (counts == per_rel).all() and sorted(per_rel.tolist()) == [3, 3, 3, 7]


def test_apportion_is_exact() -> None:
    w = np.random.default_rng(0).random(1000) ** 4
    for total, floor in [(5000, 1), (1000, 1), (123457, 3)]:
        x = apportion(w, total, floor)
        assert x.sum() == total and x.min() >= floor
    with pytest.raises(ValueError):
        apportion(w, 999, 1)


# -- configs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exposure", "field"),
    [
        ({"kind": "zipff"}, "exposure.kind"),
        ({"kidn": "zipf"}, "exposure.kidn"),
        ({"kind": "zipf", "a": 0}, "exposure.a"),
        ({"kind": "zipf", "a": -1.0}, "exposure.a"),
        ({"kind": "zipf", "over": "objects"}, "exposure.over"),
        ({"kind": "zipf", "head_repeats": 3}, "exposure.head_repeats"),
        ({"a": 2.0}, "exposure.a"),
        ({"over": "facts"}, "exposure.over"),
        ({"min_repeats": 2}, "exposure.min_repeats"),
        ({"kind": "head_tail", "head_repeats": 5}, "exposure.tail_repeats"),
        (
            {"kind": "head_tail", "head_repeats": 5, "tail_repeats": 1, "head_share": 1.0},
            "exposure.head_share",
        ),
        ({"kind": "zipf", "min_repeats": 0}, "exposure.min_repeats"),
        ({"kind": "zipf", "min_repeats": 9}, "exposure.min_repeats"),
        ({"fixed": [[0, 0]]}, "exposure.fixed"),
        ({"fixed": [[0, 0, -1]]}, "exposure.fixed"),
        ({"fixed": [[0, 0, 2], [0, 0, 3]]}, "exposure.fixed"),
        ({"fixed": [[30, 0, 2]]}, "exposure.fixed"),
        ({"fixed": [[0, 4, 2]]}, "exposure.fixed"),
        ("zipf", "exposure"),
    ],
)
def test_bad_exposure_is_refused_in_one_line(exposure: object, field: str) -> None:
    with pytest.raises(ConfigError) as e:
        WorldConfig.from_dict({**world_preset("tiny"), **SMALL, "exposure": exposure})
    assert e.value.field == field
    assert "\n" not in str(e.value) and str(e.value).startswith(f"{field}: ")


def test_reference_vocab_refuses_a_varied_exposure() -> None:
    with pytest.raises(ConfigError, match=r"^exposure: .*set vocab=behemoth"):
        WorldConfig.from_dict({"vocab": "reference", "exposure": {"kind": "zipf"}})


def test_config_round_trips_and_the_default_is_not_written() -> None:
    cfg = WorldConfig.from_dict({**world_preset("zipf")})
    assert cfg.exposure.kind == "zipf" and cfg.to_dict()["exposure"]["a"] == 1.0
    assert "head_share" not in cfg.to_dict()["exposure"]  # not read by zipf: not written
    assert WorldConfig.from_dict(cfg.to_dict()) == cfg
    assert "exposure" not in WorldConfig.from_dict({}).to_dict()
    assert "exposure" not in WorldConfig.from_dict({}).model_dump_json()


# -- uniform worlds: the bytes of the generator before exposure existed ---------------------------

#: Recorded with the generator before this change (commit 69fbbcd): fingerprint, and a digest of
#: every file but provenance.json (world.json read without the new exposure checksum).
BEFORE: dict[str, tuple[dict[str, Any], str, str]] = {
    "shuffle": (
        {"subjects": 40, "repeats": 6, "shard_units": 100},
        "2b43650a13f1f0c3",
        "a70941ff4bb0472200c3b1ea82e780a0",
    ),
    "bio_nested_questions": (
        {"subjects": 30, "repeats": 4, "shuffle": False, "nested_objects": 4}
        | {"questions_frac": 0.2, "shard_units": 50},
        "288d7e5ff3ee5b2b",
        "0b5f15bdd26d2cb77c5a3837508aca2b",
    ),
    "inversions_minority": (
        {"subjects": 30, "repeats": 5, "inversion_frac": 0.3, "minority_entity_frac": 0.2}
        | {"shard_units": 64},
        "3626a6d2be51133c",
        "4d98c91c00ad532694907e9b227bdca7",
    ),
    "nested_shuffle_questions": (
        {"subjects": 30, "repeats": 3, "nested_objects": 4, "questions_frac": 0.2},
        "88e96a89a81dee10",
        "ee3c8b0a42c7fe737dfee4c7acb6b03a",
    ),
    "reference_nonsense": (
        {"subjects": 30, "repeats": 3, "vocab": "reference", "template": "nonsense"}
        | {"inversion_frac": 0.5},
        "c93538baa5f52e12",
        "fc4b450e30bcfe6441774f397452a859",
    ),
}


def _digest(root: Path) -> str:
    skip = ("provenance.json", "world.json", EXPOSURE_FILE)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name not in skip)
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    meta = json.loads((root / "world.json").read_text())
    meta["files"].pop(EXPOSURE_FILE)
    h.update(json.dumps(meta, sort_keys=True).encode())
    return h.hexdigest()[:32]


@pytest.mark.parametrize("name", list(BEFORE))
def test_uniform_worlds_are_byte_identical_to_before(tmp_path: Path, name: str) -> None:
    over, fingerprint, digest = BEFORE[name]
    cfg = WorldConfig.from_dict({**world_preset("tiny"), **over})
    world = generate_world(cfg, tmp_path / name, workers=1)
    assert world.fingerprint == fingerprint
    assert _digest(world.path) == digest
    assert world.corpus.fact_counts is None  # the layout of before, not merely equal counts
    counts = fact_exposure(world)
    S, R = world.graph.objects.shape
    if not cfg.questions_frac:
        assert (counts[: S * R] == cfg.repeats).all()


def test_a_world_without_the_table_counts_it_on_demand(
    worlds: dict[str, World], tmp_path: Path
) -> None:
    import shutil

    src = worlds["zipf-bio-nested-questions"].path
    old = tmp_path / "old"
    shutil.copytree(src, old)
    (old / EXPOSURE_FILE).unlink()
    meta = json.loads((old / "world.json").read_text())
    meta["files"].pop(EXPOSURE_FILE)
    (old / "world.json").write_text(json.dumps(meta))
    world = World.load(old)
    assert load_exposure(world).equals(World.load(src).exposure)
    np.testing.assert_array_equal(fact_exposure(world), fact_exposure(World.load(src)))


def test_the_table_is_reproducible(worlds: dict[str, World], tmp_path: Path) -> None:
    world = worlds["head_tail-shuffle-nested-questions"]
    again = generate_world(world.config, tmp_path / "again", shards=False)
    assert (again.path / EXPOSURE_FILE).read_bytes() == (world.path / EXPOSURE_FILE).read_bytes()
    assert again.fingerprint == world.fingerprint


def test_a_damaged_table_refuses_the_world(worlds: dict[str, World], tmp_path: Path) -> None:
    import shutil

    from behemoth.errors import BehemothError

    copy = tmp_path / "w"
    shutil.copytree(worlds["zipf-shuffle-inversions-minority"].path, copy)
    data = (copy / EXPOSURE_FILE).read_bytes()
    (copy / EXPOSURE_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(BehemothError, match=rf"^WORLD: .*{EXPOSURE_FILE} is not the file"):
        World.load(copy)
    (copy / EXPOSURE_FILE).unlink()
    with pytest.raises(BehemothError, match=rf"^WORLD: .*{EXPOSURE_FILE} is missing"):
        World.load(copy)


def test_the_summary_states_the_exposure(worlds: dict[str, World]) -> None:
    text = worlds["zipf-shuffle-inversions-minority"].summary()
    counts = repeat_counts(worlds["zipf-shuffle-inversions-minority"].config)
    line = f"exposure   zipf over facts, a=1.2: {counts.min()}-{counts.max()} copies per fact"
    assert line in text


def test_an_excluded_fact_counts_nothing(worlds: dict[str, World]) -> None:
    from behemoth.world.exclude import exclusion_mask

    world = worlds["zipf-shuffle-inversions-minority"]
    mask = exclusion_mask(world.graph, so_edges=np.array([0, 5, 17]))
    corpus = Corpus(world.config, world.graph, world.vocab, exclude=mask)
    want = fact_exposure(world)
    want[mask] = 0
    got = exposure_table(corpus).groupby("fact_id")["count"].sum()
    full = np.zeros_like(want)
    full[got.index] = got
    np.testing.assert_array_equal(full, want)


@pytest.mark.parametrize("shuffle", [True, False])
def test_shards_of_a_zipf_world_do_not_depend_on_workers(tmp_path: Path, shuffle: bool) -> None:
    from behemoth.world.shards import write_shards

    over = {"exposure": {"kind": "zipf", "a": 1.3}, "shuffle": shuffle, "shard_units": 300}
    cfg = WorldConfig.from_dict({**world_preset("tiny"), **SMALL, **over})
    corpus = Corpus(cfg, sample_graph(cfg), Vocabulary.from_config(cfg))
    one = write_shards(corpus, tmp_path / "one", workers=1)
    two = write_shards(corpus, tmp_path / "two", workers=2, chunk=77)
    assert one == two and len(one["shards"]) > 1


@pytest.mark.parametrize(
    "over",
    [
        {"shuffle": False, "nested_objects": 4, "questions_frac": 0.2},
        {"shuffle": False, "template": "simple_repeats"},
        {"shuffle": True, "nested_objects": 4},
    ],
)
def test_counting_one_document_per_item_equals_counting_the_pass(over: dict) -> None:
    """Subject 3 has no fact left (no biography at all), subject 29 (the last) neither."""
    gone = [[s, r, 0] for s in (3, 29) for r in range(4)]
    e = {"kind": "head_tail", "head_repeats": 6, "tail_repeats": 1, "fixed": [*gone, [5, 2, 9]]}
    cfg = WorldConfig.from_dict({**world_preset("tiny"), **SMALL, **over, "exposure": e})
    graph, vocab = sample_graph(cfg), Vocabulary.from_config(cfg)
    quick, whole = Corpus(cfg, graph, vocab), Corpus(cfg, graph, vocab)
    whole.one_per_item = lambda: None  # type: ignore[method-assign]
    assert quick.one_per_item() is not None
    table = exposure_table(quick)
    assert table.equals(exposure_table(whole))
    statements = table[table.format == "statement"]  # (questions keep their counts)
    assert not statements.subject.isin([3, 29]).any()
    assert table["count"].sum() == quick.n_sentences

"""Token shards and the two training samplers all serve the same corpus stream."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from behemoth.errors import BehemothError
from behemoth.io import read_json
from behemoth.world import World
from behemoth.world.sampler import ShardSampler, StreamSampler
from behemoth.world.shards import read_shards, write_shards
from tests.world.conftest import WorldFactory
from tests.world.streams import build, one_pass


def shard_tokens(world: World) -> np.ndarray:
    index = read_json(world.path / "shards" / "index.json")
    return np.concatenate([np.asarray(m) for m in read_shards(world.path / "shards", index)])


@pytest.mark.parametrize(
    "over",
    [
        {"shard_units": 3000},
        {"shard_units": 700, "shuffle": False, "nested_objects": 4, "questions_frac": 0.2},
    ],
    ids=["shuffle", "bio-nested-questions"],
)
def test_shards_equal_the_stream(world_factory: WorldFactory, over: dict[str, object]) -> None:
    world = world_factory(shards=True, **over)
    corpus = world.corpus
    index = read_json(world.path / "shards" / "index.json")
    assert len(index["shards"]) == -(-corpus.n_units // world.config.shard_units) > 1
    toks = shard_tokens(world)
    assert toks.dtype == np.uint16
    direct = corpus.render_positions(0, corpus.n_units)
    assert np.array_equal(toks.astype(np.int64), direct)
    assert index["tokens"] == toks.size == world.meta["counts"]["tokens_written"]
    # Each shard holds exactly its range of stream positions.
    for s in index["shards"]:
        a, b = s["units"]
        part = np.fromfile(world.path / "shards" / s["file"], dtype=np.uint16)
        assert np.array_equal(part.astype(np.int64), corpus.render_positions(a, b))
        assert s["tokens"] == part.size


def test_shards_do_not_depend_on_workers_or_chunks(tmp_path: Path) -> None:
    _, _, _, corpus = build(subjects=60, repeats=10, inversion_frac=0.3, shard_units=500)
    one = write_shards(corpus, tmp_path / "one", workers=1)
    two = write_shards(corpus, tmp_path / "two", workers=2, chunk=77)
    assert one == two
    for s in one["shards"]:
        assert (tmp_path / "one" / s["file"]).read_bytes() == (
            tmp_path / "two" / s["file"]
        ).read_bytes()


def test_large_vocabulary_shards_are_uint32(world_factory: WorldFactory) -> None:
    world = world_factory(shards=True, subjects=5, relations=10, objects=7000, repeats=2)
    assert world.vocab.size > 65536
    toks = shard_tokens(world)
    assert toks.dtype == np.uint32 and toks.max() > 65535
    assert np.array_equal(
        toks.astype(np.int64), world.corpus.render_positions(0, world.corpus.n_units)
    )


# -- StreamSampler -------------------------------------------------------------------------------


def test_stream_sampler_serves_the_stream_in_order() -> None:
    _, _, _, corpus = build(subjects=30, repeats=4)
    sampler = StreamSampler(corpus, seq_len=64, batch_size=3, chunk_units=50)
    batches = [sampler.next_batch() for _ in range(30)]
    assert all(b.shape == (3, 64) and b.dtype == np.int64 for b in batches)
    flat = np.concatenate([b.reshape(-1) for b in batches])
    # 5760 tokens > one pass (480 sentences x 11 tokens = 5280): the batches cross into the
    # next pass, which is the next cycle of the stream.
    n = corpus.n_units
    assert flat.size > corpus.render_positions(0, n).size
    stream = corpus.render_positions(0, 2 * n)
    assert np.array_equal(flat, stream[: flat.size])
    assert sampler.tokens_served == flat.size


def test_stream_sampler_cycles_through_fresh_passes() -> None:
    _, _, _, corpus = build(subjects=6, relations=2, repeats=2)
    per_pass = corpus.render_positions(0, corpus.n_units).size
    sampler = StreamSampler(corpus, seq_len=per_pass, batch_size=1, chunk_units=7)
    first, second = sampler.next_batch()[0], sampler.next_batch()[0]
    assert np.array_equal(first, corpus.render_positions(0, corpus.n_units))
    assert np.array_equal(second, corpus.render_positions(corpus.n_units, 2 * corpus.n_units))
    # A new order of the same facts.
    assert not np.array_equal(first, second)
    facts = [sorted(s.fact for s in one_pass(corpus, cycle)) for cycle in (0, 1)]
    assert facts[0] == facts[1]


def test_stream_sampler_resumes_identically() -> None:
    _, _, _, corpus = build(subjects=40, repeats=5, inversion_frac=0.2)
    a = StreamSampler(corpus, seq_len=32, batch_size=4, chunk_units=33)
    for _ in range(7):
        a.next_batch()
    state = json.loads(json.dumps(a.state_dict()))  # a checkpoint survives JSON
    expected = [a.next_batch() for _ in range(9)]
    b = StreamSampler(corpus, seq_len=32, batch_size=4, chunk_units=33)
    b.load_state_dict(state)
    got = [b.next_batch() for _ in range(9)]
    assert all(np.array_equal(x, y) for x, y in zip(expected, got))
    # A sampler that did not restore the state serves other batches (the test can fail).
    c = StreamSampler(corpus, seq_len=32, batch_size=4, chunk_units=33)
    assert not np.array_equal(c.next_batch(), expected[0])


# -- ShardSampler --------------------------------------------------------------------------------


def test_shard_sampler_yields_the_shard_tokens_and_wraps(world_factory: WorldFactory) -> None:
    world = world_factory(shards=True, shard_units=3000)
    toks = shard_tokens(world).astype(np.int64)
    sampler = world.sampler(seq_len=1000, batch_size=8, source="shards")
    assert isinstance(sampler, ShardSampler)
    n_batches = toks.size // 8000 + 2  # past the end: wraps to the start
    flat = np.concatenate([sampler.next_batch().reshape(-1) for _ in range(n_batches)])
    assert np.array_equal(flat, np.resize(toks, flat.size))
    # Same tokens as the stream sampler over the first pass.
    stream = world.sampler(seq_len=1000, batch_size=8, source="stream")
    assert isinstance(stream, StreamSampler)
    s_flat = np.concatenate([stream.next_batch().reshape(-1) for _ in range(toks.size // 8000)])
    assert np.array_equal(s_flat, toks[: s_flat.size])


def test_shard_sampler_resumes(world_factory: WorldFactory) -> None:
    world = world_factory(shards=True, shard_units=3000)
    a = world.sampler(seq_len=64, batch_size=4, source="shards")
    for _ in range(5):
        a.next_batch()
    state = json.loads(json.dumps(a.state_dict()))
    expected = [a.next_batch() for _ in range(4)]
    b = world.sampler(seq_len=64, batch_size=4, source="shards")
    b.load_state_dict(state)
    assert all(np.array_equal(x, b.next_batch()) for x in expected)


def test_sampler_sources_are_checked(world_factory: WorldFactory) -> None:
    world = world_factory()  # no shards
    with pytest.raises(BehemothError, match="no shards"):
        world.sampler(8, 2, source="shards")
    with pytest.raises(BehemothError, match="unknown source"):
        world.sampler(8, 2, source="disk")


def test_order_seed_reorders_the_same_documents(tiny_world) -> None:
    """A replicate's data order: another permutation of one pass's very documents; 0 is the
    world's own order (the shards')."""
    from behemoth.world.corpus import Corpus

    w = tiny_world
    own = Corpus(w.config, w.graph, w.vocab)
    same = Corpus(w.config, w.graph, w.vocab, order_seed=0)
    other = Corpus(w.config, w.graph, w.vocab, order_seed=3)
    n = own.n_units
    a, b, c = (x.units_at(np.arange(n)) for x in (own, same, other))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.array_equal(np.sort(a), np.sort(c))  # each document exactly once per pass
    ta = own.render_positions(0, n)
    tc = other.render_positions(0, n)
    assert np.array_equal(np.bincount(ta), np.bincount(tc, minlength=len(np.bincount(ta))))

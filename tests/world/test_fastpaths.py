"""The generator's fast paths give exactly what the plain computations give."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from behemoth.world.config import WorldConfig
from behemoth.world.corpus import Corpus
from behemoth.world.graph import sample_graph
from behemoth.world.rng import Permutation, hash_u64, mix64
from behemoth.world.shards import write_shards
from behemoth.world.templates import Facts, get_template, pack_rows, render, render_mixed
from behemoth.world.vocab import DOT, EOT, Vocabulary


def _plain_permutation(p: Permutation, idx: np.ndarray) -> np.ndarray:
    """The Feistel network with a hash per element and round, and cycle walking."""
    mask, h = np.uint64((1 << p.half) - 1), np.uint64(p.half)

    def encrypt(x: np.ndarray) -> np.ndarray:
        left, right = x >> h, x & mask
        for k in p.keys:
            left, right = right, left ^ (mix64(right ^ k) & mask)
        return (left << h) | right

    x = encrypt(idx.astype(np.uint64))
    while (bad := x >= np.uint64(p.n)).any():
        x[bad] = encrypt(x[bad])
    return x.astype(np.int64)


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 300_000_000, 3 * 2**31 + 5, 5 * 10**12])
def test_tabulated_permutation_equals_hashed_rounds(n: int) -> None:
    p = Permutation(n, np.uint64(0xC0FFEE))
    idx = np.unique(np.linspace(0, n - 1, num=min(n, 20_000)).astype(np.int64))
    np.testing.assert_array_equal(p(idx), _plain_permutation(p, idx))
    if n <= 1000:
        assert sorted(p(np.arange(n)).tolist()) == list(range(n))


def _facts(n: int, k: int, seed: int) -> Facts:
    rng = np.random.default_rng(seed)
    subj = rng.integers(100, 200, size=(n, k))
    subj[rng.random(n) < 0.2, 1:] = -1  # O-NO rows: one token in the subject slot
    rel, obj = rng.integers(200, 210, size=n), rng.integers(300, 400, size=n)
    return Facts(subj, rel, obj, hash_u64(np.uint64(seed), np.arange(n)))


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize(
    "names", [("sro",), ("sro", "rso", "osr"), ("nonsense_sro", "question"), ("simple_repeats",)]
)
def test_render_mixed_equals_row_by_row_packing(k: int, names: tuple[str, ...]) -> None:
    vocab = Vocabulary(200, 4, 20, 0, 1000)
    facts = _facts(500, k, seed=len(names) + k)
    ids = np.random.default_rng(k).integers(0, len(names), size=500)
    flat, lengths = render_mixed(ids, names, facts, vocab, (DOT, EOT))
    expect, expect_len = [], []
    for i in range(500):
        mat, _ = render(get_template(names[ids[i]]), facts.take(np.array([i])), vocab)
        row, n = pack_rows(mat, (DOT, EOT))
        expect.append(row)
        expect_len.append(int(n[0]))
    np.testing.assert_array_equal(lengths, expect_len)
    np.testing.assert_array_equal(flat, np.concatenate(expect))


def _assert_same_files(one: Path, two: Path, index: dict) -> None:
    """Every shard of ``index`` has the same bytes in both directories, and ``two`` holds
    nothing else (no piece left behind)."""
    for s in index["shards"]:
        assert (one / s["file"]).read_bytes() == (two / s["file"]).read_bytes()
    assert sorted(p.name for p in two.iterdir()) == [s["file"] for s in index["shards"]]


@pytest.mark.parametrize(
    "overrides",
    [{"subjects": 400}, {"subjects": 300, "shuffle": False, "nested_objects": 4}],
)
def test_shards_split_into_pieces_are_identical(tmp_path: Path, overrides: dict) -> None:
    cfg = WorldConfig(relations=4, objects=20, repeats=5, **overrides)
    corpus = Corpus(cfg, sample_graph(cfg), Vocabulary.from_config(cfg))
    one = write_shards(corpus, tmp_path / "one", workers=1)
    two = write_shards(corpus, tmp_path / "two", workers=2, chunk=97)  # 1 shard, 8 pieces
    assert one == two
    _assert_same_files(tmp_path / "one", tmp_path / "two", two)
    stream = corpus.render_positions(0, corpus.n_units).astype(corpus.vocab.dtype)
    assert (tmp_path / "one" / one["shards"][0]["file"]).read_bytes() == stream.tobytes()


def _refuse_write(monkeypatch: pytest.MonkeyPatch, nth: int) -> None:
    """Make the ``nth`` call of ``os.write`` fail with EINVAL (as a refused direct write does)."""
    real, calls = os.write, []

    def write(fd: int, data: memoryview) -> int:
        calls.append(1)
        if len(calls) == nth:
            raise OSError(22, "Invalid argument")
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize("refuse", [False, True])
def test_direct_writer_writes_exact_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refuse: bool
) -> None:
    from behemoth.world.shards import DirectWriter

    if refuse:  # the first direct write is refused (EINVAL): it must go on with plain writes
        _refuse_write(monkeypatch, 1)
    rng = np.random.default_rng(1)
    parts = [rng.integers(0, 2**16, size=n, dtype=np.uint16) for n in (1, 4095, 3_000_001, 7)]
    w = DirectWriter(tmp_path / "x.bin")
    for a in parts:
        w.write(a)
    w.close()
    assert (tmp_path / "x.bin").read_bytes() == b"".join(a.tobytes() for a in parts)


@pytest.mark.parametrize("refuse", [False, True])
def test_direct_writers_fill_one_file_at_offsets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refuse: bool
) -> None:
    """Pieces written at block-aligned offsets of one file, last one first (so that the file
    already extends past the earlier pieces): the file holds them in order once truncated."""
    from behemoth.world.shards import DirectWriter

    if refuse:  # one direct write refused: that writer goes on with plain writes, same offset
        _refuse_write(monkeypatch, 2)
    rng = np.random.default_rng(2)
    sizes = (2048, 4096 * 600, 2 * 1024 * 1024 + 11)  # uint16: 1 block, 600 blocks, ragged end
    parts = [rng.integers(0, 2**16, size=n, dtype=np.uint16) for n in sizes]
    path = tmp_path / "x.bin"
    path.write_bytes(b"")
    offsets = np.concatenate([[0], np.cumsum([a.nbytes for a in parts])])
    for a, off in reversed(list(zip(parts, offsets))):
        w = DirectWriter(path, int(off))
        w.write(a[: len(a) // 3])
        w.write(a[len(a) // 3 :])
        w.close()
    os.truncate(path, int(offsets[-1]))
    assert path.read_bytes() == b"".join(a.tobytes() for a in parts)
    with pytest.raises(ValueError, match="multiple of 4096"):
        DirectWriter(path, 100)


@pytest.mark.parametrize("shard_units", [None, 5000])
def test_equal_length_documents_are_written_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shard_units: int | None
) -> None:
    """Documents of one length: a shard's pieces go straight into its file (nothing to join),
    with the same bytes as one writer (one shard of 14,000 documents, or 5,000 + 5,000 + 4,000)."""
    from behemoth.world import shards as mod

    over = {"shard_units": shard_units} if shard_units else {}
    cfg = WorldConfig(subjects=700, relations=4, objects=20, repeats=5, **over)
    corpus = Corpus(cfg, sample_graph(cfg), Vocabulary.from_config(cfg))
    assert mod.document_width(corpus) is not None
    joined: list[Path] = []
    in_place: set[str] = set()
    real, real_in_place = mod._concatenate, mod._in_place

    def spy(parts: list[Path], dest: Path) -> None:
        joined.append(dest)
        real(parts, dest)

    def spy_in_place(path: Path) -> Path:
        in_place.add(path.name)
        return real_in_place(path)

    one = write_shards(corpus, tmp_path / "one", workers=1)
    monkeypatch.setattr(mod, "_concatenate", spy)
    monkeypatch.setattr(mod, "_in_place", spy_in_place)
    two = write_shards(corpus, tmp_path / "two", workers=3, chunk=101)
    assert one == two and not joined
    assert in_place == {s["file"] for s in two["shards"]}  # every shard in pieces
    _assert_same_files(tmp_path / "one", tmp_path / "two", two)


TABLE_WORLDS = [
    {},  # every document one S-O sentence: full-width rows
    {"nested_objects": 4, "questions_frac": 0.3, "max_subject_words": 10},  # ragged rows
    {"vocab": "reference", "nested_objects": 5, "nested_upweight": 2},
]


@pytest.mark.parametrize("overrides", TABLE_WORLDS)
def test_sentence_table_gives_the_rendered_stream(overrides: dict) -> None:
    cfg = WorldConfig(subjects=60, relations=3, objects=20, repeats=4, **overrides)
    graph, vocab = sample_graph(cfg), Vocabulary.from_config(cfg)
    fast = Corpus(cfg, graph, vocab)
    plain = Corpus(cfg, graph, vocab)
    plain.__dict__["table"] = None  # the cached property, switched off: render every document
    assert fast.table is not None and plain.table is None
    n = fast.n_units
    for a, b in [(0, n), (n - 37, 2 * n + 11), (5 * n + 3, 5 * n + 4), (7, 7)]:  # passes; empty
        for dtype in (None, vocab.dtype):
            np.testing.assert_array_equal(
                fast.render_positions(a, b, dtype), plain.render_positions(a, b, dtype)
            )
    gids = np.random.default_rng(0).integers(0, 3 * n, size=500)
    np.testing.assert_array_equal(fast.render_units(gids), plain.render_units(gids))


@pytest.mark.parametrize(
    "overrides",
    [
        {"shuffle": False},
        {"inversion_frac": 0.2},
        {"template": "nonsense"},
        {"template": "simple_repeats"},
        {"minority_entity_frac": 0.5},
        {"repeats": 1},
    ],
)
def test_documents_with_random_choices_are_not_tabulated(overrides: dict) -> None:
    cfg = WorldConfig(**{"subjects": 60, "relations": 3, "objects": 20, "repeats": 4, **overrides})
    assert Corpus(cfg, sample_graph(cfg), Vocabulary.from_config(cfg)).table is None


@pytest.mark.parametrize("workers", [1, 2])
def test_work_alongside_the_shard_writers_runs_and_its_errors_propagate(
    tmp_path: Path, workers: int
) -> None:
    cfg = WorldConfig(subjects=50, relations=3, objects=20, repeats=3)
    corpus = Corpus(cfg, sample_graph(cfg), Vocabulary.from_config(cfg))
    done: list[str] = []
    write_shards(corpus, tmp_path / "a", workers=workers, alongside=[lambda: done.append("x")])
    assert done == ["x"]

    def fail() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_shards(corpus, tmp_path / "b", workers=workers, alongside=[fail])

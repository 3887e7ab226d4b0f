"""Same config + seed -> byte-identical files; another seed -> another world; no global RNG."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from behemoth.world import World, WorldConfig, generate_world, sample_graph
from behemoth.world.presets import world_preset

TINY = world_preset("tiny")
RICH: dict[str, object] = {
    "subjects": 60,
    "nested_objects": 4,
    "questions_frac": 0.2,
    "inversion_frac": 0.3,
    "shard_units": 2000,
    "max_subject_words": 10,
}


def files(root: Path) -> dict[str, bytes]:
    """Every file under a world directory except provenance.json, by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "provenance.json"
    }


def gen(tmp: Path, name: str, over: dict[str, object], workers: int = 1) -> World:
    cfg = WorldConfig.from_dict({**TINY, **over})
    return generate_world(cfg, tmp / name, shards=True, workers=workers)


@pytest.mark.parametrize(
    "over",
    [{}, RICH, {"minority_entity_frac": 0.2, "shuffle": False, "template": "nonsense"}],
    ids=["tiny", "nested-questions-inverted", "minority-bio-nonsense"],
)
def test_same_config_and_seed_give_identical_bytes(tmp_path: Path, over: dict[str, object]) -> None:
    a = gen(tmp_path, "a", over)
    b = gen(tmp_path, "b", over, workers=2)
    fa, fb = files(a.path), files(b.path)
    assert set(fa) == set(fb)
    assert {
        "world.json",
        "graph.parquet",
        "probes.parquet",
        "tokenizer.json",
        "shards/index.json",
        "shards/train_00000.bin",
    } <= set(fa)
    for name in fa:
        assert fa[name] == fb[name], name
    assert (a.path / "provenance.json").is_file()
    assert a.fingerprint == b.fingerprint


def test_another_seed_gives_another_world(tmp_path: Path) -> None:
    a = gen(tmp_path, "a", RICH)
    b = gen(tmp_path, "b", {**RICH, "seed": 1})
    assert a.fingerprint != b.fingerprint
    assert (a.graph.objects != b.graph.objects).mean() > 0.8  # ~1 - 1/20 of edges differ
    assert (a.graph.nested_of != b.graph.nested_of).any()
    assert (a.graph.question_subjects != b.graph.question_subjects).any()
    fa, fb = files(a.path), files(b.path)
    # The tokenizer depends on the layout only, so it is the same; the content differs.
    assert fa["tokenizer.json"] == fb["tokenizer.json"]
    for name in ("graph.parquet", "probes.parquet", "shards/train_00000.bin"):
        assert fa[name] != fb[name], name
    # The stream (order and sentence forms) differs too.
    sa = a.corpus.render_positions(0, 200)
    sb = b.corpus.render_positions(0, 200)
    assert not np.array_equal(sa, sb)


def np_global_state() -> np.ndarray:
    state: Any = np.random.get_state()  # noqa: NPY002 - reading the global state on purpose
    return np.array(state[1], copy=True)


def test_no_global_random_state_is_used_or_changed(tmp_path: Path) -> None:
    outs = []
    for i, s in enumerate((1, 12345)):
        random.seed(s)
        np.random.seed(s)  # noqa: NPY002 - the point: global state set on purpose
        torch.manual_seed(s)
        np_state = np_global_state()
        states = (random.getstate(), np_state, torch.get_rng_state().clone())
        world = gen(tmp_path, f"w{i}", RICH)
        world.corpus.render_positions(0, 100)
        world.sampler(16, 2).next_batch()
        # The global generators were neither consumed nor reseeded.
        assert random.getstate() == states[0]
        assert np.array_equal(np_global_state(), states[1])
        assert torch.equal(torch.get_rng_state(), states[2])
        outs.append(files(world.path))
    assert outs[0] == outs[1]


def test_sample_graph_is_a_pure_function() -> None:
    cfg = WorldConfig.from_dict({**TINY, **RICH, "minority_entity_frac": 0.0})
    a = sample_graph(cfg)
    sample_graph(WorldConfig.from_dict({**TINY, "seed": 9}))  # unrelated call in between
    b = sample_graph(cfg)
    for name in ("objects", "minority", "nested_of", "question_subjects"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_world_json_records_the_resolved_config_and_seed(tmp_path: Path) -> None:
    w = gen(tmp_path, "w", {**RICH, "seed": 3})
    assert WorldConfig.from_dict(w.meta["config"]) == WorldConfig.from_dict(
        {**TINY, **RICH, "seed": 3}
    )
    assert World.load(w.path).config.seed == 3
    prov = (w.path / "provenance.json").read_text()
    assert "behemoth" in prov

"""Shared fixtures: small worlds generated once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from behemoth.world import World, WorldConfig, generate_world
from behemoth.world.presets import world_preset

# Commands under test print their one-line errors and summaries without "working" heartbeats,
# which a loaded machine would otherwise interleave after 5 s of silence; tests/test_heartbeat.py
# turns them on where it tests them (subprocesses there get their own environment).
os.environ.setdefault("BEHEMOTH_HEARTBEAT_EVERY", "0")


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The ``tiny`` preset world (with shards), seed 0."""
    out = tmp_path_factory.mktemp("worlds") / "tiny"
    return generate_world(WorldConfig.from_dict(world_preset("tiny")), out)


def make_world(tmp: Path, **overrides: object) -> World:
    """Generate a small world with overrides of the ``tiny`` preset (no shards)."""
    cfg = WorldConfig.from_dict({**world_preset("tiny"), **overrides})
    return generate_world(cfg, tmp / "world", shards=False)


@pytest.fixture(scope="session")
def tiny_model(tiny_world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of the ``tiny`` model preset trained on ``tiny_world`` (seed 0) until it knows
    the training template's facts; load it with ``behemoth.model.load_model(path, tiny_world)``."""
    from behemoth.model import model_preset, resolve_run, train_model

    out = tmp_path_factory.mktemp("models") / "tiny"
    return train_model(tiny_world, resolve_run(model_preset("tiny")), out, progress=False)

"""World fixtures for the generator's tests: small worlds written once per session."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from behemoth.world import World, WorldConfig, generate_world
from behemoth.world.presets import world_preset

WorldFactory = Callable[..., World]


@pytest.fixture(scope="session")
def world_factory(tmp_path_factory: pytest.TempPathFactory) -> WorldFactory:
    """``world_factory(shards=False, **overrides)``: a ``tiny``-preset world with overrides,
    generated on first request and shared by every test that asks for the same one."""
    cache: dict[tuple[object, ...], World] = {}

    def get(shards: bool = False, **overrides: object) -> World:
        key = (shards, *sorted(overrides.items()))
        if key not in cache:
            out = tmp_path_factory.mktemp("world") / "w"
            cfg = WorldConfig.from_dict({**world_preset("tiny"), **overrides})
            cache[key] = generate_world(cfg, out, shards=shards, workers=1)
        return cache[key]

    return get

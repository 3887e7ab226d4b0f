"""World variants for the scenario and evaluation tests (generated once per session)."""

from __future__ import annotations

import pytest

from behemoth.world import World
from tests.conftest import make_world


@pytest.fixture(scope="session")
def nested_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("nested"), nested_objects=4)


@pytest.fixture(scope="session")
def corr_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(
        tmp_path_factory.mktemp("corr"), correlated_pair=True, correlation_strength=0.9
    )


@pytest.fixture(scope="session")
def q_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("questions"), questions_frac=0.2)


@pytest.fixture(scope="session")
def nonsense_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("nonsense"), template="nonsense", inversion_frac=0.3)

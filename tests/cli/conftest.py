"""Fixtures for the command-line tests: a briefly trained model (seconds, not minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from behemoth.world import World

QUICK_TRAIN = [
    "--set",
    "train.max_tokens=8192",
    "--set",
    "train.warmup_steps=2",
    "--set",
    "train.eval_sets=[sro]",
]


@pytest.fixture(scope="session")
def quick_model(tiny_world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``tiny`` model preset trained for 4 steps on ``tiny_world``: its files are real,
    its knowledge is not (enough for every check that precedes or surrounds the computing)."""
    from behemoth.model import model_preset, resolve_run, train_model

    out = tmp_path_factory.mktemp("models") / "quick"
    over = [QUICK_TRAIN[i] for i in range(1, len(QUICK_TRAIN), 2)]
    return train_model(
        tiny_world, resolve_run(model_preset("tiny"), None, over), out, progress=False
    )

"""Trained replicates of a model: the same recipe trained again with its own init and data order.

A finding about editing is a statement about a trained model unless it holds over several. A
behemoth model directory records its recipe (``behemoth_model.json``: the resolved
:class:`~behemoth.model.config.RunConfig`); replicate ``i`` of it is
:meth:`RunConfig.replicate(i) <behemoth.model.config.RunConfig.replicate>` trained on the same
world (replicate 0 is the model itself). Each replicate is trained once, under
``<cache>/models/<key>`` with a lock, keyed like a sweep's shared models (the world's
fingerprint and directory name and the resolved recipe), so a sweep's ``--shared`` directory
and an experiment's cache hold the same artifacts.

The recipes of an :class:`~behemoth.experiments.config.ExperimentConfig` (a world or model given
as a preset + overrides, and the model's replicate) are resolved to directories here too, by
:func:`resolve_world` and :func:`resolve_model` (:func:`shared_world` / :func:`shared_model`
under the run's cache: a sweep's shared directory is that cache), so a sweep's run and a
``behemoth edit`` of the same config build and find the very same artifacts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from behemoth.errors import BehemothError

if TYPE_CHECKING:
    from behemoth.experiments.config import ExperimentConfig
    from behemoth.world.world import World


def default_cache() -> Path:
    """``$BEHEMOTH_CACHE``, else ``~/.cache/behemoth`` (``ExperimentConfig.cache``'s default)."""
    root = os.environ.get("BEHEMOTH_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "behemoth"


def cache_root(config: ExperimentConfig) -> Path:
    """The run's cache: ``config.cache``, else :func:`default_cache` (never part of a run id)."""
    return Path(config.cache) if config.cache else default_cache()


def resolve_world(config: ExperimentConfig) -> World:
    """The world of ``config``: its recipe generated once under the run's cache, its directory,
    else the one the model directory records."""
    from behemoth.experiments.config import WorldRecipe
    from behemoth.experiments.load import load_run_world
    from behemoth.world.world import World

    if isinstance(config.world, WorldRecipe):
        return shared_world(cache_root(config), config.world.resolved())
    if not isinstance(config.model, str):
        assert config.world is not None  # ExperimentConfig refuses a model recipe without one
        return World.load(config.world)
    return load_run_world(config.model, config.world)


def resolve_model(config: ExperimentConfig, world: World, build: bool = True) -> Path:
    """The model directory of ``config``: its recipe trained once on ``world`` under the run's
    cache (``build=False``: only where it is or would be), else the directory it names."""
    if isinstance(config.model, str):
        return Path(config.model)
    return shared_model(cache_root(config), world, config.model.resolved(), build)


def shared_world(shared: Path, config: dict[str, Any]) -> World:
    """The world of ``config`` (a resolved WorldConfig dict), generated once under ``shared``."""
    from behemoth.experiments.sweep.cache import shared_artifact
    from behemoth.world import World, WorldConfig, generate_world

    d = shared_artifact(
        shared,
        "worlds",
        config,
        lambda p: generate_world(WorldConfig.from_dict(config), p, shards=False),
        lambda p: (p / "world.json").is_file(),
    )
    return World.load(d)


def shared_model(shared: Path, world: World, config: dict[str, Any], build: bool = True) -> Path:
    """The model directory of ``config`` (a resolved RunConfig dict) trained once on ``world``
    (``build=False``: only where it is or would be)."""
    from behemoth.experiments.sweep.cache import artifact_dir, shared_artifact
    from behemoth.model import RunConfig, train_model

    # the world's directory name is its config's hash: a world regenerated differently (e.g. by
    # a new version) under the same fingerprint never gets a model trained on the old one
    key = model_key(world, config)
    if not build:
        return artifact_dir(shared, "models", key)
    return shared_artifact(
        shared,
        "models",
        key,
        lambda p: train_model(
            world, RunConfig.from_dict(config), p, resume=True, force=True, progress=False
        ),
        lambda p: (p / "behemoth_model.json").is_file(),
    )


def model_key(world: World, config: dict[str, Any]) -> dict[str, Any]:
    """The identity of a model trained on ``world`` with the resolved recipe ``config``: a world
    regenerated differently under the same fingerprint never gets a model trained on the old one."""
    return {"world": world.fingerprint, "world_dir": Path(world.path).name, "config": config}


def trained_replicate(model_dir: str | Path, world: World, index: int, cache: str | Path) -> Path:
    """The directory of replicate ``index`` of the model in ``model_dir`` (trained once under
    ``cache``; ``index`` 0 is ``model_dir`` itself)."""
    from behemoth.model import RunConfig
    from behemoth.model.load import read_model_meta

    if index == 0:
        return Path(model_dir)
    meta = read_model_meta(model_dir)
    if "config" not in meta:
        raise BehemothError(
            f"replicates: {model_dir} records no training recipe (not trained by behemoth?); "
            "train replicates with `behemoth train --seed` or use replicates: 1"
        )
    config = RunConfig.from_dict(meta["config"]).replicate(index).to_dict()
    return shared_model(Path(cache), world, config)

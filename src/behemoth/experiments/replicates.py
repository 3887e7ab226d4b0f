"""Trained replicates of a model: the same recipe trained again with its own init and data order.

A finding about editing is a statement about a trained model unless it holds over several. A
behemoth model directory records its recipe (``behemoth_model.json``: the resolved
:class:`~behemoth.model.config.RunConfig`); replicate ``i`` of it is
:meth:`RunConfig.replicate(i) <behemoth.model.config.RunConfig.replicate>` trained on the same
world (replicate 0 is the model itself). Each replicate is trained once, under
``<cache>/models/<key>`` with a lock, keyed like a sweep's shared models (the world's
fingerprint and directory name and the resolved recipe), so a sweep's ``--shared`` directory
and an experiment's cache hold the same artifacts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from behemoth.errors import BehemothError

if TYPE_CHECKING:
    from behemoth.world.world import World


def default_cache() -> Path:
    """``$BEHEMOTH_CACHE``, else ``~/.cache/behemoth`` (the default of ``ExperimentConfig.cache``)."""
    root = os.environ.get("BEHEMOTH_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "behemoth"


def model_key(world: World, config: dict[str, Any]) -> dict[str, Any]:
    """The identity of a model trained on ``world`` with the resolved recipe ``config``: a world
    regenerated differently under the same fingerprint never gets a model trained on the old one."""
    return {"world": world.fingerprint, "world_dir": Path(world.path).name, "config": config}


def trained_replicate(model_dir: str | Path, world: World, index: int, cache: str | Path) -> Path:
    """The directory of replicate ``index`` of the model in ``model_dir`` (trained once under
    ``cache``; ``index`` 0 is ``model_dir`` itself)."""
    from behemoth.experiments.sweep.cache import shared_artifact
    from behemoth.model import RunConfig, train_model
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
    return shared_artifact(
        cache,
        "models",
        model_key(world, config),
        lambda p: train_model(
            world, RunConfig.from_dict(config), p, resume=True, force=True, progress=False
        ),
        lambda p: (p / "behemoth_model.json").is_file(),
    )

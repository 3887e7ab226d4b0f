"""The model stage: Pythia-shaped GPT-NeoX models trained from scratch on a world.

``train_model(world, cfg, out) -> Path`` trains and writes a standard Hugging Face model
directory; ``load_model(dir, world=None) -> (model, meta)`` loads one and checks its world.
Names are imported lazily (PEP 562), so ``behemoth.model.logplot`` and the configs can be used
without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # real imports for type checkers; at runtime, __getattr__ below
    from behemoth.model.build import build_model, count_params, hf_config, train_flops_per_token
    from behemoth.model.config import ModelConfig, RunConfig, TrainConfig, resolve_run
    from behemoth.model.load import check_world, load_model, read_model_meta
    from behemoth.model.presets import model_preset, model_presets
    from behemoth.model.train import train_model

__all__ = [
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "build_model",
    "check_world",
    "count_params",
    "hf_config",
    "load_model",
    "model_preset",
    "model_presets",
    "read_model_meta",
    "resolve_run",
    "train_flops_per_token",
    "train_model",
]

_EXPORTS = {
    "ModelConfig": "config",
    "RunConfig": "config",
    "TrainConfig": "config",
    "resolve_run": "config",
    "model_preset": "presets",
    "model_presets": "presets",
    "build_model": "build",
    "count_params": "build",
    "hf_config": "build",
    "train_flops_per_token": "build",
    "check_world": "load",
    "load_model": "load",
    "read_model_meta": "load",
    "train_model": "train",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"behemoth.model.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'behemoth.model' has no attribute {name!r}")

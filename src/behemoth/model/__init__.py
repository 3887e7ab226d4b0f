"""The model stage: Pythia-shaped GPT-NeoX models trained from scratch on a world.

``train_model(world, cfg, out) -> Path`` trains and writes a standard Hugging Face model
directory; ``load_model(dir, world=None) -> (model, meta)`` loads one and checks its world.
"""

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

"""Loading the model a run edits: a behemoth model with its recorded world, or any Hugging Face
causal LM with a world given alongside it.

The world loads first and alone (:func:`load_run_world`), so that everything a run checks
against the world (its scenario: subjects, relations, sizes) fails before the model is loaded
(:func:`load_run_model`); :func:`load_any_model` does both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from behemoth.errors import BehemothError
from behemoth.world.world import World


def load_run_world(directory: str, world_arg: str | None) -> World:
    """The world of the model in ``directory``: ``world_arg``, else the one a behemoth model
    records (a Hugging Face model records none: ``world_arg`` is then required)."""
    from behemoth.model import read_model_meta
    from behemoth.model.export import META

    d = Path(directory)
    if not d.is_dir():
        raise BehemothError(f"MODEL: {d} is not a directory; give a model directory")
    if (d / "world.json").is_file():
        raise BehemothError(f"MODEL: {d} is a world directory, not a model; give a model directory")
    meta = read_model_meta(d) if (d / META).exists() else None
    if meta is not None:
        return World.load(world_arg or meta["world"]["path"])
    if world_arg is None:
        raise BehemothError(
            f"--world: {d} records no world (not a `behemoth train` model); pass --world DIR"
        )
    return World.load(world_arg)


def load_run_model(directory: str, world: World) -> Any:
    """The model in ``directory`` (a behemoth model, else any HF causal LM) on ``world``."""
    from behemoth.model import load_model
    from behemoth.model.export import META
    from behemoth.model.load import check_tokenizer, load_weights

    d = Path(directory)
    if (d / META).exists():
        trained, _ = load_model(d, world)
        return trained
    from transformers import AutoModelForCausalLM

    check_tokenizer(d, world)
    model = load_weights(d, AutoModelForCausalLM)
    model.eval()
    return model


def load_any_model(directory: str, world_arg: str | None) -> tuple[Any, World]:
    """(model, world): a behemoth model with its recorded world, or any HF causal LM + --world."""
    world = load_run_world(directory, world_arg)
    return load_run_model(directory, world), world

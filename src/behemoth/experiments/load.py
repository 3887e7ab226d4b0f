"""Loading the model a run edits: a behemoth model with its recorded world, or any Hugging Face
causal LM with a world given alongside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from behemoth.errors import BehemothError
from behemoth.world.world import World


def load_any_model(directory: str, world_arg: str | None) -> tuple[Any, World]:
    """(model, world): a behemoth model with its recorded world, or any HF causal LM + --world."""
    d = Path(directory)
    if not d.is_dir():
        raise BehemothError(f"MODEL: {d} is not a directory; give a model directory")
    from behemoth.model import load_model, read_model_meta
    from behemoth.model.export import META
    from behemoth.model.load import check_tokenizer, load_weights

    if (d / "world.json").is_file():
        raise BehemothError(f"MODEL: {d} is a world directory, not a model; give a model directory")
    meta = read_model_meta(d) if (d / META).exists() else None
    if meta is not None:
        world = World.load(world_arg or meta["world"]["path"])
        trained, _ = load_model(d, world)
        return trained, world
    if world_arg is None:
        raise BehemothError(
            f"--world: {d} records no world (not a `behemoth train` model); pass --world DIR"
        )
    from transformers import AutoModelForCausalLM

    world = World.load(world_arg)
    check_tokenizer(d, world)
    model = load_weights(d, AutoModelForCausalLM)
    model.eval()
    return model, world

"""Load a trained model directory and check that it belongs to the world it is used with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import GPTNeoXForCausalLM

from behemoth.errors import BehemothError
from behemoth.io import read_json
from behemoth.model.export import FORMAT, META
from behemoth.world.world import World


def read_model_meta(directory: str | Path) -> dict[str, Any]:
    """The behemoth metadata of a model directory (world, config, result)."""
    d = Path(directory)
    path = d / META
    if not path.is_file():
        hint = (
            " (an interrupted run? pass --resume to `behemoth train`)"
            if Path(f"{d}.partial").exists()
            else ""
        )
        raise BehemothError(
            f"MODEL: {d} is not a behemoth model (no {META}){hint}; train one with `behemoth train`"
        )
    meta = read_json(path)
    if meta.get("format") != FORMAT:
        raise BehemothError(f"MODEL: {path} is not a behemoth model file")
    return dict(meta)


def check_world(meta: dict[str, Any], world: World) -> None:
    """Refuse a world other than the one the model was trained on."""
    want = meta["world"]["fingerprint"]
    if world.fingerprint != want:
        raise BehemothError(
            f"WORLD: the model was trained on world {want} ({meta['world']['path']}), not on world "
            f"{world.fingerprint} ({world.path}); use the model's own world or train a model on this one"
        )


def load_model(
    directory: str | Path,
    world: World | str | Path | None = None,
    device: str | torch.device | None = None,
) -> tuple[GPTNeoXForCausalLM, dict[str, Any]]:
    """``(model, meta)``: the model in eval mode (fp32) on ``device``; with ``world``, the
    world is checked against the one the model was trained on first."""
    meta = read_model_meta(directory)
    if world is not None:
        check_world(meta, world if isinstance(world, World) else World.load(world))
    model = GPTNeoXForCausalLM.from_pretrained(str(directory), dtype=torch.float32)
    model.config.use_cache = False
    if device is not None:
        model.to(device)  # type: ignore[arg-type]
    model.eval()
    return model, meta

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

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


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
    meta = read_json(path, "MODEL:")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BehemothError(f"MODEL: {path} is not a behemoth model file")
    w = meta.get("world")
    if not isinstance(w, dict) or not isinstance(w.get("fingerprint"), str) or "path" not in w:
        raise BehemothError(f"MODEL: {path} records no world (damaged?); retrain the model")
    return dict(meta)


def check_world(meta: dict[str, Any], world: World) -> None:
    """Refuse a world other than the one the model was trained on."""
    want = meta["world"]["fingerprint"]
    if world.fingerprint != want:
        raise BehemothError(
            f"WORLD: the model was trained on world {want} ({meta['world']['path']}), not on world "
            f"{world.fingerprint} ({world.path}); use the model's own world or train a model on this one"
        )


def check_tokenizer(directory: str | Path, world: World) -> None:
    """A model directory's own tokenizer files (copied from its world when it was written)
    must be the world's: a replaced or damaged tokenizer would silently mis-spell every prompt."""
    d = Path(directory)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        mine, theirs = d / name, Path(world.path) / name
        if mine.is_file() and theirs.is_file() and mine.read_bytes() != theirs.read_bytes():
            raise BehemothError(
                f"MODEL: {mine} differs from the world's {theirs} (damaged or replaced); "
                f"copy the world's {name} back or retrain the model"
            )


def load_weights(directory: str | Path, cls: Any = None) -> Any:
    """``cls.from_pretrained(directory)`` in fp32, refusing (one line naming the file) a
    missing, damaged or mis-shaped weights file or config, and any missing weight."""
    d = Path(directory)
    if (d / "world.json").is_file():
        raise BehemothError(f"MODEL: {d} is a world directory, not a model; give a model directory")
    cfg = d / "config.json"
    if not cfg.is_file():
        raise BehemothError(f"MODEL: {cfg} is missing; give a Hugging Face model directory")
    config = read_json(cfg, "MODEL:")  # a garbage config.json is named as such
    if not isinstance(config, dict):
        raise BehemothError(
            f"MODEL: {cfg} is not a model config (a JSON object); re-export the model"
        )
    want = getattr(getattr(cls, "config_class", None), "model_type", None)
    if want and config.get("model_type") != want:
        raise BehemothError(
            f"MODEL: {cfg} says model_type {config.get('model_type')!r}, but this loads "
            f"{want} models only (a config that does not match its weights loads garbage); "
            f"give a {want} model directory or restore its config.json"
        )
    if not any((d / n).is_file() for n in WEIGHT_FILES):
        raise BehemothError(
            f"MODEL: {d} has no weights ({' or '.join(WEIGHT_FILES)}); retrain or re-export the model"
        )
    if cls is None:
        from transformers import AutoModelForCausalLM

        cls = AutoModelForCausalLM
    try:
        model, info = cls.from_pretrained(str(d), dtype=torch.float32, output_loading_info=True)
    except Exception as e:
        text = " ".join(str(e).split())[:200] or type(e).__name__
        raise BehemothError(
            f"MODEL: the weights or config in {d} cannot be loaded ({type(e).__name__}: {text}); "
            "retrain or re-export the model"
        ) from None
    bad = {k: v for k, v in info.items() if k != "error_msgs" and v}
    bad.pop("unexpected_keys", None)  # e.g. buffers saved by another version: harmless
    if bad or info.get("error_msgs"):
        kind, keys = next(iter(bad.items())) if bad else ("error_msgs", info["error_msgs"])
        first = ", ".join(str(k) for k in list(keys)[:2])
        raise BehemothError(
            f"MODEL: the weights in {d} do not fit its config.json ({kind.replace('_', ' ')}: "
            f"{first}); retrain or re-export the model"
        )
    return model


def load_model(
    directory: str | Path,
    world: World | str | Path | None = None,
    device: str | torch.device | None = None,
) -> tuple[GPTNeoXForCausalLM, dict[str, Any]]:
    """``(model, meta)``: the model in eval mode (fp32) on ``device``; with ``world``, the
    world is checked against the one the model was trained on first."""
    meta = read_model_meta(directory)
    if world is not None:
        w = world if isinstance(world, World) else World.load(world)
        check_world(meta, w)
        check_tokenizer(directory, w)
    from behemoth.threads import announce

    announce()  # the inputs are checked, the work starts: say the threads chosen for it
    model = load_weights(directory, GPTNeoXForCausalLM)
    model.config.use_cache = False
    if device is not None:
        model.to(device)  # type: ignore[arg-type]
    model.eval()
    return model, meta

"""Write a trained model as a standard Hugging Face directory plus behemoth's metadata.

Layout::

    config.json, generation_config.json, model.safetensors   transformers' own files
    tokenizer.json, tokenizer_config.json                     copied from the world
    behemoth_model.json    world (path, fingerprint), run config, seed, result of training
    train_log.jsonl        one record per evaluation during training
    learning_curve.png     accuracy per probe set vs tokens seen
    provenance.json        versions, git revision, machine, time, wall-clock timeline

``AutoModelForCausalLM.from_pretrained(dir)`` and ``AutoTokenizer.from_pretrained(dir)`` load it
without importing behemoth.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from behemoth.io import atomic_dir, write_json
from behemoth.model.logplot import LOG, PLOT, plot_learning_curves, write_log
from behemoth.provenance import write_provenance
from behemoth.world.world import World

META = "behemoth_model.json"
FORMAT = "behemoth-model"
FORMAT_VERSION = 1
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def export_model(
    model: torch.nn.Module,
    world: World,
    out: Path,
    *,
    meta: dict[str, Any],
    log: list[dict[str, Any]],
    provenance: dict[str, Any],
    force: bool,
) -> Path:
    """Write the model directory atomically (all or nothing) and return its path."""
    with atomic_dir(out, force=force, marker=META) as tmp:
        model.config.use_cache = True  # type: ignore[union-attr]  # generation downstream
        model.save_pretrained(str(tmp), safe_serialization=True)  # type: ignore[operator]
        model.config.use_cache = False  # type: ignore[union-attr]
        for name in TOKENIZER_FILES:
            if (world.path / name).is_file():
                shutil.copyfile(world.path / name, tmp / name)
        write_json(tmp / META, {"format": FORMAT, "format_version": FORMAT_VERSION, **meta})
        write_log(tmp / LOG, log)
        c = meta["config"]["model"]
        title = (
            f"{c['layers']} layers x {c['width']} wide on world {world.fingerprint}: "
            f"{meta['result']['stopped']}"
        )
        plot_learning_curves(log, tmp / PLOT, title=title)
        write_provenance(tmp, provenance)
    return out

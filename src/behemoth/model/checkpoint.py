"""Resumable training state, written atomically (temp file + rename).

A checkpoint holds everything the next step depends on: weights, AdamW moments, the schedule's
position, the data sampler's position, torch's RNG states, the step and the evaluation log so
far. Resuming from it reproduces an uninterrupted run exactly on CPU (tested), because
training has no other source of randomness (dropout is off; batches come from the sampler).
A run killed while writing leaves the previous checkpoint intact.

The file is safetensors: every tensor (weights, AdamW moments, RNG states) is a named tensor, and
everything else (counters, log, schedule, sampler position) is JSON in the file's metadata, with
each tensor referenced by name. Reading it never unpickles anything, so a crafted checkpoint
cannot run code; the pickle format of earlier versions (``checkpoint.pt``) is refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from behemoth.errors import BehemothError

CHECKPOINT = "checkpoint.safetensors"
LEGACY_CHECKPOINT = "checkpoint.pt"  # pickle-based; never loaded
_META_KEY = "behemoth_checkpoint"


class CheckpointError(BehemothError):
    """A checkpoint that cannot be read safely (corrupt, foreign or pickle-based)."""


def _encode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Plain JSON for ``obj``; tensors move to ``tensors`` and are referenced by name."""
    if isinstance(obj, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": name}
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, (str, int)):
                raise TypeError(f"checkpoint dict key {k!r} is not str or int")
        return {"__dict__": [[k, _encode(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint value of type {type(obj).__name__} is not plain data")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return tensors[obj["__tensor__"]]
        if set(obj) == {"__tuple__"}:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        if set(obj) == {"__dict__"}:
            return {k: _decode(v, tensors) for k, v in obj["__dict__"]}
        raise ValueError(f"unexpected object with keys {sorted(obj)}")
    return obj


@dataclass
class TrainState:
    """The loop's counters and history (the parts of a checkpoint that are not tensors' owners)."""

    step: int = 0
    tokens: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None
    seconds: float = 0.0  # wall time so far (goes to provenance only)
    timeline: list[list[float]] = field(default_factory=list)  # [step, seconds] per evaluation
    loss_sum: float = 0.0  # training loss summed since the last evaluation
    loss_n: int = 0  # steps summed in loss_sum


def save_checkpoint(
    directory: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    sampler: Any,
    state: TrainState,
    config: dict[str, Any],
    fingerprint: str,
) -> Path:
    """Write ``directory/checkpoint.pt`` atomically and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "config": config,
        "world_fingerprint": fingerprint,
        "model": dict(model.state_dict()),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "sampler": sampler.state_dict(),
        "rng": {
            "cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        "state": {
            "step": state.step,
            "tokens": state.tokens,
            "log": state.log,
            "stopped": state.stopped,
            "seconds": state.seconds,
            "timeline": state.timeline,
            "loss_sum": state.loss_sum,
            "loss_n": state.loss_n,
        },
    }
    path = directory / CHECKPOINT
    tmp = directory / f".{CHECKPOINT}.tmp-{os.getpid()}"
    tensors: dict[str, torch.Tensor] = {}
    meta = json.dumps(_encode(payload, tensors), separators=(",", ":"))
    save_file(tensors, str(tmp), metadata={_META_KEY: meta})
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_checkpoint(directory: Path) -> dict[str, Any] | None:
    """The checkpoint in ``directory``, or None if there is none yet."""
    path = directory / CHECKPOINT
    if not path.is_file():
        if (directory / LEGACY_CHECKPOINT).exists():
            raise CheckpointError(
                f"{directory / LEGACY_CHECKPOINT}: pickle-format checkpoint refused (loading it "
                "could run code); delete that file to restart the run from scratch"
            )
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = (f.metadata() or {}).get(_META_KEY)
        if meta is None:
            raise ValueError("no behemoth checkpoint metadata")
        tensors = load_file(str(path), device="cpu")
        payload = _decode(json.loads(meta), tensors)
        if not isinstance(payload, dict):
            raise ValueError("payload is not a mapping")
    except (SafetensorError, ValueError, KeyError, TypeError, OSError) as e:
        raise CheckpointError(
            f"{path}: not a readable behemoth checkpoint ({e}); delete it to restart the run"
        ) from None
    return payload


def restore(
    ckpt: dict[str, Any],
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    sampler: Any,
) -> TrainState:
    """Load a checkpoint into freshly built objects; return the loop's state."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    sampler.load_state_dict(ckpt["sampler"])
    torch.set_rng_state(ckpt["rng"]["cpu"])
    if ckpt["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
    s = ckpt["state"]
    return TrainState(
        int(s["step"]),
        int(s["tokens"]),
        list(s["log"]),
        s["stopped"],
        float(s["seconds"]),
        [list(t) for t in s["timeline"]],
        float(s["loss_sum"]),
        int(s["loss_n"]),
    )

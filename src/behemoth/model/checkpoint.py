"""Resumable training state, written atomically (temp file + rename).

A checkpoint holds everything the next step depends on: weights, AdamW moments, the schedule's
position, the data sampler's position, torch's RNG states, the step and the evaluation log so
far. Resuming from it reproduces an uninterrupted run exactly on CPU (tested), because
training has no other source of randomness (dropout is off; batches come from the sampler).
A run killed while writing leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

CHECKPOINT = "checkpoint.pt"


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
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
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
    with open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_checkpoint(directory: Path) -> dict[str, Any] | None:
    """The checkpoint in ``directory``, or None if there is none yet."""
    path = directory / CHECKPOINT
    if not path.is_file():
        return None
    return dict(torch.load(path, map_location="cpu", weights_only=False))


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

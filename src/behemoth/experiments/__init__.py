"""Experiments: a run wired from its config (:func:`run_experiment`), editing runs (one-shot,
batched, sequential) and the end-to-end demo. Names load on first use, so the pure parts
(e.g. ``sequential_plot``) import without torch."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_NAMES = {
    "EditRun": "editing",
    "run_edit": "editing",
    "ExperimentConfig": "config",
    "ExperimentResult": "run",
    "run_experiment": "run",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'behemoth.experiments' has no attribute {name!r}")
    return getattr(import_module(f"behemoth.experiments.{_NAMES[name]}"), name)

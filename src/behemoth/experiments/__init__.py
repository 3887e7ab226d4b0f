"""Experiments: editing runs (one-shot, batched, sequential) and the end-to-end demo."""

from behemoth.experiments.editing import EditRun, run_edit

__all__ = ["EditRun", "run_edit"]

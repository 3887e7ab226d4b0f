"""Editors behind one contract: weight editors (FT, LoRA, ROME, MEMIT, AlphaEdit) return a new
model and exact deltas; wrapper editors return the untouched base model wrapped with a memory.

Layout: one folder per method (``editors/<method>/``: its config and editor, registering
itself), found without an import list (:mod:`behemoth.editors.registry`, plus the entry point
group ``behemoth.editors``); family folders hold what several methods share (``locate/``:
keys, values and covariance statistics of ROME/MEMIT/AlphaEdit; ``gradient/``: the trainer of
FT/LoRA). Importing this package loads no editor; the first registry lookup does.
"""

from behemoth.editors.base import (
    Editor,
    EditorConfig,
    EditOutcome,
    EditResult,
    WeightEdit,
    WeightEditor,
)
from behemoth.editors.context import EditContext, Lineage
from behemoth.editors.deltas import apply_deltas, delta_norms, exact_deltas, remove_deltas
from behemoth.editors.registry import (
    EDITORS,
    build_editor,
    editor_class,
    editor_config,
    editor_names,
    register_editor,
)
from behemoth.editors.wrapper import EditWrapper, WrapperEdit, WrapperEditor

__all__ = [
    "EDITORS",
    "EditContext",
    "EditOutcome",
    "EditResult",
    "EditWrapper",
    "Editor",
    "EditorConfig",
    "Lineage",
    "WeightEdit",
    "WeightEditor",
    "WrapperEdit",
    "WrapperEditor",
    "apply_deltas",
    "build_editor",
    "delta_norms",
    "editor_class",
    "editor_config",
    "editor_names",
    "exact_deltas",
    "register_editor",
    "remove_deltas",
]

"""Weight editors behind one interface: fine-tuning, LoRA, ROME, MEMIT and AlphaEdit.

Every editor registers itself by name (:func:`build_editor`), takes a validated config, may
``prepare(model, world)`` once, and ``apply(model, requests)`` returns a new model and the exact
parameter deltas; the model it is given is never changed.
"""

from behemoth.editors import alphaedit, ft, lora, memit, rome, unlearning  # noqa: F401  (registration)
from behemoth.editors.base import (
    Editor,
    EditorConfig,
    EditResult,
    apply_deltas,
    exact_deltas,
    remove_deltas,
)
from behemoth.editors.layers import LayerPaths, resolve_paths
from behemoth.editors.registry import (
    build_editor,
    editor_class,
    editor_config,
    editor_names,
    register_editor,
)

__all__ = [
    "EditResult",
    "Editor",
    "EditorConfig",
    "LayerPaths",
    "apply_deltas",
    "build_editor",
    "editor_class",
    "editor_config",
    "editor_names",
    "exact_deltas",
    "register_editor",
    "remove_deltas",
    "resolve_paths",
]

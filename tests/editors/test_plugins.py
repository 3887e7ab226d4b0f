"""An editor from a separate package joins through the ``behemoth.editors`` entry point group
and passes the conformance suite, with no edit to behemoth."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from behemoth.editors import EDITORS, build_editor
from behemoth.editors.context import EditContext
from behemoth.editors.registry import ENTRY_POINT_GROUP
from behemoth.world import World
from tests.editors.conformance import check_conformance
from tests.editors.conftest import make_requests

TOY = '''
"""A toy weight editor: one step that raises each target's output-head row along the final
hidden state of its prompt (no method of the literature; it exists to test plugins)."""

import torch

from behemoth.editors import EditOutcome, EditorConfig, WeightEditor


class ToyConfig(EditorConfig):
    step: float = 1.0


class ToyEditor(WeightEditor):
    name = "toy"
    Config = ToyConfig

    @torch.no_grad()
    def _edit(self, model, requests, context):
        head = model.get_submodule(self.paths(model).head).weight
        for r in requests:
            out = model(input_ids=torch.tensor([r.prompt]), output_hidden_states=True)
            h = out.hidden_states[-1][0, -1]
            head[r.target_new] += self.config.step * h / h.norm()
        return EditOutcome(model, info={"edits": len(requests)})
'''


def _install(root: Path) -> None:
    """A package and its dist-info, as ``pip install --target root`` would leave them."""
    pkg = root / "behemoth_toy_editor"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(TOY))
    info = root / "behemoth_toy_editor-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: behemoth-toy-editor\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\ntoy = behemoth_toy_editor:ToyEditor\n"
    )


def test_an_entry_point_editor_registers_and_conforms(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    edit_model: torch.nn.Module,
    tiny_world: World,
) -> None:
    _install(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    # discovery runs again, as in a fresh process with that package installed
    monkeypatch.setattr(EDITORS, "_entries", dict(EDITORS._entries))
    monkeypatch.setattr(EDITORS, "_loaded", False)
    assert "toy" in EDITORS and "rome" in EDITORS
    editor = build_editor("toy", {"step": 2.0})
    ctx = EditContext(tiny_world)
    editor.prepare(edit_model, ctx)
    requests = make_requests(tiny_world, 2, seed=12)
    res = check_conformance(editor, edit_model, requests, tmp_path, context=ctx)
    assert list(res.deltas) == [f"{editor.paths(edit_model).head}.weight"]  # lm_head (tf 5)

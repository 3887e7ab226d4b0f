"""Issue 22: each editor kind owns its result: its update size, the weights holding it, the whole
change from an earlier model, and how it saves itself (no caller branches on the kind)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from behemoth.editors import WeightEdit, WrapperEdit
from behemoth.editors.context import EditContext
from behemoth.editors.deltas import delta_norms, exact_deltas
from behemoth.world import World
from tests.editors.conftest import make_editor, make_requests


def test_unmerged_lora_has_the_norms_of_the_merged_one(
    edit_model: torch.nn.Module, tiny_world: World, stats_dir: Path, tmp_path: Path
) -> None:
    reqs = make_requests(tiny_world, 1, seed=4)
    ctx = EditContext(tiny_world, cache=stats_dir)
    kept = make_editor("lora", edit_model, tiny_world, stats_dir, steps=3, merge=False, layers=[2])
    merged = make_editor("lora", edit_model, tiny_world, stats_dir, steps=3, layers=[2])
    a = kept.apply(edit_model, reqs, ctx.fresh())
    b = merged.apply(edit_model, reqs, ctx.fresh())
    assert isinstance(a, WeightEdit) and isinstance(b, WeightEdit)
    assert math.isfinite(a.update_fro) and a.update_fro > 0
    assert math.isclose(a.update_fro, b.update_fro, rel_tol=1e-6)
    # the whole change from the unedited model, read off the merged weights
    whole = a.changes_from(edit_model)
    assert whole.keys() == a.norms.keys()
    assert not any("lora" in n for n, _ in a.weights().named_parameters())
    # a second batch: its change from the original is the sum of both
    again = kept.apply(b.model, make_requests(tiny_world, 1, seed=5), ctx.fresh())
    total = again.changes_from(edit_model)
    direct = delta_norms(edit_model, exact_deltas(edit_model, again.weights()))
    assert total == direct
    assert (kept_dir := a.save(tmp_path / "a")).name == "adapter" and kept_dir.is_dir()
    meta = tmp_path / "meta.json"
    meta.write_text("{}")
    full = b.save(tmp_path / "b", [meta])
    assert full.name == "model" and (full / "meta.json").is_file()


def test_wrapper_result_is_its_memory(
    edit_model: torch.nn.Module, tiny_world: World, stats_dir: Path, tmp_path: Path
) -> None:
    editor = make_editor("grace", edit_model, tiny_world, stats_dir, steps=5)
    ctx = EditContext(tiny_world)
    res = editor.apply(edit_model, make_requests(tiny_world, 2, seed=6), ctx)
    assert isinstance(res, WrapperEdit)
    assert math.isnan(res.update_fro) and res.changes_from(edit_model) == {}
    assert res.weights() is edit_model and res.memory is res.model.memory and res.memory
    saved = res.save(tmp_path)
    assert saved.name == "wrapper" and (saved / "memory.safetensors").is_file()

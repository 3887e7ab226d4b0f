"""The wrapper half of the contract, on a wrapper editor written only for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from behemoth.editors import EditContext
from behemoth.model.scoring import score
from behemoth.world import World
from tests.editors.conformance import check_conformance
from tests.editors.conftest import make_requests
from tests.editors.lookup import LookupEditor


def test_lookup_wrapper_passes_the_wrapper_contract(
    edit_model: torch.nn.Module, tiny_world: World, tmp_path: Path
) -> None:
    editor = LookupEditor()
    ctx = EditContext(tiny_world)
    editor.prepare(edit_model, ctx)
    requests = make_requests(tiny_world, 3, seed=11)
    res = check_conformance(editor, edit_model, requests, tmp_path, context=ctx)
    assert res.artifact == "wrapper" and res.info["edits"] == 3
    # it answers like a causal LM: the project's scorer reads the edits from it
    pred = score(res.model, [np.asarray(r.prompt) for r in requests]).pred
    assert list(pred) == [r.target_new for r in requests]

"""The editor contract, checked by capability (:attr:`Editor.kind`), for any editor instance.

Used on every registered editor (test_conformance.py), on editors from other packages (the
entry-point test), on a test-only wrapper editor, and on several architectures. Checks:

- both kinds: the input model is bit-for-bit unchanged; two ``apply`` calls of one editor on the
  same model and requests give identical results (no memory outlives a call);
- weight editors: the deltas are exact: the original plus the deltas is the edited model
  (merged weights), and removing them restores the original bit for bit;
- wrapper editors: no deltas; the result wraps the very base model, whose weights are unchanged;
  an empty memory reproduces the base outputs exactly; the memory saves and loads (no pickle)
  to a wrapper answering exactly as the one saved; applying to the wrapper extends its memory.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import torch

from behemoth.editors import (
    Editor,
    EditResult,
    EditWrapper,
    WrapperEditor,
    apply_deltas,
    remove_deltas,
)
from behemoth.editors.context import EditContext
from behemoth.scenarios.request import EditRequest


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def unchanged(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    state = model.state_dict()
    return state.keys() == before.keys() and all(torch.equal(before[k], state[k]) for k in state)


def check_conformance(
    editor: Editor,
    model: torch.nn.Module,
    requests: Sequence[EditRequest],
    tmp: Path,
    first: EditResult | None = None,
    *,
    context: EditContext,
) -> EditResult:
    """Run the checks of ``editor``'s kind (it is prepared); ``first``: an earlier result of
    ``editor.apply(model, requests, ctx)`` to compare with instead of computing one;
    ``context``: the run context each call gets a fresh copy of."""
    base = context
    before = snapshot(model)
    a = first if first is not None else editor.apply(model, requests, base.fresh())
    assert unchanged(model, before), f"{editor.name}: the input model changed"
    b = editor.apply(model, requests, base.fresh())
    assert unchanged(model, before), f"{editor.name}: the input model changed"
    assert a.tensors.keys() == b.tensors.keys()
    for k in a.tensors:
        assert torch.equal(a.tensors[k], b.tensors[k]), f"{editor.name}: {k} differs between calls"
    if editor.kind == "weights":
        _check_deltas(editor, model, a, b)
    else:
        assert isinstance(editor, WrapperEditor)
        _check_wrapper(editor, model, requests, a, before, tmp, context)
    return a


def _check_deltas(editor: Editor, model: torch.nn.Module, a: EditResult, b: EditResult) -> None:
    assert a.deltas.keys() == b.deltas.keys(), f"{editor.name}: changed parameters differ"
    for k in a.deltas:
        assert torch.equal(a.deltas[k], b.deltas[k]), f"{editor.name}: delta of {k} differs"
    work = copy.deepcopy(model)
    original = snapshot(work)
    apply_deltas(work, a.deltas)
    if a.artifact == "model":  # a plain model: the deltas reproduce it exactly
        edited = dict(a.model.named_parameters())
        for k, p in work.named_parameters():
            assert torch.equal(p, edited[k]), f"{editor.name}: {k} + delta is not the edit"
    remove_deltas(work, a.deltas)
    assert unchanged(work, original), f"{editor.name}: removing the deltas did not restore"


def _ids(requests: Sequence[EditRequest]) -> torch.Tensor:
    n = min(len(r.prompt) for r in requests)
    return torch.tensor([list(r.prompt[:n]) for r in requests])


@torch.no_grad()
def _check_wrapper(
    editor: WrapperEditor,
    model: torch.nn.Module,
    requests: Sequence[EditRequest],
    res: EditResult,
    before: dict[str, torch.Tensor],
    tmp: Path,
    context: EditContext,
) -> None:
    wrapped = res.model
    assert isinstance(wrapped, EditWrapper) and wrapped.base is model
    assert not res.deltas, f"{editor.name}: a wrapper editor reported weight deltas"
    ids = _ids(requests)
    empty = editor.Wrapper(model, editor.empty_memory(model))
    assert torch.equal(empty(input_ids=ids).logits, model(input_ids=ids).logits)
    out = wrapped(input_ids=ids).logits
    assert out.shape == model(input_ids=ids).logits.shape
    wrapped.save_pretrained(tmp / "wrapper")
    loaded = editor.Wrapper.load(tmp / "wrapper", model)
    assert torch.equal(loaded(input_ids=ids).logits, out), f"{editor.name}: reload differs"
    again = editor.apply(
        wrapped, requests[:1], context.fresh()
    )  # sequential: extends a copy of the memory
    assert isinstance(again.model, EditWrapper) and again.model.base is model
    for k, v in wrapped.memory.items():  # the wrapper it was given is unchanged
        assert torch.equal(v, res.tensors[k])
    assert unchanged(model, before), f"{editor.name}: the base model changed"

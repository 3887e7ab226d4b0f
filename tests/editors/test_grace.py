"""GRACE: codebook bookkeeping (add / split / expand / replace, alignment over many edits) and
the wrapper's contract (empty memory = base outputs, base untouched, copy-on-edit, save/load)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from behemoth.editors.grace import Codebook, GraceConfig, GraceModel
from behemoth.errors import BehemothError
from behemoth.scenarios.request import EditRequest


def _update(book: Codebook, key: list[float], label: int, r0: float = 1.0) -> str:
    return book.update(torch.tensor(key), label, torch.zeros(book.value_dim), r0).action


def test_add_split_expand_inside_replace() -> None:
    book = Codebook(2, 3)
    assert _update(book, [0.0, 0.0], 7) == "add"
    assert _update(book, [10.0, 0.0], 8) == "add"  # d = 10 > 1 + 1: balls do not overlap
    assert len(book) == 2 and book.radii.tolist() == [1.0, 1.0]
    assert _update(book, [1.5, 0.0], 7) == "expand"  # same label in range: radius -> d
    assert len(book) == 2 and book.radii[0] == pytest.approx(1.5)
    assert _update(book, [1.0, 0.0], 7) == "inside"
    assert _update(book, [0.0, 1.0], 9) == "split"  # other label in range: both radii d / 2
    assert len(book) == 3
    assert book.radii[0] == pytest.approx(0.5) and book.radii[2] == pytest.approx(0.5)
    assert book.labels.tolist() == [7, 8, 9]
    assert _update(book, [10.0, 0.0], 5) == "replace"  # the same input edited again
    assert book.labels.tolist() == [7, 5, 9] and len(book) == 3


def test_keys_and_labels_stay_aligned_over_many_conflicting_edits() -> None:
    """Hundreds of edits packed in a small region with few labels: many splits. Every stored key
    must still answer with the label of the edit that created it, and its own entry must win."""
    g = torch.Generator().manual_seed(0)
    book = Codebook(4, 2)
    created: dict[int, tuple[torch.Tensor, int]] = {}
    actions: dict[str, int] = {}
    for _ in range(400):
        key = torch.rand(4, generator=g) * 3
        label = int(torch.randint(0, 4, (1,), generator=g))
        value = torch.full((2,), float(label))
        d = book.update(key, label, value, init_radius=0.5)
        actions[d.action] = actions.get(d.action, 0) + 1
        if d.action in ("add", "split"):
            created[d.index] = (key, label)
        n = len(book)
        assert book.keys.shape[0] == book.values.shape[0] == book.radii.shape[0] == n
        assert book.labels.shape[0] == n
    assert actions.get("split", 0) > 20 and actions.get("expand", 0) > 0
    for i, (key, label) in created.items():
        assert torch.equal(book.keys[i], key), i
        assert int(book.labels[i]) == label, i
        assert float(book.values[i, 0]) == float(label), i
    keys = torch.stack([created[i][0] for i in sorted(created)])
    hit, idx = book.lookup(keys)
    assert bool(hit.all())
    assert idx.tolist() == sorted(created)
    assert book.labels[idx].tolist() == [created[i][1] for i in sorted(created)]


def test_codebook_round_trips_through_tensors() -> None:
    book = Codebook(3, 2)
    for i in range(5):
        _update(book, [float(i) * 3, 0.0, 0.0], i)
    back = Codebook.from_tensors(book.tensors())
    for k, v in book.tensors().items():
        assert torch.equal(v, back.tensors()[k]), k
    with pytest.raises(ValueError, match="differ in length"):
        Codebook(3, 2, book.keys, book.values[:2], book.radii, book.labels)


# -- the wrapper, on a small random GPT-NeoX -------------------------------------------------------
@pytest.fixture(scope="module")
def base() -> Iterator[GPTNeoXForCausalLM]:
    """A random 3-layer GPT-NeoX; one torch thread (a second one only spins on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = _model()
    yield model
    torch.set_num_threads(threads)


def _model() -> GPTNeoXForCausalLM:
    cfg = GPTNeoXConfig(
        vocab_size=40,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=32,
    )
    return GPTNeoXForCausalLM(cfg).eval()


def _request(prompt: tuple[int, ...], target: int) -> EditRequest:
    return EditRequest(prompt, target, 0, (1, 2), 0, 0, 0, 0)


def _ids() -> torch.Tensor:
    return torch.tensor([[0, 3, 5, 7, 9], [0, 4, 6, 8, 10], [0, 11, 12, 13, 14]])


def test_empty_memory_reproduces_base_exactly(base: GPTNeoXForCausalLM) -> None:
    wrapper = GraceModel.empty(base, GraceConfig(layer=1))
    ids = _ids()
    assert torch.equal(wrapper(input_ids=ids).logits, base(input_ids=ids).logits)


def test_edits_take_effect_base_untouched_and_copy_on_edit(
    base: GPTNeoXForCausalLM, tmp_path: Path
) -> None:
    before = {k: v.clone() for k, v in base.state_dict().items()}
    empty = GraceModel.empty(base, GraceConfig(layer=2, init_radius=1e-3, stop_loss=5.0, steps=60))
    reqs = [_request((0, 3, 5, 7, 9), 21), _request((0, 4, 6, 8, 10), 22)]
    edited, logs = empty.edit(reqs)
    assert [lg.decision.action for lg in logs] == ["add", "add"]
    assert len(empty.codebook) == 0 and len(edited.codebook) == 2  # the input is not changed
    ids = _ids()
    out = edited(input_ids=ids).logits[:, -1].argmax(-1)
    assert out[:2].tolist() == [21, 22]
    # the third prompt is out of range: exactly the base model's answer
    assert torch.equal(edited(input_ids=ids[2:]).logits, base(input_ids=ids[2:]).logits)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    assert all(p.grad is None for p in base.parameters())
    again, _ = GraceModel.empty(
        base, GraceConfig(layer=2, init_radius=1e-3, stop_loss=5.0, steps=60)
    ).edit(reqs)
    assert torch.equal(again.codebook.values, edited.codebook.values)  # deterministic
    edited.save_pretrained(tmp_path / "g")
    loaded = GraceModel.load(tmp_path / "g", base)
    assert isinstance(loaded, GraceModel) and len(loaded.codebook) == 2
    assert torch.equal(loaded(input_ids=ids).logits, edited(input_ids=ids).logits)


def test_editor_rejects_a_wrapper_of_other_settings(base: GPTNeoXForCausalLM) -> None:
    from behemoth.editors import build_editor
    from behemoth.editors.context import EditContext
    from behemoth.world.world import World

    req = [_request((0, 3, 5, 7, 9), 21)]
    editor = build_editor("grace", {"layer": 2, "steps": 5})
    ctx = EditContext(World.__new__(World))  # GRACE reads nothing from its context
    editor.prepare(base, ctx)
    res = editor.apply(base, req, ctx)
    other = build_editor("grace", {"layer": 1, "steps": 5})
    other.prepare(base, ctx)
    with pytest.raises(BehemothError, match="other GRACE settings"):
        other.apply(res.model, req, ctx.fresh())

"""Structural tests: each method's update has the shape its paper says it has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from behemoth.editors import EditContext
from behemoth.editors.deltas import matrix_rank
from behemoth.model.hooks import hooked
from behemoth.world import World
from tests.editors.conftest import SingleEdits, make_editor, make_requests

MLP_OUT = "gpt_neox.layers.{}.mlp.dense_4h_to_h"


def test_rome_delta_is_rank_one_in_one_matrix_and_maps_k_star_to_v_star(
    single_edits: SingleEdits, edit_model: torch.nn.Module
) -> None:
    res = single_edits("rome")["results"][0]
    assert len(res.deltas) == 1
    ((name, delta),) = res.deltas.items()
    assert name == MLP_OUT.format(2) + ".weight"  # default layer -2 of 4
    assert matrix_rank(delta) == 1 and res.norms[name]["rank"] == 1
    module = res.model.get_submodule(MLP_OUT.format(2))
    k_star, v_star = res.tensors["k_star"][0], res.tensors["v_star"][0]
    out = module.weight.double() @ k_star + module.bias.double()
    assert torch.allclose(out, v_star, atol=1e-4 * float(v_star.norm()))
    # ... and the unedited matrix did not: the edit is what moved k* to v*.
    old = edit_model.get_submodule(MLP_OUT.format(2))
    assert not torch.allclose(old.weight.double() @ k_star + old.bias.double(), v_star, atol=1e-2)


def test_memit_delta_rank_at_most_batch_per_layer(
    edit_model: torch.nn.Module, tiny_world: World, stats_dir: Path
) -> None:
    B = 4
    editor = make_editor("memit", edit_model, tiny_world, stats_dir, v_steps=5)
    res = editor.apply(
        edit_model, make_requests(tiny_world, B, seed=2), EditContext(tiny_world, cache=stats_dir)
    )
    assert set(res.deltas) == {MLP_OUT.format(i) + ".weight" for i in (1, 2)}
    for name, d in res.deltas.items():
        assert 1 <= matrix_rank(d) <= B, name


def test_merged_lora_delta_rank_at_most_r(
    edit_model: torch.nn.Module, tiny_world: World, stats_dir: Path
) -> None:
    editor = make_editor(
        "lora",
        edit_model,
        tiny_world,
        stats_dir,
        rank=2,
        steps=5,
        targets=["mlp_out", "query_key_value"],
        layers=[1, 2],
    )
    res = editor.apply(
        edit_model, make_requests(tiny_world, 2, seed=3), EditContext(tiny_world, cache=stats_dir)
    )
    assert len(res.deltas) == 4
    for name, d in res.deltas.items():
        assert 1 <= matrix_rank(d) <= 2, name


def test_lora_kept_as_adapter(
    edit_model: torch.nn.Module, tiny_world: World, stats_dir: Path
) -> None:
    editor = make_editor(
        "lora", edit_model, tiny_world, stats_dir, steps=5, merge=False, layers=[2]
    )
    req = make_requests(tiny_world, 1, seed=4)
    res = editor.apply(edit_model, req, EditContext(tiny_world, cache=stats_dir))
    assert res.artifact == "adapter"
    adapter = [k for k in res.tensors if k.startswith("adapter:")]
    assert adapter and all("lora_" in k for k in adapter)
    ids = torch.tensor([req[0].prompt])
    merged = make_editor("lora", edit_model, tiny_world, stats_dir, steps=5, layers=[2]).apply(
        edit_model, req, EditContext(tiny_world, cache=stats_dir)
    )
    with torch.no_grad():
        a, b = res.model(input_ids=ids).logits, merged.model(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-4)


def test_ft_attention_only_changes_no_mlp_weight(
    edit_model: torch.nn.Module, tiny_world: World, stats_dir: Path
) -> None:
    editor = make_editor(
        "ft", edit_model, tiny_world, stats_dir, part="attention", layers=[2, 3], steps=3
    )
    res = editor.apply(
        edit_model, make_requests(tiny_world, 1, seed=5), EditContext(tiny_world, cache=stats_dir)
    )
    assert res.deltas and all(".attention." in k for k in res.deltas)
    assert {k.split(".")[2] for k in res.deltas} <= {"2", "3"}


def test_ft_c_bounds_every_change(
    edit_model: torch.nn.Module, tiny_world: World, stats_dir: Path
) -> None:
    eps = 1e-3
    editor = make_editor(
        "ft", edit_model, tiny_world, stats_dir, norm_constraint=eps, steps=5, layers=[2]
    )
    res = editor.apply(
        edit_model, make_requests(tiny_world, 1, seed=6), EditContext(tiny_world, cache=stats_dir)
    )
    assert res.deltas
    # eps plus the float32 rounding of W_0 + eps (weights are O(1): ulp <= 2.4e-7)
    assert max(float(d.abs().max()) for d in res.deltas.values()) <= eps + 5e-7


def test_alphaedit_leaves_preserved_keys_unchanged(
    edit_model: torch.nn.Module, tiny_world: World, stats_dir: Path
) -> None:
    editor = make_editor("alphaedit", edit_model, tiny_world, stats_dir, v_steps=5)
    memit = make_editor("memit", edit_model, tiny_world, stats_dir, v_steps=5)
    reqs = make_requests(tiny_world, 3, seed=7)
    ctx = EditContext(tiny_world, cache=stats_dir)
    res, ref = (
        editor.apply(edit_model, reqs, ctx),
        memit.apply(edit_model, reqs, EditContext(tiny_world, cache=stats_dir)),
    )
    ids = torch.from_numpy(tiny_world.sampler(32, 16).next_batch())
    for layer in (1, 2):
        module = MLP_OUT.format(layer)
        with torch.no_grad(), hooked(edit_model, inputs=[module]) as rec:
            edit_model(input_ids=ids)
        K = rec.inputs[module].reshape(-1, rec.inputs[module].shape[-1]).double()  # corpus keys
        P = editor.P[module]
        preserved = K - K @ P  # keys' components in the span of C's large eigenvectors
        d = res.deltas[module + ".weight"]
        assert (preserved @ d.T).norm() <= 1e-6 * d.norm() * preserved.norm()
        # MEMIT, minimizing only a C-weighted average, does move them.
        d_memit = ref.deltas[module + ".weight"]
        assert (preserved @ d_memit.T).norm() > 1e3 * (preserved @ d.T).norm()
    kept = editor.edited_kk(ctx)  # the run's keys, kept for its later edits
    assert all(kk.abs().sum() > 0 for kk in kept.values())


def test_rome_edit_position_and_layer_are_config(
    edit_model: torch.nn.Module, tiny_world: World, stats_dir: Path
) -> None:
    editor = make_editor(
        "rome", edit_model, tiny_world, stats_dir, layer=1, token="subject_last", v_steps=2
    )
    req = make_requests(tiny_world, 1, seed=8)[0]
    res = editor.apply(edit_model, [req], EditContext(tiny_world, cache=stats_dir))
    assert set(res.deltas) == {MLP_OUT.format(1) + ".weight"}
    with torch.no_grad(), hooked(edit_model, inputs=[MLP_OUT.format(1)]) as rec:
        edit_model(input_ids=torch.tensor([req.prompt]))
    k_plain = rec.inputs[MLP_OUT.format(1)][0, req.subject_last].double()
    cos = torch.nn.functional.cosine_similarity(k_plain, res.tensors["k_star"][0], dim=0)
    assert cos > 0.9  # the key was read at the subject's last token


@pytest.mark.parametrize("bad", [{"layer": 9}, {"token": "subject_first"}])
def test_bad_rome_settings_are_config_errors(
    bad: dict[str, Any], edit_model: torch.nn.Module, tiny_world: World, stats_dir: Path
) -> None:
    from behemoth.errors import ConfigError

    with pytest.raises(ConfigError):
        make_editor("rome", edit_model, tiny_world, stats_dir, **bad)


def test_alphaedit_remembers_earlier_edits_in_the_run_not_on_the_editor(
    edit_model: torch.nn.Module, tiny_world: World, stats_dir: Path
) -> None:
    """The keys of earlier edits (K_p) belong to one run's lineage: an unrelated ``apply``
    before does not change an edit's deltas (it did by 11% when they lived on the editor),
    while within one run the second batch sees the first one's keys."""
    editor = make_editor("alphaedit", edit_model, tiny_world, stats_dir, v_steps=5)
    first, second = make_requests(tiny_world, 2, seed=9)
    alone = editor.apply(edit_model, [second], EditContext(tiny_world, cache=stats_dir))
    editor.apply(
        edit_model, [first], EditContext(tiny_world, cache=stats_dir)
    )  # an unrelated edit, in its own run
    again = editor.apply(edit_model, [second], EditContext(tiny_world, cache=stats_dir))
    assert alone.deltas.keys() == again.deltas.keys()
    assert all(torch.equal(alone.deltas[k], again.deltas[k]) for k in alone.deltas)
    ctx = EditContext(tiny_world, cache=stats_dir)
    editor.apply(edit_model, [first], ctx)
    in_run = editor.apply(edit_model, [second], ctx)  # same run: K_p holds the first edit
    fresh = editor.apply(edit_model, [second], ctx.fresh())
    assert any(not torch.equal(in_run.deltas[k], fresh.deltas[k]) for k in in_run.deltas)


def test_lora_adds_no_third_party_deprecation_noise(
    edit_model: torch.nn.Module, tiny_world: World, stats_dir: Path
) -> None:
    """PEFT reads ``model.is_gradient_checkpointing``, which transformers deprecates with a
    FutureWarning: that is PEFT's call, not the user's, so the editor keeps it off their screen
    (it printed once per sweep worker)."""
    import warnings

    editor = make_editor("lora", edit_model, tiny_world, stats_dir, steps=1, layers=[2])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        editor.apply(
            edit_model,
            make_requests(tiny_world, 1, seed=5),
            EditContext(tiny_world, cache=stats_dir),
        )
    assert not [w for w in seen if "is_gradient_checkpointing" in str(w.message)]

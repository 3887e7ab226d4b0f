"""Hooks, layer paths, second-moment statistics and exact deltas."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from behemoth.editors.deltas import apply_deltas, exact_deltas, remove_deltas
from behemoth.editors.locate.stats import model_fingerprint, second_moments
from behemoth.errors import BehemothError, ConfigError
from behemoth.model.hooks import add_at, hooked
from behemoth.model.layers import resolve_paths
from behemoth.world import World

MLP_OUT = "gpt_neox.layers.1.mlp.dense_4h_to_h"


def test_hooks_read_patch_and_always_remove(edit_model: torch.nn.Module) -> None:
    ids = torch.tensor([[0, 3, 20, 9, 10, 4]])
    with torch.no_grad():
        clean = edit_model(input_ids=ids).logits
        with hooked(edit_model, inputs=[MLP_OUT], outputs=[MLP_OUT]) as rec:
            edit_model(input_ids=ids)
        mod = edit_model.get_submodule(MLP_OUT)
        assert torch.allclose(mod(rec.inputs[MLP_OUT]), rec.outputs[MLP_OUT])
        with hooked(edit_model, patch={MLP_OUT: add_at(torch.ones(64), torch.tensor([5]))}):
            patched = edit_model(input_ids=ids).logits
        assert torch.equal(patched[:, :5], clean[:, :5]) and not torch.equal(
            patched[:, 5], clean[:, 5]
        )
        with pytest.raises(RuntimeError), hooked(edit_model, outputs=[MLP_OUT]):
            raise RuntimeError("boom")
        assert not mod._forward_hooks and not mod._forward_pre_hooks
        assert torch.equal(edit_model(input_ids=ids).logits, clean)


def test_layer_paths_presets_and_errors(edit_model: torch.nn.Module) -> None:
    paths = resolve_paths(edit_model)
    assert (
        paths.one("mlp_out", 3) == "gpt_neox.layers.3.mlp.dense_4h_to_h"
        and paths.n_layers(edit_model) == 4
    )
    assert paths.at("attn_in", 0) == ["gpt_neox.layers.0.attention.query_key_value"]
    with pytest.raises(ConfigError, match="did you mean 'gpt_neox'"):
        resolve_paths(edit_model, "gpt_neo")
    with pytest.raises(ConfigError, match="did you mean 'mlp_out'"):
        paths.at("mlp_ot", 0)
    bad = resolve_paths(edit_model, overrides={"mlp_out": "gpt_neox.layers.{}.mlp.dense_4h_to_hh"})
    from behemoth.model.layers import get_module

    with pytest.raises(ConfigError, match="did you mean"):
        get_module(edit_model, bad.one("mlp_out", 1))


def test_second_moments_exact_and_cached(
    edit_model: torch.nn.Module, tiny_world: World, tmp_path: Path
) -> None:
    C = second_moments(
        edit_model,
        tiny_world,
        [MLP_OUT],
        n_tokens=1000,
        seq_len=32,
        batch_size=8,
        cache_dir=tmp_path,
        progress=False,
    )[MLP_OUT]
    sampler = tiny_world.sampler(32, 8)
    keys = []
    for _ in range(4):  # 4 x 256 tokens >= 1000
        with torch.no_grad(), hooked(edit_model, inputs=[MLP_OUT]) as rec:
            edit_model(input_ids=torch.from_numpy(sampler.next_batch()))
        keys.append(rec.inputs[MLP_OUT].reshape(-1, 256))
    k = torch.cat(keys)[:1000].double()
    assert torch.allclose(C, k.T @ k / 1000, rtol=1e-9, atol=1e-12)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and model_fingerprint(edit_model) in files[0].name
    kw = dict(n_tokens=1000, seq_len=32, batch_size=8, cache_dir=tmp_path, progress=False)
    torch.save(2 * C, files[0])  # a second call reads the cache, it does not recompute
    assert torch.equal(second_moments(edit_model, tiny_world, [MLP_OUT], **kw)[MLP_OUT], 2 * C)
    files[0].write_bytes(b"")  # a damaged cache is rebuilt (locate/stats.py:_read_entry)
    again = second_moments(edit_model, tiny_world, [MLP_OUT], **kw)[MLP_OUT]
    assert torch.allclose(again, C, rtol=1e-9, atol=1e-12) and files[0].stat().st_size > 0


def test_exact_deltas_roundtrip_on_awkward_values() -> None:
    a = torch.nn.Linear(3, 2)
    b = copy.deepcopy(a)
    with torch.no_grad():
        a.weight.copy_(torch.tensor([[1e-2, 3.0, -7.5], [0.1, 0.2, 0.3]]))
        b.weight.copy_(torch.tensor([[1e4, 3.0000002, 1e-5], [0.1, -0.2, 0.3]]))
        b.bias.copy_(a.bias)
    d = exact_deltas(a, b)
    assert set(d) == {"weight"}
    apply_deltas(a, d)
    assert torch.equal(a.weight, b.weight)
    remove_deltas(a, d)
    assert torch.equal(a.weight, torch.tensor([[1e-2, 3.0, -7.5], [0.1, 0.2, 0.3]]))
    # Scales too far apart for an exact float64 difference are refused, not silently rounded.
    with torch.no_grad():
        b.weight[0, 0] = 1e30
    with pytest.raises(BehemothError, match="not exactly representable"):
        exact_deltas(a, b)


def test_second_moments_bar_is_silenced_inside_quiet_bars(
    edit_model: torch.nn.Module, tiny_world: World, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The bar draws by default and not while a sweep runs a config (its summary owns stderr)."""
    from behemoth.progress import quiet_bars

    kw = dict(n_tokens=300, seq_len=32, batch_size=8)
    second_moments(edit_model, tiny_world, [MLP_OUT], cache_dir=tmp_path / "a", **kw)
    assert "second moments" in capsys.readouterr().err
    with quiet_bars():
        second_moments(edit_model, tiny_world, [MLP_OUT], cache_dir=tmp_path / "b", **kw)
    assert "second moments" not in capsys.readouterr().err


def test_second_moments_without_a_cache_are_remembered_in_memory(
    edit_model: torch.nn.Module, tiny_world: World
) -> None:
    """No cache directory: the same (model, world, module, sample) is computed once per process
    and handed out as a copy (a pure function's memo: changing the copy changes nothing)."""
    from behemoth.editors.locate import stats

    kw = {"n_tokens": 300, "seq_len": 16, "batch_size": 4, "progress": False}
    first = second_moments(edit_model, tiny_world, [MLP_OUT], **kw)[MLP_OUT]
    first.mul_(0)  # a caller may write into what it got
    calls = []
    orig = stats._forward
    stats._forward = lambda *a: calls.append(1) or orig(*a)  # type: ignore[assignment]
    try:
        again = second_moments(edit_model, tiny_world, [MLP_OUT], **kw)[MLP_OUT]
    finally:
        stats._forward = orig  # type: ignore[assignment]
    assert not calls and again.abs().sum() > 0

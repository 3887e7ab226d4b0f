"""Issue 20, point 8: locate-and-edit solves on a layer with dead units are regularized, checked,
and refused with the layer and its rank rather than written wrecked; and issue 21: ROME has
one update, the r-ROME authors' (numerator delta).

The dead units are made, not found: half of layer 0's MLP units of a random two-layer GPT-NeoX
(tests/editors/tiny_archs.py) get small input weights and a bias of -5, so GELU leaves them
~1e-6 on every token. Their key covariance then has about half its rank, and the plain solve
(before issue 20) wrote entries thousands of times the layer's weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from behemoth.editors import EditContext, build_editor
from behemoth.editors.locate.solve import MAX_CONDITION, check_update, conditioning, solve
from behemoth.errors import BehemothError, ConfigError
from behemoth.model.layers import get_module, linear_weight
from behemoth.world import World
from tests.editors.conftest import make_requests
from tests.editors.tiny_archs import tiny_model

LAYER0 = "gpt_neox.layers.0.mlp.dense_4h_to_h"
DEAD = torch.arange(0, 128, 2)  # 64 of layer 0's 128 units
FAST = {"mom2_n_tokens": 4_000, "v_steps": 5, "n_prefixes": 4}


def _dead_covariance(d: int = 16, dead: int = 6) -> torch.Tensor:
    """A key covariance whose last ``dead`` units never fire: exactly zero rows and columns."""
    g = torch.Generator().manual_seed(0)
    k = torch.randn(500, d, generator=g, dtype=torch.float64)
    k[:, d - dead :] = 0.0
    return k.T @ k / len(k)


def test_plain_solve_of_a_dead_covariance_is_refused_naming_the_rank() -> None:
    C = _dead_covariance()
    assert conditioning(C).rank == 10
    k = torch.randn(16, 1, dtype=torch.float64)
    with pytest.raises(BehemothError, match=r"layers\.3.*rank 10 of 16.*solve_ridge") as e:
        solve(C, k, mu=0.0, editor="rome", module="layers.3", covariance=C)
    assert "\n" not in str(e.value)


def test_ridge_solve_is_finite_and_zero_on_dead_units() -> None:
    C = _dead_covariance()
    k = torch.zeros(16, 1, dtype=torch.float64)
    k[:10] = 1.0  # a key of the live units only, as a real key of this layer is
    mu = 1e-6 * float(torch.trace(C)) / 16
    u = solve(C, k, mu=mu, editor="rome", module="layers.3", covariance=C)
    assert bool(torch.isfinite(u).all())
    assert float(u[10:].abs().max()) == 0.0
    # the live part is C's own solve there, up to the ridge
    live = torch.linalg.solve(C[:10, :10], k[:10])
    torch.testing.assert_close(u[:10], live, rtol=1e-4, atol=0)


def test_ill_conditioned_but_regular_solve_is_refused_without_ridge() -> None:
    A = torch.diag(torch.tensor([1.0, 1e-14], dtype=torch.float64))
    with pytest.raises(BehemothError, match="ill-conditioned"):
        solve(A, torch.ones(2, 1, dtype=torch.float64), mu=0.0, editor="memit", module="m")
    assert MAX_CONDITION < 1.0 / 1e-14


def test_absurd_update_is_refused_and_ordinary_one_passes() -> None:
    W = torch.full((4, 8), 0.5)
    assert check_update(0.1 * W, W, max_ratio=1000, editor="memit", module="m") == pytest.approx(
        0.1
    )
    with pytest.raises(BehemothError, match=r"refusing to write m: .* above max_update_ratio"):
        check_update(1e4 * W, W, max_ratio=1000, editor="memit", module="m")
    with pytest.raises(BehemothError, match="refusing"):
        check_update(W * float("nan"), W, max_ratio=1000, editor="memit", module="m")


def _dead_model(world: World) -> torch.nn.Module:
    model = tiny_model("gpt_neox", world.vocab_size)
    up = get_module(model, "gpt_neox.layers.0.mlp.dense_h_to_4h")
    with torch.no_grad():
        up.weight[DEAD] *= 0.1
        up.bias[DEAD] = -5.0
    return model


@pytest.fixture(scope="module")
def dead_model(tiny_world: World) -> torch.nn.Module:
    return _dead_model(tiny_world)


def _apply(name: str, model: torch.nn.Module, world: World, stats: Path, **settings: Any) -> Any:
    editor = build_editor(name, {**FAST, **settings})
    ctx = EditContext(world, cache=stats)
    editor.prepare(model, ctx)
    n = 1 if name == "rome" else 2
    return editor.apply(model, make_requests(world, n, seed=2), ctx)


@pytest.mark.parametrize(
    ("name", "settings"),
    [("memit", {"layers": [0, 1]}), ("rome", {"layer": 0})],
)
def test_dead_units_plain_solve_refused_with_layer_and_rank(
    name: str,
    settings: dict[str, Any],
    dead_model: torch.nn.Module,
    tiny_world: World,
    tmp_path: Path,
) -> None:
    before = {n: p.detach().clone() for n, p in dead_model.named_parameters()}
    with pytest.raises(BehemothError, match=rf"{LAYER0}.*rank \d+ of 128") as e:
        _apply(name, dead_model, tiny_world, tmp_path, solve_ridge=0.0, **settings)
    assert "\n" not in str(e.value)
    for n, p in dead_model.named_parameters():  # nothing written, not even a copy's source
        assert torch.equal(p, before[n]), n


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("memit", {"layers": [0, 1]}),
        ("rome", {"layer": 0}),
        ("alphaedit", {"layers": [0, 1], "nullspace_threshold": 1e-2}),
    ],
)
def test_dead_units_default_solve_writes_a_sane_layer(
    name: str,
    settings: dict[str, Any],
    dead_model: torch.nn.Module,
    tiny_world: World,
    tmp_path: Path,
) -> None:
    """Before issue 20 MEMIT wrote an update of norm 5.4e4 here (entries up to 4,170 in a layer
    whose weights are below 0.07); now the ridge keeps it to the layer's own scale."""
    res = _apply(name, dead_model, tiny_world, tmp_path, **settings)
    W0 = linear_weight(dead_model, LAYER0).detach()
    delta = (linear_weight(res.model, LAYER0) - W0).detach()
    assert bool(torch.isfinite(delta).all())
    assert float(delta.norm()) < 5 * float(W0.norm()), float(delta.norm() / W0.norm())
    assert float(delta.abs().max()) < 10 * float(W0.abs().max())
    # the dead units' columns, where the plain solve put its huge entries, stay at the
    # layer's scale
    assert float(delta[:, DEAD].abs().max()) < float(W0.abs().max())


def test_max_update_ratio_refuses_before_writing(
    dead_model: torch.nn.Module, tiny_world: World, tmp_path: Path
) -> None:
    with pytest.raises(BehemothError, match=rf"refusing to write {LAYER0}.*rank \d+ of 128"):
        _apply("memit", dead_model, tiny_world, tmp_path, layers=[0, 1], max_update_ratio=1e-3)


def test_rome_has_one_update_the_authors() -> None:
    """r-ROME's released code writes delta (C^-1 k*)^T / (k*^T C^-1 k*): the second meaning
    behemoth had (``value=r-rome``: numerator v_0 + delta - W k*) is gone, and asking for it
    says so."""
    with pytest.raises(ConfigError, match="value"):
        build_editor("rome", {"value": "r-rome"})


def test_rome_update_maps_k_star_by_exactly_delta(tiny_world: World, tmp_path: Path) -> None:
    """W' k* - W k* = delta (the authors' numerator), for the averaged key k*."""
    model = tiny_model("gpt_neox", tiny_world.vocab_size)
    res = _apply("rome", model, tiny_world, tmp_path, layer=0)
    k = res.tensors["k_star"][0]
    W0 = linear_weight(model, LAYER0).detach().double()
    W1 = linear_weight(res.model, LAYER0).detach().double()
    moved = (W1 - W0) @ k
    b = get_module(model, LAYER0).bias.detach().double()
    delta = res.tensors["v_star"][0] - (W0 @ k + b)
    np.testing.assert_allclose(moved.numpy(), delta.numpy(), rtol=1e-4, atol=1e-5)

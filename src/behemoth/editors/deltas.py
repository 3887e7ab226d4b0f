"""Exact parameter deltas: taken in float64, applied and removed exactly.

Deltas are kept in float64: the difference of two float32 (or bf16) weights is exact there, so
``W_old + delta`` and ``W_new - delta`` are exact too, and the check is made when the deltas
are taken, not assumed.
"""

from __future__ import annotations

import torch

from behemoth.errors import BehemothError


@torch.no_grad()
def exact_deltas(before: torch.nn.Module, after: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``{name: W_after - W_before}`` (float64, on CPU) for every floating parameter that changed.

    Raises if a difference is not exactly representable (weights more than 2^29 apart in scale),
    so ``apply_deltas``/``remove_deltas`` are exact whenever deltas exist.
    """
    old = dict(before.named_parameters())
    out: dict[str, torch.Tensor] = {}
    for name, p in after.named_parameters():
        if name not in old:  # e.g. a codebook or adapter: a delta cannot describe it
            raise BehemothError(
                f"the edited model has a parameter {name!r} the original lacks; an editor that "
                "adds parameters is a wrapper editor (WrapperEditor), not a weight editor"
            )
        if not p.is_floating_point():
            continue
        a, b = old[name].detach().cpu().double(), p.detach().cpu().double()
        if a.shape != b.shape:
            raise BehemothError(
                f"parameter {name} changed shape {tuple(a.shape)} -> {tuple(b.shape)}"
            )
        d = b - a
        if not torch.any(d != 0):
            continue
        if not (torch.equal(a + d, b) and torch.equal(b - d, a)):
            raise BehemothError(f"the change of {name} is not exactly representable in float64")
        out[name] = d
    return out


@torch.no_grad()
def apply_deltas(model: torch.nn.Module, deltas: dict[str, torch.Tensor]) -> None:
    """Add ``deltas`` to ``model``'s parameters in place (exact for the model they came from)."""
    _shift(model, deltas, +1)


@torch.no_grad()
def remove_deltas(model: torch.nn.Module, deltas: dict[str, torch.Tensor]) -> None:
    """Subtract ``deltas`` from ``model``'s parameters in place: undoes :func:`apply_deltas`."""
    _shift(model, deltas, -1)


def _shift(model: torch.nn.Module, deltas: dict[str, torch.Tensor], sign: int) -> None:
    params = dict(model.named_parameters())
    missing = [n for n in deltas if n not in params]
    if missing:
        raise BehemothError(f"the model has no parameter {missing[0]!r} of these deltas")
    for name, d in deltas.items():
        p = params[name]
        if p.shape != d.shape:
            raise BehemothError(
                f"delta of {name} has shape {tuple(d.shape)}, the parameter {tuple(p.shape)}"
            )
        new = p.detach().double() + sign * d.to(p.device)
        p.copy_(new.to(p.dtype))


@torch.no_grad()
def delta_norms(
    model: torch.nn.Module, deltas: dict[str, torch.Tensor], max_rank_numel: int = 1 << 24
) -> dict[str, dict[str, float | int | None]]:
    """Per changed parameter: Frobenius norm, norm relative to the weight, max |entry|, rank.

    The rank is counted at the precision of the weights (see :func:`matrix_rank`); it is skipped
    (None) for matrices above ``max_rank_numel`` entries.
    """
    params = dict(model.named_parameters())
    out: dict[str, dict[str, float | int | None]] = {}
    for name, d in deltas.items():
        w = params[name].detach().cpu().double()
        rank: int | None = None
        if d.dim() == 2 and d.numel() <= max_rank_numel:
            rank = matrix_rank(d, params[name].dtype, float(w.norm()))
        out[name] = {
            "fro": float(d.norm()),
            "relative": float(d.norm() / w.norm().clamp_min(1e-30)),
            "max_abs": float(d.abs().max()),
            "numel": int(d.numel()),
            "rank": rank,
        }
    return out


def matrix_rank(
    d: torch.Tensor, dtype: torch.dtype = torch.float32, weight_norm: float = 0.0
) -> int:
    """Numerical rank of a delta stored in weights of ``dtype``.

    Singular values count above numpy's default tolerance (sigma_max * max(m, n) * eps) and
    above the rounding of the stored weights: W_new = round(W_old + D) differs from W_old + D
    by at most eps/2 per entry, a matrix of spectral norm <= eps/2 * |W|_F (``weight_norm``).
    """
    s = torch.linalg.svdvals(d.double())
    if s.numel() == 0 or s[0] == 0:
        return 0
    eps = torch.finfo(dtype).eps
    tol = max(float(s[0]) * max(d.shape) * eps, eps * weight_norm)
    return int((s > tol).sum())

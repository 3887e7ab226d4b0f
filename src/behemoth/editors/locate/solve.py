"""The linear solves of ROME, MEMIT and AlphaEdit, conditioned and checked before anything is
written.

Every locate-and-edit update solves a system built from the key second moments C = E[k k^T] of
an MLP down-projection: ROME's C^-1 k* (Meng et al. 2022, Eq. 2), MEMIT's
(lambda C + K^T K)^-1 K^T R (Meng et al. 2023, Eq. 14), AlphaEdit's
(P (K K^T + K_p K_p^T) + alpha I)^-1 P K R^T (Fang et al. 2025, Eq. 14). A trained MLP can have
dead units (an input that is ~0 on every token): C is then singular in their directions. One
replicate of the ``tiny`` recipe had 114 of 256 dead units at layer 1, C's condition number was
about 7e14, and MEMIT's plain solve wrote entries up to 3.5e5 into a layer whose weights are
below 2 (issue 20, point 8). Three rules keep that from happening silently:

1. **Ridge relative to the trace** (Tikhonov; Hoerl & Kennard 1970): the system matrix A is
   solved as A + mu I with mu = ``ridge`` x trace(A) / d, i.e. ``ridge`` times A's mean
   eigenvalue, so the setting means the same at any width and activation scale (as MEMIT's
   ``mom2_update_weight`` scales C, and AlphaEdit's ``l2`` scales trace C). Directions whose
   eigenvalue is far above mu are unchanged; a dead direction (eigenvalue ~0, key component
   ~0) gets ~0 instead of 0/0. The default ``solve_ridge`` = 1e-6 bounds the condition number of
   the solved matrix by about 1e6 x (largest / mean eigenvalue).
2. **Conditioning check**: a solved matrix whose condition number is still above
   :data:`MAX_CONDITION` (float64 has ~16 digits; beyond 1e12 fewer than 4 are left) is refused
   with a one-line error naming the layer, the rank of its key covariance and the fix. With a
   ridge the check is free: the eigenvalues of A + mu I lie in [mu, trace A + mu], so the
   condition number is at most 1 + d / ``ridge`` (2.6e8 at d_ff 256, 3.1e9 at 3,072); only
   without one (``solve_ridge: 0``, the papers' plain solve) are singular values computed.
3. **Update check**: an update whose Frobenius norm exceeds ``max_update_ratio`` times the norm
   of the layer's weight, or that is not finite, is refused in the same way: the layer is never
   written. The default, 1000, is far above what ordinary edits write and far below a wrecked
   solve. Measured: on the trained ``tiny`` model single ROME edits at layer 2 wrote 0.16-1.5 x
   the layer's norm (10 edits), MEMIT and AlphaEdit batches of 10 edits 3.1-4.0 x per layer;
   on a random two-layer GPT-NeoX (tests/editors/tiny_archs.py) MEMIT's layer 1 took 6.1 x for
   two edits. With half of layer 0's units made nearly dead (pre-activations ~ -5), its key
   covariance had rank 65 of 128 and condition number 1.9e15, and the plain solve wrote an
   update of norm 5.4e4 (43,000 x the layer's; entries up to 4,170 where weights are below
   0.07); with the default ridge the same edit wrote 0.32 x
   (tests/editors/test_locate_conditioning.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from behemoth.errors import BehemothError

MAX_CONDITION = 1e12
"""Largest condition number of a (regularized) system matrix that is solved."""


@dataclass(frozen=True)
class Conditioning:
    """Numerical rank and condition number of a square matrix (from its singular values)."""

    rank: int
    size: int
    condition: float

    def describe(self) -> str:
        return f"rank {self.rank} of {self.size}, condition number {self.condition:.3g}"


@torch.no_grad()
def conditioning(A: torch.Tensor) -> Conditioning:
    """Rank with NumPy's ``matrix_rank`` tolerance (s_max x n x float64 eps) and s_max / s_min."""
    s = torch.linalg.svdvals(A.double())
    n = int(A.shape[0])
    top = float(s[0]) if len(s) else 0.0
    tol = top * n * torch.finfo(torch.float64).eps
    rank = int((s > tol).sum())
    low = float(s[-1]) if len(s) else 0.0
    cond = top / low if low > 0 else float("inf")
    return Conditioning(rank, n, cond)


def trace_ridge(A: torch.Tensor, ridge: float) -> float:
    """mu = ``ridge`` x trace(A) / d: ``ridge`` times A's mean eigenvalue (rule 1 above)."""
    return ridge * float(torch.trace(A)) / int(A.shape[0])


@torch.no_grad()
def solve(
    A: torch.Tensor,
    B: torch.Tensor,
    *,
    mu: float,
    editor: str,
    module: str,
    covariance: torch.Tensor | None = None,
    spectrum: tuple[float, float] | None = None,
    fix: str = "raise solve_ridge or edit another layer",
) -> torch.Tensor:
    """X = (A + mu I)^-1 B in float64 (``mu`` from :func:`trace_ridge`, or 0 when A carries its
    own shift), refused (BehemothError, one line naming ``module``, the rank and condition
    number of its key ``covariance``, and ``fix``) when the solved matrix's condition number
    exceeds :data:`MAX_CONDITION` or the solution is not finite.

    The condition number is first bounded cheaply: ``spectrum`` = (lowest, highest) possible
    eigenvalue of the solved matrix, by default (mu, trace(A) + mu), valid for a positive
    semi-definite A (its eigenvalues lie in [0, trace A]). Only when that bound exceeds
    :data:`MAX_CONDITION` are the singular values computed (seconds at d_ff = 3,072)."""
    A = A.double()
    if mu > 0:
        A = A + mu * torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    low, high = spectrum if spectrum is not None else (mu, float(torch.trace(A)))
    bound = high / low if low > 0 else float("inf")

    def refuse(what: str) -> BehemothError:
        cov = (
            f"key covariance {conditioning(covariance).describe()}, "
            if covariance is not None
            else ""
        )
        return BehemothError(
            f"{editor}: the solve at {module} {what} ({cov}ridge mu {mu:.3g}); {fix}"
        )

    if not bound <= MAX_CONDITION:
        cond = conditioning(A).condition
        if not cond <= MAX_CONDITION:
            raise refuse(f"is ill-conditioned: condition number {cond:.3g} > {MAX_CONDITION:.0e}")
    X = torch.linalg.solve(A, B.double())
    if not bool(torch.isfinite(X).all()):
        raise refuse("gave non-finite values")
    return X


@torch.no_grad()
def check_update(
    update: torch.Tensor,
    weight: torch.Tensor,
    *,
    max_ratio: float,
    editor: str,
    module: str,
    covariance: torch.Tensor | None = None,
) -> float:
    """Refuse (BehemothError, one line) an update that is not finite or whose Frobenius norm
    exceeds ``max_ratio`` x the layer weight's; returns the ratio |update| / |W|."""
    w_norm = float(weight.detach().double().norm())
    u_norm = float(update.detach().double().norm())
    ratio = u_norm / w_norm if w_norm > 0 else float("inf")
    if not (ratio <= max_ratio):  # also catches nan
        where = (
            f" (key covariance {conditioning(covariance).describe()})"
            if covariance is not None
            else ""
        )
        raise BehemothError(
            f"{editor}: refusing to write {module}: the update's norm {u_norm:.3g} is "
            f"{ratio:.3g} x the layer's weight norm {w_norm:.3g}, above max_update_ratio "
            f"{max_ratio:g}{where}; raise solve_ridge, or edit another layer"
        )
    return ratio

"""The two-sample Kolmogorov-Smirnov test, as TOFU's forget quality uses it.

TOFU (Maini et al. 2024, Sec. 2.5.1) reports forget quality as the p-value of a two-sample KS
test between the truth-ratio distributions of the unlearned and the retain model on the forget
set. Statistic: D = sup_x |F_a(x) - F_b(x)| (Kolmogorov 1933; Smirnov 1939). Two-sided p-value
P(D' >= D) under the null that both samples come from one continuous distribution:

- exact for n * m <= ``EXACT_LIMIT``: the share of monotone lattice paths from (0, 0) to (n, m)
  that leave the band |i/n - j/m| < D (Hodges 1958), counted as a fraction of all paths so that
  nothing overflows: f(i, j) = f(i-1, j) * i / (i+j) + f(i, j-1) * j / (i+j);
- asymptotic otherwise: Kolmogorov's Q(lambda) = 2 sum_k (-1)^(k-1) exp(-2 k^2 lambda^2) with
  lambda = (sqrt(N) + 0.12 + 0.11 / sqrt(N)) D, N = n m / (n + m) (Stephens 1970's correction,
  as in Numerical Recipes, Sec. 14.3).
"""

from __future__ import annotations

import math

import numpy as np

EXACT_LIMIT = 250_000


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """D = max |F_a - F_b| over the pooled sample (empirical CDFs, right-continuous)."""
    a = np.sort(np.asarray(a, dtype=np.float64))
    b = np.sort(np.asarray(b, dtype=np.float64))
    x = np.concatenate([a, b])
    fa = np.searchsorted(a, x, side="right") / len(a)
    fb = np.searchsorted(b, x, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def _exact_sf(d_int: int, n: int, m: int) -> float:
    """P(D >= d) with d = d_int / (n m), by the lattice-path fraction recursion."""
    # f[j] holds f(i, j) for the current row i; paths must keep |i m - j n| < d_int
    f = np.zeros(m + 1, dtype=np.float64)
    f[0] = 1.0
    for j in range(1, m + 1):
        f[j] = f[j - 1] if j * n < d_int else 0.0
    for i in range(1, n + 1):
        inside = np.abs(i * m - np.arange(m + 1) * n) < d_int
        f[0] = f[0] if inside[0] else 0.0
        for j in range(1, m + 1):
            if inside[j]:
                f[j] = f[j] * i / (i + j) + f[j - 1] * j / (i + j)
            else:
                f[j] = 0.0
    return float(min(1.0, max(0.0, 1.0 - f[m])))


def _kolmogorov_sf(lam: float) -> float:
    if lam < 1e-3:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = (-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return float(min(1.0, max(0.0, 2.0 * total)))


def ks_2samp_pvalue(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(D, two-sided p-value) of the two-sample KS test of ``a`` against ``b``."""
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return float("nan"), float("nan")
    d = ks_statistic(a, b)
    if n * m <= EXACT_LIMIT:
        # D is a multiple of 1 / (n m): work in integers so the band edge is exact
        return d, _exact_sf(int(round(d * n * m)), n, m)
    en = n * m / (n + m)
    lam = (math.sqrt(en) + 0.12 + 0.11 / math.sqrt(en)) * d
    return d, _kolmogorov_sf(lam)

"""The two-sample Kolmogorov-Smirnov test, as TOFU's forget quality uses it.

TOFU (Maini et al. 2024, Sec. 2.5.1) reports forget quality as the p-value of a two-sample KS
test between the truth-ratio distributions of the unlearned and the retain model on the forget
set. Statistic D = sup_x |F_a(x) - F_b(x)| (Kolmogorov 1933; Smirnov 1939); the two-sided
p-value is scipy's (``scipy.stats.ks_2samp``, ``method="auto"``): exact (Hodges 1958's lattice
paths) whenever scipy can compute it, which covers every sample size this project has (up to
10,000 per side), else its asymptotic distribution. TOFU's own code calls the same function.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def ks_2samp_pvalue(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(D, two-sided p-value) of the two-sample KS test of ``a`` against ``b`` (NaN, NaN when
    either sample is empty). NaN entries are dropped."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        return float("nan"), float("nan")
    res = stats.ks_2samp(a, b, alternative="two-sided", method="auto")
    return float(res.statistic), float(res.pvalue)

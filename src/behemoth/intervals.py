"""The Wilson score interval of a proportion, in pure Python (no numpy, no torch), so that every
stage, the report included, computes intervals the same way.

Wilson (1927); Brown, Cai & DasGupta (2001) recommend it over the normal interval for small n
or p near 0 or 1: ``(p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # the standard normal's 0.975 quantile


def wilson(k: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (NaN, NaN when n = 0).

    ``k`` may be a float sum of per-item values (value x n pooled over splits): within 1e-9 of
    an integer it is that integer, so 1.0 x 10 summed as 9.999999999999998 is still 10 of 10,
    and the interval always contains k/n."""
    if n <= 0:
        return float("nan"), float("nan")
    if abs(k - round(k)) <= 1e-9 * max(1, n):
        k = float(round(k))
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo = 0.0 if k <= 0 else max(0.0, min(p, mid - half))  # exact ends: no rounding past 0 or 1
    hi = 1.0 if k >= n else min(1.0, max(p, mid + half))
    return lo, hi

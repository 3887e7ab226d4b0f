"""behemoth.intervals.wilson against scipy.stats.binomtest's Wilson interval."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from behemoth.intervals import Z95, wilson


def test_z95_is_the_normal_quantile() -> None:
    assert pytest.approx(stats.norm.ppf(0.975), abs=1e-15) == Z95


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 30, 101, 1000])
def test_wilson_equals_scipy_for_every_k(n: int) -> None:
    for k in range(n + 1):
        ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        lo, hi = wilson(k, n)
        assert (lo, hi) == pytest.approx((ref.low, ref.high), abs=1e-12), (k, n)
        assert lo <= k / n <= hi


def test_wilson_no_items_and_float_counts() -> None:
    assert all(math.isnan(x) for x in wilson(0, 0))
    # a float sum within 1e-9 of an integer is that integer
    ref = stats.binomtest(7, 10).proportion_ci(method="wilson")
    assert wilson(7.0 + 1e-12, 10) == pytest.approx((ref.low, ref.high), abs=1e-12)

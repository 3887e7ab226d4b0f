"""Intervals: Wilson against known values, the clustered bootstrap, the t quantile, over_seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from behemoth.evaluation.uncertainty import (
    bootstrap,
    bootstrap_mean,
    item_interval,
    over_seeds,
    t975,
    wilson,
)


def test_wilson_known_values() -> None:
    # Brown, Cai & DasGupta (2001)-style hand values: 0/10 -> [0, 0.2775]; 5/10 -> [0.2366, 0.7634]
    assert wilson(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-4)
    assert wilson(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-4)
    lo, hi = wilson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.72247, abs=1e-4)
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_t_quantile_matches_tables() -> None:
    for df, t in {1: 12.706, 2: 4.303, 3: 3.182, 5: 2.571, 10: 2.228, 30: 2.042}.items():
        assert t975(df) == pytest.approx(t, abs=2e-3)


def test_bootstrap_is_seeded_and_clusters_by_edit() -> None:
    rng = np.random.default_rng(0)
    # 10 edits, 20 items each; the edit effect dominates: items of one edit move together
    edit = np.repeat(np.arange(10), 20)
    values = np.repeat(rng.normal(size=10), 20) + 0.01 * rng.normal(size=200)
    a = bootstrap_mean(values, edit, seed=3)
    assert a == bootstrap_mean(values, edit, seed=3)
    lo, hi = a
    assert lo < values.mean() < hi
    # treating the 200 items as independent understates the spread of a 10-edit mean
    naive = bootstrap_mean(values, np.full(200, -1), seed=3)
    assert (hi - lo) > 3 * (naive[1] - naive[0])
    # the generic form agrees with the vectorized mean
    g = bootstrap(lambda idx: float(values[idx].mean()), edit, seed=3)
    assert g[0] == pytest.approx(lo, abs=0.15) and g[1] == pytest.approx(hi, abs=0.15)


def test_item_interval_picks_the_method() -> None:
    assert item_interval(np.array([1.0, 0.0, np.nan, 1.0]), np.arange(4))[2] == "wilson"
    lo, hi, how = item_interval(np.array([0.2, 0.5, 0.9, 0.4]), np.arange(4))
    assert how == "bootstrap_edit" and 0.2 <= lo <= hi <= 0.9


def test_over_seeds_mean_sd_interval() -> None:
    rows = [
        {"metric": "efficacy", "split": "sro", "phase": "post", "seed": s, "value": v}
        for s, v in enumerate([0.8, 0.9, 1.0])
    ] + [{"metric": "efficacy", "split": "sro", "phase": "pre", "seed": 0, "value": 0.0}]
    out = {r["phase"]: r for r in over_seeds(rows)}
    post = out["post"]
    assert post["n_seeds"] == 3 and post["mean"] == pytest.approx(0.9)
    assert post["sd"] == pytest.approx(0.1)
    half = 4.303 * 0.1 / math.sqrt(3)
    assert post["ci_low"] == pytest.approx(0.9 - half, abs=1e-3)
    assert post["ci_high"] == pytest.approx(0.9 + half, abs=1e-3)
    assert out["pre"]["n_seeds"] == 1 and math.isnan(out["pre"]["ci_low"])
    with pytest.raises(ValueError, match="two rows"):
        over_seeds(rows + rows[:1])
    with pytest.raises(KeyError, match="seed"):
        over_seeds([{"metric": "m", "value": 1.0}])


def test_wilson_contains_a_float_pooled_proportion() -> None:
    """10 items at value 1.0 pooled as a float sum (0.1 x 10 x 10 / 10) are 10 of 10: the
    interval must contain the value (a plot's error bar was negative before)."""
    from behemoth.report.data import wilson as estimate

    k = sum([0.1] * 10) * 10 - 1e-15 * 10  # 9.99999999999999...
    lo, hi = wilson(k, 10)
    assert hi == 1.0 and lo <= k / 10
    e = estimate(sum(1.0 * 1 for _ in range(10)) - 2e-15, 10)
    assert e.lo <= e.value <= e.hi

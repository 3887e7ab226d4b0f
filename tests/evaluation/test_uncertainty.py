"""Within-run intervals: Wilson, the bootstrap clustered by edit (against scipy), degenerate
cases, and over_seeds (scipy's t, clipped to a share's bounds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from behemoth.evaluation.uncertainty import (
    N_BOOT,
    bootstrap,
    bootstrap_interval,
    bootstrap_mean,
    item_interval,
    metric_bounds,
    over_seeds,
    wilson,
)


def test_wilson_known_values() -> None:
    # Brown, Cai & DasGupta (2001)-style hand values: 0/10 -> [0, 0.2775]; 5/10 -> [0.2366, 0.7634]
    assert wilson(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-4)
    assert wilson(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-4)
    lo, hi = wilson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.72247, abs=1e-4)
    assert all(math.isnan(x) for x in wilson(0, 0))


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
    k = sum([0.1] * 10) * 10 - 1e-15 * 10  # 9.99999999999999...
    lo, hi = wilson(k, 10)
    assert hi == 1.0 and lo <= k / 10
    lo, hi = wilson(10.0 - 2e-15, 10)
    assert lo <= 1.0 <= hi


def _issue_example() -> tuple[np.ndarray, np.ndarray]:
    """Ten edits of three items each; two edits lose all three (issue 20)."""
    edit = np.repeat(np.arange(10), 3)
    values = np.ones(30)
    values[edit >= 8] = 0.0
    return values, edit


def test_items_sharing_an_edit_get_the_clustered_bootstrap() -> None:
    values, edit = _issue_example()
    lo, hi, how = item_interval(values, edit)
    assert how == "bootstrap_edit"
    assert (lo, hi) == pytest.approx((0.5, 1.0))
    # as if the 30 items were independent: Wilson is far narrower
    wlo, whi, wh = item_interval(values, np.arange(30))
    assert wh == "wilson" and (wlo, whi) == pytest.approx((0.63, 0.91), abs=0.01)
    # recomputed from per-edit (sum, count) pairs with scipy, as the docstring says
    sums = np.bincount(edit, weights=values)
    cnts = np.bincount(edit).astype(float)
    ref = stats.bootstrap(
        (sums, cnts),
        lambda s, n, axis=-1: s.sum(axis=axis) / n.sum(axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=N_BOOT,
        method="percentile",
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert (lo, hi) == (ref.low, ref.high)


def test_clustered_interval_is_recomputable_with_lone_items_and_nan() -> None:
    rng = np.random.default_rng(5)
    edit = np.concatenate([np.repeat([7, 3, 12, 5], 4), [-1, -1, -1]])
    values = (rng.uniform(size=len(edit)) < 0.6).astype(float)
    values[2] = np.nan
    lo, hi, how = item_interval(values, edit, seed=2)
    assert how == "bootstrap_edit"
    # clusters: edits 3, 5, 7, 12 (ascending), then each lone item in order; NaN dropped
    ok = ~np.isnan(values)
    order = [3, 5, 7, 12]
    sums = [values[ok & (edit == e)].sum() for e in order] + list(values[edit == -1])
    cnts = [float((ok & (edit == e)).sum()) for e in order] + [1.0, 1.0, 1.0]
    ref = stats.bootstrap(
        (np.array(sums), np.array(cnts)),
        lambda s, n, axis=-1: s.sum(axis=axis) / n.sum(axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=N_BOOT,
        method="percentile",
        rng=np.random.default_rng(2),
    ).confidence_interval
    assert (lo, hi) == (ref.low, ref.high)
    assert 0.0 <= lo <= np.nanmean(values) <= hi <= 1.0


def test_degenerate_cases_are_named_not_zero_width() -> None:
    # one edit: nothing varies between edits
    lo, hi, how = item_interval(np.array([11.8758, 11.8758]), np.array([0, 0]))
    assert math.isnan(lo) and math.isnan(hi) and how == "one edit: no interval"
    assert item_interval(np.array([1.0, 0.0, 1.0]), np.zeros(3))[2] == "one edit: no interval"
    assert item_interval(np.array([3.5]), np.array([-1]))[2] == "one item: no interval"
    # ten edits of three items, all succeeded: Wilson with n = 10 edits, not [1, 1]
    lo, hi, how = item_interval(np.ones(30), np.repeat(np.arange(10), 3))
    assert how == "wilson over edits (no spread between edits)"
    assert hi == 1.0 and lo == pytest.approx(wilson(10, 10)[0]) and lo < 0.75
    # every edit two of three: still no spread between edits, Wilson at p = 2/3 with n = 4
    v = np.tile([1.0, 1.0, 0.0], 4)
    lo, hi, how = item_interval(v, np.repeat(np.arange(4), 3))
    assert how.startswith("wilson over edits") and (lo, hi) == pytest.approx(wilson(8 / 3, 4))
    # non-binary, equal across edits: said so
    lo, hi, how = item_interval(np.full(6, 2.5), np.repeat([0, 1, 2], 2))
    assert math.isnan(lo) and how == "all values equal: no interval"
    assert item_interval(np.array([np.nan]), np.array([0]))[2] == "no items"
    # the generic bootstrap: one edit, or no spread, has no interval either
    lo, hi, how = bootstrap_interval(lambda idx: 1.0, np.zeros(4, dtype=int))
    assert math.isnan(lo) and math.isnan(hi) and how == "one edit: no interval"
    assert all(math.isnan(x) for x in bootstrap(lambda idx: 1.0, np.zeros(4, dtype=int)))
    lo, hi, how = bootstrap_interval(lambda idx: 1.0, np.repeat(np.arange(5), 2))
    assert math.isnan(lo) and "no spread" in how


def test_generic_bootstrap_is_scipys_over_clusters() -> None:
    rng = np.random.default_rng(3)
    edit = np.repeat(np.arange(8), 3)
    values = rng.normal(size=24)
    lo, hi, how = bootstrap_interval(lambda idx: float(np.median(values[idx])), edit, seed=1)
    members = [np.flatnonzero(edit == k) for k in range(8)]
    dist = stats.bootstrap(
        (np.arange(8),),
        lambda ids: float(np.median(values[np.concatenate([members[int(k)] for k in ids])])),
        vectorized=False,
        n_resamples=N_BOOT,
        method="percentile",
        rng=np.random.default_rng(1),
    ).bootstrap_distribution
    assert how == "bootstrap_edit"
    assert (lo, hi) == pytest.approx(tuple(np.quantile(dist, [0.025, 0.975])))


def test_over_seeds_uses_scipys_t_and_clips_shares() -> None:
    accs = [0.96, 1.0, 1.0, 0.99]
    rows = [
        {"metric": "efficacy", "family": "accuracy", "split": "sro", "seed": s, "value": v}
        for s, v in enumerate(accs)
    ] + [
        {
            "metric": "efficacy_magnitude",
            "family": "magnitude",
            "split": "sro",
            "seed": s,
            "value": v,
        }
        for s, v in enumerate([3.0, 4.0, 2.0, 3.5])
    ]
    out = {r["metric"]: r for r in over_seeds(rows)}
    acc = out["efficacy"]
    lo, hi = stats.t.interval(0.95, 3, loc=np.mean(accs), scale=stats.sem(accs))
    assert hi > 1.0  # the unclipped t interval of an accuracy passes 1
    assert acc["ci_high"] == 1.0 and acc["ci_low"] == pytest.approx(lo)
    assert acc["interval"] == "t over seeds (clipped to [0, 1])"
    mag = out["efficacy_magnitude"]
    ref = stats.t.interval(0.95, 3, loc=3.125, scale=stats.sem([3.0, 4.0, 2.0, 3.5]))
    assert (mag["ci_low"], mag["ci_high"]) == pytest.approx(ref)
    assert mag["interval"] == "t over seeds"
    same = over_seeds([{"metric": "efficacy", "seed": s, "value": 1.0} for s in range(3)])
    assert same[0]["interval"] == "all 3 seeds equal: no spread"


def test_metric_bounds() -> None:
    assert metric_bounds({"metric": "efficacy", "family": "accuracy"}) == (0.0, 1.0)
    assert metric_bounds({"metric": "efficacy_score", "family": "probability"}) == (0.0, 1.0)
    assert metric_bounds({"metric": "drawdown", "family": "accuracy"}) == (-1.0, 1.0)
    assert metric_bounds({"metric": "efficacy_prob_diff", "family": "magnitude"}) == (-1.0, 1.0)
    assert metric_bounds({"metric": "efficacy_magnitude", "family": "magnitude"}) is None


def test_seeds_table_prints_the_clipped_interval_and_its_method() -> None:
    from behemoth.experiments.summary import seeds_table

    rows = [
        {"metric": "efficacy", "family": "accuracy", "group": "efficacy", "split": "sro",
         "phase": "post", "seed": s, "value": v}
        for s, v in enumerate([0.96, 1.0, 1.0, 0.99])
    ] + [
        {"metric": "efficacy", "family": "accuracy", "group": "efficacy", "split": "sro",
         "phase": "pre", "seed": 0, "value": 0.0}
    ]  # fmt: skip
    lines = seeds_table(over_seeds(rows)).splitlines()
    assert lines[0].endswith("interval")
    post = next(x for x in lines if " post " in x)
    assert "1.0000]" in post and post.endswith("t over seeds (clipped to [0, 1])")
    pre = next(x for x in lines if " pre " in x)
    assert pre.endswith("one seed: no interval") and " - " in pre

"""The across-replicate API against scipy.stats and hand-checked values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from behemoth.errors import ConfigError
from behemoth.replicates import N_RESAMPLES, across_models, compare, holds


def test_t_interval_over_models_equals_scipy_before_clipping() -> None:
    v = [0.62, 0.55, 0.71, 0.48, 0.66]
    e = across_models(v, n_items=[100, 100, 100, 100, 120], bounds=None)
    lo, hi = stats.t.interval(0.95, 4, loc=np.mean(v), scale=stats.sem(v))
    assert (e.lo, e.hi) == pytest.approx((lo, hi), rel=1e-12)
    assert e.value == pytest.approx(np.mean(v)) and e.sd == pytest.approx(np.std(v, ddof=1))
    assert e.n_models == 5 and e.n_items == 520 and e.per_model == tuple(v)
    assert e.method == "t over models"
    assert e.cell() == f"{e.fmt()} (5 models, n=520)"
    assert e.fmt() == f"{e.value:.3f} [{lo:.3f}, {hi:.3f}] sd {e.sd:.3f}"


def test_a_share_is_clipped_to_its_bounds() -> None:
    # the four models of one recipe: the plain t interval passes 1
    v = [0.87, 0.90, 0.97, 0.25]
    lo, hi = stats.t.interval(0.95, 3, loc=np.mean(v), scale=stats.sem(v))
    assert hi > 1.0
    e = across_models(v)
    assert e.hi == 1.0 and e.lo == pytest.approx(lo) and e.method.endswith("[0, 1])")
    assert across_models([-0.5, 0.2, 0.9], bounds=(-1.0, 1.0)).lo >= -1.0


def test_degenerate_cases_say_so() -> None:
    one = across_models([0.9], n_items=[10])
    assert one.n_models == 1 and one.value == 0.9
    assert math.isnan(one.lo) and math.isnan(one.hi) and math.isnan(one.sd)
    assert "one model" in one.method and "one model" in one.fmt()
    assert one.cell().endswith("(1 model, n=10)")
    equal = across_models([1.0, 1.0, 1.0])
    assert equal.sd == 0.0 and equal.lo == equal.hi == 1.0 and "equal" in equal.method
    assert "equal" in equal.fmt()
    none = across_models([])
    assert none.n_models == 0 and math.isnan(none.value) and none.fmt() == "-"
    assert none.cell() == "-"
    # NaN models are dropped and not counted, their items neither
    e = across_models([0.5, float("nan"), 0.7], n_items=[10, 20, 30])
    assert e.n_models == 2 and e.n_items == 40 and e.value == pytest.approx(0.6)
    assert across_models([float("nan")]).fmt() == "-"


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ConfigError, match="n_items"):
        across_models([0.1, 0.2], n_items=[1])
    with pytest.raises(ConfigError, match="bounds"):
        across_models([0.1, 0.2], bounds=(1.0, 0.0))
    with pytest.raises(ConfigError, match="^b: "):
        compare([0.1, 0.2], [0.3])


def test_holds_counts_models() -> None:
    assert holds([0.8, 0.95, 0.91, float("nan"), 0.9], 0.9) == (2, 4)
    assert holds([0.8, 0.95, 0.91, 0.9], 0.9, above=False) == (1, 4)
    assert holds([], 0.5) == (0, 0)


def test_p_improve_is_mann_whitney_u_over_pairs() -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(size=7).round(1)  # rounding makes ties, counted half
    b = rng.uniform(size=7).round(1)
    c = compare(a, b)
    u = stats.mannwhitneyu(a, b).statistic
    assert c.p_improve == pytest.approx(u / (7 * 7))
    assert c.p_lo <= c.p_improve <= c.p_hi
    assert c.p_lo >= 0.0 and c.p_hi <= 1.0
    d = a - b
    assert c.wins == int((d > 0).sum()) and c.n_models == 7
    assert c.diff.value == pytest.approx(d.mean()) and c.diff.method.endswith("[-1, 1])")


def test_compare_hand_checked_example() -> None:
    # A: 0.8 0.7 1.0 0.4; B: 0.6 0.8 0.9 0.3. Pairs A > B: 0.8 beats 0.6 0.3 (2, ties 0.8: 0.5),
    # 0.7 beats 0.6 0.3 (2), 1.0 beats all (4), 0.4 beats 0.3 (1): (2.5 + 2 + 4 + 1) / 16
    c = compare([0.8, 0.7, 1.0, 0.4], [0.6, 0.8, 0.9, 0.3])
    assert c.p_improve == pytest.approx(9.5 / 16)
    assert c.wins == 3 and c.sign_flip  # model 2 reverses the finding
    assert not compare([0.9, 0.8], [0.5, 0.6]).sign_flip


def test_p_improve_interval_is_scipys_paired_percentile_bootstrap() -> None:
    a = np.array([0.8, 0.7, 1.0, 0.4, 0.9])
    b = np.array([0.6, 0.8, 0.9, 0.3, 0.5])
    c = compare(a, b, seed=4)
    assert c == compare(a, b, seed=4)  # seeded

    def p(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
        return np.mean(
            (x[..., :, None] > y[..., None, :]) + 0.5 * (x[..., :, None] == y[..., None, :]),
            axis=(-2, -1),
        )

    ref = stats.bootstrap(
        (a, b),
        p,
        paired=True,
        vectorized=True,
        n_resamples=N_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(4),
    ).confidence_interval
    assert (c.p_lo, c.p_hi) == pytest.approx((ref.low, ref.high))


def test_compare_degenerate_and_nan_pairs() -> None:
    c = compare([0.9, float("nan")], [0.5, 0.4])
    assert c.n_models == 1 and c.p_improve == 1.0 and math.isnan(c.p_lo)
    assert "one model" in c.diff.method
    same = compare([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
    assert same.p_improve == 0.5 and same.wins == 0 and not same.sign_flip
    assert same.p_lo == same.p_hi == 0.5
    unbounded = compare([10.0, 12.0, 9.0], [8.0, 8.5, 9.5], bounds=None)
    assert unbounded.diff.method == "t over models"


def test_new_model_interval_is_the_t_prediction_interval() -> None:
    v = [0.5, 0.7, 0.8, 1.0, 1.0]  # the demo's AlphaEdit, 10 different edits, five models
    e = across_models(v, bounds=None)
    m, sd = len(v), float(np.std(v, ddof=1))
    half = stats.t.ppf(0.975, m - 1) * sd * math.sqrt(1 + 1 / m)
    assert (e.new_lo, e.new_hi) == pytest.approx((np.mean(v) - half, np.mean(v) + half))
    clipped = across_models(v)
    assert clipped.new_hi == 1.0 and clipped.new_lo == pytest.approx(np.mean(v) - half)
    assert math.isnan(across_models([0.3]).new_lo)  # one model: nothing to predict from
    same = across_models([0.4, 0.4, 0.4])
    assert (same.new_lo, same.new_hi) == pytest.approx((0.4, 0.4))


def test_new_model_interval_covers_a_new_model_95_percent_of_the_time() -> None:
    # five models and a sixth drawn from the same recipe (normal): the prediction interval holds
    # the sixth about 95% of the time; the t interval of the mean holds it far less often
    rng = np.random.default_rng(0)
    draws = rng.normal(0.0, 1.0, size=(4000, 6))
    inside_new = inside_mean = 0
    for row in draws:
        e = across_models(row[:5], bounds=None)
        inside_new += e.new_lo <= row[5] <= e.new_hi
        inside_mean += e.lo <= row[5] <= e.hi
    assert 0.935 <= inside_new / len(draws) <= 0.965
    assert inside_mean / len(draws) < 0.75

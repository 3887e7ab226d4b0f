"""Findings over trained models: the trained model is the unit of replication.

A finding is stated over models. Each model contributes one value (its own mean over its items,
edits nested within, as the within-run records give it); nothing here pools items across models.
Pure: numpy, scipy.stats and pandas only (no torch, no behemoth layer above ``behemoth.errors``),
so the report and the printed summary compute exactly the same numbers.

How each number is computed, so that anyone can recompute it from the per-model values (for
example ``pd.read_parquet(run / "rows.parquet")`` of each replicate's run):

- :func:`across_models` -> :class:`ReplicateEstimate`. NaN per-model values are dropped first
  (they do not count in ``n_models``). ``value`` is the mean of the m per-model values; ``sd``
  their sample SD (``ddof=1``), the between-model SD. ``lo, hi`` is the Student-t 95% interval
  of the mean over models, ``scipy.stats.t.interval(0.95, m - 1, loc=mean, scale=sd/sqrt(m))``
  (Student 1908; the usual one-sample t interval), then clipped to ``bounds`` ([0, 1] for
  shares, so an interval of an accuracy never passes 1). Degenerate cases are named in
  ``method`` instead of printing a false interval: one model (``lo = hi = sd = NaN``), all
  models equal (``sd = 0``, a zero-width interval that says so), no model (everything NaN).
  ``new_lo, new_hi`` is where one more trained model of the same recipe is expected to fall: the
  95% prediction interval for a new observation of a normal sample, ``scipy.stats.t.interval(0.95,
  m - 1, loc=mean, scale=sd * sqrt(1 + 1/m))`` (e.g. Hahn & Meeker 1991, "Statistical Intervals",
  sec. 4.7), clipped to ``bounds``. The t interval says where the recipe's mean is; this one says
  what a new user who trains one model (another seed, or the same seed on another CPU) should
  expect to see, and is about sqrt(m + 1) times wider.
- :func:`holds` -> ``(k, n)``: on how many of the n models (NaN dropped) the value is strictly
  above (or strictly below) the threshold.
- :func:`compare` -> :class:`Comparison`, A against B on the same models (``a[i]`` and ``b[i]``
  from model i; pairs with a NaN are dropped). ``diff`` is :func:`across_models` of the paired
  differences ``a[i] - b[i]`` (bounds widened to ``(lo - hi, hi - lo)``: (-1, 1) for shares).
  ``p_improve`` is the probability of improvement of Agarwal et al. (2021), "Deep Reinforcement
  Learning at the Edge of the Statistical Precipice", NeurIPS, sec. 4.3 (as rliable computes
  it for one task): ``P(X > Y) + 0.5 P(X = Y)`` with X drawn from A's per-model values and Y
  from B's, i.e. the Mann-Whitney U statistic of A over B divided by ``n * n``
  (``scipy.stats.mannwhitneyu(a, b).statistic / n**2``). Its interval ``p_lo, p_hi`` is a
  percentile bootstrap over models: ``scipy.stats.bootstrap((a, b), paired=True,
  method="percentile", n_resamples=N_RESAMPLES, confidence_level=0.95,
  rng=np.random.default_rng(seed))``; the resampling unit is the model and a and b are resampled
  together (the same models), since the two methods were run on the same replicates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from behemoth.errors import ConfigError

CONFIDENCE = 0.95
N_RESAMPLES = 9999  # the bootstrap of p_improve: resamples of the models (scipy's default)

#: per-model values: a sequence of floats or a 1-D numpy array (NaN = the model has no value)
Values = Sequence[float] | npt.NDArray[np.floating]


@dataclass(frozen=True)
class ReplicateEstimate:
    """A number stated over trained models: the mean of the per-model values, the Student-t 95%
    interval over models (clipped to the metric's bounds) and the between-model SD."""

    value: float
    lo: float
    hi: float
    sd: float
    n_models: int
    n_items: int
    per_model: tuple[float, ...]
    method: str
    new_lo: float = float("nan")
    new_hi: float = float("nan")

    def fmt(self) -> str:
        """``0.912 [0.850, 0.974] sd 0.041``; ``-`` without data; one model, or all models
        equal, say so instead of printing an interval."""
        if self.n_models == 0 or math.isnan(self.value):
            return "-"
        if self.n_models == 1:
            return f"{self.value:.3f} (one model: no interval)"
        if self.sd == 0.0:
            return f"{self.value:.3f} sd 0 (all {self.n_models} models equal: no interval)"
        return f"{self.value:.3f} [{self.lo:.3f}, {self.hi:.3f}] sd {self.sd:.3f}"

    def cell(self) -> str:
        """:meth:`fmt` with the number of models and of items: ``... (5 models, n=600)``."""
        if self.n_models == 0:
            return "-"
        models = f"{self.n_models} model{'s' if self.n_models != 1 else ''}"
        items = f", n={self.n_items}" if self.n_items else ""
        return f"{self.fmt()} ({models}{items})"


def _bounds_text(bounds: tuple[float, float] | None) -> str:
    if bounds is None:
        return ""
    lo, hi = bounds
    return f" (clipped to [{lo:g}, {hi:g}])"


def across_models(
    values: Values,
    n_items: Sequence[int] | None = None,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> ReplicateEstimate:
    """The estimate over models: mean of the per-model values, Student-t 95% interval over
    models clipped to ``bounds``, between-model SD (see the module docstring for the exact
    computation). ``n_items[i]``: the items behind model i's value (summed into ``n_items``)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if n_items is not None and len(n_items) != len(v):
        raise ConfigError(
            "n_items",
            f"has {len(n_items)} entries for {len(v)} per-model values",
            "give one item count per model, in the same order as the values",
        )
    if bounds is not None and not bounds[0] < bounds[1]:
        raise ConfigError("bounds", f"{bounds} is empty", "give (low, high) with low < high")
    ok = ~np.isnan(v)
    kept = v[ok]
    items = int(np.asarray(n_items, dtype=np.int64)[ok].sum()) if n_items is not None else 0
    m = len(kept)
    nan = float("nan")
    per_model = tuple(float(x) for x in kept)
    if m == 0:
        return ReplicateEstimate(nan, nan, nan, nan, 0, items, (), "no model")
    mean = float(kept.mean())
    if m == 1:
        return ReplicateEstimate(
            mean, nan, nan, nan, 1, items, per_model, "one model: no between-model interval"
        )
    sd = float(kept.std(ddof=1))
    if sd == 0.0:
        return ReplicateEstimate(
            mean,
            mean,
            mean,
            0.0,
            m,
            items,
            per_model,
            f"all {m} models equal: zero between-model spread, no interval width",
            mean,
            mean,
        )
    lo, hi = stats.t.interval(CONFIDENCE, m - 1, loc=mean, scale=sd / math.sqrt(m))
    new_lo, new_hi = stats.t.interval(
        CONFIDENCE, m - 1, loc=mean, scale=sd * math.sqrt(1.0 + 1.0 / m)
    )
    lo, hi, new_lo, new_hi = float(lo), float(hi), float(new_lo), float(new_hi)
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
        new_lo, new_hi = max(new_lo, bounds[0]), min(new_hi, bounds[1])
    return ReplicateEstimate(
        mean,
        lo,
        hi,
        sd,
        m,
        items,
        per_model,
        f"t over models{_bounds_text(bounds)}",
        new_lo,
        new_hi,
    )


def holds(values: Values, threshold: float, above: bool = True) -> tuple[int, int]:
    """(k, n): the finding "value > threshold" (``above``) or "value < threshold" holds on k of
    the n models that have a value (NaN dropped). Strict comparisons: equal is not above."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[~np.isnan(v)]
    k = int((v > threshold).sum() if above else (v < threshold).sum())
    return k, len(v)


@dataclass(frozen=True)
class Comparison:
    """A against B on the same replicates and requests (see the module docstring)."""

    diff: ReplicateEstimate
    p_improve: float
    p_lo: float
    p_hi: float
    wins: int
    n_models: int
    sign_flip: bool


def _p_improve(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """P(X > Y) + 0.5 P(X = Y) over all pairs of x's and y's values along ``axis``."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    y = np.moveaxis(np.asarray(y, dtype=np.float64), axis, -1)
    gt = (x[..., :, None] > y[..., None, :]).mean(axis=(-2, -1))
    eq = (x[..., :, None] == y[..., None, :]).mean(axis=(-2, -1))
    return np.asarray(gt + 0.5 * eq)


def compare(
    a: Values,
    b: Values,
    bounds: tuple[float, float] | None = (0.0, 1.0),
    seed: int = 0,
) -> Comparison:
    """A vs B on the same models: the paired difference over models, the probability of
    improvement (Agarwal et al. 2021, sec. 4.3) with its bootstrap interval over models, the
    number of models where A > B, and whether the difference changes sign between models."""
    x = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(b, dtype=np.float64).reshape(-1)
    if len(x) != len(y):
        raise ConfigError(
            "b",
            f"has {len(y)} per-model values where a has {len(x)}",
            "give a[i] and b[i] from the same model i, one pair per model",
        )
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    d = x - y
    dbounds = None if bounds is None else (bounds[0] - bounds[1], bounds[1] - bounds[0])
    diff = across_models(d, bounds=dbounds)
    n = len(x)
    nan = float("nan")
    p = float(_p_improve(x, y)) if n else nan
    p_lo = p_hi = nan
    if n >= 2:
        res = stats.bootstrap(
            (x, y),
            _p_improve,
            paired=True,
            vectorized=True,
            n_resamples=N_RESAMPLES,
            confidence_level=CONFIDENCE,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        p_lo, p_hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return Comparison(
        diff=diff,
        p_improve=p,
        p_lo=p_lo,
        p_hi=p_hi,
        wins=int((d > 0).sum()),
        n_models=n,
        sign_flip=bool((d > 0).any() and (d < 0).any()),
    )

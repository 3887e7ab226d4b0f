"""95% intervals within one run (items nested in edits) and over repeated seeds of one run.

Every interval names the method that produced it (the ``interval`` column of a record row, the
third value of :func:`item_interval`), and each method below is stated exactly enough to be
recomputed from ``items.parquet`` (columns ``edit`` and ``value``; select one metric, group,
split, phase, ``edits_applied`` and, with several seeds, ``seed``; NaN/null values dropped).

Clusters. The items of one edit share its fate (an edit that fails loses all its items), so they
are not independent. The resampling unit is the *edit*: every id ``edit >= 0`` is one cluster;
every item with ``edit == -1`` (tied to no edit, e.g. ``specificity/other``) is a cluster of its
own. Clusters are ordered by edit id, then the lone items in item order (:func:`clusters`).

Methods of :func:`item_interval` (the mean of per-item values), chosen in this order:

- ``"no items"``: NaN, NaN.
- ``"wilson"``: every item is its own cluster and every value is 0 or 1. The Wilson score
  interval (Wilson 1927, JASA 22; recommended for small n or p near 0/1 by Brown, Cai &
  DasGupta 2001, Statist. Sci. 16) of k = sum of values of n = items:
  ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`` (computed by
  :func:`behemoth.intervals.wilson`, tested equal to scipy).
- ``"one edit: no interval"``: all items belong to one edit, so nothing varies between edits:
  NaN, NaN (a bootstrap would print a zero-width interval).
- ``"wilson over edits (no spread between edits)"``: items share edits, values are 0/1 and
  every cluster has the same share p (e.g. 10 edits that all succeeded, where the clustered
  bootstrap has zero width): the Wilson interval of p with n = the number of clusters,
  ``wilson(p * C, C)``; the edits are the independent units and none of them varied.
- ``"all values equal: no interval"``: non-binary values with no spread between clusters.
- ``"bootstrap_edit"``: otherwise, the percentile bootstrap clustered by edit (Efron &
  Tibshirani 1993, ch. 13; Field & Welsh 2007, JRSS-B 69, for resampling clusters): per cluster
  c the pair (s_c = sum of its values, n_c = its item count), the statistic the ratio
  ``sum s / sum n`` (the item mean), computed as ``scipy.stats.bootstrap((s, n), ratio,
  paired=True, vectorized=True, n_resamples=N_BOOT, method="percentile",
  confidence_level=0.95, rng=np.random.default_rng(seed))`` with seed 0 (``batch`` does not
  change the draws). The percentile interval of a mean of values in [a, b] stays in [a, b],
  so shares get intervals within [0, 1].

Other statistics of a test set (AUC, harmonic-mean Score, ...) get :func:`bootstrap_interval`:
the same clusters resampled by ``scipy.stats.bootstrap((cluster_ids,), stat_of_their_items,
vectorized=False, n_resamples=N_BOOT, rng=np.random.default_rng(seed))`` (the statistic gets
every item of each drawn edit, repeated as often as the edit was drawn), the interval the
2.5% and 97.5% quantiles (``np.nanquantile``, linear) of the bootstrap distribution with
resamples whose statistic is undefined (NaN) left out; one cluster or a zero-width
distribution gives NaN, NaN and says so in the method.

:func:`over_seeds` summarizes a scenario repeated over seeds: mean, sample SD (ddof=1) and the
Student-t 95% interval of the mean over the m seeds, ``scipy.stats.t.interval(0.95, m - 1,
loc=mean, scale=sd / sqrt(m))``, clipped to the metric's range when it is bounded
(:func:`metric_bounds`: shares to [0, 1]); across trained models use
:func:`behemoth.replicates.across_models`, the same computation.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from scipy import stats

from behemoth.intervals import Z95, wilson

__all__ = [
    "N_BOOT",
    "Z95",
    "bootstrap",
    "bootstrap_interval",
    "bootstrap_mean",
    "clusters",
    "item_interval",
    "metric_bounds",
    "over_seeds",
    "wilson",
]

N_BOOT = 2000  # bootstrap resamples of the edits (percentile ends: 2.5% / 97.5% quantiles)
CONFIDENCE = 0.95
_BATCH = 250  # resamples computed at once (memory only: the draws are the same for any batch)

NAN = float("nan")


def clusters(edit: np.ndarray) -> np.ndarray:
    """Cluster ids 0..C-1: one per edit id >= 0 (in ascending id order), then one per item
    without an edit (``edit < 0``), in item order."""
    e = np.asarray(edit, dtype=np.int64).copy().reshape(-1)
    lone = e < 0
    e[lone] = e.max(initial=0) + 1 + np.arange(int(lone.sum()))
    return np.unique(e, return_inverse=True)[1].reshape(-1)


_clusters = clusters  # the former private name


def _ratio(s: np.ndarray, n: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.asarray(s.sum(axis=axis) / n.sum(axis=axis))


def _cluster_sums(v: np.ndarray, edit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cluster (sum of values, item count) of the non-NaN items."""
    ok = ~np.isnan(v)
    c = clusters(np.asarray(edit).reshape(-1)[ok])
    C = int(c.max(initial=-1)) + 1
    return (
        np.bincount(c, weights=v[ok], minlength=C),
        np.bincount(c, minlength=C).astype(np.float64),
    )


def _ratio_bootstrap(
    sums: np.ndarray, cnts: np.ndarray, seed: int, n_boot: int = N_BOOT
) -> tuple[float, float]:
    res = stats.bootstrap(
        (sums, cnts),
        _ratio,
        paired=True,
        vectorized=True,
        n_resamples=n_boot,
        batch=_BATCH,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def bootstrap_mean(
    values: np.ndarray, edit: np.ndarray, n_boot: int = N_BOOT, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of the item mean, resampling edits (NaN items are skipped); see the
    module docstring (``"bootstrap_edit"``). NaN, NaN with fewer than two clusters."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    sums, cnts = _cluster_sums(v, edit)
    if len(sums) < 2:
        return NAN, NAN
    return _ratio_bootstrap(sums, cnts, seed, n_boot)


def bootstrap_interval(
    stat: Callable[[np.ndarray], float],
    edit: np.ndarray,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> tuple[float, float, str]:
    """(low, high, method): percentile interval of ``stat(item_indices)``, resampling edits
    with replacement (an edit drawn m times contributes its items m times); see the module
    docstring. Degenerate cases return NaN, NaN and say why."""
    c = clusters(np.asarray(edit))
    C = int(c.max(initial=-1)) + 1
    if C == 0:
        return NAN, NAN, "no items"
    if C == 1:
        return NAN, NAN, "one edit: no interval"
    items = np.arange(len(c))

    def on_clusters(ids: np.ndarray) -> float:
        times = np.bincount(ids, minlength=C)  # draws of each edit: its items that many times
        return float(stat(np.repeat(items, times[c])))

    with warnings.catch_warnings():  # scipy's own ends are NaN when a resample's stat is:
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # ours skip those
        res = stats.bootstrap(
            (np.arange(C),),
            on_clusters,
            vectorized=False,
            n_resamples=n_boot,
            confidence_level=CONFIDENCE,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    dist = np.asarray(res.bootstrap_distribution, dtype=np.float64)
    dist = dist[~np.isnan(dist)]
    if not len(dist):
        return NAN, NAN, "statistic undefined on every resample: no interval"
    lo, hi = np.quantile(dist, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    if lo == hi:
        return NAN, NAN, f"no spread between the {C} edits: no interval"
    return float(lo), float(hi), "bootstrap_edit"


def bootstrap(
    stat: Callable[[np.ndarray], float],
    edit: np.ndarray,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> tuple[float, float]:
    """(low, high) of :func:`bootstrap_interval` (the method string dropped)."""
    lo, hi, _ = bootstrap_interval(stat, edit, n_boot, seed)
    return lo, hi


def item_interval(values: np.ndarray, edit: np.ndarray, seed: int = 0) -> tuple[float, float, str]:
    """(low, high, method) of the mean of per-item values (NaN items skipped), the method
    chosen as the module docstring lists: Wilson only when every item is its own cluster,
    else the bootstrap clustered by edit, and degenerate cases named instead of a zero-width
    interval."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    e = np.asarray(edit).reshape(-1)
    ok = ~np.isnan(v)
    if not ok.any():
        return NAN, NAN, "no items"
    binary = bool(np.isin(v[ok], (0.0, 1.0)).all())
    sums, cnts = _cluster_sums(v, e)
    C, n = len(sums), int(ok.sum())
    if n == C and binary:
        return (*wilson(float(v[ok].sum()), n), "wilson")
    if C == 1:
        return NAN, NAN, "one item: no interval" if n == 1 else "one edit: no interval"
    shares = sums / cnts
    if np.all(shares == shares[0]):
        if binary:
            lo, hi = wilson(float(shares[0]) * C, C)
            return lo, hi, "wilson over edits (no spread between edits)"
        return NAN, NAN, "all values equal: no interval"
    return (*_ratio_bootstrap(sums, cnts, seed), "bootstrap_edit")


#: Metrics whose values lie in a known range (others: the family decides, see metric_bounds).
_RANGES: dict[str, tuple[float, float]] = {
    "drawdown": (-1.0, 1.0),  # accuracy lost: 1 - 0 per item, so [-1, 1]
    "score": (0.0, 1.0),  # harmonic mean of three shares
    "membership_auc": (0.0, 1.0),
    "membership_gap": (0.0, 0.5),  # |AUC - 0.5|
}


def metric_bounds(row: dict[str, Any]) -> tuple[float, float] | None:
    """The range of a record row's value, or None when unbounded: shares (families
    ``accuracy``/``probability``) lie in [0, 1], probability differences (``*_prob_diff``) in
    [-1, 1]; log-probability gaps and costs are unbounded."""
    metric = str(row.get("metric") or "")
    if metric in _RANGES:
        return _RANGES[metric]
    if metric.endswith("_prob_diff"):
        return (-1.0, 1.0)
    if row.get("family") in ("accuracy", "probability"):
        return (0.0, 1.0)
    return None


def over_seeds(
    rows: Iterable[dict[str, Any]],
    seed_key: str = "seed",
    keys: tuple[str, ...] = ("scenario", "metric", "group", "split", "phase", "edits_applied"),
) -> list[dict[str, Any]]:
    """Mean, sd and 95% interval of each number over repeated runs (pure, over record rows).

    Rows are grouped by ``keys`` (absent keys read as None); each group must hold one row per
    value of ``seed_key`` (the seed or ordering the run was repeated with). The interval is
    the Student-t interval of the mean over the m seeds (``scipy.stats.t.interval``), clipped
    to :func:`metric_bounds` of the metric (an accuracy's never passes 1); NaN for m = 1, and
    zero width named as such when every seed gave the same value. ``interval`` names it.
    """
    groups: dict[tuple[Any, ...], dict[Any, float]] = {}
    first: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        if seed_key not in r:
            raise KeyError(f"row of {r.get('metric')!r} has no {seed_key!r}; tag runs with it")
        key = tuple(r.get(k) for k in keys)
        g = groups.setdefault(key, {})
        first.setdefault(key, r)
        s = r[seed_key]
        if s in g:
            raise ValueError(
                f"two rows of {dict(zip(keys, (r.get(k) for k in keys)))} for {seed_key}={s}"
            )
        g[s] = float(r["value"]) if r.get("value") is not None else NAN
    out = []
    for key, by_seed in groups.items():
        v = np.array([x for x in by_seed.values() if not math.isnan(x)])
        m = len(v)
        bounds = metric_bounds(first[key])
        mean = float(v.mean()) if m else NAN
        sd = float(v.std(ddof=1)) if m > 1 else NAN
        lo = hi = NAN
        if m < 2:
            how = "one seed: no interval" if m else "no value"
        elif sd == 0.0:
            lo = hi = mean
            how = f"all {m} seeds equal: no spread"
        else:
            lo, hi = (
                float(x)
                for x in stats.t.interval(CONFIDENCE, m - 1, loc=mean, scale=sd / math.sqrt(m))
            )
            how = "t over seeds"
            if bounds is not None:
                lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
                how += f" (clipped to [{bounds[0]:g}, {bounds[1]:g}])"
        out.append(
            {
                **dict(zip(keys, key)),
                "seeds": sorted(by_seed),
                "n_seeds": m,
                "mean": mean,
                "sd": sd,
                "ci_low": lo,
                "ci_high": hi,
                "interval": how,
            }
        )
    return out

"""95% intervals for every reported number: Wilson over items, bootstrap clustered by edit, and
mean / sd / interval over repeated seeds.

- A share of binary items (accuracy, ES/PS/NS) gets the Wilson score interval (Wilson 1927;
  Brown, Cai & DasGupta 2001 recommend it over the normal interval for small n or p near 0/1):
  ``(p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``.
- Anything else (magnitudes, probability differences, AUC, the harmonic-mean Score) gets a
  percentile bootstrap that resamples *edits* with replacement (Efron & Tibshirani 1993,
  Ch. 13; clustered because the items of one edit are not independent). Items tied to no edit
  (``edit == -1``, e.g. ``specificity/other``) are their own clusters. Seeded: the same input
  gives the same interval.
- :func:`over_seeds` summarizes a scenario repeated over seeds (or edit orderings): mean,
  sample sd and the Student-t 95% interval of the mean over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from behemoth.intervals import Z95, wilson

N_BOOT = 1000


def _clusters(edit: np.ndarray) -> np.ndarray:
    """Cluster ids 0..C-1: one per edit, one per item without an edit (edit < 0)."""
    e = np.asarray(edit, dtype=np.int64).copy()
    lone = e < 0
    e[lone] = e.max(initial=0) + 1 + np.arange(int(lone.sum()))
    return np.unique(e, return_inverse=True)[1].reshape(-1)


def _percentile(stats: np.ndarray) -> tuple[float, float]:
    stats = stats[~np.isnan(stats)]
    if not len(stats):
        return float("nan"), float("nan")
    lo, hi = np.quantile(stats, [0.025, 0.975])
    return float(lo), float(hi)


def bootstrap_mean(
    values: np.ndarray, edit: np.ndarray, n_boot: int = N_BOOT, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of the item mean, resampling edits (NaN items are skipped)."""
    v = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(v)
    if not ok.any():
        return float("nan"), float("nan")
    c = _clusters(np.asarray(edit)[ok])
    C = int(c.max()) + 1
    sums = np.bincount(c, weights=v[ok], minlength=C)
    cnts = np.bincount(c, minlength=C).astype(np.float64)
    w = np.random.default_rng(seed).multinomial(C, np.full(C, 1.0 / C), size=n_boot)
    return _percentile((w @ sums) / (w @ cnts))


def bootstrap(
    stat: Callable[[np.ndarray], float],
    edit: np.ndarray,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of ``stat(item_indices)``, resampling edits with replacement."""
    c = _clusters(np.asarray(edit))
    C = int(c.max(initial=-1)) + 1
    if C == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    items = np.arange(len(c))
    out = np.empty(n_boot)
    for b in range(n_boot):
        times = np.bincount(rng.integers(0, C, size=C), minlength=C)  # draws of each edit
        out[b] = stat(np.repeat(items, times[c]))  # an edit drawn m times: its items m times
    return _percentile(out)


def item_interval(values: np.ndarray, edit: np.ndarray, seed: int = 0) -> tuple[float, float, str]:
    """(low, high, method) for the mean of per-item values: Wilson when every applicable item
    is 0 or 1, else the edit-clustered bootstrap."""
    v = np.asarray(values, dtype=np.float64)
    ok = v[~np.isnan(v)]
    if len(ok) and np.isin(ok, (0.0, 1.0)).all():
        return (*wilson(float(ok.sum()), len(ok)), "wilson")
    return (*bootstrap_mean(v, edit, seed=seed), "bootstrap_edit")


def t975(df: int) -> float:
    """The Student-t 0.975 quantile with ``df`` degrees of freedom: the x with
    integral_0^x pdf = 0.475, found by bisection on a Simpson-rule integral of the density
    Gamma((v+1)/2) / (sqrt(v pi) Gamma(v/2)) (1 + t^2/v)^(-(v+1)/2) (accurate to 1e-6)."""
    if df < 1:
        return float("nan")
    v = float(df)
    c = math.exp(math.lgamma((v + 1) / 2) - math.lgamma(v / 2)) / math.sqrt(v * math.pi)

    def mass(x: float) -> float:
        t = np.linspace(0.0, x, 4001)
        f = c * (1 + t * t / v) ** (-(v + 1) / 2)
        h = x / 4000
        return float(h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum()))

    lo, hi = Z95, 13.0  # t_{0.975} lies between the normal quantile and t_1 = 12.706
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mass(mid) < 0.475 else (lo, mid)
    return (lo + hi) / 2


def over_seeds(
    rows: Iterable[dict[str, Any]],
    seed_key: str = "seed",
    keys: tuple[str, ...] = ("scenario", "metric", "group", "split", "phase", "edits_applied"),
) -> list[dict[str, Any]]:
    """Mean, sd and 95% interval of each number over repeated runs (pure, over record rows).

    Rows are grouped by ``keys`` (absent keys read as None); each group must hold one row per
    value of ``seed_key`` (the seed or ordering the run was repeated with). The interval is
    mean -/+ t_{0.975, m-1} sd / sqrt(m) over the m seeds (NaN for m = 1).
    """
    groups: dict[tuple[Any, ...], dict[Any, float]] = {}
    for r in rows:
        if seed_key not in r:
            raise KeyError(f"row of {r.get('metric')!r} has no {seed_key!r}; tag runs with it")
        g = groups.setdefault(tuple(r.get(k) for k in keys), {})
        s = r[seed_key]
        if s in g:
            raise ValueError(
                f"two rows of {dict(zip(keys, (r.get(k) for k in keys)))} for {seed_key}={s}"
            )
        g[s] = float(r["value"]) if r.get("value") is not None else float("nan")
    out = []
    for key, by_seed in groups.items():
        v = np.array([x for x in by_seed.values() if not math.isnan(x)])
        m = len(v)
        mean = float(v.mean()) if m else float("nan")
        sd = float(v.std(ddof=1)) if m > 1 else float("nan")
        half = t975(m - 1) * sd / math.sqrt(m) if m > 1 else float("nan")
        out.append(
            {
                **dict(zip(keys, key)),
                "seeds": sorted(by_seed),
                "n_seeds": m,
                "mean": mean,
                "sd": sd,
                "ci_low": mean - half,
                "ci_high": mean + half,
            }
        )
    return out

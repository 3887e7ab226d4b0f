"""The exposure *plan*: how many times each S-O fact is written per corpus pass (issue 25).

A pure function of (config, graph shape, seed), kept apart from the record
(:mod:`behemoth.world.exposure`, which counts what the corpus renders and so imports the
corpus): the corpus imports only this plan. The distributions and the rounding are described
in :mod:`behemoth.world.exposure`.
"""

from __future__ import annotations

import numpy as np

from behemoth.world.config import WorldConfig
from behemoth.world.graph import Graph
from behemoth.world.rng import derive_rng


def _ranks(n: int, seed: int) -> np.ndarray:
    """1-based rank of each of ``n`` units in a seeded random order."""
    order = derive_rng(seed, "exposure").permutation(n)
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(1, n + 1)
    return ranks


def _unit_of_fact(over: str, S: int, R: int) -> tuple[int, np.ndarray]:
    """(number of units, unit of every fact s * R + r) for ranking ``over``."""
    s = np.repeat(np.arange(S), R)
    r = np.tile(np.arange(R), S)
    if over == "subjects":
        return S, s
    if over == "relations":
        return R, r
    return S * R, s * R + r


def apportion(weights: np.ndarray, total: int, floor: int) -> np.ndarray:
    """Integers proportional to ``weights``, each at least ``floor``, summing to ``total``.

    Water-filling finds the scale ``c`` with ``sum(max(floor, c * w)) == total``; the real
    shares are then rounded by largest remainders (ties to the lower index), which keeps the
    sum exact. Needs ``floor * len(weights) <= total``."""
    w = np.asarray(weights, dtype=np.float64)
    n = len(w)
    if floor * n > total:
        raise ValueError(f"{n} units of at least {floor} exceed the total {total}")
    clamped = np.zeros(n, dtype=bool)
    while True:
        free = ~clamped
        scale = (total - floor * clamped.sum()) / w[free].sum()
        newly = free & (scale * w < floor)
        if not newly.any():
            break
        clamped |= newly
    x = np.where(clamped, float(floor), scale * w)
    out = np.floor(x).astype(np.int64)
    out = np.maximum(out, floor)
    left = total - int(out.sum())
    if left > 0:
        frac = x - np.floor(x)
        out[np.argsort(-frac, kind="stable")[:left]] += 1
    elif left < 0:  # float error pushed a floor up: take back from the smallest remainders
        frac = x - np.floor(x)
        for i in np.argsort(frac, kind="stable"):
            if left == 0:
                break
            if out[i] > floor:
                out[i] -= 1
                left += 1
    return out


def repeat_counts(
    cfg: WorldConfig, graph: Graph | None = None, seed: int | None = None
) -> np.ndarray:
    """[S * R] int64: times each S-O fact ``s * R + r`` is written per pass (see the module's
    docstring). A pure function of the config (its ``exposure`` and ``repeats``), the graph's
    shape and ``seed`` (default: the world's seed)."""
    S = graph.n_subjects if graph is not None else cfg.subjects
    R = graph.n_relations if graph is not None else cfg.relations
    e = cfg.exposure
    seed = cfg.seed if seed is None else seed
    if e.kind == "uniform":
        counts = np.full(S * R, cfg.repeats, dtype=np.int64)
    else:
        n_units, unit = _unit_of_fact(e.over, S, R)
        rank = _ranks(n_units, seed)
        if e.kind == "zipf":
            per_unit = apportion(
                rank.astype(np.float64) ** -e.a, cfg.repeats * n_units, e.min_repeats
            )
        else:  # head_tail: the first head_share of the ranked units are the head
            n_head = max(1, min(n_units - 1, round(e.head_share * n_units))) if n_units > 1 else 1
            per_unit = np.where(rank <= n_head, e.head_repeats, e.tail_repeats).astype(np.int64)
        counts = per_unit[unit]
    for s, r, count in e.fixed:
        counts[s * R + r] = count
    return counts

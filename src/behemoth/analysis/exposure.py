"""Learning, editability and forgetting against how often a fact was seen (issue 25).

Pure: numpy, pandas and scipy (through :mod:`behemoth.replicates`); no torch. Every figure is
stated over trained replicates: the trained model is the unit (one value per model per bin,
then :func:`behemoth.replicates.across_models`: mean, Student-t 95% interval over models, SD,
per-model values; :func:`behemoth.replicates.holds` for k of n).

Exposure bins (:func:`exposure_bins`). A fact's exposure is the number of times one corpus pass
states it (``behemoth.world.exposure.fact_exposure``). Bins are powers of ``base`` (2 by
default): bin ``k`` holds the exposures ``e`` with ``base**k <= e < base**(k+1)``, from the bin
holding the smallest positive exposure to the one holding the largest, so every replicate of a
study shares the same edges. A bin's position on the exposure axis is the geometric mean of the
exposures of the facts it holds, averaged over the frame (one position per bin, shared by the
replicates). Facts never stated (exposure 0) have no place on a log axis: they get bin ``-1``
with position 0 and are kept out of the crossings.

Crossings (:func:`crossings`). The exposure at which a replicate's accuracy first reaches a level
(50%, 99%): walking the non-empty bins from rare to frequent, the first bin whose accuracy is
``>= level``; the crossing is interpolated linearly in ``log(exposure)`` between that bin's
position and the previous bin's (accuracy linear in log exposure between the two). If the very
first bin already reaches the level the crossing is "below the smallest bin" and if no bin
reaches it "not reached": both are stated as a status with NaN, never a made-up number. Over
replicates the crossing is summarised on ``log10`` exposure (the interval of a geometric mean),
over the replicates that reached it, with k of n saying how many did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from behemoth.errors import ConfigError
from behemoth.replicates import ReplicateEstimate, across_models

LEVELS: tuple[float, ...] = (0.5, 0.99)
REACHED = "reached"
BELOW = "below the smallest bin"
NOT_REACHED = "not reached"

_LEARNING_COLUMNS = ("replicate", "fact", "exposure", "correct", "loss")


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(
            what,
            f"lacks the column(s) {', '.join(missing)}",
            f"give a frame with the columns {', '.join(columns)}",
        )


def exposure_bins(exposure: pd.Series | np.ndarray, base: float = 2.0) -> np.ndarray:
    """Bin index per fact: ``floor(log_base(e))`` for ``e >= 1`` (see the module docstring),
    ``-1`` for exposure 0. Refuses negative or missing exposures and ``base <= 1``."""
    if not base > 1.0:
        raise ConfigError("base", f"{base} is not above 1", "give a log base such as 2 or 10")
    e = np.asarray(exposure, dtype=np.float64)
    if np.isnan(e).any() or (e < 0).any():
        raise ConfigError(
            "exposure",
            "holds missing or negative values",
            "keep only facts of the world (items with a fact: exposure not null)",
        )
    out = np.full(e.shape, -1, dtype=np.int64)
    pos = e >= 1.0
    # the small epsilon keeps exact powers (e = base**k) in bin k despite rounding of the log
    out[pos] = np.floor(np.log(e[pos]) / math.log(base) + 1e-9).astype(np.int64)
    return out


def _positions(frame: pd.DataFrame) -> pd.Series:
    """Per bin: the geometric mean of its facts' exposures (0 for the bin of unseen facts)."""
    e = frame["exposure"].astype(np.float64)
    logs = np.log(e.where(e > 0))
    pos = np.exp(logs.groupby(frame["bin"]).mean()).fillna(0.0)
    pos.name = "position"
    return pos


def _binned(frame: pd.DataFrame, values: Sequence[str], keys: Sequence[str], base: float):
    frame = frame.copy()
    frame["bin"] = exposure_bins(frame["exposure"], base)
    pos = _positions(frame)
    agg = {v: (v, "mean") for v in values}
    out = frame.groupby([*keys, "replicate", "bin"], sort=True, dropna=False).agg(
        **agg, n=("exposure", "size")
    )
    out = out.reset_index()
    out["position"] = out["bin"].map(pos)
    out["lo"] = np.where(out["bin"] >= 0, base ** out["bin"].astype(np.float64), 0.0)
    out["hi"] = np.where(out["bin"] >= 0, base ** (out["bin"].astype(np.float64) + 1), 1.0)
    return out


def learning_curves(facts: pd.DataFrame, by: Sequence[str] = (), base: float = 2.0) -> pd.DataFrame:
    """Per replicate and exposure bin: accuracy (mean greedy correctness), mean loss, facts.

    ``facts``: one row per (replicate, fact) with ``exposure``, ``correct`` (bool or 0/1) and
    ``loss`` (the object's NLL); ``by`` names columns (e.g. ``world``) whose values get curves
    of their own; other columns are ignored. Returns columns
    ``[*by, replicate, bin, lo, hi, position, accuracy, loss, n]``."""
    _require(facts, [*_LEARNING_COLUMNS, *by], "facts")
    keys = list(by)
    frame = facts[[*keys, *_LEARNING_COLUMNS]].assign(accuracy=facts["correct"].astype(np.float64))
    out = _binned(frame, ["accuracy", "loss"], keys, base)
    return out[[*keys, "replicate", "bin", "lo", "hi", "position", "accuracy", "loss", "n"]]


@dataclass(frozen=True)
class Crossing:
    """Where one replicate's accuracy first reaches ``level``: ``exposure`` (NaN unless
    ``status`` is ``reached``) and ``status`` (reached / below the smallest bin / not reached)."""

    level: float
    exposure: float
    status: str


def crossing(positions: Sequence[float], accuracy: Sequence[float], level: float) -> Crossing:
    """The first crossing of ``level`` along bins ordered by position (see module docstring)."""
    x = np.asarray(positions, dtype=np.float64)
    a = np.asarray(accuracy, dtype=np.float64)
    keep = (x > 0) & ~np.isnan(a)
    x, a = x[keep], a[keep]
    order = np.argsort(x, kind="stable")
    x, a = x[order], a[order]
    hit = np.flatnonzero(a >= level)
    nan = float("nan")
    if len(hit) == 0:
        return Crossing(level, nan, NOT_REACHED)
    i = int(hit[0])
    if i == 0:
        return Crossing(level, nan, BELOW)
    lx0, lx1 = math.log(x[i - 1]), math.log(x[i])
    frac = (level - a[i - 1]) / (a[i] - a[i - 1])
    return Crossing(level, float(math.exp(lx0 + frac * (lx1 - lx0))), REACHED)


def crossings(
    curves: pd.DataFrame, levels: Sequence[float] = LEVELS, metric: str = "accuracy"
) -> pd.DataFrame:
    """Per replicate (and group) and level: the crossing exposure and its status, from the
    output of :func:`learning_curves` or :func:`metric_curves` (``metric`` names the column)."""
    keys = _group_keys(curves, metric)
    rows = []
    for key, part in curves.groupby([*keys, "replicate"], sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        for level in levels:
            c = crossing(part["position"].to_numpy(), part[metric].to_numpy(), level)
            rows.append(
                {
                    **dict(zip([*keys, "replicate"], key)),
                    "level": level,
                    "exposure": c.exposure,
                    "status": c.status,
                }
            )
    return pd.DataFrame(rows, columns=[*keys, "replicate", "level", "exposure", "status"])


def crossing_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Over replicates, per group and level: the crossing on log10 exposure (geometric mean
    ``exposure`` with its t interval ``lo``-``hi`` mapped back, SD in decades ``sd_log10``)
    over the replicates that reached it; ``reached``/``n`` and the counts below / not reached."""
    keys = [c for c in table.columns if c not in ("replicate", "level", "exposure", "status")]
    rows = []
    for key, part in table.groupby([*keys, "level"], sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        ok = part[part["status"] == REACHED]
        est = across_models(np.log10(ok["exposure"].to_numpy()), bounds=None)
        rows.append(
            {
                **dict(zip([*keys, "level"], key)),
                "exposure": 10**est.value,
                "lo": 10**est.lo,
                "hi": 10**est.hi,
                "sd_log10": est.sd,
                "reached": int(len(ok)),
                "below": int((part["status"] == BELOW).sum()),
                "not_reached": int((part["status"] == NOT_REACHED).sum()),
                "n": int(len(part)),
                "method": est.method,
            }
        )
    return pd.DataFrame(rows)


def _group_keys(curves: pd.DataFrame, metric: str) -> list[str]:
    fixed = {"replicate", "bin", "lo", "hi", "position", "n", "accuracy", "loss", metric}
    return [c for c in curves.columns if c not in fixed]


def metric_curves(
    items: pd.DataFrame,
    metric: str,
    split: str | None = None,
    by: Sequence[str] = (),
    phase: str = "post",
    base: float = 2.0,
) -> pd.DataFrame:
    """Any metric against the exposure of each item's fact, per replicate and bin.

    ``items``: rows of a sweep's ``items.parquet`` (``metric``, ``split``, ``phase``,
    ``replicate``, ``exposure``, ``value``). Efficacy items carry the edited fact, so its
    curve is efficacy against the edited fact's exposure; specificity items carry the tested
    (untouched) fact, so its curve is against the tested fact's exposure. Items without a fact
    (exposure null) and null values are dropped. ``by``: label columns kept apart (e.g.
    ``label_editor``, ``label_world``). Within a replicate the items of a bin are averaged
    (edits nested within the model); returns ``[*by, replicate, bin, lo, hi, position, value, n]``.
    """
    _require(items, ["metric", "phase", "replicate", "exposure", "value", *by], "items")
    sel = (items["metric"] == metric) & (items["phase"] == phase)
    if split is not None:
        _require(items, ["split"], "items")
        sel &= items["split"] == split
    part = items.loc[sel & items["exposure"].notna() & items["value"].notna()]
    if part.empty:
        raise ConfigError(
            "metric",
            f"{metric!r} (split {split!r}, phase {phase!r}) has no item with an exposure",
            "pick a metric, split and phase present in the items, on facts of the world",
        )
    frame = part[[*by, "replicate", "exposure", "value"]].astype({"value": np.float64})
    out = _binned(frame, ["value"], list(by), base)
    return out[[*by, "replicate", "bin", "lo", "hi", "position", "value", "n"]]


def across_replicates(
    curves: pd.DataFrame, column: str, bounds: tuple[float, float] | None = (0.0, 1.0)
) -> pd.DataFrame:
    """Per group and bin, over replicates: mean, t interval (clipped to ``bounds``), SD, the
    number of models and the facts behind them; one row per bin with its position."""
    keys = _group_keys(curves, column)
    rows = []
    for key, part in curves.groupby([*keys, "bin"], sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        est: ReplicateEstimate = across_models(
            part[column].to_numpy(), n_items=list(part["n"]), bounds=bounds
        )
        rows.append(
            {
                **dict(zip([*keys, "bin"], key)),
                "position": float(part["position"].iloc[0]),
                "lo_edge": float(part["lo"].iloc[0]),
                "hi_edge": float(part["hi"].iloc[0]),
                "mean": est.value,
                "ci_low": est.lo,
                "ci_high": est.hi,
                "sd": est.sd,
                "n_models": est.n_models,
                "n_items": est.n_items,
                "cell": est.cell(),
            }
        )
    return pd.DataFrame(rows)

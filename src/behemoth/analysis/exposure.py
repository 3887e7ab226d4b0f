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


# -- editing: the rank an edit needs, the fine-tuning steps it needs, retention in a stream ----
#: The efficacy items of the edited facts: one prompt per edit (``group`` efficacy, the edit's own
#: template), value 1.0 when the greedy token is the new object.
_EFFICACY = ("efficacy", "efficacy")
NONE_IN_GRID = "none within the grid"
TAKEN = "taken"


def _efficacy_items(items: pd.DataFrame, what: str) -> pd.DataFrame:
    """The post-edit efficacy items of ``items`` (metric and group efficacy, phase post)."""
    _require(items, ["metric", "group", "phase", "edit", "exposure", "value"], what)
    sel = (
        (items["metric"] == _EFFICACY[0])
        & (items["group"] == _EFFICACY[1])
        & (items["phase"] == "post")
    )
    part = items.loc[sel]
    if part.empty:
        raise ConfigError(
            what,
            "holds no post-edit efficacy item",
            "give the items of edit runs (metric efficacy)",
        )
    if part["exposure"].isna().any():
        raise ConfigError(
            what,
            "has efficacy items without an exposure",
            "give the items of S-O edits (every edited fact of a world has one)",
        )
    return part


def _final(part: pd.DataFrame, run: Sequence[str]) -> pd.DataFrame:
    """The items of each run's final checkpoint (``edits_applied`` the run's largest; items
    without a checkpoint kept): a stream's earlier checkpoints are retention's, not its edits'."""
    if "edits_applied" not in part.columns:
        return part
    last = part.groupby(list(run), dropna=False)["edits_applied"].transform("max")
    return part[(part["edits_applied"] == last) | part["edits_applied"].isna()]


def _taken(part: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Per ``keys`` + edit: whether every efficacy item of the edit is answered with the new
    object (the sequential study's definition of an edit that holds,
    :mod:`behemoth.experiments.sequential`), with the edited fact and its exposure."""
    g = part.groupby([*keys, "edit"], sort=True, dropna=False)
    out = g.agg(
        taken=("value", lambda v: bool((v.to_numpy(dtype=np.float64) == 1.0).all())),
        exposure=("exposure", "first"),
        **({"subject": ("subject", "first")} if "subject" in part.columns else {}),
        **({"relation": ("relation", "first")} if "relation" in part.columns else {}),
    )
    return out.reset_index()


def rank_needed(
    items: pd.DataFrame,
    by: Sequence[str] = ("label_world", "label_model", "label_scenario", "seed"),
    rank: str = "rank",
) -> pd.DataFrame:
    """Per edited fact: the smallest LoRA rank at which its edit takes, against its exposure.

    ``items``: the sweep items of the LoRA runs of a rank grid, with a ``rank`` column (the run's
    LoRA rank). One group is one scenario on one trained model: the columns ``by`` and
    ``replicate``; within it each rank is one run, and since the runs share the scenario's seed
    they edit the same facts (checked: the edits, their subjects, relations and exposures must be
    the same at every rank, else the group is refused, as is a rank run twice in one group).
    An edit takes at a rank when every post-edit efficacy item of it is answered with the new
    object. Only the final checkpoint of a run counts.

    Returns one row per group and edit: ``[*by, replicate, edit, subject, relation, exposure,
    rank_needed, status, monotone, grid]``: ``rank_needed`` the smallest rank of the group's grid
    at which the edit takes (NaN and status "none within the grid" if none does), ``monotone``
    whether it also takes at every larger rank of the grid, ``grid`` the ranks run (e.g. "1,4,16")."""
    part = _efficacy_items(items, "items")
    keys = [*by, "replicate"]
    _require(part, [*keys, rank], "items")
    if part[rank].isna().any():
        raise ConfigError("items", f"has rows without a {rank!r}", "give the LoRA runs only")
    if "run_id" in part.columns:
        runs = part.groupby([*keys, rank], dropna=False)["run_id"].nunique()
        twice = runs[runs > 1]
        if len(twice):
            raise ConfigError(
                "items",
                f"{len(twice)} group(s) hold several runs at one rank (e.g. {twice.index[0]})",
                "add the column that tells those runs apart (e.g. the editor label) to by",
            )
    part = _final(part, ["run_id"] if "run_id" in part.columns else [*keys, rank])
    taken = _taken(part, [*keys, rank])
    fact_cols = [c for c in ("edit", "subject", "relation", "exposure") if c in taken.columns]
    rows = []
    for key, grp in taken.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        grid = sorted(int(r) for r in grp[rank].unique())
        facts = {
            int(r): sorted(map(tuple, g[fact_cols].to_numpy().tolist()))
            for r, g in grp.groupby(rank, sort=True)
        }
        first = facts[grid[0]]
        for r in grid[1:]:
            if facts[r] != first:
                raise ConfigError(
                    "items",
                    f"the runs of {dict(zip(keys, key))} at ranks {grid[0]} and {r} edit "
                    "different facts",
                    "compare runs of one scenario, world, model and seed (the same scenario seed "
                    "draws the same edits); add the column that separates them to by",
                )
        wide = grp.pivot_table(index="edit", columns=rank, values="taken", aggfunc="first")
        for edit, row in wide.iterrows():
            ok = [r for r in grid if bool(row[r])]
            fact = grp[grp["edit"] == edit].iloc[0]
            need = ok[0] if ok else float("nan")
            rows.append(
                {
                    **dict(zip(keys, key)),
                    "edit": int(edit),
                    "subject": int(fact["subject"]) if "subject" in fact else -1,
                    "relation": int(fact["relation"]) if "relation" in fact else -1,
                    "exposure": int(fact["exposure"]),
                    "rank_needed": need,
                    "status": TAKEN if ok else NONE_IN_GRID,
                    "monotone": bool(ok) and all(bool(row[r]) for r in grid if r >= ok[0]),
                    "grid": ",".join(str(r) for r in grid),
                }
            )
    cols = [*keys, "edit", "subject", "relation", "exposure", "rank_needed", "status"]
    return pd.DataFrame(rows, columns=[*cols, "monotone", "grid"])


def rank_curves(needed: pd.DataFrame, by: Sequence[str] = (), base: float = 2.0) -> pd.DataFrame:
    """From :func:`rank_needed`: per replicate, exposure bin and rank ``r`` of the grid, the share
    of the bin's edited facts whose edit takes at a rank ``<= r`` (``rank_at_most``; an edit that
    takes nowhere in the grid counts as not taken at every ``r``). Per model first (the share
    over the model's facts in the bin), then :func:`across_replicates` over models. Returns
    ``[*by, rank_at_most, replicate, bin, lo, hi, position, value, n]``."""
    _require(needed, ["replicate", "exposure", "rank_needed", "grid", *by], "needed")
    grids = set(needed["grid"])
    if len(grids) != 1:
        raise ConfigError(
            "needed",
            f"mixes rank grids {sorted(grids)}",
            "give facts of one rank grid (select the runs of one grid)",
        )
    ranks = [int(r) for r in next(iter(grids)).split(",")]
    parts = []
    for r in ranks:
        took = (needed["rank_needed"] <= r).astype(np.float64)  # NaN (none) compares False
        frame = needed[[*by, "replicate", "exposure"]].assign(value=took, rank_at_most=r)
        parts.append(_binned(frame, ["value"], [*by, "rank_at_most"], base))
    out = pd.concat(parts, ignore_index=True)
    return out[[*by, "rank_at_most", "replicate", "bin", "lo", "hi", "position", "value", "n"]]


def steps_needed(runs: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Per single-edit fine-tuning run: the optimizer steps its edit took, with the edited fact's
    exposure.

    ``runs``: one row per run (``run_id``, ``steps``: the trainer's ``info["steps"]``,
    ``finished``: whether every edit's NLL fell below ``stop_nll`` before the step budget ran
    out, and any label columns, kept); ``items``: the sweep items, whose post-edit efficacy items
    give each run's edited fact. A run whose efficacy items span several edits is refused (the
    steps are then shared by the batch, not one fact's), as is a run without items. Returns
    ``runs``' columns plus ``edit, subject, relation, exposure, taken``; ``steps`` is NaN where
    the run did not finish (the budget is a lower bound, not a count)."""
    _require(runs, ["run_id", "steps", "finished"], "runs")
    _require(items, ["run_id"], "items")
    part = _efficacy_items(items[items["run_id"].isin(runs["run_id"])], "items")
    part = _final(part, ["run_id"])
    edits = part.groupby("run_id")["edit"].nunique()
    several = edits[edits > 1]
    if len(several):
        raise ConfigError(
            "runs",
            f"run {several.index[0]} edits {int(several.iloc[0])} facts at once",
            "give single-edit runs (scenario single): a batch's steps belong to no one fact",
        )
    missing = sorted(set(runs["run_id"]) - set(edits.index))
    if missing:
        raise ConfigError(
            "items", f"hold no efficacy item of run {missing[0]}", "give the sweep's items"
        )
    facts = _taken(part, ["run_id"])
    out = runs.merge(facts, on="run_id", how="left", validate="one_to_one")
    out["steps"] = out["steps"].astype(np.float64).where(out["finished"].astype(bool))
    return out


def retention(items: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Retention under sequential editing, per edit and checkpoint.

    ``items``: the sweep items of stream runs (one edit per batch, evaluated every
    ``eval_every`` edits). At a checkpoint (``edits_applied``) the efficacy items cover the edits
    applied so far; an edit is retained when every one of them is still answered with the new
    object (the sequential study's ``retention/edits_so_far``). Returns one row per group
    (``by``), replicate, checkpoint and applied edit: ``[*by, replicate, edits_applied, edit,
    exposure, retained]`` (retained 0.0 / 1.0)."""
    part = _efficacy_items(items, "items")
    keys = [*by, "replicate", "edits_applied"]
    _require(part, keys, "items")
    if (part["edit"] >= part["edits_applied"]).any():
        raise ConfigError(
            "items",
            "hold efficacy items of edits not yet applied at their checkpoint",
            "give the items of stream runs as the sweep writes them",
        )
    got = _taken(part, keys)
    got["retained"] = got["taken"].astype(np.float64)
    return got[[*keys, "edit", "exposure", "retained"]]


def band_curves(
    frame: pd.DataFrame, value: str, by: Sequence[str] = (), band: str = "label_scenario"
) -> pd.DataFrame:
    """Per group (``by``), exposure band and replicate: the mean of ``value`` over the band's
    rows (per model first; NaN values, e.g. unfinished runs, left out of the mean but counted in
    ``n``). A band is a value of ``band`` (the scenario label: its facts come from one quantile
    band); it sits at the geometric mean of its facts' exposures over every replicate (each fact
    once), ``lo`` /
    ``hi`` its smallest and largest exposure, and ``bin`` orders the bands by that position, so
    the output reads like :func:`metric_curves` (``[*by, band, replicate, bin, lo, hi, position,
    value, n]``) and :func:`across_replicates` summarises it over models."""
    _require(frame, [*by, band, "replicate", "exposure", value], "frame")
    f = frame[[*by, band, "replicate", "exposure", value]].copy()
    e = f["exposure"].astype(np.float64)
    if (e <= 0).any() or e.isna().any():
        raise ConfigError("exposure", "holds a fact never stated", "band facts of the world only")
    f["_log"] = np.log(e)
    # each fact once (a stream's edit is scored at every checkpoint; one scenario's facts recur
    # across editors): an edit of a replicate is (edit, exposure) within its band
    ident = [band, "replicate", *(["edit"] if "edit" in frame.columns else []), "exposure"]
    once = f.assign(edit=frame["edit"]) if "edit" in frame.columns else f
    where = (
        once.drop_duplicates(ident)
        .groupby(band)
        .agg(position=("_log", "mean"), lo=("exposure", "min"), hi=("exposure", "max"))
    )
    where["position"] = np.exp(where["position"])
    order = where["position"].rank(method="first").astype(np.int64) - 1
    out = (
        f.groupby([*by, band, "replicate"], sort=True, dropna=False)
        .agg(value=(value, "mean"), n=(value, "size"))
        .reset_index()
    )
    out["bin"] = out[band].map(order)
    for c in ("position", "lo", "hi"):
        out[c] = out[band].map(where[c]).astype(np.float64)
    return out[[*by, band, "replicate", "bin", "lo", "hi", "position", "value", "n"]]

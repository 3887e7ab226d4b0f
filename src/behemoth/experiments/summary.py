"""What ``behemoth edit`` prints after a run: every table with n and a 95% interval.

- the final checkpoint's records (per metric, split and phase; never averaged over checkpoints),
- per checkpoint of a stream: retention of earlier edits and unedited-fact accuracy (Wilson),
  the largest normalized weight distance, and the detection results,
- with several seeds: mean, sd and the t interval over seeds of every final number (clipped
  to a share's [0, 1]), with the method that produced each interval
  (:func:`behemoth.evaluation.uncertainty.over_seeds`).

Every interval is printed with the name of its method (the records' ``interval`` column: e.g.
``wilson``, ``bootstrap_edit``, ``one edit: no interval``), so a reader knows what it means and
can recompute it from ``items.parquet`` (:mod:`behemoth.evaluation.uncertainty`).
"""

from __future__ import annotations

import math
from typing import Any

from behemoth.evaluation.records import Records


def _f(v: Any) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def final_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of each seed's last checkpoint (largest ``batches_applied``)."""
    last: dict[Any, int] = {}
    for r in rows:
        last[r.get("seed")] = max(last.get(r.get("seed"), 0), r.get("batches_applied", 0))
    return [r for r in rows if r.get("batches_applied", 0) == last[r.get("seed")]]


def checkpoint_table(seq_rows: list[dict[str, Any]]) -> str:
    """Per checkpoint: retention and unedited-fact accuracy with n and Wilson intervals."""
    head = (
        f"{'edits':>6} {'retention':>9} {'95% interval':>18} {'n':>5}  "
        f"{'unedited acc':>12} {'95% interval':>18} {'n':>7}  {'max |W-W0|/numel':>16}"
    )
    lines = [head, "-" * len(head)]
    by: dict[int, dict[str, Any]] = {}
    for r in seq_rows:
        c = by.setdefault(r["edits_applied"], {"dist": float("nan")})
        if r["measure"] == "retention" and r["split"] == "edits_so_far":
            c["ret"] = r
        elif r["measure"] == "unedited_accuracy":
            c["acc"] = r
        elif r["measure"] == "weight_distance_per_numel":
            c["dist"] = r["value"] if math.isnan(c["dist"]) else max(c["dist"], r["value"])
    for k in sorted(by):
        c = by[k]
        ret, acc = c.get("ret"), c.get("acc")
        if acc is None:
            continue
        rs = (
            f"{_f(ret['value']):>9} {'[' + _f(ret['ci_low']) + ', ' + _f(ret['ci_high']) + ']':>18} "
            f"{ret['n']:>5}"
            if ret
            else f"{'-':>9} {'-':>18} {'-':>5}"
        )
        lines.append(
            f"{k:>6} {rs}  {_f(acc['value']):>12} "
            f"{'[' + _f(acc['ci_low']) + ', ' + _f(acc['ci_high']) + ']':>18} {acc['n']:>7}  "
            f"{_f(c['dist']) if not math.isnan(c['dist']) else '-':>16}"
        )
    return "\n".join(lines)


def seeds_table(summary: list[dict[str, Any]]) -> str:
    """Mean, sd and the 95% t interval over seeds (n = seeds) of each final number, with the
    interval's method (clipped to a share's bounds; degenerate cases named)."""
    head = (
        f"{'metric':<24} {'split':<28} {'phase':<5} {'mean':>8} {'sd':>8} "
        f"{'95% interval':>21} {'n seeds':>7}  interval"
    )
    lines = [head, "-" * len(head)]
    last = max((r.get("batches_applied") or 0 for r in summary), default=0)
    for r in summary:
        if (r.get("batches_applied") or 0) != last or r["group"] == "cost":
            continue
        no_ci = any(r[k] is None or math.isnan(r[k]) for k in ("ci_low", "ci_high"))
        ci = "-" if no_ci else f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}]"
        lines.append(
            f"{r['metric']:<24} {r['split']:<28} {r['phase'] or '':<5} {_f(r['mean']):>8} "
            f"{_f(r['sd']):>8} {ci:>21} {r['n_seeds']:>7}  {r.get('interval') or 't over seeds'}"
        )
    return "\n".join(lines)


def describe(result: Any) -> str:
    """The printed summary of an :class:`~behemoth.experiments.run.ExperimentResult`."""
    parts = [f"run {result.run_id}", Records(final_rows(result.records.rows)).table()]
    for sr in result.runs:
        if len(sr.scenario.batches) > 1:
            parts.append(f"\nsequential (seed {sr.seed}):\n" + checkpoint_table(sr.tracker.rows))
        parts.append(f"seed {sr.seed}: " + sr.tracker.describe())
    if result.seed_summary:
        parts.append(f"\nover {len(result.runs)} seeds:\n" + seeds_table(result.seed_summary))
    return "\n".join(parts)

"""Tidy results: one row per run x metric x split, per-item values kept in a separate table.

Every row names the protocol that produced it (and its version), so results of different
semantics (one-shot vs sequential editing) never mix silently. Metric rows also carry ``phase``
("pre": the unedited model, "post": the edited one), ``edits_applied`` (0 for pre rows), ``n``
and a 95% interval (``ci_low``, ``ci_high``) with ``interval`` naming the method that produced
it (see :mod:`behemoth.evaluation.uncertainty`). Written as Parquet and JSONL with exactly the
columns of :data:`behemoth.evaluation.schema.RECORD_COLUMNS` (``docs/results_schema.md``): a
missing optional column is null, an unknown key is refused with its name.

Item table (``items.parquet``, columns :data:`ITEM_COLUMNS`, see the schema module): one row per item of every metric
row, pre-edit and post-edit, at every checkpoint, each with the checkpoint it was measured at:
``phase``, ``edits_applied`` (0 for pre rows, as their aggregate rows) and ``batches_applied``
(null outside a stream). The aggregate row of (run, metric, group, split, phase, edits_applied,
batches_applied) is recomputed from its items: value = mean of the non-null ``value`` (for
``aggregation == "mean"``), n = their count, and the interval by
:func:`behemoth.evaluation.uncertainty.item_interval(values, edit)`, whose docstring states each
method exactly. Both files load into pandas in one line: ``pd.read_parquet(out /
"records.parquet")``, ``pd.read_parquet(out / "items.parquet")`` (or :meth:`Records.to_pandas`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from behemoth.evaluation.schema import ITEM_COLUMNS as ITEM_FIELDS
from behemoth.evaluation.schema import (
    ITEM_SCHEMA,
    RECORD_COLUMNS,
    ResultRow,
    conform,
    conform_table,
)

#: The evaluation protocol; bump the version whenever a metric's definition changes.
PROTOCOL = "behemoth-eval"
PROTOCOL_VERSION = 2  # 2: phase, edits_applied on every row, 95% intervals, score, prob diffs
#: The names of the item table's columns (:data:`behemoth.evaluation.schema.ITEM_COLUMNS`).
ITEM_COLUMNS = tuple(ITEM_SCHEMA.names)
#: What :meth:`Records.add_items` writes: the item columns but the run's ``seed`` and
#: ``replicate``, which its caller adds when it knows them (``experiments.run``).
_ITEM_CORE = pa.schema([f for f in ITEM_SCHEMA if f.name not in ("seed", "replicate")])


@dataclass
class Records:
    """Aggregated rows (list of dicts) and per-item values (columns).

    ``items`` holds the post-edit item chunks (what the stream tracker reads), ``pre_items``
    the unedited model's; :meth:`items_table` and :meth:`write` hold both."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # each a ResultRow's keys
    items: list[pa.Table] = field(default_factory=list)  # chunks with columns ITEM_COLUMNS
    pre_items: list[pa.Table] = field(default_factory=list)  # likewise, phase "pre"

    def extend(self, other: Records) -> Records:
        self.rows.extend(other.rows)
        self.items.extend(other.items)
        self.pre_items.extend(other.pre_items)
        return self

    def add_items(
        self,
        run: str,
        metric: str,
        group: str,
        split: str,
        edit: np.ndarray,
        subject: np.ndarray,
        relation: np.ndarray,
        values: np.ndarray,
        *,
        phase: str = "post",
        edits_applied: int | None = None,
        batches_applied: int | None = None,
        exposure: np.ndarray | None = None,
    ) -> None:
        """Per-item values of one metric on one test set (NaN = not applicable -> null),
        measured at the checkpoint ``edits_applied`` / ``batches_applied`` in ``phase``;
        ``exposure``: each item's fact's corpus occurrences per pass (-1 or none -> null)."""
        n = len(values)
        expo = np.full(n, -1, np.int64) if exposure is None else np.asarray(exposure, np.int64)
        (self.pre_items if phase == "pre" else self.items).append(
            pa.table(
                {
                    "run": pa.array([run] * n, pa.string()),
                    "metric": pa.array([metric] * n, pa.string()),
                    "group": pa.array([group] * n, pa.string()),
                    "split": pa.array([split] * n, pa.string()),
                    "phase": pa.array([phase] * n, pa.string()),
                    "edits_applied": pa.array([edits_applied] * n, pa.int64()),
                    "batches_applied": pa.array([batches_applied] * n, pa.int64()),
                    "item": np.arange(n, dtype=np.int64),
                    "edit": np.asarray(edit, dtype=np.int64),
                    "subject": np.asarray(subject, dtype=np.int64),
                    "relation": np.asarray(relation, dtype=np.int64),
                    "exposure": pa.array(expo, pa.int64(), mask=expo < 0),
                    "value": pa.array(np.asarray(values, dtype=np.float64), from_pandas=True),
                },
                schema=_ITEM_CORE,
            )
        )

    def items_table(self) -> pa.Table:
        """Every item, post-edit chunks first, then pre-edit, with exactly the columns of
        :data:`behemoth.evaluation.schema.ITEM_COLUMNS` (``seed`` and ``replicate`` null in a
        chunk that lacks them, e.g. a lone evaluation's); a chunk with any other column is
        refused with its name."""
        chunks = [conform_table(t, ITEM_FIELDS, what="item") for t in self.items + self.pre_items]
        return pa.concat_tables(chunks) if chunks else ITEM_SCHEMA.empty_table()

    def rows_table(self) -> pa.Table:
        """The rows as a table of exactly :data:`behemoth.evaluation.schema.RECORD_COLUMNS`
        (what ``records.parquet`` holds): a missing nullable column null, NaN null, an unknown
        key refused with its name."""
        return conform(self.rows, RECORD_COLUMNS, what="record")

    def to_pandas(self, items: bool = False) -> pd.DataFrame:
        """The rows (or with ``items=True`` the item table) as a pandas DataFrame: the same
        columns ``pd.read_parquet`` gives for the written ``records.parquet`` / ``items.parquet``."""
        return (self.items_table() if items else self.rows_table()).to_pandas()

    def value(self, metric: str, split: str | None = None, phase: str = "post") -> float:
        """The value of one metric on one split, post-edit unless ``phase="pre"``.

        Without a split, the item-weighted mean over the metric's splits (kept for callers that
        want one figure; headline tables report each split separately, see :meth:`summary`).
        Rows without a ``phase`` count as post-edit.
        """
        rows = [
            r
            for r in self.rows
            if r["metric"] == metric
            and (split is None or r["split"] == split)
            and r.get("phase", "post") == phase
        ]
        if not rows:
            raise KeyError(f"no record of {metric!r}" + (f" on split {split!r}" if split else ""))
        if len(rows) == 1:
            return float(rows[0]["value"])
        ok = [r for r in rows if not math.isnan(r["value"])]
        n = sum(r["n"] for r in ok)
        return float(sum(r["value"] * r["n"] for r in ok) / n) if n else float("nan")

    def table(self) -> str:
        """A readable table: one line per metric, split and phase, with n, the 95% interval
        and the method that produced it."""
        head = (
            f"{'metric':<24} {'split':<28} {'phase':<5} {'value':>10} {'95% interval':>21} "
            f"{'n':>7}  {'family':<14} interval"
        )
        lines = [head, "-" * len(head)]
        for r in self.rows:
            fam = f"{r['family']} {_arrow(r)}"
            lines.append(
                f"{r['metric']:<24} {r['split']:<28} {r.get('phase', ''):<5} "
                f"{_fmt(r['value']):>10} {_ci(r):>21} {r['n']:>7}  {fam:<14} {_method(r)}"
            )
        return "\n".join(lines)

    def summary(self) -> str:
        """The headline figures: per metric and split (never pooled across splits), the
        post-edit value with n and its 95% interval, next to the pre-edit value when known."""
        pre = {
            _twin(r): r
            for r in self.rows
            if r.get("phase") == "pre" and r["group"] not in ("world", "cost")
        }
        head = (
            f"{'metric':<24} {'split':<28} {'pre-edit':>9} {'post-edit':>10} "
            f"{'95% interval':>21} {'n':>7}  {'family':<14} interval"
        )
        lines = [head, "-" * len(head)]
        for r in self.rows:
            if r["group"] in ("world", "cost") or r.get("phase", "post") != "post":
                continue
            p = pre.get(_twin(r))
            pv = _fmt(p["value"]) if p else "-"
            fam = f"{r['family']} {_arrow(r)}"
            lines.append(
                f"{r['metric']:<24} {r['split']:<28} {pv:>9} {_fmt(r['value']):>10} "
                f"{_ci(r):>21} {r['n']:>7}  {fam:<14} {_method(r)}"
            )
        return "\n".join(lines)

    def write(self, out: str | Path) -> None:
        """records.parquet, records.jsonl and items.parquet into directory ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        table = self.rows_table()  # checked before anything is written
        items = self.items_table()
        _write_parquet(table, out / "records.parquet")
        tmp = out / ".records.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in table.to_pylist()))
        tmp.replace(out / "records.jsonl")
        _write_parquet(items, out / "items.parquet")


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    return f"{v:.4f}" if abs(v) < 1e5 else f"{v:.4g}"


def _ci(r: Mapping[str, Any]) -> str:
    lo, hi = r.get("ci_low"), r.get("ci_high")
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "-"
    return f"[{_fmt(lo)}, {_fmt(hi)}]"


#: What makes a pre-edit row the twin of a post-edit row: the same run, seed, checkpoint and
#: test set (the pre row's own ``edits_applied`` is 0, so the checkpoint is ``batches_applied``).
TWIN_KEYS = ("run", "scenario", "editor", "seed", "batches_applied", "metric", "group", "split")


def _twin(r: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(r.get(k) for k in TWIN_KEYS)


def _method(r: Mapping[str, Any]) -> str:
    """The interval's method; ``-`` when the row has none (a cost, a single value)."""
    return str(r.get("interval") or "-")


def _arrow(r: Mapping[str, Any]) -> str:
    if r.get("ideal") is not None and not r["higher_is_better"]:
        return f"-> {r['ideal']:g}"
    return "^" if r["higher_is_better"] else "v"


def _write_parquet(t: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(t, tmp)
    tmp.replace(path)


def read_records(path: str | Path) -> list[ResultRow]:
    """Rows of a written ``records.parquet`` (or of the directory holding it), typed."""
    p = Path(path)
    if p.is_dir():
        p = p / "records.parquet"
    return cast("list[ResultRow]", pq.read_table(p).to_pylist())

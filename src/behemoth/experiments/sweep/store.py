"""Where a sweep keeps its results: one directory per finished run, one table per sweep.

Layout of a sweep's ``--out`` directory::

    sweep.json            the spec as run (resolved, with its scale) and the run ids
    runs/<run_id>/        one per finished run, written atomically (all or nothing):
        rows.parquet      what the run measured (deterministic for its config)
        items.parquet     every item's value at every checkpoint (``edits_applied``), from
                          which each row's interval can be recomputed
        run.json          status (ok / failed), error, labels, config, timings, batches
    results.parquet       every run's rows, runs in id order, one row per
                          (run, metric, split, checkpoint) with the run's labels and config
    items.parquet         every run's items with its run id and labels (written at the end)
    timings.parquet       per run: phase wall times on this machine (not deterministic)

``rows.parquet`` and ``results.parquet`` hold exactly the columns of
:data:`behemoth.evaluation.schema.SWEEP_COLUMNS` (then any ``label_<axis>`` of a further spec
axis), both ``items.parquet`` those of :data:`~behemoth.evaluation.schema.SWEEP_ITEM_COLUMNS`;
``docs/results_schema.md`` lists them. A row key outside the schema is refused with its name
before anything of the run is written.

``behemoth.results.load(out)`` reads ``results.parquet`` (``load(out, "items")`` the items) into a
pandas DataFrame.

A run is finished when its directory exists, so a sweep killed at any point resumes with the
runs it had finished; ``results.parquet`` is rebuilt from them, so it is the same whatever the
order in which the runs finished and however many times the sweep was interrupted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.parquet as pq

from behemoth.evaluation.schema import (
    LABEL_PREFIX,
    SWEEP_COLUMNS,
    SWEEP_ITEM_COLUMNS,
    SweepRow,
    conform,
    conform_table,
)
from behemoth.experiments.sweep.spec import RunSpec, canonical_json
from behemoth.io import atomic_dir, read_json, write_json

#: Labels of a run that have columns of their own; any other label ``k`` of a spec goes into
#: a ``label_<k>`` column (the schema's :data:`~behemoth.evaluation.schema.LABEL_PREFIX` family).
_OWN_LABELS = ("world", "model", "scenario", "editor", "seed", "replicate")


def run_dir(out: Path, run_id: str) -> Path:
    return out / "runs" / run_id


def is_finished(out: Path, run_id: str, retry_failed: bool = True) -> bool:
    f = run_dir(out, run_id) / "run.json"
    if not f.is_file():
        return False
    return not (retry_failed and read_json(f)["status"] != "ok")


def _run_columns(run: RunSpec, status: str, error: str | None) -> dict[str, Any]:
    """The columns a run gives every row of its table (``replicate`` 0 without replicates)."""
    return {
        "run_id": run.run_id,
        "status": status,
        "error": error,
        "label_world": run.labels["world"],
        "label_model": run.labels["model"],
        "replicate": int(run.labels.get("replicate", 0)),
        "label_scenario": run.labels["scenario"],
        "label_editor": run.labels["editor"],
        "seed": int(run.labels["seed"]),
        "config": canonical_json(run.config),
        **{f"{LABEL_PREFIX}{k}": str(v) for k, v in run.labels.items() if k not in _OWN_LABELS},
    }


def run_table(
    run: RunSpec, rows: Sequence[Mapping[str, Any]], error: str | None = None
) -> pa.Table:
    """A run's rows as its ``rows.parquet``: each row (without ``run``: ``run_id`` says it) with
    the run's columns, in :data:`~behemoth.evaluation.schema.SWEEP_COLUMNS` exactly; a failed
    run is one ``run_failed`` row carrying the error."""
    cols = _run_columns(run, "ok" if error is None else "failed", error)
    if error is not None:
        rows = [{"metric": "run_failed", "group": "run", "split": "", "value": None}]
    full = [{**{k: v for k, v in r.items() if k != "run"}, **cols} for r in rows]
    return conform(full, SWEEP_COLUMNS, what="sweep result", prefix=LABEL_PREFIX)


def _stamped(table: pa.Table, cols: dict[str, Any], names: list[str]) -> pa.Table:
    """``table`` without its ``run`` name and with the run's ``names`` columns set from ``cols``
    (in place of any it had: a run stored by an older version may lack some, e.g. ``replicate``)."""
    table = table.drop_columns([k for k in ("run", *names) if k in table.column_names])
    for k in names:
        typ = pa.int64() if k in ("seed", "replicate") else pa.string()
        table = table.append_column(k, pa.array([cols[k]] * table.num_rows, typ))
    return table


def run_items(run: RunSpec, items: pa.Table) -> pa.Table:
    """A run's items as the sweep keeps them: with the run's id, labels, seed and replicate (in
    place of any it had, and without its ``run`` name), in
    :data:`~behemoth.evaluation.schema.SWEEP_ITEM_COLUMNS` exactly."""
    cols = _run_columns(run, "ok", None)
    items = _stamped(items, cols, [c.name for c in SWEEP_ITEM_COLUMNS if c.name in cols])
    return conform_table(items, SWEEP_ITEM_COLUMNS, what="sweep item")


def write_run(
    out: Path,
    run: RunSpec,
    rows: list[dict[str, Any]],
    timings: dict[str, float],
    error: str | None = None,
    items: pa.Table | None = None,
    batches: list[dict[str, Any]] | None = None,
) -> None:
    """Record a finished run (its rows and items, or its error) atomically under ``out/runs``;
    ``batches`` (per applied batch: requests, update norm, the editor's info such as the
    fine-tuning steps taken) go into ``run.json``."""
    status = "ok" if error is None else "failed"
    table = run_table(run, rows, error)  # checked before anything is written
    kept = run_items(run, items) if items is not None and error is None else None
    with atomic_dir(run_dir(out, run.run_id), force=True, marker="run.json") as tmp:
        pq.write_table(table, tmp / "rows.parquet")
        if kept is not None:
            pq.write_table(kept, tmp / "items.parquet")
        write_json(
            tmp / "run.json",
            {
                "run_id": run.run_id,
                "status": status,
                "error": error,
                "labels": run.labels,
                "config": run.config,
                "timings": timings,
                **({"batches": batches} if batches is not None and error is None else {}),
            },
        )


def read_run(out: Path, run_id: str) -> tuple[list[SweepRow], dict[str, Any]]:
    """A stored run's rows (typed) and its ``run.json``."""
    d = run_dir(out, run_id)
    rows = cast("list[SweepRow]", pq.read_table(d / "rows.parquet").to_pylist())
    return rows, read_json(d / "run.json")


def _timings_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Timings (machine-dependent, not results) -> a table with sorted columns; numbers in one
    type per column."""
    keys = sorted({k for r in rows for k in r})
    data: dict[str, list[Any]] = {k: [r.get(k) for r in rows] for k in keys}
    arrays = {}
    for k, vals in data.items():
        present = [v for v in vals if v is not None]
        if present and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in present
        ):
            typ = pa.int64() if all(isinstance(v, int) for v in present) else pa.float64()
            arrays[k] = pa.array(vals, typ)
        else:
            arrays[k] = pa.array(vals)
    return pa.table(arrays)


def _write_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def write_items(out: Path, runs: list[RunSpec]) -> int:
    """Rebuild the sweep's ``items.parquet`` from its finished runs' items (run id order), each
    with the run's id and labels; return how many item rows it holds."""
    tables = []
    for run in sorted(runs, key=lambda r: r.run_id):
        f = run_dir(out, run.run_id) / "items.parquet"
        if f.is_file():  # (a run stored by an older version may lack its id: given again)
            tables.append(run_items(run, pq.read_table(f)))
    if not tables:
        return 0
    table = pa.concat_tables(tables, promote_options="default")
    _write_parquet(table, out / "items.parquet")
    return table.num_rows


def write_tables(out: Path, runs: list[RunSpec]) -> int:
    """Rebuild ``results.parquet`` and ``timings.parquet`` from the finished runs of ``runs``
    (in run id order); return how many runs they hold. ``results.parquet`` holds exactly the
    :data:`~behemoth.evaluation.schema.SWEEP_COLUMNS` (then the ``label_*`` of further axes)."""
    tables: list[pa.Table] = []
    timings: list[dict[str, Any]] = []
    for run in sorted(runs, key=lambda r: r.run_id):
        d = run_dir(out, run.run_id)
        if not (d / "run.json").is_file():
            continue
        meta = read_json(d / "run.json")
        cols = _run_columns(run, meta["status"], meta.get("error"))
        table = _stamped(pq.read_table(d / "rows.parquet"), cols, list(cols))
        tables.append(conform_table(table, SWEEP_COLUMNS, what="sweep result", prefix=LABEL_PREFIX))
        timings.append({"run_id": run.run_id, "status": meta["status"], **meta["timings"]})
    if tables and sum(t.num_rows for t in tables):
        _write_parquet(pa.concat_tables(tables, promote_options="default"), out / "results.parquet")
        _write_parquet(_timings_table(timings), out / "timings.parquet")
    return len(tables)


def write_manifest(out: Path, spec: dict[str, Any], runs: list[RunSpec]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "sweep.json", {"spec": spec, "runs": [r.run_id for r in runs]})


def read_manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "sweep.json").read_text())

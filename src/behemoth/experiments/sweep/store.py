"""Where a sweep keeps its results: one directory per finished run, one table per sweep.

Layout of a sweep's ``--out`` directory::

    sweep.json            the spec as run (resolved, with its scale) and the run ids
    runs/<run_id>/        one per finished run, written atomically (all or nothing):
        rows.parquet      what the run measured (deterministic for its config)
        items.parquet     every item's value at every checkpoint (``edits_applied``), from
                          which each row's interval can be recomputed
        run.json          status (ok / failed), error, labels, config, timings
    results.parquet       every run's rows, runs in id order, one row per
                          (run, metric, split, checkpoint) with the run's labels and config
    items.parquet         every run's items with its run id and labels (written at the end)
    timings.parquet       per run: phase wall times on this machine (not deterministic)

``behemoth.results.load(out)`` reads ``results.parquet`` (``load(out, "items")`` the items) into a
pandas DataFrame.

A run is finished when its directory exists, so a sweep killed at any point resumes with the
runs it had finished; ``results.parquet`` is rebuilt from them, so it is the same whatever the
order in which the runs finished and however many times the sweep was interrupted.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from behemoth.experiments.sweep.spec import RunSpec, canonical_json
from behemoth.io import atomic_dir, read_json, write_json

#: Columns every row of a sweep table has, in addition to the evaluation record's own.
RUN_COLUMNS = (
    "run_id",
    "status",
    "error",
    "label_world",
    "label_model",
    "replicate",
    "label_scenario",
    "label_editor",
    "seed",
    "config",
)


def run_dir(out: Path, run_id: str) -> Path:
    return out / "runs" / run_id


def is_finished(out: Path, run_id: str, retry_failed: bool = True) -> bool:
    f = run_dir(out, run_id) / "run.json"
    if not f.is_file():
        return False
    return not (retry_failed and read_json(f)["status"] != "ok")


def _run_columns(run: RunSpec, status: str, error: str | None) -> dict[str, Any]:
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
    }


def _clean(v: Any) -> Any:
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    return v


def write_run(
    out: Path,
    run: RunSpec,
    rows: list[dict[str, Any]],
    timings: dict[str, float],
    error: str | None = None,
    items: pa.Table | None = None,
) -> None:
    """Record a finished run (its rows and items, or its error) atomically under ``out/runs``."""
    status = "ok" if error is None else "failed"
    cols = _run_columns(run, status, error)
    if error is not None:
        rows = [{"metric": "run_failed", "group": "run", "split": "", "value": None}]
    full = [{**{k: _clean(v) for k, v in r.items() if k != "run"}, **cols} for r in rows]
    with atomic_dir(run_dir(out, run.run_id), force=True, marker="run.json") as tmp:
        pq.write_table(_table(full), tmp / "rows.parquet")  # every row's keys, not the first's
        if items is not None and error is None:
            pq.write_table(items, tmp / "items.parquet")
        write_json(
            tmp / "run.json",
            {
                "run_id": run.run_id,
                "status": status,
                "error": error,
                "labels": run.labels,
                "config": run.config,
                "timings": timings,
            },
        )


def read_run(out: Path, run_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    d = run_dir(out, run_id)
    return pq.read_table(d / "rows.parquet").to_pylist(), read_json(d / "run.json")


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows -> a table with sorted columns; numbers in one type per column."""
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
        if not f.is_file():
            continue
        t = pq.read_table(f)
        cols = _run_columns(run, "ok", None)
        for k in ("run_id", "label_world", "label_model", "replicate", "label_scenario"):
            t = t.append_column(k, pa.array([cols[k]] * t.num_rows))
        t = t.append_column("label_editor", pa.array([cols["label_editor"]] * t.num_rows))
        t = t.append_column("seed", pa.array([cols["seed"]] * t.num_rows, pa.int64()))
        tables.append(t)
    if not tables:
        return 0
    table = pa.concat_tables(tables, promote_options="default")
    _write_parquet(table, out / "items.parquet")
    return table.num_rows


def write_tables(out: Path, runs: list[RunSpec]) -> int:
    """Rebuild ``results.parquet`` and ``timings.parquet`` from the finished runs of ``runs``
    (in run id order); return how many runs they hold."""
    rows: list[dict[str, Any]] = []
    timings: list[dict[str, Any]] = []
    n = 0
    for run in sorted(runs, key=lambda r: r.run_id):
        if not (run_dir(out, run.run_id) / "run.json").is_file():
            continue
        r, meta = read_run(out, run.run_id)
        rows.extend(r)
        timings.append({"run_id": run.run_id, "status": meta["status"], **meta["timings"]})
        n += 1
    if rows:
        _write_parquet(_table(rows), out / "results.parquet")
        _write_parquet(_table(timings), out / "timings.parquet")
    return n


def write_manifest(out: Path, spec: dict[str, Any], runs: list[RunSpec]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "sweep.json", {"spec": spec, "runs": [r.run_id for r in runs]})


def read_manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "sweep.json").read_text())

"""Issue 22: result rows and item rows have one fixed, documented schema; what a real
``behemoth edit`` run and a real sweep write is exactly it; an unknown key is refused."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from behemoth.errors import BehemothError, ConfigError
from behemoth.evaluation.records import ITEM_COLUMNS, Records, read_records
from behemoth.evaluation.schema import (
    ITEM_SCHEMA,
    RECORD_COLUMNS,
    RECORD_SCHEMA,
    SWEEP_COLUMNS,
    SWEEP_ITEM_SCHEMA,
    SWEEP_SCHEMA,
    ResultRow,
    conform,
    conform_table,
    schema_markdown,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "results_schema.md"


def _row(**over: Any) -> ResultRow:
    row: dict[str, Any] = {
        "protocol": "behemoth-eval",
        "protocol_version": 2,
        "run": "r",
        "world": "w",
        "scenario": "single",
        "mode": "edit",
        "metric": "efficacy",
        "group": "efficacy",
        "split": "sro",
        "family": "accuracy",
        "aggregation": "mean",
        "value": 0.5,
        "n": 4,
    }
    row.update(over)
    return row  # type: ignore[return-value]


def _fixed(schema: pa.Schema, fixed: pa.Schema) -> pa.Schema:
    """``schema`` restricted to the names of ``fixed`` (a sweep table may add ``label_*``)."""
    return pa.schema([schema.field(n) for n in fixed.names if n in schema.names])


def test_the_doc_is_the_generated_text() -> None:
    assert DOC.read_text() == schema_markdown(), (
        "docs/results_schema.md is stale: write behemoth.evaluation.schema.schema_markdown() to it"
    )
    for c in RECORD_COLUMNS + SWEEP_COLUMNS:  # every column documented, with its meaning
        assert f"| `{c.name}` | {c.type} |" in DOC.read_text() and c.meaning


def test_unknown_key_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    rec = Records([_row(), _row(vaule=0.3)])
    with pytest.raises(ConfigError, match=r"record column 'vaule'.*did you mean 'value'"):
        rec.write(tmp_path / "out")
    assert not (tmp_path / "out" / "records.parquet").exists()
    with pytest.raises(ConfigError, match="record column 'vaule'"):
        rec.to_pandas()


def test_missing_optional_columns_are_null_and_types_fixed(tmp_path: Path) -> None:
    # a row with numpy scalars, a NaN value and no interval / phase / editor
    rec = Records([_row(value=np.float32("nan"), n=np.int64(3)), _row(value=1, phase="post")])
    rec.write(tmp_path)
    table = pq.read_table(tmp_path / "records.parquet")
    assert table.schema.equals(RECORD_SCHEMA)
    rows = read_records(tmp_path)
    assert rows[0]["value"] is None and rows[0]["n"] == 3 and rows[0]["phase"] is None
    assert rows[1]["value"] == 1.0 and isinstance(rows[1]["value"], float)
    assert rows[0]["editor"] is None and rows[0]["ci_low"] is None
    jl = [json.loads(x) for x in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert list(jl[0]) == sorted(RECORD_SCHEMA.names) and jl[0]["value"] is None
    assert Records().rows_table().schema.equals(RECORD_SCHEMA)  # an empty run has the columns


def test_a_required_column_left_out_or_a_wrong_type_is_refused() -> None:
    row = dict(_row())
    del row["family"]
    with pytest.raises(BehemothError, match="record column 'family': row 0 has none"):
        conform([row], RECORD_COLUMNS, what="record")
    with pytest.raises(BehemothError, match="record column 'n': a value is not int64"):
        conform([_row(n="four")], RECORD_COLUMNS, what="record")


def test_items_have_the_fixed_columns_with_or_without_seed() -> None:
    rec = Records()
    args = (np.array([0, -1]), np.array([3, 4]), np.array([1, 1]), np.array([1.0, np.nan]))
    rec.add_items("r", "efficacy", "efficacy", "sro", *args, edits_applied=2)
    t = rec.items[0]
    rec.items.append(t.append_column("seed", pa.array([7] * t.num_rows, pa.int64())))
    table = rec.items_table()
    assert table.schema.equals(ITEM_SCHEMA) and tuple(table.column_names) == ITEM_COLUMNS
    assert table["seed"].to_pylist() == [None, None, 7, 7]
    assert table["value"].to_pylist() == [1.0, None, 1.0, None]
    rec.items.append(t.append_column("sed", pa.array([7] * t.num_rows, pa.int64())))
    with pytest.raises(ConfigError, match="item column 'sed'"):
        rec.items_table()


def test_conform_table_casts_and_fills() -> None:
    t = pa.table({"metric": ["a"], "group": ["g"], "split": ["s"], "n": pa.array([2], pa.int32())})
    cols = tuple(c for c in RECORD_COLUMNS if c.name in ("metric", "group", "split", "n", "value"))
    out = conform_table(t, cols, what="record")
    assert out.column_names == ["metric", "group", "split", "value", "n"]
    assert out["n"].type == pa.int64() and out["value"].to_pylist() == [None]


# --- the sweep's tables -------------------------------------------------------------------


def _one_run(editors: dict[str, Any], scenarios: dict[str, Any]) -> Any:
    from behemoth.config import validate
    from behemoth.experiments.sweep.spec import SweepSpec, expand
    from tests.experiments.sweep.conftest import toy_spec_dict

    spec = validate(SweepSpec, toy_spec_dict(scenarios=scenarios, editors=editors, seeds=[0]))
    (run,) = expand(spec)
    return run


def test_sweep_rows_have_the_fixed_columns_and_refuse_unknown_keys(tmp_path: Path) -> None:
    from dataclasses import replace

    from behemoth.experiments.sweep.store import read_run, write_run, write_tables

    run = _one_run({"ft": {"name": "ft"}}, {"single": {"name": "single"}})
    rows = [{**_row(), "checkpoint": 1, "seed": 99}]
    write_run(tmp_path, run, rows, {"edit_s": 1.0})
    table = pq.read_table(tmp_path / "runs" / run.run_id / "rows.parquet")
    assert table.schema.equals(SWEEP_SCHEMA)
    got, _ = read_run(tmp_path, run.run_id)
    assert got[0]["seed"] == 0 and got[0]["label_editor"] == "ft"  # the run's own seed
    assert json.loads(got[0]["config"]) == run.config
    # a further label of the spec gets a label_* column (the schema's prefix family)
    other = replace(run, run_id=run.run_id + "x", labels={**run.labels, "site": "mlp"})
    write_run(tmp_path, other, rows, {"edit_s": 1.0})
    assert write_tables(tmp_path, [run, other]) == 2
    results = pq.read_table(tmp_path / "results.parquet")
    assert _fixed(results.schema, SWEEP_SCHEMA).equals(SWEEP_SCHEMA)
    assert results.column_names[-1] == "label_site"
    assert results["label_site"].to_pylist() == [None, "mlp"]
    # a typo is refused, and the run is not recorded
    bad = replace(run, run_id=run.run_id + "y")
    with pytest.raises(ConfigError, match="sweep result column 'checkpont'"):
        write_run(tmp_path, bad, [{**_row(), "checkpont": 1}], {})
    assert not (tmp_path / "runs" / bad.run_id).exists()
    # a failed run: one row, its error, the same columns
    write_run(tmp_path, bad, rows, {}, error="boom")
    failed = pq.read_table(tmp_path / "runs" / bad.run_id / "rows.parquet")
    assert failed.schema.equals(SWEEP_SCHEMA) and failed["error"].to_pylist() == ["boom"]


# --- real runs (on the session's tiny model; each call takes < 10 s) ---------------------


def test_behemoth_edit_writes_the_schema(tiny_model: Path, tmp_path: Path) -> None:
    from behemoth.cli.main import main

    out = tmp_path / "edit"
    argv = ["edit", str(tiny_model), "--scenario", "k-different", "--scenario-set", "k=2"]
    argv += ["--editor", "ft", "--set", "steps=2", "--out", str(out)]
    assert main(argv) == 0
    records = pq.read_table(out / "records.parquet")
    assert records.schema.equals(RECORD_SCHEMA), records.schema
    assert pq.read_table(out / "items.parquet").schema.equals(ITEM_SCHEMA)
    rows = records.to_pylist()
    assert {r["phase"] for r in rows} == {"pre", "post"} and all(r["editor"] == "ft" for r in rows)
    assert all(r["value"] is None or not math.isnan(r["value"]) for r in rows)


def test_a_sweep_writes_the_schema(tiny_world: Any, tiny_model: Path, tmp_path: Path) -> None:
    from behemoth.config import validate
    from behemoth.experiments.sweep import SweepSpec, run_sweep
    from behemoth.experiments.sweep.backends import LocalBackend
    from behemoth.experiments.sweep.execute import shared_model, shared_world
    from tests.experiments.sweep.conftest import toy_spec_dict

    spec = toy_spec_dict(
        scenarios={"2 different": {"name": "k-different", "settings": {"k": 2}}},
        editors={"ft": {"name": "ft", "settings": {"steps": 2}}},
        seeds=[0],
    )
    out = tmp_path / "sweep"
    run = _one_run(spec["editors"], spec["scenarios"])
    shared = tmp_path / "shared"
    world = shared_world(shared, run.config["world"])  # the session's model stands in
    shutil.copytree(tiny_model, shared_model(shared, world, run.config["model"], False))
    res = run_sweep(
        validate(SweepSpec, spec), out, backend=LocalBackend(0), shared=shared, progress=False
    )
    assert res.failed == 0 and res.done == 1
    results = pq.read_table(out / "results.parquet")
    assert results.schema.equals(SWEEP_SCHEMA), results.schema
    rows = pq.read_table(out / "runs" / run.run_id / "rows.parquet")
    assert rows.schema.equals(SWEEP_SCHEMA)
    assert pq.read_table(out / "items.parquet").schema.equals(SWEEP_ITEM_SCHEMA)
    metrics = set(results["metric"].to_pylist())
    assert {"efficacy", "update_fro", "update_rank"} <= metrics
    assert set(results["checkpoint"].to_pylist()) <= {0, 2}


def test_the_typed_rows_have_the_schemas_keys() -> None:
    from behemoth.evaluation.schema import SweepRow

    keys = ResultRow.__required_keys__ | ResultRow.__optional_keys__
    assert keys == set(RECORD_SCHEMA.names)
    assert ResultRow.__required_keys__ == {"metric", "group", "split"}
    assert SweepRow.__required_keys__ | SweepRow.__optional_keys__ == set(SWEEP_SCHEMA.names) | {
        "run"
    }


def test_a_run_stored_by_an_older_version_is_rebuilt_into_the_schema(tmp_path: Path) -> None:
    """A ``rows.parquet`` of sorted, inferred columns without ``replicate`` (as stored before
    the schema) comes out of ``write_tables`` with the fixed columns and the run's own ids."""
    from behemoth.experiments.sweep.store import run_dir, write_run, write_tables

    run = _one_run({"ft": {"name": "ft"}}, {"single": {"name": "single"}})
    write_run(tmp_path, run, [{**_row(), "checkpoint": 1}], {"edit_s": 1.0})
    f = run_dir(tmp_path, run.run_id) / "rows.parquet"
    old = pq.read_table(f).drop_columns(["replicate", "ci_low", "interval"])
    old = old.select(sorted(old.column_names)).cast(
        pa.schema([pa.field(n, old.schema.field(n).type) for n in sorted(old.column_names)])
    )
    pq.write_table(old.set_column(old.column_names.index("n"), "n", old["n"].cast(pa.int32())), f)
    assert write_tables(tmp_path, [run]) == 1
    results = pq.read_table(tmp_path / "results.parquet")
    assert results.schema.equals(SWEEP_SCHEMA)
    assert results["replicate"].to_pylist() == [0] and results["n"].to_pylist() == [4]

"""Records: items carry their checkpoint and phase and recompute every aggregate row; the
summary pairs each post-edit row with its own seed's pre-edit row; pandas in one line."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from behemoth.evaluation.evaluate import evaluate
from behemoth.evaluation.oracle import IDEAL_GROUPS, OracleModel, oracle_model
from behemoth.evaluation.records import ITEM_COLUMNS, Records
from behemoth.evaluation.uncertainty import item_interval
from behemoth.scenarios.scenario import build_scenario
from behemoth.world import World


def _partly_edited(world: World, scenario: Any, seed: int = 0) -> OracleModel:
    """The unedited oracle with a random part of the scenario's targets learned: some edits
    fully, some partly, some not at all (so items of one edit differ and edits differ)."""
    base = oracle_model(world)
    table = dict(base.table)
    rng = np.random.default_rng(seed)
    n_req = len(scenario.requests)
    p_edit = rng.uniform(size=n_req)  # each edit's chance that an item of it took
    for t in scenario.tests.values():
        if t.group not in IDEAL_GROUPS:
            continue
        for i in range(len(t)):
            e = int(t.edit[i])
            if e >= 0 and rng.uniform() < p_edit[e]:
                table[tuple(int(x) for x in t.probes.prompt(i))] = int(t.probes.answer[i])
    return OracleModel(table, world.vocab.size, base.margin)


def _stream_records(world: World) -> tuple[Records, Any]:
    sc = build_scenario(world, "k-different", {"k": 8})
    model = _partly_edited(world, sc)
    ref = oracle_model(world)
    rec = Records()
    for b, upto in ((1, 4), (2, None)):  # two checkpoints: 4 edits, then all 8
        rec.extend(
            evaluate(
                model, world, sc, ref, run="r", upto=upto, extra={"batches_applied": b, "seed": 0}
            )
        )
    return rec, sc


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_items_recompute_every_checkpoints_rows(tiny_world: World, tmp_path: Path) -> None:
    rec, _ = _stream_records(tiny_world)
    rec.write(tmp_path)
    rows = pd.read_parquet(tmp_path / "records.parquet")
    items = pd.read_parquet(tmp_path / "items.parquet")
    assert tuple(items.columns) == ITEM_COLUMNS
    assert set(items["edits_applied"]) == {0, 4, 8}
    assert set(items["phase"]) == {"pre", "post"}
    assert set(items["batches_applied"]) == {1, 2}
    keys = ["metric", "group", "split", "phase", "edits_applied", "batches_applied"]
    groups = dict(iter(items.groupby(keys)))
    mean_rows = rows[(rows["aggregation"] == "mean") & rows["group"].ne("cost")]
    methods = set()
    checked = 0
    for r in mean_rows.to_dict("records"):
        g = groups[tuple(r[k] for k in keys)]
        v = g["value"].to_numpy(dtype=float)
        assert r["n"] == int((~np.isnan(v)).sum())
        assert r["value"] == pytest.approx(np.nanmean(v), abs=1e-12)
        lo, hi, how = item_interval(v, g["edit"].to_numpy())
        ci_low = float("nan") if r["ci_low"] is None else r["ci_low"]
        ci_high = float("nan") if r["ci_high"] is None else r["ci_high"]
        assert _same(lo, ci_low) and _same(hi, ci_high) and how == r["interval"], r
        methods.add(how)
        checked += 1
    assert checked > 20
    assert "bootstrap_edit" in methods and "wilson" in methods  # both paths were recomputed
    # the two post checkpoints are told apart (before this column they were indistinguishable)
    post = items[(items["phase"] == "post") & (items["metric"] == "efficacy")]
    assert post.groupby("edits_applied")["edit"].max().to_dict() == {4: 3, 8: 7}


def test_items_without_a_stream_and_records_to_pandas(tiny_world: World, tmp_path: Path) -> None:
    sc = build_scenario(tiny_world, "k-different", {"k": 3})
    rec = evaluate(oracle_model(tiny_world, sc), tiny_world, sc, oracle_model(tiny_world))
    rec.write(tmp_path)
    items = rec.to_pandas(items=True)
    assert items["batches_applied"].isna().all() and set(items["edits_applied"]) == {0, 3}
    pd.testing.assert_frame_equal(items, pd.read_parquet(tmp_path / "items.parquet"))
    rows = rec.to_pandas()
    back = pd.read_parquet(tmp_path / "records.parquet")
    assert list(rows.columns) == list(back.columns) and len(rows) == len(back) == len(rec.rows)
    assert rows["value"].tolist() == pytest.approx(back["value"].tolist(), nan_ok=True)
    assert Records().to_pandas(items=True).columns.tolist() == list(ITEM_COLUMNS)


def _row(seed: int, phase: str, value: float) -> dict[str, Any]:
    return {
        "run": "r",
        "seed": seed,
        "batches_applied": 1,
        "metric": "efficacy",
        "group": "efficacy",
        "split": "sro",
        "family": "accuracy",
        "higher_is_better": True,
        "ideal": None,
        "phase": phase,
        "edits_applied": 0 if phase == "pre" else 5,
        "value": value,
        "n": 5,
        "ci_low": 0.05,
        "ci_high": 0.95,
        "interval": "wilson",
    }


def test_summary_pairs_each_seed_with_its_own_pre_values() -> None:
    rows = [_row(0, "post", 0.8), _row(0, "pre", 0.1), _row(1, "post", 0.6), _row(1, "pre", 0.3)]
    lines = [x for x in Records(rows).summary().splitlines() if x.startswith("efficacy ")]
    assert len(lines) == 2
    assert "0.1000" in lines[0] and "0.8000" in lines[0] and "0.3000" not in lines[0]
    assert "0.3000" in lines[1] and "0.6000" in lines[1] and "0.1000" not in lines[1]
    # the method of each interval is printed
    assert all(x.endswith("wilson") for x in lines)
    assert Records(rows).table().splitlines()[2].endswith("wilson")

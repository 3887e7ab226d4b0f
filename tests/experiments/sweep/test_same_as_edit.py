"""Issue 22: a sweep's run and ``behemoth edit`` of the same experiment give the same rows.

Both go through ``run_experiment`` alone; the sweep names its world and model by recipe (built
once in the shared directory; the session's tiny model, trained from the same recipe, stands in
for the sweep's copy), ``behemoth edit`` by directory. The values must agree to the bit.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from behemoth.config import validate
from behemoth.experiments.sweep.spec import SweepSpec, expand
from behemoth.world import World
from tests.experiments.sweep.conftest import toy_spec_dict

_KEY = ("metric", "group", "split", "phase", "edits_applied")


def _by_key(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], tuple[Any, Any]]:
    out = {}
    for r in rows:
        if r["group"] == "cost" or r["metric"] in ("wall_time_s", "peak_memory_bytes"):
            continue
        key = tuple(r.get(k) for k in _KEY)
        assert key not in out, key
        out[key] = (r["value"], r.get("n"))
    return out


def _same(x: tuple[Any, Any], y: tuple[Any, Any]) -> bool:
    """(value, n) equal, a NaN value equal to a NaN (a figure undefined in both)."""
    (vx, nx), (vy, ny) = x, y
    if nx != ny:
        return False
    return vx == vy or (vx is not None and vy is not None and math.isnan(vx) and math.isnan(vy))


def test_a_sweep_run_gives_the_rows_of_behemoth_edit(
    tiny_world: World, tiny_model: Path, tmp_path: Path
) -> None:
    from behemoth.cli.main import main
    from behemoth.experiments.sweep.execute import execute, shared_model, shared_world

    spec = toy_spec_dict(
        scenarios={"2 different": {"name": "k-different", "settings": {"k": 2}}},
        editors={"ft": {"name": "ft", "settings": {"steps": 2}}},
        seeds=[0],
    )
    (run,) = expand(validate(SweepSpec, spec))
    shared = tmp_path / "shared"
    world = shared_world(shared, run.config["world"])
    assert world.fingerprint == tiny_world.fingerprint
    shutil.copytree(tiny_model, shared_model(shared, world, run.config["model"], build=False))
    swept = execute(run.config, run.run_id, shared)

    out = tmp_path / "edit"
    argv = ["edit", str(tiny_model), "--scenario", "k-different", "--scenario-set", "k=2"]
    argv += ["--editor", "ft", "--set", "steps=2", "--seed", "0", "--out", str(out)]
    assert main(argv) == 0
    edited = pq.read_table(out / "records.parquet").to_pylist()

    a, b = _by_key(swept.rows), _by_key(edited)
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        assert _same(a[k], b[k]), k
    # the sweep's experiment itself (recipes) through run_experiment, as a script would run it:
    # its recipes resolve to the very directories the sweep built (nothing trained again)
    from behemoth.experiments.run import run_experiment
    from behemoth.experiments.sweep.spec import experiment_of

    recipe = experiment_of(run.config, cache=shared)
    res = run_experiment(recipe, tmp_path / "recipe")
    assert res.model_dir == shared_model(shared, world, run.config["model"], build=False)
    assert res.run_id == run.experiment.run_id() and run.run_id == f"ft-{res.run_id}"
    c = _by_key(pq.read_table(tmp_path / "recipe" / "records.parquet").to_pylist())
    assert c.keys() == b.keys() and all(_same(c[k], b[k]) for k in b)
    # the update size is the one edit.json states (computed once, by run_experiment)
    import json

    deltas = json.loads((out / "edit.json").read_text())["deltas"]
    fro = math.sqrt(sum(float(d["fro"] or 0.0) ** 2 for d in deltas.values()))
    (row,) = [r for r in swept.rows if r["metric"] == "update_fro"]
    assert row["value"] == pytest.approx(fro, rel=1e-12) and fro > 0
    # the editor's own info per batch (fine-tuning's steps and final NLLs) as edit.json has it,
    # and in the sweep's run.json, where the exposure study reads the steps an edit needed
    from behemoth.experiments.sweep.store import write_run

    edit_batches = json.loads((out / "edit.json").read_text())["batches"]
    assert [b["info"]["steps"] for b in swept.batches] == [b["info"]["steps"] for b in edit_batches]
    assert 0 < swept.batches[0]["info"]["steps"] <= 2 and len(swept.batches[0]["info"]["nll"]) == 2
    write_run(tmp_path / "sweep", run, swept.rows, swept.timings, None, swept.items, swept.batches)
    meta = json.loads((tmp_path / "sweep" / "runs" / run.run_id / "run.json").read_text())
    assert meta["batches"] == json.loads(json.dumps(swept.batches))

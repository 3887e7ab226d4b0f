"""run_experiment end to end on the tiny model: a short stream over two seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from behemoth.evaluation.records import read_records
from behemoth.experiments import ExperimentConfig, run_experiment
from behemoth.world import World


@pytest.mark.slow
def test_stream_over_two_seeds_writes_curves_detection_and_seed_summary(
    tiny_world: World, tiny_model: Path, tmp_path: Path
) -> None:
    config = ExperimentConfig(
        model=str(tiny_model),
        scenario="stream",
        scenario_settings={"n": 4},
        editor="ft",
        editor_settings={"steps": 2},
        seeds=[0, 1],
        eval_every=2,
        save_artifact=False,
    )
    out = tmp_path / "run"
    res = run_experiment(config, out)
    edit = json.loads((out / "edit.json").read_text())
    assert edit["run_id"] == config.run_id() and edit["seeds"] == [0, 1]
    for run in edit["runs"]:
        seq = run["sequential"]
        assert {"disabling_edit", "collapse_point", "disabling_rule", "collapse_rule"} <= set(seq)
        assert seq["checkpoints"] == [2, 4]
    rows = read_records(out)
    assert all(r["edits_applied"] is not None and r["seed"] in (0, 1) for r in rows)
    seq_rows = pq.read_table(out / "sequential.parquet").to_pylist()
    measures = {r["measure"] for r in seq_rows}
    assert {"update_norm", "edit_success", "retention", "probe_accuracy"} <= measures
    assert {"weight_distance", "weight_distance_per_numel", "unedited_accuracy"} <= measures
    # every probe set of the world, at the unedited model (0) and at each checkpoint
    acc = {(r["edits_applied"], r["split"]) for r in seq_rows if r["measure"] == "probe_accuracy"}
    assert acc == {(a, s) for a in (0, 2, 4) for s in tiny_world.probes}
    assert len([r for r in seq_rows if r["measure"] == "update_norm"]) == 8  # 4 edits x 2 seeds
    assert (out / "sequential.png").stat().st_size > 1000
    eff = [r for r in res.seed_summary if r["metric"] == "efficacy" and r["phase"] == "post"]
    assert eff and all(r["n_seeds"] == 2 for r in eff)
    assert "efficacy" in json.dumps(edit["over_seeds"])

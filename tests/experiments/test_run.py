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


@pytest.mark.slow
def test_replicates_train_once_and_every_number_is_stated_over_them(
    tiny_world: World, tiny_model: Path, tmp_path: Path
) -> None:
    """``replicates: 2``: replicate 1 of the model's recipe (seed + 1, data order + 1) is trained
    once under the cache, the run repeated on it, rows name their replicate, and edit.json holds
    each number over the two models."""
    config = ExperimentConfig(
        model=str(tiny_model),
        scenario="k-different",
        scenario_settings={"k": 3},
        editor="rome",
        editor_settings={"layer": 2},
        replicates=2,
        cache=str(tmp_path / "cache"),
        save_artifact=False,
    )
    assert "cache" not in json.dumps(config.run_id())
    one = config.model_copy(update={"replicates": 1, "cache": None})
    assert one.run_id() == ExperimentConfig(**{**one.to_dict(), "cache": "/elsewhere"}).run_id()
    out = tmp_path / "run"
    res = run_experiment(config, out)
    rows = read_records(out)
    assert {r["replicate"] for r in rows} == {0, 1}
    (built,) = [d for d in (tmp_path / "cache" / "models").iterdir() if d.is_dir()]
    meta = json.loads((built / "behemoth_model.json").read_text())
    base = json.loads((tiny_model / "behemoth_model.json").read_text())["config"]
    assert (meta["config"]["seed"], meta["config"]["data_seed"]) == (
        base["seed"] + 1,
        base.get("data_seed", 0) + 1,
    )
    edit = json.loads((out / "edit.json").read_text())
    eff = [
        r
        for r in edit["over_replicates"]
        if r["metric"] == "efficacy" and r["phase"] == "post" and r["split"] == "sro"
    ]
    assert len(eff) == 1 and eff[0]["n_models"] == 2
    per = [r["value"] for r in rows if r["metric"] == "efficacy" and r.get("phase") == "post"]
    assert eff[0]["mean"] == pytest.approx(sum(per) / 2)
    assert (
        0.0 <= eff[0]["ci_low"] <= eff[0]["ci_high"] <= 1.0
        or eff[0]["per_model"][0] == eff[0]["per_model"][1]
    )
    # a second run finds the replicate trained: nothing retrained
    stamp = (built / "model.safetensors").stat().st_mtime_ns
    run_experiment(config, None)
    assert (built / "model.safetensors").stat().st_mtime_ns == stamp
    assert len(res.runs) == 2

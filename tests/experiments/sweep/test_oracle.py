"""A sweep with ``oracle: true`` judges forget runs against the retain oracle, built once."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from behemoth.config import validate
from behemoth.experiments.sweep.spec import SweepSpec, expand
from behemoth.world import World
from tests.experiments.sweep.conftest import toy_spec_dict


def _spec(oracle: bool) -> SweepSpec:
    return validate(
        SweepSpec,
        toy_spec_dict(
            scenarios={"forget": {"name": "forget-relation", "settings": {"share": 0.1}}},
            editors={"ga": {"name": "ga", "settings": {"steps": 3}}},
            seeds=[0],
            oracle=oracle,
        ),
    )


def test_oracle_is_opt_in_and_leaves_other_run_ids_alone() -> None:
    (plain,) = expand(_spec(False))
    (judged,) = expand(_spec(True))
    assert "oracle" not in plain.config and judged.config["oracle"] is True
    assert plain.run_id != judged.run_id


def test_forget_run_gets_rows_against_the_oracle(
    tiny_world: World, tiny_model: Path, tmp_path: Path
) -> None:
    """The oracle is looked up in ``<shared>/oracles`` by its key; a copy of the tiny model
    placed there stands in for it (training one is the retain-oracle tests' business), so the
    run reads it instead of training, and its rows carry forget quality, utility and MIA."""
    from behemoth.evaluation.unlearning.report import ForgetSplit
    from behemoth.experiments.sweep.execute import execute, shared_model, shared_world
    from behemoth.model.load import read_model_meta
    from behemoth.model.retain_oracle import oracle_plan
    from behemoth.scenarios.scenario import build_scenario
    from behemoth.world.exclude import exclusion_mask

    (run,) = expand(_spec(True))
    shared = tmp_path / "shared"
    world = shared_world(shared, run.config["world"])
    model_dir = shared_model(shared, world, run.config["model"], build=False)
    shutil.copytree(tiny_model, model_dir)
    scen = run.config["scenario"]
    scenario = build_scenario(world, scen["name"], scen["settings"])
    split = ForgetSplit.from_scenario(world, scenario, scenario.retain)
    mask = exclusion_mask(world.graph, split.forgotten, split.forget_sno)
    assert len(split.stop) and not np.isin(split.stop, split.forget).any()
    for i in (0, 1):  # two oracles: the second gives the noise floor
        _, _, key = oracle_plan(read_model_meta(model_dir), world, mask, i)
        shutil.copytree(tiny_model, shared / "oracles" / key)

    out = execute(run.config, run.run_id, shared)
    got = {(r["metric"], r["split"]): r for r in out.rows if r["group"] == "unlearning"}
    fq = got[("forget_quality", "forgotten")]
    assert 0.0 <= fq["value"] <= 1.0 and fq["n"] == len(split.forget)
    assert got[("forget_acc", "forgotten")]["n"] == len(split.forget)
    assert (
        ("auc", "loss") in got
        and ("privleak", "loss") in got
        and ("model_utility", "forgotten") in got
    )
    assert ("privleak", "min_k") in got and ("min_k_tokens", "forgotten") in got
    # the noise floor beside them: two identical stand-in oracles are indistinguishable
    assert got[("noise_forget_quality", "forgotten")]["value"] == 1.0
    assert got[("noise_ks_d", "forgotten")]["value"] == 0.0
    assert ("noise_auc", "min_k") in got and ("noise_privleak", "min_k") in got
    assert "oracle_s" in out.timings
    # the sweep's judgment is run_experiment's: the experiment on the same directories, as
    # ``behemoth edit MODEL --oracle`` runs it, gives the very same unlearning rows
    from behemoth.experiments.run import run_experiment

    direct = run_experiment(
        run.experiment.with_settings(
            model=str(model_dir), world=str(world.path), cache=str(shared)
        ),
        None,
    )
    cli = {(r["metric"], r["split"]): r for r in direct.records.rows if r["group"] == "unlearning"}
    assert cli.keys() == got.keys()
    for k, r in got.items():
        v, w = r["value"], cli[k]["value"]
        assert v == w or (v != v and w != w), k  # (NaN where both are undefined)
        assert (r["n"], r["checkpoint"]) == (cli[k]["n"], cli[k]["edits_applied"]), k

"""A sweep's ``relearn`` setting: opt-in, forget runs only, out of the run id while off, and a
forget run's relearning attack (unlearned model and retain oracles, one split) gives group
``relearning`` rows and one item per fact with the sweep items' columns."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from behemoth.config import validate
from behemoth.errors import ConfigError
from behemoth.experiments.sweep.spec import SweepSpec, expand, experiment_of
from behemoth.world import World
from tests.experiments.sweep.conftest import toy_spec_dict

FORGET = {"name": "forget-relation", "settings": {"share": 0.3}}


def _spec(**over: Any) -> SweepSpec:
    data = toy_spec_dict(
        scenarios={"edit": {"name": "single"}, "forget": FORGET},
        editors={"ga": {"name": "ga", "settings": {"steps": 3}}},
        seeds=[0],
    )
    return validate(SweepSpec, {**data, **over})


def _runs(spec: SweepSpec) -> dict[str, Any]:
    return {r.labels["scenario"]: r for r in expand(spec)}


def test_relearn_reaches_forget_runs_only_and_leaves_other_ids_alone() -> None:
    plain, off = _runs(_spec()), _runs(_spec(relearn=False))
    on = _runs(_spec(relearn=True))
    # without the setting (or with it off) every run id is what it was: the ids main gave
    # these runs before the setting existed (computed at f7b5b60), with and without the oracle
    before = {"edit": "ga-881241306ecd", "forget": "ga-a00b5ff01c73"}
    assert {k: r.run_id for k, r in plain.items()} == before
    assert {k: r.run_id for k, r in off.items()} == before
    judged = _runs(_spec(oracle=True, relearn=False))
    assert {k: r.run_id for k, r in judged.items()} == {**before, "forget": "ga-dc9bfa2a5bbe"}
    assert "relearn" not in plain["forget"].config and plain["forget"].experiment.relearn is None
    # the edit run is unaffected; the forget run is another run, with the defaults on record
    assert on["edit"].run_id == plain["edit"].run_id and "relearn" not in on["edit"].config
    assert on["forget"].run_id != plain["forget"].run_id
    assert on["forget"].config["relearn"] == {
        "share": 0.1,
        "steps": 50,
        "lr": 0.001,
        "threshold": 0.5,
    }
    # one run however it is spelled; what a worker reads back is the same experiment
    same = _runs(_spec(relearn={}))["forget"]
    assert same.run_id == on["forget"].run_id
    assert experiment_of(on["forget"].config).run_id() == on["forget"].experiment.run_id()
    other = _runs(_spec(relearn={"steps": 5}))["forget"]
    assert other.run_id != on["forget"].run_id and other.config["relearn"]["steps"] == 5


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"stepz": 5}, "relearn.stepz"),
        ({"share": 1.0}, "relearn.share"),
        ({"steps": 0}, "relearn.steps"),
        ("yes", "relearn"),
    ],
)
def test_bad_relearn_settings_are_refused_naming_the_field(value: Any, field: str) -> None:
    with pytest.raises(ConfigError) as e:
        _spec(relearn=value)
    assert e.value.field == field


def test_an_experiment_refuses_relearn_on_a_scenario_that_forgets_nothing() -> None:
    from behemoth.experiments.config import ExperimentConfig

    with pytest.raises(ConfigError, match=r"^relearn: scenario single forgets no facts"):
        validate(
            ExperimentConfig,
            {"model": "/m", "scenario": "single", "editor": "ft", "relearn": True},
        )


def test_forget_run_gets_relearning_rows_and_items(
    tiny_world: World, tiny_model: Path, tmp_path: Path
) -> None:
    """As tests/experiments/sweep/test_oracle.py: copies of the tiny model stand in for the
    retain oracles (found in ``<shared>/oracles`` by their keys, so none is trained)."""
    from behemoth.evaluation.schema import SWEEP_ITEM_COLUMNS
    from behemoth.evaluation.unlearning.report import ForgetSplit
    from behemoth.experiments.sweep.execute import execute, shared_model, shared_world
    from behemoth.experiments.sweep.store import run_items, run_table
    from behemoth.model.load import read_model_meta
    from behemoth.model.retain_oracle import oracle_plan
    from behemoth.scenarios.scenario import build_scenario
    from behemoth.world.exclude import exclusion_mask

    spec = _spec(
        scenarios={"forget": FORGET}, oracle=True, relearn={"steps": 2, "share": 0.3, "lr": 0.01}
    )
    (run,) = expand(spec)
    shared = tmp_path / "shared"
    world = shared_world(shared, run.config["world"])
    model_dir = shared_model(shared, world, run.config["model"], build=False)
    shutil.copytree(tiny_model, model_dir)
    scen = run.config["scenario"]
    scenario = build_scenario(world, scen["name"], scen["settings"])
    split = ForgetSplit.from_scenario(world, scenario, scenario.retain)
    mask = exclusion_mask(world.graph, split.forgotten, split.forget_sno)
    for i in (0, 1):
        _, _, key = oracle_plan(read_model_meta(model_dir), world, mask, i)
        shutil.copytree(tiny_model, shared / "oracles" / key)

    out = execute(run.config, run.run_id, shared)
    rows = {(r["metric"], r["split"]): r for r in out.rows if r["group"] == "relearning"}
    models = {"unlearned", "oracle", "oracle_2"}
    metrics = {"answered_before", "answered_after", "returned", "return_step", "relearned"}
    always = metrics - {"returned", "return_step"} | {"steps_to_threshold"}
    assert {(m, s) for m in always for s in models} <= set(rows)
    assert {s for _, s in rows} == models and {m for m, _ in rows} <= always | metrics
    n_rest = rows[("answered_after", "unlearned")]["n"]
    n_train = rows[("relearned", "unlearned")]["n"]
    assert n_rest + n_train == len(split.forget) and n_train == round(0.3 * len(split.forget))
    total = len(scenario.requests)
    assert {r["checkpoint"] for r in rows.values()} == {total}
    assert {r["edits_applied"] for r in rows.values()} == {total}
    # the two stand-in oracles are one model: the same attack gives the same figures
    for m in always:
        assert rows[(m, "oracle")]["value"] == rows[(m, "oracle_2")]["value"], m
    # the stand-ins are the original, which knows every fact: nothing hidden, nothing returns
    assert rows[("answered_before", "oracle")]["value"] > 0.5
    hidden = 1.0 - rows[("answered_before", "unlearned")]["value"]
    assert (("returned", "unlearned") in rows) == (hidden > 0)
    assert out.timings["relearn_s"] > 0 and "oracle_s" in out.timings
    # the items: one per fact, metric and model, beside the run's other items, with exposure
    items = out.items.to_pandas()
    ours = items[items.group == "relearning"]
    assert len(ours) == 3 * (4 * n_rest + n_train)
    assert (ours.edits_applied == total).all() and ours.exposure.notna().all()
    assert (ours.edit >= 0).all() and set(ours.split) == models
    assert len(items[items.group != "relearning"]) > 0  # the run's own items are kept
    after = ours[(ours.metric == "answered_after") & (ours.split == "unlearned")]
    assert after.value.mean() == pytest.approx(rows[("answered_after", "unlearned")]["value"])
    # stored as every sweep run is (the sweep's item and row schemas, exactly)
    kept = run_items(run, out.items)
    assert kept.column_names == [c.name for c in SWEEP_ITEM_COLUMNS]
    run_table(run, out.rows)

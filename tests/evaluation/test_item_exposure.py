"""Every item row carries its fact's exposure (issue 25): corpus occurrences per pass."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest

from behemoth.evaluation.records import Records
from behemoth.evaluation.schema import ITEM_COLUMNS, SWEEP_ITEM_COLUMNS
from behemoth.scenarios.exposure import item_exposure
from behemoth.scenarios.render import edge_prompts
from behemoth.world import World, WorldConfig, generate_world
from behemoth.world.exclude import KIND_ONO, KIND_SNO, KIND_SO, fact_ids
from behemoth.world.exposure import fact_exposure
from behemoth.world.presets import world_preset
from tests.conftest import make_world


def test_the_column_is_a_nullable_int_of_both_item_schemas() -> None:
    for columns in (ITEM_COLUMNS, SWEEP_ITEM_COLUMNS):
        c = {c.name: c for c in columns}["exposure"]
        assert c.nullable and str(c.type) == "int64"


def test_items_without_a_fact_are_null() -> None:
    rec = Records()
    args = (np.array([0, 1, 2]), np.array([3, -1, 4]), np.array([0, 0, 1]), np.ones(3))
    rec.add_items("r", "efficacy", "efficacy", "sro", *args, exposure=np.array([7, -1, 9]))
    rec.add_items("r", "efficacy", "efficacy", "sro", *args)  # a caller that knows none
    got = rec.items_table().column("exposure").to_pylist()
    assert got == [7, None, 9, None, None, None]


def test_every_kind_of_fact_is_looked_up_by_its_fact_id(tmp_path: Path) -> None:
    w = make_world(tmp_path, subjects=20, nested_objects=4, exposure={"kind": "zipf"})
    g, fe = w.graph, fact_exposure(w)
    s, r = np.array([0, 3, 19]), np.array([0, 1, 3])
    so = edge_prompts(w, "sro", "S-O", s, r, g.objects[s, r])
    sno = edge_prompts(w, "sro", "S-NO", s, r, g.objects[s, r])
    o = np.array([0, 2, 5])
    ono = edge_prompts(w, "sro", "O-NO", np.full(3, -1), r, o)
    for p, kind in ((so, KIND_SO), (sno, KIND_SNO), (ono, KIND_ONO)):
        want = fe[fact_ids(g, np.full(3, kind), p.subject, p.relation, p.object)]
        assert (item_exposure(w, p) == want).all()
        assert (want > 0).all()
    so.subject[1] = -1  # an S-O prompt that names no subject states no fact
    assert item_exposure(w, so)[1] == -1


@pytest.fixture(scope="module")
def zipf_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path]:
    """A 40-subject zipf world (with shards) and a tiny model trained on it for a few steps:
    enough for a real run whose items can be checked (their values do not matter here)."""
    from behemoth.model import model_preset, resolve_run, train_model

    tmp = tmp_path_factory.mktemp("zipf_run")
    cfg = {**world_preset("tiny"), "subjects": 40, "exposure": {"kind": "zipf"}}
    world = generate_world(WorldConfig.from_dict(cfg), tmp / "world")
    run = resolve_run(
        model_preset("tiny"), overrides=["train.max_tokens=8192", "train.warmup_steps=1"]
    )
    return world, train_model(world, run, tmp / "model", progress=False)


def test_a_real_runs_items_carry_the_exposure_of_their_fact(
    zipf_model: tuple[World, Path], tmp_path: Path
) -> None:
    from behemoth.experiments import ExperimentConfig, run_experiment
    from behemoth.experiments.sweep.store import run_items

    world, model = zipf_model
    config = ExperimentConfig(
        model=str(model),
        scenario="k-different",
        scenario_settings={"k": 2, "exposure": {"edit": [0, 0.1], "test": [0.9, 1]}},
        editor="ft",
        editor_settings={"steps": 1},
        save_artifact=False,
    )
    out = tmp_path / "run"
    run_experiment(config, out)
    items = pq.read_table(out / "items.parquet")
    df = items.to_pandas()
    R = world.graph.n_relations
    fe = fact_exposure(world)
    # the world is not nested: every item asks about an S-O fact (subject, relation)
    assert df["exposure"].notna().all() and len(df)
    want = fe[df["subject"].to_numpy() * R + df["relation"].to_numpy()]
    assert (df["exposure"].to_numpy() == want).all()
    # cut by exposure: the edited facts are rarer than every untouched fact tested
    edited = df[df["group"] == "efficacy"]["exposure"]
    spec = df[(df["group"] == "specificity")]["exposure"]
    assert len(edited) and len(spec) and edited.max() < spec.min()
    # a sweep keeps the column as the run wrote it (a sweep run is named by recipes: here only
    # what run_items reads of one)
    labels = {"world": "w", "model": "m", "scenario": "s", "editor": "e", "seed": "0"}
    run = SimpleNamespace(run_id="ft-x", labels=labels, config={})
    swept = run_items(run, items)  # type: ignore[arg-type]
    assert swept.column("exposure").to_pylist() == items.column("exposure").to_pylist()
